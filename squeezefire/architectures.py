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

from fpga.boards import Board
from fpga.bram_rewrite import BRAM_TOOLS
from fpga.testing import ClassSumStandIn
from golden.bundle import Bundle
from rtl_gen.dual_mult import DspImpl
from rtl_gen.engine import EngineParams, FireEngine
from rtl_gen.engine.banks import BankKind
from rtl_gen.engine.program import DEFAULT_LANES, check_lanes
from rtl_gen.fit import Estimate, FitError, check_fit, estimate
from rtl_gen.pipeline import Pipeline
from squeezefire import measured

__all__ = ["Architecture", "ARCHITECTURES", "AUTO", "ArchitectureError", "ArchAssessment", "ArchOptions",
           "DEFAULT_OPTIONS", "engine_options", "rom_options", "arch_clock", "check_options", "make_accelerator",
           "network_architectures", "assess_arch", "choose_arch", "ENGINE_CLOCK_MHZ", "ENGINE_BAUD"]


class ArchitectureError(ValueError):
    """An accelerator the architecture cannot generate (one-line message)."""


@dataclass(frozen=True)
class ArchOptions:
    """What a user chooses of an architecture beyond the board (the build's
    and the comparison's flags): ``lanes``, the Fire engine's MAC lanes
    (None: its default, ``DEFAULT_LANES``; else checked by
    ``rtl_gen.engine.program.check_lanes``, a one-line ``ValueError``)."""
    lanes: int | None = None

    def __post_init__(self):
        if self.lanes is not None:
            check_lanes(self.lanes)


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
    takes_lanes: bool = False   # ``ArchOptions.lanes`` means something to it
    sim_models: Callable[[Board], tuple[str, ...]] = lambda board: ()


def _standin(bundle: Bundle | None, board: Board, options: ArchOptions = DEFAULT_OPTIONS) -> ClassSumStandIn:
    if bundle is None:
        return ClassSumStandIn((28, 28, 1), 10)
    return ClassSumStandIn(tuple(bundle.input.shape), bundle.output.shape.c)


# the engine's PLL target per board, where it is not the board's own.  UP5K:
# the whole board meets 36 MHz (fmax 38.8, seed 1); at 42 MHz it reaches
# 37.1 -- the host link's and the UART receiver's state machines, at 90 % of
# the cells, are the critical paths; the engine alone reaches 43.5
# (docs/engine.md, "Measured")
ENGINE_CLOCK_MHZ: dict[str, float] = {"ice40": 36.0}
# 6 Mbaud: the iCEBreaker's FT2232H makes it exactly (12 MHz / 2), and so does
# the engine's clock (36 MHz / 6); the receiver takes a host clock -3.0 % ..
# +5.5 % off at 6 cycles per bit (python -m sim.uart_margin), so the link
# (759 images/s) outruns the engine (369, modelled)
ENGINE_BAUD: dict[str, int] = {"ice40": 6_000_000}


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
    return f"engine, {lanes} lanes, {parts['dsp']} multipliers, {parts['banks']} feature maps"


def _engine_key(board: Board, options: ArchOptions) -> str:
    """The engine's measured-cycles key: its multipliers, and its lanes when not the default."""
    key = measured.arch_key("engine", engine_options(board)["dsp"])
    lanes = options.lanes or DEFAULT_LANES
    return key if lanes == DEFAULT_LANES else f"{key}-{lanes}lanes"


def _engine_params(bundle, board: Board, options: ArchOptions = DEFAULT_OPTIONS) -> EngineParams:
    return EngineParams(bundle, **engine_options(board, options), **rom_options(board))


# Another architecture is one more entry: a factory and a line saying what it is.
ARCHITECTURES = {
    "pipeline": Architecture(lambda bundle, board, options=DEFAULT_OPTIONS: Pipeline(bundle, style=board.style),
                             "per-layer streaming pipeline (rtl_gen.pipeline.Pipeline)",
                             measured_key=lambda board, options=DEFAULT_OPTIONS: measured.arch_key("pipeline",
                                                                                                  board.style),
                             describe=lambda board, options=DEFAULT_OPTIONS: f"pipeline, {board.style} style"),
    "engine": Architecture(lambda bundle, board, options=DEFAULT_OPTIONS: FireEngine(_engine_params(bundle, board,
                                                                                                    options)),
                           f"Fire engine: one convolution datapath reused pass by pass, --lanes MAC lanes "
                           f"(default {DEFAULT_LANES}; rtl_gen.engine.FireEngine)",
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
    and images/s at the architecture's clock, and why it does not fit (None
    when it does)."""
    arch: str
    est: Estimate | None
    cycles_per_frame: int | None
    images_per_s: float | None
    clock_hz: float | None
    refusal: str | None

    @property
    def fits(self) -> bool:
        return self.refusal is None


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
    return ArchAssessment(name, est, cycles, clock_hz / cycles, clock_hz, refusal)


def choose_arch(bundle: Bundle, board: Board, options: ArchOptions = DEFAULT_OPTIONS) -> tuple[str, str]:
    """``auto``: of the architectures that compute the network and fit
    ``board`` by the fit model, the one with the most images/s per DSP by
    the cycle model at its clock (the engine where the pipeline does not fit
    or is slower per DSP); (name, why).  FitError when none fits;
    ``ArchitectureError`` when ``options`` choose lanes and the choice has none."""
    scores, refusals = {}, []
    for name in network_architectures():
        a = assess_arch(bundle, board, name, options)
        if not a.fits:
            refusals.append(f"{name}: {a.refusal}")
            continue
        scores[name] = (a.images_per_s / max(a.est.dsp, 1), a.images_per_s, a.est.dsp)
    if not scores:
        raise FitError("no architecture fits: " + "; ".join(refusals))
    best = max(scores, key=lambda n: scores[n][0])
    why = ", ".join(f"{n} {v[1]:.1f} images/s on {v[2]} DSP (model)" for n, v in scores.items())
    why += "; " + "; ".join(refusals) if refusals else ""
    if options.lanes is not None and not ARCHITECTURES[best].takes_lanes:
        # the user's --lanes would be dropped without a word: refused instead
        raise ArchitectureError(f"--lanes {options.lanes}: --arch auto chose the {best}, which has no lanes ({why})")
    return best, why
