"""The chat format: conversations rendered into token ids and a loss mask.

A conversation is a list of ``{"role": "system"|"user"|"assistant", "content": str}``
messages (the OpenAI format). Format ``pocketgpt-chat-v1`` renders it as::

    <|endoftext|><|system|>SYSTEM<|end|><|user|>USER<|end|><|assistant|>ASSISTANT<|end|>

- ``<|endoftext|>`` opens every conversation: in pretraining each document follows one,
  so the model starts a conversation in the state in which it starts a document.
- No newline or space is inserted anywhere: each content string sits verbatim between
  its role token and ``<|end|>``. What you see above is exactly the token sequence.
- The system turn is optional; user and assistant turns alternate after it.
- Content is encoded with special tokens disallowed, so a user who types ``<|end|>``
  gets the characters ``<``, ``|``, ``end``... never the control token.

:func:`render` returns ``(ids, loss_mask)``; the mask is 1 exactly on each assistant
turn's content tokens and its closing ``<|end|>``. :func:`render_for_completion` ends
with ``<|assistant|>`` for generation. :func:`render_text` is the same layout as a string
(the Jinja chat template exports it).

>>> from pocketgpt.tokenizer import train
>>> tok = train(["hi there, how are you? fine."] * 4, vocab_size=270)
>>> msgs = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "fine."}]
>>> render_text(msgs)
'<|endoftext|><|user|>hi<|end|><|assistant|>fine.<|end|>'
>>> ids, mask = render(msgs, tok)
>>> tok.decode([i for i, m in zip(ids, mask) if m])  # what the loss sees
'fine.<|end|>'
"""

from __future__ import annotations

from pocketgpt.errors import UserError

FORMAT_NAME = "pocketgpt-chat-v1"
BOS = "<|endoftext|>"
END = "<|end|>"
ROLE_TOKENS = {"system": "<|system|>", "user": "<|user|>", "assistant": "<|assistant|>"}
SPECIALS = (BOS, *ROLE_TOKENS.values(), END)


def format_info() -> dict:
    """What a checkpoint records about its chat format (``config.json`` -> ``chat_format``)."""
    return {"name": FORMAT_NAME, "bos": BOS, "end": END, "roles": dict(ROLE_TOKENS), "separator": "",
            "layout": "BOS then, per message, ROLE_TOKEN + content + END; generation prompt ROLE_TOKEN[assistant]"}


def check_tokenizer(tokenizer, where: str = "tokenizer") -> None:
    """The tokenizer must have every special token the format uses."""
    missing = [s for s in SPECIALS if s not in tokenizer.special_tokens]
    if missing:
        raise UserError(f"{where}: lacks the chat special token(s) {', '.join(missing)}; the chat format "
                        f"{FORMAT_NAME} needs {', '.join(SPECIALS)} (train the tokenizer with the default specials)")


def validate(messages, where: str = "conversation", *, for_training: bool = True) -> list[dict]:
    """Check shape, roles, order and content; return the messages as plain dicts.

    ``where`` names the conversation in errors (e.g. ``"data.jsonl:12"``). Roles must be
    ``system`` (first only), then alternate ``user``, ``assistant``, ... For training the
    last turn must be the assistant's; for completion (``for_training=False``) it must
    be the user's.

    >>> validate([{"role": "assistant", "content": "hi"}], "chat.jsonl:3")
    Traceback (most recent call last):
    ...
    pocketgpt.errors.UserError: chat.jsonl:3: message 0: role 'assistant' out of order; expected 'system' or 'user' (roles alternate user/assistant after an optional leading system message)
    """
    if not isinstance(messages, list) or not messages:
        raise UserError(f"{where}: 'messages' must be a non-empty list of {{\"role\", \"content\"}} objects")
    out = []
    for i, m in enumerate(messages):
        if not isinstance(m, dict):
            raise UserError(f"{where}: message {i}: expected an object with 'role' and 'content', got {type(m).__name__}")
        role, content = m.get("role"), m.get("content")
        if role not in ROLE_TOKENS:
            raise UserError(f"{where}: message {i}: role {role!r} is not one of system, user, assistant")
        if not isinstance(content, str):
            raise UserError(f"{where}: message {i} ({role}): 'content' must be a string, got {type(content).__name__}")
        if not content.strip():
            raise UserError(f"{where}: message {i} ({role}): content is empty; every message needs text")
        prev = out[-1]["role"] if out else None
        expected = {None: ("system", "user"), "system": ("user",), "user": ("assistant",),
                    "assistant": ("user",)}[prev]
        if role not in expected:
            raise UserError(f"{where}: message {i}: role {role!r} out of order; expected "
                            f"{' or '.join(repr(e) for e in expected)} (roles alternate user/assistant after an "
                            "optional leading system message)")
        out.append({"role": role, "content": content})
    last = out[-1]["role"]
    if for_training and last != "assistant":
        raise UserError(f"{where}: ends with a {last} message; a training conversation must end with an "
                        "assistant reply")
    if not for_training and last != "user":
        raise UserError(f"{where}: ends with a {last} message; to generate a reply the last message must be the user's")
    return out


def render_text(messages, add_generation_prompt: bool = False) -> str:
    """The conversation as text in the chat format (no validation; for display and templates)."""
    parts = [BOS]
    for m in messages:
        parts += [ROLE_TOKENS[m["role"]], m["content"], END]
    if add_generation_prompt:
        parts.append(ROLE_TOKENS["assistant"])
    return "".join(parts)


def _render(messages, tokenizer) -> tuple[list[int], list[int]]:
    sid = tokenizer.special_id
    ids, mask = [sid(BOS)], [0]
    for m in messages:
        content = tokenizer.encode(m["content"], allowed_special=())  # user text never becomes control tokens
        train = 1 if m["role"] == "assistant" else 0
        ids += [sid(ROLE_TOKENS[m["role"]]), *content, sid(END)]
        mask += [0] + [train] * len(content) + [train]
    return ids, mask


def render(messages, tokenizer, where: str = "conversation") -> tuple[list[int], list[int]]:
    """``(ids, loss_mask)`` for a training conversation (validated; must end with the assistant).

    The mask is 1 on every assistant content token and the ``<|end|>`` closing it, 0 on
    the opening ``<|endoftext|>``, role tokens, and system/user turns.
    """
    check_tokenizer(tokenizer)
    return _render(validate(messages, where, for_training=True), tokenizer)


def render_for_completion(messages, tokenizer, where: str = "conversation") -> list[int]:
    """Ids of a conversation ending with a user turn, then ``<|assistant|>``, ready to generate."""
    check_tokenizer(tokenizer)
    ids, _ = _render(validate(messages, where, for_training=False), tokenizer)
    return ids + [tokenizer.special_id(ROLE_TOKENS["assistant"])]


def stop_ids(tokenizer) -> list[int]:
    """Tokens that end an assistant reply: ``<|end|>``, and ``<|endoftext|>`` for base models."""
    return [tokenizer.special_id(END), tokenizer.special_id(BOS)]
