"""Data: sources, the default corpus, token shards and the loader.

>>> from pocketgpt.data import ShardLoader, read_shard_index, check_tokenizer, tokenize_to_shards
>>> from pocketgpt.data import tokenize_part, merge_parts  # one worker's share; its parts as one dataset

``ShardLoader`` (which needs torch) is imported on first use, so the tokenize worker
processes, which import this package, start without loading torch.
"""

from pocketgpt.data.parts import merge_parts, tokenize_part
from pocketgpt.data.shards import check_tokenizer, read_shard_index, tokenize_to_shards
from pocketgpt.data.sources import DocumentList, Source, SourceReport, iter_documents, parse_source

__all__ = [
    "DocumentList",
    "ShardLoader",
    "Source",
    "SourceReport",
    "check_tokenizer",
    "iter_documents",
    "merge_parts",
    "parse_source",
    "read_shard_index",
    "tokenize_part",
    "tokenize_to_shards",
]


def __getattr__(name: str):
    if name == "ShardLoader":
        from pocketgpt.data.loader import ShardLoader

        return ShardLoader
    raise AttributeError(f"module 'pocketgpt.data' has no attribute {name!r}")
