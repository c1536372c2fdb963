"""Country facts from the pinned ``countryinfo`` package, and the held-out countries.

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

LANGUAGES = dict(item.split("=") for item in (
    "af=Afrikaans am=Amharic ar=Arabic ay=Aymara az=Azerbaijani be=Belarusian bg=Bulgarian bi=Bislama "
    "bn=Bengali bs=Bosnian ca=Catalan ch=Chamorro cnr=Montenegrin cs=Czech da=Danish de=German dv=Dhivehi "
    "dz=Dzongkha el=Greek en=English es=Spanish et=Estonian fa=Persian ff=Fula fi=Finnish fj=Fijian "
    "fo=Faroese fr=French ga=Irish gn=Guaraní gv=Manx he=Hebrew hi=Hindi hr=Croatian ht=Haitian_Creole "
    "hu=Hungarian hy=Armenian id=Indonesian is=Icelandic it=Italian ja=Japanese ka=Georgian kg=Kongo "
    "kk=Kazakh kl=Greenlandic km=Khmer ko=Korean ku=Kurdish ky=Kyrgyz la=Latin lb=Luxembourgish "
    "ln=Lingala lo=Lao lt=Lithuanian lu=Luba-Katanga lv=Latvian mg=Malagasy mh=Marshallese mi=Māori "
    "mk=Macedonian mn=Mongolian ms=Malay mt=Maltese my=Burmese na=Nauruan nb=Norwegian_Bokmål "
    "nd=Northern_Ndebele ne=Nepali nl=Dutch nn=Norwegian_Nynorsk no=Norwegian nr=Southern_Ndebele "
    "ny=Chichewa oc=Occitan pa=Punjabi pl=Polish ps=Pashto pt=Portuguese qu=Quechua rn=Kirundi "
    "ro=Romanian rs=Serbian ru=Russian rw=Kinyarwanda sg=Sango si=Sinhala sk=Slovak sl=Slovene "
    "sm=Samoan sn=Shona so=Somali sq=Albanian sr=Serbian ss=Swazi st=Sotho sv=Swedish sw=Swahili "
    "ta=Tamil tg=Tajik th=Thai ti=Tigrinya tk=Turkmen tn=Tswana to=Tongan tr=Turkish ts=Tsonga "
    "uk=Ukrainian ur=Urdu uz=Uzbek ve=Venda vi=Vietnamese xh=Xhosa zh=Chinese zu=Zulu"
).split())
LANGUAGES = {k: v.replace("_", " ") for k, v in LANGUAGES.items()}

CURRENCIES = dict(item.split("=") for item in (
    "AED=UAE_dirham AFN=Afghan_afghani ALL=Albanian_lek AMD=Armenian_dram AOA=Angolan_kwanza "
    "ARS=Argentine_peso AUD=Australian_dollar AWG=Aruban_florin AZN=Azerbaijani_manat "
    "BAM=convertible_mark BBD=Barbadian_dollar BDT=Bangladeshi_taka BGN=Bulgarian_lev "
    "BHD=Bahraini_dinar BIF=Burundian_franc BMD=Bermudian_dollar BND=Brunei_dollar "
    "BOB=Bolivian_boliviano BRL=Brazilian_real BSD=Bahamian_dollar BTN=Bhutanese_ngultrum "
    "BWP=Botswana_pula BYR=Belarusian_ruble BZD=Belize_dollar CAD=Canadian_dollar CDF=Congolese_franc "
    "CHF=Swiss_franc CLP=Chilean_peso CNY=Chinese_yuan COP=Colombian_peso CRC=Costa_Rican_colón "
    "CUC=Cuban_convertible_peso CUP=Cuban_peso CVE=Cape_Verdean_escudo CZK=Czech_koruna "
    "DJF=Djiboutian_franc DKK=Danish_krone DOP=Dominican_peso DZD=Algerian_dinar EGP=Egyptian_pound "
    "ERN=Eritrean_nakfa ETB=Ethiopian_birr EUR=euro FJD=Fijian_dollar FKP=Falkland_Islands_pound "
    "GBP=pound_sterling GEL=Georgian_lari GHS=Ghanaian_cedi GIP=Gibraltar_pound GMD=Gambian_dalasi "
    "GNF=Guinean_franc GTQ=Guatemalan_quetzal GYD=Guyanese_dollar HKD=Hong_Kong_dollar "
    "HNL=Honduran_lempira HRK=Croatian_kuna HTG=Haitian_gourde HUF=Hungarian_forint "
    "IDR=Indonesian_rupiah ILS=Israeli_new_shekel INR=Indian_rupee IQD=Iraqi_dinar IRR=Iranian_rial "
    "ISK=Icelandic_króna JMD=Jamaican_dollar JOD=Jordanian_dinar JPY=Japanese_yen KES=Kenyan_shilling "
    "KGS=Kyrgyz_som KHR=Cambodian_riel KMF=Comorian_franc KPW=North_Korean_won KRW=South_Korean_won "
    "KWD=Kuwaiti_dinar KYD=Cayman_Islands_dollar KZT=Kazakhstani_tenge LAK=Lao_kip LBP=Lebanese_pound "
    "LKR=Sri_Lankan_rupee LRD=Liberian_dollar LSL=Lesotho_loti LYD=Libyan_dinar MAD=Moroccan_dirham "
    "MDL=Moldovan_leu MGA=Malagasy_ariary MKD=Macedonian_denar MMK=Burmese_kyat MNT=Mongolian_tögrög "
    "MOP=Macanese_pataca MRO=Mauritanian_ouguiya MUR=Mauritian_rupee MVR=Maldivian_rufiyaa "
    "MWK=Malawian_kwacha MXN=Mexican_peso MYR=Malaysian_ringgit MZN=Mozambican_metical "
    "NAD=Namibian_dollar NGN=Nigerian_naira NIO=Nicaraguan_córdoba NOK=Norwegian_krone "
    "NPR=Nepalese_rupee NZD=New_Zealand_dollar OMR=Omani_rial PAB=Panamanian_balboa PEN=Peruvian_sol "
    "PGK=Papua_New_Guinean_kina PHP=Philippine_peso PKR=Pakistani_rupee PLN=Polish_złoty "
    "PYG=Paraguayan_guaraní QAR=Qatari_riyal RON=Romanian_leu RSD=Serbian_dinar RUB=Russian_ruble "
    "RWF=Rwandan_franc SAR=Saudi_riyal SBD=Solomon_Islands_dollar SCR=Seychellois_rupee "
    "SDG=Sudanese_pound SEK=Swedish_krona SGD=Singapore_dollar SHP=Saint_Helena_pound "
    "SLL=Sierra_Leonean_leone SOS=Somali_shilling SRD=Surinamese_dollar SSP=South_Sudanese_pound "
    "STD=São_Tomé_and_Príncipe_dobra SVC=Salvadoran_colón SYP=Syrian_pound SZL=Swazi_lilangeni "
    "THB=Thai_baht TJS=Tajikistani_somoni TMT=Turkmenistan_manat TND=Tunisian_dinar TOP=Tongan_paʻanga "
    "TRY=Turkish_lira TTD=Trinidad_and_Tobago_dollar TWD=New_Taiwan_dollar TZS=Tanzanian_shilling "
    "UAH=Ukrainian_hryvnia UGX=Ugandan_shilling USD=United_States_dollar UYU=Uruguayan_peso "
    "UZS=Uzbekistani_som VEF=Venezuelan_bolívar VND=Vietnamese_đồng VUV=Vanuatu_vatu WST=Samoan_tālā "
    "XAF=Central_African_CFA_franc XCD=East_Caribbean_dollar XOF=West_African_CFA_franc XPF=CFP_franc "
    "YER=Yemeni_rial ZAR=South_African_rand ZMK=Zambian_kwacha"
).split())
CURRENCIES = {k: v.replace("_", " ") for k, v in CURRENCIES.items()}


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

    @property
    def held_out(self) -> bool:
        return is_held_out(self.name)


def _hash_unit(name: str) -> float:
    digest = hashlib.sha256((HELD_OUT_SALT + name).encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


FACT_TYPES = ("language", "region", "currency", "neighbours")  # the facts asked and taught beside the capital


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
    raise UserError(f"facts: unknown fact type {fact!r}; expected one of {', '.join(FACT_TYPES)}")


def is_held_out(name: str) -> bool:
    """True for the fixed ~20% of countries that SFT data must never mention."""
    return _hash_unit(name) < HELD_OUT_FRACTION


def held_out_countries(countries: dict[str, Country]) -> list[str]:
    """The held-out names among ``countries``, sorted."""
    return sorted(n for n in countries if is_held_out(n))


def parse_countryinfo(archive: str | os.PathLike) -> dict[str, Country]:
    """Read every ``countryinfo/data/*.json`` in the package archive into :class:`Country` records."""
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
            languages=tuple(LANGUAGES.get(c, c) for c in d.get("languages") or []),
            currencies=tuple(CURRENCIES[c] for c in d.get("currencies") or [] if c in CURRENCIES),
            neighbours=tuple(by_code[c] for c in d.get("borders") or [] if by_code.get(c) and by_code[c] not in DROP),
        )
    return dict(sorted(out.items()))


def country_facts(cache_dir: str | os.PathLike | None = None, pins: dict | None = None) -> dict[str, Country]:
    """``{name: Country}`` from the pinned countryinfo package (fetched into the cache once)."""
    return parse_countryinfo(fetch_pinned("countryinfo", cache_dir, pins or PINS))
