"""Cached decoding equals a full forward pass, for both families, plain and left-padded."""

from __future__ import annotations

import doctest

import pytest
import torch

from pocketgpt.generate import decoder as decoder_mod
from pocketgpt.generate import fastpath
from pocketgpt.generate.decoder import Decoder

from .conftest import tiny_model

FAMILIES = [("gpt2", None), ("modern", 2), ("modern", 1)]  # modern with GQA (4 heads over 2 or 1 kv heads)


@pytest.mark.parametrize("arch,n_kv", FAMILIES, ids=["gpt2", "modern-gqa2", "modern-mqa"])
@pytest.mark.parametrize("split", [1, 5, 17, 39])
@pytest.mark.parametrize("fast", [True, False], ids=["faststep", "forward"])
def test_cached_logits_equal_full_forward(arch, n_kv, split, fast):
    model = tiny_model(arch, n_kv_head=n_kv, block_size=40, scale=0.1)
    seq = torch.randint(0, 97, (1, 40), generator=torch.Generator().manual_seed(split))
    with torch.inference_mode():
        full, _ = model(seq)
        dec = Decoder(model, [seq[0, :split].tolist()], max_new_tokens=40 - split, fast=fast)
        assert (dec.fast is not None) == fast
        got = [dec.prefill()]
        for t in range(split, 40):
            got.append(dec.step(seq[:, t]))
    got = torch.stack(got[:-1], 1)  # the last step predicts position 40, beyond the sequence
    want = full[:, split - 1 : 39]
    assert got.shape == want.shape and want.abs().max() > 1.0  # logits of a useful scale
    assert (got - want).abs().max().item() < 1e-5


@pytest.mark.parametrize("arch,n_kv", FAMILIES, ids=["gpt2", "modern-gqa2", "modern-mqa"])
@pytest.mark.parametrize("use_cache,fast", [(True, True), (True, False), (False, False)],
                         ids=["faststep", "forward", "no-cache"])
def test_left_padded_batch_equals_each_sequence_alone(arch, n_kv, use_cache, fast):
    model = tiny_model(arch, n_kv_head=n_kv, block_size=40, scale=0.1)
    g = torch.Generator().manual_seed(3)
    prompts = [torch.randint(0, 97, (n,), generator=g).tolist() for n in (7, 1, 12, 7)]
    steps = torch.randint(0, 97, (4, 10), generator=g)
    with torch.inference_mode():
        dec = Decoder(model, prompts, max_new_tokens=10, use_cache=use_cache, fast=fast)
        batch = [dec.prefill()] + [dec.step(steps[:, t]) for t in range(10)]
        for b, p in enumerate(prompts):
            alone, _ = model(torch.tensor([p + steps[b].tolist()]))
            want = alone[0, len(p) - 1 :]
            got = torch.stack([x[b] for x in batch])
            assert (got - want).abs().max().item() < 1e-5, b
    assert not any(torch.isnan(x).any() for x in batch)


def test_fast_step_with_untied_head_and_odd_head_dim():
    from pocketgpt.model import GPT, GPTConfig

    from .conftest import perturb

    torch.manual_seed(0)
    cfg = GPTConfig(vocab_size=61, block_size=24, n_layer=2, n_head=6, n_kv_head=3, n_embd=40, head_dim=10,
                    tie_embeddings=False, rope_theta=500.0, mlp_hidden=72)
    model = perturb(GPT(cfg), 0.1).eval()
    seq = torch.randint(0, 61, (3, 24), generator=torch.Generator().manual_seed(0))
    with torch.inference_mode():
        full, _ = model(seq)
        dec = Decoder(model, seq[:, :6].tolist(), max_new_tokens=18)
        assert dec.fast is not None
        got = [dec.prefill()] + [dec.step(seq[:, t]) for t in range(6, 23)]
    assert (torch.stack(got, 1) - full[:, 5:23]).abs().max().item() < 1e-5


def test_fast_step_only_where_it_is_exact():
    model = tiny_model("modern", n_kv_head=2)
    assert fastpath.supported(model)
    model.train()
    assert not fastpath.supported(model)  # dropout would apply in forward
    model.eval().to(torch.bfloat16)
    assert not fastpath.supported(model)
    assert Decoder(model, [[1, 2]], max_new_tokens=2).fast is None


def test_decoder_refuses_to_overrun_its_columns():
    model = tiny_model(block_size=16)
    dec = Decoder(model, [[1, 2]], max_new_tokens=1)
    with torch.inference_mode():
        dec.prefill()
        dec.step([3])
        with pytest.raises(ValueError, match="full"):
            dec.step([4])


def test_docstring_examples():
    assert doctest.testmod(decoder_mod).failed == 0


@pytest.mark.parametrize("arch,n_kv", FAMILIES, ids=["gpt2", "modern-gqa2", "modern-mqa"])
@pytest.mark.parametrize("splits", [1, 2, 3, 4])
@pytest.mark.parametrize("copy", [False, True], ids=["views", "copies"])
def test_split_and_copied_weights_give_the_same_logits(arch, n_kv, splits, copy):
    # min_split=0 forces the split on these tiny matrices; 3 divides some output
    # widths and not others, so the fallback to one block is exercised too.
    model = tiny_model(arch, n_kv_head=n_kv, block_size=24, scale=0.1)
    weights = fastpath.DecodeWeights(model, splits=splits, copy=copy, min_split=0)
    assert {m[0].shape[0] for layer in weights.layers for m in (layer[2], layer[8])} <= {1, splits}
    want_extra = fastpath.DecodeWeights.copy_bytes(model) if copy else 0
    assert weights.extra_bytes == want_extra and (want_extra > 0) == copy
    prompts = [[5, 6, 7, 8], [9, 10]]
    steps = torch.randint(0, 97, (2, 12), generator=torch.Generator().manual_seed(splits))
    with torch.inference_mode():
        dec = Decoder(model, prompts, max_new_tokens=12, weights=weights)
        assert dec.fast.w is weights
        got = [dec.prefill()] + [dec.step(steps[:, t]) for t in range(11)]
        for b, p in enumerate(prompts):
            alone, _ = model(torch.tensor([p + steps[b, :11].tolist()]))
            want = alone[0, len(p) - 1 :]
            assert (torch.stack([x[b] for x in got]) - want).abs().max().item() < 1e-5


def test_matvec_equals_linear_for_every_layout():
    g = torch.Generator().manual_seed(0)
    w, b = torch.randn(12, 5, generator=g), torch.randn(12, generator=g)
    for rows in (1, 3):
        x = torch.randn(rows, 5, generator=g)
        for splits in (1, 2, 3, 4, 5):  # 5 does not divide 12: one block
            for copy in (False, True):
                for bias in (None, b):
                    got = fastpath.matvec(x, *fastpath.split_weight(w, bias, splits, copy, min_split=0))
                    assert torch.allclose(got, torch.nn.functional.linear(x, w, bias), atol=1e-6)
