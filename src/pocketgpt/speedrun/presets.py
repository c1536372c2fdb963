"""Speedrun presets as data: ``cpu`` (25 minutes on 2 cores), ``cpu-long`` (an hour on 2 cores,
half the text general), ``gpu`` (about an hour on one GPU
over FineWeb-Edu parquet shards) and ``test`` (seconds per stage, for the test suite).

Budgets are wall time. ``total_minutes`` caps the whole run: pretraining gets what is left
after the stages before it, minus ``reserve_minutes`` kept for SFT, eval and the report.
The model shape is picked at the start of pretraining from ``candidates`` by a few seconds
of measured throughput (see :mod:`.measure`).

>>> PRESETS["cpu"].total_minutes
25.0
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from pocketgpt.errors import UserError


@dataclass
class SpeedrunConfig:
    name: str
    total_minutes: float
    reserve_minutes: float  # kept back from pretraining for chat data, SFT, eval and report
    corpus_preset: str = "speedrun"  # pocketgpt.data.default_corpus.PRESETS: the country/general mix knob
    corpus_overrides: dict = field(default_factory=dict)
    text_inputs: tuple = ()  # extra pretraining text (e.g. FineWeb-Edu parquet), used by --preset gpu
    needs_text_inputs: bool = False  # gpu: the run is meant for web text, so --data is required
    vocab_size: int = 4096
    tokenizer_chars: dict = field(default_factory=lambda: {"general": 12_000_000, "countries": 4_000_000})
    shard_workers: int = 2
    pretrain_preset: str = "cpu-tiny"  # pocketgpt.train.config.PRESETS
    pretrain_overrides: dict = field(default_factory=dict)
    candidates: tuple = ()  # model shapes, largest first: dicts of model keys
    min_tokens: int = 0  # the largest candidate expected to see this many tokens wins
    pretrain_max_steps: int = 0  # test preset: a step budget instead of wall time
    sft_minutes: float = 0.0  # 0: SFT's own budget, 5% of the pretraining tokens (same model, so 5% of the compute)
    sft_max_steps: int = 0
    sft_epochs: float = 0.0  # passes over the SFT mix instead of a share of pretraining (cpu-long)
    sft_overrides: tuple = ()
    chat_overrides: dict = field(default_factory=dict)  # pocketgpt.chat.mix.ChatMixConfig fields
    eval_tasks: str = "bpb,compression,ngram,capitals,facts,elements"
    ngram_order: int = 5  # the Kneser-Ney baseline of the ngram task
    eval_limit: int | None = None  # countries (elements) per split in capitals, facts and elements (None: all;
    # facts and elements: as many training entities as held-out ones)
    measure_seconds: float = 2.0
    seed: int = 0  # pretraining (init, data order), the SFT mix and SFT; the corpus and tokenizer do not vary


# Shapes measured in the notes on the AVX2 EPYC (fp32, batch 8 x 256): 12.2M at 1.1k tok/s,
# 4.2M at 2.6k, 2.6M at 3.9k. Exposures beat parameters at these budgets, so a bigger
# model wins only when the machine is fast enough to still show it ~3.5M tokens (the notes'
# winner saw 3.3M; held-out cloze was 50% after 2.1M).
CPU_CANDIDATES = (
    dict(n_layer=6, n_head=6, n_embd=384),
    dict(n_layer=4, n_head=4, n_embd=256),
    dict(n_layer=4, n_head=4, n_embd=192),
    dict(n_layer=4, n_head=4, n_embd=128),  # for a loaded machine: still some exposures
)

PRESETS = {
    "cpu": SpeedrunConfig(
        name="cpu", total_minutes=25.0, reserve_minutes=4.5, candidates=CPU_CANDIDATES, min_tokens=3_500_000,
        pretrain_overrides=dict(lr=3e-3, warmup_frac=0.03, min_lr_frac=0.1, eval_every=400, eval_batches=8,
                                batch_size=8, block_size=256),
        # SFT at lr 5e-4 (SFT's default is 1e-3) for 5% of the pretraining tokens, not a wall-time
        # budget: measured (docs/benchmarks.md), knowledge survives a gentler and shorter SFT, and a
        # token budget does not grow with the machine's speed (held-out 98% vs 85.6% for 1.5 minutes)
        sft_overrides=("lr=5e-4",),
    ),
    # An hour on 2 cores with half the characters general text (the ``balanced`` mix): the
    # encyclopedia still gets more tokens than in ``cpu`` (half of ~2.5x the tokens), and
    # general text about 3x as many. The 6x384 shape wins only where it sees 12M tokens.
    # SFT by passes over the mix, as many as ``cpu``'s 5% gives (~3): measured
    # (docs/benchmarks.md), 5% of cpu-long's pretraining was 7.7 passes, and the assistant then
    # answered held-out countries with training countries' facts (capitals 29%; the base: 100%).
    "cpu-long": SpeedrunConfig(
        name="cpu-long", total_minutes=60.0, reserve_minutes=7.0, corpus_preset="balanced",
        candidates=CPU_CANDIDATES, min_tokens=12_000_000,
        pretrain_overrides=dict(lr=3e-3, warmup_frac=0.03, min_lr_frac=0.1, eval_every=800, eval_batches=8,
                                batch_size=8, block_size=256),
        sft_overrides=("lr=5e-4",), sft_epochs=3.0,
    ),
    "gpu": SpeedrunConfig(
        name="gpu", total_minutes=65.0, reserve_minutes=8.0, corpus_preset="balanced", vocab_size=32768,
        tokenizer_chars={"general": 400_000_000, "countries": 20_000_000}, shard_workers=8,
        pretrain_preset="d12", min_tokens=1_000_000_000,
        candidates=(dict(n_layer=12, n_head=6, n_embd=768), dict(n_layer=8, n_head=4, n_embd=512)),
        pretrain_overrides=dict(eval_every=250, eval_batches=20), sft_overrides=("lr=5e-4",),
        needs_text_inputs=True,
    ),
    "test": SpeedrunConfig(
        name="test", total_minutes=5.0, reserve_minutes=0.5, vocab_size=320,
        tokenizer_chars={"general": 200_000, "countries": 100_000}, shard_workers=1,
        candidates=(dict(n_layer=1, n_head=2, n_embd=32),),
        pretrain_overrides=dict(block_size=64, batch_size=4, eval_every=10, eval_batches=2, lr=3e-3),
        pretrain_max_steps=12, sft_max_steps=6, eval_limit=2, measure_seconds=0.2, ngram_order=3,
        chat_overrides=dict(capital_chains=5, greeting_wraps=3, identity_copies=1),
    ),
}


def get_preset(name: str, **overrides) -> SpeedrunConfig:
    if name not in PRESETS:
        raise UserError(f"--preset: unknown speedrun preset {name!r}; expected one of {', '.join(PRESETS)}")
    minutes = overrides.get("total_minutes")
    if minutes is not None and not minutes > 0:  # checked now, not after the data stages have run
        raise UserError(f"--minutes: must be > 0, got {minutes:g}")
    seed = overrides.get("seed")
    if seed is not None and not (isinstance(seed, int) and 0 <= seed < 2**31):
        raise UserError(f"--seed: expected a whole number from 0 to {2**31 - 1}, got {seed!r}")
    return replace(PRESETS[name], **{k: v for k, v in overrides.items() if v is not None})


GPU_DATA_HELP = (
    "--preset gpu pretrains on web text besides the default corpus, and pocketgpt never downloads it: "
    "pass --data with FineWeb-style parquet shards, files, directories or globs whose parquet files have a "
    "string column 'text' (one document per row; other columns are ignored). For example the files "
    "sample/10BT/000_00000.parquet, 001_00000.parquet, ... of the Hugging Face dataset HuggingFaceFW/fineweb-edu, "
    "fetched with `huggingface-cli download HuggingFaceFW/fineweb-edu --repo-type dataset --include "
    "'sample/10BT/00[0-1]_00000.parquet' --local-dir /data/fineweb-edu`; about 1.5-2 GB of parquet gives the "
    "~1B tokens the preset aims for. Then: pocketgpt speedrun --preset gpu --data "
    "/data/fineweb-edu/sample/10BT/*.parquet (docs/speedrun.md)"
)


def check_text_inputs(cfg: SpeedrunConfig) -> None:
    """Before any stage runs: a preset that needs ``--data`` has it, and every file it names
    exists and, if parquet, has a string ``text`` column."""
    if cfg.needs_text_inputs and not cfg.text_inputs:
        raise UserError(GPU_DATA_HELP)
    from pocketgpt.data.sources import parse_source, read_parquet_schema

    for spec in cfg.text_inputs:
        for path in parse_source(spec).files():
            if path.name.endswith(".parquet"):
                schema = read_parquet_schema(path)
                if "text" not in schema.names:
                    raise UserError(f"--data {path}: no column 'text' (columns: {', '.join(schema.names)}); "
                                    "expected FineWeb-style parquet with the document text in 'text'")
