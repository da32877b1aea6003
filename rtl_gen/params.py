"""Blocks whose parameters are checked before the block exists.

Why: Amaranth records every ``Elaboratable`` as it is created (in
``__new__``) and warns (``UnusedElaboratable``) about one that is never
elaborated -- including one whose ``__init__`` raised.  So a constructor
that rejects its arguments must do so before the object is made; checking
in ``__init__``, even before ``super().__init__()``, is too late.

How: a block class with ``metaclass=ParamsFirst`` names a frozen
dataclass ``Params`` whose ``__post_init__`` checks the fields (one-line
``ValueError``).  ``Block(*args, **kwargs)`` builds ``Block.Params(*args,
**kwargs)`` first, and only a valid parameter object reaches
``Block.__init__(params)``, which cannot fail.  ``Block(params)`` with a
ready ``Params`` is taken as is: a composite block checks its sub-blocks'
parameters while checking its own and builds the sub-blocks afterwards.
"""
from __future__ import annotations

from enum import StrEnum

__all__ = ["ParamsFirst", "check_int", "check_choice", "WeightShape"]


class ParamsFirst(type):
    """Metaclass: ``Block(...)`` is ``Block(Block.Params(...))``, the
    parameters checked before the block is created."""

    def __call__(cls, *args, **kwargs):
        ready = args[0] if len(args) == 1 and not kwargs else None
        params = ready if isinstance(ready, cls.Params) else cls.Params(*args, **kwargs)
        # src_loc_at=1: Amaranth's unused-block warning then names the caller's
        # line, not this one (the frame count of Elaboratable.__new__).
        block = cls.__new__(cls, src_loc_at=1)
        block.__init__(params)
        return block


def check_int(name: str, value, low: int) -> None:
    """Raise ``ValueError`` unless ``value`` is an integer (not a bool) >= ``low``."""
    if not isinstance(value, int) or isinstance(value, bool) or value < low:
        raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")


def check_choice(name: str, value, kind: type[StrEnum]) -> StrEnum:
    """``value`` as a member of the mode enum ``kind`` (a member, or its
    string), or ``ValueError`` naming ``name`` and the choices."""
    try:
        return kind(value)
    except ValueError:
        raise ValueError(f"{name} must be one of {', '.join(repr(k.value) for k in kind)}, got {value!r}") from None


class WeightShape:
    """``cout``, ``cin`` and ``kernel`` of a parameter object's ``weight``
    (int8, ``(cout, cin, k, k)``)."""

    @property
    def cout(self) -> int:
        return self.weight.shape[0]

    @property
    def cin(self) -> int:
        return self.weight.shape[1]

    @property
    def kernel(self) -> int:
        return self.weight.shape[2]
