"""``python -m squeezefire.dse``: the paper's design-space exploration on
our data, with hardware columns (``docs/design-space.md``).

    python -m squeezefire.dse --out dse/ [--quick] [--grid grid.toml] [--epochs N]
                              [--workers N | --scheduler tcp://HOST:8786] [--validate N]

Each point is trained (short seeded schedule), quantised to int8 and coded
with codebooks, evaluated, and assessed per board and architecture by the
fit and cycle models.  Points run in parallel worker processes
(``concurrent.futures``), or on a Dask cluster with ``--scheduler``;
finished points are cached in ``OUT/points/``, so an interrupted sweep
resumes.  Writes ``points.csv``, ``hardware.csv``, ``dse.json`` and PNG
plots.  Bad input: one line, exit 2, before any training.
"""
from __future__ import annotations

import sys
import time
from concurrent.futures import Executor, ProcessPoolExecutor, as_completed
from dataclasses import asdict, replace
from pathlib import Path

from tqdm import tqdm

from golden.command import ArgumentParser, Interrupted, command_main
from golden.counts import check_count

from squeezefire.dse.grid import (DEFAULT_SCHEDULE, QUICK_SCHEDULE, DsePoint, GridError, check_grid, default_grid,
                                  grid_from_file, point_record, quick_grid)
from squeezefire.dse.plots import write_plots
from squeezefire.dse.point import PointResult, evaluate_point
from squeezefire.dse.report import write_tables
from squeezefire.dse.store import StoreError, cached, open_store, remember

DATA_SETS = ("fashion-mnist",)
MAX_WORKERS = 64


def parse_args(argv):
    ap = ArgumentParser(prog="python -m squeezefire.dse", description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, required=True, help="output folder (resumes a sweep it holds)")
    ap.add_argument("--data", default="fashion-mnist", help=f"data set: {', '.join(DATA_SETS)}")
    ap.add_argument("--quick", action="store_true", help="three tiny points, 125 training steps each (minutes)")
    ap.add_argument("--grid", type=Path, help="the points, as JSON or TOML (default: the 12-point grid)")
    ap.add_argument("--epochs", type=int, help="training epochs per point (default 8; --quick 1)")
    ap.add_argument("--workers", type=int, default=2, help="parallel worker processes (default 2)")
    ap.add_argument("--scheduler", help="a Dask scheduler address (tcp://HOST:8786): run the points there "
                                        "(pip install 'squeezefire[cluster]')")
    ap.add_argument("--validate", type=int, default=0, metavar="N",
                    help="build and simulate N points for real and compare with the models")
    return ap.parse_args(argv)


def plan(args) -> tuple[list[DsePoint], object]:
    if args.data not in DATA_SETS:
        raise GridError(f"--data {args.data}: the sweep knows {', '.join(DATA_SETS)}")
    check_count(args.workers, "--workers", 1, MAX_WORKERS)
    if args.epochs is not None:
        check_count(args.epochs, "--epochs", 1, 1000)
    check_count(args.validate, "--validate", 0)
    points = grid_from_file(args.grid) if args.grid else quick_grid() if args.quick else default_grid()
    check_grid(points)
    check_count(args.validate, "--validate", 0, len(points), f"the grid has {len(points)} points")
    schedule = QUICK_SCHEDULE if args.quick else DEFAULT_SCHEDULE
    if args.epochs is not None:
        schedule = replace(schedule, epochs=args.epochs)
    return points, schedule


def executor(args) -> Executor:
    if args.scheduler:
        try:
            from distributed import Client
        except ImportError:
            raise GridError("--scheduler needs Dask: pip install 'squeezefire[cluster]'") from None
        return Client(args.scheduler).get_executor()
    import multiprocessing
    return ProcessPoolExecutor(max_workers=args.workers, mp_context=multiprocessing.get_context("spawn"),
                               initializer=_worker_leaves_ctrl_c_to_the_sweep)


def _worker_leaves_ctrl_c_to_the_sweep() -> None:
    """A terminal's Ctrl-C reaches the workers too: they ignore it, and the
    sweep ends them (``_stop_workers``; their points are lost, the finished
    ones are cached) and prints the one line."""
    import signal
    import threading
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # tqdm's default lock is a multiprocessing semaphore, which a worker
    # ended by ``_stop_workers`` cannot release: the resource tracker would
    # print a "leaked semaphore" warning after the sweep's one line
    tqdm.set_lock(threading.RLock())


def _stop_workers(pool: Executor) -> None:
    """After Ctrl-C, end the worker processes still computing points, and
    the pool with them (no leaked semaphores, nothing more started)."""
    import multiprocessing
    for child in multiprocessing.active_children():
        child.terminate()
    pool.shutdown(wait=True, cancel_futures=True)


def run_points(args, out: Path, points, schedule) -> tuple[list[PointResult], int]:
    """(every point's result, how many were trained now rather than read
    from the cache)."""
    results: dict[int, PointResult] = {}
    todo = []
    for i, p in enumerate(points):
        hit = cached(out, p, schedule)
        if hit is not None:
            results[i] = hit
        else:
            todo.append(i)
    with tqdm(total=len(points), initial=len(results), desc="points", unit="point", file=sys.stderr) as bar:
        if todo:
            with executor(args) as pool:
                futures = {pool.submit(evaluate_point, points[i], schedule, out / "points"): i for i in todo}
                try:
                    for future in as_completed(futures):
                        i = futures[future]
                        results[i] = future.result()
                        remember(out, points[i], schedule, results[i])
                        bar.update(1)
                except KeyboardInterrupt:
                    _stop_workers(pool)
                    raise
    # a cached point's hardware columns may predate a better model
    return [results[i] if i in todo else reassess(out, points[i], results[i]) for i in range(len(points))], len(todo)


def reassess(out: Path, point: DsePoint, result: PointResult) -> PointResult:
    """The hardware columns again, from the point's saved bundles: the
    models are cheap (seconds) and may have improved since the point was
    trained, while training is what the cache is for."""
    from golden.bundle import Bundle
    from squeezefire.dse.hardware import hardware_columns
    for weights in list(result.hardware):
        path = out / "points" / f"{point.key}.{weights}.bundle"
        if path.is_file():
            result.hardware[weights] = [c.as_dict() for c in hardware_columns(Bundle.load(path))]
    return result


@command_main
def main(argv=None) -> int:
    args = parse_args(argv)
    t0 = time.time()
    try:
        points, schedule = plan(args)
        out = open_store(args.out)
    except (GridError, StoreError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    try:
        results, trained = run_points(args, out, points, schedule)
    except KeyboardInterrupt:
        done = len(list((out / "points").glob("*.json")))
        raise Interrupted(f"{done} finished point(s) are kept in {out / 'points'}; run the same command again "
                          "to resume") from None
    base = point_record(points[0] if args.grid or args.quick else DsePoint())
    run = {"points": len(points), "trained_this_run": trained, "schedule": asdict(schedule),
           "workers": args.workers, "wall_seconds_this_run": round(time.time() - t0, 1), "base": base}
    written = write_tables(out, results, run) + write_plots(out, results, base)
    if args.validate:
        from squeezefire.dse.validate import validate
        written += validate(out, points, results, args.validate)
    print(f"{len(points)} points ({trained} trained now) in {run['wall_seconds_this_run']} s; wrote " + ", ".join(p.name for p in written))
    return 0
