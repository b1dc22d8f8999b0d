"""The attack suite: the ways an adversary who receives fD(X) can tell who is in it.

Threat model. fD runs on every camera, so whoever receives fD(X) can also own fD
(white box). They may hold labelled raw footage of the people (photos, earlier video)
and have unlimited compute. An fD's privacy score is the best score any attack
reaches; each attack's score stays in the report.

- ``scratch``: each zoo attacker trained from scratch on fD(X) (the paper's A_B^N).
- ``temporal``: a clip-level attacker (C3D, the target model's architecture) on whole
  fD(X) clips: gait and motion identify people even when single frames do not.
- ``pretrained``: the zoo's first attacker trained on raw X, then fine-tuned on fD(X):
  an adversary who has seen these people before.
- ``reconstruction``: an inversion network g learns fD(X) -> X from pairs the adversary
  makes with fD; the raw-trained attacker reads g(fD(X_test)) as is, and again after
  fine-tuning on g(fD(X_train)).

Every attack runs once per attacker seed; its score is the best seed's.
"""
from __future__ import annotations

import dataclasses
import os
import time
from typing import Callable, Sequence

import keras
import numpy as np
import tensorflow as tf
from absl import logging

from ppvr_tf.data.pipeline import to_unit_range, without_autotuning
from ppvr_tf.data.tasks import SINGLE, BudgetTask
from ppvr_tf.evaluation import metrics
from ppvr_tf.evaluation.raw_cache import RawCache
from ppvr_tf.io_utils import atomic_save_weights
from ppvr_tf.models.budget import build_budget_model
from ppvr_tf.models.inversion import inversion_network
from ppvr_tf.training.callbacks import EpochLines, time_left
from ppvr_tf.training.losses import budget_loss
from ppvr_tf.training.optimizers import FusedAdam

ATTACKS = ("scratch", "temporal", "pretrained", "reconstruction")
ModelFactory = Callable[[tuple, int], keras.Model]  # (clip shape, outputs) -> model


@dataclasses.dataclass
class AttackResult:
    name: str  # e.g. "cnn@1.0", "c3d", "pretrained:cnn@1.0", "reconstruction:cnn@1.0"
    kind: str  # one of ATTACKS
    score: float  # the best over its seeds: accuracy, or cMAP
    scores: list[float]  # one per seed: how much an attacker's luck matters
    mean: float
    per_attribute: dict[str, float] | None  # AP per attribute (multi-label), best seed
    macro_f1: float  # best seed
    seconds: float
    psnr_db: float | None = None  # reconstruction: PSNR of g(fD(X_test)) against X_test

    def to_json(self) -> dict:
        out = dataclasses.asdict(self)
        if self.psnr_db is None:
            del out["psnr_db"]
        return out


@dataclasses.dataclass(frozen=True)
class Training:
    """How attack models are fitted (a part of the evaluation's configuration)."""
    epochs: int
    lr: float
    patience: int
    batch_size: int
    frames_per_clip: int  # random frames per clip per step for frame attackers (0: all)
    inversion_epochs: int
    augment: bool  # random shifts of whole clips: a few hundred real clips overfit
    flip: bool  # and mirror images: who someone is does not change, walking left or right does


@dataclasses.dataclass
class Views:
    """What the adversary holds: raw and degraded privacy clips (uint8) with labels."""
    task: BudgetTask
    labels: dict[str, np.ndarray]  # train, val, test
    raw: dict[str, np.ndarray]
    degraded: dict[str, np.ndarray]
    is_raw: bool  # fD is the identity: pretrained and reconstruction would repeat scratch


class RawAttackers:
    """Attackers trained on raw X, kept (as weights) so the raw reference, the pretrained
    and the reconstruction attacks of every fD of a run share them, and (with a cache)
    so do later runs on the same data."""

    def __init__(self, cache: RawCache = RawCache()):
        self._weights: dict[tuple, list] = {}
        self._cache = cache

    def get(self, name: str, seed: int, views: Views, fit: Training) -> keras.Model:
        shape = views.raw["train"].shape
        key, stored = (name, seed, shape), self._cache.weights(name, seed, shape[1:])
        model = _attacker(name, views.task, shape[1:], seed)
        if key in self._weights:
            model.set_weights(self._weights[key])
        elif stored and os.path.exists(stored) and not self._cache.refresh:
            model.load_weights(stored)
            logging.info("raw-trained attacker %s (seed %d) from %s", name, seed, stored)
        else:
            logging.info("  raw-trained attacker %s (seed %d): training on raw X", name, seed)
            fit_model(model, _loss(views.task), (views.raw["train"], views.labels["train"]),
                      (views.raw["val"], views.labels["val"]), fit, seed, fit.frames_per_clip)
            if stored:
                atomic_save_weights(model, stored)
        self._weights[key] = model.get_weights()
        return model


def run_suite(suite: tuple[str, ...], views: Views, names: tuple[str, ...], seeds: list[int], fit: Training,
              temporal_factory: ModelFactory, raw_attackers: RawAttackers, label: str = ""
              ) -> tuple[list[AttackResult], keras.Model | None]:
    """The results of the attacks in ``suite`` (reconstruction gives two: as is and
    fine-tuned), and the inversion network g if the reconstruction attack ran."""
    results, inversion = [], None
    pace = _Pace(_fits(suite, views, names, seeds))
    for attack in suite:
        if attack == "scratch":
            found = [_scratch(n, i, views, seeds, fit, raw_attackers, pace) for i, n in enumerate(names)]
        elif attack == "temporal" and not _has_motion(views):
            logging.warning("[%s] attack temporal skipped: the privacy training clips are single images "
                            "(%s), there is no motion to learn from", label, views.degraded["train"].shape[1:])
            found = []
        elif attack == "temporal":
            found = [_temporal(views, seeds, fit, temporal_factory, pace)]
        elif attack == "pretrained":
            found = [_pretrained(names[0], views, seeds, fit, raw_attackers, pace)]
        elif attack == "reconstruction":
            found, inversion = _reconstruction(names[0], views, seeds, fit, raw_attackers, pace)
        else:
            raise ValueError(f"unknown attack {attack!r}; attacks: {', '.join(ATTACKS)}")
        for r in found:
            logging.info("[%s] attack %s (%s): %.3f best, %.3f mean over seeds %s%s; %.0f s", label, r.name,
                         r.kind, r.score, r.mean, ", ".join(f"{s:.3f}" for s in r.scores),
                         "" if r.psnr_db is None else f"; PSNR {r.psnr_db:.1f} dB", r.seconds)
        results += found
    return results, inversion


class _Pace:
    """Counts the attack models of a suite as they start, and estimates from the pace so far
    how long the rest will take (the models differ in cost: an estimate, marked ~)."""

    def __init__(self, total: int):
        self.total, self.started, self.count = total, time.time(), 0

    def next(self) -> str:
        self.count += 1
        if self.count == 1:
            return f"model 1 of {self.total}"
        elapsed = time.time() - self.started
        return f"model {self.count} of {self.total}, {time_left(elapsed, self.count - 1, self.total)}"


def _fits(suite: tuple[str, ...], views: Views, names: tuple[str, ...], seeds: list[int]) -> int:
    """How many attack models ``run_suite`` judges (reconstruction: as is and fine-tuned)."""
    per_seed = {"scratch": len(names), "temporal": int(_has_motion(views)), "pretrained": 1, "reconstruction": 2}
    return len(seeds) * sum(per_seed.get(attack, 0) for attack in suite)


def _scratch(name, index, views, seeds, fit, raw_attackers, pace) -> AttackResult:
    def one(seed):
        seed = seed + index
        if views.is_raw:  # the same model the pretrained attacks of this run start from
            return raw_attackers.get(name, seed, views, fit)
        model = _attacker(name, views.task, views.degraded["train"].shape[1:], seed)
        return fit_model(model, _loss(views.task), _pair(views, "train"), _pair(views, "val"), fit,
                         seed, fit.frames_per_clip)
    return _judged(name, "scratch", views, seeds, one, fit.batch_size, pace)


def _has_motion(views: Views) -> bool:
    """Clips of several frames, the same number in training and test (cross-dataset runs
    learn privacy from VISPR's images)."""
    frames = {clips.shape[1] for clips in views.degraded.values()}
    return len(frames) == 1 and frames.pop() > 1


def _temporal(views, seeds, fit, factory, pace) -> AttackResult:
    def one(seed):
        keras.utils.set_random_seed(seed)
        model = factory(views.degraded["train"].shape[1:], views.task.outputs)
        return fit_model(model, _loss(views.task), _pair(views, "train"), _pair(views, "val"), fit, seed)
    return _judged("c3d", "temporal", views, seeds, one, fit.batch_size, pace)


def _pretrained(name, views, seeds, fit, raw_attackers, pace) -> AttackResult:
    train, val = _pair(views, "train"), _pair(views, "val")
    shape = views.raw["train"].shape[1:]

    def one(seed):
        model = raw_attackers.get(name, seed, views, fit)
        return fit_model(model, _loss(views.task), (_like(train[0], shape), train[1]),
                         (_like(val[0], shape), val[1]), fit, seed, fit.frames_per_clip)
    return _judged(f"pretrained:{name}", "pretrained", views, seeds, one, fit.batch_size, pace,
                   test=_like(views.degraded["test"], shape))


def _reconstruction(name, views, seeds, fit, raw_attackers, pace) -> tuple[list[AttackResult], keras.Model]:
    started = time.time()
    logging.info("  attack reconstruction: training the inversion network g on (fD(x), x) pairs")
    g = train_inversion(views, fit, seeds[0])
    rebuilt = {split: reconstruct(g, views.degraded[split], fit.batch_size) for split in ("train", "val", "test")}
    psnr = psnr_db(views.raw["test"], rebuilt["test"])
    inversion_seconds = time.time() - started
    seen = Views(views.task, views.labels, views.raw, rebuilt, views.is_raw)

    def as_is(seed):
        return raw_attackers.get(name, seed, views, fit)

    def fine_tuned(seed):
        return fit_model(raw_attackers.get(name, seed, views, fit), _loss(views.task), _pair(seen, "train"),
                         _pair(seen, "val"), fit, seed, fit.frames_per_clip)
    results = [_judged(f"reconstruction:{name}", "reconstruction", seen, seeds, as_is, fit.batch_size, pace),
               _judged(f"reconstruction+finetune:{name}", "reconstruction", seen, seeds, fine_tuned, fit.batch_size,
                       pace)]
    for r in results:
        r.psnr_db = round(psnr, 2)
    results[0].seconds = round(results[0].seconds + inversion_seconds, 1)
    return results, g


def _judged(name: str, kind: str, views: Views, seeds: list[int], train_one, batch_size: int, pace: _Pace,
            test: np.ndarray | None = None) -> AttackResult:
    """Trains one model per seed with ``train_one(seed)`` and scores each on the test split."""
    started = time.time()
    test = views.degraded["test"] if test is None else test
    runs = []
    for number, seed in enumerate(seeds, 1):
        logging.info("  attack %s (%s): training seed %d of %d  [%s]", name, kind, number, len(seeds), pace.next())
        runs.append(score(views.task, views.labels["test"], predict(train_one(seed), test, batch_size)))
    best, per_attribute, f1 = max(runs, key=lambda run: run[0])
    scores = [round(run[0], 4) for run in runs]
    return AttackResult(name, kind, best, scores, round(float(np.mean(scores)), 4), per_attribute, f1,
                        round(time.time() - started, 1))


def score(task: BudgetTask, labels: np.ndarray, logits: np.ndarray) -> tuple[float, dict | None, float]:
    """The privacy score of one attacker: accuracy, or cMAP with AP per attribute; and macro F1."""
    if task.kind == SINGLE:
        f1 = metrics.macro_f1(labels, np.argmax(logits, axis=-1), task.outputs)
        return metrics.accuracy(labels, logits), None, f1
    per_label = metrics.per_label_average_precision(labels, logits)
    names = task.names or tuple(str(i) for i in range(task.outputs))
    return (float(np.nanmean(per_label)), {n: float(ap) for n, ap in zip(names, per_label)},
            metrics.multilabel_macro_f1(labels, logits))


def _pair(views: Views, split: str) -> tuple[np.ndarray, np.ndarray]:
    return views.degraded[split], views.labels[split]


def _loss(task: BudgetTask):
    def loss(labels, logits):  # LB itself: masks missing multi-label annotations
        return budget_loss(task, labels, logits)
    return loss


def _attacker(name: str, task: BudgetTask, clip_shape: tuple, seed: int) -> keras.Model:
    keras.utils.set_random_seed(seed)
    return build_budget_model(name, clip_shape, task.outputs)


def _like(clips: np.ndarray, shape: tuple) -> np.ndarray:
    """fD(X) in the raw clips' frame size and channels, for a model trained on raw X
    (a low-resolution fD is scaled up, a one-channel one repeated)."""
    if clips.shape[1:] == tuple(shape):
        return clips
    n, t = clips.shape[:2]
    frames = tf.reshape(tf.cast(clips, tf.float32), (n * t, *clips.shape[2:]))
    frames = tf.image.resize(frames, shape[1:3], method="bilinear")
    if frames.shape[-1] != shape[-1]:
        frames = tf.repeat(frames[..., :1], shape[-1], axis=-1)
    return np.asarray(tf.cast(tf.round(frames), tf.uint8)).reshape(n, t, *shape[1:])


def _random_frame_pairs(count: int, seed: int):
    """Keeps the same ``count`` random frames, in order, of a clip and its twin (fD(x) and
    x; a label passes through): a frame model learns the same from fewer frames, at a
    fraction of the cost."""
    def pick(clip, other):
        scores = tf.random.uniform((tf.shape(clip)[0],), seed=seed)
        keep = tf.sort(tf.math.top_k(scores, k=count).indices)
        return tf.gather(clip, keep), (tf.gather(other, keep) if other.shape.rank == clip.shape.rank else other)
    return pick


def _as_float(clips, labels):
    return to_unit_range(clips), labels


def _flip_and_shift(seed: int, flip: bool, shift: float = 0.1):
    """The same random shift (up to ``shift`` of each side, edges repeated) and, with
    ``flip``, horizontal flip for every frame of a clip."""
    def augment(clip, label):
        t, h, w, c = clip.shape
        dy, dx = max(1, int(h * shift)), max(1, int(w * shift))
        if flip:
            clip = tf.cond(tf.random.uniform((), seed=seed) < 0.5, lambda: tf.reverse(clip, [2]), lambda: clip)
        padded = tf.pad(clip, [[0, 0], [dy, dy], [dx, dx], [0, 0]], mode="SYMMETRIC")
        return tf.image.random_crop(padded, (t, h, w, c), seed=seed), label
    return augment


def compile_for_fit(model: keras.Model, lr: float, loss) -> None:
    """Compiles with Adam (fused) and creates its slots now: a train step that creates variables
    is traced twice, which for the evaluation's small models costs more than training."""
    model.compile(optimizer=FusedAdam(lr), loss=loss)
    model.optimizer.build(model.trainable_variables)


def fit_model(model: keras.Model, loss, train: tuple, val: tuple, fit: Training, seed: int,
              frames_per_clip: int = 0, progress: str = "") -> keras.Model:
    """Fits with Adam, keeping the weights of the best validation loss; ``progress`` names
    the work in epoch lines (none when empty)."""
    compile_for_fit(model, fit.lr, loss)
    train_ds = tf.data.Dataset.from_tensor_slices(train).shuffle(len(train[1]), seed=seed)
    if 0 < frames_per_clip < train[0].shape[1]:
        train_ds = train_ds.map(_random_frame_pairs(frames_per_clip, seed), num_parallel_calls=tf.data.AUTOTUNE)
    if fit.augment:
        train_ds = train_ds.map(_flip_and_shift(seed, fit.flip), num_parallel_calls=tf.data.AUTOTUNE)
    train_ds = train_ds.batch(fit.batch_size).map(_as_float).prefetch(tf.data.AUTOTUNE)
    val_ds = tf.data.Dataset.from_tensor_slices(val).batch(fit.batch_size).map(_as_float)
    _fit_keeping_best(model, train_ds, val_ds, fit.epochs, fit.patience,
                      [EpochLines(progress, fit.epochs)] if progress else [])
    return model


def _fit_keeping_best(model: keras.Model, train: tf.data.Dataset, val: tf.data.Dataset, epochs: int,
                      patience: int, callbacks: Sequence[keras.callbacks.Callback] = ()) -> None:
    """Keras's fit on batches shuffled beforehand, ending with the weights of the best
    validation loss; without tf.data's autotuning, whose thread every epoch's dropped
    iterator waited for (``pipeline.without_autotuning``)."""
    stop = keras.callbacks.EarlyStopping("val_loss", patience=patience, restore_best_weights=True)
    model.fit(without_autotuning(train), validation_data=without_autotuning(val), epochs=epochs,
              callbacks=[stop, *callbacks], verbose=0, shuffle=False)


def predict(model, x: np.ndarray, batch_size: int) -> np.ndarray:
    """Outputs for uint8 clips."""
    return np.concatenate([np.asarray(model(to_unit_range(x[i:i + batch_size]), training=False))
                           for i in range(0, len(x), batch_size)])


def _frames(clips: np.ndarray) -> np.ndarray:
    return clips.reshape(-1, *clips.shape[2:])


def train_inversion(views: Views, fit: Training, seed: int) -> keras.Model:
    """g fitted on (fD(x), x) frame pairs of the training clips (mean squared error),
    ``frames_per_clip`` random frames of each clip per epoch."""
    keras.utils.set_random_seed(seed)
    g = inversion_network(views.degraded["train"].shape[2:], views.raw["train"].shape[2:])
    compile_for_fit(g, fit.lr, "mse")
    as_float = lambda x, y: (to_unit_range(x), to_unit_range(y))  # noqa: E731
    clips = tf.data.Dataset.from_tensor_slices((views.degraded["train"], views.raw["train"]))
    clips = clips.shuffle(len(views.raw["train"]), seed=seed)
    if 0 < fit.frames_per_clip < views.raw["train"].shape[1]:
        clips = clips.map(_random_frame_pairs(fit.frames_per_clip, seed), num_parallel_calls=tf.data.AUTOTUNE)
    train = clips.unbatch().batch(2 * fit.batch_size)
    val = tf.data.Dataset.from_tensor_slices((_frames(views.degraded["val"]), _frames(views.raw["val"])))
    val = val.batch(2 * fit.batch_size).map(as_float)
    _fit_keeping_best(g, train.map(as_float).prefetch(tf.data.AUTOTUNE), val, fit.inversion_epochs, fit.patience)
    return g


def reconstruct(g: keras.Model, clips: np.ndarray, batch_size: int = 32) -> np.ndarray:
    """g(fD(X)) as uint8 clips of the raw frame size."""
    n, t = clips.shape[:2]
    out = predict(g, _frames(clips), 4 * batch_size)
    return np.round(np.clip(out, 0.0, 1.0) * 255.0).astype(np.uint8).reshape(n, t, *out.shape[1:])


def psnr_db(raw: np.ndarray, rebuilt: np.ndarray) -> float:
    """Mean PSNR over frames (peak 255)."""
    error = (_frames(raw).astype(np.float64) - _frames(rebuilt)) ** 2
    mse = np.maximum(error.reshape(len(error), -1).mean(axis=1), 1e-10)
    return float(np.mean(10.0 * np.log10(255.0 ** 2 / mse)))
