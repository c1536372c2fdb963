"""Data: sources, the default corpus, token shards and the loader.

>>> from pocketgpt.data import ShardLoader, read_shard_index, check_tokenizer, tokenize_to_shards
"""

from pocketgpt.data.loader import ShardLoader
from pocketgpt.data.shards import check_tokenizer, read_shard_index, tokenize_to_shards
from pocketgpt.data.sources import DocumentList, Source, SourceReport, iter_documents, parse_source

__all__ = [
    "DocumentList",
    "ShardLoader",
    "Source",
    "SourceReport",
    "check_tokenizer",
    "iter_documents",
    "parse_source",
    "read_shard_index",
    "tokenize_to_shards",
]
