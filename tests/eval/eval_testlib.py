"""Constants and text builders shared by the eval tests."""

from __future__ import annotations

import random

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

