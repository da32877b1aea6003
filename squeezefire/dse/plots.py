"""The sweep's pictures (matplotlib, PNG, small): accuracy against weight
bits with the UP5K's and the HX8K's block-RAM limits, accuracy against the
modelled images/s of the iCEBreaker's engine, the paper's SR and pct3x3
curves on our data, and the bypass comparison."""
from __future__ import annotations

from pathlib import Path

from golden import atomic
from squeezefire.dse.point import PointResult

ROM_LIMITS = {"iCE40 UP5K block RAM (120 kbit)": 30 * 4096, "iCE40 HX8K block RAM (128 kbit)": 32 * 4096}


def _figure():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(5.5, 3.6), dpi=90)
    return plt, fig, ax


def _save(plt, fig, path: Path) -> Path:
    fig.tight_layout()
    with atomic.replacing(path) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)
    return path


def accuracy_vs_bits(results: list[PointResult], path: Path) -> Path:
    plt, fig, ax = _figure()
    ax.scatter([r.weight_bits_int8 / 1024 for r in results], [r.int8_top1 for r in results], label="int8")
    for bits in sorted({b for r in results for b in r.codebook_top1}, reverse=True):
        pts = [(r.codebook_weight_bits[bits] / 1024, r.codebook_top1[bits]) for r in results if bits in r.codebook_top1]
        ax.scatter(*zip(*pts), label=f"{bits}-bit codebook", marker="^")
    for (label, limit), style in zip(ROM_LIMITS.items(), ("--", ":")):
        ax.axvline(limit / 1024, color="grey", linestyle=style, label=label)
    ax.set_xlabel("weight bits (kbit)")
    ax.set_ylabel("top-1")
    ax.legend(fontsize=6)
    return _save(plt, fig, path)


def accuracy_vs_speed(results: list[PointResult], path: Path) -> Path:
    plt, fig, ax = _figure()
    for weights, marker in (("int8", "o"), *((k, "^") for k in sorted({k for r in results for k in r.hardware} - {"int8"}))):
        pts = []
        for r in results:
            col = next((c for c in r.hardware.get(weights, []) if (c["board"], c["arch"]) == ("ice40", "engine")), None)
            if col and col["images_per_s"]:
                top1 = r.int8_top1 if weights == "int8" else r.codebook_top1[int(weights[1:])]
                pts.append((col["images_per_s"], top1, col["fits"]))
        for fits in (True, False):
            sel = [(x, y) for x, y, f in pts if f == fits]
            if sel:
                ax.scatter(*zip(*sel), marker=marker, facecolors=None if fits else "none",
                           edgecolors="C0" if not fits else None,
                           label=f"{weights}, {'fits' if fits else 'does not fit'} the UP5K (model)")
    ax.set_xlabel("images/s on the iCEBreaker, Fire engine (cycle model)")
    ax.set_ylabel("top-1")
    ax.legend(fontsize=6)
    return _save(plt, fig, path)


def _curve(results, key: str, base: dict, path: Path, xlabel: str) -> Path:
    plt, fig, ax = _figure()
    others = [k for k in ("sr", "pct3x3", "base_e", "incr_e", "freq", "bypass", "conv1") if k != key]
    sel = sorted((r for r in results if all(r.point[k] == base[k] for k in others)), key=lambda r: r.point[key])
    if sel:
        ax.plot([r.point[key] for r in sel], [r.float_top1 for r in sel], "o-", label="float")
        ax.plot([r.point[key] for r in sel], [r.int8_top1 for r in sel], "s--", label="int8")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("top-1")
    ax.legend(fontsize=7)
    return _save(plt, fig, path)


def bypass_bars(results, base: dict, path: Path) -> Path:
    plt, fig, ax = _figure()
    others = [k for k in ("sr", "pct3x3", "base_e", "incr_e", "freq", "conv1")]
    sel = {r.point["bypass"]: r for r in results if all(r.point[k] == base[k] for k in others)}
    kinds = [k for k in ("none", "simple", "complex") if k in sel]
    ax.bar(kinds, [sel[k].int8_top1 for k in kinds])
    if kinds:
        lo = min(sel[k].int8_top1 for k in kinds)
        ax.set_ylim(max(0.0, lo - 0.05), min(1.0, max(sel[k].int8_top1 for k in kinds) + 0.02))
    ax.set_ylabel("int8 top-1")
    ax.set_xlabel("bypass")
    return _save(plt, fig, path)


def write_plots(out: Path, results: list[PointResult], base: dict) -> list[Path]:
    return [accuracy_vs_bits(results, out / "accuracy_vs_weight_bits.png"),
            accuracy_vs_speed(results, out / "accuracy_vs_images_per_s.png"),
            _curve(results, "sr", base, out / "accuracy_vs_squeeze_ratio.png", "squeeze ratio SR"),
            _curve(results, "pct3x3", base, out / "accuracy_vs_pct3x3.png", "share of 3x3 filters"),
            bypass_bars(results, base, out / "bypass.png")]
