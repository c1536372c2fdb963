"""Small models and a tiny tokenizer shared by the generation tests."""

from __future__ import annotations

import pytest
import torch

from pocketgpt.model import GPT, GPTConfig

TEXT = ("The capital of France is Paris. Café au lait, naïve señor. "
        "Emoji: 🙂🚀🎉 and 漢字かな. " * 3)


def perturb(model: torch.nn.Module, scale: float = 0.3, seed: int = 1) -> torch.nn.Module:
    """Random init leaves logits nearly flat; perturb so greedy choices are far from ties."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn(p.shape, generator=g) * scale)
    return model


def tiny_model(arch: str = "gpt2", vocab_size: int = 97, block_size: int = 64, n_kv_head: int | None = None,
               seed: int = 0, scale: float = 0.3) -> GPT:
    torch.manual_seed(seed)
    cfg = GPTConfig(arch=arch, vocab_size=vocab_size, block_size=block_size, n_layer=2, n_head=4,
                    n_kv_head=n_kv_head, n_embd=32)
    return perturb(GPT(cfg), scale).eval()


@pytest.fixture(scope="session")
def tok(tmp_path_factory):
    from pocketgpt.tokenizer import Tokenizer, train

    d = tmp_path_factory.mktemp("gen_tok")
    train([TEXT] * 4, 300, workers=1, progress=False).save(d / "tok")
    return Tokenizer.load(d / "tok")


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny models gain nothing from intra-op threads, and on a shared 2-core machine an
    OpenMP team waiting on a descheduled thread made each step 10x slower (measured)."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)
