"""Weight maps between our GPT and Hugging Face GPT-2 / Qwen3 checkpoints.

``load_hf_gpt2(dir)`` reads a ``GPT2LMHeadModel`` directory (``config.json`` plus
``model.safetensors`` or ``pytorch_model.bin``) of any size, without transformers.
``qwen3_state_dict(model)`` / ``qwen3_config(cfg)`` give the same weights under
``Qwen3ForCausalLM`` names (our fused qkv and gate/up matmuls are split by rows).
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from pocketgpt.errors import UserError
from pocketgpt.model.gpt import GPT, GPTConfig


def _read_hf_weights(d: Path) -> dict[str, torch.Tensor]:
    st, pt = d / "model.safetensors", d / "pytorch_model.bin"
    if st.exists():
        from safetensors.torch import load_file

        return load_file(str(st))
    if pt.exists():
        sd = torch.load(pt, map_location="cpu", weights_only=True)
        return {k: v for k, v in sd.items() if isinstance(v, torch.Tensor)}
    if (d / "model.safetensors.index.json").exists():
        raise UserError(f"{d}: sharded safetensors checkpoints are not supported; expected one model.safetensors")
    raise UserError(f"{d}: no model.safetensors or pytorch_model.bin; expected a Hugging Face GPT-2 directory")


def load_hf_gpt2(path: str | Path) -> GPT:
    """Load a Hugging Face GPT-2 checkpoint directory into ``GPT(arch="gpt2")`` (fp32, eval mode)."""
    d = Path(path)
    try:
        hf = json.loads((d / "config.json").read_text())
    except FileNotFoundError:
        raise UserError(f"{d}: no config.json; expected a Hugging Face GPT-2 directory") from None
    except json.JSONDecodeError as e:
        raise UserError(f"{d / 'config.json'}: not valid JSON ({e})") from None
    if hf.get("model_type") not in (None, "gpt2"):
        raise UserError(f"{d / 'config.json'}: model_type is {hf.get('model_type')!r}; expected 'gpt2'")
    if hf.get("activation_function", "gelu_new") not in ("gelu_new", "gelu_pytorch_tanh"):
        raise UserError(f"{d / 'config.json'}: activation_function {hf['activation_function']!r} is not GPT-2's gelu_new")
    for flag in ("scale_attn_by_inverse_layer_idx", "reorder_and_upcast_attn"):
        if hf.get(flag):
            raise UserError(f"{d / 'config.json'}: {flag}=true is not supported")
    n_embd = hf["n_embd"]
    cfg = GPTConfig(
        arch="gpt2", vocab_size=hf["vocab_size"], block_size=hf["n_positions"], n_layer=hf["n_layer"],
        n_head=hf["n_head"], n_embd=n_embd, mlp_hidden=hf.get("n_inner") or 4 * n_embd,
        norm_eps=hf.get("layer_norm_epsilon", 1e-5), dropout=0.0,
    )
    sd = {k.removeprefix("transformer."): v for k, v in _read_hf_weights(d).items()}
    ours = {"wte.weight": sd["wte.weight"], "wpe.weight": sd["wpe.weight"],
            "ln_f.weight": sd["ln_f.weight"], "ln_f.bias": sd["ln_f.bias"]}
    # HF GPT-2 uses Conv1D, which stores weights as (in, out): transpose into nn.Linear's (out, in).
    names = {"ln_1": "ln_1", "ln_2": "ln_2", "attn.c_attn": "attn.qkv", "attn.c_proj": "attn.proj",
             "mlp.c_fc": "mlp.fc", "mlp.c_proj": "mlp.proj"}
    for i in range(cfg.n_layer):
        for theirs, mine in names.items():
            w, b = sd[f"h.{i}.{theirs}.weight"], sd[f"h.{i}.{theirs}.bias"]
            ours[f"h.{i}.{mine}.weight"] = w if theirs.startswith("ln") else w.t().contiguous()
            ours[f"h.{i}.{mine}.bias"] = b
    model = GPT(cfg)
    model.load_state_dict({k: v.float() for k, v in ours.items()}, strict=True)
    return model.eval()


def qwen3_config(cfg: GPTConfig) -> dict:
    """Keyword arguments for ``transformers.Qwen3Config`` describing ``cfg`` (arch="modern")."""
    if cfg.arch != "modern":
        raise ValueError("qwen3_config needs arch='modern'")
    return dict(
        vocab_size=cfg.vocab_size, hidden_size=cfg.n_embd, intermediate_size=cfg.mlp_hidden,
        num_hidden_layers=cfg.n_layer, num_attention_heads=cfg.n_head, num_key_value_heads=cfg.n_kv_head,
        head_dim=cfg.head_dim, rms_norm_eps=cfg.norm_eps, rope_theta=cfg.rope_theta,
        max_position_embeddings=cfg.block_size, tie_word_embeddings=cfg.tie_embeddings,
        attention_bias=False, hidden_act="silu",
    )


def qwen3_state_dict(model: GPT) -> dict[str, torch.Tensor]:
    """Our modern-arch weights under ``Qwen3ForCausalLM`` parameter names."""
    cfg = model.config
    if not cfg.qk_norm:
        raise ValueError("qk_norm=False is Llama, not Qwen3")
    H, Hk, D, F_ = cfg.n_head, cfg.n_kv_head, cfg.head_dim, cfg.mlp_hidden
    sd = model.state_dict()
    out = {"model.embed_tokens.weight": sd["wte.weight"], "model.norm.weight": sd["ln_f.weight"]}
    out["lm_head.weight"] = sd["wte.weight"] if cfg.tie_embeddings else sd["lm_head.weight"]
    for i in range(cfg.n_layer):
        p, q = f"h.{i}.", f"model.layers.{i}."
        qw, kw, vw = sd[p + "attn.qkv.weight"].split([H * D, Hk * D, Hk * D])
        gate, up = sd[p + "mlp.fc.weight"].split([F_, F_])
        out.update({
            q + "input_layernorm.weight": sd[p + "ln_1.weight"],
            q + "post_attention_layernorm.weight": sd[p + "ln_2.weight"],
            q + "self_attn.q_proj.weight": qw, q + "self_attn.k_proj.weight": kw, q + "self_attn.v_proj.weight": vw,
            q + "self_attn.o_proj.weight": sd[p + "attn.proj.weight"],
            q + "self_attn.q_norm.weight": sd[p + "attn.q_norm.weight"],
            q + "self_attn.k_norm.weight": sd[p + "attn.k_norm.weight"],
            q + "mlp.gate_proj.weight": gate, q + "mlp.up_proj.weight": up,
            q + "mlp.down_proj.weight": sd[p + "mlp.proj.weight"],
        })
    return out
