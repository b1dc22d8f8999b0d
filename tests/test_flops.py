"""FLOPs counted from a traced step: forward convolutions and matrix products by their
formulas, backward passes as the tape builds them, pruned ops left out."""
from __future__ import annotations

import keras
import pytest
import tensorflow as tf

from ppvr_tf.perf import flops

B, T, S = 2, 4, 8  # batch, frames, side


def _model() -> keras.Model:
    clips = keras.Input((T, S, S, 3), batch_size=B)
    x = keras.layers.Conv3D(4, 3, padding="same")(clips)
    x = keras.layers.TimeDistributed(keras.layers.DepthwiseConv2D(3, padding="same"))(x)
    x = keras.layers.TimeDistributed(keras.layers.Conv2DTranspose(5, 3, strides=2, padding="same"))(x)
    return keras.Model(clips, keras.layers.Dense(7)(keras.layers.Flatten()(x)))


CONV3D = 2 * (B * T * S * S * 4) * (27 * 3)  # per output element: a 3x3x3 window of 3 channels
DEPTHWISE = 2 * (B * T * S * S * 4) * 9  # one 3x3 window of its own channel
TRANSPOSED = 2 * (B * T * S * S * 4) * (9 * 5)  # the gradient of a conv from 2S x 2S x 5 to S x S x 4
DENSE = 2 * B * (T * 2 * S * 2 * S * 5) * 7


def test_forward_pass_counts_each_layer_by_its_formula():
    model, clips = _model(), tf.zeros((B, T, S, S, 3))
    assert flops.step_flops(lambda c: model(c), clips) == CONV3D + DEPTHWISE + TRANSPOSED + DENSE


def test_training_step_counts_both_gradients_but_not_the_pruned_input_gradient():
    """A loss on the logits: every layer runs forward, then its weight gradient and the
    gradient to its input — except the first layer's, which no one needs."""
    model, clips = _model(), tf.zeros((B, T, S, S, 3))
    labels = tf.zeros((B,), tf.int32)

    def step(c):
        with tf.GradientTape() as tape:
            loss = keras.losses.sparse_categorical_crossentropy(labels, model(c), from_logits=True)
        return tape.gradient(loss, model.trainable_variables)

    forward = CONV3D + DEPTHWISE + TRANSPOSED + DENSE
    assert flops.step_flops(step, clips) == 3 * forward - CONV3D


def test_a_conditional_counts_its_most_expensive_branch():
    model, clips = _model(), tf.zeros((B, T, S, S, 3))
    which = tf.constant(0)

    def step(c, i):
        return tf.switch_case(i, [lambda: model(c), lambda: tf.zeros((B, 7))])

    assert flops.step_flops(step, clips, which) == CONV3D + DEPTHWISE + TRANSPOSED + DENSE


def test_unknown_shapes_are_refused_with_the_op_named():
    dense = keras.layers.Dense(3)
    step = tf.function(lambda x: dense(x), input_signature=[tf.TensorSpec((None, 5))])
    with pytest.raises(flops.UnknownShapeError, match="MatMul"):
        flops.step_flops(step, tf.zeros((2, 5)))
