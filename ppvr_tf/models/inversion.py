"""Inversion networks g: fD(x) -> x, and the budget model that reads through one.

The strongest attack on a learned fD (evaluation/attacks.py, ``reconstruction``) is an
adversary who owns fD: they fit g on pairs (fD(x), x) they make themselves, then read
g(fD(X)) with an attacker trained on raw footage. ``InversionBudget`` brings that
adversary into training as one more budget model fB, so fD is trained against it.
"""
from __future__ import annotations

import keras
from keras import layers, ops

from ppvr_tf.models.budget import build_budget_model


def inversion_network(input_shape: tuple, output_shape: tuple, width: int = 32, blocks: int = 3,
                      name: str = "inversion") -> keras.Model:
    """g for frames: fD(x) scaled to the raw size plus a learned correction (residual
    convolutions), so g starts where fD left the frame."""
    x = frames = keras.Input(input_shape)
    if tuple(input_shape[:2]) != tuple(output_shape[:2]):
        x = layers.Resizing(*output_shape[:2], interpolation="bilinear")(x)
    base = x if input_shape[-1] == output_shape[-1] else layers.Conv2D(output_shape[-1], 1)(x)
    h = layers.Conv2D(width, 3, padding="same", activation="relu")(x)
    for _ in range(blocks):
        r = layers.Conv2D(width, 3, padding="same", activation="relu")(h)
        h = layers.Add()([h, layers.Conv2D(width, 3, padding="same")(r)])
        h = layers.ReLU()(h)
    correction = layers.Conv2D(output_shape[-1], 3, padding="same", kernel_initializer="zeros")(h)
    return keras.Model(frames, layers.Add()([base, correction]), name=name)  # starts as fD(x) itself


class InversionBudget(keras.Model):
    """fB,inv(fD(x)) = R(g(fD(x))): a raw-trained reader R behind an inversion network g.

    Trained by the budget updates like any fB, on LB of its prediction, and besides on
    ``adversary_loss``: g's reconstruction error ||g(fD(x)) - x||² and R's LB on raw x,
    which keeps R an attacker that knows the people from raw footage.
    """

    def __init__(self, reader_name: str, clip_shape: tuple, outputs: int, width: int = 16, blocks: int = 2,
                 **kwargs):
        """fD(x) arrives in the raw clips' shape ``clip_shape`` (T, H, W, C), as for every fB."""
        super().__init__(**kwargs)
        frame_shape = tuple(clip_shape[1:])
        self.inverse = inversion_network(frame_shape, frame_shape, width, blocks, name=f"{self.name}_g")
        self.reader = build_budget_model(reader_name, tuple(clip_shape), outputs, model_name=f"{self.name}_reader")
        self.built = True  # both parts arrive built

    def reconstruct(self, degraded, training=False):
        """g(fD(x)) for clips, clipped to the raw range [0, 1]."""
        shape = ops.shape(degraded)
        frames = ops.reshape(degraded, (-1, *degraded.shape[2:]))
        rebuilt = ops.cast(self.inverse(frames, training=training), "float32")
        rebuilt = ops.reshape(rebuilt, (shape[0], shape[1], *rebuilt.shape[1:]))
        return ops.clip(rebuilt, 0.0, 1.0)

    def call(self, degraded, training=False):
        return self.reader(self.reconstruct(degraded, training), training=training)

    def adversary_loss(self, loss_fn, raw, degraded, labels):
        """What the adversary also learns from: g's reconstruction error and R's LB on raw x."""
        rebuilt = self.reconstruct(degraded, training=True)
        return (ops.mean(ops.square(rebuilt - ops.cast(raw, "float32")))
                + loss_fn(labels, self.reader(raw, training=True)))
