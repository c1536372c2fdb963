"""Training configuration: one dataclass, presets as data, TOML files and overrides.

Precedence, lowest first: dataclass defaults, the preset, ``--config FILE.toml``,
then ``key=value`` overrides. Model keys may be given flat (``n_layer=6``) or under
``model.`` (``model.n_layer=6``, or a ``[model]`` table in TOML).

>>> cfg = build_config("cpu-tiny", overrides=["lr=1e-3", "model.n_layer=2"])
>>> cfg.lr, cfg.model["n_layer"]
(0.001, 2)
"""

from __future__ import annotations

import ast
import dataclasses
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from pocketgpt.errors import UserError
from pocketgpt.model import GPTConfig

MODEL_KEYS = tuple(f.name for f in dataclasses.fields(GPTConfig))


@dataclass
class TrainConfig:
    """Everything a run needs besides data and output paths.

    ``model`` holds GPTConfig keyword arguments; ``vocab_size`` is taken from the
    shards (rounded up to ``vocab_multiple``) unless given. ``batch_size`` is per
    process; ``tokens_per_step`` (global) sets gradient accumulation; 0 means one
    micro-batch per step. Budgets (``max_steps``, ``max_tokens``, ``max_minutes``;
    0 = unset) also set the LR schedule's horizon: progress is the largest of the
    fractions used so far.
    """

    model: dict = field(default_factory=dict)
    vocab_multiple: int = 64
    batch_size: int = 8
    tokens_per_step: int = 0
    max_steps: int = 0
    max_tokens: int = 0
    max_minutes: float = 0.0
    optimizer: str = "adamw"  # "adamw" or "muon" (Muon for hidden 2-D weights, AdamW for the rest)
    lr: float = 3e-3
    min_lr_frac: float = 0.1
    weight_decay: float = 0.1
    beta1: float = 0.9
    beta2: float = 0.95
    grad_clip: float = 1.0
    muon_lr: float = 0.02
    muon_momentum: float = 0.95
    schedule: str = "cosine"  # "cosine" or "wsd" (warmup-stable-decay)
    warmup_frac: float = 0.03
    decay_frac: float = 0.2  # wsd: final fraction of the run spent decaying
    dtype: str = "auto"  # "auto", "float32" or "bfloat16" (autocast; master weights stay fp32)
    compile: bool = False
    device: str = "auto"
    fsdp: bool = False
    seed: int = 0
    eval_every: int = 100
    eval_batches: int = 8
    log_every: int = 10
    keep_last: int = 2
    wandb: bool = False

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def model_config(self, vocab_size: int | None = None) -> GPTConfig:
        types = {f.name: f.type for f in dataclasses.fields(GPTConfig)}
        kw = {}
        for k, v in self.model.items():
            if k not in types:
                raise UserError(f"config model.{k}: unknown model key; valid model keys: {', '.join(MODEL_KEYS)}")
            nullable = "None" in types[k]
            kw[k] = v if (v is None and nullable) else _coerce(f"model.{k}", v, types[k].split(" |")[0])
        if "vocab_size" not in kw and vocab_size is not None:
            m = max(1, self.vocab_multiple)
            kw["vocab_size"] = -(-vocab_size // m) * m
        return GPTConfig.from_dict(kw)

    def validate(self) -> None:
        def bad(key, why):
            raise UserError(f"config {key}: {why}")

        if self.optimizer not in ("adamw", "muon"):
            bad("optimizer", f"unknown optimizer {self.optimizer!r}; expected adamw or muon")
        if self.schedule not in ("cosine", "wsd"):
            bad("schedule", f"unknown schedule {self.schedule!r}; expected cosine or wsd")
        if self.dtype not in ("auto", "float32", "bfloat16"):
            bad("dtype", f"unknown dtype {self.dtype!r}; expected auto, float32 or bfloat16")
        for key in ("batch_size", "eval_every", "eval_batches", "log_every", "keep_last"):
            if getattr(self, key) < 1:
                bad(key, f"must be >= 1, got {getattr(self, key)}")
        for key in ("max_steps", "max_tokens", "max_minutes", "tokens_per_step", "lr"):
            if getattr(self, key) < 0:
                bad(key, f"must be >= 0, got {getattr(self, key)}")
        if not (self.max_steps or self.max_tokens or self.max_minutes):
            bad("max_steps", "no budget: set max_steps, max_tokens or max_minutes")
        if not 0 <= self.warmup_frac < 1 or not 0 <= self.decay_frac <= 1:
            bad("warmup_frac", "warmup_frac must be in [0, 1) and decay_frac in [0, 1]")
        self.model_config(vocab_size=self.model.get("vocab_size", 256))  # shape errors surface now


# Presets are data: each is a set of overrides on the TrainConfig defaults.
# cpu-tiny: 4 x 192, measured best for the 2-core speedrun (docs/training.md).
PRESETS: dict[str, dict] = {
    "cpu-tiny": dict(
        model=dict(arch="modern", n_layer=4, n_head=4, n_embd=192, block_size=256),
        batch_size=8, lr=3e-3, warmup_frac=0.03, min_lr_frac=0.1, max_minutes=10.0,
        eval_every=200, eval_batches=8, log_every=10, dtype="auto",
    ),
    "gpt2-124m": dict(
        model=dict(arch="gpt2", n_layer=12, n_head=12, n_embd=768, block_size=1024),
        batch_size=16, tokens_per_step=524288, lr=6e-4, warmup_frac=0.04, min_lr_frac=0.1,
        max_tokens=10_000_000_000, eval_every=250, eval_batches=20, dtype="auto",
    ),
    "d12": dict(
        model=dict(arch="modern", n_layer=12, n_head=6, n_embd=768, block_size=2048, tie_embeddings=False),
        batch_size=16, tokens_per_step=524288, optimizer="muon", lr=3e-3, muon_lr=0.02,
        schedule="wsd", warmup_frac=0.01, decay_frac=0.2, max_tokens=2_500_000_000,
        eval_every=250, eval_batches=20, dtype="auto",
    ),
    "d20": dict(
        model=dict(arch="modern", n_layer=20, n_head=10, n_kv_head=5, n_embd=1280, block_size=2048,
                   tie_embeddings=False),
        batch_size=16, tokens_per_step=524288, optimizer="muon", lr=3e-3, muon_lr=0.02,
        schedule="wsd", warmup_frac=0.01, decay_frac=0.2, max_tokens=11_000_000_000,
        eval_every=250, eval_batches=20, dtype="auto",
    ),
}

TRAIN_KEYS = tuple(f.name for f in dataclasses.fields(TrainConfig) if f.name != "model")


def _parse_value(text: str):
    low = text.lower()
    if low in ("true", "false"):
        return low == "true"
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def _apply(base: dict, updates: dict, where: str) -> None:
    for key, value in updates.items():
        if key == "model":
            if not isinstance(value, dict):
                raise UserError(f"{where}: 'model' must be a table of model keys")
            for k, v in value.items():
                _apply(base, {f"model.{k}": v}, where)
            continue
        name = key.removeprefix("model.")
        if key.startswith("model.") or (name in MODEL_KEYS and name not in TRAIN_KEYS):
            if name not in MODEL_KEYS:
                raise UserError(f"{where}: unknown model key {name!r}; valid model keys: {', '.join(MODEL_KEYS)}")
            base["model"][name] = value
        elif key in TRAIN_KEYS:
            base[key] = value
        else:
            raise UserError(f"{where}: unknown config key {key!r}; valid keys: {', '.join(TRAIN_KEYS)}, "
                            f"and model keys {', '.join(MODEL_KEYS)}")


def build_config(preset: str, config_file: str | Path | None = None, overrides: list[str] | tuple = (),
                 flags: dict | None = None) -> TrainConfig:
    """Resolve a preset, an optional TOML file, ``key=value`` overrides and CLI flags."""
    if preset not in PRESETS:
        raise UserError(f"--preset: unknown preset {preset!r}; valid presets: {', '.join(PRESETS)}")
    p = PRESETS[preset]
    base = {**TrainConfig().to_dict(), **{k: v for k, v in p.items() if k != "model"}}
    base["model"] = dict(p.get("model", {}))
    cfg = TrainConfig(**apply_user_settings(base, config_file, overrides, flags))
    cfg.validate()
    return cfg


def apply_user_settings(base: dict, config_file: str | Path | None = None, overrides=(),
                        flags: dict | None = None) -> dict:
    """Lay the user's settings (:func:`user_layers`) over ``base``, a ``TrainConfig``
    dict with a ``model`` table, checking every key and coercing each train key to
    its field's type. Returns ``base``, updated.

    >>> base = {**TrainConfig().to_dict(), "model": {}}
    >>> out = apply_user_settings(base, overrides=["lr=1e-3", "n_layer=2"])
    >>> out["lr"], out["model"]
    (0.001, {'n_layer': 2})
    """
    for data, where in user_layers(config_file, overrides, flags):
        _apply(base, data, where)
    types = {f.name: f.type for f in dataclasses.fields(TrainConfig)}
    for key in TRAIN_KEYS:
        base[key] = _coerce(key, base[key], types[key])
    return base


def user_layers(config_file: str | Path | None, overrides, flags: dict | None) -> list[tuple[dict, str]]:
    """What the user set, lowest priority first: a TOML file, ``KEY=VALUE`` overrides, then
    CLI flags. Each layer is ``(values, where)``; ``where`` names it in error messages.

    >>> user_layers(None, ["lr=1e-3"], {"max_steps": 5, "dtype": None})
    [({'lr': 0.001}, "override 'lr=1e-3'"), ({'max_steps': 5}, 'command line')]
    """
    layers = []
    if config_file is not None:
        path = Path(config_file)
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise UserError(f"--config {path}: no such file") from None
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
            raise UserError(f"{path}: not valid TOML ({e})") from None
        data.pop("preset", None)
        layers.append((data, str(path)))
    for item in overrides:
        if "=" not in item:
            raise UserError(f"override {item!r}: expected KEY=VALUE, e.g. lr=1e-3 or n_layer=6")
        key, _, value = item.partition("=")
        layers.append(({key.strip(): _parse_value(value.strip())}, f"override {item!r}"))
    layers.append(({k: v for k, v in (flags or {}).items() if v is not None}, "command line"))
    return layers


def _coerce(key: str, value, type_name: str):
    try:
        if type_name == "int" and not isinstance(value, bool):
            if isinstance(value, float) and not value.is_integer():
                raise ValueError
            return int(value)
        if type_name == "float" and not isinstance(value, bool):
            return float(value)
        if type_name == "bool" and isinstance(value, bool):
            return value
        if type_name == "str" and isinstance(value, str):
            return value
    except (TypeError, ValueError):
        pass
    raise UserError(f"config {key}: expected {type_name}, got {value!r}")
