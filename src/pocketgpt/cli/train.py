"""``pocketgpt pretrain``: train a GPT on token shards.

    pocketgpt pretrain --preset cpu-tiny --data shards/ --tokenizer tok/ --out runs/tiny
    pocketgpt pretrain --preset cpu-tiny --data shards/ --out runs/tiny --resume
    pocketgpt pretrain --preset d12 --data shards/ --out runs/d12 lr=2e-3 n_layer=10
    torchrun --nproc_per_node=8 -m pocketgpt pretrain --preset d20 --data shards/ --out runs/d20
"""

from __future__ import annotations

import argparse
import os
import sys


def _add_options(p) -> None:
    p.add_argument("--preset", default="cpu-tiny", help="cpu-tiny, gpt2-124m, d12 or d20 (default cpu-tiny)")
    p.add_argument("--list-presets", action="store_true", help="print the presets and exit")
    p.add_argument("--config", metavar="FILE.toml", help="TOML file of config keys (a [model] table for the model)")
    p.add_argument("--data", metavar="SHARDS_DIR", help="directory made by `pocketgpt data tokenize`")
    p.add_argument("--tokenizer", metavar="DIR", help="the tokenizer that made the shards (default SHARDS_DIR/tokenizer)")
    p.add_argument("--out", metavar="RUN_DIR", help="run directory: metrics.jsonl and checkpoints/")
    p.add_argument("--resume", action="store_true", help="continue from the newest valid checkpoint in RUN_DIR")
    p.add_argument("--init-from", metavar="CHECKPOINT", help="start from these weights (run dir or checkpoint dir)")
    p.add_argument("--max-steps", type=int, help="optimizer-step budget")
    p.add_argument("--max-tokens", type=int, help="training-token budget")
    p.add_argument("--max-minutes", type=float, help="wall-time budget (the LR schedule follows it)")
    p.add_argument("--dtype", choices=("auto", "float32", "bfloat16"), help="autocast dtype; auto measures (bf16 only where it is faster)")
    p.add_argument("--compile", action="store_true", default=None, help="use torch.compile")
    p.add_argument("--fsdp", action="store_true", default=None, help="shard with FSDP2 instead of DDP")
    p.add_argument("--device", help="auto, cpu, cuda, cuda:N or mps (auto: cuda, then mps, then cpu)")
    p.add_argument("--wandb", action="store_true", default=None, help="also log to Weights & Biases (if installed)")
    p.add_argument("--no-progress", action="store_true", help="no tqdm bar")


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "pretrain", help="pretrain a GPT on token shards",
        description="Pretrain a GPT on token shards. KEY=VALUE arguments override config keys "
                    "(training keys such as lr=1e-3, or model keys such as n_layer=6 / model.n_embd=256).",
    )
    _add_options(p)
    # REMAINDER lets KEY=VALUE overrides and options mix in any order; run() separates them.
    p.add_argument("overrides", nargs=argparse.REMAINDER, metavar="KEY=VALUE", help="config overrides")
    p.set_defaults(func=run)


def _split_overrides(args) -> None:
    """Move options that came after the first KEY=VALUE back into ``args``."""
    items = list(args.overrides or [])
    overrides = [t for t in items if "=" in t and not t.startswith("-")]
    options = [t for t in items if not ("=" in t and not t.startswith("-"))]
    if options:
        q = argparse.ArgumentParser(prog="pocketgpt pretrain", add_help=False)
        _add_options(q)
        q.set_defaults(**{k: v for k, v in vars(args).items()})
        ns, unknown = q.parse_known_args(options)
        if unknown:
            from pocketgpt.errors import UserError

            raise UserError(f"unrecognized argument(s) {' '.join(unknown)}; overrides are KEY=VALUE "
                            "(e.g. lr=1e-3), options are listed by `pocketgpt pretrain --help`")
        vars(args).update(vars(ns))
    args.overrides = overrides


def _list_presets() -> int:
    from pocketgpt.train.config import PRESETS

    for name, p in PRESETS.items():
        m = p.get("model", {})
        print(f"{name:10s} arch={m.get('arch')} n_layer={m.get('n_layer')} n_embd={m.get('n_embd')} "
              f"n_head={m.get('n_head')} block_size={m.get('block_size')} batch_size={p.get('batch_size')} "
              f"lr={p.get('lr')} optimizer={p.get('optimizer', 'adamw')}")
    return 0


def run(args) -> int:
    from pocketgpt.errors import UserError

    _split_overrides(args)
    if args.list_presets:
        return _list_presets()
    if not args.data:
        raise UserError("--data: required; the directory made by `pocketgpt data tokenize`")
    if not args.out:
        raise UserError("--out: required; the run directory for metrics and checkpoints")
    from pocketgpt.train.config import build_config
    from pocketgpt.train.pretrain import run_pretraining

    flags = {"max_steps": args.max_steps, "max_tokens": args.max_tokens, "max_minutes": args.max_minutes,
             "dtype": args.dtype, "compile": args.compile, "fsdp": args.fsdp, "device": args.device,
             "wandb": args.wandb}
    cfg = build_config(args.preset, args.config, args.overrides, flags)
    result = run_pretraining(cfg, args.data, args.out, tokenizer_dir=args.tokenizer, resume=args.resume,
                             init_from=args.init_from, progress=not args.no_progress and sys.stderr.isatty())
    ev = result.last_eval or {}
    val = f", val loss {ev['val_loss']:.4f}, val bpb {ev['val_bpb']:.4f}" if "val_bpb" in ev else ""
    return report_result(result, val, "checkpoint")


def report_result(result, val_text: str, checkpoint_label: str) -> int:
    """Print a finished run's one-line summary (rank 0 only) and return the exit code."""
    if os.environ.get("RANK", "0") == "0":  # under torchrun, rank 0 reports
        msg = f"{result.status} at step {result.step} ({result.tokens:,} tokens)"
        if result.loss is not None:
            msg += f", loss {result.loss:.4f}"
        msg += val_text
        if result.checkpoint is not None:
            msg += f"; {checkpoint_label} {result.checkpoint}"
        print(msg)
    return 130 if result.status == "interrupted" else 0
