"""Checkpoints: atomic directories with a checksummed manifest, retention, loading.

Layout of ``RUN_DIR/checkpoints/step_XXXXXX/``::

    model.safetensors    fp32 weights (a tied LM head is stored once, as wte)
    optimizer.pt         optimizer state (torch.save; loaded with weights_only=True)
    trainer_state.json   step, tokens, elapsed time, RNG states, loader state
    config.json          {"model": GPTConfig, "train": TrainConfig, ...}
    tokenizer/           copy of the tokenizer the run used
    manifest.json        sha256 of every file above; written last

A directory is written under a temporary name and renamed into place, so a
crash leaves either the old set of checkpoints or the new one. Loading verifies
every checksum; a damaged checkpoint is reported and the previous one used.
"""

from __future__ import annotations

import base64
import json
import os
import pickle
import random
import re
import shutil
import warnings
from pathlib import Path

import numpy as np
import torch

from pocketgpt.errors import UserError
from pocketgpt.fsio import atomic_dir, atomic_write_text, sha256_file

FORMAT = "pocketgpt-checkpoint"
VERSION = 1
STEP_RE = re.compile(r"^step_(\d{6,})$")
REQUIRED = ("model.safetensors", "config.json", "trainer_state.json")


class CheckpointError(Exception):
    """A checkpoint directory that is incomplete or does not match its manifest."""


class CheckpointWriteError(UserError, OSError):
    """Writing a checkpoint failed (disk full, read-only directory); earlier ones are intact.

    A UserError, so the CLI stops with one clear paragraph instead of a traceback; an
    OSError too, for callers that catch the underlying failure.
    """

    exit_code = 4


def step_dir(run_dir: str | Path, step: int) -> Path:
    return Path(run_dir) / "checkpoints" / f"step_{step:06d}"


# -- RNG state as JSON --------------------------------------------------------------

def _b64(t: torch.Tensor) -> str:
    return base64.b64encode(t.cpu().numpy().tobytes()).decode("ascii")


def _unb64(s: str) -> torch.Tensor:
    return torch.from_numpy(np.frombuffer(base64.b64decode(s), dtype=np.uint8).copy())


def rng_state() -> dict:
    """Every RNG a training step may draw from, in JSON-safe form."""
    np_state = np.random.get_state()
    py_state = random.getstate()
    state = {
        "torch": _b64(torch.get_rng_state()),
        "numpy": [np_state[0], np_state[1].tolist(), int(np_state[2]), int(np_state[3]), float(np_state[4])],
        "python": [py_state[0], list(py_state[1]), py_state[2]],
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = [_b64(s) for s in torch.cuda.get_rng_state_all()]
    return state


def set_rng_state(state: dict) -> None:
    torch.set_rng_state(_unb64(state["torch"]))
    n = state["numpy"]
    np.random.set_state((n[0], np.array(n[1], dtype=np.uint32), n[2], n[3], n[4]))
    p = state["python"]
    random.setstate((p[0], tuple(p[1]), p[2]))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([_unb64(s) for s in state["cuda"]])


# -- writing ------------------------------------------------------------------------

def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def save_checkpoint(run_dir: str | Path, step: int, *, model_state: dict, optimizer_state: dict | None,
                    trainer_state: dict, config: dict, tokenizer=None) -> Path:
    """Write ``step_XXXXXX`` atomically and return its path. Replaces one of the same step.

    A failed write (``ENOSPC``, a read-only directory) raises :class:`CheckpointWriteError`
    and leaves every existing checkpoint as it was.
    """
    from safetensors import SafetensorError

    path = step_dir(run_dir, step)
    try:
        _write_checkpoint(path, step, model_state, optimizer_state, trainer_state, config, tokenizer)
    except (OSError, RuntimeError, SafetensorError) as e:
        # a full disk reaches us as OSError from Python, SafetensorError from safetensors
        # and RuntimeError from torch.save, so name the likely cause from the filesystem
        earlier = [p for s, p in list_checkpoints(run_dir) if s != step]
        kept = f"the previous checkpoint {earlier[-1]} is intact" if earlier else "no earlier checkpoint exists"
        why = getattr(e, "strerror", None) or str(e).splitlines()[0]
        try:
            st = os.statvfs(path.parent)
            why += f"; {st.f_bavail * st.f_frsize / 2**20:.1f} MiB free on that filesystem"
        except OSError:
            pass
        raise CheckpointWriteError(
            f"{path}: could not write the checkpoint ({why}); nothing was replaced and {kept}. "
            "Training stopped: free disk space or make the directory writable, then rerun with --resume.") from e
    return path


def _write_checkpoint(path: Path, step: int, model_state, optimizer_state, trainer_state, config, tokenizer):
    from safetensors.torch import save_file

    with atomic_dir(path, overwrite=True) as tmp:
        weights = {k: v.detach().to("cpu", torch.float32).contiguous() for k, v in model_state.items()}
        save_file(weights, str(tmp / "model.safetensors"), metadata={"format": "pt"})
        if optimizer_state is not None:
            torch.save(optimizer_state, tmp / "optimizer.pt")
        (tmp / "trainer_state.json").write_text(json.dumps(trainer_state, indent=1))
        (tmp / "config.json").write_text(json.dumps(config, indent=1))
        if tokenizer is not None:
            tokenizer.save(tmp / "tokenizer")
        files = sorted(p for p in tmp.rglob("*") if p.is_file())
        for f in files:
            _fsync(f)
        manifest = {"format": FORMAT, "version": VERSION, "step": step,
                    "files": {f.relative_to(tmp).as_posix(): sha256_file(f) for f in files}}
        (tmp / "manifest.json").write_text(json.dumps(manifest, indent=1))
        _fsync(tmp / "manifest.json")


# -- finding and verifying ------------------------------------------------------------

def list_checkpoints(run_or_ckpts_dir: str | Path) -> list[tuple[int, Path]]:
    """(step, path) of every ``step_*`` directory, oldest first (valid or not)."""
    d = Path(run_or_ckpts_dir)
    if (d / "checkpoints").is_dir():
        d = d / "checkpoints"
    if not d.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in d.iterdir() if p.is_dir() and (m := STEP_RE.match(p.name))]
    return sorted(found)


def verify_checkpoint(path: str | Path) -> dict:
    """Return the manifest if every file matches it; raise :class:`CheckpointError` otherwise."""
    path = Path(path)
    try:
        manifest = json.loads((path / "manifest.json").read_text())
    except FileNotFoundError:
        raise CheckpointError(f"{path}: no manifest.json (incomplete write)") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise CheckpointError(f"{path}/manifest.json: not valid JSON ({e})") from None
    if manifest.get("format") != FORMAT:
        raise CheckpointError(f"{path}/manifest.json: format {manifest.get('format')!r}, expected {FORMAT!r}")
    files = manifest.get("files", {})
    for name in REQUIRED:
        if name not in files:
            raise CheckpointError(f"{path}: manifest does not list {name}")
    for name, digest in files.items():
        f = path / name
        if not f.is_file():
            raise CheckpointError(f"{path}: {name} is missing")
        if sha256_file(f) != digest:
            raise CheckpointError(f"{path}: {name} does not match its checksum (corrupted)")
    return manifest


def resolve_checkpoint(path: str | Path) -> Path:
    """The newest valid checkpoint at ``path`` (a run dir, its checkpoints dir, or one checkpoint).

    A damaged checkpoint is reported with a warning and the previous one is used.
    """
    path = Path(path)
    if not path.exists():
        raise UserError(f"{path}: no such checkpoint or run directory")
    if (path / "manifest.json").exists() or STEP_RE.match(path.name):
        candidates = [p for s, p in list_checkpoints(path.parent) if p.name <= path.name] or [path]
        candidates = sorted(candidates, key=lambda p: p.name)
    else:
        candidates = [p for _, p in list_checkpoints(path)]
        if not candidates:
            raise UserError(f"{path}: no checkpoints (expected {path}/checkpoints/step_XXXXXX/)")
    for p in reversed(candidates):
        try:
            verify_checkpoint(p)
            return p
        except CheckpointError as e:
            warnings.warn(f"{e}; skipping it for the previous checkpoint", stacklevel=2)
    raise UserError(f"{path}: no valid checkpoint; every candidate failed verification (see warnings above)")


def newest_valid_checkpoint(run_dir: str | Path) -> Path | None:
    if not list_checkpoints(run_dir):
        return None
    try:
        return resolve_checkpoint(run_dir)
    except UserError:
        return None


# -- retention ----------------------------------------------------------------------

def read_best(run_dir: str | Path) -> dict | None:
    try:
        return json.loads((Path(run_dir) / "checkpoints" / "best.json").read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def write_best(run_dir: str | Path, step: int, val_bpb: float) -> None:
    atomic_write_text(Path(run_dir) / "checkpoints" / "best.json", json.dumps({"step": step, "val_bpb": val_bpb}))


def apply_retention(run_dir: str | Path, keep_last: int) -> list[Path]:
    """Delete all but the newest ``keep_last`` checkpoints and the best by val bpb.

    Also deletes what a killed writer left behind (``.step_*`` temp and moved-aside
    directories); callers run this right after a save, when no write is in flight.
    """
    d = Path(run_dir) / "checkpoints"
    for p in d.glob(".step_*") if d.is_dir() else []:
        shutil.rmtree(p, ignore_errors=True)
    ckpts = list_checkpoints(run_dir)
    best = read_best(run_dir)
    keep = {p for _, p in ckpts[-keep_last:]}
    removed = []
    for step, p in ckpts:
        if p in keep or (best is not None and step == best.get("step")):
            continue
        shutil.rmtree(p, ignore_errors=True)
        removed.append(p)
    return removed


# -- reading ------------------------------------------------------------------------

def read_checkpoint(path: Path) -> dict:
    """Raw pieces of a verified checkpoint: config, trainer state, weights."""
    from safetensors.torch import load_file

    return {
        "path": path,
        "config": json.loads((path / "config.json").read_text()),
        "trainer_state": json.loads((path / "trainer_state.json").read_text()),
        "model_state": load_file(str(path / "model.safetensors")),
    }


def load_optimizer_state(path: Path) -> dict:
    f = Path(path) / "optimizer.pt"
    if not f.is_file():
        raise UserError(f"{path}: no optimizer.pt; this checkpoint cannot resume training")
    try:
        return torch.load(f, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        # weights_only refuses anything but tensors and plain containers: no code from the file runs
        lines = [ln.strip() for ln in str(e).splitlines() if "unsupported" in ln.lower() or "GLOBAL" in ln]
        what = (lines[0].rstrip(".") if lines else type(e).__name__)[:200]  # e.g. "... GLOBAL posix.system ..."
        raise UserError(f"{f}: refused to load: the pickle holds objects other than tensors and plain containers "
                        f"({what}); not a pocketgpt optimizer state, and possibly malicious") from None


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu"):
    """``(model, tokenizer, info)`` from a run directory (newest valid) or one checkpoint.

    The model is fp32, in eval mode, on ``map_location`` (``auto``, ``cpu``, ``cuda[:N]``,
    ``mps``, resolved by :func:`pocketgpt.train.distributed.pick_device`; weights are
    stored on the CPU, so a checkpoint from any device loads on any); ``tokenizer`` is ``None``
    when the checkpoint has none. ``info`` has ``path``, ``step``, ``config`` (the
    GPTConfig), ``train_config`` (dict) and ``trainer_state``.
    """
    from pocketgpt.model import GPT, GPTConfig
    from pocketgpt.train.distributed import pick_device

    device = pick_device(map_location)  # before reading: a bad --device fails fast
    ckpt = resolve_checkpoint(path)
    raw = read_checkpoint(ckpt)
    cfg = GPTConfig.from_dict(raw["config"]["model"])
    model = GPT(cfg)
    model.load_state_dict(raw["model_state"], strict=True)
    model.to(device).eval()
    tokenizer = None
    if (ckpt / "tokenizer").is_dir():
        from pocketgpt.tokenizer import Tokenizer

        tokenizer = Tokenizer.load(ckpt / "tokenizer")
    info = {"path": ckpt, "step": raw["trainer_state"].get("step"), "config": cfg,
            "train_config": raw["config"].get("train", {}), "trainer_state": raw["trainer_state"]}
    return model, tokenizer, info
