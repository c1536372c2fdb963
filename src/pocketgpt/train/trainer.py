"""The training loop, shared by pretraining and SFT.

A :class:`Trainer` drives any model of the ``GPT`` family with:

- a *batch source*: ``next_batch()`` returns ``(x, y)``, ``(x, y, loss_mask)`` or a
  dict with ``x``, ``y`` and optionally ``loss_mask``, ``positions``, ``attn_mask``
  (passed to ``GPT.forward``); ``state_dict()`` / ``load_state_dict()`` resume it;
- an optional *eval function*: ``eval_fn(model) -> {"val_loss": ..., "val_bpb": ...}``,
  called on every rank under ``no_grad`` and autocast.

It owns gradient accumulation, clipping, the LR schedule, bf16 autocast, DDP/FSDP2,
``torch.compile``, metrics (``metrics.jsonl`` + tqdm), checkpoints with retention,
exact resume, a NaN/Inf guard and clean Ctrl-C.
"""

from __future__ import annotations

import contextlib
import json
import math
import signal
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import torch

from pocketgpt.errors import UserError
from pocketgpt.fsio import atomic_write_text
from pocketgpt.train import checkpoint as ckpt
from pocketgpt.train.config import TrainConfig
from pocketgpt.train.distributed import DistInfo, all_reduce_, barrier, wrap_model
from pocketgpt.train.optim import build_optimizer, lr_multiplier, set_lr
from pocketgpt.train.perf import DTYPES, choose_dtype, measure_matmul_peak


class TrainingDiverged(UserError):
    """The loss or gradient norm became NaN/Inf; diagnostics were saved."""

    exit_code = 3


@dataclass
class TrainResult:
    step: int
    tokens: int
    status: str  # "done" or "interrupted"
    loss: float | None
    last_eval: dict | None
    checkpoint: Path | None


def _unpack(batch) -> tuple[torch.Tensor, torch.Tensor, dict]:
    if isinstance(batch, dict):
        extra = {k: batch[k] for k in ("loss_mask", "positions", "attn_mask") if batch.get(k) is not None}
        return batch["x"], batch["y"], extra
    if len(batch) == 3:
        return batch[0], batch[1], {"loss_mask": batch[2]}
    x, y = batch
    return x, y, {}


class Trainer:
    def __init__(self, cfg: TrainConfig, model, train_source, *, out_dir: str | Path, eval_fn=None,
                 tokenizer=None, dist_info: DistInfo | None = None, progress: bool = True,
                 extra_config: dict | None = None, log_hooks: list | None = None):
        self.cfg, self.source, self.eval_fn, self.tokenizer = cfg, train_source, eval_fn, tokenizer
        self.out_dir = Path(out_dir)
        self.dist = dist_info or DistInfo()
        self.device = self.dist.device
        self.progress = progress and self.dist.is_main
        self.extra_config = extra_config or {}
        self.log_hooks = list(log_hooks or [])
        self.dtype = choose_dtype(cfg.dtype, self.device)
        self.raw_model = model.to(self.device)
        self.model_config = model.config
        self.seq_len = model.config.block_size
        self.micro_tokens = cfg.batch_size * self.seq_len * self.dist.world_size
        if cfg.tokens_per_step and cfg.tokens_per_step % self.micro_tokens:
            raise UserError(f"config tokens_per_step: {cfg.tokens_per_step} is not a multiple of batch_size x "
                            f"block_size x world_size = {self.micro_tokens}")
        self.accum = max(1, cfg.tokens_per_step // self.micro_tokens) if cfg.tokens_per_step else 1
        self.tokens_per_step = self.accum * self.micro_tokens
        self.model = wrap_model(self.raw_model, self.dist, fsdp=cfg.fsdp)
        self.optimizer = build_optimizer(self.model, cfg, self.device.type)
        if cfg.compile:
            self.model = torch.compile(self.model)
        self.flops_per_token = self.raw_model.flops_per_token(self.seq_len)
        self.peak_flops = measure_matmul_peak(str(self.device), self.dtype)
        self.step, self.tokens, self.elapsed = 0, 0, 0.0
        self.best_bpb: float | None = None
        self.last_eval: dict | None = None
        self._stop = False

    # -- small helpers ---------------------------------------------------------------

    def autocast(self):
        return torch.autocast(self.device.type, dtype=DTYPES[self.dtype], enabled=self.dtype != "float32")

    def progress_fraction(self, ahead: int = 0) -> float:
        """Fraction of the budget used (``ahead`` steps from now), the largest over budgets."""
        c = self.cfg
        parts = [(self.step + ahead) / c.max_steps if c.max_steps else 0.0,
                 (self.tokens + ahead * self.tokens_per_step) / c.max_tokens if c.max_tokens else 0.0,
                 self.elapsed / (60 * c.max_minutes) if c.max_minutes else 0.0]
        return max(parts)

    def lr_mult(self) -> float:
        c = self.cfg
        # the LR of the step about to run, so warmup's first step does not get lr 0
        return lr_multiplier(self.progress_fraction(ahead=1), warmup_frac=c.warmup_frac, min_lr_frac=c.min_lr_frac,
                             schedule=c.schedule, decay_frac=c.decay_frac)

    def request_stop(self) -> None:
        """Finish the current step, save a checkpoint and return (what Ctrl-C does)."""
        self._stop = True

    def _log(self, row: dict) -> None:
        if self.dist.is_main:
            with open(self.out_dir / "metrics.jsonl", "a", encoding="utf-8") as f:
                f.write(json.dumps(row) + "\n")
            for hook in self.log_hooks:
                hook(row)

    def _sync_context(self, last_micro: bool):
        m = self.model
        if self.accum == 1 or last_micro:
            if self.cfg.fsdp and hasattr(self.raw_model, "set_requires_gradient_sync"):
                self.raw_model.set_requires_gradient_sync(True)
            return contextlib.nullcontext()
        if self.cfg.fsdp and hasattr(self.raw_model, "set_requires_gradient_sync"):
            self.raw_model.set_requires_gradient_sync(False)
            return contextlib.nullcontext()
        inner = getattr(m, "_orig_mod", m)
        return inner.no_sync() if hasattr(inner, "no_sync") else contextlib.nullcontext()

    # -- checkpoint state --------------------------------------------------------------

    def _full_states(self) -> tuple[dict, dict]:
        if self.cfg.fsdp and self.dist.distributed:
            from torch.distributed.checkpoint.state_dict import (StateDictOptions, get_model_state_dict,
                                                                 get_optimizer_state_dict)

            opts = StateDictOptions(full_state_dict=True, cpu_offload=True)
            return (get_model_state_dict(self.raw_model, options=opts),
                    get_optimizer_state_dict(self.raw_model, self.optimizer.optimizers, options=opts))
        return self.raw_model.state_dict(), self.optimizer.state_dict()

    def _gather(self, obj) -> list:
        if not self.dist.distributed:
            return [obj]
        import torch.distributed as dist

        out = [None] * self.dist.world_size
        dist.all_gather_object(out, obj)
        return out

    def save(self, reason: str = "") -> Path | None:
        """Write a checkpoint of the current state (collective: call on every rank)."""
        model_state, optim_state = self._full_states()
        rngs = self._gather(ckpt.rng_state())
        sources = self._gather(self.source.state_dict())
        path = None
        if self.dist.is_main:
            state = {"step": self.step, "tokens": self.tokens, "elapsed_s": self.elapsed,
                     "best_val_bpb": self.best_bpb, "world_size": self.dist.world_size, "reason": reason,
                     "rng": rngs, "data": sources, "last_eval": self.last_eval}
            config = {"model": self.model_config.to_dict(), "train": self.cfg.to_dict(), **self.extra_config}
            path = ckpt.save_checkpoint(self.out_dir, self.step, model_state=model_state,
                                        optimizer_state=optim_state, trainer_state=state, config=config,
                                        tokenizer=self.tokenizer)
            ckpt.apply_retention(self.out_dir, self.cfg.keep_last)
        barrier()
        return path

    def resume(self, path: Path) -> None:
        """Restore weights, optimizer, step counters, RNG and data position from ``path``."""
        raw = ckpt.read_checkpoint(path)
        saved = raw["config"]["model"]
        mine = self.model_config.to_dict()
        diff = sorted(k for k in set(saved) | set(mine) if saved.get(k) != mine.get(k))
        if diff:
            detail = ", ".join(f"{k}: checkpoint {saved.get(k)!r} vs now {mine.get(k)!r}" for k in diff)
            raise UserError(f"{path}: checkpoint is from an incompatible model config ({detail})")
        optim_state = ckpt.load_optimizer_state(path)
        if self.cfg.fsdp and self.dist.distributed:
            from torch.distributed.checkpoint.state_dict import (StateDictOptions, set_model_state_dict,
                                                                 set_optimizer_state_dict)

            opts = StateDictOptions(full_state_dict=True)
            set_model_state_dict(self.raw_model, raw["model_state"], options=opts)
            set_optimizer_state_dict(self.raw_model, self.optimizer.optimizers, optim_state, options=opts)
        else:
            self.raw_model.load_state_dict(raw["model_state"], strict=True)
            try:
                self.optimizer.load_state_dict(optim_state)
            except (ValueError, KeyError) as e:
                raise UserError(f"{path}: optimizer state does not fit this config ({e}); "
                                "was it written with another optimizer setting?") from None
        st = raw["trainer_state"]
        self.step, self.tokens, self.elapsed = st["step"], st["tokens"], st["elapsed_s"]
        self.best_bpb, self.last_eval = st.get("best_val_bpb"), st.get("last_eval")
        same_world = st.get("world_size", 1) == self.dist.world_size
        rank = self.dist.rank if same_world else 0
        self.source.load_state_dict(st["data"][rank])
        if same_world:
            ckpt.set_rng_state(st["rng"][rank])
        else:
            torch.manual_seed(self.cfg.seed + 1000 * self.dist.rank + self.step)
        # A checkpoint written just before an eval (or the final one) whose eval never got
        # recorded, e.g. the process was killed during it: fit() runs that eval first.
        rows = self._metric_rows()
        self._eval_owed = st.get("reason") in ("eval", "done") and not any(
            r.get("step") == self.step and "loss" not in r for _, r in rows)
        if self.dist.is_main and (self.out_dir / "metrics.jsonl").exists():
            # drop rows past the resumed step (and torn lines), so the log reads as one run
            keep = "".join(line + "\n" for line, r in rows if r.get("step", 0) <= self.step)
            atomic_write_text(self.out_dir / "metrics.jsonl", keep)

    def _metric_rows(self) -> list[tuple[str, dict]]:
        """(line, row) of metrics.jsonl, skipping a line torn by a kill mid-write."""
        path = self.out_dir / "metrics.jsonl"
        rows = []
        for line in path.read_text(encoding="utf-8").splitlines() if path.exists() else []:
            try:
                rows.append((line, json.loads(line)))
            except json.JSONDecodeError:
                continue
        return rows

    # -- evaluation and the guard ----------------------------------------------------------

    def evaluate(self) -> dict | None:
        if self.eval_fn is None:
            return None
        self.model.eval()
        try:
            with torch.no_grad(), self.autocast():
                result = dict(self.eval_fn(self.model))
        finally:
            self.model.train()
        self.last_eval = {"step": self.step, **result}
        self._log({"step": self.step, "tokens": self.tokens, **result})
        bpb = result.get("val_bpb")
        if bpb is not None and math.isfinite(bpb) and (self.best_bpb is None or bpb < self.best_bpb):
            self.best_bpb = bpb
            if self.dist.is_main:
                ckpt.write_best(self.out_dir, self.step, bpb)
                ckpt.apply_retention(self.out_dir, self.cfg.keep_last)  # the old best may go now
        return result

    def _diverged(self, loss: float, grad_norm: float, x: torch.Tensor, y: torch.Tensor, lr: float):
        """Save what helps explain a NaN/Inf, outside checkpoints/, then stop."""
        where = self.out_dir / "diagnostics" / f"nonfinite_step_{self.step + 1:06d}"
        if self.dist.is_main:
            bad = [n for n, p in self.raw_model.named_parameters()
                   if not torch.isfinite(p).all() or (p.grad is not None and not torch.isfinite(p.grad).all())]
            where.mkdir(parents=True, exist_ok=True)
            torch.save({"x": x.cpu(), "y": y.cpu()}, where / "batch.pt")
            report = {"step": self.step + 1, "loss": loss, "grad_norm": grad_norm, "lr": lr,
                      "nonfinite_params_or_grads": bad, "last_eval": self.last_eval}
            atomic_write_text(where / "report.json", json.dumps(report, indent=1, default=str))
        last = ckpt.newest_valid_checkpoint(self.out_dir)
        raise TrainingDiverged(
            f"step {self.step + 1}: the {'loss' if not math.isfinite(loss) else 'gradient norm'} is "
            f"{loss if not math.isfinite(loss) else grad_norm}; training stopped. Diagnostics are in {where}; "
            f"the last good checkpoint ({last or 'none yet'}) is untouched. Lower lr or check the data, then --resume."
        )

    # -- the loop ------------------------------------------------------------------------

    def fit(self, resume_from: Path | None = None, stop_after_steps: int | None = None) -> TrainResult:
        """Train until a budget runs out, Ctrl-C, or ``stop_after_steps`` more steps."""
        self.out_dir.mkdir(parents=True, exist_ok=True)
        if resume_from is not None:
            self.resume(resume_from)
            if self._eval_owed:
                self.evaluate()
        elif self.step == 0 and self.dist.is_main and (self.out_dir / "metrics.jsonl").exists():
            # rows of an earlier attempt that died before its first checkpoint: this run replaces it
            atomic_write_text(self.out_dir / "metrics.jsonl", "")
        start_step = self.step
        self.model.train()
        bar = None
        if self.progress:
            from tqdm import tqdm

            bar = tqdm(total=100, initial=round(100 * self.progress_fraction()), unit="%",
                       bar_format="{l_bar}{bar}| {n:.0f}% [{elapsed}<{remaining}]{postfix}")
        old_handlers = {}
        if threading.current_thread() is threading.main_thread():
            # SIGTERM too: torchrun turns Ctrl-C into SIGTERM for its workers, and so do schedulers on preemption
            old_handlers = {sig: signal.signal(sig, self._on_sigint) for sig in (signal.SIGINT, signal.SIGTERM)}
        status, loss_value, path = "done", None, None
        t_start = time.perf_counter() - self.elapsed
        t_log, tokens_log, pause = time.perf_counter(), self.tokens, 0.0
        try:
            while self.progress_fraction() < 1.0:
                lr = self.lr_mult()
                set_lr(self.optimizer, lr)
                loss_sum = torch.zeros((), device=self.device)
                for micro in range(self.accum):
                    x, y, extra = _unpack(self.source.next_batch())
                    x, y = x.to(self.device, non_blocking=True), y.to(self.device, non_blocking=True)
                    extra = {k: v.to(self.device) for k, v in extra.items()}
                    with self._sync_context(micro == self.accum - 1), self.autocast():
                        _, loss = self.model(x, y, **extra)
                    (loss / self.accum).backward()
                    loss_sum += loss.detach().float()
                params = [p for p in self.model.parameters() if p.grad is not None]
                max_norm = self.cfg.grad_clip if self.cfg.grad_clip > 0 else float("inf")
                grad_norm = torch.nn.utils.clip_grad_norm_(params, max_norm)
                if hasattr(grad_norm, "full_tensor"):
                    grad_norm = grad_norm.full_tensor()
                now = time.perf_counter() - t_start
                stats = torch.tensor([loss_sum.item() / self.accum, float(self._stop), now], dtype=torch.float64,
                                     device=self.device)
                all_reduce_(stats)
                loss_value = stats[0].item() / self.dist.world_size
                gn = float(grad_norm)
                if not (math.isfinite(loss_value) and math.isfinite(gn)):
                    self._diverged(loss_value, gn, x, y, lr * self.cfg.lr)
                self.optimizer.step()
                self.optimizer.zero_grad(set_to_none=True)
                self.step += 1
                self.tokens += self.tokens_per_step
                self.elapsed = stats[2].item() / self.dist.world_size
                if self.step % self.cfg.log_every == 0 or self.step == start_step + 1:
                    wall = time.perf_counter() - t_log - pause
                    tps = (self.tokens - tokens_log) / max(wall, 1e-9)
                    mfu = tps / self.dist.world_size * self.flops_per_token / self.peak_flops
                    self._log({"step": self.step, "tokens": self.tokens, "loss": loss_value, "lr": lr * self.cfg.lr,
                               "grad_norm": gn, "tokens_per_s": tps, "mfu": mfu, "elapsed_s": self.elapsed})
                    if bar is not None:
                        bar.n = round(100 * min(1.0, self.progress_fraction()))
                        bar.set_postfix_str(f"step {self.step} loss {loss_value:.3f} {tps:,.0f} tok/s")
                    t_log, tokens_log, pause = time.perf_counter(), self.tokens, 0.0
                stop = stats[1].item() > 0 or (stop_after_steps is not None and self.step - start_step >= stop_after_steps)
                done = self.progress_fraction() >= 1.0
                if self.step % self.cfg.eval_every == 0 and not (stop or done):
                    t0 = time.perf_counter()
                    path = self.save("eval")  # before eval: a crash in eval loses no training
                    self.evaluate()
                    pause += time.perf_counter() - t0
                if stop:
                    status = "interrupted"
                    break
            if self.step > start_step:
                path = self.save(status)  # the final (or Ctrl-C) checkpoint, before the final eval
                if status == "done":
                    self.evaluate()
        finally:
            for sig, handler in old_handlers.items():
                signal.signal(sig, handler)
            if bar is not None:
                bar.close()
        return TrainResult(self.step, self.tokens, status, loss_value, self.last_eval, path)

    def _on_sigint(self, signum, frame):
        if self._stop:  # a second Ctrl-C means now
            raise KeyboardInterrupt
        self._stop = True
        if self.dist.is_main:
            print("\ninterrupt: finishing this step and saving a checkpoint (Ctrl-C again to abort)", flush=True)
