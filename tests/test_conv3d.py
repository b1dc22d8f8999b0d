"""bf16 3-D convolutions: values and gradients as float32 computes them, on any x86 CPU.

On AVX512-BF16 CPUs without AMX, oneDNN's bf16 filter gradient of a "same" Conv3D whose
kernel is deeper than its input came back NaN or wrong (``ppvr_tf/models/conv3d.py``);
these tests fail there without the explicit padding, and pass on AMX CPUs either way.
"""
from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from ppvr_tf.models import conv3d, fast_conv, target
from ppvr_tf.training import precision


def _twin(make, dtype: str, shape):
    """The layer or model ``make()`` builds, in ``dtype``'s policy, with float32 weights."""
    with precision.policy(dtype):
        model = make()
        if not model.built:
            model.build(shape)
    return model


def _values_and_gradients(model, x, training: bool):
    """The output and the gradients of a fixed linear read-out of it to the input and every
    weight, traced as training traces them (grappler's graph rewrites included)."""
    @tf.function
    def run(x):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = tf.cast(model(x, training=training), tf.float32)
            loss = tf.reduce_sum(y * tf.random.stateless_normal(tf.shape(y), (1, 2)))
        return [y, *tape.gradient(loss, [x, *model.trainable_variables])]
    return [np.asarray(tf.cast(v, tf.float32)) for v in run(tf.cast(x, model.compute_dtype))]


def _assert_bf16_matches_float32(bf16, reference, tolerance: float = 0.05):
    """Every tensor finite and within ``tolerance`` of the float32 one's largest magnitude
    (bf16 keeps 8 bits of mantissa: sums of a few hundred terms land within 1-2 %)."""
    for got, want in zip(bf16, reference, strict=True):
        assert np.all(np.isfinite(got))
        assert np.abs(got - want).max() <= tolerance * np.abs(want).max()


@pytest.mark.parametrize("depth, kernel_depth", [(1, 3), (2, 3), (3, 3), (8, 3), (2, 5), (3, 5), (4, 5)])
@pytest.mark.parametrize("layer", [conv3d.Conv3D, fast_conv.PixelConv3D])
def test_bf16_conv3d_trains_as_float32_where_the_kernel_is_deeper_than_the_clip(layer, depth, kernel_depth):
    shape = (8, depth, 4, 4, 8)
    make = lambda: layer(16, (kernel_depth, 3, 3), padding="same", bias_initializer="random_normal")
    exact, bf16 = _twin(make, "float32", shape), _twin(make, "mixed_bfloat16", shape)
    bf16.set_weights(exact.get_weights())
    x = np.maximum(np.random.default_rng(depth).normal(size=shape), 0).astype(np.float32)
    for training in (True, False):
        _assert_bf16_matches_float32(_values_and_gradients(bf16, x, training),
                                     _values_and_gradients(exact, x, training))


def test_the_explicit_padding_is_taken_only_in_bf16_and_only_where_needed():
    assert conv3d.pads_explicitly(tf.zeros((1, 2, 4, 4, 3), tf.bfloat16), 3)
    assert conv3d.pads_explicitly(tf.TensorSpec((1, None, 4, 4, 3), tf.bfloat16), 3)
    assert not conv3d.pads_explicitly(tf.zeros((1, 3, 4, 4, 3), tf.bfloat16), 3)
    assert not conv3d.pads_explicitly(tf.zeros((1, 2, 4, 4, 3), tf.float32), 3)


@pytest.mark.skipif(not precision.cpu_bf16(), reason="this CPU has no bf16 arithmetic: TensorFlow emulates it and "
                    "--precision=auto takes float32 (emulated, C3D gradients measured at cosine 0.79-0.91)")
@pytest.mark.parametrize("frames", [4, 8])
def test_c3d_gradients_in_bf16_follow_float32(frames):
    """fT's convs reach depth 2 at 4 and 8 frames: every weight's bf16 gradient points where
    the float32 one does. (No batch norm: over a batch of 4 it would amplify bf16's
    rounding past any fixed bound, kernels right or wrong.)"""
    shape = (4, frames, 16, 16, 3)
    make = lambda: target.c3d(shape[1:], 5, width=0.0625, fc_units=64, dropout=0.0)
    keras.utils.set_random_seed(0)
    exact = _twin(make, "float32", shape)
    bf16 = _twin(make, "mixed_bfloat16", shape)
    bf16.set_weights(exact.get_weights())
    x = np.random.default_rng(frames).random(shape).astype(np.float32)
    got, want = _values_and_gradients(bf16, x, True), _values_and_gradients(exact, x, True)
    for g, w in zip(got, want, strict=True):
        assert np.all(np.isfinite(g))
        cosine = np.sum(g * w) / (np.linalg.norm(g) * np.linalg.norm(w) + 1e-30)
        assert cosine > 0.9
