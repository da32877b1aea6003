"""The network's input shape, H x W x C, as the user gives it
(``--input-shape H,W,C``): checked for its ranges when it is read, and
against the model's channels, before any image is resized.

H and W are at most ``MAX_SIDE``: the generators stream a whole image
through on-chip memory, and a larger size would only make the resize of
the calibration images take hours before the network is refused."""
from __future__ import annotations

from dataclasses import dataclass

from golden.bad_input import BadInput

__all__ = ["InputShape", "MAX_SIDE", "CHANNELS"]

MAX_SIDE = 1024
CHANNELS = (1, 3)           # greyscale or RGB: what the image loaders make


@dataclass(frozen=True)
class InputShape:
    h: int
    w: int
    c: int
    option: str = "--input-shape"       # what the user called it, for messages

    @classmethod
    def parse(cls, text: object, option: str = "--input-shape") -> "InputShape":
        parts = str(text).split(",") if isinstance(text, str) else []
        try:
            h, w, c = (int(v) for v in parts)
        except ValueError:
            raise BadInput(f"{option} must be H,W,C (e.g. 32,32,3), got {text!r}") from None
        return cls.of((h, w, c), option, str(text))

    @classmethod
    def of(cls, hwc, option: str, shown: str | None = None) -> "InputShape":
        """A checked shape from three ints (``shown``: how the user wrote it)."""
        h, w, c = hwc
        shown = shown or f"{h},{w},{c}"
        if not (1 <= h <= MAX_SIDE and 1 <= w <= MAX_SIDE):
            raise BadInput(f"{option} {shown}: H and W must be from 1 to {MAX_SIDE}")
        if c not in CHANNELS:
            raise BadInput(f"{option} {shown}: C must be 1 (greyscale) or 3 (RGB)")
        return cls(h, w, c, option)

    @property
    def hwc(self) -> tuple[int, int, int]:
        return (self.h, self.w, self.c)

    def check_channels(self, model_channels: int | None, layer: str) -> None:
        """BadInput when the model's first layer ``layer`` reads another number of channels."""
        if model_channels is not None and model_channels != self.c:
            raise BadInput(f"{self.option} {self.h},{self.w},{self.c}: {self.c} channels, but the model's "
                           f"first layer {layer} takes {model_channels}")
