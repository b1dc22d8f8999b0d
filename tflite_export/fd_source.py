"""A trained fD, from a SavedModel written by ppvr-train (or from a run's checkpoints),
re-saved with the fixed batch-1 signature a microcontroller needs."""
from __future__ import annotations

import json
import os

import keras
import tensorflow as tf

from ppvr_tf import experiment
from ppvr_tf.config import ExperimentConfig
from ppvr_tf.export import saved_model
from ppvr_tf.models import bdq, degradation


def fixed_batch(saved_model_dir: str, frame_shape: tuple[int, int, int], out_dir: str) -> str:
    """Saves ``serve(frame)`` with input (1, H, W, 3) to ``out_dir``; returns it."""
    loaded = tf.saved_model.load(saved_model_dir)
    serve = loaded.signatures["serving_default"]
    output = next(iter(serve.structured_outputs))

    class Frame(tf.Module):
        def __init__(self):
            super().__init__()
            self.loaded = loaded  # tracked, so its variables are saved with the new signature

        @tf.function(input_signature=[tf.TensorSpec((1, *frame_shape), tf.float32, name="frame")])
        def serve(self, frame):
            return {"degraded": serve(frame)[output]}

    module = Frame()
    tf.saved_model.save(module, out_dir, signatures={"serving_default": module.serve})
    return out_dir


def parse_size(text: str) -> tuple[int, int] | None:
    """'120x160' -> (120, 160); '' -> None."""
    if not text:
        return None
    height, sep, width = text.lower().partition("x")
    if not (sep and height.isdigit() and width.isdigit()) or not (int(height) and int(width)):
        raise ValueError(f"--input_size={text}: expected HxW in pixels, such as 120x160")
    return int(height), int(width)


INPUT_FORMATS = ("rgb", "gray")


def sensor_to_rgb(frames: tf.Tensor) -> tf.Tensor:
    """The three channels fD learned on, from a gray sensor's one (replicated in-graph)."""
    return tf.concat([frames] * 3, axis=-1) if frames.shape[-1] == 1 else frames


def on_sensor(fd: keras.Model, frame_shape: tuple[int, int, int]) -> keras.Model:
    """``fd`` on batch-1 frames of ``frame_shape`` (H, W, C); C = 1, a gray sensor, is
    replicated to the three channels fD learned on inside the model."""
    frame = keras.Input(frame_shape, batch_size=1, name="frame")
    rgb = keras.layers.Concatenate()([frame] * 3) if frame_shape[-1] == 1 else frame
    return keras.Model(frame, fd(rgb))


def at_size(fd: keras.Model, frame_shape: tuple[int, int, int], out_dir: str) -> str:
    """A per-frame ``fd`` (fully convolutional, so any size its strides divide) saved as a
    batch-1 model of frames (1, H, W, C): C = 3, or 1 for a gray sensor (replicated to RGB
    in the graph); returns ``out_dir``."""
    device = on_sensor(fd, frame_shape)
    spec = tf.TensorSpec((1, *frame_shape), tf.float32, name="frame")
    device.export(out_dir, format="tf_saved_model", verbose=False, input_signature=[spec])
    return out_dir


def check_size(cfg: ExperimentConfig, height: int, width: int) -> None:
    """Raises ValueError unless fD's strides divide a frame of ``height`` x ``width``."""
    multiple = degradation.side_multiple(cfg.model.degradation)
    if height % multiple or width % multiple or min(height, width) < multiple:
        raise ValueError(f"--input_size={height}x{width}: the {cfg.model.degradation} fD needs sides that are "
                         f"multiples of {multiple}")


def frame_pair(fd: keras.Model, frame_shape: tuple[int, int, int], out_dir: str) -> str:
    """An fD over clips (BDQ) as the camera runs it: ``serve(frame, previous_frame)``, each
    (1, H, W, 3), with ``fd``'s weights; saved to ``out_dir``, returned."""
    device = bdq.on_device(fd, frame_shape)
    spec = [tf.TensorSpec((1, *frame_shape), tf.float32, name=name) for name in ("frame", "previous_frame")]
    device.export(out_dir, format="tf_saved_model", verbose=False, input_signature=[spec])
    return out_dir


def from_checkpoint(workdir: str, out_dir: str) -> str:
    """Rebuilds fD from a ppvr-train workdir (config.json + checkpoints/) as a SavedModel."""
    with open(os.path.join(workdir, "config.json")) as f:
        cfg = ExperimentConfig.from_json(f.read())
    latest = tf.train.latest_checkpoint(os.path.join(workdir, "checkpoints"))
    if latest is None:
        raise FileNotFoundError(f"{workdir}/checkpoints: no checkpoint to export")
    fd = experiment.degradation_model(cfg)
    tf.train.Checkpoint(degradation=fd).restore(latest).expect_partial()
    shape = (cfg.data.height, cfg.data.width, 3)
    saved_model.export(fd, out_dir, shape, "degradation", cfg.to_json())
    return out_dir


def keras_model(saved_model_dir: str) -> keras.Model:
    """fD rebuilt from the SavedModel's config with its weights: quantisation-aware
    fine-tuning needs the layers, which a SavedModel keeps only as a graph."""
    cfg = config(saved_model_dir)
    fd = experiment.degradation_model(cfg)
    weights = tf.saved_model.load(saved_model_dir).variables
    if [tuple(w.shape) for w in weights] != [tuple(v.shape) for v in fd.variables]:
        raise ValueError(f"{saved_model_dir}: its weights do not fit the {cfg.model.degradation} fD this version "
                         "of ppvr_tf builds from its config")
    for variable, value in zip(fd.variables, weights):
        variable.assign(value)
    return fd


def frame_shape(saved_model_dir: str) -> tuple[int, int, int]:
    return tuple(saved_model.load_metadata(saved_model_dir)["input_shape"])


def config(saved_model_dir: str) -> ExperimentConfig:
    return ExperimentConfig.from_json(json.dumps(saved_model.load_metadata(saved_model_dir)["config"]))
