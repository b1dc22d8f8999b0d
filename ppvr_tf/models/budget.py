"""Budget models fB: privacy attackers, a zoo of frame classifiers.

Every attacker classifies frames and averages the per-frame logits over the clip,
as the paper does; the ``c3d`` family (not the paper's) reads whole clips. Names are
``family`` or ``family@width`` (width multiplier), e.g. ``mobilenet_v1@0.6``,
``resnet50_v2``, ``cnn@0.5``, ``c3d@0.125``.
"""
from __future__ import annotations

import dataclasses
from typing import Callable

import keras
from keras import layers, ops

from ppvr_tf.models.target import c3d
from ppvr_tf.registry import Registry

MIN_APPLICATION_SIDE = 32  # keras.applications refuse smaller frames


def _small_cnn(frame_shape, outputs: int, width: float, flatten: bool) -> keras.Model:
    """A quick attacker: conv-BN-ReLU-pool blocks; ``flatten`` keeps the spatial layout."""
    x = frames = keras.Input(frame_shape)
    blocks = (32, 64) if flatten else (32, 64, 128)
    for filters in blocks:
        x = layers.Conv2D(max(4, int(round(filters * width))), 3, padding="same", use_bias=False)(x)
        x = layers.BatchNormalization()(x)
        x = layers.ReLU()(x)
        x = layers.MaxPool2D(2, padding="same")(x)
    if flatten:
        x = layers.Flatten()(x)
        x = layers.Dense(max(8, int(round(128 * width))), activation="relu")(x)
    else:
        x = layers.GlobalAveragePooling2D()(x)
    return keras.Model(frames, layers.Dense(outputs)(x))


@dataclasses.dataclass(frozen=True)
class Family:
    build: Callable[..., keras.Model]  # (frame shape, outputs, width) -> frame classifier
    min_side: int = 1  # smallest frame side it takes
    clip_level: bool = False  # build takes (clip shape, outputs, width, name): a classifier of whole clips


FAMILIES: Registry[Family] = Registry("budget model family")


def _family(name: str, min_side: int = 1, clip_level: bool = False) -> Callable:
    """Registers a classifier builder under ``name``."""
    def add(build: Callable) -> Callable:
        FAMILIES.register(name)(Family(build, min_side, clip_level))
        return build
    return add


@_family("c3d", clip_level=True)
def _c3d(shape, outputs: int, width: float, name: str) -> keras.Model:
    """A budget model that sees motion (gait identifies people whom single frames do not):
    the temporal attack's C3D, trained against fD like any other fB."""
    return c3d(tuple(shape), outputs, width=width, dropout=0.2, weight_decay=0.0, batch_norm=True, name=name)


@_family("cnn")
def _cnn(shape, outputs: int, width: float) -> keras.Model:
    return _small_cnn(shape, outputs, width, flatten=False)


@_family("cnn_flat")
def _cnn_flat(shape, outputs: int, width: float) -> keras.Model:
    return _small_cnn(shape, outputs, width, flatten=True)


@_family("mobilenet_v1", MIN_APPLICATION_SIDE)
def _mobilenet_v1(shape, outputs: int, width: float) -> keras.Model:
    return keras.applications.MobileNet(input_shape=shape, alpha=width, weights=None, include_top=True,
                                        classes=outputs, classifier_activation=None)


@_family("mobilenet_v2", MIN_APPLICATION_SIDE)
def _mobilenet_v2(shape, outputs: int, width: float) -> keras.Model:
    return keras.applications.MobileNetV2(input_shape=shape, alpha=width, weights=None, include_top=True,
                                          classes=outputs, classifier_activation=None)


@_family("resnet50_v1", MIN_APPLICATION_SIDE)
def _resnet50_v1(shape, outputs: int, width: float) -> keras.Model:  # no width multiplier
    return keras.applications.ResNet50(input_shape=shape, weights=None, include_top=True, classes=outputs,
                                       classifier_activation=None)


@_family("resnet50_v2", MIN_APPLICATION_SIDE)
def _resnet50_v2(shape, outputs: int, width: float) -> keras.Model:  # no width multiplier
    return keras.applications.ResNet50V2(input_shape=shape, weights=None, include_top=True, classes=outputs,
                                         classifier_activation=None)


def parse_name(name: str) -> tuple[str, float]:
    """``'mobilenet_v1@0.6'`` -> ``('mobilenet_v1', 0.6)``; a bare family has width 1."""
    family, _, width = name.partition("@")
    if family not in FAMILIES:
        raise ValueError(f"unknown budget model {name!r}; families: {', '.join(FAMILIES)}")
    try:
        value = float(width) if width else 1.0
    except ValueError:
        raise ValueError(f"budget model {name!r}: width {width!r} is not a number") from None
    if value <= 0:
        raise ValueError(f"budget model {name!r}: width must be positive")
    return family, value


def check_frame_size(name: str, height: int, width: int) -> None:
    """Raises if the named attacker cannot take frames of this size."""
    family, _ = parse_name(name)
    side = FAMILIES[family].min_side
    if min(height, width) < side:
        raise ValueError(f"budget model {name!r} needs frames of at least {side}x{side}, got {height}x{width}")


class PixelStandardisation(layers.Layer):
    """(x - mean) / std with a mean and std per pixel and channel, over the batch.

    Batch statistics in training, moving averages at inference (like batch norm, but
    nothing is shared across positions, so a fixed spatial pattern is removed).
    """

    def __init__(self, momentum: float = 0.9, epsilon: float = 1e-3, **kwargs):
        super().__init__(**kwargs)
        self.momentum, self.epsilon = momentum, epsilon
        self.synchronized = False  # as in BatchNormalization: statistics of the global batch

    def build(self, input_shape):
        shape = tuple(input_shape[1:])
        self.moving_mean = self.add_weight(shape=shape, initializer="zeros", trainable=False,
                                           name="moving_mean")
        self.moving_var = self.add_weight(shape=shape, initializer="ones", trainable=False,
                                          name="moving_var")

    def call(self, x, training=False):
        if training:
            mean, var = ops.moments(x, axes=[0], synchronized=self.synchronized)
            m = self.momentum
            self.moving_mean.assign(m * self.moving_mean + (1 - m) * ops.stop_gradient(mean))
            self.moving_var.assign(m * self.moving_var + (1 - m) * ops.stop_gradient(var))
        else:
            mean, var = self.moving_mean, self.moving_var
        return (x - mean) * ops.rsqrt(var + self.epsilon)

    def get_config(self):
        return {**super().get_config(), "momentum": self.momentum, "epsilon": self.epsilon}


class TimeAveragedClassifier(keras.Model):
    """Runs a frame classifier on every frame of a clip and averages the logits over time.

    Frames are first standardised per pixel and channel (batch normalisation over
    the batch axis only). An fD can hide what it leaks under a large fixed overlay
    that fools a plain attacker; subtracting the mean degraded frame and dividing by
    each pixel's spread exposes any small signal that still varies with the input,
    so budget models and fresh attackers alike get a fair shot at it.
    """

    def __init__(self, frame_model: keras.Model, **kwargs):
        super().__init__(**kwargs)
        self.standardise = PixelStandardisation(name="pixel_standardise")
        self.frame_model = frame_model

    def build(self, input_shape):
        self.standardise.build((None, *input_shape[2:]))
        self.built = True

    def call(self, clips, training=False):
        shape = ops.shape(clips)
        frames = ops.reshape(clips, (-1, shape[2], shape[3], shape[4]))
        logits = self.frame_model(self.standardise(frames, training=training), training=training)
        logits = ops.cast(logits, "float32")  # whatever the frame model computes in
        return ops.mean(ops.reshape(logits, (shape[0], shape[1], -1)), axis=1)


def is_clip_level(name: str) -> bool:
    return FAMILIES[parse_name(name)[0]].clip_level


def build_budget_model(name: str, clip_shape: tuple[int, int, int, int], outputs: int,
                       model_name: str | None = None) -> keras.Model:
    """An attacker from the zoo for clips of ``clip_shape`` (T, H, W, C): a frame
    classifier averaged over the clip, or a clip-level family as it is."""
    family, width = parse_name(name)
    check_frame_size(name, clip_shape[1], clip_shape[2])
    model_name = model_name or name.replace("@", "_w")
    if FAMILIES[family].clip_level:
        return FAMILIES[family].build(tuple(clip_shape), outputs, width, name=model_name)
    frame_model = FAMILIES[family].build(tuple(clip_shape[1:]), outputs, width)
    model = TimeAveragedClassifier(frame_model, name=model_name)
    model.build((None, *clip_shape))
    return model


def ensemble_names(families: str, count: int, width: float, width_step: float) -> list[str]:
    """M budget models: model i is of family ``i mod len(families)`` (a comma-separated
    list) with width ``width + i * width_step`` (paper, SBU: mobilenet_v1, 0.60 - 0.02 i),
    unless the family names its own width (paper, VISPR: ``resnet50_v1,resnet50_v2,
    mobilenet_v1@1.0,mobilenet_v1@0.75``)."""
    names = [f for f in families.split(",") if f]

    def name(i: int) -> str:
        family = names[i % len(names)]
        return family if "@" in family else f"{family}@{round(width + i * width_step, 4)}"
    return [name(i) for i in range(count)]
