"""``pocketgpt eval`` and ``pocketgpt report``: score a checkpoint, write a run's report card.

    pocketgpt eval --checkpoint runs/speedrun/sft --tasks bpb,compression,ngram,capitals --out eval.json
    pocketgpt eval --checkpoint runs/speedrun/base --tasks bigbench:my_task/task.json --shots 2
    pocketgpt report runs/speedrun/sft --base runs/speedrun/base
"""

from __future__ import annotations

import json


def register(sub) -> None:
    e = sub.add_parser("eval", help="evaluate a checkpoint (bpb, compression, ngram, capitals, facts, elements, "
                       "BIG-bench tasks)")
    e.add_argument("--checkpoint", required=True, metavar="RUN_DIR", help="run directory or checkpoint")
    e.add_argument("--tasks", default="bpb,compression,ngram,capitals",
                   help="comma-separated: bpb, compression, ngram, capitals, facts, elements, "
                   "bigbench:PATH/task.json")
    e.add_argument("--out", metavar="FILE.json", help="write every result (replies included) here")
    e.add_argument("--countries", metavar="FILE.json", help="{country: capital} (default: the pinned countryinfo)")
    e.add_argument("--facts", metavar="FILE.json", help="country records for the facts task (a speedrun's "
                   "facts.json; default: the pinned countryinfo)")
    e.add_argument("--elements", metavar="FILE.json", help="element records for the elements task (a speedrun's "
                   "elements.json; default: the pinned mendeleev)")
    e.add_argument("--text", nargs="+", metavar="FILE", help="held-out text for compression and ngram (.txt or .jsonl)")
    e.add_argument("--ngram-order", type=int, default=5, metavar="N",
                   help="order of the ngram task's Kneser-Ney model, 1-6 (default 5)")
    e.add_argument("--shots", type=int, default=0, help="few-shot examples for bigbench tasks (default 0)")
    e.add_argument("--limit", type=int, help="at most N countries (elements) per split / N BIG-bench examples")
    e.add_argument("--device", default="cpu", help="auto, cpu, cuda, cuda:N or mps (default cpu)")
    mode = e.add_mutually_exclusive_group()
    mode.add_argument("--assistant", dest="assistant", action="store_true", default=None,
                      help="treat the model as an assistant (default: what the checkpoint records)")
    mode.add_argument("--base", dest="assistant", action="store_false", help="treat the model as a base model")
    e.set_defaults(func=cmd_eval)

    r = sub.add_parser("report", help="write report.md and plots for a run (base vs assistant)")
    r.add_argument("run_dir", metavar="RUN_DIR", help="the assistant (SFT) run, or a speedrun directory")
    r.add_argument("--base", metavar="BASE_RUN", help="the base run (default: the SFT run's recorded base)")
    r.add_argument("--countries", metavar="FILE.json", help="{country: capital} for the capitals eval")
    r.set_defaults(func=cmd_report)


def cmd_eval(args) -> int:
    from pocketgpt.eval import evaluate, parse_tasks, summary_lines
    from pocketgpt.fsio import atomic_write_text

    res = evaluate(args.checkpoint, parse_tasks(args.tasks), countries=args.countries, texts=args.text,
                   bigbench_shots=args.shots, limit=args.limit, assistant=args.assistant,
                   ngram_order=args.ngram_order, facts=args.facts, elements=args.elements,
                   device=args.device)
    print("\n".join(summary_lines(res)))
    if args.out:
        atomic_write_text(args.out, json.dumps(res, indent=1))
        print(f"results: {args.out}")
    return 0


def cmd_report(args) -> int:
    from pocketgpt.report import write_report

    path = write_report(args.run_dir, base=args.base, countries=args.countries)
    print(f"report: {path}")
    return 0
