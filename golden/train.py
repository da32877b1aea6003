"""Train the reference network on Fashion-MNIST, deterministically.

    python -m golden.train [--net NAME] [--epochs N] [--out golden/reference/float.pt] [--resume]

Seeded, with PyTorch's deterministic algorithms on the CPU; writes a
``state_dict`` checkpoint that loads with ``torch.load(..., weights_only=True)``.
``python -m golden.quantize`` then turns it into the reference bundle.
After every epoch the whole training state goes to ``<out>.ckpt``, from
which ``--resume`` continues an interrupted run, bit for bit.
"""
from __future__ import annotations

import math
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from golden import data
from golden.atomic import replacing
from golden.bad_input import BadInput
from golden.command import ArgumentParser, Interrupted, command_main
from golden.counts import MAX_THREADS, check_count, check_seed
from golden.writable import write_problem
from golden.models import NETWORKS, SqueezeNet, network_spec

REFERENCE_DIR = Path(__file__).resolve().parent / "reference"
CHECKPOINT_FORMAT = "squeezefire-train-checkpoint"
MAX_EPOCHS = 10000


def to_float(images_u8: np.ndarray) -> torch.Tensor:
    """uint8 NHWC → float NCHW in [0, 1]: the family's only input scaling."""
    return torch.from_numpy(images_u8).permute(0, 3, 1, 2).float() / 255.0


def augment(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Random horizontal flip and random shift by up to 2 pixels (zero fill)."""
    n = x.shape[0]
    flip = torch.rand(n, generator=gen) < 0.5
    x = torch.where(flip[:, None, None, None], x.flip(3), x)
    pad = nn.functional.pad(x, (2, 2, 2, 2))
    dx = torch.randint(0, 5, (n,), generator=gen)
    dy = torch.randint(0, 5, (n,), generator=gen)
    h, w = x.shape[2:]
    rows = (dy[:, None] + torch.arange(h)[None, :])            # n, h
    cols = (dx[:, None] + torch.arange(w)[None, :])            # n, w
    idx_n = torch.arange(n)[:, None, None]
    out = pad.permute(0, 2, 3, 1)[idx_n, rows[:, :, None], cols[:, None, :]]
    return out.permute(0, 3, 1, 2).contiguous()


@torch.no_grad()
def evaluate(model: nn.Module, images: np.ndarray, labels: np.ndarray, batch=1000) -> float:
    model.eval()
    correct = 0
    for i in range(0, len(images), batch):
        out = model(to_float(images[i:i + batch]))
        correct += int((out.argmax(1).numpy() == labels[i:i + batch]).sum())
    return correct / len(images)


@dataclass(frozen=True)
class TrainConfig:
    """What a run is; a checkpoint resumes only the run it was made by."""
    net: str = "reference-fmnist"
    epochs: int = 30
    seed: int = 0
    batch: int = 128
    lr: float = 3e-3
    limit: int | None = None          # first N training and test images (quick runs, tests)


class CheckpointError(ValueError):
    """A training checkpoint that cannot be resumed or replaced."""


def checkpoint_path(out: Path) -> Path:
    """Where a run writing ``out`` keeps its per-epoch checkpoint."""
    return out.with_name(out.name + ".ckpt")


def read_checkpoint(path: Path) -> dict:
    """A checkpoint written by ``save_checkpoint``; CheckpointError in one line otherwise."""
    try:
        state = torch.load(path, weights_only=True)
    except FileNotFoundError:
        raise CheckpointError(f"checkpoint {path} not found (nothing to resume)") from None
    except Exception as e:              # torch raises many kinds for a foreign file
        raise CheckpointError(f"{path} is not a training checkpoint ({type(e).__name__})") from None
    if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(f"{path} is not a training checkpoint of golden.train")
    return state


def save_checkpoint(path: Path, cfg: TrainConfig, epoch: int, model, opt, sched, gen) -> None:
    """Everything an interrupted run needs to continue bit for bit:
    weights, optimizer and schedule, both random generators, the epoch."""
    state = {"format": CHECKPOINT_FORMAT, "config": asdict(cfg), "epoch": epoch, "model": model.state_dict(),
             "optimizer": opt.state_dict(), "scheduler": sched.state_dict(),
             "torch_rng": torch.get_rng_state(), "data_rng": gen.get_state()}
    with replacing(path) as tmp:
        torch.save(state, tmp)


def check_config(state: dict, cfg: TrainConfig, path: Path) -> None:
    if state["config"] != asdict(cfg):
        theirs = {k: v for k, v in state["config"].items() if asdict(cfg).get(k) != v}
        raise CheckpointError(f"checkpoint {path} belongs to another run ({theirs}); "
                              "give the same options or start over without --resume")


def _restore(state: dict, cfg: TrainConfig, path: Path, model, opt, sched, gen) -> int:
    check_config(state, cfg, path)
    model.load_state_dict(state["model"])
    opt.load_state_dict(state["optimizer"])
    sched.load_state_dict(state["scheduler"])
    torch.set_rng_state(state["torch_rng"])
    gen.set_state(state["data_rng"])
    return state["epoch"]


def _load_split(split: str, limit: int | None):
    x, y = data.load(split)
    return (x, y) if limit is None else (x[:limit], y[:limit])


def train(epochs: int, seed: int, batch: int = 128, lr: float = 3e-3, net: str = "reference-fmnist",
          checkpoint: Path | None = None, resume: bool = False, limit: int | None = None,
          spec=None, progress: bool = True) -> nn.Module:
    """Train ``net`` (or the ``NetSpec`` ``spec``); with ``checkpoint``,
    save the state after every epoch there, and with ``resume``, continue
    from it (bit-identical to a run that was never interrupted)."""
    spec = spec or network_spec(net, batchnorm=True)
    cfg = TrainConfig(spec.name, epochs, seed, batch, lr, limit)
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True)
    gen = torch.Generator().manual_seed(seed)
    xtr, ytr = _load_split("train", limit)
    xte, yte = _load_split("test", limit)
    model = SqueezeNet(spec)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
    steps = epochs * math.ceil(len(xtr) / batch)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps, pct_start=0.15)
    loss_fn = nn.CrossEntropyLoss(label_smoothing=0.05)
    xtr_t, ytr_t = to_float(xtr), torch.from_numpy(ytr)
    start = _restore(read_checkpoint(checkpoint), cfg, checkpoint, model, opt, sched, gen) if resume else 0
    if start:
        print(f"resuming after epoch {start}/{epochs} from {checkpoint}", file=sys.stderr, flush=True)
    for epoch in range(start, epochs):
        model.train()
        perm = torch.randperm(len(xtr), generator=gen)
        bar = tqdm(range(0, len(xtr), batch), desc=f"epoch {epoch + 1}/{epochs}", file=sys.stderr,
                   leave=False, disable=not progress)
        total = 0.0
        for i in bar:
            idx = perm[i:i + batch]
            x = augment(xtr_t[idx], gen)
            loss = loss_fn(model(x), ytr_t[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            total += float(loss.detach()) * len(idx)
            bar.set_postfix(loss=f"{float(loss.detach()):.3f}")
        if progress:
            acc = evaluate(model, xte, yte)
            print(f"epoch {epoch + 1}/{epochs}: loss {total / len(xtr):.4f}, test top-1 {acc:.4f}",
                  file=sys.stderr, flush=True)
        if checkpoint is not None:
            save_checkpoint(checkpoint, cfg, epoch + 1, model, opt, sched, gen)
    return model


def _check_run(args, ckpt: Path) -> None:
    """Refuse, before training, what cannot be resumed or would overwrite
    a file that is not ours."""
    if args.out.is_dir():
        raise CheckpointError(f"--out {args.out} is a folder; give a checkpoint file name")
    problem = write_problem(args.out.parent)        # its folder is made if missing
    if problem:
        raise CheckpointError(f"--out {args.out}: {problem}")
    if args.resume:
        check_config(read_checkpoint(ckpt), TrainConfig(args.net, args.epochs, args.seed, limit=args.limit), ckpt)
    elif ckpt.exists():
        done = read_checkpoint(ckpt)["epoch"]
        print(f"note: starting over; {ckpt} (after epoch {done}) will be replaced (--resume continues it)",
              file=sys.stderr)


@command_main
def main(argv=None) -> int:
    ap = ArgumentParser(prog="python -m golden.train", description=__doc__.splitlines()[0])
    ap.add_argument("--net", default="reference-fmnist", help=f"network by name: {', '.join(NETWORKS)}")
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1,
                    help="torch CPU threads (default 1: the committed checkpoint was trained so)")
    ap.add_argument("--out", type=Path, default=REFERENCE_DIR / "float.pt")
    ap.add_argument("--resume", action="store_true",
                    help="continue an interrupted run from its checkpoint <out>.ckpt (same options)")
    ap.add_argument("--limit", type=int, default=None,
                    help="train and evaluate on the first N images only (quick runs, tests)")
    args = ap.parse_args(argv)
    check_count(args.epochs, "--epochs", 1, MAX_EPOCHS)
    check_count(args.threads, "--threads", 1, MAX_THREADS)
    check_seed(args.seed)
    if args.limit is not None:
        check_count(args.limit, "--limit", 1, data.TRAIN_IMAGES, f"fashion-mnist/train has {data.TRAIN_IMAGES} images")
    if args.net not in NETWORKS:
        raise BadInput(f"--net {args.net}: unknown network; known: {', '.join(NETWORKS)}")
    torch.set_num_threads(args.threads)
    ckpt = checkpoint_path(args.out)
    t0 = time.time()
    try:
        _check_run(args, ckpt)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        model = train(args.epochs, args.seed, net=args.net, checkpoint=ckpt, resume=args.resume, limit=args.limit)
    except (data.DatasetMissing, CheckpointError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        if ckpt.is_file():
            raise Interrupted(f"python -m golden.train --resume with the same options continues from {ckpt}") from None
        raise
    with replacing(args.out) as tmp:
        torch.save(model.state_dict(), tmp)
    print(f"wrote {args.out} after {time.time() - t0:.0f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
