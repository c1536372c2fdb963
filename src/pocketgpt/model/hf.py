"""Our GPT as Hugging Face GPT-2 / Qwen3 models: the model package's entry points.

``load_hf_gpt2(dir)`` reads a ``GPT2LMHeadModel`` directory (``config.json`` plus
``model.safetensors`` or ``pytorch_model.bin``, sharded or not) of any size,
without transformers. ``qwen3_state_dict(model)`` / ``qwen3_config(cfg)`` give the
same weights and shape under ``Qwen3ForCausalLM`` names (our fused qkv and
gate/up matmuls split by rows).

The name tables and the checks live in :mod:`pocketgpt.interop.weights`, which the
export and import commands use too; these functions are views of it. (It imports
this package, so it is imported inside the functions.)
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from pocketgpt.errors import UserError
from pocketgpt.model.gpt import GPT, GPTConfig


def load_hf_gpt2(path: str | Path) -> GPT:
    """Load a Hugging Face GPT-2 checkpoint directory into ``GPT(arch="gpt2")`` (fp32, eval mode)."""
    from pocketgpt.interop.weights import from_hf_state_dict, gpt_config_from_hf, read_hf_weights

    d = Path(path)
    try:
        hf = json.loads((d / "config.json").read_text())
    except FileNotFoundError:
        raise UserError(f"{d}: no config.json; expected a Hugging Face GPT-2 directory") from None
    except json.JSONDecodeError as e:
        raise UserError(f"{d / 'config.json'}: not valid JSON ({e})") from None
    if hf.get("model_type") not in (None, "gpt2"):
        raise UserError(f"{d / 'config.json'}: model_type is {hf.get('model_type')!r}; expected 'gpt2'")
    cfg = gpt_config_from_hf({**hf, "model_type": "gpt2"}, where=str(d / "config.json"))
    sd, source = read_hf_weights(d)
    model = GPT(cfg)
    model.load_state_dict(from_hf_state_dict(sd, cfg, where=str(d / source)), strict=True)
    return model.eval()


def qwen3_config(cfg: GPTConfig) -> dict:
    """Keyword arguments for ``transformers.Qwen3Config`` describing ``cfg`` (arch="modern", qk_norm)."""
    from pocketgpt.interop.weights import hf_architecture, hf_config

    if hf_architecture(cfg)[0] != "qwen3":
        raise ValueError("qwen3_config needs arch='modern' with qk_norm=True (qk_norm=False is Llama)")
    return {k: v for k, v in hf_config(cfg).items() if k not in ("architectures", "model_type")}


def qwen3_state_dict(model: GPT) -> dict[str, torch.Tensor]:
    """Our modern-arch weights under ``Qwen3ForCausalLM`` parameter names, the tied LM
    head included (so ``load_state_dict(strict=True)`` accepts it)."""
    from pocketgpt.interop.weights import hf_architecture, to_hf_state_dict

    cfg = model.config
    if hf_architecture(cfg)[0] != "qwen3":
        raise ValueError("qwen3_state_dict needs arch='modern' with qk_norm=True (qk_norm=False is Llama)")
    out = to_hf_state_dict(model)
    if cfg.tie_embeddings:
        out["lm_head.weight"] = out["model.embed_tokens.weight"]
    return out
