"""``--arch auto`` (squeezefire.architectures.choose_arch): the most images/s
end to end (the lesser of compute and link, by the models) among the
architectures that fit, then the most compute images/s, fewer DSPs on a tie."""
import pytest

from fpga.boards import BOARDS
from golden.bundle import Bundle
from rtl_gen.fit import Estimate, EstimateSource, FitError
from squeezefire import architectures as A
from squeezefire.build import DEFAULT_BUNDLE


def _assessment(name, images_per_s, dsp, refusal=None, link=None):
    est = Estimate(lut=100, dsp=dsp, bram_blocks=1, bram_bits=0, spram_bits=0, source=EstimateSource.MODEL)
    return A.ArchAssessment(name, est, 1000, images_per_s, images_per_s * 1000, refusal, link)


@pytest.fixture
def assessed(monkeypatch):
    """choose_arch over made-up assessments {name: (images/s, dsp, refusal)}."""
    def run(table):
        monkeypatch.setattr(A, "network_architectures", lambda: list(table))
        monkeypatch.setattr(A, "assess_arch", lambda bundle, board, name, options=None: _assessment(name, *table[name]))
        return A.choose_arch(None, BOARDS["ecp5"])
    return run


def test_the_fastest_that_fits_wins_not_the_fastest_per_dsp(assessed):
    # the engine makes more per DSP (256.5/18 = 14.3 against 885.8/148 = 6.0), the pipeline more images/s
    arch, why = assessed({"pipeline": (885.8, 148, None), "engine": (256.5, 18, None)})
    assert arch == "pipeline"
    assert "pipeline 885.8 images/s (model) at 0.8858 MHz on 148 DSP (model)" in why
    assert "engine 256.5 images/s (model)" in why


def test_a_faster_design_that_does_not_fit_is_passed_over(assessed):
    arch, why = assessed({"pipeline": (885.8, 148, "does not fit: 200 DSP (has 156)"), "engine": (256.5, 18, None)})
    assert arch == "engine" and "pipeline: does not fit: 200 DSP (has 156)" in why


def test_the_link_bound_counts(assessed):
    """A faster compute behind a slower link loses to what the board delivers end to end."""
    arch, why = assessed({"pipeline": (885.8, 148, None, 119.5), "engine": (769.6, 18, None, 358.4)})
    assert arch == "engine" and "pipeline 885.8 images/s (model) at 0.8858 MHz on 148 DSP (model), link 119.5" in why
    # both behind the same link: the faster compute
    assert assessed({"pipeline": (885.8, 148, None, 358.4), "engine": (769.6, 18, None, 358.4)})[0] == "pipeline"


def test_equal_rates_go_to_fewer_dsps(assessed):
    assert assessed({"pipeline": (300.0, 40, None), "engine": (300.0, 16, None)})[0] == "engine"
    assert assessed({"engine": (300.0, 40, None), "pipeline": (300.0, 16, None)})[0] == "pipeline"


def test_none_fits(assessed):
    with pytest.raises(FitError, match="no architecture fits: pipeline: too big; engine: too big"):
        assessed({"pipeline": (1.0, 1, "too big"), "engine": (2.0, 1, "too big")})


def test_ulx3s_reference_takes_the_faster_of_two_that_fit():
    """On the ULX3S both fit the reference network; auto takes the one the
    models make faster end to end at its clock and baud, whichever it is."""
    bundle = Bundle.load(DEFAULT_BUNDLE)
    board = BOARDS["ecp5"]
    a = {name: A.assess_arch(bundle, board, name) for name in A.network_architectures()}
    assert all(x.fits for x in a.values()), {n: x.refusal for n, x in a.items()}
    arch, why = A.choose_arch(bundle, board)
    assert arch == max(a, key=lambda n: (a[n].end_to_end, a[n].images_per_s))
    for n, x in a.items():
        assert f"{n} {x.images_per_s:.1f} images/s (model) at {x.clock_hz / 1e6:g} MHz on {x.est.dsp} DSP (model)" in why
