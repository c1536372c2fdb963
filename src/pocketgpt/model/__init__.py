"""The GPT model: ``GPTConfig``, ``GPT``, a reference ``KVCache``, and Hugging Face weight maps.

>>> from pocketgpt.model import GPT, GPTConfig
>>> GPT(GPTConfig(vocab_size=64, n_layer=1, n_head=2, n_embd=16)).num_params() > 0
True
"""

from pocketgpt.model.gpt import ARCHS, GPT, GPTConfig
from pocketgpt.model.hf import load_hf_gpt2, qwen3_config, qwen3_state_dict
from pocketgpt.model.kv_cache import KVCache

__all__ = ["ARCHS", "GPT", "GPTConfig", "KVCache", "load_hf_gpt2", "qwen3_config", "qwen3_state_dict"]
