"""``pocketgpt export``: a checkpoint -> a directory ``transformers`` loads with no custom code.

Files written (see docs/formats.md)::

    config.json              GPT2LMHeadModel / Qwen3ForCausalLM / LlamaForCausalLM, plus a
                             "pocketgpt" block (our config, step, chat format) for re-import
    model.safetensors        the weights under Hugging Face names (fp32 unless --dtype)
    generation_config.json   eos = <|end|>, <|endoftext|>; greedy by default
    tokenizer.json           the tokenizer, from the tokenizer's own writer
    tokenizer_config.json    special tokens and the Jinja chat_template
    chat_template.jinja      the same template (transformers >= 5 reads this file)

Then, in any Python with transformers::

    model = AutoModelForCausalLM.from_pretrained(DIR)
    tok = AutoTokenizer.from_pretrained(DIR)
    ids = tok.apply_chat_template(messages, add_generation_prompt=True, return_tensors="pt")
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from pocketgpt.errors import UserError
from pocketgpt.fsio import atomic_dir
from pocketgpt.interop import hf_tokenizer
from pocketgpt.interop.weights import hf_architecture, hf_config, to_hf_state_dict

EXPORT_FORMAT = "pocketgpt-hf-export"
EXPORT_VERSION = 1
DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def export_hf(checkpoint: str | Path, out: str | Path, *, dtype: str = "float32", overwrite: bool = False) -> dict:
    """Write the Hugging Face directory ``out`` for ``checkpoint`` (a run dir or one checkpoint).

    Returns a summary: ``out``, ``architecture``, ``model_type``, ``checkpoint``, ``step``,
    ``params``, ``chat_template`` (whether one was written).
    """
    from safetensors.torch import save_file

    from pocketgpt.tokenizer.hf import hf_tokenizer_json
    from pocketgpt.train.checkpoint import load_checkpoint

    if dtype not in DTYPES:
        raise UserError(f"--dtype {dtype!r}: expected one of {', '.join(DTYPES)}")
    out = Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())) and not overwrite:
        raise UserError(f"--out {out}: already exists and is not empty; choose another directory or pass --force")
    model, tok, info = load_checkpoint(checkpoint)
    ckpt_path = Path(info["path"])
    if tok is None:
        raise UserError(f"{ckpt_path}: the checkpoint has no tokenizer/ directory; export needs the tokenizer "
                        "the model was trained with")
    cfg = model.config
    if tok.vocab_size > cfg.vocab_size:
        raise UserError(f"{ckpt_path}: the tokenizer has {tok.vocab_size} ids but the model only "
                        f"{cfg.vocab_size} embedding rows")
    run_config = json.loads((ckpt_path / "config.json").read_text())
    state = info["trainer_state"]
    assistant = bool(run_config.get("assistant"))
    chat = hf_tokenizer.has_chat_tokens(tok)
    model_type, arch = hf_architecture(cfg)
    gen = hf_tokenizer.generation_config(tok)
    config = {
        **hf_config(cfg),
        "bos_token_id": gen["bos_token_id"], "eos_token_id": gen["eos_token_id"], "pad_token_id": gen["pad_token_id"],
        # transformers < 5 reads torch_dtype, >= 5 dtype.
        "dtype": dtype, "torch_dtype": dtype,
        "pocketgpt": {
            "format": EXPORT_FORMAT, "version": EXPORT_VERSION, "model": cfg.to_dict(),
            "step": info["step"], "tokens": state.get("tokens"), "assistant": assistant,
            "chat_format": run_config.get("chat_format"), "tokenizer_fingerprint": tok.fingerprint,
        },
    }
    with atomic_dir(out, overwrite=True) as tmp:
        weights = to_hf_state_dict(model, DTYPES[dtype])
        save_file(weights, str(tmp / "model.safetensors"), metadata={"format": "pt"})
        _write_json(tmp / "config.json", config)
        _write_json(tmp / "generation_config.json", gen)
        doc = hf_tokenizer_json(tok.ranks, tok.merges, tok.special_tokens, tok.pattern)
        (tmp / "tokenizer.json").write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
        tcfg = hf_tokenizer.tokenizer_config(tok, model_max_length=cfg.block_size, assistant=assistant)
        _write_json(tmp / "tokenizer_config.json", tcfg)
        if chat:
            (tmp / "chat_template.jinja").write_text(tcfg["chat_template"], encoding="utf-8")
    return {"out": out, "architecture": arch, "model_type": model_type, "checkpoint": ckpt_path,
            "step": info["step"], "params": model.num_params(), "chat_template": chat, "dtype": dtype}


def _write_json(path: Path, doc: dict) -> None:
    path.write_text(json.dumps(doc, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
