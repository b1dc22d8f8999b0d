"""ppvr-train: pretraining -> adversarial training -> two-fold evaluation.

    ppvr-train --flagfile=flags/synthetic/entropy.flags --workdir=runs/entropy

Rerunning the same command resumes from the last checkpoint in --workdir; with a larger
--max_iter, a finished run trains on (then exports and evaluates again).
"""
from __future__ import annotations

import sys

from absl import app, logging

from ppvr_tf.cli import flags as ppvr_flags
from ppvr_tf.config import ConfigError, validate

F = ppvr_flags.F


def main(argv: list[str]) -> None:
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
    if not F.workdir:
        raise app.UsageError("--workdir is required: where checkpoints and results go")
    try:
        cfg = ppvr_flags.experiment_config()
        validate(cfg)
    except ConfigError as error:
        raise app.UsageError(str(error))
    from ppvr_tf import experiment, reporting
    from ppvr_tf.data.errors import DataError
    from ppvr_tf.training.callbacks import TrainingDiverged
    try:
        results = experiment.run(cfg, F.workdir, verbose=F.verbose)
    except TrainingDiverged as error:
        logging.error("training diverged: %s", error)
        sys.exit(f"ppvr-train: training diverged: {error}")
    except DataError as error:  # bad input data: the message names the file
        sys.exit(f"ppvr-train: {error}")
    if results is None:
        print(f"\nthis worker's share of training is done; the chief writes {F.workdir}/results.json")
        return
    print()
    print(reporting.summary_table(results))
    print(f"\nresults: {F.workdir}/results.json   plot: {F.workdir}/tradeoff.png   "
          f"frames: {F.workdir}/frames.png   ({results['seconds']:.0f}s)")


def run() -> None:
    app.run(main)


if __name__ == "__main__":
    run()
