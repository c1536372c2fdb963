"""Interop with the Hugging Face ecosystem: export checkpoints, import GPT-2-family models.

- :mod:`.export`: :func:`export_hf`, a checkpoint -> a ``transformers`` directory
  (``GPT2LMHeadModel``, ``Qwen3ForCausalLM`` or ``LlamaForCausalLM``) with tokenizer,
  chat template and generation config (``pocketgpt export``)
- :mod:`.import_hf`: :func:`import_hf`, a Hugging Face directory -> a pocketgpt
  checkpoint (``pocketgpt import``)
- :mod:`.weights`: the config and weight-name tables between our GPT and those classes;
  :func:`load_hf_gpt2`, :func:`qwen3_config` and :func:`qwen3_state_dict` on top of them
- :mod:`.hf_tokenizer`: the chat template, ``tokenizer_config.json``, and reading a
  Hugging Face byte-level BPE back

The file formats are described in docs/formats.md.
"""

from pocketgpt.interop.export import export_hf
from pocketgpt.interop.import_hf import import_hf
from pocketgpt.interop.weights import load_hf_gpt2, qwen3_config, qwen3_state_dict

__all__ = ["export_hf", "import_hf", "load_hf_gpt2", "qwen3_config", "qwen3_state_dict"]
