"""Training-curve figures and the report's table helpers, on metrics written here."""

from __future__ import annotations

import json

from pocketgpt.report import _escape, eval_rows
from pocketgpt.report.plots import plot_run, read_metrics


def test_plot_run_writes_a_png_with_all_panels(tmp_path):
    rows = [{"step": s, "tokens": 100 * s, "loss": 5 - s / 10, "lr": 1e-3, "tokens_per_s": 1000 + s} for s in range(1, 21)]
    rows += [{"step": s, "val_loss": 5 - s / 9, "val_bpb": 2 - s / 30} for s in (10, 20)]
    (tmp_path / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows) + "{not json\n")
    assert len(read_metrics(tmp_path)) == len(rows)  # the torn last line is skipped
    png = plot_run(tmp_path, tmp_path / "plots" / "p.png", "test")
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5000


def test_plot_run_without_metrics_writes_nothing(tmp_path):
    assert plot_run(tmp_path, tmp_path / "p.png", "empty") is None
    assert not (tmp_path / "p.png").exists()


def test_eval_table_and_cell_escaping():
    base = {"tasks": {"capitals": {"held_out": {"accuracy": 0.5, "without_name_contained": {"accuracy": 0.4}},
                                   "training": {"accuracy": 0.9}, "format": {"rate": 0.0}}}}
    sft = {"tasks": {"capitals": {"held_out": {"accuracy": 0.25, "without_name_contained": {"accuracy": 0.2}},
                                  "training": {"accuracy": 1.0}, "format": {"rate": 1.0}},
                     "bpb": {"val_bpb": 1.23456}}}
    rows = {m: (b, a) for m, b, a in eval_rows(base, sft)}
    assert rows["capitals, held-out countries"] == ("50.0%", "25.0%")
    assert rows["answers a bare question in assistant format"] == ("0.0%", "100.0%")
    assert rows["val bpb (held-out shards)"] == ("n/a", "1.235")
    assert _escape("a|b\n<|end|>") == "a\\|b⏎&lt;\\|end\\|>"
    assert _escape("   ").startswith("(blank")
