"""Evaluation: ``pocketgpt eval --checkpoint RUN_DIR --tasks bpb,compression,ngram,capitals``.

Tasks (see each module):

- ``bpb``: bits per byte on the held-out (val) token shards the run was trained with;
- ``compression``: the model's bpb on held-out *text* next to gzip, bz2 and xz;
- ``ngram``: a Kneser-Ney n-gram model fitted on the tokens the model saw in pretraining
  (and one on the whole train split beside it), in bpb on the same held-out text (:mod:`.ngram`);
- ``capitals``: held-out vs training country capitals, assistant (chat) or base (5-shot),
  plus the answer-format rate (:mod:`.capitals`);
- ``facts``: the same for language, region, currency and neighbours, plus how often
  out-of-scope questions are declined (:mod:`.facts`);
- ``elements``: the same for the chemical elements' facts (symbol, atomic number, category,
  period, state, year of discovery), held-out vs training elements (:mod:`.elements`);
- ``bigbench:PATH``: a BIG-bench ``task.json`` (:mod:`.bigbench`);
- lm-eval: :mod:`.lm_eval_adapter` (the optional ``[eval]`` extra).

>>> parse_tasks("bpb,capitals,bigbench:t/task.json")
['bpb', 'capitals', 'bigbench:t/task.json']
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from pocketgpt.errors import UserError

TASKS = ("bpb", "compression", "ngram", "capitals", "facts", "elements")
DATA_ONLY_TASKS = ("ngram",)  # results that depend on the run's data and tokenizer, not on the weights
DEFAULT_TASKS = "bpb,compression,ngram,capitals"


def parse_tasks(spec: str) -> list[str]:
    tasks = [t.strip() for t in spec.split(",") if t.strip()]
    if not tasks:
        raise UserError("--tasks: empty; expected a comma-separated list such as bpb,compression,capitals")
    for t in tasks:
        if t not in TASKS and not t.startswith("bigbench:"):
            raise UserError(f"--tasks: unknown task {t!r}; expected {', '.join(TASKS)} or bigbench:PATH/task.json")
    return tasks


def run_config(ckpt_path: Path) -> dict:
    """The ``config.json`` of a checkpoint directory."""
    return json.loads((Path(ckpt_path) / "config.json").read_text())


def data_dir_of(ckpt_path: Path) -> Path | None:
    """The token-shard directory a checkpoint was pretrained on (via its SFT base, if any)."""
    cfg = run_config(ckpt_path)
    for _ in range(4):  # follow sft.base links: SFT -> base
        d = (cfg.get("data") or {}).get("dir")
        if d:
            return Path(d)
        base = ((cfg.get("sft") or {}).get("base") or {}).get("path")
        if not base or not (Path(base) / "config.json").is_file():
            return None
        cfg = run_config(Path(base))
    return None


def pretrain_loader_state(ckpt_path: Path) -> dict | None:
    """Where the pretraining loader's stream stood at a checkpoint (via its SFT base, if any),
    hence which windows the model saw; None when the checkpoint does not record it.
    All ranks walk one stream, so rank 0's state says it for all of them."""
    path = Path(ckpt_path)
    for _ in range(4):
        cfg = run_config(path)
        if (cfg.get("data") or {}).get("dir"):
            f = path / "trainer_state.json"
            data = json.loads(f.read_text()).get("data") if f.is_file() else None
            ok = isinstance(data, list) and data and isinstance(data[0], dict) and "position" in data[0]
            return data[0] if ok else None
        path = Path(((cfg.get("sft") or {}).get("base") or {}).get("path") or "")
        if not (path / "config.json").is_file():
            return None
    return None


def heldout_groups(data_dir: Path | None, texts=None, max_bytes: int = 200_000) -> dict[str, list[str]]:
    """Held-out text per group: explicit ``texts`` files, or the val sources of the shards,
    split into ``general``, ``countries`` and ``elements`` (the generated encyclopedias) when they exist."""
    from pocketgpt.data.default_corpus import ENCYCLOPEDIAS
    from pocketgpt.eval.compression import read_texts

    files = [Path(t) for t in texts or []]
    if not files and data_dir is not None and (data_dir / "index.json").is_file():
        index = json.loads((data_dir / "index.json").read_text())
        for src in (index.get("sources") or {}).get("val", []):
            files += [Path(f[0]) for f in src.get("files", []) if Path(f[0]).is_file()]
    if not files:
        raise UserError("compression: no held-out text found; pass --text FILE (.txt or .jsonl with 'text') or "
                        "evaluate a checkpoint whose shards came from files (pocketgpt data tokenize)")
    groups: dict[str, list[str]] = {}
    for f in files:
        group = f.stem if f.stem in ENCYCLOPEDIAS else ("general" if not texts else f.stem)
        groups.setdefault(group, []).extend(read_texts(f, max_bytes))
    for g, docs in groups.items():  # several general files share one byte budget, taken in turn
        out, total = [], 0
        for d in docs:
            if total >= max_bytes:
                break
            out.append(d)
            total += len(d.encode("utf-8"))
        groups[g] = out
    return groups


def eval_bpb(model, tokenizer, data_dir: Path | None, max_batches: int = 32, batch_size: int = 8) -> dict:
    """Bits per byte on the val split of the run's token shards (the training-time metric)."""
    import torch

    from pocketgpt.data import ShardLoader
    from pocketgpt.train.pretrain import make_lm_eval

    if data_dir is None or not (data_dir / "index.json").is_file():
        raise UserError(f"bpb: the run's token shards ({data_dir}) are not at hand; the task needs their val split")
    loader = ShardLoader(data_dir, "val", batch_size, model.config.block_size, sequential=True)
    n = min(loader.batches_per_epoch, max_batches)
    with torch.no_grad():
        res = make_lm_eval(loader, tokenizer.token_byte_lengths(), n)(model)
    return {"val_bpb": res["val_bpb"], "val_loss": res["val_loss"], "tokens": n * batch_size * model.config.block_size,
            "data": str(data_dir)}


def evaluate(checkpoint, tasks: list[str] | str = DEFAULT_TASKS, *, countries=None, texts=None,
             bigbench_shots: int = 0, limit: int | None = None, assistant: bool | None = None,
             ngram_order: int = 5, facts=None, elements=None, device: str = "cpu", reuse: dict | None = None) -> dict:
    """Run ``tasks`` on a checkpoint; returns ``{"checkpoint", "assistant", "tasks": {...}}``.

    ``assistant`` defaults to what the checkpoint says (SFT runs record it);
    ``ngram_order`` is the n of the ``ngram`` task's model; ``facts`` a country-records
    file for the ``facts`` task (default: the pinned countryinfo); ``elements`` an element-records
    file for the ``elements`` task (default: the pinned mendeleev); ``device`` is where the
    model runs (``auto``, ``cpu``, ``cuda[:N]``, ``mps``). ``reuse`` holds results of
    :data:`DATA_ONLY_TASKS` from another checkpoint of the same run (same shards and
    tokenizer: the base of an SFT run), taken as they are instead of computed again.
    """
    from pocketgpt.eval.ngram import DEFAULT_MAX_TRAIN_TOKENS, check_options
    from pocketgpt.train.checkpoint import load_checkpoint

    if isinstance(tasks, str):
        tasks = parse_tasks(tasks)
    if limit is not None and limit < 1:  # a negative limit used to slice off the last items silently
        raise UserError(f"--limit: must be >= 1, got {limit}")
    if "ngram" in tasks:
        check_options(ngram_order, DEFAULT_MAX_TRAIN_TOKENS)
    for t in texts or []:  # checked before the model loads; a missing one used to end in a traceback
        if not Path(t).is_file():
            raise UserError(f"--text {t}: no such file")
    model, tokenizer, info = load_checkpoint(checkpoint, map_location=device)
    if tokenizer is None:
        raise UserError(f"{checkpoint}: the checkpoint has no tokenizer/; eval needs it")
    cfg = run_config(info["path"])
    if assistant is None:
        assistant = bool(cfg.get("assistant"))
    data_dir = data_dir_of(info["path"])
    out = {"checkpoint": str(info["path"]), "step": info["step"], "assistant": assistant,
           "tokens_seen": info["trainer_state"].get("tokens"), "tasks": {}, "seconds": {}}
    for task in tasks:
        t0 = time.perf_counter()
        if task == "bpb":
            res = eval_bpb(model, tokenizer, data_dir)
        elif task == "compression":
            from pocketgpt.eval.compression import compression_report

            res = compression_report(model, tokenizer, heldout_groups(data_dir, texts))
        elif task in DATA_ONLY_TASKS and task in (reuse or {}):
            res = reuse[task]
        elif task == "ngram":
            from pocketgpt.eval.ngram import ngram_report

            res = ngram_report(tokenizer, data_dir, heldout_groups(data_dir, texts), order=ngram_order,
                               loader_state=pretrain_loader_state(info["path"]))
        elif task == "capitals":
            from pocketgpt.eval.capitals import evaluate_capitals, load_countries

            res = evaluate_capitals(model, tokenizer, load_countries(countries), assistant=assistant, limit=limit)
        elif task == "facts":
            from pocketgpt.eval.facts import evaluate_facts, load_facts

            res = evaluate_facts(model, tokenizer, load_facts(facts), assistant=assistant, limit=limit)
        elif task == "elements":
            from pocketgpt.eval.elements import evaluate_elements, load_elements

            res = evaluate_elements(model, tokenizer, load_elements(elements), assistant=assistant, limit=limit)
        else:
            from pocketgpt.eval.bigbench import evaluate_bigbench

            res = evaluate_bigbench(model, tokenizer, task.split(":", 1)[1], shots=bigbench_shots, limit=limit)
        out["tasks"][task] = res
        out["seconds"][task] = round(time.perf_counter() - t0, 2)
    return out


def summary_lines(result: dict) -> list[str]:
    """A few human lines for the terminal."""
    lines = [f"{result['checkpoint']} ({'assistant' if result['assistant'] else 'base'}, step {result['step']})"]
    for task, r in result["tasks"].items():
        if task == "bpb":
            lines.append(f"  bpb: val {r['val_bpb']:.4f} bits/byte")
        elif task == "compression":
            for g, v in r.items():
                lines.append(f"  compression[{g}]: model {v['model_bpb']:.3f} bpb; gzip {v['gzip_bpb']:.3f}, "
                             f"bz2 {v['bz2_bpb']:.3f}, xz {v['xz_bpb']:.3f} ({'beats' if v['beats_xz'] else 'loses to'} xz)")
        elif task == "ngram":
            for g, v in r.items():
                what = "the model saw" if v.get("fitted_on") == "seen" else "of the train split"
                line = (f"  ngram[{g}]: Kneser-Ney {v['order']}-gram {v['bpb']:.3f} bpb "
                        f"(fitted on the {v['train_tokens']:,} tokens {what})")
                if "split_bpb" in v:
                    line += f"; {v['split_bpb']:.3f} on {v['split_train_tokens']:,} of the train split"
                lines.append(line)
        elif task == "capitals":
            h, t = r["held_out"], r["training"]
            lines.append(f"  capitals ({r['mode']}): held-out {_pct(h['accuracy'])} of {h['n']}, "
                         f"training {_pct(t['accuracy'])} of {t['n']}; answer format {_pct(r['format']['rate'])}")
        elif task == "facts":
            for fact, v in r["by_fact"].items():
                lines.append(f"  facts[{fact}]: held-out {_pct(v['held_out']['accuracy'])} of {v['held_out']['n']}, "
                             f"training {_pct(v['training']['accuracy'])} of {v['training']['n']}")
            lines.append(f"  facts[out of scope]: declined {_pct(r['out_of_scope']['declined_rate'])} "
                         f"of {r['out_of_scope']['n']}")
        elif task == "elements":
            for fact, v in r["by_fact"].items():
                lines.append(f"  elements[{fact}]: held-out {_pct(v['held_out']['accuracy'])} of "
                             f"{v['held_out']['n']}, training {_pct(v['training']['accuracy'])} of {v['training']['n']}")
        else:
            metrics = {k: v for k, v in r.items() if k in ("multiple_choice_grade", "exact_str_match")}
            lines.append(f"  {task}: " + ", ".join(f"{k} {v:.3f}" for k, v in metrics.items()))
    return lines


def _pct(x) -> str:
    return "n/a" if x is None else f"{100 * x:.1f}%"
