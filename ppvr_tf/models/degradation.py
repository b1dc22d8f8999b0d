"""Degradation models fD: the camera-side filter that runs on every frame.

fD is a per-frame image-to-image network; clips are folded to frames (B*T) and back,
so the same model exports to a camera that sees one frame at a time.
"""
from __future__ import annotations

import keras
from keras import layers, ops


class InstanceNorm(layers.Layer):
    """Instance normalisation with a learned scale and shift (eps 1e-3, as the authors')."""

    def __init__(self, epsilon: float = 1e-3, **kwargs):
        super().__init__(**kwargs)
        self.epsilon = epsilon

    def build(self, input_shape):
        channels = input_shape[-1]
        self.scale = self.add_weight(shape=(channels,), initializer="ones", name="scale")
        self.offset = self.add_weight(shape=(channels,), initializer="zeros", name="offset")

    def call(self, x):
        mean = ops.mean(x, axis=(1, 2), keepdims=True)
        var = ops.var(x, axis=(1, 2), keepdims=True)
        return self.scale * (x - mean) * ops.rsqrt(var + self.epsilon) + self.offset

    def get_config(self):
        return {**super().get_config(), "epsilon": self.epsilon}


class UnitTanh(layers.Layer):
    """``tanh(x) * 0.5 + 0.5``: squashes the output into the [0, 1] frame range."""

    def call(self, x):
        return ops.tanh(x) * 0.5 + 0.5


class ToGray(layers.Layer):
    """Luma of an RGB image, replicated over three channels (the paper's SBU output)."""

    def call(self, x):
        weights = ops.convert_to_tensor([0.299, 0.587, 0.114], dtype=x.dtype)
        gray = ops.sum(x * weights, axis=-1, keepdims=True)
        return ops.concatenate([gray, gray, gray], axis=-1)


def _conv_norm(x, filters: int, kernel: int, stride: int = 1, relu: bool = True, transpose: bool = False):
    conv = layers.Conv2DTranspose if transpose else layers.Conv2D
    x = conv(filters, kernel, strides=stride, padding="same", use_bias=False)(x)
    x = InstanceNorm()(x)
    return layers.ReLU()(x) if relu else x


def transformer_net(width: float = 1.0, residual_blocks: int = 5, grayscale: bool = False,
                    name: str = "fd_transformer") -> keras.Model:
    """Johnson et al.'s image transformation net, the paper's fD.

    conv 9x9/32 -> 3x3/64 s2 -> 3x3/128 s2 -> residual blocks -> two transposed
    3x3 s2 convs -> conv 9x9/3, instance norm after every conv, output
    ``tanh(x) * 0.5 + 0.5`` in [0, 1]. ``width`` scales every channel count; frame
    sides must be multiples of 4 (two stride-2 stages).
    """
    c1, c2, c3 = (max(4, int(round(c * width))) for c in (32, 64, 128))
    frames = keras.Input((None, None, 3), name="frames")
    x = _conv_norm(frames, c1, 9)
    x = _conv_norm(x, c2, 3, stride=2)
    x = _conv_norm(x, c3, 3, stride=2)
    for _ in range(residual_blocks):
        y = _conv_norm(x, c3, 3)
        y = _conv_norm(y, c3, 3, relu=False)
        x = layers.Add()([x, y])
    x = _conv_norm(x, c2, 3, stride=2, transpose=True)
    x = _conv_norm(x, c1, 3, stride=2, transpose=True)
    x = _conv_norm(x, 3, 9, relu=False)
    x = UnitTanh(name="to_unit_range")(x)
    if grayscale:
        x = ToGray(name="to_gray")(x)
    return keras.Model(frames, x, name=name)


def identity_degradation(name: str = "fd_identity") -> keras.Model:
    """The raw reference: fD(X) = X."""
    frames = keras.Input((None, None, 3), name="frames")
    return keras.Model(frames, layers.Identity()(frames), name=name)


def build_degradation(kind: str, width: float = 1.0, residual_blocks: int = 5,
                      grayscale: bool = False) -> keras.Model:
    """fD by name: ``transformer`` (learned) or ``identity`` (raw)."""
    if kind == "transformer":
        return transformer_net(width, residual_blocks, grayscale)
    if kind == "identity":
        return identity_degradation()
    raise ValueError(f"unknown degradation model {kind!r}; expected 'transformer' or 'identity'")


def degrade_clips(fd, clips):
    """Applies a per-frame fD to clips (B, T, H, W, C) by folding time into the batch."""
    shape = ops.shape(clips)
    frames = ops.reshape(clips, (-1, shape[2], shape[3], shape[4]))
    out = fd(frames)
    return ops.reshape(out, (shape[0], shape[1], shape[2], shape[3], ops.shape(out)[-1]))
