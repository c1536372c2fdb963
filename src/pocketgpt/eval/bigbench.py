"""BIG-bench JSON tasks (``task.json``) without the BIG-bench package.

A task file holds ``examples``; each has an ``input`` and either ``target_scores``
(multiple choice: ``{choice: score}``, the best choice scores highest) or ``target``
(generative: a string or a list of acceptable strings). The prompt is built from the
task's own formatting keys, with BIG-bench's defaults::

    task_prefix + [shot + few_shot_example_separator]* + example_input_prefix + input
        [+ choice_prefix + choice, for each choice when append_choices_to_input]
        + example_output_prefix

- multiple choice: each choice is scored by the log-likelihood of the choice text after
  the prompt (trailing spaces of the prompt move to the front of the choice, since BPE
  tokens carry their leading space); the example's score is the ``target_scores`` value of the model's pick
  (``multiple_choice_grade``, 1.0 when the pick is a best choice).
- generative: greedy until ``stop_string`` (else a newline), cut by ``output_regex``
  when the task gives one, stripped and compared with each target (``exact_str_match``).
- few-shot: ``shots`` examples drawn (seeded) from the other examples of the task, shown
  with their answer (the highest-scoring choice, or the first target).

>>> task = {"examples": [{"input": "1+1=", "target_scores": {"2": 1, "3": 0}}]}
>>> build_prompt(task, task["examples"][0], [])
'\\nQ: 1+1=\\n  choice: 2\\n  choice: 3\\nA: '
"""

from __future__ import annotations

import random
import re
from pathlib import Path

from pocketgpt.errors import UserError
from pocketgpt.fsio import read_json
from pocketgpt.eval.lm import greedy, loglikelihood

DEFAULTS = {"task_prefix": "", "example_input_prefix": "\nQ: ", "example_output_prefix": "\nA: ",
            "choice_prefix": "\n  choice: ", "append_choices_to_input": True, "few_shot_example_separator": "\n"}


def load_task(path: str | Path) -> dict:
    """Read and check a ``task.json``; errors name the file and the example."""
    path = Path(path)
    task = read_json(path, missing=f"bigbench:{path}: no such file; expected a BIG-bench task.json")
    examples = task.get("examples") if isinstance(task, dict) else None
    if not isinstance(examples, list) or not examples:
        raise UserError(f"{path}: no 'examples' list; a BIG-bench JSON task needs examples")
    for i, ex in enumerate(examples):
        if not isinstance(ex, dict) or not isinstance(ex.get("input"), str):
            raise UserError(f"{path}: examples[{i}]: needs a string 'input'")
        ts, tg = ex.get("target_scores"), ex.get("target")
        if ts is None and tg is None:
            raise UserError(f"{path}: examples[{i}]: needs 'target_scores' (multiple choice) or 'target' (generative)")
        if ts is not None and (not isinstance(ts, dict) or not ts or
                               not all(isinstance(v, (int, float)) for v in ts.values())):
            raise UserError(f"{path}: examples[{i}]: 'target_scores' must map each choice to a number")
        if tg is not None and not (isinstance(tg, str) or (isinstance(tg, list) and tg
                                                             and all(isinstance(t, str) for t in tg))):
            raise UserError(f"{path}: examples[{i}]: 'target' must be a string or a list of strings")
    task.setdefault("name", path.parent.name if path.name == "task.json" else path.stem)
    return task


def _opt(task: dict, key: str):
    return task.get(key, DEFAULTS[key])


def _answer(ex: dict) -> str:
    if ex.get("target_scores"):
        return max(ex["target_scores"].items(), key=lambda kv: kv[1])[0]
    t = ex["target"]
    return t if isinstance(t, str) else t[0]


def build_prompt(task: dict, ex: dict, shots: list[dict]) -> str:
    """The text the model sees before its answer (see the module docstring)."""
    def body(e):
        s = _opt(task, "example_input_prefix") + e["input"]
        if e.get("target_scores") and _opt(task, "append_choices_to_input"):
            s += "".join(_opt(task, "choice_prefix") + c for c in e["target_scores"])
        return s + _opt(task, "example_output_prefix")

    sep = _opt(task, "few_shot_example_separator")
    parts = [body(s) + _answer(s) + sep for s in shots]
    return _opt(task, "task_prefix") + "".join(parts) + body(ex)


def evaluate_bigbench(model, tokenizer, path: str | Path, *, shots: int = 0, seed: int = 0,
                      max_new_tokens: int = 32, limit: int | None = None) -> dict:
    """Score a task file; returns the metrics and every example's outcome."""
    task = load_task(path)
    examples = task["examples"][:limit] if limit else task["examples"]
    rng = random.Random(seed)
    eot = tokenizer.eot_id
    mc_rows, gen_rows = [], []
    mc_pairs, mc_index, gen_prompts, gen_index = [], [], [], []
    for i, ex in enumerate(examples):
        others = [e for j, e in enumerate(task["examples"]) if j != i]
        few = rng.sample(others, min(shots, len(others)))
        prompt = build_prompt(task, ex, few)
        # BPE words carry their leading space ("Answer:" + " Paris"), so trailing spaces of the
        # prompt move to the answer before encoding, as lm-eval does
        body = prompt.rstrip(" ")
        space = prompt[len(body):]
        ctx = [eot] + tokenizer.encode(body)
        if ex.get("target_scores"):
            for choice in ex["target_scores"]:
                mc_pairs.append((ctx, tokenizer.encode(space + choice)))
                mc_index.append((i, choice))
        else:
            gen_prompts.append(ctx)
            gen_index.append(i)
    scored: dict[int, dict] = {}
    for (i, choice), (lp, _) in zip(mc_index, loglikelihood(model, mc_pairs)):
        scored.setdefault(i, {})[choice] = lp
    for i, lls in scored.items():
        ts = examples[i]["target_scores"]
        pick = max(lls, key=lls.get)
        mc_rows.append({"index": i, "pick": pick, "score": ts[pick] / max(ts.values()) if max(ts.values()) else 0.0,
                        "correct": ts[pick] == max(ts.values())})
    stop = task.get("stop_string")
    regex = task.get("output_regex")
    for i, (ids, _) in zip(gen_index, greedy(model, gen_prompts, max_new_tokens, [eot])):
        text = tokenizer.decode(ids)
        text = text.split(stop)[0] if stop else text.split("\n")[0]
        if regex:
            m = re.search(regex, text)
            text = m.group(0) if m else ""
        targets = examples[i]["target"]
        targets = [targets] if isinstance(targets, str) else targets
        gen_rows.append({"index": i, "output": text.strip(),
                         "correct": text.strip() in [t.strip() for t in targets]})
    metrics = {}
    if mc_rows:
        metrics["multiple_choice_grade"] = sum(r["score"] for r in mc_rows) / len(mc_rows)
    if gen_rows:
        metrics["exact_str_match"] = sum(r["correct"] for r in gen_rows) / len(gen_rows)
    return {"task": task["name"], "path": str(path), "shots": shots, "examples": len(examples), **metrics,
            "results": sorted(mc_rows + gen_rows, key=lambda r: r["index"])}
