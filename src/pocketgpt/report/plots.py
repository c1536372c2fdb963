"""Training curves from ``metrics.jsonl`` as PNG files (matplotlib, no display needed).

``metrics.jsonl`` has two kinds of rows: training rows (``loss``, ``lr``, ``tokens_per_s``)
and eval rows (``val_loss``, ``val_bpb``). One figure per run holds four panels:
train and val loss, val bpb, learning rate, and tokens/s, all against the step.
"""

from __future__ import annotations

import json
from pathlib import Path


def read_metrics(run_dir: str | Path) -> list[dict]:
    """The rows of ``RUN_DIR/metrics.jsonl`` (empty when there is none); bad lines are skipped."""
    path = Path(run_dir) / "metrics.jsonl"
    if not path.is_file():
        return []
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return rows


def _series(rows: list[dict], key: str) -> tuple[list, list]:
    pts = [(r["step"], r[key]) for r in rows if key in r and r.get(key) is not None and "step" in r]
    return [p[0] for p in pts], [p[1] for p in pts]


def plot_run(run_dir: str | Path, out_png: str | Path, title: str) -> Path | None:
    """Write the four-panel figure of one run; ``None`` when the run logged nothing."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from pocketgpt.fsio import atomic_file

    rows = read_metrics(run_dir)
    if not rows:
        return None
    fig, axes = plt.subplots(2, 2, figsize=(10, 7))
    ax = axes[0][0]
    for key, label in (("loss", "train loss"), ("val_loss", "val loss")):
        x, y = _series(rows, key)
        if x:
            ax.plot(x, y, marker="o" if key == "val_loss" else None, label=label)
    ax.set_title("loss (nats/token)")
    ax.legend()
    panels = ((axes[0][1], "val_bpb", "val bits per byte"), (axes[1][0], "lr", "learning rate"),
              (axes[1][1], "tokens_per_s", "tokens/s"))
    for ax, key, label in panels:
        x, y = _series(rows, key)
        if x:
            ax.plot(x, y, marker="o" if key == "val_bpb" else None)
        ax.set_title(label)
    for ax in axes.flat:
        ax.set_xlabel("step")
        ax.grid(alpha=0.3)
    fig.suptitle(title)
    fig.tight_layout()
    out_png = Path(out_png)
    with atomic_file(out_png, "wb") as f:
        fig.savefig(f, format="png", dpi=90)
    plt.close(fig)
    return out_png
