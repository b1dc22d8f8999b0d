"""The paper's two-fold evaluation protocol (§3.5), with the attack suite.

Freeze fD. (1) A_T: the target model's accuracy on fD(X_test). (2) Privacy: attackers
that did not take part in training learn from fD(X_train) privacy labels and are judged
on fD(X_test). The paper's A_B^N is the best of N zoo attackers trained from scratch
(``budget_score``); the attack suite (``attacks.py``) adds the adversaries a real
recipient of fD(X) has, and ``worst_case_budget_score`` is the best score any of them
reaches over every seed. The budget models fD was trained against measure nothing: they
can be fooled by small adversarial perturbations (the "∀ challenge").

fD(X) is judged as the camera would send it: quantised to 8 bits. That is also
what lets the evaluation hold a whole degraded dataset in memory (uint8).

Fresh models vary a lot from run to run, so the evaluation runs TensorFlow's ops
deterministically: the same fD with the same seed gives the same numbers, and two fDs
(float and int8, say) meet the same attackers.
"""
from __future__ import annotations

import contextlib
import dataclasses
import time
from typing import Callable

import keras
import numpy as np
import tensorflow as tf
from absl import logging

from ppvr_tf.data.pipeline import Dataset, to_unit_range
from ppvr_tf.evaluation import attacks, metrics, raw_cache
from ppvr_tf.evaluation.attacks import AttackResult, RawAttackers
from ppvr_tf.models.target import c3d
from ppvr_tf.options import option

FrameFilter = Callable[[tf.Tensor], tf.Tensor]  # float frames (N, H, W, 3) in [0, 1] -> same
TargetFactory = Callable[[tuple, int], keras.Model]  # (clip shape, classes) -> fT


@dataclasses.dataclass(frozen=True)
class EvalConfig:
    attackers: tuple[str, ...] = option(("cnn@1.0", "cnn_flat@1.0", "mobilenet_v2@0.35"),
                                        "Fresh attackers of the two-fold evaluation (zoo names).")
    attacks: tuple[str, ...] = option(
        attacks.ATTACKS, "The attack suite of the privacy evaluation (the leak is the worst case over all): "
        "scratch (the zoo, from scratch on fD(X)), temporal (C3D on whole clips), pretrained (trained on raw X, "
        "fine-tuned on fD(X)), reconstruction (white box: g learns fD(X) -> X).")
    attacker_epochs: int = option(30, "Epochs of each fresh attacker (early-stopped).")
    attacker_lr: float = option(1e-3, "Learning rate of the fresh attackers.")
    target_epochs: int = option(30, "Epochs of a freshly trained fT (raw reference, or an fD without its fT).",
                                flag="eval_target_epochs")
    target_lr: float = option(1e-3, "Learning rate of a freshly trained fT.", flag="eval_target_lr")
    patience: int = option(8, "Early-stopping patience (epochs) in evaluation.", flag="eval_patience")
    batch_size: int = option(32, "Batch size of evaluation training.", flag="eval_batch_size")
    attacker_train_frames: int = option(2, "Random frames per clip in attacker training (0: all).")
    attacker_seeds: int = option(3, "Run every attack this many times (its score: the best seed).")
    inversion_epochs: int = option(15, "Epochs of the reconstruction attack's inversion network g.")
    augment: bool = option(True, "Random shifts of the clips the evaluation's fresh fT and attackers learn "
                           "from, and flips for attackers (a few hundred real clips overfit without); fT is "
                           "flipped only with --eval_target_flip.", flag="eval_augment")
    target_flip: bool = option(False, "Also mirror the clips a fresh fT learns from: only for actions a mirror "
                               "does not change (running or walking; not the synthetic walk left).",
                               flag="eval_target_flip")
    evaluate_raw: bool = option(True, "Also judge the raw video (a sweep judges it once, as its own run).")
    raw_cache_dir: str | None = option(
        None, "Where the raw reference (its results and raw-trained attackers) is kept between runs, keyed by "
        "the data, the evaluation flags, precision, seed and code version ('' keeps nothing).",
        flag_default=raw_cache.DEFAULT_ROOT)
    refresh_raw: bool = option(False, "Compute the raw reference again and replace the kept one.")

    def measured(self) -> "EvalConfig":
        """Without the settings that say where results are kept, not what is measured."""
        return dataclasses.replace(self, raw_cache_dir=None, refresh_raw=False)

    def attack_training(self) -> attacks.Training:
        return attacks.Training(self.attacker_epochs, self.attacker_lr, self.patience, self.batch_size,
                                self.attacker_train_frames, self.inversion_epochs, self.augment, flip=True)

    def target_training(self) -> attacks.Training:
        return attacks.Training(self.target_epochs, self.target_lr, self.patience, self.batch_size, 0, 0,
                                self.augment, flip=self.target_flip)


@dataclasses.dataclass
class TwoFoldResult:
    target_accuracy: float
    target_macro_f1: float
    budget_score: float  # A_B^N: the best zoo attacker trained from scratch (the paper's)
    budget_metric: str
    attackers: list[AttackResult]  # the scratch attackers, as results/1 had them
    target_model: str  # "trained" (fT from adversarial training) or "fresh"
    attacks: list[AttackResult]  # every attack of the suite, scratch included
    worst_case_budget_score: float  # the best score of any attack and seed
    target_confusion: list[list[int]] | None = None  # [true action][predicted action], test clips
    inversion: keras.Model | None = dataclasses.field(default=None, repr=False)  # g, if it ran

    def to_json(self) -> dict:
        out = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "inversion"}
        out["attackers"] = [a.to_json() for a in self.attackers]
        out["attacks"] = [a.to_json() for a in self.attacks]
        return out

    @classmethod
    def from_json(cls, data: dict) -> "TwoFoldResult":
        return cls(**{**data, "attackers": [AttackResult(**a) for a in data["attackers"]],
                      "attacks": [AttackResult(**a) for a in data["attacks"]]})


def degrade(frame_filter: FrameFilter, clips: tf.data.Dataset | np.ndarray,
            batch_size: int = 32) -> np.ndarray:
    """fD(X) of uint8 clips (N, T, H, W, 3) as the camera sends it: uint8."""
    if isinstance(clips, np.ndarray):
        clips = tf.data.Dataset.from_tensor_slices(clips)
    out = []
    for batch in clips.batch(batch_size).map(to_unit_range).prefetch(tf.data.AUTOTUNE):
        n, t = batch.shape[:2]
        if getattr(frame_filter, "per_clip", False):  # motion encodings need the previous frame
            degraded = np.asarray(frame_filter(batch), np.float32)
        else:
            frames = np.asarray(frame_filter(tf.reshape(batch, (-1, *batch.shape[2:]))), np.float32)
            degraded = frames.reshape(n, t, *frames.shape[1:])  # a low-resolution fD changes H, W
        out.append(np.round(np.clip(degraded, 0.0, 1.0) * 255.0).astype(np.uint8))
    return np.concatenate(out)


def train_fresh_target(factory: TargetFactory, num_actions: int, train_x, train_y, val_x, val_y,
                       cfg: EvalConfig, seed: int = 0) -> keras.Model:
    """An fT trained from scratch on (degraded) clips: the utility any cloud could reach."""
    keras.utils.set_random_seed(seed)
    model = factory(train_x.shape[1:], num_actions)
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    fit = cfg.target_training()
    return attacks.fit_model(model, loss, (train_x, train_y), (val_x, val_y), fit, seed)


@contextlib.contextmanager
def deterministic_ops():
    """Deterministic kernels for the block, then back to how it was."""
    from tensorflow.python.framework import config as tf_config  # the public API cannot switch it off
    was_enabled = tf_config.is_op_determinism_enabled()
    tf_config.enable_op_determinism()
    try:
        yield
    finally:
        if not was_enabled:
            tf_config.disable_op_determinism()


def evaluate(frame_filter: FrameFilter, dataset: Dataset, cfg: EvalConfig,
             target: Callable | None = None, target_factory: TargetFactory = c3d,
             seed: int = 0, label: str = "", raw_attackers: RawAttackers | None = None,
             is_raw: bool = False) -> TwoFoldResult:
    """Runs both folds for one fD. Without ``target``, a fresh fT from ``target_factory``
    is trained on fD(X_train). ``raw_attackers`` shares raw-trained attackers between
    the evaluations of one run; ``is_raw`` says fD is the identity (the suite then runs
    only the attacks that differ on raw video: scratch and temporal)."""
    with deterministic_ops():
        return _evaluate(frame_filter, dataset, cfg, target, target_factory, seed, label,
                         raw_attackers or RawAttackers(), is_raw)


def _degrade_splits(frame_filter, splits, batch_size: int) -> dict[str, np.ndarray]:
    return {name: degrade(frame_filter, s.clip_dataset(), batch_size)
            for name, s in zip(("train", "val", "test"), splits)}


def _evaluate(frame_filter, dataset, cfg, target, target_factory, seed, label, raw_attackers, is_raw
              ) -> TwoFoldResult:
    started = time.time()
    degraded = _degrade_splits(frame_filter, (dataset.train, dataset.val, dataset.test), cfg.batch_size)
    privacy = dataset.privacy_splits  # attackers learn and are judged on the privacy dataset
    private = _degrade_splits(frame_filter, privacy, cfg.batch_size) if dataset.cross_dataset else degraded
    logging.info("[%s] degraded the clips in %.1fs", label, time.time() - started)
    target_model = "trained" if target is not None else "fresh"
    if target is None:
        target = train_fresh_target(target_factory, dataset.num_actions, degraded["train"], dataset.train.actions,
                                    degraded["val"], dataset.val.actions, cfg, seed)
    target_logits = attacks.predict(target, degraded["test"], cfg.batch_size)
    target_accuracy = metrics.accuracy(dataset.test.actions, target_logits)
    predicted = np.argmax(target_logits, axis=-1)
    target_f1 = metrics.macro_f1(dataset.test.actions, predicted, dataset.num_actions)
    confusion = metrics.confusion_matrix(dataset.test.actions, predicted, dataset.num_actions).tolist()
    logging.info("[%s] A_T = %.3f (%s fT)", label, target_accuracy, target_model)

    results, inversion = _attack(dataset, privacy, private, cfg, target_factory, seed, label, raw_attackers, is_raw)
    scratch = [r for r in results if r.kind == "scratch"]
    return TwoFoldResult(target_accuracy, target_f1, max(r.score for r in scratch or results),
                         dataset.budget_task.metric, scratch, target_model, results,
                         max(r.score for r in results), confusion, inversion)


def _attack(dataset, privacy, private, cfg, target_factory, seed, label, raw_attackers, is_raw):
    """The attack suite on fD(X) of the privacy splits; on raw video only the attacks
    that differ there."""
    raw = private if is_raw else _degrade_splits(lambda frames: frames, privacy, cfg.batch_size)
    labels = {name: split.budget for name, split in zip(("train", "val", "test"), privacy)}
    views = attacks.Views(dataset.budget_task, labels, raw, private, is_raw)
    seeds = [seed + 1 + 1000 * repeat for repeat in range(cfg.attacker_seeds)]
    suite = tuple(a for a in cfg.attacks if not is_raw or a in ("scratch", "temporal"))
    return attacks.run_suite(suite, views, cfg.attackers, seeds, cfg.attack_training(), target_factory,
                             raw_attackers, label)
