"""``Conversation``: one conversation's messages, where it came from, and its other keys.

The record every conversation reader makes: :mod:`.data` for chat JSON Lines,
:mod:`.oasst` for OpenAssistant trees, :mod:`.mix` for the default SFT mix. It sits
below them so that :mod:`.data` can dispatch to the importers without a cycle.

>>> c = Conversation([{"role": "user", "content": "Hi"}], "chat.jsonl:1", {"source": "demo"})
>>> c.to_json()
'{"messages": [{"role": "user", "content": "Hi"}], "source": "demo"}'
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field


@dataclass
class Conversation:
    """One conversation; ``where`` says where it came from (``file:line``) for errors."""

    messages: list[dict]
    where: str = ""
    meta: dict = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps({"messages": self.messages, **self.meta}, ensure_ascii=False)
