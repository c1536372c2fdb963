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


def gpt2_byte_order_tokenizer(tok):
    """``tok`` with its 256 byte ids renumbered in GPT-2's own order (printable bytes first),
    as the real GPT-2 vocab.json numbers them."""
    from pocketgpt.tokenizer import Tokenizer
    from pocketgpt.tokenizer.hf import bytes_to_unicode

    order = sorted(range(256), key=lambda b: ord(bytes_to_unicode()[b]))
    ranks = {t: i for t, i in tok.ranks.items() if len(t) > 1}
    ranks.update({bytes([b]): i for i, b in enumerate(order)})
    return Tokenizer(ranks, tok.special_tokens, tok.pattern, merges=tok.merges)


def make_hf_gpt2(d, tok, *, weights: str = "safetensors", tokenizer: str = "gpt2files", vocab_size=None):
    """A Hugging Face GPT-2 directory made by transformers (tiny, perturbed): returns the model.

    weights: ``safetensors``, ``sharded`` (several safetensors files + index) or ``bin-legacy``
    (``pytorch_model.bin`` with the original checkpoint's names: no ``transformer.`` prefix,
    causal-mask buffers, a copy of the tied LM head). tokenizer: ``gpt2files`` (vocab.json +
    merges.txt) or ``hf-json`` (tokenizer.json written by transformers' GPT2Tokenizer).
    """
    import transformers

    d.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    cfg = transformers.GPT2Config(vocab_size=vocab_size or tok.vocab_size, n_positions=64, n_embd=48, n_layer=2,
                                  n_head=4, bos_token_id=tok.eot_id, eos_token_id=tok.eot_id)
    model = transformers.GPT2LMHeadModel(cfg).eval()
    perturb(model)
    if weights == "safetensors":
        model.save_pretrained(d)
    elif weights == "sharded":
        model.save_pretrained(d, max_shard_size="40KB")
    elif weights == "bin-legacy":
        model.config.save_pretrained(d)
        sd = {k.removeprefix("transformer."): v for k, v in model.state_dict().items()}
        for i in range(cfg.n_layer):
            sd[f"h.{i}.attn.bias"] = torch.tril(torch.ones(1, 1, 64, 64))
            sd[f"h.{i}.attn.masked_bias"] = torch.tensor(-1e4)
        torch.save(sd, d / "pytorch_model.bin")
    else:
        raise ValueError(weights)
    files = d / "_tok"
    files.mkdir()
    write_gpt2_files(tok, files)
    if tokenizer == "gpt2files":
        for name in ("vocab.json", "merges.txt"):
            (files / name).rename(d / name)
    else:
        ref = transformers.GPT2Tokenizer(vocab=str(files / "vocab.json"), merges=str(files / "merges.txt"))
        ref.save_pretrained(d)
        for name in ("vocab.json", "merges.txt"):
            (d / name).unlink(missing_ok=True)
        assert (d / "tokenizer.json").exists()
    for f in files.iterdir():
        f.unlink()
    files.rmdir()
    return model
