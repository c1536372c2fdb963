"""The checkpoints a server holds: weights, tokenizer and what kind of model each is.

>>> unique_ids(["runs/base", "other/base", "runs/sft"])
['base', 'base-2', 'sft']
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from pocketgpt.errors import UserError


@dataclass
class ServedModel:
    """One loaded checkpoint. ``assistant`` is True for an SFT (chat) checkpoint."""

    id: str
    model: object
    tokenizer: object
    assistant: bool
    path: Path
    step: int | None = None
    block_size: int = 0
    chat_ready: bool = False  # the tokenizer has every special token of the chat format
    meta: dict = field(default_factory=dict)

    def describe(self) -> dict:
        """The ``/v1/models`` entry: OpenAI's fields plus what the UI shows."""
        cfg = self.model.config
        return {
            "id": self.id, "object": "model", "created": int(self.meta.get("created", 0)), "owned_by": "pocketgpt",
            "kind": "assistant" if self.assistant else "base", "chat_ready": self.chat_ready,
            "context_length": self.block_size, "vocab_size": self.tokenizer.vocab_size,
            "parameters": self.model.num_params(), "arch": cfg.arch, "n_layer": cfg.n_layer,
            "n_embd": cfg.n_embd, "step": self.step, "checkpoint": str(self.path),
        }


def unique_ids(paths: list[str]) -> list[str]:
    """A short id per checkpoint: its run directory's name, made unique with -2, -3..."""
    ids: list[str] = []
    for p in paths:
        named = "=" in p and not Path(p).exists()
        base = p.split("=", 1)[0] if named else Path(p).resolve().name
        if not named and base.startswith("step_"):
            base = Path(p).resolve().parent.parent.name or base
        name, n = base, 2
        while name in ids:
            name, n = f"{base}-{n}", n + 1
        ids.append(name)
    return ids


def _is_assistant(ckpt_path: Path) -> bool:
    try:
        return bool(json.loads((ckpt_path / "config.json").read_text()).get("assistant"))
    except (OSError, json.JSONDecodeError):
        return False


def load_served_model(spec: str, model_id: str, device: str = "cpu") -> ServedModel:
    """Load ``spec`` (``RUN_DIR``, one checkpoint, or ``NAME=RUN_DIR``) for serving."""
    from pocketgpt.chat.format import SPECIALS
    from pocketgpt.train.checkpoint import load_checkpoint

    path = spec.split("=", 1)[1] if "=" in spec and not Path(spec).exists() else spec
    model, tokenizer, info = load_checkpoint(path, map_location=device)
    if tokenizer is None:
        raise UserError(f"--checkpoint {spec}: the checkpoint has no tokenizer/ directory; the server needs it "
                        "to turn text into ids")
    if tokenizer.vocab_size > model.config.vocab_size:
        raise UserError(f"--checkpoint {spec}: tokenizer has {tokenizer.vocab_size} ids but the model only "
                        f"{model.config.vocab_size}; they do not belong together")
    ckpt = Path(info["path"])
    return ServedModel(
        id=model_id, model=model, tokenizer=tokenizer, assistant=_is_assistant(ckpt), path=ckpt,
        step=info.get("step"), block_size=model.config.block_size,
        chat_ready=all(s in tokenizer.special_tokens for s in SPECIALS),
        meta={"created": ckpt.stat().st_mtime},
    )
