"""The paper's two-fold evaluation protocol (§3.5).

Freeze fD. (1) A_T: the target model's accuracy on fD(X_test). (2) Train N fresh
attackers from the zoo on fD(X_train) privacy labels; A_B^N is the best attacker's
test score (accuracy, or macro AP for multi-label tasks). Only these fresh
attackers measure privacy: the budget models fD was trained against can be fooled
by small adversarial perturbations (the "∀ challenge").

fD(X) is judged as the camera would send it: quantised to 8 bits. That is also
what lets the evaluation hold a whole degraded dataset in memory (uint8).

Fresh attackers trained from scratch vary a lot from run to run, so the evaluation
runs TensorFlow's ops deterministically: the same fD with the same seed gives the
same numbers, and two fDs (float and int8, say) meet the same attackers.
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

from ppvr_tf.data.pipeline import Dataset, Split, to_unit_range
from ppvr_tf.evaluation import metrics
from ppvr_tf.models.budget import build_budget_model
from ppvr_tf.models.target import c3d
from ppvr_tf.training.losses import SINGLE, BudgetTask, budget_loss

FrameFilter = Callable[[tf.Tensor], tf.Tensor]  # float frames (N, H, W, 3) in [0, 1] -> same


@dataclasses.dataclass(frozen=True)
class EvalConfig:
    attackers: tuple[str, ...] = ("cnn@1.0", "cnn_flat@1.0", "mobilenet_v2@0.35")
    attacker_epochs: int = 30
    attacker_lr: float = 1e-3
    target_epochs: int = 30  # fresh fT (raw reference, or an fD without its fT)
    target_lr: float = 1e-3
    patience: int = 8
    batch_size: int = 32
    attacker_train_frames: int = 2  # random frames per clip per attacker step (0: all)
    attacker_seeds: int = 1  # train each attacker this many times; its score is the best
    evaluate_raw: bool = True  # the raw reference beside every run (a sweep measures it once)


@dataclasses.dataclass
class AttackerResult:
    name: str
    score: float  # the best over its seeds
    per_attribute: dict[str, float] | None
    macro_f1: float
    seconds: float
    scores: list[float]  # one per seed: how much a fresh attacker's luck matters


@dataclasses.dataclass
class TwoFoldResult:
    target_accuracy: float
    target_macro_f1: float
    budget_score: float
    budget_metric: str
    attackers: list[AttackerResult]
    target_model: str  # "trained" (fT from adversarial training) or "fresh"

    def to_json(self) -> dict:
        return dataclasses.asdict(self)


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


def budget_score(task: BudgetTask, labels: np.ndarray, logits: np.ndarray) -> tuple[float, dict | None, float]:
    """The privacy score of one attacker: accuracy, or cMAP with AP per attribute; and macro F1."""
    if task.kind == SINGLE:
        f1 = metrics.macro_f1(labels, np.argmax(logits, axis=-1), task.outputs)
        return metrics.accuracy(labels, logits), None, f1
    per_label = metrics.per_label_average_precision(labels, logits)
    names = task.names or tuple(str(i) for i in range(task.outputs))
    return (float(np.nanmean(per_label)), {n: float(ap) for n, ap in zip(names, per_label)},
            metrics.multilabel_macro_f1(labels, logits))


def _random_frames(count: int, seed: int):
    """Keeps ``count`` random frames of a clip, in order: a frame classifier whose logits
    are averaged over time learns the same from fewer frames, at a fraction of the cost."""
    def pick(clip, label):
        scores = tf.random.uniform((tf.shape(clip)[0],), seed=seed)
        keep = tf.sort(tf.math.top_k(scores, k=count).indices)
        return tf.gather(clip, keep), label
    return pick


def _fit(model: keras.Model, loss, train: tuple, val: tuple, epochs: int, lr: float,
         cfg: EvalConfig, seed: int, frames_per_clip: int = 0) -> keras.Model:
    """Fits with Adam, keeping the weights of the best validation loss."""
    model.compile(optimizer=keras.optimizers.Adam(lr), loss=loss)
    stop = keras.callbacks.EarlyStopping("val_loss", patience=cfg.patience, restore_best_weights=True)
    train_ds = tf.data.Dataset.from_tensor_slices(train).shuffle(len(train[1]), seed=seed)
    if 0 < frames_per_clip < train[0].shape[1]:
        train_ds = train_ds.map(_random_frames(frames_per_clip, seed), num_parallel_calls=tf.data.AUTOTUNE)
    train_ds = train_ds.batch(cfg.batch_size).map(_as_float).prefetch(tf.data.AUTOTUNE)
    val_ds = tf.data.Dataset.from_tensor_slices(val).batch(cfg.batch_size).map(_as_float)
    model.fit(train_ds, validation_data=val_ds, epochs=epochs, callbacks=[stop], verbose=0, shuffle=False)
    return model


def _as_float(clips, labels):
    return to_unit_range(clips), labels


def train_attacker(name: str, task: BudgetTask, train_x, train_y, val_x, val_y,
                   cfg: EvalConfig, seed: int = 0) -> keras.Model:
    """A fresh attacker from the zoo, trained from scratch on degraded clips."""
    keras.utils.set_random_seed(seed)
    model = build_budget_model(name, train_x.shape[1:], task.outputs)
    def loss(labels, logits):  # LB itself: masks missing multi-label annotations
        return budget_loss(task, labels, logits)
    return _fit(model, loss, (train_x, train_y), (val_x, val_y),
                cfg.attacker_epochs, cfg.attacker_lr, cfg, seed, cfg.attacker_train_frames)


TargetFactory = Callable[[tuple, int], keras.Model]  # (clip shape, classes) -> fT


def train_fresh_target(factory: TargetFactory, num_actions: int, train_x, train_y, val_x, val_y,
                       cfg: EvalConfig, seed: int = 0) -> keras.Model:
    """An fT trained from scratch on (degraded) clips: the utility any cloud could reach."""
    keras.utils.set_random_seed(seed)
    model = factory(train_x.shape[1:], num_actions)
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    return _fit(model, loss, (train_x, train_y), (val_x, val_y), cfg.target_epochs,
                cfg.target_lr, cfg, seed)


def _predict(model, x: np.ndarray, batch_size: int) -> np.ndarray:
    """Logits for uint8 clips."""
    return np.concatenate([np.asarray(model(to_unit_range(x[i:i + batch_size]), training=False))
                           for i in range(0, len(x), batch_size)])


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
             seed: int = 0, label: str = "") -> TwoFoldResult:
    """Runs both folds for one fD. Without ``target``, a fresh fT from ``target_factory``
    is trained on fD(X_train)."""
    with deterministic_ops():
        return _evaluate(frame_filter, dataset, cfg, target, target_factory, seed, label)


def _evaluate(frame_filter, dataset, cfg, target, target_factory, seed, label) -> TwoFoldResult:
    started = time.time()
    degraded = {name: degrade(frame_filter, getattr(dataset, name).clip_dataset(), cfg.batch_size)
                for name in ("train", "val", "test")}
    split: dict[str, Split] = {name: getattr(dataset, name) for name in degraded}
    if dataset.cross_dataset:  # attackers learn and are judged on the privacy dataset
        privacy = dict(zip(("train", "val", "test"), dataset.privacy_splits))
        private = {name: degrade(frame_filter, s.clip_dataset(), cfg.batch_size) for name, s in privacy.items()}
    else:
        privacy, private = split, degraded
    logging.info("[%s] degraded %d clips in %.1fs", label,
                 sum(map(len, degraded.values())) + (sum(map(len, private.values())) if dataset.cross_dataset else 0),
                 time.time() - started)

    if target is None:
        target = train_fresh_target(target_factory, dataset.num_actions, degraded["train"], split["train"].actions,
                                    degraded["val"], split["val"].actions, cfg, seed)
        target_model = "fresh"
    else:
        target_model = "trained"
    target_logits = _predict(target, degraded["test"], cfg.batch_size)
    target_accuracy = metrics.accuracy(split["test"].actions, target_logits)
    target_f1 = metrics.macro_f1(split["test"].actions, np.argmax(target_logits, axis=-1), dataset.num_actions)
    logging.info("[%s] A_T = %.3f (%s fT)", label, target_accuracy, target_model)

    attackers = []
    for index, name in enumerate(cfg.attackers):
        t0 = time.time()
        runs = []  # (score, per attribute, macro F1) per seed
        for repeat in range(cfg.attacker_seeds):
            model = train_attacker(name, dataset.budget_task, private["train"], privacy["train"].budget,
                                   private["val"], privacy["val"].budget, cfg,
                                   seed + 1 + index + 1000 * repeat)
            runs.append(budget_score(dataset.budget_task, privacy["test"].budget,
                                     _predict(model, private["test"], cfg.batch_size)))
        score, per_attribute, f1 = max(runs, key=lambda run: run[0])
        attackers.append(AttackerResult(name, score, per_attribute, f1, round(time.time() - t0, 1),
                                        [round(run[0], 4) for run in runs]))
        logging.info("[%s] attacker %s: %s = %.3f (seeds: %s; %.0fs)", label, name, dataset.budget_task.metric,
                     score, ", ".join(f"{run[0]:.3f}" for run in runs), time.time() - t0)
    best = max(a.score for a in attackers)
    return TwoFoldResult(target_accuracy, target_f1, best, dataset.budget_task.metric, attackers, target_model)
