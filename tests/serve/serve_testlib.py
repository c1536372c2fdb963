"""Helpers for tests that run ``pocketgpt serve`` as a process (serving and eval tests)."""

from __future__ import annotations

import socket
import time

import httpx


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_healthy(proc, url: str, timeout_s: float = 90) -> None:
    """Poll ``url``/health until it answers 200; fail with the server's stderr if it exits."""
    deadline = time.time() + timeout_s
    while True:
        assert proc.poll() is None, proc.communicate()[1]
        try:
            if httpx.get(url + "/health", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        assert time.time() < deadline, "server did not come up"
        time.sleep(0.2)
