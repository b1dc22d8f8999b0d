"""Every experiment flagfile parses, validates, and builds its pipeline and models."""
from __future__ import annotations

import glob
import os

import pytest

from conftest import ROOT
from ppvr_tf import experiment
from ppvr_tf.cli import flags as ppvr_flags
from ppvr_tf.config import validate
from ppvr_tf.data import pipeline
from ppvr_tf.training import schedule as sched

FLAGFILES = sorted(glob.glob(os.path.join(ROOT, "flags", "**", "*.flags"), recursive=True))
EXPERIMENTS = [f for f in FLAGFILES if not f.endswith("smoke.flags")]


def parse(*flagfiles: str):
    ppvr_flags.F.unparse_flags()
    ppvr_flags.F(["ppvr-train", *(f"--flagfile={f}" for f in flagfiles), "--workdir=/unused"])
    try:
        return ppvr_flags.experiment_config()
    finally:
        ppvr_flags.F.unparse_flags()


def test_there_are_synthetic_experiments_for_every_method():
    names = {os.path.basename(f) for f in EXPERIMENTS}
    assert {"entropy.flags", "entropy_m4_restart.flags", "grl.flags", "kbeam.flags"} <= names


@pytest.mark.parametrize("flagfile", EXPERIMENTS, ids=os.path.basename)
def test_flagfile_parses_validates_and_builds(flagfile):
    full = parse(flagfile)
    validate(full)
    assert "Paper" in open(flagfile).read(), "state the paper's number to approach"
    smoke = parse(flagfile, os.path.join(ROOT, "flags", "smoke.flags"))
    validate(smoke)
    assert smoke.schedule.method == full.schedule.method
    assert smoke.model.num_budget_models == full.model.num_budget_models
    dataset = experiment.load_dataset(smoke)
    trainer = experiment.build_trainer(smoke, dataset, sched.Schedule(smoke.schedule))
    batch = next(iter(pipeline.training_stream(dataset, smoke.optim.batch_size)))
    assert trainer(batch["clips"]).shape == (smoke.optim.batch_size, dataset.num_actions)
    assert len(trainer.budgets) == full.model.num_budget_models
