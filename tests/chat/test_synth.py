"""``pocketgpt data synth`` against a fault-injecting stand-in teacher (no network).

The schedule of faults is the independent reference: every prompt must come out exactly
once, and the errors the run counts must be the faults the server injected.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import pytest
from fake_teacher import FakeTeacher

sys.path.insert(0, str(Path(__file__).parents[1] / "serve"))  # for serve_testlib

from pocketgpt.chat.synth import SynthConfig, run_synth
from pocketgpt.chat.synth.tasks import read_exclude, read_prompts, refused
from pocketgpt.chat.synth.teacher import retry_after
from pocketgpt.cli import main
from pocketgpt.errors import UserError
from serve_testlib import free_port  # noqa: E402

PROMPTS = [f"Question number {i}: what is {i} plus one?" for i in range(12)]
# the fault each prompt's successive attempts get, then a normal answer
SCHEDULE = {0: ["429", "500"], 1: ["slow"], 2: ["malformed"], 3: ["drop"], 4: ["nochoices", "429"],
            5: ["500", "500", "drop"], 7: ["slow", "malformed"], 9: ["drop", "drop"]}
KIND = {"429": "http_429", "500": "http_500", "slow": "timeout", "malformed": "malformed", "nochoices": "malformed",
        "drop": "connection"}


def _prompts(tmp_path, prompts=PROMPTS, name="prompts.txt"):
    path = tmp_path / name
    path.write_text("\n".join(prompts) + "\n", encoding="utf-8")
    return path


def _cfg(teacher, tmp_path, prompts=None, **kw):
    kw = {"timeout": 0.5, "backoff": 0.01, "concurrency": 3, **kw}
    return SynthConfig(base_url=teacher.url, model="teacher", out=str(tmp_path / "out"),
                       prompts=str(prompts or _prompts(tmp_path)), **kw)


def _rows(out):
    return [json.loads(line) for line in (out / "chat.jsonl").read_text(encoding="utf-8").splitlines()]


def test_fault_schedule_every_prompt_answered_exactly_once(tmp_path):
    faults = {PROMPTS[i]: f for i, f in SCHEDULE.items()}
    with FakeTeacher(faults=faults) as teacher:
        m = run_synth(_cfg(teacher, tmp_path), progress=False)
    rows = _rows(tmp_path / "out")
    assert sorted(r["messages"][0]["content"] for r in rows) == sorted(PROMPTS)
    assert len({r["id"] for r in rows}) == len(PROMPTS)
    for r in rows:
        q = r["messages"][0]["content"]
        assert r["messages"][1] == {"role": "assistant", "content": f"Reply to: {q} (seed None, turn 1)"}
    want = {}
    for f in (f for fs in SCHEDULE.values() for f in fs):
        want[KIND[f]] = want.get(KIND[f], 0) + 1
    assert m["last_run"]["errors"] == want
    assert m["status"] == "complete" and m["kept"] == len(PROMPTS) and m["dropped"] == {} and m["remaining"] == 0
    assert m["last_run"]["requests"] == len(PROMPTS) + sum(want.values())
    # Retry-After: 1 was honoured (the other waits are ~10 ms of backoff)
    log = [(t, f) for t, u, f in teacher.log if u == PROMPTS[0]]
    assert [f for _, f in log] == ["429", "500", "ok"]
    assert log[1][0] - log[0][0] >= 1.0 > log[2][0] - log[1][0]


def test_retries_run_out_exit_1_and_rerun_finishes(tmp_path, capsys):
    prompts = _prompts(tmp_path, PROMPTS[:4])
    with FakeTeacher(faults={PROMPTS[1]: ["500", "500", "500"]}) as teacher:
        args = ["data", "synth", "--base-url", teacher.url, "--model", "teacher", "--out", str(tmp_path / "out"),
                "--prompts", str(prompts), "--retries", "1", "--backoff", "0.01", "--no-progress"]
        assert main(args) == 1
        err = capsys.readouterr().err
        assert "1 conversations failed after every retry" in err and "HTTP 500" in err and "rerun" in err
        assert len(_rows(tmp_path / "out")) == 3
        assert json.loads((tmp_path / "out" / "manifest.json").read_text())["status"] == "incomplete"
        assert main(args) == 0  # attempt 3 fails, attempt 4 answers
    rows = _rows(tmp_path / "out")
    assert sorted(r["messages"][0]["content"] for r in rows) == sorted(PROMPTS[:4])
    assert [u for _, u, f in teacher.log if f == "ok"].count(PROMPTS[0]) == 1  # done ones were not asked again


def test_drops_empty_truncated_refused_duplicate_and_keeps_special_tokens_as_text(tmp_path, tok):
    from pocketgpt.chat.data import read_jsonl
    from pocketgpt.chat.format import END, render

    said = {"empty?": ("  ", "stop"), "long?": ("It goes on and on", "length"),
            "refuse?": ("I\u2019m sorry, but I can't help with that.", "stop"),
            "ai?": ("As an AI language model, I have no opinion.", "stop"),
            "tokens?": ("Type <|end|><|assistant|> to stop.", "stop"), "fine?": ("Fine, thanks.", "stop")}

    def reply(body):
        return said[body["messages"][-1]["content"]]

    prompts = _prompts(tmp_path, list(said))
    with FakeTeacher(reply=reply) as teacher:
        m = run_synth(_cfg(teacher, tmp_path, prompts, samples_per_prompt=2), progress=False)
        # the teacher ignores the seed: sample 2 of each prompt repeats sample 1 exactly
        assert m["dropped"] == {"duplicate": 2, "empty": 2, "refused": 4, "truncated": 2}
        assert m["kept"] == 2 and m["tasks"] == 12
        convs = read_jsonl(tmp_path / "out" / "chat.jsonl")
        text = {c.messages[0]["content"]: c.messages[1]["content"] for c in convs}
        assert text == {"tokens?": said["tokens?"][0], "fine?": said["fine?"][0]}
        ids, _ = render(convs[[c.messages[0]["content"] for c in convs].index("tokens?")].messages, tok)
        assert ids.count(tok.special_id(END)) == 2  # the reply's "<|end|>" is plain text
        dropped = [json.loads(x) for x in (tmp_path / "out" / "dropped.log").read_text().splitlines()]
        assert {d["reason"] for d in dropped} == {"duplicate", "empty", "refused", "truncated"}
        kept = run_synth(_cfg(teacher, tmp_path / "k", prompts, keep_truncated=True), progress=False)
        assert kept["kept"] == 3 and kept["truncated_kept"] == 1
        assert [r.get("truncated") for r in _rows(tmp_path / "k" / "out")].count(True) == 1


def test_refusal_openings():
    for text in ("I can't help with that.", "I cannot assist with this request.", "As an AI, I don't have views.",
                 "Sorry, but I cannot provide that.", "I'm unable to help with that.", "I won't write that."):
        assert refused(text), text
    for text in ("I can't be certain, but Paris is the capital.", "Paris. As an aside, AI is neat.",
                 "I cannot stress this enough: drink water."):
        assert not refused(text), text


def test_exclude_drops_mentions_whole_words_any_case_and_accents(tmp_path):
    names = tmp_path / "held_out.jsonl"
    names.write_text('{"name": "Cameroon", "capital": "Yaoundé", "held_out": true}\nChad\n# a comment\n')
    assert read_exclude(names) == ["Cameroon", "Yaoundé", "Chad"]
    said = {"Tell me about CAMEROON.": "It is in Africa.", "Where is the big city?": "It is Yaounde, I think.",
            "Cameroonian food?": "It is varied.", "Who chaired it?": "Nobody.", "What is in Chad's north?": "Sand."}
    prompts = _prompts(tmp_path, list(said))
    with FakeTeacher(reply=lambda b: (said[b["messages"][-1]["content"]], "stop")) as teacher:
        m = run_synth(_cfg(teacher, tmp_path, prompts, exclude=str(names)), progress=False)
    assert sorted(r["messages"][0]["content"] for r in _rows(tmp_path / "out")) == ["Cameroonian food?",
                                                                                   "Who chaired it?"]
    assert m["dropped"] == {"excluded": 3} and m["excluded_names"] == 3
    asked = {u for _, u, _ in teacher.log}
    assert "Tell me about CAMEROON." not in asked and "What is in Chad's north?" not in asked  # never sent
    assert "Where is the big city?" in asked  # the reply named the capital


def test_topics_and_multi_turn_with_system(tmp_path):
    topics = tmp_path / "topics.txt"
    topics.write_text("volcanoes\n\nthe moon\n")
    with FakeTeacher() as teacher:
        m = run_synth(SynthConfig(base_url=teacher.url, model="teacher", out=str(tmp_path / "out"),
                                  topics=str(topics), turns=3, system="Be brief.", seed=11, samples_per_prompt=2,
                                  backoff=0.01), progress=False)
    rows = _rows(tmp_path / "out")
    assert m["kept"] == 4 and len(rows) == 4
    for r in rows:
        roles = [x["role"] for x in r["messages"]]
        assert roles == ["system"] + ["user", "assistant"] * 3 and r["messages"][0]["content"] == "Be brief."
        assert r["messages"][1]["content"] in ("What is volcanoes?", "What is the moon?")  # quotes stripped
        assert r["messages"][3]["content"].startswith("And what about ")
        assert r["messages"][6]["content"].endswith("turn 3)")
        assert r["usage"]["requests"] == 6  # question, 3 answers, 2 follow-ups
    seeds = {r["messages"][2]["content"].split("seed ")[1].split(",")[0] for r in rows}
    assert len(seeds) == 4  # a seed per task and request, from --seed


def test_budget_stops_cleanly_and_rerun_continues(tmp_path, capsys):
    prompts = _prompts(tmp_path, PROMPTS[:6])
    with FakeTeacher() as teacher:
        args = ["data", "synth", "--base-url", teacher.url, "--model", "teacher", "--out", str(tmp_path / "out"),
                "--prompts", str(prompts), "--concurrency", "1", "--no-progress"]
        assert main([*args, "--max-requests", "2"]) == 0
        assert "stopped at --max-requests 2: 4 tasks left" in capsys.readouterr().err
        assert len(_rows(tmp_path / "out")) == 2
        m = json.loads((tmp_path / "out" / "manifest.json").read_text())
        assert m["status"] == "budget" and m["remaining"] == 4
        assert main([*args, "--max-tokens-total", "1"]) == 0  # one request, then over the token budget
        assert len(_rows(tmp_path / "out")) == 3
        assert main(args) == 0
    rows = _rows(tmp_path / "out")
    assert sorted(r["messages"][0]["content"] for r in rows) == sorted(PROMPTS[:6])
    assert len(teacher.log) == 6  # nothing asked twice


def test_rerun_skips_done_cuts_a_half_line_and_takes_new_prompts(tmp_path):
    prompts = _prompts(tmp_path, PROMPTS[:3])
    with FakeTeacher() as teacher:
        run_synth(_cfg(teacher, tmp_path, prompts), progress=False)
        chat = tmp_path / "out" / "chat.jsonl"
        whole = chat.read_bytes()
        chat.write_bytes(whole + b'{"messages": [{"role": "user", "content": "half')  # a write cut by a kill
        _prompts(tmp_path, PROMPTS[:5])
        m = run_synth(_cfg(teacher, tmp_path, prompts), progress=False)
    assert chat.read_bytes().startswith(whole) and m["kept"] == 5 and m["last_run"]["resumed_done"] == 3
    assert sorted(u for _, u, _ in teacher.log) == sorted(PROMPTS[:5])


def test_same_out_with_other_settings_is_refused(tmp_path):
    with FakeTeacher() as teacher:
        run_synth(_cfg(teacher, tmp_path), progress=False)
        with pytest.raises(UserError, match="other settings .*temperature"):
            run_synth(_cfg(teacher, tmp_path, temperature=0.1), progress=False)
        m = run_synth(_cfg(teacher, tmp_path, temperature=0.1, overwrite=True), progress=False)
        assert m["kept"] == len(PROMPTS) and len(_rows(tmp_path / "out")) == len(PROMPTS)
        (tmp_path / "other").mkdir()
        (tmp_path / "other" / "notes.txt").write_text("mine")
        with pytest.raises(UserError, match="not a synth output"):
            run_synth(SynthConfig(**{**_cfg(teacher, tmp_path).__dict__, "out": str(tmp_path / "other")}),
                      progress=False)


def test_retry_after_forms():
    from email.utils import formatdate

    assert retry_after({"retry-after": "3"}) == 3.0
    assert 8 < retry_after({"retry-after": formatdate(time.time() + 10, usegmt=True)}) <= 10
    assert retry_after({"retry-after": "soon"}) is None


def _bad(capsys, args, expect, tmp_path):
    assert main(["data", "synth", *args, "--out", str(tmp_path / "out"), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert expect in err and "Traceback" not in err and err.count("\n") == 1, err  # one paragraph
    assert not (tmp_path / "out").exists()


def test_bad_input_is_one_paragraph_exit_2_and_writes_nothing(tmp_path, capsys):
    prompts = str(_prompts(tmp_path, PROMPTS[:2]))
    _bad(capsys, ["--base-url", f"http://127.0.0.1:{free_port()}/v1", "--model", "m", "--prompts", prompts],
         "cannot reach the teacher", tmp_path)
    with FakeTeacher(key="right") as teacher:
        base = ["--base-url", teacher.url, "--prompts", prompts]
        _bad(capsys, [*base, "--model", "teacher", "--api-key", "wrong"], "refused the API key (HTTP 401", tmp_path)
        _bad(capsys, [*base, "--model", "nope", "--api-key", "right"],
             "--model nope: the teacher answered 404", tmp_path)
        _bad(capsys, ["--base-url", teacher.url[:-3], "--prompts", prompts, "--model", "teacher", "--api-key",
                      "right"], "usually ending with /v1", tmp_path)
        _bad(capsys, [*base, "--model", "teacher", "--concurrency", "0"], "--concurrency: 0", tmp_path)
        bad = tmp_path / "bad.jsonl"
        bad.write_text('{"prompt": "fine"}\n{"prompt": "", "system": "x"}\n')
        _bad(capsys, ["--base-url", teacher.url, "--prompts", str(bad), "--model", "teacher"],
             f"{bad}:2: 'prompt' must be a non-empty string", tmp_path)
        bad.write_text('{"prompt": "fine"}\n\n{"prompt": "x"\n')
        _bad(capsys, ["--base-url", teacher.url, "--prompts", str(bad), "--model", "teacher"],
             f"{bad}:3: not valid JSON", tmp_path)
        _bad(capsys, ["--base-url", teacher.url, "--prompts", str(tmp_path / "none.txt"), "--model", "teacher"],
             "none.txt: no such file", tmp_path)
    assert teacher.log == []  # nothing got as far as a chat request


def test_read_prompts_jsonl_with_system(tmp_path):
    path = tmp_path / "p.jsonl"
    path.write_text('{"prompt": "Hi"}\n{"prompt": "Yo", "system": "Be kind."}\n')
    got = read_prompts(path, system="Default.")
    assert [(p.user, p.system, p.where.rsplit(":", 1)[1]) for p in got] == [("Hi", "Default.", "1"),
                                                                         ("Yo", "Be kind.", "2")]
    path.write_text('{"prompt": "Hi", "answer": "no"}\n')
    with pytest.raises(UserError, match=r"p.jsonl:1: unknown key\(s\) 'answer'"):
        read_prompts(path)
