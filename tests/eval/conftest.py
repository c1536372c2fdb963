"""A tiny tokenizer and a tiny GPT that memorised a few capitals, in quiz and chat form.

Trained once per session in a few seconds, saved as a real checkpoint (with its
tokenizer), so tasks run through ``load_checkpoint`` like on a real run.
"""

from __future__ import annotations

import json
import random
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from eval_testlib import CAPITALS, QUESTIONS, TRAIN_COUNTRIES, chat, quiz_text  # noqa: E402

STEPS = 300


@pytest.fixture(scope="session")
def tiny(tmp_path_factory):
    """``(run_dir, model, tokenizer)``: an assistant checkpoint that knows the training capitals."""
    import torch

    from pocketgpt.chat.format import render
    from pocketgpt.tokenizer import train

    rng = random.Random(0)
    texts = [quiz_text(rng) for _ in range(20)] + [c["content"] for n in TRAIN_COUNTRIES for q in QUESTIONS
                                                    for c in chat(n, q)]
    tok = train(texts + ["Question: Wakanda Birnin Zana"], 420, progress=False)
    seqs = []
    for i in range(200):
        if i % 4 == 0:
            seqs.append([tok.eot_id] + tok.encode(quiz_text(rng)))
        else:
            n = rng.choice(TRAIN_COUNTRIES)
            seqs.append(render(chat(n, rng.choice(QUESTIONS)), tok)[0])
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a tiny model: one thread is as fast, and far faster on a shared machine
    try:
        return _train_and_save(tok, seqs, tmp_path_factory)
    finally:
        torch.set_num_threads(threads)


def _train_and_save(tok, seqs, tmp_path_factory):
    import torch

    from pocketgpt.model import GPT, GPTConfig
    from pocketgpt.train.checkpoint import save_checkpoint

    stream = [t for s in seqs for t in s]
    torch.manual_seed(0)
    cfg = GPTConfig(vocab_size=448, block_size=96, n_layer=2, n_head=4, n_embd=64)
    model = GPT(cfg)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
    data = torch.tensor(stream)
    T, B = cfg.block_size, 8
    for step in range(STEPS):
        starts = torch.randint(0, len(data) - T - 1, (B,))
        x = torch.stack([data[s:s + T] for s in starts])
        y = torch.stack([data[s + 1:s + T + 1] for s in starts])
        _, loss = model(x, y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    run = tmp_path_factory.mktemp("run") / "sft"
    save_checkpoint(run, 1, model_state=model.state_dict(), optimizer_state=None,
                    trainer_state={"step": 1, "tokens": STEPS * B * T, "final_loss": loss.item()},
                    config={"model": cfg.to_dict(), "train": {}, "assistant": True}, tokenizer=tok)
    countries = run.parent / "countries.json"
    countries.write_text(json.dumps(CAPITALS))
    return run, model, tok
