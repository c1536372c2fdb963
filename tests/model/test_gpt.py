"""The GPT against independent references: transformers' GPT-2 and Qwen3, and naive maths."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from pocketgpt.errors import UserError
from pocketgpt.interop import load_hf_gpt2, qwen3_config, qwen3_state_dict
from pocketgpt.model import GPT, GPTConfig, KVCache
from pocketgpt.model.layers import _CpuBf16Linear, linear

transformers = pytest.importorskip("transformers")


def _perturb(model: torch.nn.Module, scale: float = 0.1) -> None:
    # Random init leaves norm gains at 1 and biases at 0; perturb so every weight matters.
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn(p.shape, generator=g) * scale)


@pytest.mark.parametrize("safe", [True, False], ids=["safetensors", "pytorch_model.bin"])
def test_load_hf_gpt2_matches_transformers(tmp_path, safe):
    torch.manual_seed(0)
    hf_cfg = transformers.GPT2Config(vocab_size=211, n_positions=40, n_embd=48, n_layer=3, n_head=4,
                                     bos_token_id=0, eos_token_id=0)
    hf = transformers.GPT2LMHeadModel(hf_cfg).eval()
    _perturb(hf)
    if safe:
        hf.save_pretrained(tmp_path)
    else:  # transformers 5 only writes safetensors; a .bin is its state dict under torch.save
        hf.config.save_pretrained(tmp_path)
        torch.save(hf.state_dict(), tmp_path / "pytorch_model.bin")
    assert (tmp_path / ("model.safetensors" if safe else "pytorch_model.bin")).exists()
    ours = load_hf_gpt2(tmp_path)
    idx = torch.randint(0, 211, (3, 40))
    with torch.no_grad():
        want = hf(idx).logits
        got, _ = ours(idx)
    assert (got - want).abs().max().item() < 1e-4
    assert ours.config.arch == "gpt2" and ours.num_params() == sum(p.numel() for p in hf.parameters())


@pytest.mark.parametrize("tied,n_kv", [(False, 2), (True, 4)], ids=["untied-gqa", "tied-mha"])
def test_modern_matches_qwen3(tied, n_kv):
    torch.manual_seed(0)
    cfg = GPTConfig(vocab_size=203, block_size=48, n_layer=2, n_head=4, n_kv_head=n_kv, n_embd=64,
                    head_dim=24, tie_embeddings=tied, rope_theta=5000.0)
    ours = GPT(cfg).eval()
    _perturb(ours)
    hf = transformers.Qwen3ForCausalLM(transformers.Qwen3Config(**qwen3_config(cfg))).eval()
    hf.load_state_dict(qwen3_state_dict(ours), strict=True)
    idx = torch.randint(0, 203, (2, 48))
    with torch.no_grad():
        want = hf(idx).logits
        got, _ = ours(idx)
    assert (got - want).abs().max().item() < 1e-4
    # and the comparison is sensitive: swapping SwiGLU's gate and up changes the logits
    sd = qwen3_state_dict(ours)
    sd["model.layers.0.mlp.gate_proj.weight"], sd["model.layers.0.mlp.up_proj.weight"] = (
        sd["model.layers.0.mlp.up_proj.weight"], sd["model.layers.0.mlp.gate_proj.weight"])
    hf.load_state_dict(sd)
    with torch.no_grad():
        assert (hf(idx).logits - got).abs().max().item() > 1e-3


@pytest.mark.parametrize("arch", ["modern", "gpt2"])
def test_loss_mask_matches_naive(arch):
    torch.manual_seed(0)
    model = GPT(GPTConfig(arch=arch, vocab_size=50, block_size=16, n_layer=1, n_head=2, n_embd=16))
    x = torch.randint(0, 50, (3, 16))
    y = torch.randint(0, 50, (3, 16))
    mask = (torch.rand(3, 16) > 0.5).long()
    with torch.no_grad():
        logits, loss = model(x, y, mask)
        _, full = model(x, y)
    logp = torch.log_softmax(logits.double(), -1)
    nats = [-logp[b, t, y[b, t]] for b in range(3) for t in range(16) if mask[b, t] == 1]
    assert loss.item() == pytest.approx(float(sum(nats) / len(nats)), rel=1e-5)
    all_nats = -logp.gather(-1, y[..., None]).mean()
    assert full.item() == pytest.approx(all_nats.item(), rel=1e-5)
    assert full.item() != pytest.approx(loss.item(), rel=1e-6)


@pytest.mark.parametrize("arch,n_kv", [("modern", 2), ("gpt2", 4)])
def test_kv_cache_decode_equals_full_forward(arch, n_kv):
    torch.manual_seed(0)
    model = GPT(GPTConfig(arch=arch, vocab_size=64, block_size=24, n_layer=2, n_head=4, n_kv_head=n_kv, n_embd=32)).eval()
    idx = torch.randint(0, 64, (2, 24))
    with torch.no_grad():
        full, _ = model(idx)
        cache = KVCache.for_model(model, batch_size=2, max_len=24)
        outs = [model(idx[:, :10], kv_cache=cache)[0]]
        outs.append(model(idx[:, 10:13], kv_cache=cache)[0])  # a multi-token chunk after a prefix
        for t in range(13, 24):
            outs.append(model(idx[:, t : t + 1], kv_cache=cache)[0])
    assert (torch.cat(outs, 1) - full).abs().max().item() < 1e-5


def test_packed_documents_with_positions_and_mask_equal_separate_runs():
    """Per-document attention + restarted positions make a packed row equal its parts."""
    torch.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=40, block_size=16, n_layer=2, n_head=2, n_kv_head=1, n_embd=16)).eval()
    a, b = torch.randint(0, 40, (1, 6)), torch.randint(0, 40, (1, 10))
    packed = torch.cat([a, b], 1)
    doc = torch.tensor([0] * 6 + [1] * 10)
    positions = torch.cat([torch.arange(6), torch.arange(10)])[None]
    causal = torch.arange(16)[None, :] <= torch.arange(16)[:, None]
    mask = (causal & (doc[None, :] == doc[:, None]))[None, None]
    with torch.no_grad():
        got, _ = model(packed, positions=positions, attn_mask=mask)
        want = torch.cat([model(a)[0], model(b)[0]], 1)
    assert (got - want).abs().max().item() < 1e-5


def test_counts_and_flops():
    cfg = GPTConfig(vocab_size=100, block_size=32, n_layer=2, n_head=4, n_kv_head=2, n_embd=32, tie_embeddings=False)
    model = GPT(cfg)
    D, F_ = cfg.head_dim, cfg.mlp_hidden
    per_layer = 32 * (4 + 2 * 2) * D + 4 * D * 32 + 32 * 2 * F_ + F_ * 32 + 2 * 32 + 2 * D
    assert model.num_params() == 2 * 100 * 32 + 2 * per_layer + 32
    assert model.num_params(non_embedding=True) == model.num_params() - 100 * 32
    matmul = 2 * (32 * 8 * D + 4 * D * 32 + 32 * 2 * F_ + F_ * 32) + 100 * 32
    assert model.flops_per_token(32) == 6 * matmul + 12 * 2 * 4 * D * 32


@pytest.mark.parametrize("compute", [torch.bfloat16, torch.float32], ids=["bf16-compute", "fp32-compute"])
def test_cpu_bf16_linear_matches_autograd(compute):
    """Both CPU bf16 paths give autocast's bf16 linear: bf16 out, fp32 grads for fp32 leaves."""
    torch.manual_seed(0)
    x = torch.randn(4, 8, 32, requires_grad=True)
    w = torch.randn(48, 32, requires_grad=True)
    b = torch.randn(48, requires_grad=True)
    g = torch.randn(4, 8, 48)
    bf = torch.bfloat16
    y = _CpuBf16Linear.apply(x.to(bf), w.to(bf), b.to(bf), compute)
    assert y.dtype == bf
    y.backward(g)
    ours = [t.grad.clone() for t in (x, w, b)]
    for t in (x, w, b):
        t.grad = None
    with torch.autocast("cpu", dtype=bf):
        y2 = F.linear(x, w, b)
    y2.backward(g)
    assert (y.float() - y2.float()).abs().max().item() <= 1e-2 * y2.float().abs().max().item()
    for mine, ref in zip(ours, (x.grad, w.grad, b.grad)):
        assert mine.dtype == ref.dtype == torch.float32
        assert (mine - ref).abs().max().item() <= 2e-2 * ref.abs().max().item()
    with torch.autocast("cpu", dtype=bf):  # the model's entry point dispatches to it
        assert linear(x, w, b).dtype == bf


def test_bf16_autocast_forward_close_to_fp32():
    torch.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=64, block_size=16, n_layer=2, n_head=2, n_embd=32))
    idx = torch.randint(0, 64, (2, 16))
    _, l32 = model(idx, idx)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        _, l16 = model(idx, idx)
    assert math.isclose(l32.item(), l16.item(), rel_tol=2e-2)


@pytest.mark.parametrize("kw,match", [
    (dict(arch="llama"), "arch"),
    (dict(n_head=3, n_embd=32), "divisible"),
    (dict(n_head=4, n_kv_head=3, n_embd=32), "multiple"),
    (dict(arch="gpt2", tie_embeddings=False), "gpt2"),
    (dict(n_layer=0), "positive"),
])
def test_config_errors(kw, match):
    with pytest.raises(UserError, match=match):
        GPTConfig(**kw)
