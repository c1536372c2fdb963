"""Stand-in packages for the chat tests (imported by name; conftest puts this folder on sys.path)."""

from __future__ import annotations


def _country(name, capital, alpha3):
    return {"name": name, "capital": capital, "region": "Somewhere", "subregion": "", "population": 1000,
            "area": 10, "languages": ["en"], "currencies": ["EUR"], "borders": [], "ISO": {"alpha3": alpha3},
            "demonym": name + "ish"}


# Held out (pocketgpt.data.countries.is_held_out): Chad, Guinea, Canada, China, Cameroon.
STAND_IN_COUNTRIES = [
    _country("France", "Paris", "FRA"), _country("Spain", "Madrid", "ESP"), _country("Japan", "Tokyo", "JPN"),
    _country("Peru", "Lima", "PER"), _country("Italy", "Rome", "ITA"),
    _country("Papua New Guinea", "Port Moresby", "PNG"),  # a training name containing a held-out one
    _country("Chad", "N'Djamena", "TCD"), _country("Guinea", "Conakry", "GIN"),
    _country("Canada", "Ottawa", "CAN"), _country("China", "Beijing", "CHN"), _country("Cameroon", "Yaoundé", "CMR"),
]

CHATTERBOT_EN = {
    "greetings.yml": """categories:
- greetings
conversations:
- - Hello
  - Hi
- - How are you doing?
  - I am doing well, how about you?
  - I am also good.
  - That's good to hear.
- - Good morning, how are you?
  - I am doing well, how about you?
  - I'm also good.
""",
    "ai.yml": """categories:
- AI
conversations:
- - What is your name?
  - My name is ChatterBot.
- - What language are you written in?
  - Python.
- - Who are you?
  - I am a bot.
""",
    "trivia.yml": """categories:
- trivia
conversations:
- - What is the capital of china?
  - beijing
- - Have you been to Yaounde?
  - Not yet.
- - Who wrote Hamlet?
  - Shakespeare.
- - Which gas glows in red signs?
  - NEON.
- - 42
  - 7
""",
    "long.yml": "categories:\n- long\nconversations:\n" + "".join(
        f"{'- -' if i == 0 else '  -'} turn {i}\n" for i in range(11)),
}


def make_chat_stand_ins(cache):
    """Stand-in countryinfo, pycountry, mendeleev and chatterbot-corpus wheels in ``cache``; returns pins for them."""
    import json
    import zipfile
    from pathlib import Path

    from dataclasses import replace

    from data_testlib import mendeleev_wheel  # the data tests' stand-in (conftest puts tests/data on sys.path)

    from pocketgpt.data.packages import PINS, package_folder
    from pocketgpt.fsio import sha256_file

    pins = dict(PINS)

    def place(name, files):
        pin = PINS[name]
        folder = package_folder(cache, pin.name, pin.version)
        folder.mkdir(parents=True, exist_ok=True)
        if callable(files):
            files(folder / pin.filename)
        else:
            with zipfile.ZipFile(folder / pin.filename, "w") as z:
                for member, text in files.items():
                    z.writestr(zipfile.ZipInfo(member, (1980, 1, 1, 0, 0, 0)), text)
        pins[name] = replace(pin, sha256=sha256_file(folder / pin.filename))

    place("countryinfo", {f"countryinfo/data/{c['name'].lower().replace(' ', '_')}.json": json.dumps(c)
                          for c in STAND_IN_COUNTRIES})
    place("pycountry", {
        "pycountry/databases/iso639-3.json": json.dumps({"639-3": [{"alpha_2": "en", "name": "English"}]}),
        "pycountry/databases/iso4217.json": json.dumps({"4217": [{"alpha_3": "EUR", "name": "Euro"}]})})
    files = {f"chatterbot_corpus/data/english/{k}": v for k, v in CHATTERBOT_EN.items()}
    files["chatterbot_corpus/data/french/greetings.yml"] = "conversations:\n- - Bonjour\n  - Salut\n"
    place("chatterbot-corpus", files)
    place("mendeleev", mendeleev_wheel)
    return pins
