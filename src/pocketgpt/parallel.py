"""Worker processes for the CPU-bound stages (tokenizer pre-split, data tokenize).

Two things both stages need, written once:

- :func:`process_pool` picks the start method. ``fork`` starts a worker in
  milliseconds and the worker inherits the parent's imports; ``forkserver`` and
  ``spawn`` start a fresh interpreter that re-imports numpy, regex and tiktoken
  (~0.35 s for 2 workers here, 15% of tokenizing 20 MB). Forking is only safe
  while the parent has a single thread: a lock held by another thread at the
  moment of the fork stays locked forever in the child. So ``fork`` is used
  on Linux while the parent runs no other thread, ``forkserver`` on Linux
  otherwise, and ``spawn`` elsewhere (macOS's system libraries are not
  fork-safe). tqdm's monitor thread does not count: any process that has shown
  a bar has one, and it only sleeps on an event and takes tqdm's own lock,
  which no worker touches (workers draw no bars).
- :func:`bounded_imap` keeps a streamed corpus out of memory.
"""

from __future__ import annotations

import multiprocessing as mp
import sys
import threading
from collections import deque
from collections.abc import Iterable, Iterator


def start_method() -> str:
    """``fork`` on Linux while no other thread runs, else the safe method.

    >>> start_method() in ("fork", "forkserver", "spawn")
    True
    """
    if not sys.platform.startswith("linux"):
        return "spawn"  # macOS system libraries are not fork-safe; Windows has nothing else
    others = [t for t in threading.enumerate() if t is not threading.current_thread() and t.name != "tqdm_monitor"]
    if not others and threading.current_thread() is threading.main_thread():
        return "fork"
    return "forkserver"


def process_pool(workers: int, initializer=None, initargs: tuple = ()):
    """A ``multiprocessing.Pool`` of ``workers`` processes started by :func:`start_method`.
    Create it before starting threads of your own, so that it can fork."""
    return mp.get_context(start_method()).Pool(workers, initializer=initializer, initargs=initargs)


def bounded_imap(pool, fn, items: Iterable, max_pending: int) -> Iterator:
    """``pool.imap`` that reads ``items`` at most ``max_pending`` ahead of the results.

    ``Pool.imap`` drains its input as fast as it can, which would pull a whole
    streamed corpus into memory; this keeps memory flat. Results come in input order.
    """
    pending: deque = deque()
    for item in items:
        pending.append(pool.apply_async(fn, (item,)))
        if len(pending) >= max_pending:
            yield pending.popleft().get()
    while pending:
        yield pending.popleft().get()
