"""Pretraining on token shards: check the inputs, build the pieces, run the Trainer.

Every check that can fail on bad input runs before the model is built, so a
mistake costs seconds, not a training run.
"""

from __future__ import annotations

import math
from pathlib import Path

import torch
import torch.nn.functional as F

from pocketgpt.errors import UserError
from pocketgpt.train import checkpoint as ckpt
from pocketgpt.train.config import TrainConfig
from pocketgpt.train.distributed import DistInfo, all_reduce_, setup_distributed, teardown_distributed
from pocketgpt.train.trainer import Trainer, TrainResult


def make_lm_eval(loader, token_bytes: list[int], n_batches: int):
    """An eval function: mean CE (nats/token) and bits per byte over ``n_batches``.

    bpb = sum of CE nats over all targets / (ln 2 x UTF-8 bytes of those targets),
    so runs with different tokenizers compare. The loader is rewound each call, so
    every evaluation sees the same tokens.
    """
    nbytes = torch.tensor(token_bytes, dtype=torch.float64)

    def eval_fn(model) -> dict:
        device = next(model.parameters()).device
        loader.reset()
        totals = torch.zeros(3, dtype=torch.float64, device=device)  # nats, bytes, tokens
        table = nbytes.to(device)
        for _ in range(n_batches):
            x, y = loader.next_batch()
            x, y = x.to(device), y.to(device)
            logits, _ = model(x)
            ce = F.cross_entropy(logits.float().flatten(0, 1), y.flatten(), reduction="sum")
            totals += torch.stack([ce.double(), table[y.clamp(max=len(table) - 1)].sum(), torch.tensor(
                y.numel(), dtype=torch.float64, device=device)])
        all_reduce_(totals)
        nats, n_bytes, n_tok = totals.tolist()
        return {"val_loss": nats / n_tok, "val_bpb": nats / (math.log(2) * max(n_bytes, 1.0))}

    return eval_fn


def _check_inputs(cfg: TrainConfig, data_dir: Path, out_dir: Path, tokenizer_dir, resume: bool, init_from):
    from pocketgpt.data import check_tokenizer, read_shard_index
    from pocketgpt.tokenizer import Tokenizer

    index = read_shard_index(data_dir)
    tok_dir = Path(tokenizer_dir) if tokenizer_dir else data_dir / "tokenizer"
    if not tok_dir.is_dir():
        raise UserError(f"--tokenizer: no tokenizer directory given and {tok_dir} does not exist; "
                        "pass --tokenizer DIR (the tokenizer that made the shards)")
    tokenizer = Tokenizer.load(tok_dir)
    check_tokenizer(data_dir, tokenizer)
    if resume and init_from:  # a resumed run continues from its own weights: --init-from would be ignored
        raise UserError(f"--init-from {init_from}: conflicts with --resume (a resumed run continues from its own "
                        "checkpoint); drop one of them")
    existing = ckpt.list_checkpoints(out_dir)
    resume_path = None
    if resume:
        if not existing:
            raise UserError(f"--resume: {out_dir} has no checkpoints to resume from (expected "
                            f"{out_dir}/checkpoints/step_XXXXXX/); drop --resume to start a new run")
        resume_path = ckpt.resolve_checkpoint(out_dir)
    elif existing:
        raise UserError(f"--out {out_dir}: already holds checkpoints; pass --resume to continue that run "
                        "or choose another --out")
    init = None
    if init_from:
        init = ckpt.load_checkpoint(init_from)
        model_cfg = init[2]["config"]
        if init[1] is not None and init[1].fingerprint != tokenizer.fingerprint:
            raise UserError(f"--init-from {init_from}: the checkpoint's tokenizer differs from the shards' tokenizer")
    else:
        model_cfg = cfg.model_config(vocab_size=index["vocab_size"])
    if model_cfg.vocab_size < index["vocab_size"]:
        raise UserError(f"config vocab_size: {model_cfg.vocab_size} is smaller than the shards' vocabulary "
                        f"({index['vocab_size']} ids)")
    for split in ("train", "val"):
        have = int(index["splits"].get(split, {}).get("tokens", 0))
        if have < model_cfg.block_size + 1:
            raise UserError(f"{data_dir}: split {split!r} has {have} tokens but block_size={model_cfg.block_size} "
                            f"needs at least {model_cfg.block_size + 1} (block_size larger than the shards allow); "
                            "lower block_size or add data")
    return index, tokenizer, model_cfg, resume_path, init


def run_pretraining(cfg: TrainConfig, data_dir, out_dir, *, tokenizer_dir=None, resume: bool = False,
                    init_from=None, progress: bool = True) -> TrainResult:
    """The ``pocketgpt pretrain`` command as a function. Runs under torchrun too."""
    from pocketgpt.data import ShardLoader
    from pocketgpt.model import GPT

    data_dir, out_dir = Path(data_dir), Path(out_dir)
    index, tokenizer, model_cfg, resume_path, init = _check_inputs(cfg, data_dir, out_dir, tokenizer_dir,
                                                                    resume, init_from)
    log_hooks = []
    if cfg.wandb:
        try:
            import wandb
        except ImportError:
            raise UserError("--wandb: the wandb package is not installed (pip install wandb)") from None
    info: DistInfo = setup_distributed(cfg.device)
    try:
        T = model_cfg.block_size
        train = ShardLoader(data_dir, "train", cfg.batch_size, T, rank=info.rank, world_size=info.world_size,
                            seed=cfg.seed)
        val = ShardLoader(data_dir, "val", cfg.batch_size, T, rank=info.rank, world_size=info.world_size,
                          seed=cfg.seed, sequential=True)
        torch.manual_seed(cfg.seed)  # identical initial weights on every rank
        model = GPT(model_cfg)
        if init is not None:
            model.load_state_dict(init[0].state_dict())
        torch.manual_seed(cfg.seed + 1000 * info.rank)  # per-rank dropout streams
        if cfg.wandb and info.is_main:
            run = wandb.init(project="pocketgpt", dir=str(out_dir), config={"train": cfg.to_dict()})
            log_hooks.append(run.log)
        extra = {"data": {"dir": str(data_dir), "tokenizer_fingerprint": index["tokenizer_fingerprint"]},
                 "init_from": str(init[2]["path"]) if init else None}
        trainer = Trainer(cfg, model, train, out_dir=out_dir, tokenizer=tokenizer, dist_info=info,
                          eval_fn=make_lm_eval(val, tokenizer.token_byte_lengths(), cfg.eval_batches),
                          progress=progress, extra_config=extra, log_hooks=log_hooks)
        return trainer.fit(resume_from=resume_path)
    finally:
        teardown_distributed(info)
