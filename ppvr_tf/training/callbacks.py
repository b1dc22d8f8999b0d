"""Callbacks around the adversarial fit: checkpoints, divergence guard, TensorBoard."""
from __future__ import annotations

import math
import time
from typing import Callable

import keras
import numpy as np
import tensorflow as tf
from absl import logging

from ppvr_tf.clock import clock
from ppvr_tf.models.degradation import degrade_clips
from ppvr_tf.training import phases


def step_just_run(logs: dict) -> tuple[str, int]:
    """(phase, iteration) of the step whose logs these are. The schedule has already
    moved on to the next step's phase, so a callback reads them here, not from it."""
    return phases.ALL[int(logs["phase"])], int(logs["iteration"])


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
            phase, iteration = step_just_run(logs)
            step = self.model.schedule.state.total_steps
            raise TrainingDiverged(
                f"{', '.join(f'{k}={float(v)}' for k, v in bad.items())} at step {step} "
                f"(iteration {iteration}, phase {phase!r}); training stopped. The last "
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
        logging.debug("step %d, iteration %d, phase %s, restarts %d: checkpoint %s",
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


PHASE_NAMES = {
    phases.PRETRAIN_IDENTITY: "pretraining fD towards the identity",
    phases.PRETRAIN_TARGET: "pretraining fT on fD(X)",
    phases.PRETRAIN_BUDGET: "pretraining fB on fD(X)",
    phases.ADVERSARIAL: "fD step against fB",
    phases.TARGET: "th1 loop: fT",
    phases.BUDGET: "th2 loop: fB",
    phases.RESTART: "restart: fresh fB trained",
    phases.KBEAM_SELECT: "K-beam: picking the beam",
    phases.KBEAM_ASCENT: "K-beam: fD ascent",
}
SHOWN = ("loss_identity", "loss_t", "acc_t", phases.TARGET_VAL_ACCURACY, "acc_b_min", "acc_b_max",
         "entropy_b_min")  # the numbers worth a glance, in this order


def time_left(elapsed: float, done: int, total: int) -> str:
    """``1:20 so far, ~2:40 left``: the rest of ``total`` equal-sized pieces of work at the
    pace of the ``done`` (> 0) that took ``elapsed`` seconds."""
    return f"{clock(elapsed)} so far, ~{clock(elapsed / done * (total - done))} left"


def epoch_line(what: str, epoch: int, epochs: int, numbers: dict, elapsed: float) -> str:
    """``what: epoch 3/8  loss 0.012  [0:30 so far, ~1:20 left]`` after ``epoch`` (0-based)."""
    shown = "  ".join(f"{k} {float(v):.3g}" for k, v in numbers.items())
    return f"{what}: epoch {epoch + 1}/{epochs}  {shown}  [{time_left(elapsed, epoch + 1, epochs)}]"


class EpochLines(keras.callbacks.Callback):
    """For a plain ``fit``: a line at most every ``every_seconds`` and one at the end (early
    stopping included), naming the work, the epoch, the validation numbers and the time left."""

    def __init__(self, what: str, epochs: int, every_seconds: float = 15.0,
                 write: Callable[[str], None] | None = None):
        super().__init__()
        self.what, self.epochs, self.every_seconds = what, epochs, every_seconds
        self.write = write or logging.info
        self.started = self.shown = time.monotonic()
        self.pending = None  # the last epoch's line, until it is written

    def on_epoch_end(self, epoch, logs=None):
        now = time.monotonic()
        validation = {k: v for k, v in sorted((logs or {}).items()) if k.startswith("val_")}
        self.pending = epoch_line(self.what, epoch, self.epochs, validation, now - self.started)
        if now - self.shown >= self.every_seconds:
            self._flush()

    def on_train_end(self, logs=None):
        self._flush()

    def _flush(self) -> None:
        if self.pending:
            self.write(self.pending)
            self.shown, self.pending = time.monotonic(), None


class PhasePace:
    """Seconds per step of each phase, from the steps after each phase's first (which
    traces its update rule), and the time a schedule's remaining steps will take at them."""

    def __init__(self):
        self.seconds: dict[str, float] = {}
        self.steps: dict[str, int] = {}
        self.traced: set[str] = set()

    def book(self, phase: str, seconds: float) -> None:
        if phase not in self.traced:
            self.traced.add(phase)
            return
        self.seconds[phase] = self.seconds.get(phase, 0.0) + seconds
        self.steps[phase] = self.steps.get(phase, 0) + 1

    def seconds_for(self, remaining: dict[str, int]) -> float | None:
        """``remaining`` steps by phase at their own pace; a phase not yet timed at the mean
        pace of all (None before any step is timed)."""
        if not self.steps:
            return None
        mean = sum(self.seconds.values()) / sum(self.steps.values())
        return sum(n * (self.seconds[p] / self.steps[p] if p in self.steps else mean)
                   for p, n in remaining.items())


class Progress(keras.callbacks.Callback):
    """One line a person can read, at each pretraining phase and adversarial iteration
    and at least every ``every_seconds``: elapsed time, the phase by name with its step, the iteration, the
    key numbers, and the time left (the schedule's remaining steps of each phase at that phase's pace)."""

    def __init__(self, every_seconds: float = 15.0, write: Callable[[str], None] | None = None):
        super().__init__()
        self.every_seconds = every_seconds
        self.write = write or (lambda line: print(line, flush=True))
        self.started = self.shown = self.last_step = None
        self.pace = PhasePace()
        self.stage = None  # a pretraining phase or an iteration: a new one gets its line at once

    def on_train_begin(self, logs=None):
        self.started = self.shown = self.last_step = time.monotonic()

    def on_train_batch_end(self, batch, logs=None):
        schedule, now = self.model.schedule, time.monotonic()
        phase, iteration = step_just_run(logs)
        self.pace.book(phase, now - self.last_step)
        self.last_step = now
        stage = phase if phase in phases.PRETRAINING else iteration
        if stage == self.stage and now - self.shown < self.every_seconds and not schedule.done:
            return
        self.stage, self.shown = stage, now
        self.write(self.line(schedule, logs, now))

    def line(self, schedule, logs: dict, now: float) -> str:
        """The step just run: its phase, iteration and numbers; the schedule's steps left."""
        c = schedule.config
        phase, iteration = step_just_run(logs)
        where = PHASE_NAMES[phase] if phase in phases.PRETRAINING else \
            f"iteration {iteration + 1}/{c.max_iter}, {PHASE_NAMES[phase]}"
        if schedule.done:
            where += "; training done"
        numbers = "  ".join(f"{k} {float(logs[k]):.3f}" for k in SHOWN if k in logs)
        remaining, bound = schedule.remaining_by_phase()
        seconds = None if schedule.done else self.pace.seconds_for(remaining)
        left = f"  {'at most ' if bound else '~'}{clock(seconds)} left" if seconds is not None else ""
        return f"[{clock(now - self.started)}] step {schedule.state.total_steps}  {where}  {numbers}{left}"
