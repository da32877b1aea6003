"""The platform-independent board logic: UART RX -> HostLink -> accelerator
-> HostLink -> UART TX, with plain one-bit pins.

``fpga.top.BoardTop`` puts this behind an amaranth-boards platform's pins;
the cocotb board test (``sim/lib/board_harness.py``) instantiates it directly, so
the simulated design and the one on the board are the same logic.
"""
from __future__ import annotations

from dataclasses import KW_ONLY, dataclass

from amaranth.hdl import Module
from amaranth.lib import wiring
from amaranth.lib.fifo import SyncFIFOBuffered
from amaranth.lib.wiring import In, Out

from fpga.link import HostLink
from fpga.baud import DEFAULT_BAUD, LINK_TIMEOUT_S, check_baud, uart_divisor
from fpga.uart import UARTRx, UARTTx
from rtl_gen.accelerator import AcceleratorSignature
from rtl_gen.params import ParamsFirst

__all__ = ["BoardCore", "BoardCoreParams", "DEFAULT_BAUD", "LINK_TIMEOUT_S", "check_baud", "uart_divisor"]


def check_accelerator(accelerator) -> str | None:
    """The problem with ``accelerator`` as a link client, or None: its
    signature must be an ``rtl_gen.accelerator.AcceleratorSignature``."""
    signature = getattr(accelerator, "signature", None)
    if not isinstance(signature, AcceleratorSignature):
        return (f"the accelerator ({type(accelerator).__name__}) does not implement "
                f"rtl_gen.accelerator.AcceleratorSignature (its signature: {signature!r})")
    return None


def check_link(accelerator, clock_hz: float | None, baud: int, timeout_s: float = LINK_TIMEOUT_S) -> None:
    """ValueError naming the problem with this accelerator, clock, baud
    rate and timeout as a host link (the clock may be unknown until elaboration)."""
    problem = check_accelerator(accelerator)
    if problem:
        raise ValueError(problem)
    check_baud(clock_hz, baud, timeout_s)


@dataclass(frozen=True, eq=False)
class BoardCoreParams:
    """The ``accelerator`` (see ``BoardCore``), the ``sync`` ``clock_hz``,
    the ``baud`` rate, the link's inter-byte ``timeout_s``, its
    ``image_ram`` kind and the ``network_id`` its info reply names."""
    accelerator: object
    _: KW_ONLY
    clock_hz: float
    baud: int = DEFAULT_BAUD
    timeout_s: float = LINK_TIMEOUT_S
    image_ram: str = "block"
    network_id: int = 0

    def __post_init__(self):
        check_link(self.accelerator, self.clock_hz, self.baud, self.timeout_s)     # fail early, before elaboration


class BoardCore(wiring.Component, metaclass=ParamsFirst):
    """Accelerator + UART host link (``docs/host-link.md``) on plain pins.

    ``accelerator``: a component implementing
    ``rtl_gen.accelerator.AcceleratorSignature`` (the link takes the image
    shape and class count from it).  ``clock_hz``: the ``sync`` clock.

    Ports: ``rx`` (serial in, idle high), ``tx`` (serial out, idle high),
    ``frame_led`` (toggles per answered image), ``error_led`` (lit after an
    error reply until the next good image), ``busy`` (a frame or reply in
    progress).  ``rx`` is synchronised inside ``UARTRx``, so it may come
    straight from a pin.

    Latency/throughput/back-pressure: those of ``HostLink`` and the UART
    (two requests outstanding; 10 bit-times per byte each way).
    """

    Params = BoardCoreParams

    def __init__(self, params: BoardCoreParams):
        accelerator, clock_hz, baud = params.accelerator, params.clock_hz, params.baud
        timeout_s, image_ram = params.timeout_s, params.image_ram
        self.network_id = params.network_id
        self.divisor = uart_divisor(clock_hz, baud)
        self.accelerator = accelerator
        self.clock_hz, self.baud, self.timeout_s, self.image_ram = clock_hz, baud, timeout_s, image_ram
        self.timeout_cycles = max(16, int(timeout_s * clock_hz))
        # Filled in by elaborate(); kept so a simulation can reach inside.
        self.link = self.uart_rx = self.uart_tx = None
        super().__init__({"rx": In(1, init=1), "tx": Out(1, init=1),
                          "frame_led": Out(1), "error_led": Out(1), "busy": Out(1)})

    def elaborate(self, platform):
        m = Module()
        acc = self.accelerator
        m.submodules.accelerator = acc
        m.submodules.uart_rx = rx = UARTRx(self.divisor)
        m.submodules.uart_tx = tx = UARTTx(self.divisor)
        m.submodules.link = link = HostLink(acc.signature.in_shape, acc.signature.num_classes,
                                            timeout_cycles=self.timeout_cycles, image_ram=self.image_ram,
                                            network_id=self.network_id)
        wiring.connect(m, rx.o, link.rx)
        # a register between the link and the transmitter: the link's reply
        # logic then waits on a flip-flop, not on the UART's bit counters
        m.submodules.tx_buffer = buffer = SyncFIFOBuffered(width=8, depth=1)
        m.d.comb += [buffer.w_en.eq(link.tx.valid), buffer.w_data.eq(link.tx.payload), link.tx.ready.eq(buffer.w_rdy),
                     tx.i.valid.eq(buffer.r_rdy), tx.i.payload.eq(buffer.r_data), buffer.r_en.eq(tx.i.ready)]
        wiring.connect(m, link.acc_i, acc.i)
        wiring.connect(m, acc.o, link.acc_o)
        m.d.comb += [rx.rx.eq(self.rx), self.tx.eq(tx.tx),
                     self.frame_led.eq(link.frame_led), self.error_led.eq(link.error_led),
                     self.busy.eq(link.busy)]
        self.link, self.uart_rx, self.uart_tx = link, rx, tx
        return m
