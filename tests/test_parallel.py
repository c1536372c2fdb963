"""Worker pools: the start method's thread rule, and bounded lazy mapping."""

from __future__ import annotations

import os
import sys
import threading

from pocketgpt.parallel import bounded_imap, process_pool, start_method


def test_bounded_imap_reads_input_lazily():
    # The pre-split must not pull a streamed corpus into memory ahead of the workers.
    from multiprocessing.pool import ThreadPool

    pulled = 0

    def items():
        nonlocal pulled
        for i in range(50):
            pulled += 1
            yield i

    seen_ahead = []
    with ThreadPool(2) as pool:
        for i, r in enumerate(bounded_imap(pool, lambda x: x * x, items(), max_pending=4)):
            seen_ahead.append(pulled - i)
            assert r == i * i  # results come back in input order
    assert max(seen_ahead) <= 4


def test_fork_only_while_the_parent_has_one_thread(monkeypatch):
    linux = sys.platform.startswith("linux")
    stop = threading.Event()
    t = threading.Thread(target=stop.wait)
    t.start()
    try:
        assert start_method() == ("forkserver" if linux else "spawn")  # a second thread: forking could deadlock
    finally:
        stop.set()
        t.join()
    monitor = threading.Thread(target=lambda: None, name="tqdm_monitor")  # never started
    monkeypatch.setattr(threading, "enumerate", lambda: [threading.main_thread(), monitor])
    assert start_method() == ("fork" if linux else "spawn")  # tqdm's sleeping monitor does not count


def _set_env(name: str, value: str) -> None:
    os.environ[name] = value


def _get_env(name: str) -> str | None:
    return os.environ.get(name)


def test_process_pool_runs_the_initializer_in_every_worker():
    with process_pool(2, initializer=_set_env, initargs=("POCKETGPT_TEST_INIT", "yes")) as pool:
        got = pool.map(_get_env, ["POCKETGPT_TEST_INIT"] * 8)
    assert got == ["yes"] * 8
    assert os.environ.get("POCKETGPT_TEST_INIT") is None  # set in the workers, not here
