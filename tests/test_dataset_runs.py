"""One paper flagfile per dataset runs end to end at tiny size (flags/smoke.flags) on
small fixtures in the official layouts, through the ppvr-train command."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

import fixtures
from conftest import ROOT


@pytest.fixture(scope="module")
def roots(tmp_path_factory) -> dict[str, str]:
    base = tmp_path_factory.mktemp("data")
    ucf = fixtures.make_ucf101(str(base / "ucf"))
    fixtures.truncate(os.path.join(ucf, "UCF-101", "Archery", "v_Archery_g09_c01.avi"))  # a bad download
    return {"sbu": fixtures.make_sbu(str(base / "sbu")), "ucf101": ucf,
            "hmdb51": fixtures.make_hmdb51(str(base / "hmdb")), "vispr": fixtures.make_vispr(str(base / "vispr")),
            "pa": fixtures.make_pa_hmdb51(str(base / "pa")),
            "manifest": fixtures.make_manifest(str(base / "own"), "multi"), "cache": str(base / "cache")}


# The whole attack suite runs on one single-label clip dataset (the CLI test), on
# cross-dataset single images (UCF101 + VISPR) and on multi-label clips (a manifest); the
# other datasets test their data path with the scratch attackers on fD(X) only.
SCRATCH_ONLY = ("--attacks=scratch", "--noevaluate_raw")


# What is tested is the data path: one small budget model (every budget family is built by
# tests/test_flagfiles.py; tracing the paper's ResNet-50 budget models took most of a run),
# and no pretraining or fT refit (the same code for every dataset, run by the CLI test;
# without them a smoke run takes about a third less time).
DATA_PATH_ONLY = ("--num_budget_models=1", "--budget_family=cnn", "--budget_width=0.25",
                  "--pretrain_identity_steps=0", "--pretrain_target_steps=0", "--pretrain_budget_steps=0",
                  "--finetune_target_epochs=0")


def train(flagfile: str, workdir: str, *flags: str) -> dict:
    """A paper flagfile at smoke size, trained for its data path only."""
    command = [sys.executable, "-m", "ppvr_tf.cli.train", f"--flagfile={ROOT}/flags/{flagfile}",
               f"--flagfile={ROOT}/flags/smoke.flags", f"--workdir={workdir}", *DATA_PATH_ONLY, *flags]
    run = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, timeout=900)
    assert run.returncode == 0, run.stderr[-3000:]
    with open(os.path.join(workdir, "results.json")) as f:
        return json.load(f)


def check(results: dict, metric: str, parts: tuple[str, ...] = ("raw", "degraded")) -> None:
    for part in parts:
        assert results[part]["budget_metric"] == metric
        assert len(results[part]["attackers"]) == 2
        assert 0.0 <= results[part]["target_accuracy"] <= 1.0 and 0.0 <= results[part]["budget_score"] <= 1.0


def test_sbu(roots, tmp_path):
    results = train("sbu/entropy_m1.flags", str(tmp_path), f"--data_dir={roots['sbu']}",
                    f"--cache_dir={roots['cache']}", *SCRATCH_ONLY)
    check(results, "accuracy", ("degraded",))
    assert results["budget_task"] == "actor_pair" and len(results["budget_labels"]) == 13


def test_ucf101_with_vispr(roots, tmp_path):
    results = train("ucf101_vispr/entropy_m1.flags", str(tmp_path), f"--data_dir={roots['ucf101']}",
                    f"--privacy_data_dir={roots['vispr']}", f"--cache_dir={roots['cache']}")
    check(results, "cmap")
    assert results["budget_task"] == "vispr:ucf101" and len(results["budget_labels"]) == 7
    assert results["data"]["skipped_count"] == 1  # the truncated video, skipped and counted
    assert "v_Archery_g09_c01.avi" in results["data"]["skipped"]["ucf101/train"][0]
    assert results["data"]["clips"]["train"] == 8 and results["data"]["clips"]["privacy_train"] == 4
    assert set(results["degraded"]["attackers"][0]["per_attribute"]) == set(results["budget_labels"])


def test_hmdb51_with_vispr_judged_on_pa_hmdb51(roots, tmp_path):
    results = train("hmdb51_vispr/entropy_m1.flags", str(tmp_path), f"--data_dir={roots['hmdb51']}",
                    f"--privacy_data_dir={roots['vispr']}", f"--pa_hmdb51_dir={roots['pa']}",
                    f"--cache_dir={roots['cache']}", *SCRATCH_ONLY)
    check(results, "cmap", ("degraded",))
    assert results["budget_task"] == "vispr:pa_hmdb51->pa_hmdb51"
    per_attribute = results["degraded"]["attackers"][0]["per_attribute"]
    assert per_attribute["face"] != per_attribute["face"]  # every fixture clip's face is unlabeled: NaN


def test_manifest_of_own_videos_trains_and_evaluates(roots, tmp_path):
    results = train("manifest/entropy.flags", str(tmp_path / "run"), f"--manifest={roots['manifest']}",
                    f"--cache_dir={roots['cache']}")
    check(results, "cmap")
    assert results["budget_labels"] == ["person=alice", "person=bob", "badge", "zone=0", "zone=1", "zone=2"]
    out = str(tmp_path / "eval.json")
    run = subprocess.run([sys.executable, "-m", "ppvr_tf.cli.evaluate",
                          f"--saved_model={tmp_path}/run/saved_model/degradation", f"--output={out}",
                          "--noevaluate_raw", "--attacks=scratch"],  # what is compared is fT's A_T
                         capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    with open(out) as f:
        evaluated = json.load(f)
    assert evaluated["degraded"]["target_accuracy"] == pytest.approx(results["degraded"]["target_accuracy"])


def test_missing_dataset_root_is_reported_by_the_command(tmp_path):
    run = subprocess.run([sys.executable, "-m", "ppvr_tf.cli.train", f"--flagfile={ROOT}/flags/sbu/grl.flags",
                          f"--flagfile={ROOT}/flags/smoke.flags", f"--data_dir={tmp_path}/nowhere",
                          f"--cache_dir={tmp_path}/cache", f"--workdir={tmp_path}/run"],
                         capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert run.returncode != 0 and f"{tmp_path}/nowhere: dataset root not found" in run.stderr
