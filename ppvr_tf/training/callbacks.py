"""Callbacks around the adversarial fit: checkpoints, divergence guard, TensorBoard."""
from __future__ import annotations

import math

import keras
import numpy as np
import tensorflow as tf
from absl import logging

from ppvr_tf.models.degradation import degrade_clips


class TrainingDiverged(FloatingPointError):
    """A loss became NaN or Inf; the last good checkpoint is kept."""


class NonFiniteGuard(keras.callbacks.Callback):
    """Stops at the first non-finite log value, before anything is checkpointed."""

    def __init__(self, checkpoints: tf.train.CheckpointManager):
        super().__init__()
        self.checkpoints = checkpoints

    def on_train_batch_end(self, batch, logs=None):
        bad = {k: v for k, v in (logs or {}).items() if not math.isfinite(float(v))}
        if bad:
            state = self.model.schedule.state
            raise TrainingDiverged(
                f"{', '.join(f'{k}={float(v)}' for k, v in bad.items())} at step {state.total_steps} "
                f"(iteration {state.iteration}, phase {state.phase!r}); training stopped. The last "
                f"good checkpoint is {self.checkpoints.latest_checkpoint or 'none (no checkpoint yet)'}; "
                "lower the learning rates or γ and rerun the same command to resume from it.")


class ScheduledCheckpoint(keras.callbacks.Callback):
    """Saves weights, optimizer moments and the schedule at the end of every epoch."""

    def __init__(self, checkpoint: tf.train.Checkpoint, manager: tf.train.CheckpointManager,
                 schedule_text: tf.Variable):
        super().__init__()
        self.checkpoint, self.manager, self.schedule_text = checkpoint, manager, schedule_text

    def save(self) -> str:
        self.schedule_text.assign(self.model.schedule.to_json())
        return self.manager.save(checkpoint_number=self.model.schedule.state.total_steps)

    def on_epoch_end(self, epoch, logs=None):
        path = self.save()
        state = self.model.schedule.state
        logging.info("step %d, iteration %d, phase %s, restarts %d: checkpoint %s",
                     state.total_steps, state.iteration, state.phase, state.restarts, path)


def side_by_side(raw: np.ndarray, degraded: np.ndarray) -> np.ndarray:
    """(N, H, W, 3) raw and degraded frames as one (N, H, 2W + 2, 3) image each."""
    gap = np.ones((raw.shape[0], raw.shape[1], 2, 3), np.float32)
    return np.concatenate([raw, gap, np.clip(degraded, 0.0, 1.0)], axis=2)


class TensorBoardFrames(keras.callbacks.Callback):
    """Scalars of every epoch and raw | degraded frames, for TensorBoard."""

    def __init__(self, logdir: str, sample_clips: np.ndarray):
        super().__init__()
        self.writer = tf.summary.create_file_writer(logdir)
        self.sample = tf.convert_to_tensor(sample_clips, tf.float32)

    def on_epoch_end(self, epoch, logs=None):
        step = self.model.schedule.state.total_steps
        degraded = degrade_clips(self.model.degradation, self.sample)
        with self.writer.as_default(step=step):
            for key, value in (logs or {}).items():
                tf.summary.scalar(f"train/{key}", float(value))
            frames = side_by_side(self.sample[:, 0].numpy(), degraded[:, 0].numpy())
            tf.summary.image("frames/raw_vs_degraded", frames, max_outputs=len(frames))
        self.writer.flush()
