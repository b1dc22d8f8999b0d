"""Every experiment flagfile parses, validates and builds its pipeline; one flagfile per
model recipe builds its models."""
from __future__ import annotations

import dataclasses
import functools
import glob
import os
import re

import numpy as np
import pytest

import fixtures
from conftest import ROOT
from ppvr_tf import experiment, sweep
from ppvr_tf.cli import flags as ppvr_flags
from ppvr_tf.config import validate
from ppvr_tf.data import pipeline
from ppvr_tf.models import baselines
from ppvr_tf.training import schedule as sched

FLAGFILES = sorted(glob.glob(os.path.join(ROOT, "flags", "**", "*.flags"), recursive=True))
SWEEPS = [f for f in FLAGFILES if f"{os.sep}sweeps{os.sep}" in f]
BASES = [f for f in FLAGFILES if os.path.basename(f).startswith("_")]  # included by experiments, not run
EXPERIMENTS = [f for f in FLAGFILES if not f.endswith("smoke.flags") and f not in SWEEPS + BASES]


@pytest.fixture(scope="session")
def data_roots(tmp_path_factory) -> list[str]:
    """Flags pointing every dataset flag at small official-layout fixtures."""
    root = tmp_path_factory.mktemp("datasets")
    return [f"--cache_dir={root / 'cache'}", f"--pa_hmdb51_dir={fixtures.make_pa_hmdb51(str(root / 'pa'))}",
            f"--privacy_data_dir={fixtures.make_vispr(str(root / 'vispr'))}",
            f"--data_dir={root / 'DATASET'}"]


def with_dataset(roots: list[str], dataset: str) -> list[str]:
    """``roots`` with --data_dir at the fixture of ``dataset`` (built on first use)."""
    *others, data_dir = roots
    folder = data_dir.split("=", 1)[1].replace("DATASET", dataset)
    if dataset == "manifest":
        return [*others, f"--manifest={fixtures.make_manifest(folder, 'single')}"]
    if not os.path.isdir(folder):
        {"sbu": fixtures.make_sbu, "ucf101": fixtures.make_ucf101, "hmdb51": fixtures.make_hmdb51}[dataset](folder)
    return [*others, f"--data_dir={folder}"]


def parse(*flagfiles: str, extra: tuple[str, ...] = ()):
    ppvr_flags.F.unparse_flags()
    ppvr_flags.F(["ppvr-train", *(f"--flagfile={f}" for f in flagfiles), *extra, "--workdir=/unused"])
    try:
        return ppvr_flags.experiment_config()
    finally:
        ppvr_flags.F.unparse_flags()


@functools.cache
def builders() -> set[str]:
    """One flagfile per model recipe (dataset, models but M, method), the one with the
    most budget models: the others differ from it only in M or the schedule, and building
    the paper's ResNet-50 ensembles for every one of them takes minutes. Found when a test
    first asks, so that a flagfile that does not parse fails its own test, not collection."""
    largest: dict[tuple, tuple[int, str]] = {}
    for flagfile in EXPERIMENTS:
        cfg = parse(flagfile)
        m = cfg.model
        recipe = (cfg.dataset, dataclasses.replace(m, num_budget_models=0), cfg.schedule.method)
        if recipe not in largest or m.num_budget_models > largest[recipe][0]:
            largest[recipe] = (m.num_budget_models, flagfile)
    return {flagfile for _, flagfile in largest.values()}


def test_there_are_experiments_for_every_method_and_dataset():
    names = {os.path.relpath(f, os.path.join(ROOT, "flags")) for f in EXPERIMENTS}
    assert {"synthetic/entropy.flags", "synthetic/entropy_m4_restart.flags", "synthetic/grl.flags",
            "synthetic/kbeam.flags", "sbu/grl.flags", "ucf101_vispr/entropy_m8_restart.flags",
            "hmdb51_vispr/entropy_m8.flags"} <= names
    assert {f"sbu/entropy_m{m}{r}.flags" for m in (1, 2, 4, 8) for r in ("", "_restart")} <= names
    assert {f"sbu/kbeam_k{k}.flags" for k in (1, 2, 4, 8)} <= names


def test_the_readme_main_job_is_an_experiment_flagfile():
    """The quick start's command is the contract a newcomer runs first: its flagfile exists,
    is an experiment (tested below) and runs the synthetic dataset without data."""
    with open(os.path.join(ROOT, "README.md")) as f:
        main_job = re.search(r"ppvr-train --flagfile=(\S+)", f.read())
    assert main_job, "README: no ppvr-train command"
    flagfile = os.path.join(ROOT, main_job.group(1))
    assert flagfile in EXPERIMENTS
    assert parse(flagfile).dataset == "synthetic"


@pytest.mark.parametrize("flagfile", EXPERIMENTS, ids=lambda f: os.path.relpath(f, os.path.join(ROOT, "flags")))
def test_flagfile_parses_validates_and_builds(flagfile, data_roots):
    full = parse(flagfile)
    validate(full)
    assert "Paper" in open(flagfile).read(), "state the paper's number to approach"
    smoke = parse(flagfile, os.path.join(ROOT, "flags", "smoke.flags"),
                  extra=tuple(with_dataset(data_roots, full.dataset)) if full.dataset != "synthetic" else ())
    validate(smoke)
    assert smoke.schedule.method == full.schedule.method
    assert smoke.model.num_budget_models == full.model.num_budget_models
    dataset = experiment.load_dataset(smoke)
    if experiment.kind(smoke) == "baseline":  # nothing to train: the fixed fD runs on a clip
        fd = baselines.build_baseline(smoke.model)
        clips = pipeline.to_unit_range(dataset.test.head(2))
        assert np.asarray(fd(clips)).shape == clips.shape
        return
    if flagfile not in builders():  # its models are those of the flagfile of its recipe that builds them
        return
    trainer = experiment.build_trainer(smoke, dataset, sched.Schedule(smoke.schedule))
    batch = next(iter(pipeline.training_stream(dataset, smoke.optim.batch_size)))
    assert trainer(batch["clips"]).shape == (smoke.optim.batch_size, dataset.num_actions)
    assert len(trainer.budgets) == full.model.num_budget_models


@pytest.mark.parametrize("flagfile", SWEEPS, ids=os.path.basename)
def test_every_run_of_a_sweep_parses_and_validates(flagfile, monkeypatch):
    """A sweep flagfile holds ppvr-sweep's --run lines; each run is a valid ppvr-train call."""
    monkeypatch.chdir(ROOT)
    specs = [line.split("=", 1)[1] for line in open(flagfile).read().splitlines() if line.startswith("--run=")]
    runs = sweep.parse_runs(specs)
    kinds = set()
    for run in runs:
        ppvr_flags.F.unparse_flags()
        try:
            ppvr_flags.F(["ppvr-train", *run.flags, "--workdir=/unused"])
            cfg = ppvr_flags.experiment_config()
        finally:
            ppvr_flags.F.unparse_flags()
        validate(cfg)
        kinds.add(experiment.kind(cfg))
    assert kinds == {"raw", "baseline", "learned"}
