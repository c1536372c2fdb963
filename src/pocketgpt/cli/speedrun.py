"""``pocketgpt speedrun``: every stage, from nothing to a chatting assistant and its report card.

    pocketgpt speedrun --preset cpu --out runs/speedrun
    pocketgpt speedrun --preset gpu --out runs/gpu --data /data/fineweb-edu/*.parquet
"""

from __future__ import annotations


def register(sub) -> None:
    s = sub.add_parser("speedrun", help="every stage from nothing to a chatting assistant and its report card")
    s.add_argument("--preset", default="cpu", help="cpu (25 min, 2 cores), cpu-long (60 min, 2 cores, more general text), gpu (one GPU, ~1 h), test (seconds)")
    s.add_argument("--out", default="runs/speedrun", metavar="RUNS_DIR", help="where every stage writes (default runs/speedrun)")
    s.add_argument("--data", nargs="+", metavar="PATH",
                   help="extra pretraining text: files, directories or globs (e.g. FineWeb-Edu *.parquet)")
    s.add_argument("--minutes", type=float, help="total wall-time budget (default: the preset's)")
    s.add_argument("--seed", type=int, help="seed of pretraining, the SFT mix and SFT (default 0); "
                   "a second seed measures the margin of a run's figures")
    s.add_argument("--cache-dir", metavar="DIR", help="package cache for the default corpus (default ~/.cache/pocketgpt)")
    s.set_defaults(func=cmd_speedrun)


def cmd_speedrun(args) -> int:
    from pocketgpt.speedrun import closing_lines, get_preset, run_speedrun

    overrides = {"total_minutes": args.minutes, "seed": args.seed}
    if args.data:
        overrides["text_inputs"] = tuple(args.data)
    cfg = get_preset(args.preset, **overrides)
    record = run_speedrun(cfg, args.out, cache_dir=args.cache_dir)
    print(f"speedrun {cfg.name}: all stages done in {record['total_minutes']:.1f} min")
    print("\n".join(closing_lines(args.out)))
    return 0
