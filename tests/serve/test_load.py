"""The load run from the issue: 16 concurrent streaming clients for ~30 s on a tiny model.

Slow (about a minute with startup); the same script prints the TTFT numbers in docs/benchmarks.md.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "serve_ttft.py"


@pytest.mark.slow
def test_sixteen_streaming_clients_for_thirty_seconds():
    r = subprocess.run([sys.executable, str(SCRIPT), "--clients", "16", "--seconds", "30", "--skip-baseline"],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr
    line = next(ln for ln in r.stdout.splitlines() if ln.startswith("batched"))
    assert "errors 0" in line and "incomplete 0" in line and "healthy True" in line
