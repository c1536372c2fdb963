"""torchrun with 2 gloo processes matches one process on the same global batch."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from .conftest import TINY

pytestmark = pytest.mark.ddp


def _losses(run):
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    return [r["loss"] for r in rows if "loss" in r], [r["val_loss"] for r in rows if "val_loss" in r]


def _pretrain(args, nproc=1):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    launcher = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}"]
    cmd = (launcher if nproc > 1 else [sys.executable]) + ["-m", "pocketgpt", "pretrain", *args]
    return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)


def _common(tiny_data):
    shards, tok = tiny_data
    return ["--data", str(shards), "--tokenizer", str(tok), "--max-steps", "4", "--no-progress", *TINY,
            "eval_every=2"]


@pytest.fixture(scope="module")
def single_run(tiny_data, tmp_path_factory):
    out = tmp_path_factory.mktemp("single") / "one"
    single = _pretrain(["--out", str(out), *_common(tiny_data), "batch_size=4"])
    assert single.returncode == 0, single.stderr
    return _losses(out)


@pytest.mark.parametrize("mode", ["ddp", "fsdp"])
def test_two_processes_match_one(tiny_data, tmp_path, single_run, mode):
    extra = ["--fsdp"] if mode == "fsdp" else []
    multi = _pretrain(["--out", str(tmp_path / "two"), *_common(tiny_data), "batch_size=2", *extra], nproc=2)
    assert multi.returncode == 0, multi.stderr
    want, want_val = single_run
    got, got_val = _losses(tmp_path / "two")
    assert len(got) == len(want) == 4
    assert got == pytest.approx(want, abs=1e-5)
    assert got_val == pytest.approx(want_val, abs=1e-5)
    assert multi.stdout.count("done at step 4") == 1  # only rank 0 reports
