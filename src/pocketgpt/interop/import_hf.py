"""``pocketgpt import``: a Hugging Face model directory -> a pocketgpt checkpoint.

Reads a GPT-2-family directory of any size (``config.json``; ``model.safetensors`` or
``pytorch_model.bin``, sharded or not; ``tokenizer.json`` or ``vocab.json`` +
``merges.txt``), or a directory made by ``pocketgpt export`` (GPT-2, Qwen3 or Llama
layout), and writes ``RUN_DIR/checkpoints/step_XXXXXX/`` with the training code's own
checkpoint writer, so ``sample``, ``eval``, ``sft``, ``chat`` and ``serve`` take it as is.

Chat tokens: the chat format needs ``<|system|> <|user|> <|assistant|> <|end|>``; GPT-2
has only ``<|endoftext|>``. Unless ``chat_tokens=False``, the missing ones get the next
free ids, and their embedding rows (grown if needed) start as the mean embedding, so
SFT can teach them and existing tokens' logits do not move.

Everything is checked before anything is written; each problem is a
:class:`~pocketgpt.errors.UserError` naming the file and field.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import torch

from pocketgpt.errors import UserError
from pocketgpt.interop.hf_tokenizer import read_hf_tokenizer
from pocketgpt.interop.weights import from_hf_state_dict, gpt_config_from_hf, read_hf_weights
from pocketgpt.tokenizer import DEFAULT_SPECIALS, Tokenizer

# A model may have more embedding rows than its tokenizer has ids (vocab padded for
# speed: pocketgpt rounds to 64, nanoGPT's GPT-2 to 50304), but not more than this rounding.
VOCAB_PAD_MULTIPLE = 1024


def check_vocab(tokenizer_size: int, model_size: int, where: str) -> None:
    """The tokenizer's ids must fit the model, and the model may add only padding rows.

    >>> check_vocab(50257, 50304, "gpt2")
    >>> check_vocab(50257, 768, "gpt2")
    Traceback (most recent call last):
    ...
    pocketgpt.errors.UserError: gpt2: the tokenizer has 50257 ids but the model's vocab_size is 768; they must belong together (the model may only pad its vocab up to a multiple of 1024)
    """
    padded = -(-tokenizer_size // VOCAB_PAD_MULTIPLE) * VOCAB_PAD_MULTIPLE
    if not tokenizer_size <= model_size <= padded:
        raise UserError(f"{where}: the tokenizer has {tokenizer_size} ids but the model's vocab_size is "
                        f"{model_size}; they must belong together (the model may only pad its vocab up to a "
                        f"multiple of {VOCAB_PAD_MULTIPLE})")


def _add_chat_tokens(tok: Tokenizer, sd: dict, cfg, real_rows: int):
    """Give missing chat specials the next ids; start their rows at the mean embedding."""
    missing = [s for s in DEFAULT_SPECIALS if s not in tok.special_tokens]
    if not missing:
        return tok, sd, cfg, []
    specials = dict(tok.special_tokens)
    for s in missing:
        specials[s] = max(max(tok.ranks.values()), max(specials.values(), default=-1)) + 1
    new_tok = Tokenizer(tok.ranks, specials, tok.pattern, merges=tok.merges)
    rows = max(cfg.vocab_size, new_tok.vocab_size)
    for name in ("wte.weight", "lm_head.weight"):
        if name not in sd:
            continue
        w = sd[name]
        if rows > w.shape[0]:
            w = torch.cat([w, w.new_zeros(rows - w.shape[0], w.shape[1])])
        w[[specials[s] for s in missing]] = w[:real_rows].mean(0)
        sd[name] = w
    return new_tok, sd, dataclasses.replace(cfg, vocab_size=rows), missing


def import_hf(hf_dir: str | Path, run_dir: str | Path, *, chat_tokens: bool = True, overwrite: bool = False) -> dict:
    """Convert ``hf_dir`` into ``run_dir``'s checkpoint; return a summary (``path``, ``arch``,
    ``model_type``, ``params``, ``vocab_size``, ``added_tokens``, ``weights``, ``tokenizer``).

    A ``run_dir`` that holds checkpoints is refused unless ``overwrite``, which replaces them.
    """
    from pocketgpt.train.checkpoint import list_checkpoints, save_checkpoint

    d, run_dir = Path(hf_dir), Path(run_dir)
    if not d.is_dir():
        raise UserError(f"--hf {d}: no such directory")
    if list_checkpoints(run_dir) and not overwrite:
        raise UserError(f"--out {run_dir}: already holds checkpoints; choose another directory or pass --force")
    try:
        hf = json.loads((d / "config.json").read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UserError(f"{d}: no config.json; expected a Hugging Face model directory") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise UserError(f"{d / 'config.json'}: not valid JSON ({e})") from None
    if not isinstance(hf, dict):
        raise UserError(f"{d / 'config.json'}: expected a JSON object")
    cfg = gpt_config_from_hf(hf, str(d / "config.json"))
    meta = hf.get("pocketgpt") if isinstance(hf.get("pocketgpt"), dict) else {}
    if isinstance(meta.get("model"), dict):
        # Fields transformers has no use for come back from our own block.
        known = {k: meta["model"][k] for k in ("dropout", "init_std") if k in meta["model"]}
        cfg = dataclasses.replace(cfg, **known)
    tok, tok_source = read_hf_tokenizer(d)
    check_vocab(tok.vocab_size, cfg.vocab_size, f"{d} ({tok_source} vs config.json)")
    hf_sd, weights_source = read_hf_weights(d)
    sd = from_hf_state_dict(hf_sd, cfg, str(d / weights_source))
    del hf_sd
    added: list[str] = []
    if chat_tokens:
        tok, sd, cfg, added = _add_chat_tokens(tok, sd, cfg, tok.vocab_size)
    step = meta.get("step") if isinstance(meta.get("step"), int) else 0
    config = {
        "model": cfg.to_dict(),
        "imported_from": {"path": str(d.resolve()), "model_type": hf.get("model_type"),
                          "weights": weights_source, "tokenizer": tok_source, "added_special_tokens": added,
                          "pocketgpt_export": bool(meta)},
    }
    if meta.get("assistant"):
        config["assistant"] = True
        config["chat_format"] = meta.get("chat_format")
    trainer_state = {"step": step, "tokens": int(meta.get("tokens") or 0), "imported": True}
    path = save_checkpoint(run_dir, step, model_state=sd, optimizer_state=None, trainer_state=trainer_state,
                           config=config, tokenizer=tok)
    if overwrite:  # replace, so the newest checkpoint is the import; only once it is safely written
        for _, old in list_checkpoints(run_dir):
            if old != path:
                shutil.rmtree(old)
        (run_dir / "checkpoints" / "best.json").unlink(missing_ok=True)
    return {"path": path, "arch": cfg.arch, "model_type": hf.get("model_type"),
            "params": sum(v.numel() for v in sd.values()), "vocab_size": cfg.vocab_size,
            "tokenizer_vocab": tok.vocab_size, "added_tokens": added, "weights": weights_source,
            "tokenizer": tok_source}
