"""The report card: ``pocketgpt report RUN_DIR [--base BASE_RUN]`` -> ``report.md`` + PNG plots.

Sections: environment (machine, device, torch, git commit, date, wall time and FLOPs per
stage), tokenizer, model, training curves, an eval table of base vs assistant, and the
classic slide: the same prompts to the base model and to the assistant, side by side.

``RUN_DIR`` is an SFT run (its base is found through its config unless ``--base`` is
given) or a speedrun directory (``speedrun.json`` names both runs). Eval results are read
from ``eval.json`` in each run directory and computed (and saved) when missing.
"""

from __future__ import annotations

import datetime
import json
import platform
import subprocess
import time
from pathlib import Path

from pocketgpt.errors import UserError
from pocketgpt.fsio import atomic_write_text

EXAMPLE_SENTENCE = "The capital of France is Paris."
SAMPLE_PROMPTS = ("What is the capital of France?", "What is the capital of {held_out}?",
                  "Which language do people speak in {held_out}?", "In which part of the world is {held_out}?",
                  "What is the currency of {held_out}?", "Which countries border {held_out}?",
                  "What do you call people from {held_out}?",
                  "What is the chemical symbol of {element}?", "Is {element} a solid, a liquid or a gas at room "
                  "temperature?", "Who wrote Hamlet?", "What is 2 plus 2?", "Tell me about the sea.")
SAMPLE_TOKENS = 40


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def git_commit() -> str:
    try:
        here = Path(__file__).resolve().parent
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=here, capture_output=True, text=True, timeout=10)
        return out.stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def environment() -> dict:
    import os

    import torch

    dev = "cuda: " + torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu"
    return {"machine": f"{_cpu_name()}, {os.cpu_count()} cores, {platform.system()} {platform.machine()}",
            "device": dev, "torch": torch.__version__, "python": platform.python_version(),
            "git_commit": git_commit(), "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")}


def _run_dir_of(ckpt_path: Path) -> Path:
    """``RUN/checkpoints/step_X`` -> ``RUN``."""
    return ckpt_path.parent.parent if ckpt_path.parent.name == "checkpoints" else ckpt_path


def resolve_runs(run_dir: Path, base: Path | None) -> tuple[Path, Path | None, dict | None]:
    """(assistant run, base run or None, speedrun record or None)."""
    from pocketgpt.train.checkpoint import resolve_checkpoint

    record = None
    if (run_dir / "speedrun.json").is_file():
        record = json.loads((run_dir / "speedrun.json").read_text())
        sft, base = run_dir / record["runs"]["sft"], base or run_dir / record["runs"]["base"]
        return sft, base, record
    if base is None:
        cfg = json.loads((resolve_checkpoint(run_dir) / "config.json").read_text())
        b = ((cfg.get("sft") or {}).get("base") or {}).get("path")
        base = _run_dir_of(Path(b)) if b and Path(b).exists() else None
    return run_dir, base, record


def load_or_eval(run: Path, tasks: str, countries=None) -> dict:
    """``RUN/eval.json`` if it exists, else run the tasks and save them there."""
    path = run / "eval.json"
    if path.is_file():
        return json.loads(path.read_text())
    from pocketgpt.eval import evaluate

    res = evaluate(run, tasks, countries=countries)
    atomic_write_text(path, json.dumps(res, indent=1))
    return res


def side_by_side(base_run: Path | None, sft_run: Path, prompts: list[str]) -> list[dict]:
    """The same prompts to the base model (as raw text) and to the assistant (chat format), greedy."""
    from pocketgpt.chat.format import render_for_completion, stop_ids
    from pocketgpt.eval.lm import greedy
    from pocketgpt.train.checkpoint import load_checkpoint

    rows = [{"prompt": p} for p in prompts]
    for key, run in (("base", base_run), ("assistant", sft_run)):
        if run is None:
            continue
        model, tok, _ = load_checkpoint(run)
        if key == "base":
            ids = [[tok.eot_id] + tok.encode(p) for p in prompts]
        else:
            ids = [render_for_completion([{"role": "user", "content": p}], tok) for p in prompts]
        for row, (out, stopped) in zip(rows, greedy(model, ids, SAMPLE_TOKENS, stop_ids(tok))):
            row[key] = tok.decode(out) + ("" if stopped else " …")
    return rows


def _model_facts(run: Path) -> dict:
    from pocketgpt.train.checkpoint import load_checkpoint

    model, tok, info = load_checkpoint(run)
    cfg = info["config"]
    tokens = int(info["trainer_state"].get("tokens") or 0)
    fpt = model.flops_per_token(cfg.block_size)
    return {"arch": cfg.arch, "n_layer": cfg.n_layer, "n_head": cfg.n_head, "n_embd": cfg.n_embd,
            "block_size": cfg.block_size, "vocab_size": cfg.vocab_size, "params": model.num_params(),
            "tokens": tokens, "steps": info["step"], "flops": fpt * tokens, "dtype": info["train_config"].get("dtype"),
            "tokenizer": tok, "elapsed_s": info["trainer_state"].get("elapsed_s")}


def _fmt(x, digits=3) -> str:
    if x is None:
        return "n/a"
    if isinstance(x, float):
        return f"{x:.{digits}f}"
    return str(x)


def _pct(x) -> str:
    return "n/a" if x is None else f"{100 * x:.1f}%"


def _escape(s: str) -> str:
    s = s.replace("|", "\\|").replace("\n", "⏎").replace("<", "&lt;")
    return s if s.strip() else f"(blank: {len(s)} spaces)" if s else "(nothing)"


def eval_rows(base_eval: dict | None, sft_eval: dict) -> list[tuple[str, str, str]]:
    """(metric, base, assistant) rows of the eval table."""
    def get(ev, *keys):
        cur = ev
        for k in keys:
            if not isinstance(cur, dict) or k not in cur:
                return None
            cur = cur[k]
        return cur

    rows = []
    order = get(sft_eval["tasks"], "ngram", "general", "order") or get((base_eval or {}).get("tasks"), "ngram",
                                                                        "general", "order")
    kn = f"Kneser-Ney {order or 'n'}-gram bpb, fitted on the tokens the model saw, same text"
    kn_split = f"Kneser-Ney {order or 'n'}-gram bpb, fitted on the whole train split (up to 20M tokens)"
    for label, keys, fmt in (
        ("val bpb (held-out shards)", ("bpb", "val_bpb"), _fmt),
        ("bpb, held-out general text", ("compression", "general", "model_bpb"), _fmt),
        ("xz bpb, same text", ("compression", "general", "xz_bpb"), _fmt),
        (kn, ("ngram", "general", "bpb"), _fmt),
        (kn_split, ("ngram", "general", "split_bpb"), _fmt),
        ("bpb, held-out encyclopedia text", ("compression", "countries", "model_bpb"), _fmt),
        ("xz bpb, same text", ("compression", "countries", "xz_bpb"), _fmt),
        (kn, ("ngram", "countries", "bpb"), _fmt),
        (kn_split, ("ngram", "countries", "split_bpb"), _fmt),
        ("capitals, held-out countries", ("capitals", "held_out", "accuracy"), _pct),
        ("capitals, held-out, capital not in the name", ("capitals", "held_out", "without_name_contained", "accuracy"), _pct),
        ("capitals, training countries", ("capitals", "training", "accuracy"), _pct),
        ("answers a bare question in assistant format", ("capitals", "format", "rate"), _pct),
        ("out-of-scope questions declined", ("facts", "out_of_scope", "declined_rate"), _pct),
    ):
        b = fmt(get(base_eval["tasks"], *keys)) if base_eval else "n/a"
        a = fmt(get(sft_eval["tasks"], *keys))
        if b != "n/a" or a != "n/a":
            rows.append((label, b, a))
    return rows


FACT_TABLES = {  # task: (title, entity, entities)
    "facts": ("Facts beyond capitals", "country", "countries"),
    "elements": ("Chemical elements", "element", "elements"),
}


def fact_table(base_eval: dict | None, sft_eval: dict, task: str = "facts") -> list[str]:
    """Markdown lines: accuracy per fact type of ``task`` (:data:`FACT_TABLES`), held-out and
    training entities, base vs assistant."""
    def by_fact(ev):
        return ((ev or {}).get("tasks", {}).get(task) or {}).get("by_fact") or {}

    base, sft = by_fact(base_eval), by_fact(sft_eval)
    if not sft and not base:
        return []
    title, entity, entities = FACT_TABLES[task]
    L = ["", f"### {title}", "",
         f"Greedy, one question per {entity} and fact type; the reply must name the fact and not also the answers "
         f"of two other fact types. Held-out {entities} never appear in SFT data.", "",
         "| fact type | base, held-out | assistant, held-out | base, training | assistant, training |",
         "|---|---|---|---|---|"]
    for fact in sft or base:
        cells = [_pct(((d.get(fact) or {}).get(split) or {}).get("accuracy"))
                 for split in ("held_out", "training") for d in (base, sft)]
        L.append(f"| {fact} | " + " | ".join(cells) + " |")
    return L


def write_report(run_dir: str | Path, base: str | Path | None = None, out_dir: str | Path | None = None,
                 tasks: str = "bpb,compression,ngram,capitals", countries=None) -> Path:
    """Write ``report.md`` and ``plots/*.png``; return the report's path."""
    from pocketgpt.report.plots import plot_run

    run_dir = Path(run_dir)
    if not run_dir.exists():
        raise UserError(f"{run_dir}: no such run directory")
    sft, base_run, record = resolve_runs(run_dir, Path(base) if base else None)
    out = Path(out_dir) if out_dir else run_dir
    countries = countries or (record or {}).get("countries_file")
    if countries and not Path(countries).is_absolute():
        countries = run_dir / countries
    sft_eval = load_or_eval(sft, tasks, countries)
    base_eval = load_or_eval(base_run, tasks, countries) if base_run else None
    facts = _model_facts(sft)
    base_facts = _model_facts(base_run) if base_run else None
    tok = facts.pop("tokenizer")
    if base_facts:
        base_facts.pop("tokenizer")
    plots = {}
    for name, run in (("pretraining", base_run), ("sft", sft)):
        if run is not None and plot_run(run, out / "plots" / f"{name}.png", f"{name}: {run.name}"):
            plots[name] = f"plots/{name}.png"
    held = None
    cap = (sft_eval["tasks"].get("capitals") or {})
    for r in cap.get("replies", []):
        if r["held_out"] and not r["name_contains_capital"]:
            held = r["country"]
            break
    element = next((r["element"] for r in (sft_eval["tasks"].get("elements") or {}).get("replies", [])
                    if r["held_out"]), "Tungsten")  # Tungsten: a held-out element of mendeleev 1.3.0
    prompts = [p.format(held_out=held or "Mongolia", element=element) for p in SAMPLE_PROMPTS]
    samples = side_by_side(base_run, sft, prompts)

    env = environment()
    L = ["# pocketgpt report card", "",
         f"Run: `{run_dir}`. Assistant: `{sft}`. Base: `{base_run or 'n/a'}`.", "", "## Environment", "",
         "| | |", "|---|---|"]
    L += [f"| {k.replace('_', ' ')} | {v} |" for k, v in env.items()]
    if record:
        ch = record.get("choices") or {}
        m = ch.get("model") or {}
        L += [f"| speedrun preset | {record.get('preset')} |",
              f"| chosen by measurement | {m.get('n_layer')} layers x {m.get('n_embd')}, {ch.get('dtype')}, "
              f"{ch.get('threads')} thread(s), {ch.get('tokens_per_s')} tokens/s measured, "
              f"{ch.get('pretrain_minutes')} min of pretraining |",
              f"| measurements | {_escape(json.dumps(ch.get('measured')))} |"]
    L += ["", "### Stages", "", "| stage | status | wall time | compute |", "|---|---|---|---|"]
    stage_flops = {"pretrain": base_facts["flops"] if base_facts else None, "sft": facts["flops"]}
    if record:
        stages = dict(record.get("stages", {}))
        for name, st in stages.items():
            if st.get("status") == "running" and "started_unix" in st:  # the report stage, writing this card
                st = stages[name] = {"status": "done", "seconds": time.time() - st["started_unix"]}
            fl = stage_flops.get(name)
            L.append(f"| {name} | {st.get('status')} | {st.get('seconds', 0):.1f} s | "
                     f"{f'{fl:.3g} FLOPs' if fl else '-'} |")
        total = sum(st.get("seconds", 0) for st in stages.values())
        L.append(f"| **total** | | **{total / 60:.1f} min** | |")
    else:
        for name, f in (("pretrain", base_facts), ("sft", facts)):
            if f:
                L.append(f"| {name} | done | {_fmt(f['elapsed_s'], 1)} s | {f['flops']:.3g} FLOPs |")
    L += ["", "## Tokenizer", ""]
    ids = tok.encode(EXAMPLE_SENTENCE)
    bpt = None
    comp = sft_eval["tasks"].get("compression") or {}
    if comp:
        g = comp.get("general") or next(iter(comp.values()))
        bpt = g["bytes"] / max(g["tokens"], 1)
    L += [f"- vocabulary: {tok.vocab_size} ids ({len(tok.special_tokens)} special)",
          f"- bytes per token on held-out general text: {_fmt(bpt, 2)}",
          f"- `{EXAMPLE_SENTENCE}` -> {len(ids)} tokens: " + " ".join(f"`{tok.decode([i])}`" for i in ids),
          "", "## Model", ""]
    L += [f"- {facts['arch']} GPT, {facts['n_layer']} layers x {facts['n_embd']} wide, {facts['n_head']} heads, "
          f"context {facts['block_size']}, vocab {facts['vocab_size']}: **{facts['params'] / 1e6:.2f}M parameters**"]
    if base_facts:
        L.append(f"- pretraining: {base_facts['tokens']:,} tokens in {base_facts['steps']} steps "
                 f"({base_facts['flops']:.3g} FLOPs), dtype {base_facts['dtype']}")
    L.append(f"- SFT: {facts['tokens']:,} tokens in {facts['steps']} steps ({facts['flops']:.3g} FLOPs)"
             + (f", {facts['flops'] / base_facts['flops']:.1%} of pretraining compute" if base_facts and base_facts["flops"] else ""))
    L += ["", "## Training curves", ""]
    L += [f"![{k}]({v})" for k, v in plots.items()] or ["(no metrics.jsonl found)"]
    L += ["", "## Eval: base vs assistant", "",
          "Capitals are judged by greedy decoding: the reply must contain the capital. The base model is asked "
          "by 5-shot quiz prompting; the assistant in the chat format. Held-out countries never appear in SFT data.",
          "", "| metric | base | assistant |", "|---|---|---|"]
    L += [f"| {m} | {b} | {a} |" for m, b, a in eval_rows(base_eval, sft_eval)]
    L += ["", "## The same prompts to the base model and to the assistant", "",
          "Greedy, up to 40 tokens. The base model gets the bare text; the assistant gets it as a user turn. "
          "`⏎` marks a newline, `…` a reply cut at the budget.", "",
          "| prompt | base model | assistant |", "|---|---|---|"]
    L += [f"| {_escape(r['prompt'])} | {_escape(r.get('base', 'n/a'))} | {_escape(r.get('assistant', 'n/a'))} |"
          for r in samples]
    L += fact_table(base_eval, sft_eval) + fact_table(base_eval, sft_eval, "elements")
    if cap:
        h = cap["held_out"]
        wrong = [r for r in cap.get("replies", []) if r["held_out"] and not r["correct"]][:5]
        right = [r for r in cap.get("replies", []) if r["held_out"] and r["correct"]][:5]
        L += ["", "### Held-out capitals (never in SFT)", "",
              f"{_pct(h['accuracy'])} of {h['n']} questions right ({_pct(h['without_name_contained']['accuracy'])} "
              "without countries whose name contains the capital).", ""]
        L += [f"- right: {_escape(r['question'])} -> {_escape(r['reply'])}" for r in right]
        L += [f"- wrong: {_escape(r['question'])} -> {_escape(r['reply'])} (expected {r['capital']})" for r in wrong]
    path = out / "report.md"
    atomic_write_text(path, "\n".join(L) + "\n")
    return path
