"""Our GPT <-> Hugging Face architectures: configs and weights, both ways.

One table per family lists, for every Hugging Face tensor, the tensor of ours it
comes from and how: ``copy``, ``t`` (GPT-2's ``Conv1D`` stores weights as (in, out),
``nn.Linear`` as (out, in)), or a row slice of one of our fused matmuls (q/k/v share
``attn.qkv``; SwiGLU's gate and up share ``mlp.fc``). Export walks the table forwards;
import walks it backwards, checking every name and shape first.

==========  =========================  ==========================================
ours        Hugging Face               when
==========  =========================  ==========================================
gpt2        ``GPT2LMHeadModel``        ``arch="gpt2"``
modern      ``Qwen3ForCausalLM``       ``arch="modern"``, ``qk_norm=True``
modern      ``LlamaForCausalLM``       ``arch="modern"``, ``qk_norm=False``
==========  =========================  ==========================================

>>> from pocketgpt.model import GPTConfig
>>> cfg = GPTConfig(arch="modern", vocab_size=64, n_layer=1, n_head=2, n_embd=16, qk_norm=False)
>>> hf_config(cfg)["architectures"], hf_config(cfg)["model_type"]
(['LlamaForCausalLM'], 'llama')
>>> gpt_config_from_hf(hf_config(cfg)) == cfg
True

Three entry points put the tables to work outside the export and import commands:
:func:`load_hf_gpt2` reads a ``GPT2LMHeadModel`` directory (``config.json`` plus
``model.safetensors`` or ``pytorch_model.bin``, sharded or not) of any size, without
transformers; :func:`qwen3_state_dict` / :func:`qwen3_config` give our modern weights
and shape under ``Qwen3ForCausalLM`` names (our fused qkv and gate/up matmuls split by
rows).
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from pocketgpt.errors import UserError
from pocketgpt.model import GPT, GPTConfig

SUPPORTED_MODEL_TYPES = ("gpt2", "qwen3", "llama")
# Non-weight buffers that old GPT-2 checkpoints carry (causal masks): nothing to load.
_GPT2_BUFFERS = (".attn.bias", ".attn.masked_bias")


def hf_architecture(cfg: GPTConfig) -> tuple[str, str]:
    """``(model_type, class name)`` of the Hugging Face model that computes what ``cfg`` does."""
    if cfg.arch == "gpt2":
        return "gpt2", "GPT2LMHeadModel"
    return ("qwen3", "Qwen3ForCausalLM") if cfg.qk_norm else ("llama", "LlamaForCausalLM")


def hf_config(cfg: GPTConfig) -> dict:
    """The ``config.json`` fields (less token ids and dtype) describing ``cfg``."""
    model_type, cls = hf_architecture(cfg)
    if model_type == "gpt2":
        return {
            "architectures": [cls], "model_type": model_type, "vocab_size": cfg.vocab_size,
            "n_positions": cfg.block_size, "n_embd": cfg.n_embd, "n_layer": cfg.n_layer, "n_head": cfg.n_head,
            "n_inner": cfg.mlp_hidden, "activation_function": "gelu_new", "layer_norm_epsilon": cfg.norm_eps,
            "resid_pdrop": 0.0, "embd_pdrop": 0.0, "attn_pdrop": 0.0, "scale_attn_weights": True,
            "scale_attn_by_inverse_layer_idx": False, "reorder_and_upcast_attn": False,
            "tie_word_embeddings": True, "use_cache": True,
        }
    out = {
        "architectures": [cls], "model_type": model_type, "vocab_size": cfg.vocab_size,
        "hidden_size": cfg.n_embd, "intermediate_size": cfg.mlp_hidden, "num_hidden_layers": cfg.n_layer,
        "num_attention_heads": cfg.n_head, "num_key_value_heads": cfg.n_kv_head, "head_dim": cfg.head_dim,
        "hidden_act": "silu", "rms_norm_eps": cfg.norm_eps, "max_position_embeddings": cfg.block_size,
        # transformers < 5 reads rope_theta, >= 5 reads rope_parameters: write both.
        "rope_theta": cfg.rope_theta, "rope_parameters": {"rope_type": "default", "rope_theta": cfg.rope_theta},
        "rope_scaling": None, "attention_bias": False, "attention_dropout": 0.0,
        "tie_word_embeddings": cfg.tie_embeddings, "use_cache": True,
    }
    if model_type == "qwen3":
        out.update(use_sliding_window=False, sliding_window=None)
    else:
        out.update(mlp_bias=False, pretraining_tp=1)
    return out


def _where(where: str | None) -> str:
    return where or "config.json"


def gpt_config_from_hf(hf: dict, where: str | None = None) -> GPTConfig:
    """The :class:`GPTConfig` for a Hugging Face ``config.json`` dict, or a :class:`UserError`
    naming the field that our GPT cannot represent."""
    w = _where(where)
    model_type = hf.get("model_type")
    if model_type not in SUPPORTED_MODEL_TYPES:
        raise UserError(f"{w}: model_type {model_type!r} is not supported; pocketgpt imports "
                        f"{', '.join(SUPPORTED_MODEL_TYPES)} (GPT-2 family, and the Qwen3/Llama layouts pocketgpt exports)")

    def need(key, *alts):
        for k in (key, *alts):
            if hf.get(k) is not None:
                return hf[k]
        raise UserError(f"{w}: missing field {key!r} (model_type {model_type!r} needs it)")

    def refuse(cond: bool, what: str) -> None:
        if cond:
            raise UserError(f"{w}: {what} is not supported by pocketgpt's {model_type} mapping")

    if model_type == "gpt2":
        act = hf.get("activation_function", "gelu_new")
        refuse(act not in ("gelu_new", "gelu_pytorch_tanh"), f"activation_function {act!r} (expected gelu_new)")
        refuse(hf.get("scale_attn_weights") is False, "scale_attn_weights=false")
        refuse(bool(hf.get("scale_attn_by_inverse_layer_idx")), "scale_attn_by_inverse_layer_idx=true")
        refuse(bool(hf.get("add_cross_attention")), "add_cross_attention=true")
        n_embd = need("n_embd")
        kwargs = dict(arch="gpt2", vocab_size=need("vocab_size"), block_size=need("n_positions"),
                      n_layer=need("n_layer"), n_head=need("n_head"), n_embd=n_embd,
                      mlp_hidden=hf.get("n_inner") or 4 * n_embd, norm_eps=hf.get("layer_norm_epsilon", 1e-5))
    else:
        act = hf.get("hidden_act", "silu")
        refuse(act != "silu", f"hidden_act {act!r} (expected silu)")
        refuse(bool(hf.get("attention_bias")), "attention_bias=true")
        refuse(bool(hf.get("mlp_bias")), "mlp_bias=true")
        refuse(bool(hf.get("use_sliding_window")), "use_sliding_window=true")
        refuse(hf.get("rope_scaling") not in (None, {}), f"rope_scaling {hf.get('rope_scaling')!r}")
        rope = hf.get("rope_parameters") or {}
        refuse(rope.get("rope_type", "default") != "default", f"rope_parameters.rope_type {rope.get('rope_type')!r}")
        refuse(hf.get("pretraining_tp", 1) != 1, "pretraining_tp != 1")
        n_embd, n_head = need("hidden_size"), need("num_attention_heads")
        kwargs = dict(arch="modern", vocab_size=need("vocab_size"), block_size=need("max_position_embeddings"),
                      n_layer=need("num_hidden_layers"), n_head=n_head, n_embd=n_embd,
                      n_kv_head=hf.get("num_key_value_heads") or n_head, head_dim=hf.get("head_dim") or n_embd // n_head,
                      mlp_hidden=need("intermediate_size"), qk_norm=model_type == "qwen3",
                      tie_embeddings=bool(hf.get("tie_word_embeddings", model_type == "qwen3")),
                      rope_theta=float(rope.get("rope_theta") or hf.get("rope_theta") or 10000.0),
                      norm_eps=hf.get("rms_norm_eps", 1e-6))
    for k, v in kwargs.items():
        if k in ("vocab_size", "block_size", "n_layer", "n_head", "n_embd", "n_kv_head", "head_dim", "mlp_hidden"):
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                raise UserError(f"{w}: {k} (from the Hugging Face config) must be a positive integer, got {v!r}")
    try:
        return GPTConfig(**kwargs)
    except UserError as e:
        raise UserError(f"{w}: {e}") from None


# -- the weight tables -----------------------------------------------------------------

def _table(cfg: GPTConfig) -> list[tuple[str, str, str, tuple[int, int] | None]]:
    """``(hf_name, our_name, how, rows)``: how is ``copy`` or ``t``; ``rows`` a row slice of ours."""
    rows = []
    if cfg.arch == "gpt2":
        rows += [("transformer.wte.weight", "wte.weight", "copy", None),
                 ("transformer.wpe.weight", "wpe.weight", "copy", None),
                 ("transformer.ln_f.weight", "ln_f.weight", "copy", None),
                 ("transformer.ln_f.bias", "ln_f.bias", "copy", None)]
        names = {"ln_1": "ln_1", "ln_2": "ln_2", "attn.c_attn": "attn.qkv", "attn.c_proj": "attn.proj",
                 "mlp.c_fc": "mlp.fc", "mlp.c_proj": "mlp.proj"}
        for i in range(cfg.n_layer):
            for theirs, mine in names.items():
                how = "copy" if theirs.startswith("ln") else "t"
                rows.append((f"transformer.h.{i}.{theirs}.weight", f"h.{i}.{mine}.weight", how, None))
                rows.append((f"transformer.h.{i}.{theirs}.bias", f"h.{i}.{mine}.bias", "copy", None))
        return rows
    q, kv, f = cfg.n_head * cfg.head_dim, cfg.n_kv_head * cfg.head_dim, cfg.mlp_hidden
    rows += [("model.embed_tokens.weight", "wte.weight", "copy", None),
             ("model.norm.weight", "ln_f.weight", "copy", None)]
    if not cfg.tie_embeddings:
        rows.append(("lm_head.weight", "lm_head.weight", "copy", None))
    for i in range(cfg.n_layer):
        p, h = f"h.{i}.", f"model.layers.{i}."
        rows += [(h + "input_layernorm.weight", p + "ln_1.weight", "copy", None),
                 (h + "post_attention_layernorm.weight", p + "ln_2.weight", "copy", None),
                 (h + "self_attn.q_proj.weight", p + "attn.qkv.weight", "copy", (0, q)),
                 (h + "self_attn.k_proj.weight", p + "attn.qkv.weight", "copy", (q, q + kv)),
                 (h + "self_attn.v_proj.weight", p + "attn.qkv.weight", "copy", (q + kv, q + 2 * kv)),
                 (h + "self_attn.o_proj.weight", p + "attn.proj.weight", "copy", None),
                 (h + "mlp.gate_proj.weight", p + "mlp.fc.weight", "copy", (0, f)),
                 (h + "mlp.up_proj.weight", p + "mlp.fc.weight", "copy", (f, 2 * f)),
                 (h + "mlp.down_proj.weight", p + "mlp.proj.weight", "copy", None)]
        if cfg.qk_norm:
            rows += [(h + "self_attn.q_norm.weight", p + "attn.q_norm.weight", "copy", None),
                     (h + "self_attn.k_norm.weight", p + "attn.k_norm.weight", "copy", None)]
    return rows


def to_hf_state_dict(model: GPT, dtype: torch.dtype = torch.float32) -> dict[str, torch.Tensor]:
    """Our weights under Hugging Face names, contiguous, in ``dtype``. A tied LM head is
    left out, as ``save_pretrained`` does; transformers ties it on load."""
    sd = model.state_dict()
    out = {}
    for hf_name, ours, how, rows in _table(model.config):
        t = sd[ours]
        if rows is not None:
            t = t[rows[0]:rows[1]]
        if how == "t":
            t = t.t()
        out[hf_name] = t.detach().to("cpu", dtype).contiguous()
    return out


def from_hf_state_dict(hf_sd: dict[str, torch.Tensor], cfg: GPTConfig, where: str = "weights") -> dict[str, torch.Tensor]:
    """Our fp32 state dict from Hugging Face tensors, checking names and shapes against ``cfg``.

    Accepts GPT-2 names with or without the ``transformer.`` prefix (old checkpoints) and
    ignores their causal-mask buffers. A tied LM head may be present if it equals the embedding.
    """
    sd = dict(hf_sd)
    if cfg.arch == "gpt2":
        sd = {k if k.startswith(("transformer.", "lm_head.")) else f"transformer.{k}": v for k, v in sd.items()}
        sd = {k: v for k, v in sd.items() if not k.endswith(_GPT2_BUFFERS)}
    with torch.device("meta"):  # shapes only: no memory, no init time, whatever the size
        want = {n: p.shape for n, p in GPT(cfg).state_dict().items()}
    parts: dict[str, list] = {}
    for hf_name, ours, how, rows in _table(cfg):
        if hf_name not in sd:
            raise UserError(f"{where}: missing tensor {hf_name!r} (config.json describes {cfg.n_layer} layers of "
                            f"{cfg.arch}; is this the right weights file?)")
        t = sd.pop(hf_name)
        full = want[ours]
        expect = (rows[1] - rows[0], *full[1:]) if rows is not None else tuple(full)
        if how == "t":
            expect = tuple(reversed(expect))
        if tuple(t.shape) != tuple(expect):
            raise UserError(f"{where}: tensor {hf_name!r} has shape {tuple(t.shape)}; config.json implies "
                            f"{tuple(expect)} (vocab_size={cfg.vocab_size}, n_embd={cfg.n_embd}, "
                            f"n_head={cfg.n_head}, block_size={cfg.block_size})")
        t = t.to(torch.float32)
        parts.setdefault(ours, []).append(t.t() if how == "t" else t)
    head = sd.pop("lm_head.weight", None)
    if head is not None and cfg.tie_embeddings:
        wte = parts["wte.weight"][0]
        if tuple(head.shape) != tuple(wte.shape) or not torch.equal(head.to(torch.float32), wte):
            raise UserError(f"{where}: lm_head.weight differs from the token embedding, but the model ties them "
                            "(tie_word_embeddings); an untied LM head is not supported for this architecture")
    if sd:
        extra = sorted(sd)
        raise UserError(f"{where}: {len(extra)} unexpected tensor(s), e.g. {', '.join(map(repr, extra[:3]))}; "
                        "they have no place in this architecture")
    return {k: (torch.cat(v, 0) if len(v) > 1 else v[0]).contiguous() for k, v in parts.items()}


# -- reading Hugging Face weight files ---------------------------------------------------

def read_hf_weights(d: str | Path) -> tuple[dict[str, torch.Tensor], str]:
    """All tensors of a Hugging Face model directory and the file(s) they came from.

    Reads ``model.safetensors``, ``pytorch_model.bin`` (``weights_only=True``: a pickle
    cannot run code), or either kind sharded with an ``.index.json``.
    """
    from safetensors.torch import load_file

    d = Path(d)
    single = [(d / "model.safetensors", "st"), (d / "pytorch_model.bin", "pt")]
    for f, kind in single:
        if f.is_file():
            return _load_one(f, kind, load_file), f.name
    for index, kind in [(d / "model.safetensors.index.json", "st"), (d / "pytorch_model.bin.index.json", "pt")]:
        if index.is_file():
            try:
                shards = sorted(set(json.loads(index.read_text())["weight_map"].values()))
            except (json.JSONDecodeError, KeyError, TypeError, AttributeError) as e:
                raise UserError(f"{index}: not a valid shard index ({type(e).__name__}: {e})") from None
            out = {}
            for name in shards:
                if not (d / name).is_file():
                    raise UserError(f"{index}: lists shard {name!r}, which is missing from {d}")
                out.update(_load_one(d / name, kind, load_file))
            return out, index.name
    raise UserError(f"{d}: no weights; expected model.safetensors or pytorch_model.bin "
                    "(or a sharded model.safetensors.index.json)")


def _load_one(f: Path, kind: str, load_file) -> dict[str, torch.Tensor]:
    try:
        if kind == "st":
            return load_file(str(f))
        sd = torch.load(f, map_location="cpu", weights_only=True)
    except Exception as e:  # a truncated or foreign file: report it, not a traceback
        raise UserError(f"{f}: cannot read the weights ({type(e).__name__}: {str(e)[:200]})") from None
    if not isinstance(sd, dict):
        raise UserError(f"{f}: expected a state dict of tensors, got {type(sd).__name__}")
    return {k: v for k, v in sd.items() if isinstance(v, torch.Tensor)}


# -- our GPT as a Hugging Face GPT-2 / Qwen3 model ---------------------------------------

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
    cfg = gpt_config_from_hf({**hf, "model_type": "gpt2"}, where=str(d / "config.json"))
    sd, source = read_hf_weights(d)
    model = GPT(cfg)
    model.load_state_dict(from_hf_state_dict(sd, cfg, where=str(d / source)), strict=True)
    return model.eval()


def qwen3_config(cfg: GPTConfig) -> dict:
    """Keyword arguments for ``transformers.Qwen3Config`` describing ``cfg`` (arch="modern", qk_norm)."""
    if hf_architecture(cfg)[0] != "qwen3":
        raise ValueError("qwen3_config needs arch='modern' with qk_norm=True (qk_norm=False is Llama)")
    return {k: v for k, v in hf_config(cfg).items() if k not in ("architectures", "model_type")}


def qwen3_state_dict(model: GPT) -> dict[str, torch.Tensor]:
    """Our modern-arch weights under ``Qwen3ForCausalLM`` parameter names, the tied LM
    head included (so ``load_state_dict(strict=True)`` accepts it)."""
    cfg = model.config
    if hf_architecture(cfg)[0] != "qwen3":
        raise ValueError("qwen3_state_dict needs arch='modern' with qk_norm=True (qk_norm=False is Llama)")
    out = to_hf_state_dict(model)
    if cfg.tie_embeddings:
        out["lm_head.weight"] = out["model.embed_tokens.weight"]
    return out
