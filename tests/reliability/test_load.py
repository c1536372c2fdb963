"""The load run from the issue: 32 clients for 60 s, mixed streaming and plain; no errors, no leak.

Slow (about two minutes with warm-up and the unloaded baseline); benchmarks/serve_load.py
prints the figures in docs/benchmarks.md. The script itself fails on any error, an
incomplete reply, an unhealthy server afterwards or RSS growth over 10%.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "serve_load.py"


@pytest.mark.slow
def test_thirty_two_clients_for_sixty_seconds():
    r = subprocess.run([sys.executable, str(SCRIPT), "--clients", "32", "--seconds", "60"], capture_output=True,
                       text=True, timeout=900)
    assert r.returncode == 0, r.stdout + r.stderr
    line = next(ln for ln in r.stdout.splitlines() if ln.startswith("load:"))
    assert "errors 0" in line and "healthy True" in line
    print("\n" + line)

