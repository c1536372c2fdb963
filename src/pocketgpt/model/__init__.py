"""The GPT model: ``GPTConfig``, ``GPT`` and a reference ``KVCache``.

The bottom of the model stack: it imports nothing of ours but :mod:`pocketgpt.errors`.
The Hugging Face weight maps (``load_hf_gpt2``, ``qwen3_state_dict``) are above it, in
:mod:`pocketgpt.interop.weights`.

>>> from pocketgpt.model import GPT, GPTConfig
>>> GPT(GPTConfig(vocab_size=64, n_layer=1, n_head=2, n_embd=16)).num_params() > 0
True
"""

from pocketgpt.model.gpt import ARCHS, GPT, GPTConfig
from pocketgpt.model.kv_cache import KVCache

__all__ = ["ARCHS", "GPT", "GPTConfig", "KVCache"]
