"""Shared fixtures: a tiny synthetic dataset and a tiny trainer, built in seconds."""
from __future__ import annotations

import os
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# The CLIs keep raw references under XDG_CACHE_HOME: tests (and the CLIs they start)
# share one fresh cache, never the user's.
os.environ["XDG_CACHE_HOME"] = tempfile.mkdtemp(prefix="ppvr_tf-test-cache-")


def _share_of_the_cores() -> int:
    """Under pytest-xdist each worker (and the CLIs it starts) gets its share of the
    cores: the test models' ops are too small to split, and two workers each running
    two-thread pools on two cores measured 10-40 % slower (docs/benchmarks.md)."""
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "0"))
    return max(1, (os.cpu_count() or 1) // workers) if workers else 0


from ppvr_tf.sweep import thread_limits  # noqa: E402  (no TensorFlow import)

os.environ.update(thread_limits(_share_of_the_cores()))

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from ppvr_tf.data import pipeline, synthetic  # noqa: E402
from ppvr_tf.models import budget, degradation, target  # noqa: E402
from ppvr_tf.training import schedule as sched  # noqa: E402
from ppvr_tf.training.trainer import AdversarialTrainer  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY = synthetic.SyntheticConfig(num_frames=4, height=16, width=16, train_clips=32, val_clips=16,
                                 test_clips=16, num_identities=4)


@pytest.fixture
def shown_lines(caplog):
    """The INFO lines the library logs, as the entry points show them (absl's verbosity is
    WARNING until an entry point parses its flags): call it for the messages so far."""
    from absl import logging as absl_logging

    caplog.set_level("INFO")
    verbosity = absl_logging.get_verbosity()
    absl_logging.set_verbosity(absl_logging.INFO)
    yield lambda: [record.getMessage() for record in caplog.records]
    absl_logging.set_verbosity(verbosity)


@pytest.fixture(scope="session")
def tiny_dataset() -> pipeline.Dataset:
    return pipeline.load_synthetic(TINY)


@pytest.fixture
def batch(tiny_dataset):
    """One fixed training batch (with its validation half)."""
    return next(iter(pipeline.training_stream(tiny_dataset, batch_size=8, seed=1)))


def make_trainer(dataset: pipeline.Dataset, method: str = "entropy", num_budgets: int = 1,
                 lr: float = 1e-2, optimizer=keras.optimizers.SGD, gamma: float = 2.0,
                 budget_factory=None, fd_factory=None, **schedule_kwargs) -> AdversarialTrainer:
    """A small trainer with deterministic models (no dropout) and plain SGD by default;
    fD the paper's unless ``fd_factory`` builds another."""
    keras.utils.set_random_seed(0)
    shape = dataset.clip_shape
    names = budget.ensemble_names("cnn", num_budgets, 0.25, 0.05)

    def factory(index):
        return budget.build_budget_model(names[index], shape, dataset.budget_task.outputs)
    factory = budget_factory or factory

    config = sched.ScheduleConfig(method=method, **schedule_kwargs)
    fd = fd_factory() if fd_factory else degradation.transformer_net(0.125, 1)
    trainer = AdversarialTrainer(
        fd, target.c3d(shape, dataset.num_actions, width=0.0625, fc_units=256, dropout=0.0),
        [factory(i) for i in range(num_budgets)], dataset.budget_task, sched.Schedule(config),
        gamma, factory)
    trainer.compile(optimizer(lr), optimizer(lr), optimizer(lr), optimizer(lr))
    return trainer


def weights(variables) -> list[np.ndarray]:
    return [v.numpy().copy() for v in variables]
