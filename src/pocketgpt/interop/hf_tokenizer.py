"""Tokenizer files for Hugging Face: the chat template, tokenizer_config.json, and reading back.

Writing ``tokenizer.json`` is the tokenizer's own job (:meth:`Tokenizer.save`, see
docs/tokenizer.md). This module adds what ``AutoTokenizer`` and ``generate`` need on
top (special-token roles, the Jinja chat template, end-of-sequence ids), and reads a
Hugging Face byte-level BPE (``tokenizer.json``, or GPT-2's ``vocab.json`` +
``merges.txt``) back into a :class:`~pocketgpt.tokenizer.Tokenizer`.

The chat template renders format ``pocketgpt-chat-v1`` (:mod:`pocketgpt.chat.format`)
character for character:

>>> from jinja2 import Environment
>>> t = Environment().from_string(chat_template())
>>> t.render(messages=[{"role": "user", "content": "Hi"}], add_generation_prompt=True)
'<|endoftext|><|user|>Hi<|end|><|assistant|>'
"""

from __future__ import annotations

import json
from pathlib import Path

from pocketgpt.errors import UserError
from pocketgpt.tokenizer import ENDOFTEXT, GPT2_PATTERN, Tokenizer
from pocketgpt.tokenizer.hf import str_to_token


def chat_template() -> str:
    """Jinja source rendering our chat format; built from the format's own constants."""
    from pocketgpt.chat.format import BOS, END, ROLE_TOKENS

    roles = "".join(
        f"{{%- {'if' if i == 0 else 'elif'} message['role'] == '{role}' -%}}{{{{- '{tok}' -}}}}"
        for i, (role, tok) in enumerate(ROLE_TOKENS.items()))
    return (
        f"{{{{- '{BOS}' -}}}}"
        "{%- for message in messages -%}"
        f"{roles}"
        "{%- else -%}{{- raise_exception('role ' ~ message['role'] ~ ' is not system, user or assistant') -}}"
        "{%- endif -%}"
        "{%- if message['content'] is not string -%}"
        "{{- raise_exception('message content must be a string') -}}{%- endif -%}"
        f"{{{{- message['content'] -}}}}{{{{- '{END}' -}}}}"
        "{%- endfor -%}"
        f"{{%- if add_generation_prompt -%}}{{{{- '{ROLE_TOKENS['assistant']}' -}}}}{{%- endif -%}}"
    )


def has_chat_tokens(tok: Tokenizer) -> bool:
    from pocketgpt.chat.format import SPECIALS

    return all(s in tok.special_tokens for s in SPECIALS)


def stop_token_ids(tok: Tokenizer) -> list[int]:
    """End-of-sequence ids: ``<|end|>`` (end of a reply) when present, then ``<|endoftext|>``."""
    from pocketgpt.chat.format import END

    return [tok.special_tokens[s] for s in (END, ENDOFTEXT) if s in tok.special_tokens]


def tokenizer_config(tok: Tokenizer, *, model_max_length: int, assistant: bool) -> dict:
    """``tokenizer_config.json``: the plain fast-tokenizer class over ``tokenizer.json``.

    ``eos_token`` is ``<|end|>`` for an assistant (what ends its reply), ``<|endoftext|>``
    for a base model. Nothing is added around encoded text (no BOS/EOS), and decoding
    does not "clean up" spaces, so ids and text round-trip exactly.
    """
    from pocketgpt.chat.format import END

    if ENDOFTEXT not in tok.special_tokens:
        raise UserError(f"tokenizer: has no {ENDOFTEXT} special token; export needs it as BOS/padding")
    chat = has_chat_tokens(tok)
    others = [s for s, _ in sorted(tok.special_tokens.items(), key=lambda kv: kv[1]) if s != ENDOFTEXT]
    cfg = {
        "tokenizer_class": "PreTrainedTokenizerFast",
        "bos_token": ENDOFTEXT,
        "eos_token": END if (assistant and chat) else ENDOFTEXT,
        "pad_token": ENDOFTEXT,
        "unk_token": None,
        # transformers < 5 reads the first name, >= 5 the second.
        "additional_special_tokens": [s for s in others if s != END or not (assistant and chat)],
        "extra_special_tokens": [s for s in others if s != END or not (assistant and chat)],
        "add_bos_token": False,
        "add_eos_token": False,
        "add_prefix_space": False,
        "clean_up_tokenization_spaces": False,
        "model_max_length": model_max_length,
    }
    if chat:
        cfg["chat_template"] = chat_template()
    return cfg


def generation_config(tok: Tokenizer) -> dict:
    """``generation_config.json``: stop at ``<|end|>`` or ``<|endoftext|>``; greedy by default."""
    eot = tok.special_tokens[ENDOFTEXT]
    return {"bos_token_id": eot, "eos_token_id": stop_token_ids(tok), "pad_token_id": eot, "do_sample": False}


# -- reading ---------------------------------------------------------------------------

def read_hf_tokenizer(d: str | Path) -> tuple[Tokenizer, str]:
    """The tokenizer of a Hugging Face model directory and the file(s) it came from.

    ``tokenizer.json`` is preferred; GPT-2's ``vocab.json`` + ``merges.txt`` are the fallback.
    """
    d = Path(d)
    if (d / "tokenizer.json").is_file():
        return tokenizer_from_hf_json(d / "tokenizer.json"), "tokenizer.json"
    if (d / "vocab.json").is_file() and (d / "merges.txt").is_file():
        tok = Tokenizer.from_gpt2_files(d / "vocab.json", d / "merges.txt")
        _check_merge_order(tok.ranks, tok.merges, d / "merges.txt")
        return tok, "vocab.json + merges.txt"
    raise UserError(f"{d}: no tokenizer; expected tokenizer.json, or vocab.json and merges.txt")


def _pattern(pre, where: str) -> str:
    """The split regex of a byte-level pre-tokenizer that tiktoken can reproduce."""
    steps = pre.get("pretokenizers", []) if isinstance(pre, dict) and pre.get("type") == "Sequence" else [pre]
    pattern = None
    for step in steps:
        kind = step.get("type") if isinstance(step, dict) else None
        if kind == "Split":
            regex = (step.get("pattern") or {}).get("Regex")
            if pattern is not None or regex is None or step.get("behavior") != "Isolated" or step.get("invert"):
                raise UserError(f"{where}: pre_tokenizer Split must be a single Regex with behavior Isolated")
            pattern = regex
        elif kind == "ByteLevel":
            if step.get("add_prefix_space"):
                raise UserError(f"{where}: ByteLevel add_prefix_space=true is not supported (GPT-2 uses false)")
            if step.get("use_regex", True):
                if pattern is not None:
                    raise UserError(f"{where}: both a Split regex and ByteLevel's own regex; expected one")
                pattern = GPT2_PATTERN  # ByteLevel's built-in regex is GPT-2's
        else:
            raise UserError(f"{where}: pre_tokenizer {kind!r} is not supported; expected byte-level BPE "
                            "(ByteLevel, optionally after a Split regex)")
    if pattern is None:
        raise UserError(f"{where}: the pre_tokenizer has no split regex; expected ByteLevel or Split + ByteLevel")
    return pattern


def tokenizer_from_hf_json(path: str | Path) -> Tokenizer:
    """A :class:`Tokenizer` from a byte-level BPE ``tokenizer.json``; anything else is a UserError."""
    path = Path(path)
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
        model = doc["model"]
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise UserError(f"{path}: not valid JSON ({e})") from None
    except (KeyError, TypeError):
        raise UserError(f"{path}: no 'model' section; not a Hugging Face tokenizer.json") from None
    if not isinstance(model, dict) or model.get("type") != "BPE":
        raise UserError(f"{path}: model type {model.get('type') if isinstance(model, dict) else model!r} "
                        "is not supported; expected byte-level BPE")
    if doc.get("normalizer") is not None:
        raise UserError(f"{path}: normalizer {doc['normalizer'].get('type')!r} is not supported; expected none "
                        "(byte-level BPE as GPT-2 and pocketgpt write it)")
    for key in ("continuing_subword_prefix", "end_of_word_suffix"):
        if model.get(key):
            raise UserError(f"{path}: model.{key} {model[key]!r} is not supported")
    if model.get("byte_fallback") or model.get("dropout"):
        raise UserError(f"{path}: BPE byte_fallback/dropout is not supported")
    pattern = _pattern(doc.get("pre_tokenizer"), str(path))
    specials = {}
    for t in doc.get("added_tokens") or []:
        if not isinstance(t, dict) or not isinstance(t.get("content"), str) or not isinstance(t.get("id"), int):
            raise UserError(f"{path}: malformed added_tokens entry {t!r}")
        if not t.get("special", False):
            raise UserError(f"{path}: added token {t['content']!r} is not special; only special added tokens "
                            "are supported")
        specials[t["content"]] = t["id"]
    special_ids = set(specials.values())
    vocab = model.get("vocab")
    if not isinstance(vocab, dict):
        raise UserError(f"{path}: model.vocab must be an object mapping token strings to ids")
    ranks = {}
    for s, i in vocab.items():
        if not isinstance(i, int):
            raise UserError(f"{path}: model.vocab id of {s!r} is {i!r}, expected an integer")
        if i in special_ids:
            continue  # GPT-2 lists <|endoftext|> in both places; it is a special token
        ranks[str_to_token(s, str(path))] = i
    merges = []
    for n, m in enumerate(model.get("merges") or []):
        pair = m.split(" ") if isinstance(m, str) else m
        if not isinstance(pair, list) or len(pair) != 2:
            raise UserError(f"{path}: model.merges[{n}] is {m!r}; expected 'A B' or [A, B]")
        merges.append((str_to_token(pair[0], str(path)), str_to_token(pair[1], str(path))))
    _check_merge_order(ranks, merges, path)
    return Tokenizer(ranks, specials, pattern, merges=merges)


def _check_merge_order(ranks: dict[bytes, int], merges: list[tuple[bytes, bytes]], where) -> None:
    """Our encoder (tiktoken) merges by the id of the result; HF by merge order. They agree
    exactly when ids increase along the merge list, as in GPT-2 and our own files."""
    last = -1
    for n, (a, b) in enumerate(merges):
        r = ranks.get(a + b)
        if a not in ranks or b not in ranks or r is None:
            raise UserError(f"{where}: merge {n} ({a!r} + {b!r}) uses or makes a token missing from the vocab")
        if r <= last:
            raise UserError(f"{where}: merge {n} makes id {r} after id {last}; pocketgpt needs token ids that "
                            "increase along the merge list (as GPT-2's do)")
        last = r
    multi = sum(1 for t in ranks if len(t) > 1)
    if multi != len(merges):
        raise UserError(f"{where}: {multi} multi-byte tokens but {len(merges)} merges; every token longer than "
                        "one byte must be made by exactly one merge")
