"""Country facts from the pinned ``countryinfo`` package, and the held-out countries.

Language and currency codes are named through the ISO tables of the pinned ``pycountry``
package (:func:`iso_names`); neighbours through countryinfo's own ISO 3166 codes.

:func:`country_facts` returns ``{name: Country}`` for every country with a capital.
The SFT data (issue 6) and the capitals eval (issue 8) use it too, together with
the fixed held-out set: a country is held out when the sha256 of its name, read as
a number in [0, 1), is below 0.2 (:func:`is_held_out`). SFT data must never name a
held-out country or its capital; the eval then measures what pretraining taught.

>>> is_held_out("Spain"), is_held_out("France")
(False, False)
>>> round(_hash_unit("Spain"), 3)
0.803
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

from pocketgpt.data.packages import PINS, fetch_pinned, iter_members
from pocketgpt.errors import UserError

HELD_OUT_FRACTION = 0.2
HELD_OUT_SALT = "pocketgpt-heldout-v1:"

# countryinfo names that read badly in a sentence, and entries that duplicate another
# country or name a state that no longer exists.
RENAME = {
    "Palestine, State of": "Palestine",
    "Virgin Islands, British": "British Virgin Islands",
    "Virgin Islands, U.S.": "United States Virgin Islands",
    "Saint Martin (French part)": "Saint Martin",
    "Sint Maarten (Dutch part)": "Sint Maarten",
    "Cocos (Keeling) Islands": "Cocos Islands",
    "Vatican City State": "Vatican City",
}
DROP = {"Holy See (Vatican City State)", "Antilles néerlandaises", "Serbia and Montenegro"}

# Codes become names through the ISO databases that the pinned ``pycountry`` package ships
# (ISO 639-3 with its two-letter codes, ISO 4217), read from the archive, not imported.
# A parenthesis qualifies an ISO name ("Swahili (macrolanguage)"); a sentence reads
# better without it.
_QUALIFIER = re.compile(r"\s*\([^)]*\)")


def iso_names(archive: str | os.PathLike) -> tuple[dict[str, str], dict[str, str]]:
    """``(languages, currencies)``: ISO 639 names by two-letter code and ISO 4217 names by
    code, from pycountry's ``databases/iso639-3.json`` and ``iso4217.json``.

    >>> _QUALIFIER.sub("", "Swahili (macrolanguage)"), _QUALIFIER.sub("", "Modern Greek (1453-)")
    ('Swahili', 'Modern Greek')
    """
    tables = {}
    for member, data in iter_members(Path(archive)):
        base = member.rsplit("/", 1)[-1]
        if member.split("/")[-2:-1] == ["databases"] and base in ("iso639-3.json", "iso4217.json"):
            try:
                tables[base] = json.loads(data.decode("utf-8"))
            except (UnicodeDecodeError, json.JSONDecodeError) as e:
                raise UserError(f"{archive}: {member}: not valid JSON ({e})") from None
    if set(tables) != {"iso639-3.json", "iso4217.json"}:
        raise UserError(f"{archive}: no pycountry/databases/iso639-3.json and iso4217.json members; "
                        "is this the pycountry package?")
    try:
        languages = {d["alpha_2"]: _QUALIFIER.sub("", d["name"]) for d in tables["iso639-3.json"]["639-3"]
                     if d.get("alpha_2")}
        currencies = {d["alpha_3"]: d["name"] for d in tables["iso4217.json"]["4217"]}
    except (KeyError, TypeError) as e:
        raise UserError(f"{archive}: pycountry databases lack the expected fields ({e})") from None
    return languages, currencies


@dataclass(frozen=True)
class Country:
    """One country's facts. Missing numbers are ``None``; lists may be empty."""

    name: str
    capital: str
    region: str
    subregion: str
    population: int | None
    area_km2: float | None
    languages: tuple[str, ...]
    currencies: tuple[str, ...]
    neighbours: tuple[str, ...]
    demonym: str = ""

    @property
    def held_out(self) -> bool:
        return is_held_out(self.name)


def _hash_unit(name: str, salt: str = HELD_OUT_SALT) -> float:
    digest = hashlib.sha256((salt + name).encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


FACT_TYPES = ("language", "region", "currency", "neighbours", "demonym")  # the facts asked and taught beside the capital


def fact_values(c: Country, fact: str) -> tuple[str, ...]:
    """A country's values for one fact type; naming any of them answers a question about it.

    >>> k = Country("Kenya", "Nairobi", "Africa", "Eastern Africa", None, None, ("English", "Swahili"), (), ())
    >>> fact_values(k, "region"), fact_values(k, "neighbours")
    (('Eastern Africa', 'Africa'), ())
    """
    if fact == "language":
        return c.languages
    if fact == "region":
        return tuple(dict.fromkeys(x for x in (c.subregion, c.region) if x))
    if fact == "currency":
        return c.currencies[:1]
    if fact == "neighbours":
        return c.neighbours
    if fact == "demonym":
        return (c.demonym,) if c.demonym else ()
    raise UserError(f"facts: unknown fact type {fact!r}; expected one of {', '.join(FACT_TYPES)}")


def is_held_out(name: str, salt: str = HELD_OUT_SALT) -> bool:
    """True for the fixed ~20% of countries that SFT data must never mention. Other entities
    (the chemical elements) use the same rule with their own ``salt``."""
    return _hash_unit(name, salt) < HELD_OUT_FRACTION


def held_out_countries(countries: dict[str, Country]) -> list[str]:
    """The held-out names among ``countries``, sorted."""
    return sorted(n for n in countries if is_held_out(n))


def parse_countryinfo(archive: str | os.PathLike, iso: tuple[dict, dict]) -> dict[str, Country]:
    """Read every ``countryinfo/data/*.json`` in the package archive into :class:`Country` records.
    ``iso`` is :func:`iso_names`' ``(languages, currencies)``; a code it does not know (a
    withdrawn currency such as ``BYR``) is left out rather than guessed."""
    languages, currencies = iso
    raw = []
    for member, data in iter_members(Path(archive)):
        parts = member.split("/")
        if len(parts) >= 2 and parts[-2] == "data" and parts[-3:-2] == ["countryinfo"] and member.endswith(".json"):
            try:
                raw.append((member, json.loads(data.decode("utf-8"))))
            except (UnicodeDecodeError, json.JSONDecodeError) as e:
                raise UserError(f"{archive}: {member}: not valid JSON ({e})") from None
    if not raw:
        raise UserError(f"{archive}: no countryinfo/data/*.json members; is this the countryinfo package?")
    by_code = {d.get("ISO", {}).get("alpha3"): RENAME.get(d.get("name"), d.get("name")) for _, d in raw}
    out: dict[str, Country] = {}
    for member, d in raw:
        name, capital = d.get("name"), d.get("capital")
        if isinstance(capital, list):
            capital = capital[0] if capital else None
        if not name or not capital or name in DROP:
            continue
        name = RENAME.get(name, name)
        if name in out:
            continue
        out[name] = Country(
            name=name,
            capital=capital.strip(),
            region=d.get("region") or "",
            subregion=d.get("subregion") or "",
            population=int(d["population"]) if d.get("population") else None,
            area_km2=float(d["area"]) if d.get("area") else None,
            languages=tuple(dict.fromkeys(languages[c] for c in d.get("languages") or [] if c in languages)),
            currencies=tuple(currencies[c] for c in d.get("currencies") or [] if c in currencies),
            neighbours=tuple(by_code[c] for c in d.get("borders") or [] if by_code.get(c) and by_code[c] not in DROP),
            demonym=(d.get("demonym") or "").strip(),
        )
    return dict(sorted(out.items()))


COUNTRY_PACKAGES = ("countryinfo", "pycountry")  # what country_facts reads: the pins a manifest records


def country_facts(cache_dir: str | os.PathLike | None = None, pins: dict | None = None) -> dict[str, Country]:
    """``{name: Country}`` from the pinned countryinfo package, its codes named through the
    pinned pycountry package (both fetched into the cache once)."""
    pins = pins or PINS
    iso = iso_names(fetch_pinned("pycountry", cache_dir, pins))
    return parse_countryinfo(fetch_pinned("countryinfo", cache_dir, pins), iso)
