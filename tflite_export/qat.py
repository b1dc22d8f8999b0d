"""Quantisation-aware fine-tuning of fD with tensorflow-model-optimization (tfmot).

Post-training int8 rounds every tensor once, after training. When that costs more
fidelity than the export's bar, tfmot's fake quantisers put the rounding into training
so the weights learn to live with it. The quantised copy is fine-tuned to reproduce the
float fD's frames (distillation): the float fD is the one whose privacy-utility trade-off
was measured, so that is what the int8 model has to keep.

tfmot works on tf_keras (Keras 2) models only, so this is the one module of ppvr_tf that
touches tf_keras: the Keras 3 fD is mirrored layer by layer from its functional config
(its own layers apply the maths shared in ``ppvr_tf.models.degradation``), its weights
are copied, and the mirror must reproduce the original before fine-tuning starts.
"""
from __future__ import annotations

import os
import time
from typing import Callable

import keras
import numpy as np
import tensorflow as tf
import tf_keras
from absl import logging

from ppvr_tf.models import degradation
from ppvr_tf.training.callbacks import epoch_line
from tflite_export.fd_source import sensor_to_rgb

_legacy_keras = os.environ.get("TF_USE_LEGACY_KERAS")
import tensorflow_model_optimization as tfmot  # noqa: E402  (sets TF_USE_LEGACY_KERAS=1 for the process)

if _legacy_keras is None:  # undo it: outside this module, Keras stays Keras 3
    os.environ.pop("TF_USE_LEGACY_KERAS", None)
else:
    os.environ["TF_USE_LEGACY_KERAS"] = _legacy_keras

_Q = tfmot.quantization.keras
MIRROR_TOLERANCE = 1e-4  # max |mirror - original| on the fine-tuning frames


class QATError(RuntimeError):
    """The fD cannot be fine-tuned with tfmot (a layer it does not know, a mirror that differs)."""


class _OutputQuantized(_Q.QuantizeConfig):
    """Fake-quantises a layer's output only: where int8 TFLite rounds between ops."""

    def get_weights_and_quantizers(self, layer):
        return []

    def get_activations_and_quantizers(self, layer):
        return []

    def set_quantize_weights(self, layer, quantize_weights):
        pass

    def set_quantize_activations(self, layer, quantize_activations):
        pass

    def get_output_quantizers(self, layer):
        return [_Q.quantizers.MovingAverageQuantizer(num_bits=8, per_axis=False, symmetric=False,
                                                      narrow_range=False)]

    def get_config(self):
        return {}


class _Stateless(tf_keras.layers.Layer):
    """A weightless fD layer: ``maths`` names the shared function it applies."""

    maths: Callable = staticmethod(tf.identity)

    def call(self, x):
        return self.maths(x)


class UnitTanh(_Stateless):
    maths = staticmethod(degradation.unit_tanh)


class ToGray(_Stateless):
    maths = staticmethod(degradation.to_gray)


class NearestUpsample2x(_Stateless):
    maths = staticmethod(degradation.nearest_upsample_2x)


class InstanceNorm(tf_keras.layers.Layer):
    def __init__(self, epsilon: float | list[float] = 1e-3, **kwargs):
        super().__init__(**kwargs)
        self.epsilon = epsilon

    def build(self, input_shape):
        self.scale = self.add_weight(name="scale", shape=(input_shape[-1],), initializer="ones")
        self.offset = self.add_weight(name="offset", shape=(input_shape[-1],), initializer="zeros")

    def call(self, x):
        return degradation.instance_norm(x, self.scale, self.offset, tf.constant(self.epsilon, x.dtype))

    def get_config(self):
        return {**super().get_config(), "epsilon": self.epsilon}


_CUSTOM = {cls.__name__: cls for cls in (UnitTanh, ToGray, NearestUpsample2x, InstanceNorm)}
# tfmot's default 8-bit scheme knows these; the arguments that define their maths
_BUILTIN = {
    "Conv2D": ("filters", "kernel_size", "strides", "padding", "dilation_rate", "activation", "use_bias"),
    "Conv2DTranspose": ("filters", "kernel_size", "strides", "padding", "activation", "use_bias"),
    "DepthwiseConv2D": ("kernel_size", "strides", "padding", "depth_multiplier", "dilation_rate",
                        "activation", "use_bias"),
    "ReLU": ("max_value", "negative_slope", "threshold"),
    "Activation": ("activation",),
    "Add": (),
    "Identity": (),
}


# fD layers that only train differently from a built-in one
_TRAINING_VARIANTS = {"RowwiseConv2D": "Conv2D"}


def _layer(class_name: str, config: dict, name: str) -> tf_keras.layers.Layer:
    class_name = _TRAINING_VARIANTS.get(class_name, class_name)
    if class_name in _CUSTOM:
        extra = {"epsilon": config["epsilon"]} if class_name == "InstanceNorm" else {}
        return _CUSTOM[class_name](name=name, **extra)
    if class_name not in _BUILTIN:
        raise QATError(f"quantisation-aware fine-tuning does not know fD layer {class_name} ({name})")
    if class_name == "Identity":  # tf_keras has no Identity layer; a linear Activation is one
        return tf_keras.layers.Activation("linear", name=name)
    args = {key: config[key] for key in _BUILTIN[class_name] if key in config}
    return getattr(tf_keras.layers, class_name)(name=name, **args)


def _sources(node_args) -> list[str]:
    """Names of the layers feeding one inbound node of a Keras 3 functional config."""
    if isinstance(node_args, dict):
        history = node_args.get("config", {}).get("keras_history")
        return [history[0]] if node_args.get("class_name") == "__keras_tensor__" else []
    if isinstance(node_args, (list, tuple)):
        return [name for item in node_args for name in _sources(item)]
    return []


def mirror(fd: keras.Model) -> tf_keras.Model:
    """The tf_keras twin of a single-input, single-output Keras 3 functional fD, same weights."""
    config = fd.get_config()
    tensors: dict[str, tf.Tensor] = {}
    for spec in config["layers"]:
        name = spec["name"]
        if spec["class_name"] == "InputLayer":
            tensors[name] = tf_keras.Input(shape=tuple(spec["config"]["batch_shape"][1:]), name=name)
            continue
        if len(spec["inbound_nodes"]) != 1:
            raise QATError(f"fD layer {name} is called {len(spec['inbound_nodes'])} times; the mirror "
                           "supports layers used once")
        inputs = [tensors[source] for source in _sources(spec["inbound_nodes"][0]["args"])]
        layer = _layer(spec["class_name"], spec["config"], name)
        tensors[name] = layer(inputs if len(inputs) > 1 else inputs[0])
        layer.set_weights(fd.get_layer(name).get_weights())
    return tf_keras.Model(tensors[config["input_layers"][0]], tensors[config["output_layers"][0]],
                          name=f"{fd.name}_tf_keras")


def _annotated(layer: tf_keras.layers.Layer) -> tf_keras.layers.Layer:
    if isinstance(layer, tf_keras.layers.InputLayer):
        return layer
    config = _OutputQuantized() if type(layer).__name__ in _CUSTOM else None
    return _Q.quantize_annotate_layer(layer, config)


def quantised(model: tf_keras.Model) -> tf_keras.Model:
    """``model`` with tfmot's fake quantisers: weights per channel, every output per tensor."""
    annotated = tf_keras.models.clone_model(model, clone_function=_annotated)
    annotated.set_weights(model.get_weights())
    with _Q.quantize_scope({**_CUSTOM, "_OutputQuantized": _OutputQuantized}):
        return _Q.quantize_apply(annotated)


class _EpochLines(tf_keras.callbacks.Callback):
    """One line per epoch: which, the loss, the time so far and the time left."""

    def __init__(self, epochs: int):
        super().__init__()
        self.epochs, self.started = epochs, time.monotonic()

    def on_epoch_end(self, epoch, logs=None):
        logging.info(epoch_line("quantisation-aware fine-tuning", epoch, self.epochs, {"loss": logs["loss"]},
                                time.monotonic() - self.started))


def fine_tune(fd: keras.Model, frames: np.ndarray, epochs: int = 8, batch_size: int = 32,
              learning_rate: float = 1e-4) -> tf_keras.Model:
    """Fits the fake-quantised mirror of ``fd`` to ``fd``'s own outputs on ``frames``."""
    teacher = np.asarray(fd.predict(frames, batch_size=64, verbose=0), np.float32)
    twin = mirror(fd)
    gap = float(np.abs(twin.predict(frames, batch_size=64, verbose=0) - teacher).max())
    if gap > MIRROR_TOLERANCE:
        raise QATError(f"the tf_keras mirror of {fd.name} differs from it by {gap:.2e}")
    student = quantised(twin)
    student.compile(tf_keras.optimizers.Adam(learning_rate), loss="mse")
    student.fit(frames, teacher, epochs=epochs, batch_size=batch_size, shuffle=True, verbose=0,
                callbacks=[_EpochLines(epochs)])
    return student


def save_fixed_batch(model: tf_keras.Model, frame_shape: tuple[int, int, int], out_dir: str) -> str:
    """A SavedModel of ``model`` on one (1, H, W, C) frame (C = 1: a gray sensor), ready
    for ``convert.convert``."""
    module = tf.Module()
    module.weights = list(model.variables)  # not the model: tf_keras would trace every layer call
    module.serve = tf.function(lambda frame: {"degraded": model(sensor_to_rgb(frame), training=False)},
                               input_signature=[tf.TensorSpec((1, *frame_shape), tf.float32, name="frame")])
    tf.saved_model.save(module, out_dir, signatures={"serving_default": module.serve})
    return os.path.abspath(out_dir)
