"""The privacy-utility plane of many runs (the paper's Fig. 2, 4, 8): one point per run,
A_T up, privacy leak left; which runs no other run beats on both axes (the Pareto front),
and which runs beat a given one. The leak is the worst case over the attack suite: a run
that only fools attackers trained from scratch beats nothing."""
from __future__ import annotations

import csv
import dataclasses
import io
import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from ppvr_tf import reporting  # noqa: E402
from ppvr_tf.io_utils import atomic_write_text, save_png  # noqa: E402

KINDS = ("raw", "baseline", "learned")
COLUMNS = ("name", "kind", "target_accuracy", "budget_score", "worst_case_budget_score", "budget_metric",
           "degradation", "strength", "pareto", "dominated_by")
_STYLE = {"raw": ("tab:red", "o"), "baseline": ("tab:gray", "s"), "learned": ("tab:blue", "*")}


@dataclasses.dataclass(frozen=True)
class Point:
    name: str
    kind: str  # raw | baseline | learned
    target_accuracy: float  # A_T
    budget_score: float  # A_B^N: the best scratch attacker
    budget_metric: str
    degradation: str  # e.g. "downsample r=4" or "mcu fD, entropy, M=4, restart every 20"
    strength: float  # what the marker size shows: the rate, sigma, M or K
    worst_case_budget_score: float  # the best score of any attack and seed

    def beats(self, other: "Point") -> bool:
        """At least as good on both axes (worst-case leak) and better on one."""
        mine, theirs = self.worst_case_budget_score, other.worst_case_budget_score
        return (self.target_accuracy >= other.target_accuracy and mine <= theirs
                and (self.target_accuracy > other.target_accuracy or mine < theirs))


def point(name: str, results: dict) -> Point:
    """A run's point from its results.json."""
    model = results["config"]["model"]
    strength = {"downsample": model["downsample_rate"], "blur": model["blur_sigma"]}.get(
        model["degradation"], model["num_budget_models"] if results["kind"] == "learned" else 1)
    degraded = results["degraded"]
    return Point(name, results["kind"], degraded["target_accuracy"], degraded["budget_score"],
                 results["budget_metric"], results["degradation"], float(strength), reporting.worst_case(degraded))


def pareto_front(points: list[Point]) -> list[Point]:
    return [p for p in points if not any(q.beats(p) for q in points)]


def dominated_by(p: Point, points: list[Point]) -> list[str]:
    return [q.name for q in points if q.beats(p)]


def rows(points: list[Point]) -> list[dict]:
    front = {p.name for p in pareto_front(points)}
    return [{**dataclasses.asdict(p), "target_accuracy": round(p.target_accuracy, 4),
             "budget_score": round(p.budget_score, 4),
             "worst_case_budget_score": round(p.worst_case_budget_score, 4), "pareto": p.name in front,
             "dominated_by": " ".join(dominated_by(p, points))} for p in points]


def write_csv(path: str, points: list[Point]) -> None:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows(points))
    atomic_write_text(path, buffer.getvalue())


def write_markdown(path: str, points: list[Point], title: str) -> None:
    metric = points[0].budget_metric if points else "accuracy"
    lines = [f"# {title}", "", f"A_T: action accuracy (%), higher is better. A_B^N: best scratch attacker's "
             f"{metric} (%); worst case: the best of every attack and seed, lower is better. Pareto: no run "
             "beats it on A_T and the worst case.", "",
             "| run | kind | degradation | A_T % | A_B^N % | worst case % | Pareto | beaten by |",
             "|---|---|---|---|---|---|---|---|"]
    for row in sorted(rows(points), key=lambda r: (KINDS.index(r["kind"]), r["name"])):
        lines.append(f"| {row['name']} | {row['kind']} | {row['degradation']} | {100 * row['target_accuracy']:.1f} "
                     f"| {100 * row['budget_score']:.1f} | {100 * row['worst_case_budget_score']:.1f} "
                     f"| {'yes' if row['pareto'] else ''} "
                     f"| {row['dominated_by']} |")
    atomic_write_text(path, "\n".join(lines) + "\n")


def plot(path: str, points: list[Point], title: str) -> None:
    """A_T against A_B^N; marker shape and colour by kind, size by strength, front joined."""
    fig, ax = plt.subplots(figsize=(7.5, 5.5))
    for kind in KINDS:
        members = [p for p in points if p.kind == kind]
        if not members:
            continue
        colour, marker = _STYLE[kind]
        biggest = max(p.strength for p in members) or 1.0
        ax.scatter([100 * p.worst_case_budget_score for p in members], [100 * p.target_accuracy for p in members],
                   s=[60 + 240 * p.strength / biggest for p in members], c=colour, marker=marker,
                   alpha=0.8, label=kind, zorder=3, edgecolors="black", linewidths=0.5)
        for p in members:
            ax.annotate(p.name, (100 * p.worst_case_budget_score, 100 * p.target_accuracy), fontsize=7,
                        xytext=(4, 4), textcoords="offset points")
    front = sorted(pareto_front(points), key=lambda p: p.worst_case_budget_score)
    if front:
        ax.step([100 * p.worst_case_budget_score for p in front], [100 * p.target_accuracy for p in front],
                where="post", c="tab:green", lw=1.5, label="Pareto front", zorder=2)
    metric = points[0].budget_metric if points else "accuracy"
    ax.set_xlabel(f"privacy leak: worst case over the attack suite, {metric} (%) - lower is better")
    ax.set_ylabel("A_T: action accuracy (%) - higher is better")
    ax.set_xlim(0, 102)  # the whole plane, so sweeps compare at a glance
    ax.set_ylim(0, 102)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    save_png(path, fig)
    plt.close(fig)


def write_all(workdir: str, points: list[Point], title: str) -> dict[str, str]:
    os.makedirs(workdir, exist_ok=True)
    paths = {ext: os.path.join(workdir, f"tradeoff.{ext}") for ext in ("png", "md", "csv")}
    plot(paths["png"], points, title)
    write_markdown(paths["md"], points, title)
    write_csv(paths["csv"], points)
    return paths
