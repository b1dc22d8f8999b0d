"""Seed spread: mean, sample standard deviation and range over runs' results.json."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from ppvr_tf.evaluation import seeds
from conftest import ROOT


def _results(tmp_path, name: str, seed: int, target: float, budget: float, metric: str = "accuracy") -> str:
    path = tmp_path / name / "results.json"
    path.parent.mkdir()
    path.write_text(json.dumps({"config": {"seed": seed, "precision": "float32"}, "budget_metric": metric,
                                "degraded": {"target_accuracy": target, "budget_score": budget}}))
    return str(path)


def test_spread_is_mean_sample_std_and_range(tmp_path):
    runs = [seeds.load(_results(tmp_path, f"s{i}", i, t, b)) for i, (t, b) in enumerate(
        [(0.9, 0.2), (0.8, 0.4), (0.7, 0.3)])]
    summary = seeds.spread(runs)
    assert summary["seeds"] == [0, 1, 2]
    assert summary["target_accuracy"]["mean"] == pytest.approx(0.8)
    assert summary["target_accuracy"]["std"] == pytest.approx(0.1)  # n - 1 in the denominator
    assert (summary["budget_score"]["min"], summary["budget_score"]["max"]) == (0.2, 0.4)
    assert "80.0 ± 10.0 (70.0-90.0); seeds: 90.0, 80.0, 70.0" in seeds.markdown({"f32": summary})
    assert seeds.spread(runs[:1])["budget_score"]["std"] == 0.0


def test_runs_judged_differently_or_unreadable_are_refused_by_name(tmp_path):
    runs = [seeds.load(_results(tmp_path, "a", 0, 0.9, 0.2)), seeds.load(_results(tmp_path, "b", 1, 0.9, 0.2, "cmap"))]
    with pytest.raises(seeds.SeedsError, match="different budget metrics"):
        seeds.spread(runs)
    broken = tmp_path / "broken.json"
    broken.write_text('{"degraded": ')
    with pytest.raises(seeds.SeedsError, match="broken.json: cannot read"):
        seeds.load(str(broken))


def test_the_tool_prints_the_table_and_writes_json(tmp_path):
    for i, t in enumerate((0.6, 0.8)):
        _results(tmp_path, f"run{i}", i, t, 0.5)
    out = tmp_path / "spread.json"
    run = subprocess.run([sys.executable, "tools/seed_spread.py", f"--group=f32={tmp_path}/run*/results.json",
                          f"--out={out}"], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert run.returncode == 0, run.stderr
    assert "| f32 | 2 | 70.0 ± 14.1" in run.stdout
    assert json.loads(out.read_text())["groups"]["f32"]["target_accuracy"]["values"] == [0.6, 0.8]
