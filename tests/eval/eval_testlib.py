"""Constants and text builders shared by the eval tests."""

from __future__ import annotations

import json
import random
from pathlib import Path

CAPITALS = {"France": "Paris", "Spain": "Madrid", "Japan": "Tokyo", "Kenya": "Nairobi", "Peru": "Lima",
            "Chile": "Santiago", "Egypt": "Cairo", "Norway": "Oslo", "Wakanda": "Birnin Zana"}
TRAIN_COUNTRIES = ("France", "Spain", "Japan", "Kenya", "Peru", "Chile", "Egypt", "Norway")
HELD_OUT = ("Wakanda",)  # never in the training text: the model cannot know it
QUESTIONS = ("What is the capital of {c}?", "Which city is the capital of {c}?", "What is the capital city of {c}?")


def quiz_text(rng: random.Random) -> str:
    names = list(TRAIN_COUNTRIES)
    rng.shuffle(names)
    return "".join(f"Question: What is the capital of {n}?\nAnswer: {CAPITALS[n]}\n" for n in names)


def chat(n: str, q: str) -> list[dict]:
    return [{"role": "user", "content": q.format(c=n)},
            {"role": "assistant", "content": f"{CAPITALS[n]} is the capital of {n}."}]



MC_ROWS = [("France", "Paris", "Oslo"), ("Japan", "Tokyo", "Cairo"), ("Peru", "Lima", "Madrid"),
           ("Norway", "Oslo", "Nairobi"), ("Wakanda", "Birnin Zana", "Tokyo")]


def write_tasks(root: Path) -> Path:
    """lm-eval task YAMLs over local JSON Lines files (``dataset_path: json``: no network).

    - ``pocketgpt_caps_mc``: multiple choice, "Question: ...\nAnswer:" + " <capital>";
    - ``pocketgpt_caps_ppl``: loglikelihood_rolling over one sentence per country;
    - ``pocketgpt_caps_chat``: generate_until, the question as a chat message (for
      chat-completions clients), exact match against the tiny model's own reply form.
    """
    root.mkdir(parents=True, exist_ok=True)
    data = root / "caps.jsonl"
    data.write_text("".join(json.dumps({"question": f"What is the capital of {c}?", "choices": [a, b], "label": 0,
                                        "text": f"The capital of {c} is {a}.", "country": c,
                                        "reply": f"{a} is the capital of {c}."}) + "\n" for c, a, b in MC_ROWS))
    common = f"dataset_path: json\ndataset_kwargs:\n  data_files:\n    test: {data}\ntest_split: test\n"
    (root / "mc.yaml").write_text(
        "task: pocketgpt_caps_mc\n" + common + "output_type: multiple_choice\n"
        "doc_to_text: \"Question: {{question}}\\nAnswer:\"\ndoc_to_choice: \"{{choices}}\"\ndoc_to_target: label\n"
        "metric_list:\n  - metric: acc\n")
    (root / "rolling.yaml").write_text(
        "task: pocketgpt_caps_ppl\n" + common + "output_type: loglikelihood_rolling\n"
        "doc_to_text: \"\"\ndoc_to_target: \"{{text}}\"\nmetric_list:\n  - metric: word_perplexity\n")
    (root / "chat.yaml").write_text(
        "task: pocketgpt_caps_chat\n" + common + "output_type: generate_until\n"
        "doc_to_text: \"{{question}}\"\ndoc_to_target: \"{{reply}}\"\n"
        "generation_kwargs:\n  until: [\"\\n\"]\n  max_gen_toks: 16\n  do_sample: false\n"
        "metric_list:\n  - metric: exact_match\n")
    return root
