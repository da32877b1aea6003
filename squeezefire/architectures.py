"""The accelerator architectures, in one registry (``ARCHITECTURES``) that
the build (``squeezefire.build``), the comparison (``squeezefire.compare``),
the benchmark (``squeezefire.bench``) and the design-space sweep
(``squeezefire.dse``) all read: what each makes for a board, at which clock
and baud, which primitive models its simulation needs, and what the fit and
cycle models say of it (``assess_arch``, ``choose_arch`` for ``auto``).
Another architecture, or another board option of one, is one entry here.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from amaranth.lib import wiring

from fpga.board_core import DEFAULT_BAUD
from fpga.boards import Board
from fpga.bram_rewrite import BRAM_TOOLS
from fpga.testing import ClassSumStandIn
from golden.bundle import Bundle
from rtl_gen.dual_mult import DspImpl
from rtl_gen.accelerator import images_per_second
from rtl_gen.engine import ArrayParams, EngineArray, EngineParams, FireEngine
from rtl_gen.engine.array import check_copies
from rtl_gen.engine.banks import BankKind
from rtl_gen.engine.program import DEFAULT_LANES, check_lanes
from rtl_gen.fit import Estimate, FitError, check_fit, estimate
from rtl_gen.pipeline import Pipeline
from squeezefire import measured
from squeezefire.rates import link_images_per_s

__all__ = ["Architecture", "ARCHITECTURES", "AUTO", "ArchitectureError", "ArchAssessment", "ArchOptions",
           "DEFAULT_OPTIONS", "engine_options", "rom_options", "arch_clock", "check_options", "make_accelerator",
           "network_architectures", "assess_arch", "choose_arch", "engines_arg", "most_engines", "resolve_engines",
           "check_auto_engines", "ENGINE_CLOCK_MHZ", "ENGINE_BAUD"]


class ArchitectureError(ValueError):
    """An accelerator the architecture cannot generate (one-line message)."""


@dataclass(frozen=True)
class ArchOptions:
    """What a user chooses of an architecture beyond the board (the build's
    and the comparison's flags): ``lanes``, the Fire engine's MAC lanes
    (None: its default, ``DEFAULT_LANES``; else checked by
    ``rtl_gen.engine.program.check_lanes``, a one-line ``ValueError``);
    ``copies``: how many Fire engines work on successive images
    (``rtl_gen.engine.EngineArray``; None: one, the plain ``FireEngine``;
    else ``rtl_gen.engine.array.check_copies``)."""
    lanes: int | None = None
    copies: int | None = None

    def __post_init__(self):
        if self.lanes is not None:
            check_lanes(self.lanes)
        if self.copies is not None:
            check_copies(self.copies)

    @property
    def engines(self) -> int:
        return self.copies or 1


DEFAULT_OPTIONS = ArchOptions()


@dataclass(frozen=True)
class Architecture:
    """An accelerator architecture the build can make.

    ``make(bundle, board, options)`` (``options``: an ``ArchOptions``) returns a ``wiring.Component`` whose signature
    is an ``rtl_gen.accelerator.AcceleratorSignature`` (what the board core
    and the host link rely on) and which has ``cycles_per_frame`` (its
    performance model's figure), ``macs_per_frame`` and ``mac_lanes``, and
    optionally ``resource_estimate(device)`` for the fit check
    (``rtl_gen.fit``; without it the design model prices the elaborated design); a ``ValueError`` names what it cannot generate.
    ``computes_network``: it computes the bundle's network (so it needs the
    bundle, and its weights count); False for a test stand-in, which gets
    the bundle only for its shapes and None without ``--bundle``.
    ``measured_key(board, options)``: the name its simulated cycles are kept under
    (``squeezefire.measured``).  ``clock_mhz(board)``: the system clock it
    runs at on ``board`` (None: the board's own).  ``timing_driven``: always
    place timing-driven (its clock is close to its fmax).
    ``describe(board, options)``: what it is on ``board``, for the comparison's table.
    ``sim_models(board)``: the primitive models its simulation needs
    (``sim.lib.cocotb_run.simulate``'s ``models``).
    """
    make: Callable[[Bundle | None, Board, ArchOptions], wiring.Component]
    description: str
    computes_network: bool = True
    measured_key: Callable[[Board, ArchOptions], str] = lambda board, options: "none"
    clock_mhz: Callable[[Board], float | None] = lambda board: None
    timing_driven: bool = False
    # its figures without making the hardware (``cycles_per_frame``, ``in_shape``
    # and ``resource_estimate``), for ``auto``; None: ``make`` is used
    assess: Callable[[Bundle, Board, ArchOptions], object] | None = None
    baud: Callable[[Board], int | None] = lambda board: None    # its default host-link baud (None: DEFAULT_BAUD)
    describe: Callable[[Board, ArchOptions], str] = lambda board, options: ""
    takes_lanes: bool = False   # ``ArchOptions.lanes`` and ``copies`` mean something to it
    sim_models: Callable[[Board], tuple[str, ...]] = lambda board: ()


def _standin(bundle: Bundle | None, board: Board, options: ArchOptions = DEFAULT_OPTIONS) -> ClassSumStandIn:
    if bundle is None:
        return ClassSumStandIn((28, 28, 1), 10)
    return ClassSumStandIn(tuple(bundle.input.shape), bundle.output.shape.c)


# the engine's PLL target per board (python -m rtl_gen.build --board B --arch
# engine --pll-mhz F --seed S; every run in docs/engine.md, "Clocks and links").
# UP5K: the whole board meets 36 MHz (fmax 38.8, seed 1); at 42 MHz it
# reaches 37.1 -- the host link's and the UART receiver's state machines, at
# 90 % of the cells, are the critical paths; the engine alone reaches 43.5.
# ECP5 (EHXPLLL from 25 MHz): 90 MHz fails (fmax 89.5: the pool's row-buffer
# DP16KD read, 5.8 ns clock-to-out, into its max compare); 80 meets with 85.4
# and 89.6 MHz, 75 with 87.7, 92.7, 88.0 on seeds 1-3 -- 75 is taken: 3 Mbaud,
# the FT231X's most, divides it exactly (25 cycles per bit), 80 only 2 Mbaud,
# and the link binds.
# Gowin (rPLL from 27 MHz): 81 MHz meets with 108.2, 101.5, 110.9 (seeds 1-3); 90 fails
# (87.6 routed: the host link's reply/request state machines in fpga/link.py,
# 11.4 ns), so 81 -- 3 Mbaud in exactly 27 cycles per bit.
ENGINE_CLOCK_MHZ: dict[str, float] = {"ice40": 36.0, "ecp5": 75.0, "gowin": 81.0}
# the fastest rate each board's USB bridge makes exactly that the engine's
# clock divides within 1 % at 6 or more cycles per bit
# (fpga.usb_bridge.fastest_baud; tests/test_usb_bridge.py checks these are
# it).  iCEBreaker: 6 Mbaud, FT2232H 12 MHz / 2 and 36 MHz / 6; the receiver
# takes a host clock -3.0 % .. +5.5 % off at 6 cycles per bit (python -m
# sim.uart_margin), so the link (759 images/s) outruns the engine (369,
# modelled).  ULX3S: 3 Mbaud (FT231X), 25 cycles at 75 MHz.  Tang Nano 9K:
# 3 Mbaud, the BL702's FTDI emulation's most (fpga/usb_bridge.py), 27 cycles
# at 81 MHz.  Both links (358.4 images/s) are slower than their engines.
ENGINE_BAUD: dict[str, int] = {"ice40": 6_000_000, "ecp5": 3_000_000, "gowin": 3_000_000}


def engine_options(board: Board, options: ArchOptions = DEFAULT_OPTIONS) -> dict:
    """The Fire engine's parts on ``board``: the UP5K's SB_MAC16 in dual
    8x8 mode and its SPRAMs where the device has them, else inferred
    multipliers and block RAM; and ``lanes`` when ``options`` choose them
    (else the engine's default).  Whether they fit is the fit model's to
    say (``rtl_gen.fit.check_fit``)."""
    dsp = DspImpl.SB_MAC16 if board.family == "ice40" and board.device.dsp >= 8 else DspImpl.GENERIC
    lanes = {} if options.lanes is None else {"lanes": options.lanes}
    return {"dsp": dsp, "banks": BankKind.SPRAM if board.device.spram_bits else BankKind.BLOCK, **lanes}


def rom_options(board: Board) -> dict:
    """Where the board's bitstream can take new ROM contents (``fpga.bram_rewrite``):
    the engine's ROMs padded to the tool's bit slices (``rtl_gen.engine.rom_images``),
    so that a simulation has the board's ROMs; the build makes them placeholders
    (``squeezefire.build.rewrite_ready``) and writes these contents in."""
    tool = BRAM_TOOLS.get(board.family)
    return {"rom_segment": tool.segment} if tool else {}


def _engine_models(board: Board) -> tuple[str, ...]:
    from sim.lib.yosys_models import engine_models     # the simulation library, only when simulating
    parts = engine_options(board)
    return engine_models(parts["dsp"], parts["banks"])


def _describe_engine(board: Board, options: ArchOptions = DEFAULT_OPTIONS) -> str:
    parts = engine_options(board, options)
    lanes = parts.get("lanes", DEFAULT_LANES)
    copies = f"{options.engines} engines of " if options.engines > 1 else ""
    return f"engine, {copies}{lanes} lanes, {parts['dsp']} multipliers, {parts['banks']} feature maps"


def _engine_key(board: Board, options: ArchOptions) -> str:
    """The engine's measured-cycles key: its multipliers, and its lanes when not the default."""
    key = measured.arch_key("engine", engine_options(board)["dsp"])
    lanes = options.lanes or DEFAULT_LANES
    key = key if lanes == DEFAULT_LANES else f"{key}-{lanes}lanes"
    return key if options.engines == 1 else f"{key}-x{options.engines}"


def _engine_params(bundle, board: Board, options: ArchOptions = DEFAULT_OPTIONS) -> EngineParams | ArrayParams:
    """One engine's parameters, or (``copies`` > 1) the array's."""
    engine = EngineParams(bundle, **engine_options(board, options), **rom_options(board))
    return engine if options.engines == 1 else ArrayParams(engine, options.engines)


def _make_engine(bundle, board: Board, options: ArchOptions = DEFAULT_OPTIONS):
    # one engine is the plain FireEngine (no array around it: the same Verilog as before arrays)
    params = _engine_params(bundle, board, options)
    return FireEngine(params) if isinstance(params, EngineParams) else EngineArray(params)


# Another architecture is one more entry: a factory and a line saying what it is.
ARCHITECTURES = {
    "pipeline": Architecture(lambda bundle, board, options=DEFAULT_OPTIONS: Pipeline(bundle, style=board.style),
                             "per-layer streaming pipeline (rtl_gen.pipeline.Pipeline)",
                             measured_key=lambda board, options=DEFAULT_OPTIONS: measured.arch_key("pipeline",
                                                                                                  board.style),
                             describe=lambda board, options=DEFAULT_OPTIONS: f"pipeline, {board.style} style"),
    "engine": Architecture(_make_engine,
                           f"Fire engine: one convolution datapath reused pass by pass, --lanes MAC lanes "
                           f"(default {DEFAULT_LANES}; rtl_gen.engine.FireEngine); --engines N of them on "
                           f"successive images (rtl_gen.engine.EngineArray)",
                           measured_key=lambda board, options=DEFAULT_OPTIONS: _engine_key(board, options),
                           clock_mhz=lambda board: ENGINE_CLOCK_MHZ.get(board.key), timing_driven=True,
                           baud=lambda board: ENGINE_BAUD.get(board.key),
                           assess=_engine_params, describe=_describe_engine, sim_models=_engine_models,
                           takes_lanes=True),
    "standin": Architecture(_standin, "TEST STAND-IN (fpga.testing.ClassSumStandIn: per-class pixel sums), "
                                      "not the network", computes_network=False,
                            describe=lambda board, options=DEFAULT_OPTIONS: "test stand-in"),
}
AUTO = "auto"               # pick by the fit and performance models (``choose_arch``)


def network_architectures() -> list[str]:
    """The names of the architectures that compute the bundle's network."""
    return [name for name, arch in ARCHITECTURES.items() if arch.computes_network]


def arch_clock(board: Board, arch: str):
    """(system clock in Hz, PLL config or None) of ``arch`` on ``board``."""
    return board.clock(ARCHITECTURES[arch].clock_mhz(board))


def check_options(arch: str, options: ArchOptions) -> None:
    """``ArchitectureError`` (one line) when ``options`` choose what ``arch``
    does not have (``--lanes`` of the pipeline): refused, not ignored."""
    if options.lanes is not None and arch != AUTO and not ARCHITECTURES[arch].takes_lanes:
        raise ArchitectureError(f"--lanes {options.lanes}: the {arch} architecture has no lanes to choose "
                                f"(only the engine's: --arch engine or auto)")
    if options.copies is not None and arch != AUTO and not ARCHITECTURES[arch].takes_lanes:
        raise ArchitectureError(f"--engines {options.copies}: the {arch} architecture has no engines to copy "
                                f"(only the Fire engine: --arch engine or auto)")


def make_accelerator(bundle, board: Board, arch: str = "pipeline", options: ArchOptions = DEFAULT_OPTIONS):
    """The one place an accelerator is made: ``arch`` of ``ARCHITECTURES``
    from ``bundle`` for ``board`` with ``options``."""
    try:
        return ARCHITECTURES[arch].make(bundle, board, options)
    except ValueError as e:
        raise ArchitectureError(f"cannot generate the {arch} accelerator: {e}") from None


@dataclass(frozen=True)
class ArchAssessment:
    """What the fit and cycle models say of ``arch`` on a board: the
    estimate (None when the accelerator cannot be generated), the cycles
    (one frame's) and images/s (``rtl_gen.accelerator.images_per_second``:
    an engine array's ``copies`` frames per interval) at the architecture's
    clock, the link's bound at its default baud (None: not assessed), and
    why it does not fit (None when it does)."""
    arch: str
    est: Estimate | None
    cycles_per_frame: int | None
    images_per_s: float | None
    clock_hz: float | None
    refusal: str | None
    link_images_per_s: float | None = None

    @property
    def fits(self) -> bool:
        return self.refusal is None

    @property
    def end_to_end(self) -> float:
        """Images/s on the board: the lesser of the compute and link bounds."""
        return self.images_per_s if self.link_images_per_s is None else min(self.images_per_s, self.link_images_per_s)


def assess_arch(bundle: Bundle, board: Board, name: str, options: ArchOptions = DEFAULT_OPTIONS) -> ArchAssessment:
    arch = ARCHITECTURES[name]
    try:
        # the pipeline's fit model elaborates it: made, it is also used
        acc = (arch.assess or arch.make)(bundle, board, options)
        est = estimate(acc, board.device, image_in_bram=board.image_ram == "block")
    except ValueError as e:
        return ArchAssessment(name, None, None, None, None, str(e).splitlines()[0])
    clock_hz = arch_clock(board, name)[0]
    cycles = int(acc.cycles_per_frame)
    try:
        check_fit(est, board.device)
        refusal = None
    except FitError as e:
        refusal = str(e).splitlines()[0]
    baud = arch.baud(board) or DEFAULT_BAUD
    link = link_images_per_s(tuple(bundle.input.shape), bundle.output.shape.c, baud)
    return ArchAssessment(name, est, cycles, images_per_second(acc, clock_hz), clock_hz, refusal, link)


def _link_note(a: ArchAssessment) -> str:
    if a.link_images_per_s is None:
        return ""
    return f", link {a.link_images_per_s:.1f} images/s"


def engines_arg(value: str) -> int | str:
    """``--engines``' value: an integer (checked later, by ``ArchOptions``) or ``auto``."""
    return AUTO if value == AUTO else int(value)


engines_arg.__name__ = "integer or 'auto'"      # argparse names the type in its one-line refusal


def most_engines(bundle: Bundle, board: Board, options: ArchOptions = DEFAULT_OPTIONS) -> tuple[int, str]:
    """``--engines auto``: the largest number of engines the fit model
    accepts on ``board`` (at ``options``' lanes), and why not one more;
    FitError when not even one fits."""
    engine = _engine_params(bundle, board, ArchOptions(options.lanes))

    def refusal(n: int) -> str | None:
        try:
            check_fit(estimate(ArrayParams(engine, n), board.device, image_in_bram=board.image_ram == "block"),
                      board.device)
        except FitError as e:
            return str(e).splitlines()[0]
        return None

    if (why := refusal(1)) is not None:
        raise FitError(f"--engines auto: not even one engine fits: {why}")
    n = 1
    while (why := refusal(n + 1)) is None:
        n += 1
    return n, f"{n + 1} would not (model): {why}"


def check_auto_engines(arch: str) -> None:
    """``--engines auto`` with an architecture that has no engines: refused in one line."""
    if arch != AUTO and not ARCHITECTURES[arch].takes_lanes:
        raise ArchitectureError(f"--engines auto: the {arch} architecture has no engines to copy "
                                f"(only the Fire engine: --arch engine or auto)")


def resolve_engines(bundle: Bundle, board: Board, arch: str, lanes: int | None, engines) -> tuple[ArchOptions, str]:
    """The options of ``--lanes`` and ``--engines`` (an integer, None, or
    ``auto``: ``most_engines``) checked against ``arch``, and what auto chose
    ("" when not auto), for the caller to say."""
    note = ""
    if engines == AUTO:
        check_auto_engines(arch)
        engines, why = most_engines(bundle, board, ArchOptions(lanes))
        note = f"--engines auto: {engines}, the most the fit model accepts on {board.device.name} ({why})"
    options = ArchOptions(lanes, engines)
    check_options(arch, options)
    return options, note


def choose_arch(bundle: Bundle, board: Board, options: ArchOptions = DEFAULT_OPTIONS) -> tuple[str, str]:
    """``auto``: of the architectures that compute the network and fit
    ``board`` by the fit model, the one with the most images/s end to end:
    the lesser of the cycle model's at its own clock and its host link's at
    its default baud; then the most compute images/s, then the fewer DSPs by
    the fit model; (name, why).  FitError when none fits;
    ``ArchitectureError`` when ``options`` choose lanes and the choice has none."""
    fits, refusals = [], []
    for name in network_architectures():
        a = assess_arch(bundle, board, name, options)
        if a.fits:
            fits.append(a)
        else:
            refusals.append(f"{name}: {a.refusal}")
    if not fits:
        raise FitError("no architecture fits: " + "; ".join(refusals))
    best = min(fits, key=lambda a: (-a.end_to_end, -a.images_per_s, a.est.dsp)).arch
    why = ", ".join(f"{a.arch} {a.images_per_s:.1f} images/s (model) at {a.clock_hz / 1e6:g} MHz on "
                    f"{a.est.dsp} DSP (model)" + _link_note(a) for a in fits)
    why += "; " + "; ".join(refusals) if refusals else ""
    if options.lanes is not None and not ARCHITECTURES[best].takes_lanes:
        # the user's --lanes would be dropped without a word: refused instead
        raise ArchitectureError(f"--lanes {options.lanes}: --arch auto chose the {best}, which has no lanes ({why})")
    if options.copies is not None and not ARCHITECTURES[best].takes_lanes:
        raise ArchitectureError(f"--engines {options.copies}: --arch auto chose the {best}, which has no engines "
                                f"to copy ({why})")
    return best, why
