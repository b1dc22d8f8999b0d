"""Datasets as the trainer and the evaluation see them, served through tf.data."""
from __future__ import annotations

import dataclasses

import numpy as np
import tensorflow as tf

from ppvr_tf.data import synthetic
from ppvr_tf.training.losses import MULTI, SINGLE, BudgetTask

BUDGET_TASKS = ("identity", "attributes")


@dataclasses.dataclass
class Split:
    """uint8 clips (N, T, H, W, 3), action labels (N,), budget labels (N,) or (N, A)."""

    clips: np.ndarray
    actions: np.ndarray
    budget: np.ndarray

    def __len__(self) -> int:
        return len(self.actions)


@dataclasses.dataclass
class Dataset:
    train: Split
    val: Split
    test: Split
    action_names: tuple[str, ...]
    budget_task: BudgetTask

    @property
    def clip_shape(self) -> tuple[int, int, int, int]:
        return tuple(self.train.clips.shape[1:])

    @property
    def num_actions(self) -> int:
        return len(self.action_names)


def load_synthetic(config: synthetic.SyntheticConfig, budget_task: str = "identity") -> Dataset:
    """The built-in dataset with identity (single-label) or attribute (multi-label) privacy."""
    if budget_task not in BUDGET_TASKS:
        raise ValueError(f"budget_task must be one of {BUDGET_TASKS}, got {budget_task!r}")
    splits = {}
    for name in ("train", "val", "test"):
        clips = synthetic.generate_split(config, name)
        labels = clips.identities if budget_task == "identity" else clips.attributes
        splits[name] = Split(clips.clips, clips.actions, labels)
    if budget_task == "identity":
        task = BudgetTask(SINGLE, config.num_identities,
                          tuple(f"actor_{i}" for i in range(config.num_identities)))
    else:
        task = BudgetTask(MULTI, len(synthetic.ATTRIBUTES), synthetic.ATTRIBUTES)
    return Dataset(**splits, action_names=synthetic.ACTIONS, budget_task=task)


def to_unit_range(clips):
    """uint8 [0, 255] -> float32 [0, 1], the range fD takes and gives."""
    return tf.cast(clips, tf.float32) / 255.0


def _labelled(split: Split, seed: int, shuffle: bool) -> tf.data.Dataset:
    ds = tf.data.Dataset.from_tensor_slices((split.clips, split.actions, split.budget))
    if shuffle:
        ds = ds.shuffle(len(split), seed=seed, reshuffle_each_iteration=True)
    return ds.repeat()


def training_stream(dataset: Dataset, batch_size: int, seed: int = 0) -> tf.data.Dataset:
    """Endless batches for the trainer: a training batch plus a validation batch.

    The validation half feeds the th1 loop ("while target validation accuracy <= th1").
    """
    train = _labelled(dataset.train, seed, shuffle=True).batch(batch_size, drop_remainder=True)
    val = _labelled(dataset.val, seed + 1, shuffle=True).batch(batch_size, drop_remainder=True)

    def merge(train_batch, val_batch):
        clips, actions, budget = train_batch
        val_clips, val_actions, _ = val_batch
        return {"clips": to_unit_range(clips), "actions": actions, "budget": budget,
                "val_clips": to_unit_range(val_clips), "val_actions": val_actions}

    return tf.data.Dataset.zip((train, val)).map(merge, num_parallel_calls=tf.data.AUTOTUNE) \
        .prefetch(tf.data.AUTOTUNE)


def clip_batches(clips: np.ndarray, batch_size: int) -> tf.data.Dataset:
    """Clips in order, as float [0, 1] batches (for inference)."""
    return tf.data.Dataset.from_tensor_slices(clips).batch(batch_size).map(to_unit_range) \
        .prefetch(tf.data.AUTOTUNE)
