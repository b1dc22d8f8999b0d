"""Convolutions into a few channels, trained through arithmetic oneDNN runs faster.

On CPUs, oneDNN convolves into 3 channels at a fraction of its rate into many
(docs/benchmarks.md has the timings). Two such convolutions sit in every fD update: fD's 9x9 conv back
to RGB, and the input gradient of fT's first conv (the step needs it to reach fD). Both become a
conv along the kernel's last spatial axis into many channels, then a fixed 0/1 conv that
adds the pieces in at their offsets: the same sum, in another order. Training only;
inference, export and quantisation see the plain layer with the same kernel.
"""
from __future__ import annotations

import math
from typing import Callable

import numpy as np
import tensorflow as tf
from keras import layers

from ppvr_tf.models import conv3d


MODES = ("auto", "on", "off")


def enabled(mode: str) -> bool:
    """Whether models train through these layers: ``auto`` on machines without a GPU or
    TPU (the gain is oneDNN's; other devices convolve into few channels well), ``on``
    and ``off`` force it. The sums are the same, added in another order."""
    if mode == "auto":
        return not (tf.config.list_physical_devices("GPU") or tf.config.list_physical_devices("TPU"))
    if mode not in MODES:
        raise ValueError(f"fast_conv mode {mode!r}; expected one of {', '.join(MODES)}")
    return mode == "on"


def conv_by_kernel_rows(x, kernel):
    """``tf.nn.convolution(x, kernel, padding="SAME")`` with stride 1 (2-D or 3-D): a conv
    along the kernel's last spatial axis into (kernel rows) x C_out channels, then a fixed
    0/1 conv over the other spatial axes that adds each row's output in at its offset
    (about a tenth of the first's multiply-adds)."""
    *window, channels_in, channels_out = kernel.shape
    lead, rank = window[:-1], len(window)
    groups = math.prod(lead)
    # [1.., last, C_in, (lead.., C_out)]
    order = (rank - 1, rank, *range(rank - 1), rank + 1)
    by_row = tf.reshape(tf.transpose(kernel, order), (*[1] * len(lead), window[-1], channels_in,
                                                      groups * channels_out))
    select = np.zeros((*lead, 1, groups * channels_out, channels_out), np.float32)
    for group, offset in enumerate(np.ndindex(*lead)):
        select[(*offset, 0, slice(group * channels_out, (group + 1) * channels_out))] = np.eye(channels_out)
    partial = tf.nn.convolution(x, by_row, padding="SAME")
    return tf.nn.convolution(partial, tf.constant(select, x.dtype), padding="SAME")


class _TrainsByKernelRows:
    """Mixed into a Keras conv layer: inference is the layer's own; training computes
    ``_training_conv(inputs, kernel)`` instead, then the layer's bias and activation."""

    _training_conv: Callable

    def __init__(self, filters: int, kernel_size, **kwargs):
        super().__init__(filters, kernel_size, **kwargs)
        if not conv3d.is_stride_one_same(self):
            raise ValueError(f"{type(self).__name__}: padding 'same', stride 1, dilation 1, channels last")

    def call(self, inputs, training=False):
        if not training:
            return super().call(inputs)
        x = type(self)._training_conv(inputs, tf.convert_to_tensor(self.kernel))
        return self.activation(x + self.bias if self.use_bias else x)


class RowwiseConv2D(_TrainsByKernelRows, layers.Conv2D):
    """A Conv2D into a few channels (fD's 9x9 conv to RGB) that trains by kernel rows (at
    the paper's shape in half the time on a CPU)."""

    _training_conv = staticmethod(conv_by_kernel_rows)


def _input_gradient_by_rows(upstream, x, kernel):
    """The input gradient of a "same" conv with an odd kernel: a "same" conv of the upstream
    gradient with the kernel mirrored in space and its channel axes swapped."""
    mirrored = tf.transpose(tf.reverse(kernel, [0, 1, 2]), (0, 1, 2, 4, 3))
    return conv_by_kernel_rows(upstream, mirrored)


def _conv3d_with_input_gradient_by_rows(x, kernel):
    return conv3d.conv3d_same(x, kernel, input_gradient=_input_gradient_by_rows)


class PixelConv3D(_TrainsByKernelRows, conv3d.Conv3D):
    """fT's first Conv3D, on RGB pixels. An fD update needs its input gradient, a conv into
    3 channels, which this takes by kernel rows (at the paper's shape in under half the
    time on a CPU). Where nothing needs that gradient, as in a plain fT step, TensorFlow
    prunes it."""

    _training_conv = staticmethod(_conv3d_with_input_gradient_by_rows)

    def __init__(self, filters: int, kernel_size, **kwargs):
        super().__init__(filters, kernel_size, **kwargs)
        if any(side % 2 == 0 for side in self.kernel_size):
            raise ValueError("PixelConv3D: odd kernel sides")
