"""The trade-off study: Pareto bookkeeping, the table and plot files, run specs, resuming."""
from __future__ import annotations

import csv
import json
import os
import subprocess
import sys

import pytest

from conftest import ROOT
from ppvr_tf import sweep
from ppvr_tf.evaluation import tradeoff


def _results(kind: str, a_t: float, a_b: float, degradation: str = "downsample", rate: int = 4,
             worst: float | None = None) -> dict:
    """A results.json; without ``worst``, a results/1 file (no attack suite: the worst case is A_B^N)."""
    model = {"degradation": degradation, "downsample_rate": rate, "blur_sigma": 2.0, "num_budget_models": 1}
    degraded = {"target_accuracy": a_t, "budget_score": a_b}
    if worst is not None:
        degraded["worst_case_budget_score"] = worst
    return {"kind": kind, "degradation": f"{degradation} r={rate}", "budget_metric": "accuracy",
            "degraded": degraded, "config": {"model": model}}


def test_pareto_front_and_who_beats_whom():
    points = [tradeoff.point("raw", _results("raw", 0.99, 0.99, "identity")),
              tradeoff.point("down", _results("baseline", 0.60, 0.50)),
              tradeoff.point("blur", _results("baseline", 0.90, 0.95, "blur")),
              tradeoff.point("fd", _results("learned", 0.95, 0.30, "transformer")),
              tradeoff.point("tie", _results("baseline", 0.95, 0.30))]
    front = {p.name for p in tradeoff.pareto_front(points)}
    assert front == {"raw", "fd", "tie"}  # equal points do not beat each other
    by_name = {p.name: p for p in points}
    assert tradeoff.dominated_by(by_name["down"], points) == ["fd", "tie"]
    assert tradeoff.dominated_by(by_name["blur"], points) == ["fd", "tie"]
    assert by_name["down"].strength == 4 and by_name["blur"].strength == 2.0


def test_the_front_is_judged_on_the_worst_case_not_on_scratch_attackers():
    fooled_scratch = tradeoff.point("fd", _results("learned", 0.95, 0.10, "transformer", worst=0.80))
    honest = tradeoff.point("down", _results("baseline", 0.95, 0.30, worst=0.40))
    assert fooled_scratch.budget_score < honest.budget_score  # A_B^N alone would rank fd first
    assert tradeoff.dominated_by(fooled_scratch, [fooled_scratch, honest]) == ["down"]
    assert [p.name for p in tradeoff.pareto_front([fooled_scratch, honest])] == ["down"]


def test_table_files_match_the_results(tmp_path):
    points = [tradeoff.point("raw", _results("raw", 0.99, 0.98, "identity", worst=0.99)),
              tradeoff.point("down_8", _results("baseline", 0.55, 0.40, rate=8, worst=0.45)),
              tradeoff.point("fd", _results("learned", 0.97, 0.35, "transformer", worst=0.42))]
    paths = tradeoff.write_all(str(tmp_path), points, "test")
    assert os.path.getsize(paths["png"]) > 10_000
    with open(paths["csv"]) as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0])[:5] == ["name", "kind", "target_accuracy", "budget_score", "worst_case_budget_score"]
    assert [float(r["worst_case_budget_score"]) for r in rows] == [0.99, 0.45, 0.42]
    assert [(r["name"], r["kind"], float(r["target_accuracy"]), float(r["budget_score"])) for r in rows] == [
        ("raw", "raw", 0.99, 0.98), ("down_8", "baseline", 0.55, 0.40), ("fd", "learned", 0.97, 0.35)]
    assert rows[1]["dominated_by"] == "fd" and rows[2]["pareto"] == "True"
    markdown = open(paths["md"]).read()
    assert "| fd | learned | transformer r=4 | 97.0 | 35.0 | 42.0 | yes |" in markdown


def test_run_specs_are_checked(monkeypatch):
    monkeypatch.chdir(ROOT)
    run = sweep.parse_run("blur_2: --flagfile=flags/synthetic/entropy.flags --degradation=blur --blur_sigma=2")
    assert run.name == "blur_2" and run.flags[-1] == "--blur_sigma=2"
    for bad in ("no colon --degradation=blur", ": --degradation=blur", "a b: --x=1", "../up: --x=1",
                "lost: --flagfile=flags/nowhere.flags"):
        with pytest.raises(sweep.SweepError):
            sweep.parse_run(bad)
    with pytest.raises(sweep.SweepError, match="repeated: a"):
        sweep.parse_runs(["a: --x=1", "a: --x=2"])


def test_finished_runs_are_not_run_again(tmp_path, monkeypatch):
    """A sweep killed half-way runs only what is missing when started again."""
    runs = sweep.parse_runs(["raw: --degradation=identity", "down: --degradation=downsample"])
    calls = []

    def fake_train(run, workdir, common, threads):  # stands in for the ppvr-train process
        calls.append(run.name)
        if run.name == "down" and calls.count("down") == 1:
            return 1, 0.0  # the first attempt dies
        os.makedirs(os.path.join(workdir, run.name), exist_ok=True)
        kind = "raw" if run.name == "raw" else "baseline"
        with open(sweep.results_path(workdir, run), "w") as f:
            json.dump(_results(kind, 0.9, 0.5), f)
        return 0, 0.0

    monkeypatch.setattr(sweep, "_train", fake_train)
    with pytest.raises(sweep.SweepError, match="runs failed: down"):
        sweep.run_all(runs, str(tmp_path), [])
    assert os.path.exists(tmp_path / "tradeoff.csv")  # what finished is tabled already
    points = sweep.run_all(runs, str(tmp_path), [])
    assert calls == ["raw", "down", "down"] and [p.name for p in points] == ["raw", "down"]


def test_jobs_run_at_once_each_capped_to_its_share_of_the_cores(tmp_path, monkeypatch):
    """--jobs=2: two runs overlap, each told to use half the cores; the table keeps the
    sweep's order whatever order the runs finish in."""
    import threading
    import time

    runs = sweep.parse_runs(["slow: --x=1", "fast: --x=2", "last: --x=3"])
    running, overlap, caps, lock = [], [], [], threading.Lock()

    def fake_train(run, workdir, common, threads):
        with lock:
            running.append(run.name)
            overlap.append(len(running))
            caps.append(threads)
        time.sleep(0.6 if run.name == "slow" else 0.2)
        os.makedirs(os.path.join(workdir, run.name), exist_ok=True)
        with open(sweep.results_path(workdir, run), "w") as f:
            json.dump(_results("baseline", 0.9, 0.5), f)
        with lock:
            running.remove(run.name)
        return 0, 0.0

    monkeypatch.setattr(sweep, "_train", fake_train)
    monkeypatch.setattr(os, "cpu_count", lambda: 8)
    points = sweep.run_all(runs, str(tmp_path), [], jobs=2)
    assert max(overlap) == 2 and caps == [4, 4, 4]
    assert [p.name for p in points] == ["slow", "fast", "last"]
    env = sweep.thread_limits(3)
    assert env["TF_NUM_INTRAOP_THREADS"] == env["OMP_NUM_THREADS"] == env["OPENCV_FOR_THREADS_NUM"] == "3"
    assert sweep.thread_limits(0) == dict(os.environ)


def test_ppvr_sweep_runs_baselines_end_to_end_and_resumes(tmp_path):
    """The raw video, downsampling fed at low resolution and the motion encoding (whole
    clips) through ppvr-sweep with the smoke flags (one scratch attacker), two processes
    at a time; a second call runs nothing and rewrites the same table."""
    runs = ["raw: --degradation=identity", "down_2_low: --degradation=downsample --downsample_rate=2 "
            "--nodownsample_keep_size", "motion: --degradation=motion"]
    flagfile = tmp_path / "sweep.flags"
    flagfile.write_text("".join(f"--run={run}\n" for run in runs))
    command = [sys.executable, "-m", "ppvr_tf.cli.sweep", f"--flagfile={flagfile}",
               f"--flagfile={ROOT}/flags/smoke.flags", "--attackers=cnn@0.25", f"--workdir={tmp_path}/w",
               "--jobs=2"]
    first = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, timeout=900)
    assert first.returncode == 0, first.stderr[-3000:]
    with open(tmp_path / "w" / "tradeoff.csv") as f:
        rows = {row["name"]: row for row in csv.DictReader(f)}
    assert list(rows) == ["raw", "down_2_low", "motion"]
    for name, row in rows.items():
        results = json.load(open(tmp_path / "w" / name / "results.json"))
        assert row["kind"] == results["kind"] == ("raw" if name == "raw" else "baseline")
        assert float(row["target_accuracy"]) == round(results["degraded"]["target_accuracy"], 4)
        assert float(row["budget_score"]) == round(results["degraded"]["budget_score"], 4)
        assert float(row["worst_case_budget_score"]) == round(results["degraded"]["worst_case_budget_score"], 4)
        if name != "raw":  # the whole suite on frames of another size and on whole-clip encodings
            kinds = {a["kind"] for a in results["degraded"]["attacks"]}
            assert kinds == {"scratch", "temporal", "pretrained", "reconstruction"}, name
        assert results["training"] is None
        assert (results["raw"] == results["degraded"]) if name == "raw" else results["raw"] is None
    assert os.path.getsize(tmp_path / "w" / "tradeoff.png") > 10_000
    second = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert second.returncode == 0 and second.stderr.count("finished earlier") == 3
    assert "worst case" in first.stderr
    assert "running" not in second.stderr
