"""tools/ensure-browser.sh: `make test` installs Debian's Chromium when it can, else says how.

Each case runs the real script with a stand-in for what it probes (``id``, ``apt-get``)
put first on PATH, and the browser path pointed at a temp file via POCKETGPT_CHROMIUM.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "tools" / "ensure-browser.sh"


def _shim(bin_dir: Path, name: str, body: str) -> None:
    path = bin_dir / name
    path.write_text("#!/bin/sh\n" + body + "\n")
    path.chmod(0o755)


def _run(tmp_path, *, uid: int, apt: str | None, keep_path: bool = True):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    _shim(bin_dir, "id", f"echo {uid}")
    for tool in ("tail", "cat"):  # the script's own helpers, when PATH holds only the shims
        if shutil.which(tool):
            os.symlink(shutil.which(tool), bin_dir / tool)
    if apt is not None:
        _shim(bin_dir, "apt-get", apt)
    browser = tmp_path / "chromium"
    env = {"PATH": f"{bin_dir}:{os.environ['PATH']}" if keep_path else str(bin_dir),
           "POCKETGPT_CHROMIUM": str(browser), "TMPDIR": str(tmp_path)}
    done = subprocess.run(["/bin/sh", str(SCRIPT)], capture_output=True, text=True, env=env, timeout=60)
    return done, browser


def test_present_browser_is_quiet(tmp_path):
    browser = tmp_path / "chromium"
    browser.write_text("#!/bin/sh\n")
    browser.chmod(0o755)
    done = subprocess.run(["/bin/sh", str(SCRIPT)], capture_output=True, text=True,
                          env={**os.environ, "POCKETGPT_CHROMIUM": str(browser)}, timeout=60)
    assert (done.returncode, done.stdout, done.stderr) == (0, "", "")


def test_root_with_apt_installs_it(tmp_path):
    # a stand-in apt-get that "installs" the browser where the script looks for it
    done, browser = _run(tmp_path, uid=0, apt=f'[ "$1" = install ] && printf "#!/bin/sh\\n" > "{tmp_path}/chromium" '
                                                f'&& chmod +x "{tmp_path}/chromium"; exit 0')
    assert done.returncode == 0, done.stderr
    assert browser.is_file() and "installing Debian's chromium" in done.stdout


@pytest.mark.parametrize("uid, apt, keep_path, needle", [
    (1000, None, True, "not running as root"),
    (0, None, False, "no apt-get"),
    (0, "echo 'E: Unable to locate package chromium' >&2; exit 100", True, "failed"),
    (0, "exit 0", True, "did not put it there"),
])
def test_otherwise_one_paragraph_with_the_command_and_exit_1(tmp_path, uid, apt, keep_path, needle):
    done, browser = _run(tmp_path, uid=uid, apt=apt, keep_path=keep_path)
    assert done.returncode == 1 and not browser.exists()
    message = done.stderr.strip().splitlines()[-1]
    assert needle in message and str(browser) in message and "sudo apt-get install -y chromium" in message
    if "Unable" in (apt or ""):
        assert "Unable to locate package chromium" in done.stderr  # the apt log's tail is shown


def test_make_test_runs_the_check_first():
    dry = subprocess.run(["make", "-n", "test"], cwd=ROOT, capture_output=True, text=True, timeout=60).stdout
    lines = dry.splitlines()
    check = next(i for i, line in enumerate(lines) if "tools/ensure-browser.sh" in line)
    assert check < next(i for i, line in enumerate(lines) if "pytest" in line)
