"""Byte-level BPE tokenizer: train, encode (through tiktoken), decode, save and load.

>>> from pocketgpt.tokenizer import train
>>> tok = train(["hello hello hello world"], vocab_size=270)
>>> tok.decode(tok.encode("hello world"))
'hello world'

Modules: :mod:`.patterns` (split regexes, default specials), :mod:`.bpe` (training),
:mod:`.reference` (pure-Python encoder), :mod:`.core` (the :class:`Tokenizer`),
:mod:`.hf` (Hugging Face / GPT-2 file formats).
"""

from pocketgpt.tokenizer.core import Tokenizer, recover_merges, train
from pocketgpt.tokenizer.patterns import DEFAULT_SPECIALS, ENDOFTEXT, GPT2_PATTERN, GPT4_PATTERN, PATTERNS

__all__ = [
    "Tokenizer",
    "train",
    "recover_merges",
    "GPT4_PATTERN",
    "GPT2_PATTERN",
    "PATTERNS",
    "DEFAULT_SPECIALS",
    "ENDOFTEXT",
]
