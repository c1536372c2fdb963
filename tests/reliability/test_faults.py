"""SIGKILL at chosen and random points, resume with --resume, end bit-identical to a clean run.

Each kill is a real ``SIGKILL`` of a ``pocketgpt`` process (see fault_driver.py for the
points: inside a step, while a checkpoint is written, during eval, half-way through a
metrics line, half-way through a data shard; plus kills from outside at random wall-clock
times). After every kill the same command is rerun with ``--resume`` and must succeed; at
the end the loss curve (every step's loss, lr and grad norm, every eval) and the final
weights must equal an uninterrupted run's bit for bit. The default run kills a few times;
the ``slow`` runs kill 5 times at seeded random points and print a one-line summary.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import signal
import time
from pathlib import Path

import pytest

from pocketgpt.fsio import sha256_file
from pocketgpt.train import checkpoint as ckpt

from .conftest import TINY, pocketgpt, zygote


def curve(run: Path) -> list[tuple]:
    """The run's loss curve: everything in metrics.jsonl except wall-clock figures."""
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    keep = ("step", "tokens", "loss", "lr", "grad_norm", "val_loss", "val_bpb")
    return [tuple((k, r[k]) for k in keep if k in r) for r in rows]


def final_weights(run: Path) -> str:
    return sha256_file(ckpt.list_checkpoints(run)[-1][1] / "model.safetensors")


def corrupt_newest(run: Path) -> str:
    """Flip one byte of the newest checkpoint's weights (a torn write on a non-atomic disk)."""
    _, newest = ckpt.list_checkpoints(run)[-1]
    f = newest / "model.safetensors"
    data = bytearray(f.read_bytes())
    data[len(data) // 2] ^= 0xFF
    f.write_bytes(bytes(data))
    return newest.name


def kill_at_random_time(argv: list, run: Path, rng: random.Random) -> int:
    """Start the command, SIGKILL it a random moment after it has logged a new step."""
    lines = lambda: len((run / "metrics.jsonl").read_text().splitlines()) if (run / "metrics.jsonl").exists() else 0
    start = lines()
    z = zygote()
    pid, log = z.start(argv)
    deadline = time.time() + 120
    while lines() <= start and time.time() < deadline and not _exited(pid):
        time.sleep(0.01)
    time.sleep(rng.uniform(0.0, 0.05))
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    return z.wait(log).returncode


def _exited(pid: int) -> bool:
    """Whether the run has ended (a zombie until the zygote reaps it counts as ended)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[1][0] == "Z"
    except (FileNotFoundError, IndexError):
        return True


def run_with_kills(argv_for, run: Path, kills: list[str], *, corrupt_after: tuple = (), rng=None) -> dict:
    """Run ``argv_for(resume)`` killed at each point in turn, then to the end; return counts."""
    stats = {"kills": 0, "resumes": 0, "fallbacks": 0}
    for i, point in enumerate(kills):
        resume = bool(ckpt.list_checkpoints(run))
        if point == "time":
            code = kill_at_random_time(argv_for(resume), run, rng)
            if code == 0:
                continue  # finished before the kill landed
        else:
            res = pocketgpt(*argv_for(resume), kill=point)
            assert res.returncode == -signal.SIGKILL, f"{point}: not reached (exit {res.returncode}): {res.stderr}"
            assert resume or i == 0, "every run after the first kill must resume"
        stats["kills"] += 1
        stats["resumes"] += resume
        if i in corrupt_after:
            corrupt_newest(run)
            stats["corrupted"] = True
    res = pocketgpt(*argv_for(True))
    assert res.returncode == 0, res.stderr
    assert "Traceback" not in res.stderr
    stats["resumes"] += 1
    stats["fallbacks"] += res.stderr.count("does not match its checksum")
    return stats


def pretrain_argv(tiny_data, run: Path, steps: int, eval_every: int):
    shards, tok, _ = tiny_data

    def argv(resume: bool) -> list:
        return ["pretrain", "--data", shards, "--tokenizer", tok, "--out", run, "--no-progress", *TINY,
                "--max-steps", steps, f"eval_every={eval_every}", *(["--resume"] if resume else [])]

    return argv


def sft_argv(base_run, chats, run: Path, steps: int, eval_every: int):
    def argv(resume: bool) -> list:
        return ["sft", "--base", base_run, "--data", chats, "--out", run, "--no-progress", "--max-steps", steps,
                f"eval_every={eval_every}", "log_every=1", "eval_batches=2", "dropout=0.1",
                *(["--resume"] if resume else [])]

    return argv


def assert_same_run(clean: Path, cut: Path) -> int:
    want, got = curve(clean), curve(cut)
    assert got == want  # bit for bit: floats are written with repr, so equal text is equal value
    assert final_weights(cut) == final_weights(clean)
    assert any("val_loss" in dict(r) for r in want)
    return len(want)


def test_pretrain_killed_in_step_checkpoint_eval_and_log_resumes_bit_exact(tiny_data, tmp_path):
    argv = lambda run: pretrain_argv(tiny_data, run, 8, 2)
    assert pocketgpt(*argv(tmp_path / "clean")(False)).returncode == 0
    cut = tmp_path / "cut"
    # ckpt:4 leaves step_000004 half written; eval:4 dies after it is complete; log:5 tears
    # a metrics line; step:7 dies mid-step, then step_000006 is corrupted: resume must fall back to 4.
    stats = run_with_kills(argv(cut), cut, ["ckpt:4", "eval:4", "log:5", "step:7"], corrupt_after=(3,))
    n = assert_same_run(tmp_path / "clean", cut)
    assert stats["fallbacks"] == 1 and stats["resumes"] == 4
    assert not [p for p in (cut / "checkpoints").iterdir() if p.name.startswith(".")]  # no temp dirs left
    print(f"\npretrain: {stats['kills']} SIGKILLs, {stats['resumes']} resumes, 1 corrupt checkpoint skipped; "
          f"{n} metric rows and final weights identical to the clean run")


def test_pretrain_killed_before_its_first_checkpoint_starts_over_cleanly(tiny_data, tmp_path):
    """Nothing to resume yet: the rerun (without --resume) must not keep the dead run's rows."""
    argv = lambda run: pretrain_argv(tiny_data, run, 4, 3)
    assert pocketgpt(*argv(tmp_path / "clean")(False)).returncode == 0
    cut = tmp_path / "cut"
    assert pocketgpt(*argv(cut)(False), kill="step:3").returncode == -signal.SIGKILL
    assert not ckpt.list_checkpoints(cut) and len(curve(cut)) == 2
    assert pocketgpt(*argv(cut)(True)).returncode == 2  # --resume: nothing to resume from
    assert pocketgpt(*argv(cut)(False)).returncode == 0
    n = assert_same_run(tmp_path / "clean", cut)
    print(f"\npretrain killed before its first checkpoint: rerun from scratch, {n} metric rows identical")


def test_sft_killed_in_step_and_eval_resumes_bit_exact(base_run, chats, tmp_path):
    argv = lambda run: sft_argv(base_run, chats, run, 6, 2)
    assert pocketgpt(*argv(tmp_path / "clean")(False)).returncode == 0
    cut = tmp_path / "cut"
    stats = run_with_kills(argv(cut), cut, ["step:3", "eval:4"])
    n = assert_same_run(tmp_path / "clean", cut)
    print(f"\nsft: {stats['kills']} SIGKILLs, {stats['resumes']} resumes; {n} metric rows identical")


def tokenize_argv(tiny_data, out: Path, docs: Path | None = None) -> list:
    _, tok, small = tiny_data
    docs = docs or small
    return ["data", "tokenize", "--input", docs, "--tokenizer", tok, "--out", out, "--shard-tokens", "1500",
            "--workers", "1", "--val-fraction", "0.1", "--no-progress"]


def assert_same_shards(clean: Path, cut: Path) -> int:
    names = sorted(p.name for p in clean.glob("*.npy"))
    assert len(names) >= 4 and names == sorted(p.name for p in cut.glob("*.npy"))
    for n in names:
        assert (clean / n).read_bytes() == (cut / n).read_bytes(), n
    assert json.loads((clean / "index.json").read_text())["splits"] == json.loads(
        (cut / "index.json").read_text())["splits"]
    assert not list(cut.glob(".*"))  # no temp files or progress file left
    return len(names)


def test_tokenize_killed_mid_shard_write_reruns_to_identical_shards(tiny_data, tmp_path):
    assert pocketgpt(*tokenize_argv(tiny_data, tmp_path / "clean")).returncode == 0
    cut = tmp_path / "cut"
    for point in ("shard:2", "shard:3"):
        res = pocketgpt(*tokenize_argv(tiny_data, cut), kill=point)
        assert res.returncode == -signal.SIGKILL, res.stderr
        assert not (cut / "index.json").exists()
    res = pocketgpt(*tokenize_argv(tiny_data, cut))
    assert res.returncode == 0, res.stderr
    n = assert_same_shards(tmp_path / "clean", cut)
    print(f"\ndata tokenize: 2 SIGKILLs mid shard write, rerun: {n} shards byte-identical")


# -- the long runs: 5 kills at seeded random points -----------------------------------------

def random_points(rng: random.Random, steps: int, eval_every: int, n: int) -> list[str]:
    """``n`` distinct kill points in run order, covering step, checkpoint and eval."""
    # every kill comes after the first checkpoint, so every rerun is a --resume (the case of a
    # kill before it is test_pretrain_killed_before_its_first_checkpoint_starts_over_cleanly)
    # and the last one leaves 6 steps for the final kill from outside to land in
    steps -= 6
    evals = list(range(eval_every, steps + 1, eval_every))
    order = {"step": 0, "log": 1, "ckpt": 2, "eval": 3}
    first = eval_every + 1
    must = [("step", rng.randint(first, steps)), ("ckpt", rng.choice(evals[1:])), ("eval", rng.choice(evals))]
    pool = ([(k, s) for k in ("step", "log") for s in range(first, steps + 1)]
            + [("ckpt", s) for s in evals[1:]] + [("eval", s) for s in evals])
    points = set(must)
    while len(points) < n - 1:
        points.add(rng.choice(pool))
    chosen = sorted(points, key=lambda p: (p[1], order[p[0]]))
    return [f"{k}:{s}" for k, s in chosen] + ["time"]  # and one from outside, at a random moment


@pytest.mark.slow
@pytest.mark.parametrize("seed", [1, 2])
def test_pretrain_five_random_kills(tiny_data, tmp_path, seed):
    rng = random.Random(seed)
    argv = lambda run: pretrain_argv(tiny_data, run, 16, 3)
    assert pocketgpt(*argv(tmp_path / "clean")(False)).returncode == 0
    points = random_points(rng, 16, 3, 5)
    stats = run_with_kills(argv(tmp_path / "cut"), tmp_path / "cut", points, rng=rng)
    n = assert_same_run(tmp_path / "clean", tmp_path / "cut")
    assert stats["kills"] == 5, points
    print(f"\npretrain seed {seed}: kills at {points} -> {stats['kills']} SIGKILLs, {stats['resumes']} resumes, "
          f"{n} metric rows + final weights bit-identical")


@pytest.mark.slow
def test_sft_five_random_kills(base_run, chats, tmp_path):
    rng = random.Random(3)
    argv = lambda run: sft_argv(base_run, chats, run, 16, 3)
    assert pocketgpt(*argv(tmp_path / "clean")(False)).returncode == 0
    points = random_points(rng, 16, 3, 5)
    stats = run_with_kills(argv(tmp_path / "cut"), tmp_path / "cut", points, rng=rng)
    n = assert_same_run(tmp_path / "clean", tmp_path / "cut")
    assert stats["kills"] == 5, points
    print(f"\nsft: kills at {points} -> {stats['kills']} SIGKILLs, {stats['resumes']} resumes, {n} rows bit-identical")


@pytest.mark.slow
def test_tokenize_five_kills(tiny_data, tmp_path):
    from .conftest import make_docs

    rng = random.Random(4)
    docs = tmp_path / "docs.jsonl"  # ~10x the small corpus, so a kill from outside lands mid-run
    docs.write_text("".join(json.dumps({"text": d}) + "\n" for d in make_docs(1, 600)))
    argv = lambda out: tokenize_argv(tiny_data, out, docs)
    assert pocketgpt(*argv(tmp_path / "clean")).returncode == 0
    cut = tmp_path / "cut"
    kills = 0
    for _ in range(3):
        res = pocketgpt(*argv(cut), kill=f"shard:{rng.randint(2, 30)}")
        kills += res.returncode == -signal.SIGKILL
    for _ in range(2):  # from outside, at a random moment after the run has written a new shard
        before = len(list(cut.glob("*.npy")))
        z = zygote()
        pid, log = z.start(argv(cut))
        deadline = time.time() + 60
        while len(list(cut.glob("*.npy"))) <= before and time.time() < deadline and not _exited(pid):
            time.sleep(0.005)
        time.sleep(rng.uniform(0.0, 0.1))
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        kills += z.wait(log).returncode == -signal.SIGKILL
    res = pocketgpt(*argv(cut))
    assert res.returncode == 0, res.stderr
    n = assert_same_shards(tmp_path / "clean", cut)
    assert kills == 5
    print(f"\ndata tokenize: {kills} SIGKILLs (3 mid shard write, 2 at random times), {n} shards byte-identical")


# -- a checkpoint write that fails ------------------------------------------------------------

@pytest.mark.parametrize("fault,cause", [("fsize:2", "File too large"), ("rofs:2", "Read-only file system")])
def test_failed_checkpoint_write_keeps_the_previous_and_stops_clearly(tiny_data, tmp_path, fault, cause):
    """fsize: the kernel refuses the write (EFBIG via RLIMIT_FSIZE, as a full disk refuses with
    ENOSPC) inside safetensors/torch.save; rofs: the directory cannot be created (EROFS)."""
    run = tmp_path / "run"
    argv = pretrain_argv(tiny_data, run, 6, 2)
    res = pocketgpt(*argv(False), kill=fault)
    assert res.returncode == 4, res.stderr
    err = res.stderr.strip()
    assert "Traceback" not in err and err.count("\n") == 0, err  # one paragraph
    assert err.startswith("pocketgpt pretrain: error:") and "step_000004: could not write the checkpoint" in err
    assert cause in err and "step_000002 is intact" in err and "--resume" in err
    assert [s for s, _ in ckpt.list_checkpoints(run)] == [2]
    ckpt.verify_checkpoint(run / "checkpoints" / "step_000002")
    assert not [p for p in (run / "checkpoints").iterdir() if p.name.startswith(".")]
    # space is back: the run resumes from the intact checkpoint and ends where a clean one does
    assert pocketgpt(*argv(True)).returncode == 0
    assert pocketgpt(*pretrain_argv(tiny_data, tmp_path / "clean", 6, 2)(False)).returncode == 0
    assert curve(run) == curve(tmp_path / "clean")
    print(f"\n{fault}: exit 4, one-line message, step_000002 intact and verified, resume bit-identical")
