"""ppvr-evaluate: the two-fold evaluation of an exported fD.

    ppvr-evaluate --saved_model=runs/entropy/saved_model/degradation

Loads the SavedModel, rebuilds the dataset it was trained on (from the metadata
stored beside it; data, evaluation and --precision flags given here override it), and
reports A_T and A_B^N beside the raw reference. A_T uses the run's fT
(``saved_model/target`` next to fD, or --target_saved_model); --fresh_target trains a
new fT on fD(X) instead.
"""
from __future__ import annotations

import dataclasses
import json
import os
import sys

from absl import app, flags

from ppvr_tf.cli import flags as ppvr_flags
from ppvr_tf.config import ExperimentConfig
from ppvr_tf.data.loader import SourceConfig
from ppvr_tf.data.synthetic import SyntheticConfig
from ppvr_tf.evaluation.two_fold import EvalConfig
from ppvr_tf.training.precision import resolve

F = ppvr_flags.F
flags.DEFINE_string("saved_model", None, "fD: a SavedModel directory from ppvr-train, or a .tflite "
                    "from ppvr-export (run through LiteRT, frame by frame).")
flags.DEFINE_string("target_saved_model", None, "SavedModel of fT (default: ../target beside fD).")
flags.DEFINE_bool("fresh_target", False, "Train a fresh fT on fD(X) instead of loading one.")
flags.DEFINE_string("output", None, "Where to write results JSON (default: print only).")


def _config(metadata: dict):
    """The run's configuration, with what is given here replacing it: data flags (the
    synthetic clips as a whole), evaluation flags (one by one), precision, data paths."""
    cfg = ExperimentConfig.from_json(json.dumps(metadata["config"]))
    if ppvr_flags.given(SyntheticConfig) or F["budget_task"].present:
        cfg = dataclasses.replace(cfg, data=ppvr_flags.build(SyntheticConfig), budget_task=F.budget_task)
    cfg = dataclasses.replace(
        cfg, eval=dataclasses.replace(cfg.eval, **ppvr_flags.from_flags(EvalConfig, only_given=True)),
        source=dataclasses.replace(cfg.source, **ppvr_flags.from_flags(SourceConfig, only_given=True)))
    if F["precision"].present:  # the fresh models' arithmetic on this machine
        cfg = dataclasses.replace(cfg, precision=resolve(F.precision))
    return cfg


def _load_fd(path: str):
    """(frame filter, metadata with the run's config, default fT path) of a SavedModel
    directory or of a .tflite file exported by ppvr-export (metadata.json beside it)."""
    from ppvr_tf.export.saved_model import ServingModel, load_metadata
    if path.endswith(".tflite"):
        from ppvr_tf.evaluation.litert_fd import TFLiteFrameFilter
        beside = os.path.join(os.path.dirname(os.path.abspath(path)), "metadata.json")
        if not os.path.exists(beside):
            raise FileNotFoundError(f"{beside}: missing; evaluate a .tflite inside a ppvr-export --out_dir")
        with open(beside) as f:
            metadata = json.load(f)
        return TFLiteFrameFilter(path), metadata, os.path.join(os.path.dirname(metadata["source"]), "target")
    metadata = load_metadata(path)
    return ServingModel(path), metadata, os.path.join(os.path.dirname(os.path.abspath(path)), "target")


def main(argv: list[str]) -> None:
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
    if not F.saved_model:
        raise app.UsageError("--saved_model is required")
    from ppvr_tf import experiment, reporting
    from ppvr_tf.config import ConfigError, validate
    from ppvr_tf.data.errors import DataError
    from ppvr_tf.export.saved_model import ServingModel

    try:
        fd, metadata, default_target = _load_fd(F.saved_model)
    except FileNotFoundError as error:
        raise app.UsageError(str(error))
    cfg = _config(metadata)
    try:
        validate(cfg)
    except ConfigError as error:
        raise app.UsageError(str(error))
    try:
        dataset = experiment.load_dataset(cfg)
    except DataError as error:
        sys.exit(f"ppvr-evaluate: {error}")
    target = None
    if not F.fresh_target:
        target = ServingModel(F.target_saved_model or default_target)
    results, inversion = experiment.two_fold_results(cfg, dataset, fd, target)
    results["saved_model"] = os.path.abspath(F.saved_model)
    results["config"] = dataclasses.asdict(cfg)  # as evaluated
    if F.output:
        reporting.write_results(F.output, results)
        experiment.write_frames(os.path.join(os.path.dirname(os.path.abspath(F.output)), "frames.png"),
                                dataset, fd, inversion)
    print(reporting.summary_table(results))


def run() -> None:
    app.run(main)


if __name__ == "__main__":
    run()
