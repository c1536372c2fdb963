"""Helpers shared by the interop tests (imported by name; conftest puts this folder on sys.path).

Everything is built offline: our models from random configs (weights perturbed so norm
gains and biases matter), Hugging Face ones with ``save_pretrained`` into tmp dirs.
"""

from __future__ import annotations

import json

import torch

TEXTS = [
    "What is the capital of France? The capital of France is Paris. Hello! How are you? I am fine, thanks.",
    "Numbers 12345 and 3.14159; symbols <b>tags</b> | pipes | 'quotes' it's we're they'll.\n\nNew  lines\ttabs",
    "Unicode: café, naïve, Zürich, 東京, Привет мир, emoji 🙂 done.",
]

# arch name used in test ids -> GPTConfig keywords
FAMILIES = {
    "gpt2": dict(arch="gpt2"),
    "qwen3": dict(arch="modern", n_kv_head=2, head_dim=16, rope_theta=5000.0),
    "llama": dict(arch="modern", qk_norm=False, tie_embeddings=False),
}


def perturb(model: torch.nn.Module, scale: float = 0.1, seed: int = 1) -> None:
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn(p.shape, generator=g) * scale)


def make_run(root, family: str, tok, *, vocab_size: int = 384, step: int = 7, assistant: bool = True,
             block_size: int = 64):
    """A checkpoint of a perturbed random model of ``family``; returns (run_dir, model)."""
    from pocketgpt.model import GPT, GPTConfig
    from pocketgpt.train.checkpoint import save_checkpoint

    torch.manual_seed(0)
    cfg = GPTConfig(vocab_size=vocab_size, block_size=block_size, n_layer=2, n_head=4, n_embd=48,
                    **FAMILIES[family])
    model = GPT(cfg)
    perturb(model)
    model.eval()
    config = {"model": cfg.to_dict(), "train": {"lr": 1e-3}}
    if assistant:
        from pocketgpt.chat.format import format_info

        config.update(assistant=True, chat_format=format_info())
    run = root / f"run_{family}"
    save_checkpoint(run, step, model_state=model.state_dict(), optimizer_state=None,
                    trainer_state={"step": step, "tokens": 12345}, config=config, tokenizer=tok)
    return run, model


def write_gpt2_files(tok, d) -> None:
    """GPT-2's vocab.json + merges.txt for ``tok`` (specials listed in the vocab, as GPT-2 does)."""
    from pocketgpt.tokenizer.hf import token_to_str

    vocab = {token_to_str(t): i for t, i in sorted(tok.ranks.items(), key=lambda kv: kv[1])}
    vocab.update(tok.special_tokens)
    (d / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False), encoding="utf-8")
    lines = ["#version: 0.2"] + [f"{token_to_str(a)} {token_to_str(b)}" for a, b in tok.merges]
    (d / "merges.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")


def greedy(model, ids: list[int], max_new: int, stop: list[int]) -> list[int]:
    """A minimal greedy loop (full recompute each step): prompt + new tokens, a stop id included."""
    out = list(ids)
    with torch.no_grad():
        for _ in range(max_new):
            logits, _ = model(torch.tensor([out]))
            nxt = int(logits[0, -1].argmax())
            out.append(nxt)
            if nxt in stop:
                break
    return out
