"""Degradation models fD: the camera-side filter that runs on every frame.

fD is a per-frame image-to-image network; clips are folded to frames (B*T) and back,
so the same model exports to a camera that sees one frame at a time.
"""
from __future__ import annotations

from typing import Callable, Sequence

import keras
import numpy as np
import tensorflow as tf
from keras import layers, ops

from ppvr_tf.models import bdq
from ppvr_tf.models.fast_conv import RowwiseConv2D, enabled as fast_conv_enabled
from ppvr_tf.registry import Registry


# The per-pixel maths of fD's own layers, in TensorFlow ops, shared with the tf_keras
# mirror that quantisation-aware fine-tuning needs (tflite_export/qat.py).

def instance_norm(x, scale, offset, epsilon):
    """Per frame and channel: ``scale * (x - mean) / sqrt(var + epsilon) + offset``, written
    as one multiply and one add over x (``x * inv + (offset - mean * inv)``): int8 rounds
    the full-size tensor twice, not four times. ``epsilon``: a number or one per channel."""
    mean, var = tf.nn.moments(x, axes=(1, 2), keepdims=True)
    inv = scale * tf.math.rsqrt(var + epsilon)
    return x * inv + (offset - mean * inv)


def instance_norm_for_training(x, scale, offset, epsilon):
    """``instance_norm`` as fD trains it: both moments from one read of x, and a written-out
    gradient that takes a few full passes over x where automatic differentiation of the
    moments takes many (measurements in docs/benchmarks.md). The moments are taken about
    one pixel of each frame and channel, so E[d^2] - E[d]^2 does not cancel away when a
    channel's mean dwarfs its spread. Training only: the exported
    model keeps the two-pass form, which quantises well."""

    @tf.custom_gradient
    def norm(x, scale, offset):
        d = x - tf.stop_gradient(x[:, :1, :1, :])
        mean = tf.reduce_mean(d, axis=(1, 2), keepdims=True)
        var = tf.maximum(tf.reduce_mean(d * d, axis=(1, 2), keepdims=True) - mean * mean, 0.0)
        rstd = tf.math.rsqrt(var + epsilon)
        inv = scale * rstd

        def gradient(g):
            # y = scale * xhat + offset with xhat = (d - mean) * rstd, per frame and channel:
            # dx = scale * rstd * (g - mean(g) - xhat * mean(g * xhat))
            pixels = tf.cast(tf.shape(x)[1] * tf.shape(x)[2], x.dtype)
            sum_g = tf.reduce_sum(g, axis=(1, 2), keepdims=True)
            sum_g_xhat = rstd * (tf.reduce_sum(g * d, axis=(1, 2), keepdims=True) - mean * sum_g)
            slope = inv * rstd * sum_g_xhat / pixels
            dx = g * inv - d * slope + (slope * mean - inv * sum_g / pixels)
            return dx, tf.reduce_sum(sum_g_xhat, axis=(0, 1, 2)), tf.reduce_sum(sum_g, axis=(0, 1, 2))

        return d * inv + (offset - mean * inv), gradient

    return norm(x, tf.convert_to_tensor(scale), tf.convert_to_tensor(offset))  # read here: not variables inside


def unit_tanh(x):
    return tf.tanh(x) * 0.5 + 0.5


def to_gray(x):
    gray = tf.reduce_sum(x * tf.constant([0.299, 0.587, 0.114], x.dtype), axis=-1, keepdims=True)
    return tf.concat([gray, gray, gray], axis=-1)


def nearest_upsample_2x(x):
    return tf.image.resize(x, tf.shape(x)[1:3] * 2, method="nearest")


class InstanceNorm(layers.Layer):
    """Instance normalisation with a learned scale and shift (eps 1e-3, as the authors').
    ``epsilon`` may be one number per channel: the int8 export rescales the channels that
    feed the norm and scales epsilon with them (``tflite_export/equalise.py``)."""

    def __init__(self, epsilon: float | Sequence[float] = 1e-3, **kwargs):
        super().__init__(**kwargs)
        self.epsilon = epsilon if isinstance(epsilon, (int, float)) else [float(e) for e in epsilon]

    def build(self, input_shape):
        channels = input_shape[-1]
        # float32 in use too (no autocast to bf16): the norm's arithmetic stays float32
        self.scale = self.add_weight(shape=(channels,), initializer="ones", name="scale", autocast=False)
        self.offset = self.add_weight(shape=(channels,), initializer="zeros", name="offset", autocast=False)

    def call(self, x, training=False):
        # Statistics in float32 whatever the compute dtype (bf16 under mixed precision).
        norm = instance_norm_for_training if training else instance_norm
        epsilon = tf.constant(self.epsilon, tf.float32)
        return tf.cast(norm(tf.cast(x, tf.float32), self.scale, self.offset, epsilon), x.dtype)

    def get_config(self):
        return {**super().get_config(), "epsilon": self.epsilon}


class OutputLevels(layers.Layer):
    """fD's output bottleneck (``--fd_levels``): each channel of each pixel leaves the
    camera as one of ``levels`` values j / (levels - 1), switched at learned thresholds,
    so fD(X) holds at most log2(levels) bits per channel and pixel: fine shading, which
    raw-pretrained and reconstruction attacks read, cannot pass.

    The forward pass is the hard staircase, in training too, so fT and fB learn from what
    the camera sends. The backward pass is the soft staircase's (the mean of sigmoids of
    ``hardness * (x - b_i)``, as BDQ's quantiser; hardness 4 / step, so that the slope is
    about 1 at a threshold): a straight-through estimate that moves fD and the thresholds.
    """

    def __init__(self, levels: int, **kwargs):
        super().__init__(**kwargs)
        self.levels = levels
        self.hardness = 4.0 * (levels - 1)

    def build(self, input_shape):
        # midway between the output values, one set per channel
        start = (np.arange(self.levels - 1, dtype=np.float32) + 0.5) / (self.levels - 1)
        self.thresholds = self.add_weight(
            shape=(self.levels - 1, input_shape[-1]), name="thresholds", autocast=False,
            initializer=keras.initializers.Constant(np.repeat(start[:, None], input_shape[-1], axis=1)))

    def call(self, x, training=False):
        # one frame-shaped step per threshold, not one (..., levels - 1, channels) tensor:
        # TFLite Micro's kernels take at most 4-D tensors
        x = tf.cast(x, tf.float32)
        above = [x - self.thresholds[i] for i in range(self.levels - 1)]
        hard = tf.add_n([tf.cast(d > 0.0, tf.float32) for d in above]) / (self.levels - 1)
        if not training:  # what is exported: the staircase alone
            return hard
        soft = tf.add_n([tf.sigmoid(self.hardness * d) for d in above]) / (self.levels - 1)
        return hard + soft - tf.stop_gradient(soft)

    def get_config(self):
        return {**super().get_config(), "levels": self.levels}


class UnitTanh(layers.Layer):
    """``tanh(x) * 0.5 + 0.5``: squashes the output into the [0, 1] frame range."""

    def call(self, x):
        return unit_tanh(x)


class ToGray(layers.Layer):
    """Luma of an RGB image, replicated over three channels (the paper's SBU output)."""

    def call(self, x):
        return to_gray(x)


class NearestUpsample2x(layers.Layer):
    """x2 nearest-neighbour resize (RESIZE_NEAREST_NEIGHBOR in TFLite; Keras'
    UpSampling2D becomes TILE, which TFLite Micro does not have)."""

    def call(self, x):
        return nearest_upsample_2x(x)

    def compute_output_shape(self, input_shape):
        batch, height, width, channels = input_shape
        double = (lambda side: None if side is None else 2 * side)
        return (batch, double(height), double(width), channels)


def _conv_norm(x, filters: int, kernel: int, stride: int = 1, relu: bool = True, transpose: bool = False):
    conv = layers.Conv2DTranspose if transpose else layers.Conv2D
    x = conv(filters, kernel, strides=stride, padding="same", use_bias=False)(x)
    x = InstanceNorm()(x)
    return layers.ReLU()(x) if relu else x


def transformer_net(width: float = 1.0, residual_blocks: int = 5, grayscale: bool = False,
                    skip: bool = False, fast_conv: str = "auto", levels: int = 0,
                    name: str = "fd_transformer") -> keras.Model:
    """Johnson et al.'s image transformation net, the paper's fD.

    conv 9x9/32 -> 3x3/64 s2 -> 3x3/128 s2 -> residual blocks -> two transposed
    3x3 s2 convs -> conv 9x9/3, instance norm after every conv, output
    ``tanh(x) * 0.5 + 0.5`` in [0, 1]. ``width`` scales every channel count; frame
    sides must be multiples of 4 (two stride-2 stages).

    ``skip`` (not the paper's): fD(x) = clip(x + Δ(x), 0, 1), the last conv (Δ) starting
    at zero, so fD starts as the identity. The paper's net cannot be the identity (its
    last instance norm fixes every frame's mean and contrast per channel): after its
    identity pretraining fT learned from a distorted video. The clip is a bottleneck:
    what Δ pushes past 0 or 1 is gone, not hidden.

    ``levels`` > 0 (not the paper's): the output passes ``OutputLevels``.
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
    to_rgb = RowwiseConv2D if fast_conv_enabled(fast_conv) else layers.Conv2D  # fast_conv.py: why
    if skip:
        x = _clipped_sum(frames, to_rgb(3, 9, padding="same", use_bias=False, kernel_initializer="zeros")(x))
    else:
        x = InstanceNorm()(to_rgb(3, 9, padding="same", use_bias=False)(x))
        x = UnitTanh(name="to_unit_range")(x)
    return keras.Model(frames, _output(x, levels, grayscale), name=name)


def _clipped_sum(frames, delta):
    """The input skip's output, clip(x + Δ, 0, 1): what Δ pushes out of range is gone."""
    return layers.ReLU(max_value=1.0, name="to_unit_range")(layers.Add()([frames, delta]))


def _output(x, levels: int, grayscale: bool):
    """fD's last steps after the unit range: the learned levels, then gray."""
    if levels:
        x = OutputLevels(levels, dtype="float32", name="output_levels")(x)
    return ToGray(name="to_gray")(x) if grayscale else x


def _separable_block(x, filters: int):
    """Depthwise 3x3 + pointwise 1x1 with a residual: MobileNet's cheap convolution."""
    y = layers.DepthwiseConv2D(3, padding="same", activation="relu")(x)
    y = layers.Conv2D(filters, 1)(y)
    return layers.Add()([x, y])


def _upsample(x, filters: int, activation: str | None = "relu", activity_regularizer=None,
              kernel_initializer: str = "glorot_uniform", use_bias: bool = True):
    """x2 up: 1x1 conv to ``filters`` at the low resolution, nearest-neighbour resize, then
    a depthwise 3x3. A transposed conv would do the same job, but TFLite Micro's int8
    TRANSPOSE_CONV keeps an int32 copy of its whole output as scratch (4x the arena)."""
    x = layers.Conv2D(filters, 1)(x)
    x = NearestUpsample2x()(x)
    return layers.DepthwiseConv2D(3, padding="same", activation=activation, activity_regularizer=activity_regularizer,
                                  depthwise_initializer=kernel_initializer, use_bias=use_bias)(x)


class LogitBound(keras.regularizers.Regularizer):
    """``mean(max(|z| - bound, 0)^2 + max(margin - |z|, 0)^2)``: fD's output logits z kept
    within about ±bound and, with a margin, at least that far from 0.
    Unbounded, a trained fD can drive them to hundreds (a sigmoid as a hard threshold),
    and then an int8 error of a few per cent flips pixels: the export loses the output's
    fidelity. Bounded alone, the output turns into a grey relief that an inversion
    network reads (docs/edge_export.md); the margin keeps it near-binary, each pixel a
    few int8 steps from the sigmoid's middle."""

    def __init__(self, bound: float, margin: float = 0.0):
        self.bound = float(bound)
        self.margin = float(margin)
        # 1 or 0: whether the margin charges (the trainer switches it, ``--fd_logit_margin_from``).
        self.margin_on = keras.Variable(1.0, trainable=False, name="logit_margin_on") if margin else None

    def __call__(self, z):
        size = ops.abs(ops.cast(z, "float32"))
        outside = ops.square(ops.relu(size - self.bound))
        if self.margin_on is not None:
            outside = outside + self.margin_on * ops.square(ops.relu(self.margin - size))
        # Keras divides an activity regulariser by the batch size: summing each frame's
        # mean makes the loss the mean over every pixel of the batch.
        return ops.sum(ops.mean(outside, axis=(1, 2, 3)))

    def get_config(self):
        return {"bound": self.bound, "margin": self.margin}


def logit_margins(model: keras.Model) -> list[LogitBound]:
    """The ``LogitBound`` penalties with a margin on ``model``'s layers."""
    return [layer.activity_regularizer for layer in model.layers
            if isinstance(layer.activity_regularizer, LogitBound) and layer.activity_regularizer.margin_on is not None]


def mcu_net(width: float = 1.0, blocks_per_stage: int = 2, grayscale: bool = False,
            logit_bound: float = 0.0, levels: int = 0, skip: bool = False, bottleneck: bool = False,
            logit_margin: float = 0.0, name: str = "fd_mcu") -> keras.Model:
    """An fD for microcontroller cameras: about 8 MMAC and 10 k weights per 112x112 frame.

    The paper's fD (1.9 GMAC per frame) keeps full resolution through 9x9 convs and
    instance norm; this one works where it is cheap — at 1/2 and 1/4 resolution, with
    depthwise-separable residual blocks — and comes back up in two x2 steps with a skip
    from the 1/2 stage. Instance norm right after the first conv (so every path, the
    skip too, loses the frame's global colour statistics, which carry much of a person's
    appearance); not before the output, where it cost int8 fidelity (24.6 dB PSNR at
    random weights). Plain ReLU, not ReLU6: a RELU6 the
    converter cannot fuse into the layer before it runs differently on TFLite Micro
    than on LiteRT (measured: 150 int8 steps apart). Output sigmoid(x) = tanh(x/2) *
    0.5 + 0.5, the paper's range in one full-resolution op; ``logit_bound`` > 0 adds
    ``LogitBound`` (with ``logit_margin``) on its input to the losses fD trains with; ``levels`` > 0, ``OutputLevels``.
    ``skip``: fD(x) = clip(x + Δ(x), 0, 1) as the transformer's, Δ the last depthwise conv
    starting at zero, in place of the sigmoid (one ADD and a clip on the device).
    ``bottleneck``: no skip from the 1/2 stage, so the output is made from 1/4-resolution
    features alone; with the skip, fD passes the edges of the person (stripes, outline)
    on to the cloud (docs/edge_export.md). Frame sides: multiples of 4.
    """
    c1, c2 = (max(4, int(round(c * width))) for c in (16, 32))
    frames = keras.Input((None, None, 3), name="frames")
    half = layers.Conv2D(c1, 3, strides=2, padding="same")(frames)
    half = layers.ReLU()(InstanceNorm()(half))
    for _ in range(blocks_per_stage):
        half = _separable_block(half, c1)
    quarter = layers.DepthwiseConv2D(3, strides=2, padding="same", activation="relu")(half)
    quarter = layers.Conv2D(c2, 1, activation="relu")(quarter)
    for _ in range(blocks_per_stage):
        quarter = _separable_block(quarter, c2)
    x = _upsample(quarter, c1)
    if not bottleneck:
        x = layers.Add()([x, half])
    if skip:
        # no bias on Δ, as the transformer's: with one, grappler fuses bias, ADD and ReLU
        # into a node it then rejects ("empty op name", printed on every trace)
        delta = _upsample(x, 3, activation=None, kernel_initializer="zeros", use_bias=False)
        x = _clipped_sum(frames, delta)
    else:
        logits = _upsample(x, 3, activation=None,
                           activity_regularizer=LogitBound(logit_bound, logit_margin) if logit_bound else None)
        x = layers.Activation("sigmoid", name="to_unit_range")(logits)
    return keras.Model(frames, _output(x, levels, grayscale), name=name)


def identity_degradation(name: str = "fd_identity") -> keras.Model:
    """The raw reference: fD(X) = X."""
    frames = keras.Input((None, None, 3), name="frames")
    return keras.Model(frames, layers.Identity()(frames), name=name)


def takes_clips(fd: keras.Model) -> bool:
    return len(fd.inputs[0].shape) == 5


LEARNED: Registry[Callable[..., keras.Model]] = Registry("degradation")


@LEARNED.register("transformer")
def _transformer(m) -> keras.Model:
    """The paper's fD (``m.fd_skip``: its input skip)."""
    return transformer_net(m.fd_width, m.fd_residual_blocks, m.fd_grayscale, m.fd_skip, m.fast_conv, m.fd_levels)


@LEARNED.register("mcu")
def _mcu(m) -> keras.Model:
    """For microcontrollers; ``m.fd_residual_blocks`` is per stage."""
    return mcu_net(m.fd_width, m.fd_residual_blocks, m.fd_grayscale, m.fd_logit_bound, m.fd_levels, m.fd_skip,
                   m.fd_bottleneck, m.fd_logit_margin)


@LEARNED.register("bdq")
def _bdq(m) -> keras.Model:
    """The peer: blur, frame difference, learned quantisation."""
    return bdq.bdq()


@LEARNED.register("identity")
def _identity(m) -> keras.Model:
    """The raw video."""
    return identity_degradation()


def side_multiple(kind: str) -> int:
    """What frame sides the fD ``kind`` needs to be multiples of: its two stride-2 stages."""
    return 4 if kind in ("transformer", "mcu") else 1


def build_degradation(m) -> keras.Model:
    """The untrained fD that ``m`` (a ``ModelConfig``) names in ``m.degradation``."""
    return LEARNED[m.degradation](m)


def degrade_clips(fd, clips, training: bool = False):
    """fD(clips) for clips (B, T, H, W, C): a per-frame fD sees time folded into the
    batch; an fD over whole clips (BDQ: it needs the previous frame) sees them as they are.
    ``training`` selects training-time arithmetic (``instance_norm_for_training``)."""
    if takes_clips(fd):
        return ops.cast(fd(clips, training=training), "float32")
    shape = ops.shape(clips)
    frames = ops.reshape(clips, (-1, shape[2], shape[3], shape[4]))
    out = ops.cast(fd(frames, training=training), "float32")  # float32 frames, whatever fD computes in
    return ops.reshape(out, (shape[0], shape[1], shape[2], shape[3], ops.shape(out)[-1]))
