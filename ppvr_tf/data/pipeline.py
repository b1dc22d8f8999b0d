"""Datasets as the trainer and the evaluation see them, served through tf.data.

A ``Split`` is a stream of uint8 clips (from memory or from a tfds cache) with
its labels held in memory (they are small, and the metrics need them). A
``Dataset`` has action splits and privacy splits: the same splits when one
dataset carries both labels (SBU, the synthetic set, a manifest), different ones
in cross-dataset training (paper §3.6: actions from UCF101/HMDB51, privacy from
VISPR, privacy judged on VISPR's or PA-HMDB51's test set).
"""
from __future__ import annotations

import dataclasses
from typing import Callable

import numpy as np
import tensorflow as tf

from ppvr_tf.data import synthetic
from ppvr_tf.data.tasks import MULTI, SINGLE, BudgetTask

BUDGET_TASKS = ("identity", "attributes")
ClipStream = Callable[[], tf.data.Dataset]  # -> uint8 clips (T, H, W, 3), in label order


@dataclasses.dataclass
class Split:
    """Clips with action labels (N,) and budget labels (N,) or (N, A).

    ``crop`` (H, W): the clips are stored larger and cut to this size — at random
    places in training, in the centre otherwise (the paper's 120x160 -> 112x112).
    """

    clips: ClipStream
    actions: np.ndarray
    budget: np.ndarray
    crop: tuple[int, int] | None = None
    shuffle_buffer: int = 1024

    @classmethod
    def from_arrays(cls, clips: np.ndarray, actions: np.ndarray, budget: np.ndarray) -> "Split":
        return cls(lambda: tf.data.Dataset.from_tensor_slices(clips), actions, budget,
                   shuffle_buffer=len(actions))

    def __len__(self) -> int:
        return len(self.actions)

    def labelled(self, training: bool) -> tf.data.Dataset:
        """(uint8 clip, action, budget) in order, cropped."""
        labels = tf.data.Dataset.from_tensor_slices((self.actions, self.budget))
        ds = tf.data.Dataset.zip(self.clips(), labels)
        return ds.map(lambda clip, y: (self._cropped(clip, training), *y),
                      num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)

    def clip_dataset(self) -> tf.data.Dataset:
        """The uint8 clips, centre-cropped, in label order (for inference)."""
        return self.clips().map(lambda clip: self._cropped(clip, False),
                                num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)

    def head(self, count: int) -> np.ndarray:
        """The first ``count`` clips as a uint8 array."""
        return np.stack(list(self.clip_dataset().take(count).as_numpy_iterator()))

    def _cropped(self, clip, training: bool):
        if self.crop is None:
            return clip
        height, width = self.crop
        if training:
            return tf.image.random_crop(clip, tf.stack([tf.shape(clip)[0], height, width, 3]))
        top = (tf.shape(clip)[1] - height) // 2
        left = (tf.shape(clip)[2] - width) // 2
        return clip[:, top:top + height, left:left + width, :]


@dataclasses.dataclass
class Dataset:
    train: Split
    val: Split
    test: Split
    action_names: tuple[str, ...]
    budget_task: BudgetTask
    clip_shape: tuple[int, int, int, int]  # (T, H, W, 3) the models see
    privacy: tuple[Split, Split, Split] | None = None  # cross-dataset: privacy train/val/test
    skipped: dict[str, list[str]] = dataclasses.field(default_factory=dict)  # "builder/split": problems

    def summary(self) -> dict:
        """Clip counts and the videos that could not be decoded, for results.json."""
        names = ("train", "val", "test")
        clips = {name: len(s) for name, s in zip(names, (self.train, self.val, self.test))}
        if self.privacy:
            clips.update({f"privacy_{name}": len(s) for name, s in zip(names, self.privacy)})
        return {"clips": clips, "skipped": self.skipped,
                "skipped_count": sum(len(v) for v in self.skipped.values())}

    @property
    def num_actions(self) -> int:
        return len(self.action_names)

    @property
    def cross_dataset(self) -> bool:
        return self.privacy is not None

    @property
    def privacy_splits(self) -> tuple[Split, Split, Split]:
        return self.privacy or (self.train, self.val, self.test)


def load_synthetic(config: synthetic.SyntheticConfig, budget_task: str = "identity") -> Dataset:
    """The built-in dataset with identity (single-label) or attribute (multi-label) privacy."""
    if budget_task not in BUDGET_TASKS:
        raise ValueError(f"budget_task must be one of {BUDGET_TASKS}, got {budget_task!r}")
    splits = {}
    for name in ("train", "val", "test"):
        clips = synthetic.generate_split(config, name)
        labels = clips.identities if budget_task == "identity" else clips.attributes
        splits[name] = Split.from_arrays(clips.clips, clips.actions, labels)
    if budget_task == "identity":
        task = BudgetTask(SINGLE, config.num_identities,
                          tuple(f"actor_{i}" for i in range(config.num_identities)))
    else:
        task = BudgetTask(MULTI, len(synthetic.ATTRIBUTES), synthetic.ATTRIBUTES)
    shape = (config.num_frames, config.height, config.width, 3)
    return Dataset(**splits, action_names=synthetic.ACTIONS, budget_task=task, clip_shape=shape)


def to_unit_range(clips):
    """uint8 [0, 255] -> float32 [0, 1], the range fD takes and gives."""
    return tf.cast(clips, tf.float32) / 255.0


def _endless(split: Split, batch_size: int, seed: int) -> tf.data.Dataset:
    ds = split.labelled(training=True).shuffle(min(len(split), split.shuffle_buffer), seed=seed,
                                               reshuffle_each_iteration=True)
    return ds.repeat().batch(batch_size, drop_remainder=True)


def training_stream(dataset: Dataset, batch_size: int, seed: int = 0, start_step: int = 0) -> tf.data.Dataset:
    """Endless batches for the trainer: a training batch plus a validation batch.

    The validation half feeds the th1 loop ("while target validation accuracy <= th1").
    In cross-dataset training a privacy batch of the same size rides along as
    ``budget_clips``; otherwise the budget labels belong to ``clips``. A resumed run
    starts at ``start_step``: the batches before it are read and dropped, so it sees
    the batches an uninterrupted run would have seen.
    """
    streams = [_endless(dataset.train, batch_size, seed), _endless(dataset.val, batch_size, seed + 1)]
    if dataset.cross_dataset:
        streams.append(_endless(dataset.privacy[0], batch_size, seed + 2))

    def merge(train_batch, val_batch, privacy_batch=None):
        clips, actions, budget = train_batch
        val_clips, val_actions, _ = val_batch
        batch = {"clips": to_unit_range(clips), "actions": actions, "budget": budget,
                 "val_clips": to_unit_range(val_clips), "val_actions": val_actions}
        if privacy_batch is not None:
            batch["budget_clips"] = to_unit_range(privacy_batch[0])
            batch["budget"] = privacy_batch[2]
        return batch

    stream = tf.data.Dataset.zip(tuple(streams)).skip(start_step) \
        .map(merge, num_parallel_calls=tf.data.AUTOTUNE).prefetch(2)
    return without_autotuning(stream)


def without_autotuning(ds: tf.data.Dataset) -> tf.data.Dataset:
    """``ds`` with tf.data's autotuning thread off (parallel steps then run on every core).

    That thread sleeps longer between rounds the longer a stream is read, and dropping a
    stream waited for it to wake: 17 s at the end of a one-minute smoke run's training,
    and about 30 % of entropy.flags' evaluation, where Keras drops its iterators after
    every epoch (docs/benchmarks.md). Every stream that Keras or the trainer reads for
    more than a moment goes through here."""
    options = tf.data.Options()
    options.autotune.enabled = False
    return ds.with_options(options)
