"""One configuration over several training seeds: mean, spread and range of A_T, A_B^N
(scratch attackers) and the worst case over the attack suite.

One run is one sample; a claim about a method (or a precision, or a CPU) compares groups
of runs that differ only in ``--seed``.
"""
from __future__ import annotations

import json
import statistics

from ppvr_tf import reporting
from ppvr_tf.io_utils import atomic_write_text

METRICS = ("target_accuracy", "budget_score", "worst_case_budget_score")


class SeedsError(ValueError):
    """A results.json that cannot be read as one seed of a group."""


def load(path: str) -> dict:
    """A run's results.json, checked for what ``spread`` reads."""
    try:
        with open(path) as f:
            results = json.load(f)
        degraded = results["degraded"]
        return {"seed": results["config"]["seed"], "budget_metric": results["budget_metric"],
                **{m: float(degraded[m]) for m in METRICS[:2]},
                "worst_case_budget_score": float(reporting.worst_case(degraded))}
    except (OSError, json.JSONDecodeError) as error:
        raise SeedsError(f"{path}: cannot read it as JSON ({error})") from None
    except (KeyError, TypeError, ValueError) as error:
        raise SeedsError(f"{path}: not a ppvr-train results.json (missing or bad {error})") from None


def spread(runs: list[dict]) -> dict:
    """Mean, sample standard deviation (0 for one run), min and max of each metric."""
    if not runs:
        raise SeedsError("a group without runs")
    metrics = {run["budget_metric"] for run in runs}
    if len(metrics) > 1:
        raise SeedsError(f"runs judged by different budget metrics: {sorted(metrics)}")
    summary = {"runs": len(runs), "seeds": [run["seed"] for run in runs], "budget_metric": metrics.pop()}
    for metric in METRICS:
        values = [run[metric] for run in runs]
        summary[metric] = {"mean": statistics.fmean(values),
                           "std": statistics.stdev(values) if len(values) > 1 else 0.0,
                           "min": min(values), "max": max(values), "values": values}
    return summary


def markdown(groups: dict[str, dict]) -> str:
    """One row per group: mean ± std (min-max) in percent, and each seed's value."""
    def cell(stats: dict) -> str:
        return (f"{100 * stats['mean']:.1f} ± {100 * stats['std']:.1f} ({100 * stats['min']:.1f}-"
                f"{100 * stats['max']:.1f}); seeds: {', '.join(f'{100 * v:.1f}' for v in stats['values'])}")
    lines = ["| group | runs | A_T % | A_B^N % (scratch) | worst case % |", "|---|---|---|---|---|"]
    lines += [f"| {name} | {s['runs']} | {' | '.join(cell(s[m]) for m in METRICS)} |" for name, s in groups.items()]
    return "\n".join(lines) + "\n"


def write(path: str, groups: dict[str, dict]) -> None:
    atomic_write_text(path, json.dumps({"schema": "ppvr_tf.seeds/1", "groups": groups}, indent=1))
