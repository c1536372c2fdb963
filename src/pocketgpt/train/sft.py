"""Supervised finetuning: a base checkpoint plus conversations -> an assistant checkpoint.

It reuses the pretraining :class:`~pocketgpt.train.Trainer` (checkpoints, exact resume,
metrics, torchrun, the NaN guard); only the batch source (whole conversations, loss on
assistant tokens only, see :mod:`pocketgpt.chat.batches`) and the eval (:func:`make_sft_eval`,
masked loss on held-out conversations) differ.

Configuration, lowest precedence first: the base run's training config (batch size,
dtype, device, optimizer), :data:`SFT_DEFAULTS`, ``--config FILE.toml``, ``key=value``
overrides, flags. The model's shape is the base's; only ``dropout`` may change.

Budget: unless ``max_steps``/``max_tokens``/``max_minutes`` or ``epochs`` is given, SFT
processes ``compute_frac`` (default 5%) of the tokens the base was pretrained on. Same
model, same ``block_size``, so the FLOPs ratio equals the token ratio. A base without a
recorded token count (an imported model) gets :data:`FALLBACK_EPOCHS` epochs.

>>> SFT_DEFAULTS["lr"], DEFAULT_COMPUTE_FRAC
(0.001, 0.05)
"""

from __future__ import annotations

import dataclasses
import json
import math
import sys
import warnings
from pathlib import Path

import torch
import torch.nn.functional as F

from pocketgpt.chat.batches import Example, SFTBatches, encode_conversations
from pocketgpt.errors import UserError
from pocketgpt.train import checkpoint as ckpt
from pocketgpt.train.config import TRAIN_KEYS, TrainConfig, apply_user_settings
from pocketgpt.train.distributed import all_reduce_, setup_distributed, teardown_distributed
from pocketgpt.train.trainer import Trainer, TrainResult

# lr 1e-3: measured on the 2-core speedrun, 3e-4 for 1.5 minutes learnt nothing (notes).
SFT_DEFAULTS = dict(lr=1e-3, warmup_frac=0.05, min_lr_frac=0.1, schedule="cosine", weight_decay=0.0,
                    tokens_per_step=0, max_steps=0, max_tokens=0, max_minutes=0.0, eval_every=50,
                    eval_batches=8, log_every=10, keep_last=2, wandb=False)
DEFAULT_COMPUTE_FRAC = 0.05
FALLBACK_EPOCHS = 2.0
# Keys carried over from the base run: how it ran, not what it learnt.
INHERITED = ("batch_size", "dtype", "device", "compile", "fsdp", "optimizer", "beta1", "beta2", "grad_clip",
             "muon_lr", "muon_momentum", "seed", "vocab_multiple")


def read_run_config(path) -> tuple[Path, dict, dict]:
    """(checkpoint path, config.json, trainer_state.json) of the newest valid checkpoint."""
    p = ckpt.resolve_checkpoint(path)
    return p, json.loads((p / "config.json").read_text()), json.loads((p / "trainer_state.json").read_text())


def build_sft_config(base_config: dict, config_file=None, overrides=(), flags: dict | None = None,
                     resumed_train: dict | None = None) -> TrainConfig:
    """The SFT TrainConfig: base run's settings, SFT defaults, file, overrides, flags.

    ``resumed_train`` (the train config saved in the SFT run being resumed) replaces the
    base + defaults layer, so a resumed run keeps its schedule and budget.
    """
    base = TrainConfig().to_dict()
    if resumed_train is not None:
        base.update({k: v for k, v in resumed_train.items() if k in TRAIN_KEYS})
    else:
        base.update({k: v for k, v in base_config.get("train", {}).items() if k in INHERITED})
        base.update(SFT_DEFAULTS)
    model = dict(base_config["model"])
    base["model"] = dict(model)
    apply_user_settings(base, config_file, overrides, flags)
    changed = sorted(k for k in base["model"] if base["model"][k] != model.get(k) and k != "dropout")
    if changed:
        raise UserError(f"model key(s) {', '.join(changed)}: SFT keeps the base model's shape; only dropout may change")
    return TrainConfig(**base)


def _split_val(convs: list, val_fraction: float, seed: int) -> tuple[list, list]:
    import numpy as np

    if len(convs) < 2:
        raise UserError(f"SFT data: {len(convs)} conversation(s); need at least 2 (one is held out for validation) "
                        "or pass --val")
    n_val = min(len(convs) - 1, max(1, round(val_fraction * len(convs))))
    order = np.random.default_rng(seed).permutation(len(convs))
    val = set(order[:n_val].tolist())
    return [c for i, c in enumerate(convs) if i not in val], [c for i, c in enumerate(convs) if i in val]


def make_sft_eval(examples: list[Example], batch_size: int, block_size: int, token_bytes: list[int],
                  n_batches: int, *, pack: bool = True, rank: int = 0, world_size: int = 1):
    """An eval function: masked CE (nats per trained token) and bits per byte of the replies.

    It sees the same held-out conversations in the same order every call: one pass over
    up to ``n_batches`` batches per rank.
    """
    nbytes = torch.tensor(token_bytes, dtype=torch.float64)
    batches, mine = [], examples[rank::world_size]  # a rank with no conversation adds zeros
    if mine:
        src = SFTBatches(mine, batch_size, block_size, pack=pack, shuffle=False, wrap=False)
        while not src.exhausted and len(batches) < n_batches:
            batches.append(src.next_batch())

    def eval_fn(model) -> dict:
        device = next(model.parameters()).device
        totals = torch.zeros(3, dtype=torch.float64, device=device)  # nats, bytes, trained tokens
        table = nbytes.to(device)
        for batch in batches:
            b = {k: v.to(device) for k, v in batch.items()}
            extra = {k: b[k] for k in ("positions", "attn_mask") if k in b}
            logits, _ = model(b["x"], **extra)
            ce = F.cross_entropy(logits.float().flatten(0, 1), b["y"].flatten(), ignore_index=-1, reduction="none")
            w = b["loss_mask"].flatten().double()
            y = b["y"].flatten().clamp(min=0, max=len(table) - 1)
            totals += torch.stack([(ce.double() * w).sum(), (table[y] * w).sum(), w.sum()])
        all_reduce_(totals)
        nats, n_bytes, n_tok = totals.tolist()
        if n_tok == 0:
            return {}
        return {"val_loss": nats / n_tok, "val_bpb": nats / (math.log(2) * max(n_bytes, 1.0))}

    return eval_fn


def run_sft(cfg_args: dict, data_paths, out_dir, *, base=None, val_paths=None, resume: bool = False,
            compute_frac: float | None = None, epochs: float | None = None, val_fraction: float = 0.05,
            pack: bool = True, oasst_langs=("en",), read_options: dict | None = None,
            progress: bool = True) -> TrainResult:
    """``pocketgpt sft`` as a function. ``cfg_args`` holds ``config_file``, ``overrides``
    and ``flags`` for :func:`build_sft_config`; ``read_options`` (``field``,
    ``drop_unknown_roles``, ``skip_bad``) go to
    :func:`pocketgpt.chat.data.load_conversations`. Runs under torchrun too."""
    from pocketgpt.chat.data import load_conversations
    from pocketgpt.chat.format import check_tokenizer, format_info
    from pocketgpt.model import GPT, GPTConfig

    out_dir = Path(out_dir)
    existing = ckpt.list_checkpoints(out_dir)
    resume_path, resumed = None, None
    if resume:
        if not existing:
            raise UserError(f"--resume: {out_dir} has no checkpoints to resume from; drop --resume to start SFT")
        resume_path, resumed, _ = read_run_config(out_dir)
        base = base or resumed.get("sft", {}).get("base", {}).get("path")
    elif existing:
        raise UserError(f"--out {out_dir}: already holds checkpoints; pass --resume to continue that run or choose "
                        "another --out")
    if not base:
        raise UserError("--base: required; the pretrained run directory (or checkpoint) to finetune")
    if compute_frac is not None and not 0 < compute_frac <= 1:
        raise UserError(f"--compute-frac: must be in (0, 1], got {compute_frac}")
    if epochs is not None and epochs <= 0:
        raise UserError(f"--epochs: must be > 0, got {epochs}")
    if not val_paths and not 0 <= val_fraction < 1:
        raise UserError(f"--val-fraction: must be in [0, 1), got {val_fraction}")
    base_path, base_config, base_state = read_run_config(base)
    if (base_path / "tokenizer").is_dir():
        from pocketgpt.tokenizer import Tokenizer

        tokenizer = Tokenizer.load(base_path / "tokenizer")
    else:
        raise UserError(f"--base {base_path}: the checkpoint has no tokenizer/ directory; SFT needs the tokenizer "
                        "the model was trained with")
    check_tokenizer(tokenizer, f"--base {base_path} tokenizer")
    cfg = build_sft_config(base_config, resumed_train=resumed["train"] if resumed else None, **cfg_args)
    model_cfg = GPTConfig.from_dict(cfg.model)
    T = model_cfg.block_size

    with warnings.catch_warnings(record=True) as caught:  # skipped rows and truncations, printed below
        warnings.simplefilter("always")
        train_convs = load_conversations(data_paths, oasst_langs=oasst_langs, **(read_options or {}))
        if val_paths:
            val_convs = load_conversations(val_paths, oasst_langs=oasst_langs, **(read_options or {}))
        else:
            train_convs, val_convs = _split_val(train_convs, val_fraction, cfg.seed)
        train_ex, train_rep = encode_conversations(train_convs, tokenizer, T)
        val_ex, val_rep = encode_conversations(val_convs, tokenizer, T)
    for w in caught:
        print(f"pocketgpt sft: warning: {w.message}", file=sys.stderr)
    if not train_ex:
        raise UserError("SFT data: no usable training conversations after truncation")
    given = [k for k in ("max_steps", "max_tokens", "max_minutes") if getattr(cfg, k)]
    if resumed is None and given and (epochs is not None or compute_frac is not None):
        # two budgets at once: one would silently win, so refuse
        flag = "--epochs" if epochs is not None else "--compute-frac"
        raise UserError(f"{flag}: conflicts with {given[0]}={getattr(cfg, given[0])} (e.g. from --max-steps); "
                        "give one budget")
    base_tokens = int(base_state.get("tokens") or 0)
    budget_note = "given"
    if resumed is None and not (cfg.max_steps or cfg.max_tokens or cfg.max_minutes):
        if epochs is None and base_tokens:
            frac = DEFAULT_COMPUTE_FRAC if compute_frac is None else compute_frac
            cfg.max_tokens = max(1, round(frac * base_tokens))
            budget_note = f"{frac:.1%} of the base's {base_tokens:,} pretraining tokens"
        else:
            ep = epochs if epochs is not None else FALLBACK_EPOCHS
            rows = SFTBatches(train_ex, cfg.batch_size, T, pack=pack, seed=cfg.seed).rows_per_epoch()
            cfg.max_steps = max(1, math.ceil(ep * rows / cfg.batch_size))
            budget_note = f"{ep:g} epoch(s)" + ("" if base_tokens else " (the base records no token count)")
    cfg.validate()

    info = setup_distributed(cfg.device)
    try:
        pad = tokenizer.eot_id
        train = SFTBatches(train_ex, cfg.batch_size, T, pack=pack, seed=cfg.seed, rank=info.rank,
                           world_size=info.world_size, pad_id=pad)
        eval_fn = make_sft_eval(val_ex, cfg.batch_size, T, tokenizer.token_byte_lengths(), cfg.eval_batches,
                                pack=pack, rank=info.rank, world_size=info.world_size)
        model = GPT(model_cfg)
        if resume_path is None:
            model.load_state_dict(ckpt.read_checkpoint(base_path)["model_state"], strict=True)
        torch.manual_seed(cfg.seed + 1000 * info.rank)
        rows = train.rows_per_epoch() * info.world_size
        extra = {
            "assistant": True,
            "chat_format": format_info(),
            "sft": {"base": {"path": str(base_path), "step": base_state.get("step"), "tokens": base_tokens},
                    "data": [str(p) for p in data_paths], "val": [str(p) for p in val_paths or []],
                    "pack": pack, "budget": budget_note, "tokens_per_epoch": rows * T,
                    "train": dataclasses.asdict(train_rep), "val_report": dataclasses.asdict(val_rep)},
        }
        if info.is_main:
            est = cfg.max_tokens or cfg.max_steps * cfg.batch_size * T * info.world_size
            pct = f", {est / base_tokens:.1%} of pretraining" if base_tokens and est else ""
            print(f"pocketgpt sft: {train_rep.conversations} train / {val_rep.conversations} val conversations, "
                  f"{rows} packed rows per epoch; budget {budget_note}"
                  + (f" (~{est / max(rows * T, 1):.2f} epochs{pct})" if est else ""), file=sys.stderr)
        trainer = Trainer(cfg, model, train, out_dir=out_dir, tokenizer=tokenizer, dist_info=info,
                          eval_fn=eval_fn, progress=progress, extra_config=extra)
        return trainer.fit(resume_from=resume_path)
    finally:
        teardown_distributed(info)


def is_assistant_checkpoint(path) -> tuple[bool, dict | None]:
    """(whether the checkpoint was finetuned for chat, its recorded chat format)."""
    _, config, _ = read_run_config(path)
    return bool(config.get("assistant")), config.get("chat_format")
