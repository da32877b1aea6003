"""Every block checks its parameters before it exists (``rtl_gen.params``):
a rejected constructor leaves no Elaboratable behind, so Amaranth has no
``UnusedElaboratable`` to warn about."""
import gc
import warnings
from types import SimpleNamespace

import numpy as np
import pytest
from amaranth.hdl import Fragment, UnusedElaboratable
from amaranth.lib import wiring
from amaranth.lib.wiring import Out

from fpga.board_core import BoardCore
from fpga.image_store import ImageStore
from fpga.link import HostLink
from fpga.testing import ClassSumStandIn
from fpga.top import BoardTop
from fpga.uart import UARTRx, UARTTx
from golden.bundle import Bundle
from rtl_gen import stream
from rtl_gen.accelerator import AcceleratorSignature
from rtl_gen.pipeline.broadcast import Broadcast
from rtl_gen.pipeline.bypass import BypassAdd
from rtl_gen.pipeline.channel_reduce import ChannelReduce
from rtl_gen.pipeline.classifier import Classifier
from rtl_gen.pipeline.concat import ChannelConcat
from rtl_gen.pipeline.conv import Conv
from rtl_gen.pipeline.fire import Fire, Folding
from rtl_gen.pipeline.mac_array import MacArray
from rtl_gen.pipeline.maxpool3x3 import MaxPool3x3
from rtl_gen.pipeline.maxpool2x2 import MaxPool2x2
from rtl_gen.pipeline import Pipeline, PipelineError
from rtl_gen.params import ParamsFirst
from rtl_gen.pipeline.serial_requant import SerialRequant
from rtl_gen.pipeline.stream_fifo import StreamFifo
from rtl_gen.pipeline.window import WindowGenerator
from squeezefire.build import DEFAULT_BUNDLE

W1 = (np.ones((2, 1, 1, 1)), [0, 0], [1, 1], 8)          # a valid 1x1 part: 1 -> 2 channels
W3 = (np.ones((2, 2, 3, 3)), [0, 0], [1, 1], 8)          # a valid 3x3 part: 2 -> 2 channels
# an accelerator stand-in that is no Elaboratable, so only the board block can be left unused
LINK_CLIENT = SimpleNamespace(signature=AcceleratorSignature((2, 2, 1), 3))

BAD = {
    "WindowGenerator": lambda: WindowGenerator(1, 6, 5, 1, 2, 0, rows=1),
    "MacArray": lambda: MacArray(np.ones((2, 3)), [0, 0], [1, 1], 8, lanes=3),
    "SerialRequant": lambda: SerialRequant([70000], 20),
    "BypassAdd": lambda: BypassAdd([1], [1], 8, "acc", serial=True),
    "ChannelReduce": lambda: ChannelReduce(0, 9),
    "StreamFifo": lambda: StreamFifo(stream.beat_layout(1), 0),
    "ChannelConcat": lambda: ChannelConcat(3, 0),
    "Classifier": lambda: Classifier(10, 0, 4),
    "MaxPool3x3": lambda: MaxPool3x3(4, 2, 8),
    "MaxPool2x2": lambda: MaxPool2x2(4, 1, 8),
    # composites: the sub-blocks built before the failing one must not exist either
    "Conv": lambda: Conv(np.ones((2, 1, 3, 3)), [0, 0], [1, 1], 0, 4, 4, padding=1),
    "Fire": lambda: Fire(W1, W3, W3, 4, 4, Folding(1, 1, 3)),
    "Pipeline": lambda: Pipeline(Bundle.load(DEFAULT_BUNDLE), style="tiny"),
    "ImageStore": lambda: ImageStore(20000, "spram"),
    "HostLink": lambda: HostLink((2, 2, 1), 3, timeout_cycles=2),
    "UARTRx": lambda: UARTRx(3),
    "UARTTx": lambda: UARTTx(2.5),
    "ClassSumStandIn": lambda: ClassSumStandIn((2, 2, 1), 300),
    "BoardCore": lambda: BoardCore(LINK_CLIENT, clock_hz=12e6, baud=5_000_000),
    "BoardTop": lambda: BoardTop(LINK_CLIENT, clock_hz=12e6, baud=5_000_000),
}


@pytest.fixture(autouse=True, scope="module")
def unused_warnings_on():
    # Amaranth reports unused elaboratables only once something was elaborated
    Fragment.get(Broadcast(), None)


@pytest.mark.parametrize("name", sorted(BAD))
def test_rejected_constructor_leaves_no_elaboratable(name):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises((ValueError, PipelineError)):
            BAD[name]()
        gc.collect()
    assert [str(w.message) for w in caught if issubclass(w.category, UnusedElaboratable)] == []


def test_the_check_above_can_fail():
    """A block that checks in ``__init__`` does leave one behind."""
    class ChecksLate(wiring.Component):
        def __init__(self):
            super().__init__({"o": Out(1)})
            raise ValueError("late")

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(ValueError):
            ChecksLate()
        gc.collect()
    assert any(issubclass(w.category, UnusedElaboratable) for w in caught)


def test_params_object_is_accepted_as_is():
    params = WindowGenerator.Params(2, 4, 4)
    window = WindowGenerator(params)
    assert window.params is params and (window.out_height, window.rows) == (4, 4)
    assert all(type(cls) is ParamsFirst for cls in (MacArray, Fire, Pipeline, HostLink, BoardTop))
    Fragment.get(window, None)


def test_every_block_of_rtl_gen_checks_its_parameters_first():
    """One way to make a block: every Amaranth component class defined in
    ``rtl_gen`` is made through ``ParamsFirst`` (a ``Params`` dataclass)."""
    import importlib
    import inspect
    from pathlib import Path

    from amaranth.hdl import Elaboratable
    root = Path(__file__).resolve().parent.parent
    found, bad = [], []
    for path in sorted((root / "rtl_gen").rglob("*.py")):
        module = importlib.import_module(path.relative_to(root).with_suffix("").as_posix().replace("/", ".")
                                         .removesuffix(".__init__"))
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if cls.__module__ == module.__name__ and issubclass(cls, Elaboratable):
                found.append(cls.__qualname__)
                if type(cls) is not ParamsFirst or not hasattr(cls, "Params"):
                    bad.append(f"{module.__name__}.{cls.__qualname__}")
    assert len(found) >= 25 and not bad, bad          # 25 classes today: the check sees them
