"""``pocketgpt speedrun``: raw text to a chatting assistant and its report card, one command.

Stages, in order, each writing one thing under ``--out`` (default ``runs/speedrun``)::

    corpus     corpus/          the default corpus (pinned packages) + countries.json, facts.json, elements.json
    tokenizer  tokenizer/       byte-level BPE trained on a sample of the corpus
    shards     shards/          train/val token shards
    pretrain   base/            the base model (the model shape is picked by measurement)
    chat       chat/            the default SFT conversations (no held-out country in them)
    sft        sft/             the assistant
    eval       */eval.json      bpb, compression, ngram, capitals, facts for base and assistant
    report     report.md        the report card and plots/

A stage whose output exists and is valid is skipped, so a rerun after a crash or Ctrl-C
resumes (training resumes from its newest checkpoint). Each stage logs to
``logs/NN-stage.log``; a failure names the stage and that log. ``speedrun.json``
records what each stage did, how long it took, and what the measurement chose.

>>> [s.name for s in STAGES]
['corpus', 'tokenizer', 'shards', 'pretrain', 'chat', 'sft', 'eval', 'report']
"""

from __future__ import annotations

import contextlib
import json
import time
import traceback
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

from pocketgpt.errors import UserError
from pocketgpt.fsio import atomic_write_text
from pocketgpt.speedrun.presets import PRESETS, SpeedrunConfig, check_text_inputs, get_preset

__all__ = ["PRESETS", "STAGES", "SpeedrunConfig", "StageFailed", "get_preset", "run_speedrun"]


class StageFailed(UserError):
    """A stage raised; the message names the stage and its log."""


@dataclass
class Ctx:
    cfg: SpeedrunConfig
    out: Path
    cache_dir: Path | None
    pins: dict | None
    record: dict
    started: float

    def elapsed_min(self) -> float:
        return self.record.get("previous_minutes", 0.0) + (time.perf_counter() - self.started) / 60


@dataclass(frozen=True)
class Stage:
    name: str
    done: Callable[[Ctx], bool]
    run: Callable[[Ctx], dict | None]


# -- stages --------------------------------------------------------------------------------

def _corpus_done(c: Ctx) -> bool:
    try:
        m = json.loads((c.out / "corpus" / "manifest.json").read_text())
        return (m.get("format") == "pocketgpt-default-corpus" and (c.out / "countries.json").is_file()
                and (c.out / "facts.json").is_file() and (c.out / "elements.json").is_file())
    except (OSError, json.JSONDecodeError):
        return False


def _corpus(c: Ctx) -> dict:
    from pocketgpt.data.countries import country_facts
    from pocketgpt.data.default_corpus import build_default_corpus, preset
    from pocketgpt.data.elements import element_facts
    from pocketgpt.eval.elements import write_elements

    cfg = preset(c.cfg.corpus_preset, **c.cfg.corpus_overrides)
    if not (c.out / "corpus" / "manifest.json").is_file():
        build_default_corpus(c.out / "corpus", cfg, cache_dir=c.cache_dir, pins=c.pins, overwrite=True, log=print)
    facts = country_facts(c.cache_dir, c.pins)
    atomic_write_text(c.out / "countries.json", json.dumps({n: f.capital for n, f in facts.items()}, indent=1,
                                                             ensure_ascii=False))
    # every fact of every country, for the facts eval (pocketgpt eval --facts)
    atomic_write_text(c.out / "facts.json", json.dumps([asdict(f) for f in facts.values()], indent=1,
                                                       ensure_ascii=False))
    write_elements(c.out / "elements.json", element_facts(c.cache_dir, c.pins))  # for the elements eval
    return {"corpus": asdict(cfg)}


def _tokenizer_done(c: Ctx) -> bool:
    from pocketgpt.tokenizer import Tokenizer

    try:
        return Tokenizer.load(c.out / "tokenizer").vocab_size == c.cfg.vocab_size
    except Exception:  # a half-written or foreign directory is simply redone
        return False


def _sample_documents(c: Ctx):
    """Documents for BPE training: each corpus file up to its group's character budget."""
    from pocketgpt.data.default_corpus import ENCYCLOPEDIAS, corpus_files
    from pocketgpt.data.sources import parse_source

    train, _ = corpus_files(c.out / "corpus")
    # both generated encyclopedias share the "countries" budget
    files = [("countries" if p.stem in ENCYCLOPEDIAS else "general", parse_source(p)) for p in train]
    files += [("general", parse_source(p)) for p in c.cfg.text_inputs]
    budget = dict(c.cfg.tokenizer_chars)
    per_group = {g: sum(1 for gg, _ in files if gg == g) for g in budget}
    for group, src in files:
        left = budget[group] // max(per_group[group], 1)
        for doc in src.documents():
            if left <= 0:
                break
            left -= len(doc)
            yield doc


def _tokenizer(c: Ctx) -> dict:
    from pocketgpt.tokenizer import train

    tok = train(_sample_documents(c), c.cfg.vocab_size, progress=False)
    tok.save(c.out / "tokenizer")
    return {"vocab_size": tok.vocab_size, "trained_on": tok.meta.get("trained_on") if hasattr(tok, "meta") else None}


def _shards_done(c: Ctx) -> bool:
    return (c.out / "shards" / "index.json").is_file()


def _shards(c: Ctx) -> dict:
    from pocketgpt.data import tokenize_to_shards

    inputs = [c.out / "corpus"] + [Path(p) for p in c.cfg.text_inputs]
    index = tokenize_to_shards(inputs, c.out / "tokenizer", c.out / "shards", workers=c.cfg.shard_workers)
    return {"tokens": {s: v["tokens"] for s, v in index["splits"].items()}}


def _run_finished(run: Path) -> bool:
    from pocketgpt.train.checkpoint import newest_valid_checkpoint

    p = newest_valid_checkpoint(run)
    if p is None:
        return False
    return json.loads((p / "trainer_state.json").read_text()).get("reason") == "done"


def _pretrain(c: Ctx) -> dict:
    import torch

    from pocketgpt.speedrun.measure import choose
    from pocketgpt.train.checkpoint import list_checkpoints
    from pocketgpt.train.config import build_config
    from pocketgpt.train.pretrain import run_pretraining

    run = c.out / "base"
    resume = bool(list_checkpoints(run))
    over = {"seed": c.cfg.seed, **c.cfg.pretrain_overrides}
    choices = c.record.get("choices")
    if not (resume and choices):
        minutes = c.cfg.total_minutes - c.elapsed_min() - c.cfg.reserve_minutes
        if minutes < 1 and not c.cfg.pretrain_max_steps:
            raise UserError(f"only {minutes:.1f} minutes left for pretraining within --minutes "
                            f"{c.cfg.total_minutes:g}; raise the budget")
        device = "cuda" if torch.cuda.is_available() else "cpu"
        block, batch = over.get("block_size", 256), over.get("batch_size", 8)
        t0 = time.perf_counter()
        choices = choose(c.cfg.candidates, c.cfg.vocab_size, batch, block, max(minutes, 0) * 60 * 0.92,
                         c.cfg.min_tokens, c.cfg.measure_seconds, device)
        choices["measure_seconds"] = round(time.perf_counter() - t0, 1)
        # the measurement's own time comes out of pretraining, as do eval pauses (~5%)
        choices["pretrain_minutes"] = round(max(minutes - choices["measure_seconds"] / 60, 0.5) * 0.95, 2)
        c.record["choices"] = choices
    else:
        torch.set_num_threads(choices["threads"])
    model_kw = {**choices["model"], "block_size": over.pop("block_size", 256)}
    flags = {"dtype": choices["dtype"]}
    if c.cfg.pretrain_max_steps:
        flags.update(max_steps=c.cfg.pretrain_max_steps, max_minutes=0.0)
    else:
        flags.update(max_minutes=choices["pretrain_minutes"])
    items = [f"{k}={v!r}" if isinstance(v, str) else f"{k}={v}" for k, v in {**over, **{f"model.{k}": v for k, v in
                                                                                    model_kw.items()}}.items()]
    cfg = build_config(c.cfg.pretrain_preset, overrides=items, flags=flags)
    print(f"pretrain: {choices}")
    result = run_pretraining(cfg, c.out / "shards", run, tokenizer_dir=c.out / "tokenizer", resume=resume,
                             progress=False)
    if result.status != "done":
        raise KeyboardInterrupt
    return {"tokens": result.tokens, "steps": result.step, "last_eval": result.last_eval}


def _chat_done(c: Ctx) -> bool:
    return (c.out / "chat" / "manifest.json").is_file() and (c.out / "chat" / "chat.jsonl").is_file()


def _chat(c: Ctx) -> dict:
    from pocketgpt.chat.mix import ChatMixConfig, build_default_chat

    report = build_default_chat(c.out / "chat", ChatMixConfig(**{"seed": c.cfg.seed, **c.cfg.chat_overrides}), cache_dir=c.cache_dir,
                                pins=c.pins, overwrite=True)
    return {"conversations": report.get("conversations"), "sources": report.get("sources")}


def _sft(c: Ctx) -> dict:
    from pocketgpt.train.checkpoint import list_checkpoints
    from pocketgpt.train.sft import run_sft

    run = c.out / "sft"
    flags, epochs = {}, None  # no budget given: SFT's default, a share of the base's pretraining tokens
    if c.cfg.sft_max_steps:
        flags["max_steps"] = c.cfg.sft_max_steps
    elif c.cfg.sft_minutes:
        flags["max_minutes"] = c.cfg.sft_minutes
    elif c.cfg.sft_epochs:
        epochs = c.cfg.sft_epochs
    result = run_sft({"config_file": None, "overrides": [f"seed={c.cfg.seed}", *c.cfg.sft_overrides], "flags": flags},
                     [c.out / "chat" / "chat.jsonl"], run, base=c.out / "base", resume=bool(list_checkpoints(run)),
                     epochs=epochs, progress=False)
    if result.status != "done":
        raise KeyboardInterrupt
    return {"tokens": result.tokens, "steps": result.step, "last_eval": result.last_eval}


def _eval_done(c: Ctx) -> bool:
    return all((c.out / r / "eval.json").is_file() for r in ("base", "sft"))


def _eval(c: Ctx) -> dict:
    from pocketgpt.eval import DATA_ONLY_TASKS, evaluate, summary_lines

    out, reuse = {}, {}
    for r in ("base", "sft"):
        if (c.out / r / "eval.json").is_file():
            res = json.loads((c.out / r / "eval.json").read_text())
        else:
            # the n-gram baseline is fitted on the shards both runs share: once, for the base
            res = evaluate(c.out / r, c.cfg.eval_tasks, countries=c.out / "countries.json",
                           facts=c.out / "facts.json", elements=c.out / "elements.json", limit=c.cfg.eval_limit,
                           ngram_order=c.cfg.ngram_order,
                           reuse=reuse)
            atomic_write_text(c.out / r / "eval.json", json.dumps(res, indent=1))
            print("\n".join(summary_lines(res)))
            out[r] = res["seconds"]
        reuse = {t: v for t, v in res["tasks"].items() if t in DATA_ONLY_TASKS
                 and all(g.get("order") == c.cfg.ngram_order for g in v.values())}
    return {"seconds": out}


def _report_done(c: Ctx) -> bool:
    rep = c.out / "report.md"
    return rep.is_file() and all(rep.stat().st_mtime >= (c.out / r / "eval.json").stat().st_mtime
                                 for r in ("base", "sft") if (c.out / r / "eval.json").is_file())


def _report(c: Ctx) -> dict:
    from pocketgpt.report import write_report

    # The card lists every stage, its own too: it is the last thing this stage does, so
    # the time from here to rendering is the stage's time.
    c.record["stages"]["report"] = {"status": "running", "started_unix": time.time()}
    _save(c)  # the report reads this run's record
    return {"report": str(write_report(c.out, tasks=c.cfg.eval_tasks))}


STAGES = (
    Stage("corpus", _corpus_done, _corpus),
    Stage("tokenizer", _tokenizer_done, _tokenizer),
    Stage("shards", _shards_done, _shards),
    Stage("pretrain", lambda c: _run_finished(c.out / "base"), _pretrain),
    Stage("chat", _chat_done, _chat),
    Stage("sft", lambda c: _run_finished(c.out / "sft"), _sft),
    Stage("eval", _eval_done, _eval),
    Stage("report", _report_done, _report),
)


# -- the driver ------------------------------------------------------------------------------

def _save(c: Ctx) -> None:
    atomic_write_text(c.out / "speedrun.json", json.dumps(c.record, indent=1, default=str))


@contextlib.contextmanager
def _logging_to(path: Path):
    """Send this stage's stdout and stderr (Python level) to its log file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a", encoding="utf-8", buffering=1) as f, contextlib.redirect_stdout(f), \
            contextlib.redirect_stderr(f):
        yield f


def run_speedrun(cfg: SpeedrunConfig, out: str | Path, *, cache_dir=None, pins=None,
                 echo: Callable[[str], None] | None = None) -> dict:
    """Run (or resume) every stage; return the record also written to ``speedrun.json``."""
    check_text_inputs(cfg)  # before anything is written: a wrong --data fails now, not after the corpus stage
    out = Path(out).resolve()  # configs record paths (shards, base run): absolute ones work from any directory
    out.mkdir(parents=True, exist_ok=True)
    echo = echo or (lambda s: print(s, flush=True))
    record = {}
    if (out / "speedrun.json").is_file():
        record = json.loads((out / "speedrun.json").read_text())
        if record.get("preset") != cfg.name:
            raise UserError(f"--out {out}: holds a speedrun with preset {record.get('preset')!r}, not {cfg.name!r}; "
                            "choose another --out")
        seed = (record.get("config") or {}).get("seed", 0)
        if seed != cfg.seed:  # a resumed run must not mix two seeds' stages
            raise UserError(f"--out {out}: holds a speedrun with --seed {seed}, not {cfg.seed}; "
                            "choose another --out or the same seed")
    prev = sum(s.get("seconds", 0) for s in record.get("stages", {}).values() if s.get("status") == "done")
    record.update(preset=cfg.name, config=asdict(cfg), runs={"base": "base", "sft": "sft"},
                  countries_file="countries.json", previous_minutes=prev / 60)
    record.setdefault("stages", {})
    c = Ctx(cfg, out, Path(cache_dir) if cache_dir else None, pins, record, time.perf_counter())
    import torch

    threads = torch.get_num_threads()  # the measurement may change it for this run only
    try:
        _run_stages(c, echo)
    finally:
        torch.set_num_threads(threads)
    total = sum(s.get("seconds", 0) for s in record["stages"].values())
    record["total_minutes"] = round(total / 60, 2)
    _save(c)
    return record


def _run_stages(c: Ctx, echo) -> None:
    out, record = c.out, c.record
    for i, stage in enumerate(STAGES, 1):
        log = out / "logs" / f"{i:02d}-{stage.name}.log"
        head = f"[{i}/{len(STAGES)}] {stage.name}"
        if stage.done(c):
            echo(f"{head}: output present and valid, skipped")
            record["stages"].setdefault(stage.name, {"status": "done", "seconds": 0.0, "log": str(log)})
            if record["stages"][stage.name].get("status") != "done":
                record["stages"][stage.name] = {"status": "done", "seconds": 0.0, "log": str(log)}
            continue
        echo(f"{head} ... (log: {log})")
        t0 = time.perf_counter()
        try:
            with _logging_to(log) as f:
                print(f"== {stage.name} started {time.strftime('%Y-%m-%d %H:%M:%S')}", file=f)
                info = stage.run(c) or {}
        except KeyboardInterrupt:
            record["stages"][stage.name] = {"status": "interrupted", "seconds": time.perf_counter() - t0, "log": str(log)}
            _save(c)
            raise UserError(f"stage {stage.name!r} interrupted; its progress is saved. Rerun the same command to "
                            f"resume (log: {log})") from None
        except Exception as e:
            with open(log, "a", encoding="utf-8") as f:
                traceback.print_exc(file=f)
            record["stages"][stage.name] = {"status": "failed", "seconds": time.perf_counter() - t0, "log": str(log),
                                            "error": str(e)}
            _save(c)
            first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise StageFailed(f"stage {stage.name!r} failed: {first}. Full log: {log}. Fix the cause and rerun; "
                              "finished stages are skipped") from e
        secs = time.perf_counter() - t0
        record["stages"][stage.name] = {"status": "done", "seconds": round(secs, 2), "log": str(log), "info": info}
        _save(c)
        echo(f"{head}: done in {secs:.1f} s")


def closing_lines(out: Path) -> list[str]:
    out = Path(out).resolve()  # configs record paths (shards, base run): absolute ones work from any directory
    return [f"report card: {out / 'report.md'}",
            f"chat with it:  pocketgpt chat --checkpoint {out / 'sft'}",
            f"serve it:      pocketgpt serve --checkpoint {out / 'sft'}  (web UI + OpenAI-compatible API)",
            f"compare base:  pocketgpt sample --checkpoint {out / 'base'} --prompt 'What is the capital of France?'"]
