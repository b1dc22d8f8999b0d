"""A Conv3D whose bfloat16 gradients are right on x86 CPUs with and without AMX.

oneDNN 3.7 (TensorFlow 2.21) computes a bf16 3-D filter gradient with
``jit_bf16:avx512_core_bf16`` on CPUs that have AVX512-BF16 but no AMX. That kernel
mishandles depth padding when a "same" kernel is deeper than its input (1 < D < kd):
the filter gradient comes back NaN, or wrong by orders of magnitude. C3D meets the case
at depth 2 (T = 4, 8 or 16 frames after its temporal pools), so bf16 training diverged
within a few steps there. On AMX CPUs oneDNN takes its brgemm kernel, listed before this
one, and is right; float32 and "valid" convolutions are right on both
(``tests/test_conv3d.py``, ``docs/mixed_precision.md``).

Where the case can arise in bf16, the filter gradient is computed on the explicitly
zero-padded input with "valid" padding: the same sum, through a kernel that computes it
correctly. The forward conv and the input gradient keep their own (correct) kernels.
"""
from __future__ import annotations

from typing import Callable

import tensorflow as tf
from keras import layers


def same_padding(x, window):
    """``x`` (N, D, H, W, C) zero-padded as a stride-1 "same" conv with ``window`` pads it."""
    pads = [[(k - 1) // 2, (k - 1) - (k - 1) // 2] for k in window]
    return tf.pad(x, [[0, 0], *pads, [0, 0]])


def pads_explicitly(x, kernel_depth: int) -> bool:
    """True where oneDNN's bf16 filter gradient could meet a kernel deeper than ``x``'s
    depth (or the depth is unknown until run time)."""
    depth = x.shape[1]
    return x.dtype == tf.bfloat16 and (depth is None or depth < kernel_depth)


def filter_gradient(x, kernel_shape, upstream):
    """The kernel gradient of ``tf.nn.convolution(x, kernel, padding="SAME")`` (stride 1)
    for upstream gradient ``upstream``, padded explicitly where ``pads_explicitly``."""
    if pads_explicitly(x, kernel_shape[0]):
        x, padding = same_padding(x, kernel_shape[:3]), "VALID"
    else:
        padding = "SAME"
    return tf.raw_ops.Conv3DBackpropFilterV2(input=x, filter_sizes=list(kernel_shape), out_backprop=upstream,
                                              strides=[1] * 5, padding=padding)


def _input_gradient(upstream, x, kernel):
    return tf.raw_ops.Conv3DBackpropInputV2(input_sizes=tf.shape(x), filter=kernel, out_backprop=upstream,
                                            strides=[1] * 5, padding="SAME")


def conv3d_same(x, kernel, input_gradient: Callable = _input_gradient):
    """``tf.nn.convolution(x, kernel, padding="SAME")``, stride 1, with a written-out
    gradient: ``input_gradient(upstream, x, kernel)`` to x (TensorFlow's own by default)
    and ``filter_gradient`` to the kernel. The forward conv stays as it is (an explicit pad
    in the forward graph would stop grappler's remapper fusing the graph's other ops)."""
    @tf.custom_gradient
    def conv(x, kernel):
        def gradient(upstream):
            return input_gradient(upstream, x, kernel), filter_gradient(x, kernel.shape, upstream)
        return tf.nn.convolution(x, kernel, padding="SAME"), gradient
    return conv(x, kernel)


def is_stride_one_same(layer: layers.Layer) -> bool:
    """A conv layer that pads "same" with stride 1, dilation 1, channels last."""
    return (layer.padding, set(layer.strides), set(layer.dilation_rate), layer.data_format) == (
        "same", {1}, {1}, "channels_last")


class Conv3D(layers.Conv3D):
    """``keras.layers.Conv3D`` whose stride-1 "same" filter gradient goes through
    ``filter_gradient``, where ``pads_explicitly`` (bf16, kernel deeper than the clip)."""

    def convolution_op(self, inputs, kernel):
        if not is_stride_one_same(self) or not pads_explicitly(inputs, kernel.shape[0]):
            return super().convolution_op(inputs, kernel)
        return conv3d_same(inputs, tf.convert_to_tensor(kernel))
