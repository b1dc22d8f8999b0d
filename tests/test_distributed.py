"""The trainer runs unchanged under MirroredStrategy on two logical CPU devices."""
from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from conftest import ROOT
from ppvr_tf import sweep

SCRIPT = textwrap.dedent("""
    import os, sys, dataclasses
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "2"
    import tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    import numpy as np
    sys.path.insert(0, "tests")
    from test_experiment import tiny_config
    from ppvr_tf import experiment
    from ppvr_tf.training import distribute, schedule
    # One strategy per process, as in ppvr-train: collective keys are per strategy.
    strategy = distribute.make_strategy("mirrored")
    assert strategy.num_replicas_in_sync == 2, strategy.num_replicas_in_sync
    method = sys.argv[2]
    # The pretraining phases are the same code for every method: run them once.
    pretraining = {} if method == "entropy" else {
        f"pretrain_{part}_steps": 0 for part in ("identity", "target", "budget")}
    cfg = tiny_config(method=method, d_iter=2, restart_every=1, restart_budget_steps=2, **pretraining)
    cfg = dataclasses.replace(cfg, strategy="mirrored",
                              model=dataclasses.replace(cfg.model, num_budget_models=2))
    dataset = experiment.load_dataset(cfg)
    workdir = experiment.Workdir(sys.argv[1] + "/" + method)
    with strategy.scope():
        fd = experiment.build_trainer(cfg, dataset, schedule.Schedule(cfg.schedule)).degradation
        before = [v.numpy().copy() for v in fd.weights]
    trainer = experiment.train(cfg, dataset, workdir, strategy=strategy, verbose=0)
    state = trainer.schedule.state
    assert trainer.schedule.done and state.restarts == 1, state
    after = [v.numpy() for v in trainer.degradation.weights]
    assert all(np.all(np.isfinite(a)) for a in after)
    assert any(not np.allclose(a, b) for a, b in zip(after, before)), "fD did not train"
    print(method, "ok", state.total_steps)
""")


@pytest.mark.parametrize("method", ["entropy", "grl", "kbeam"])
def test_mirrored_strategy_on_two_logical_cpus_trains_every_method(tmp_path, method):
    # two op threads, one per replica, whatever an xdist worker's share of the cores is
    run = subprocess.run([sys.executable, "-c", SCRIPT, str(tmp_path), method], capture_output=True, text=True,
                         cwd=ROOT, timeout=600, env=sweep.thread_limits(2))
    assert run.returncode == 0, run.stderr[-4000:]
    assert [line.split()[:2] for line in run.stdout.splitlines()] == [[method, "ok"]]
