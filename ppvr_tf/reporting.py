"""What a run leaves for people: results.json, the trade-off plot, a table, frames.

results.json (schema ``ppvr_tf.results/2``)::

    {
      "schema": "ppvr_tf.results/2",
      "dataset": "synthetic", "kind": "raw" | "baseline" | "learned",
      "degradation": "transformer fD, entropy, M=1, restart every -",
      "method": "entropy" (learned runs; else null), "budget_task": "identity",
      "budget_metric": "accuracy" | "cmap",
      "chance": {"target_accuracy": float, "budget_score": float},
      "raw":      <two-fold result of the identity fD> (null with --noevaluate_raw),
      "degraded": <two-fold result of the run's fD: learned, a baseline, or the raw video>,
      "warnings": [str, ...] (raw models that scored near chance: the evaluation did not learn),
      "training": {"total_steps", "iterations", "restarts", "steps_per_phase",
                   "capped_loops", "seconds", "per_iteration"} (null when nothing was trained),
      "config": <the experiment configuration>
    }

A two-fold result is ``{"target_accuracy": A_T, "budget_score": A_B^N,
"worst_case_budget_score", "budget_metric", "target_model": "trained" | "fresh",
"attackers": [...], "attacks": [...]}``. Each attack is ``{"name", "kind" (scratch,
temporal, pretrained, reconstruction), "score" (best seed), "scores" (each seed), "mean",
"per_attribute", "macro_f1", "seconds"}``, reconstruction adds ``"psnr_db"``;
``attackers`` lists the scratch ones. Scores are in [0, 1]; A_B^N is the best scratch
attacker's score (the paper's), the worst case the best score of any attack and seed.
"""
from __future__ import annotations

import json
import re

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from ppvr_tf.clock import seconds_of  # noqa: E402
from ppvr_tf.io_utils import atomic_write_text, save_png  # noqa: E402

SCHEMA = "ppvr_tf.results/2"
NEAR_CHANCE = 0.1  # a score less than this share of the way from chance to perfect


def write_results(path: str, results: dict) -> None:
    atomic_write_text(path, json.dumps(results, indent=2, sort_keys=False) + "\n")


def worst_case(two_fold: dict) -> float:
    """The worst-case privacy score of a two-fold result (results/1 files: A_B^N)."""
    return two_fold.get("worst_case_budget_score", two_fold["budget_score"])


def near_chance_warnings(raw: dict | None, chance: dict) -> list[str]:
    """The raw reference's models that did not learn: a degraded score beside them means nothing."""
    if raw is None:
        return []

    def near(score, level):
        return score < level + NEAR_CHANCE * (1.0 - level)
    found = []
    if near(raw["target_accuracy"], chance["target_accuracy"]):
        found.append(f"raw fT scored {raw['target_accuracy']:.3f}, near chance {chance['target_accuracy']:.3f}: "
                     "the action model did not learn; A_T of this run measures nothing")
    for attack in raw.get("attacks", raw["attackers"]):
        if near(attack["score"], chance["budget_score"]):
            found.append(f"raw attacker {attack['name']} scored {attack['score']:.3f}, near chance "
                         f"{chance['budget_score']:.3f}: it did not learn; train it longer or on more data")
    return found


def summary_table(results: dict) -> str:
    metric = results["budget_metric"]
    rows = [("", "A_T (action acc)", f"A_B^N ({metric}, scratch)", "worst case", "attacks (best seed)")]
    for key in ("raw", "degraded"):
        r = results[key]
        if r is None:  # the raw reference was not evaluated (a sweep has it as its own run)
            continue
        attacks = ", ".join(f"{a['name']}={a['score']:.3f}" for a in r.get("attacks", r["attackers"]))
        rows.append((key, f"{r['target_accuracy']:.3f}", f"{r['budget_score']:.3f}", f"{worst_case(r):.3f}",
                     attacks))
    chance = results.get("chance", {})
    if chance:
        blind = chance.get("worst_case_blind")
        rows.append(("chance", f"{chance['target_accuracy']:.3f}", f"{chance['budget_score']:.3f}",
                     f"{chance['budget_score'] if blind is None else blind:.3f}",
                     "" if blind is None else "worst case: what the same suite shows, 95 times in 100, "
                                              "on an fD that hides everything"))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    confused = most_confused_actions(results["degraded"], results.get("action_names", []))
    if confused:
        lines.append(f"fT on fD(X) confuses {confused}")
    lines += [f"WARNING: {w}" for w in results.get("warnings", [])]
    return "\n".join(lines)


def most_confused_actions(two_fold: dict, action_names: list[str]) -> str | None:
    """The two actions fT mixes up most (both ways) and their share of its test errors:
    where an fD costs action. None without errors or a confusion matrix."""
    confusion = np.asarray(two_fold.get("target_confusion") or [], np.int64)
    errors = int(confusion.sum() - np.trace(confusion)) if confusion.size else 0
    if not errors or len(action_names) != len(confusion):
        return None
    both_ways = confusion + confusion.T
    np.fill_diagonal(both_ways, 0)
    i, j = np.unravel_index(np.argmax(both_ways), both_ways.shape)
    return f"{action_names[i]} and {action_names[j]} most: {both_ways[i, j]} of its {errors} test errors"


def tradeoff_plot(path: str, results: dict, title: str) -> None:
    """A_T against A_B^N: up and to the left is better."""
    fig, ax = plt.subplots(figsize=(5.5, 4.5))
    styles = {"raw": ("tab:red", "o", "raw video (identity fD)"),
              "degraded": ("tab:blue", "*", results.get("degradation") or f"learned fD ({results.get('method')})")}
    for key, (colour, marker, label) in styles.items():
        r = results[key]
        if r is None:
            continue
        ax.scatter(worst_case(r), r["target_accuracy"], c=colour, marker=marker, s=160,
                   label=label, zorder=3)
        scores = [s for a in r.get("attacks", r["attackers"]) for s in a.get("scores", [a["score"]])]
        ax.scatter(scores, [r["target_accuracy"]] * len(scores), c=colour, marker="|", s=120,
                   alpha=0.5, zorder=2)
    raw, deg = results["raw"], results["degraded"]
    if raw is not None:
        ax.annotate("", xy=(worst_case(deg), deg["target_accuracy"]),
                    xytext=(worst_case(raw), raw["target_accuracy"]),
                    arrowprops={"arrowstyle": "->", "color": "gray"})
        ax.axhline(raw["target_accuracy"], ls="--", c="magenta", lw=1, label="A_T on raw video")
    chance = results.get("chance")
    if chance:
        ax.axvline(chance["budget_score"], ls=":", c="gray", label="chance")
        ax.axhline(chance["target_accuracy"], ls=":", c="gray")
    ax.set_xlim(0, 1.02)
    ax.set_ylim(0, 1.02)
    ax.set_xlabel(f"privacy leak: worst case over {len(deg.get('attacks', deg['attackers']))} attacks, "
                  f"ticks each attack and seed ({results['budget_metric']}) - lower is better", fontsize=8)
    ax.set_ylabel("A_T: action accuracy - higher is better")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    save_png(path, fig)
    plt.close(fig)


def training_plot(path: str, results: dict) -> None:
    """Did fD get ahead of fB? Per adversarial iteration: the budget models' accuracy on
    their batch at fD's step (the most accurate one) and where the th2 loop stopped (the
    least accurate one), and how many steps the th1 and th2 loops took. Nothing for a run
    that trained nothing; a run resumed from a checkpoint older than the record has its
    last iterations only, drawn at their own iteration numbers."""
    training = results.get("training") or {}
    per_iteration = training.get("per_iteration")
    if not per_iteration:
        return
    fig, (acc, steps) = plt.subplots(2, 1, figsize=(7, 5.5), sharex=True)
    x = iteration_numbers(training)
    curves = (("acc_b_max", "adversarial", "most accurate fB, at fD's step", "tab:red"),
              ("acc_b_min", "budget", "least accurate fB, where the th2 loop stopped", "tab:blue"))
    for key, phase, label, colour in curves:
        y = np.array([it.get(phase, {}).get(key, np.nan) for it in per_iteration], float)
        acc.plot(x, y, c=colour, alpha=0.25, lw=0.8)
        acc.plot(x, _running_mean(y, max(1, len(y) // 20)), c=colour, lw=2, label=label)
    if results["budget_metric"] == "accuracy":
        acc.axhline(results["chance"]["budget_score"], ls=":", c="gray", label="chance")
    acc.set_ylim(0, 1.02)
    acc.set_ylabel("fB accuracy on its batch")
    acc.legend(fontsize=8, loc="lower left")
    for phase, label, colour in (("target", "th1 loop (fT, fD on LT)", "tab:green"),
                                 ("budget", "th2 loop (fB)", "tab:blue")):
        steps.plot(x, [it.get(phase, {}).get("steps", 0) for it in per_iteration], c=colour, lw=1, label=label)
    steps.set_ylabel("steps per iteration")
    steps.set_xlabel("adversarial iteration")
    steps.legend(fontsize=8)
    for ax in (acc, steps):
        ax.grid(alpha=0.3)
    save_png(path, fig)
    plt.close(fig)


def iteration_numbers(training: dict) -> np.ndarray:
    """The iteration each entry of ``per_iteration`` records: the record ends at the run's
    last iteration and, after a resume from an older checkpoint, starts later than 1."""
    last = training["iterations"]
    return np.arange(last - len(training["per_iteration"]) + 1, last + 1)


def training_bands(results: dict, width: int) -> list[dict]:
    """``training.per_iteration`` summarised over bands of ``width`` iterations: the mean
    accuracy of the most accurate fB at fD's step and of the least accurate one where the
    th2 loop stopped, and the th1 / th2 loops' steps and loops stopped at their caps."""
    if width < 1:
        raise ValueError(f"band width must be at least 1, got {width}")
    training = results.get("training") or {}
    per_iteration = training.get("per_iteration")
    if not per_iteration:
        raise ValueError("results have no training.per_iteration (nothing trained, or a run older than the record)")
    caps = {"target": results["config"]["schedule"]["max_target_steps"],
            "budget": results["config"]["schedule"]["max_budget_steps"]}
    numbers = iteration_numbers(training)
    bands = []
    for start in range(0, len(per_iteration), width):
        band = per_iteration[start:start + width]

        def values(phase, key):
            return [it[phase][key] for it in band if key in it.get(phase, {})]

        def mean(phase, key):
            found = values(phase, key)
            return round(float(np.mean(found)), 3) if found else None
        row = {"first": int(numbers[start]), "last": int(numbers[start + len(band) - 1]),
               "acc_b_max_at_fd_step": mean("adversarial", "acc_b_max"),
               "acc_b_min_at_th2_end": mean("budget", "acc_b_min")}
        for phase, name in (("target", "th1"), ("budget", "th2")):
            steps = values(phase, "steps")
            row[f"{name}_steps"] = int(sum(steps))
            row[f"{name}_capped"] = sum(n >= caps[phase] for n in steps)
        bands.append(row)
    return bands


_PROGRESS_LINE = re.compile(r"^\[(?P<elapsed>[\d:]+)\] step \d+ ")
_TIME_LEFT = re.compile(r"(?P<kind>at most |~)(?P<left>[\d:]+) left$")


def time_left_accuracy(lines: list[str], fractions=(0.1, 0.25, 0.5, 0.75, 0.9)) -> dict:
    """How well a training run's printed time left foretold when training ended.

    ``lines``: what ppvr-train printed (its progress lines; other lines are skipped). Each
    progress line's estimate predicts the end at elapsed + left; at each fraction of the
    training time the latest estimate is compared with the end the ``training done`` line
    shows. A resumed run (elapsed starting again at 0) is judged on its last segment."""
    estimates, end = [], None
    for line in lines:
        line = line.strip()
        found = _PROGRESS_LINE.match(line)
        if not found:
            continue
        elapsed = seconds_of(found["elapsed"])
        if estimates and elapsed < estimates[-1]["elapsed_s"]:
            estimates = []  # a resume: its clock starts again
        if "training done" in line:
            end = elapsed
            break
        left = _TIME_LEFT.search(line)
        if left:
            estimates.append({"elapsed_s": elapsed, "predicted_end_s": elapsed + seconds_of(left["left"]),
                              "upper_bound": left["kind"] == "at most "})
    if end is None:
        raise ValueError("no 'training done' progress line: training did not finish in this log")
    if end == 0:
        raise ValueError("training ended within a second")
    if not estimates:
        raise ValueError("no progress line with a time left")
    at = []
    for fraction in fractions:
        before = [e for e in estimates if e["elapsed_s"] <= fraction * end]
        if before:
            e = before[-1]
            at.append({"fraction": fraction, **e, "error_s": e["predicted_end_s"] - end,
                       "error_percent": round(100.0 * (e["predicted_end_s"] - end) / end, 1)})
    return {"training_seconds": end, "estimates": estimates, "at": at}


def time_left_plot(path: str, accuracy: dict, title: str) -> None:
    """The end each progress line predicted, against when it was printed, beside the real end."""
    estimates = accuracy["estimates"]
    end = accuracy["training_seconds"] / 60.0
    figure, axes = plt.subplots(figsize=(6.4, 4.0))
    axes.plot([e["elapsed_s"] / 60.0 for e in estimates], [e["predicted_end_s"] / 60.0 for e in estimates],
              ".", markersize=3, label="elapsed + time left (printed)")
    axes.axhline(end, color="black", linewidth=1, label=f"training ended ({end:.1f} min)")
    axes.set(xlabel="minutes elapsed", ylabel="predicted end of training (minutes)", title=title)
    axes.legend(loc="best")
    save_png(path, figure)
    plt.close(figure)


def _running_mean(y: np.ndarray, window: int) -> np.ndarray:
    """Mean of the last ``window`` finite values at each point (NaN where there are none)."""
    out = np.full(len(y), np.nan)
    for i in range(len(y)):
        recent = y[max(0, i - window + 1):i + 1]
        recent = recent[np.isfinite(recent)]
        if len(recent):
            out[i] = recent.mean()
    return out


def frames_figure(path: str, rows: dict[str, np.ndarray], titles: list[str], gap: int = 2) -> None:
    """For each clip, one row of frames per version ({"raw": clips, "fD(X)": clips, ...}),
    drawn as one image per clip (one small plot per frame is slow to draw).
    Versions of another frame size (a low-resolution fD) are scaled to the first's."""
    n, t, h, w = next(iter(rows.values())).shape[:4]
    aspect = len(rows) * (h + gap) / (t * (w + gap))
    fig, axes = plt.subplots(n, 1, figsize=(1.2 * t, n * (1.2 * t * aspect + 0.4)), squeeze=False)
    for i, ax in enumerate(axes[:, 0]):
        versions = [_frames_at(clips[i], h, w) for clips in rows.values()]
        ax.imshow(_mosaic(versions, gap), interpolation="nearest")
        ax.set_xticks([])
        ax.set_yticks([(r + 0.5) * (h + gap) for r in range(len(rows))], list(rows), fontsize=7)
        ax.set_title(titles[i], fontsize=8, loc="left")
    save_png(path, fig)
    plt.close(fig)


def _frames_at(frames: np.ndarray, h: int, w: int) -> np.ndarray:
    """(T, h', w', C) frames in [0, 1] as (T, h, w, 3), nearest neighbour."""
    rows, columns = np.arange(h) * frames.shape[1] // h, np.arange(w) * frames.shape[2] // w
    frames = np.clip(frames, 0.0, 1.0)[:, rows][:, :, columns]
    return np.repeat(frames, 3, axis=-1) if frames.shape[-1] == 1 else frames


def _mosaic(versions: list[np.ndarray], gap: int) -> np.ndarray:
    """Versions as rows, frames as columns, white lines between them."""
    t, h, w, _ = versions[0].shape
    image = np.ones((len(versions) * (h + gap) - gap, t * (w + gap) - gap, 3))
    for r, frames in enumerate(versions):
        for j, frame in enumerate(frames):
            image[r * (h + gap):r * (h + gap) + h, j * (w + gap):j * (w + gap) + w] = frame
    return image
