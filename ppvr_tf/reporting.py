"""What a run leaves for people: results.json, the trade-off plot, a table, frames.

results.json (schema ``ppvr_tf.results/1``)::

    {
      "schema": "ppvr_tf.results/1",
      "dataset": "synthetic", "kind": "raw" | "baseline" | "learned",
      "degradation": "transformer fD, entropy, M=1, restart every -",
      "method": "entropy" (learned runs; else null), "budget_task": "identity",
      "budget_metric": "accuracy" | "cmap",
      "chance": {"target_accuracy": float, "budget_score": float},
      "raw":      <two-fold result of the identity fD> (null with --noevaluate_raw),
      "degraded": <two-fold result of the run's fD: learned, a baseline, or the raw video>,
      "training": {"total_steps", "iterations", "restarts", "steps_per_phase",
                   "capped_loops", "seconds"} (null when nothing was trained),
      "config": <the experiment configuration>
    }

A two-fold result is ``{"target_accuracy": A_T, "budget_score": A_B^N,
"budget_metric", "target_model": "trained" | "fresh", "attackers": [{"name",
"score", "per_attribute", "seconds"}, ...]}``; scores are in [0, 1], A_B^N is the
best attacker's score.
"""
from __future__ import annotations

import json

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from ppvr_tf.io_utils import atomic_write_text, save_png  # noqa: E402

SCHEMA = "ppvr_tf.results/1"


def write_results(path: str, results: dict) -> None:
    atomic_write_text(path, json.dumps(results, indent=2, sort_keys=False) + "\n")


def summary_table(results: dict) -> str:
    metric = results["budget_metric"]
    rows = [("", "A_T (action acc)", f"A_B^N ({metric}, best attacker)", "attackers")]
    for key in ("raw", "degraded"):
        r = results[key]
        if r is None:  # the raw reference was not evaluated (a sweep has it as its own run)
            continue
        attackers = ", ".join(f"{a['name']}={a['score']:.3f}" for a in r["attackers"])
        rows.append((key, f"{r['target_accuracy']:.3f}", f"{r['budget_score']:.3f}", attackers))
    chance = results.get("chance", {})
    if chance:
        rows.append(("chance", f"{chance['target_accuracy']:.3f}", f"{chance['budget_score']:.3f}", ""))
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def tradeoff_plot(path: str, results: dict, title: str) -> None:
    """A_T against A_B^N: up and to the left is better."""
    fig, ax = plt.subplots(figsize=(5.5, 4.5))
    styles = {"raw": ("tab:red", "o", "raw video (identity fD)"),
              "degraded": ("tab:blue", "*", results.get("degradation") or f"learned fD ({results.get('method')})")}
    for key, (colour, marker, label) in styles.items():
        r = results[key]
        if r is None:
            continue
        ax.scatter(r["budget_score"], r["target_accuracy"], c=colour, marker=marker, s=160,
                   label=label, zorder=3)
        scores = [a["score"] for a in r["attackers"]]
        ax.scatter(scores, [r["target_accuracy"]] * len(scores), c=colour, marker="|", s=120,
                   alpha=0.5, zorder=2)
    raw, deg = results["raw"], results["degraded"]
    if raw is not None:
        ax.annotate("", xy=(deg["budget_score"], deg["target_accuracy"]),
                    xytext=(raw["budget_score"], raw["target_accuracy"]),
                    arrowprops={"arrowstyle": "->", "color": "gray"})
        ax.axhline(raw["target_accuracy"], ls="--", c="magenta", lw=1, label="A_T on raw video")
    chance = results.get("chance")
    if chance:
        ax.axvline(chance["budget_score"], ls=":", c="gray", label="chance")
        ax.axhline(chance["target_accuracy"], ls=":", c="gray")
    ax.set_xlim(0, 1.02)
    ax.set_ylim(0, 1.02)
    ax.set_xlabel(f"A_B^N: privacy leak, best of {len(deg['attackers'])} fresh attackers "
                  f"({results['budget_metric']}) - lower is better")
    ax.set_ylabel("A_T: action accuracy - higher is better")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    save_png(path, fig)
    plt.close(fig)


def frames_figure(path: str, raw: np.ndarray, degraded: np.ndarray, titles: list[str]) -> None:
    """Rows of clips: raw frames above their degraded versions."""
    n, t = raw.shape[:2]
    fig, axes = plt.subplots(2 * n, t, figsize=(1.2 * t, 2.5 * n), squeeze=False)
    for i in range(n):
        for j in range(t):
            for row, clip in ((2 * i, raw), (2 * i + 1, degraded)):
                ax = axes[row][j]
                ax.imshow(np.clip(clip[i, j], 0, 1), interpolation="nearest")
                ax.set_xticks([])
                ax.set_yticks([])
            if j == 0:
                axes[2 * i][0].set_ylabel("raw", fontsize=7)
                axes[2 * i + 1][0].set_ylabel("fD(X)", fontsize=7)
        axes[2 * i][0].set_title(titles[i], fontsize=8, loc="left")
    save_png(path, fig)
    plt.close(fig)
