"""lm-eval's own API clients against ``pocketgpt serve``: the same numbers as the in-process adapter.

A real ``pocketgpt serve`` process on loopback; the real ``lm_eval`` command line with
``--model local-completions`` (loglikelihood through ``echo``) and
``--model local-chat-completions`` (generate_until through chat), on task files this
test writes (``dataset_path: json``, no network). The commands are the ones in
docs/serve.md.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "serve"))  # for serve_testlib, as test_speedrun does

pytest.importorskip("lm_eval", reason="lm-eval is the optional [eval] extra: pip install 'pocketgpt[eval]'")

from eval_testlib import MC_ROWS, write_tasks  # noqa: E402
from serve_testlib import free_port, wait_healthy  # noqa: E402

OFFLINE = {"HF_DATASETS_OFFLINE": "1", "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "OPENAI_API_KEY": "unused"}


@pytest.fixture(scope="module")
def served(tiny):
    run, _, _ = tiny
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "pocketgpt", "serve", "--checkpoint", str(run), "--port", str(port),
                             "--log-level", "warning"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "POCKETGPT_API_KEY": ""})
    url = f"http://127.0.0.1:{port}"
    wait_healthy(proc, url, timeout_s=120)
    yield url
    proc.terminate()
    proc.communicate(timeout=30)


def _lm_eval_cli(model: str, model_args: str, task: str, tasks_dir: Path, out: Path, *extra: str) -> tuple[dict, list]:
    """Run the lm_eval command; return (its results for the task, its logged samples)."""
    cmd = [sys.executable, "-m", "lm_eval", "--model", model, "--model_args", model_args, "--tasks", task,
           "--include_path", str(tasks_dir), "--output_path", str(out), "--log_samples", *extra]
    done = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, **OFFLINE}, timeout=600)
    assert done.returncode == 0, done.stderr[-4000:]
    results = json.loads(next(out.rglob("results_*.json")).read_text())["results"][task]
    samples = [json.loads(line) for line in next(out.rglob(f"samples_{task}_*.jsonl")).read_text().splitlines()]
    return results, sorted(samples, key=lambda s: s["doc_id"])


def _adapter(run, task: str, tasks_dir: Path, **kw) -> tuple[dict, list]:
    from lm_eval import simple_evaluate
    from lm_eval.tasks import TaskManager

    from pocketgpt.eval.lm_eval_adapter import PocketGPTLM

    res = simple_evaluate(model=PocketGPTLM(checkpoint=str(run)), tasks=[task],
                          task_manager=TaskManager(include_path=str(tasks_dir)), log_samples=True, **kw)
    return res["results"][task], sorted(res["samples"][task], key=lambda s: s["doc_id"])


def test_local_completions_scores_like_the_adapter(tiny, served, tmp_path, monkeypatch):
    for k, v in OFFLINE.items():
        monkeypatch.setenv(k, v)
    run, _, tok = tiny
    tasks = write_tasks(tmp_path / "tasks")
    tokenizer_dir = next(run.rglob("tokenizer.json")).parent
    model_args = (f"model={run.name},base_url={served}/v1/completions,tokenizer_backend=huggingface,"
                  f"tokenizer={tokenizer_dir},tokenized_requests=False")
    got, got_samples = _lm_eval_cli("local-completions", model_args, "pocketgpt_caps_mc", tasks, tmp_path / "out")
    want, want_samples = _adapter(run, "pocketgpt_caps_mc", tasks)
    assert got["acc,none"] == want["acc,none"] >= 0.6
    assert len(got_samples) == len(want_samples) == len(MC_ROWS)
    for g, w in zip(got_samples, want_samples):
        # The samples file holds (loglikelihood, is_greedy) as strings: "-0.0026", "True".
        g_ll = [float(r[0]) for r in g["filtered_resps"]]
        w_ll = [float(r[0]) for r in w["filtered_resps"]]
        assert g_ll == pytest.approx(w_ll, abs=1e-5), (g["doc_id"], g_ll, w_ll)
        assert [str(r[1]) for r in g["filtered_resps"]] == [str(r[1]) for r in w["filtered_resps"]]


def test_local_chat_completions_generate_until(tiny, served, tmp_path):
    from pocketgpt.chat.format import render_for_completion
    from pocketgpt.eval.lm import greedy
    from pocketgpt.interop.hf_tokenizer import stop_token_ids

    run, model, tok = tiny
    tasks = write_tasks(tmp_path / "tasks")
    model_args = f"model={run.name},base_url={served}/v1/chat/completions,max_gen_toks=16"
    got, samples = _lm_eval_cli("local-chat-completions", model_args, "pocketgpt_caps_chat", tasks, tmp_path / "out",
                                "--apply_chat_template")
    # independent: the same questions answered greedily in-process, in the chat format
    replies = []
    for c, a, _ in MC_ROWS:
        ids = render_for_completion([{"role": "user", "content": f"What is the capital of {c}?"}], tok)
        new, _ = greedy(model, [ids], 16, stop_token_ids(tok))[0]
        replies.append(tok.decode([i for i in new if i not in stop_token_ids(tok)]).split("\n")[0])
    assert [s["filtered_resps"][0] for s in samples] == replies
    right = sum(r == f"{a} is the capital of {c}." for r, (c, a, _) in zip(replies, MC_ROWS))
    assert got["exact_match,none"] == right / len(MC_ROWS)
    assert right >= 1, replies  # not all wrong: the tiny model learnt some capitals in chat form
