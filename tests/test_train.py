"""golden.train: per-epoch checkpoints, and --resume continues an
interrupted run bit for bit."""
import pytest
import torch

from golden import train

# reference-fmnist has dropout, so the global generator's state matters too.
RUN = ["--net", "reference-fmnist", "--epochs", "2", "--limit", "256"]


def _weights(path):
    return torch.load(path, weights_only=True)


def _interrupt_second_epoch(monkeypatch):
    """Make the run stop (as by Ctrl-C) at the end of epoch 2, after epoch 1's checkpoint."""
    real, calls = train.evaluate, []

    def evaluate(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(*args, **kwargs)
    monkeypatch.setattr(train, "evaluate", evaluate)


def test_resume_after_interruption_is_bit_identical(tmp_path, monkeypatch):
    whole, cut = tmp_path / "whole.pt", tmp_path / "cut.pt"
    assert train.main([*RUN, "--out", str(whole)]) == 0
    with monkeypatch.context() as m:
        _interrupt_second_epoch(m)
        assert train.main([*RUN, "--out", str(cut)]) == 130
    assert not cut.exists()
    assert train.read_checkpoint(train.checkpoint_path(cut))["epoch"] == 1
    assert train.main([*RUN, "--out", str(cut), "--resume"]) == 0
    a, b = _weights(whole), _weights(cut)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert train.read_checkpoint(train.checkpoint_path(cut))["epoch"] == 2


def test_resume_refuses_another_run(tmp_path, capsys):
    out = tmp_path / "x.pt"
    assert train.main(["--net", "tiny-fmnist", "--epochs", "1", "--limit", "64", "--out", str(out)]) == 0
    before = out.read_bytes()
    assert train.main(["--net", "tiny-fmnist", "--epochs", "2", "--limit", "64", "--out", str(out), "--resume"]) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith("error: checkpoint") and "another run" in err and "'epochs': 1" in err
    assert out.read_bytes() == before


@pytest.mark.parametrize("content", [None, b"not a checkpoint"])
def test_resume_without_a_checkpoint_is_one_line(tmp_path, capsys, content):
    out = tmp_path / "x.pt"
    if content is not None:
        train.checkpoint_path(out).write_bytes(content)
    assert train.main(["--net", "tiny-fmnist", "--epochs", "1", "--out", str(out), "--resume"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error:") and "checkpoint" in err[0]
    assert not out.exists()


def test_a_foreign_file_where_the_checkpoint_goes_is_not_overwritten(tmp_path, capsys):
    out = tmp_path / "x.pt"
    foreign = train.checkpoint_path(out)
    foreign.write_bytes(b"someone's notes")
    assert train.main(["--net", "tiny-fmnist", "--epochs", "1", "--limit", "64", "--out", str(out)]) == 2
    assert foreign.read_bytes() == b"someone's notes" and not out.exists()
    assert "not a training checkpoint" in capsys.readouterr().err
