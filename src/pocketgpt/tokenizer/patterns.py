"""Pre-tokenization split patterns and the default special tokens.

BPE never merges across the pieces these regular expressions cut text into, so
"dog." and "dog!" share the token for "dog". Both patterns need the third-party
``regex`` module for ``\\p{L}`` (any letter) and ``\\p{N}`` (any number).

>>> import regex
>>> regex.findall(GPT4_PATTERN, "Hello world's 12345!!")
['Hello', ' world', "'s", ' ', '123', '45', '!!']
>>> regex.findall(GPT2_PATTERN, "Hello world's 12345!!")
['Hello', ' world', "'s", ' 12345', '!!']
"""

# GPT-2 (r50k_base): contractions, optionally space-prefixed letter/number/other runs.
# Written with possessive quantifiers, as tiktoken ships it: the same splits as the
# original ``...|\s+(?!\S)|\s+`` form, with less backtracking.
GPT2_PATTERN = r"""'(?:[sdmt]|ll|ve|re)| ?\p{L}++| ?\p{N}++| ?[^\s\p{L}\p{N}]++|\s++$|\s+(?!\S)|\s"""

# GPT-4 (cl100k_base): case-insensitive contractions, numbers in runs of at most
# three digits, and newlines kept apart from the words around them. As tiktoken
# ships it, except ``\p{N}{1,3}`` is not written possessive (``{1,3}+``): the
# Oniguruma engine in HF ``tokenizers`` reads ``{1,3}+`` as "one or more of {1,3}".
GPT4_PATTERN = (
    r"""'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}| ?[^\s\p{L}\p{N}]++[\r\n]*+|\s++$|\s*[\r\n]|\s+(?!\S)|\s"""
)

PATTERNS = {"gpt4": GPT4_PATTERN, "gpt2": GPT2_PATTERN}

ENDOFTEXT = "<|endoftext|>"

# Document separator first, then the chat roles and the end-of-turn marker.
DEFAULT_SPECIALS = (ENDOFTEXT, "<|system|>", "<|user|>", "<|assistant|>", "<|end|>")
