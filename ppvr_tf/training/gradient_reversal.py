"""The gradient reversal layer of Ganin & Lempitsky.

Identity on the forward pass; multiplies the incoming gradient by ``-scale`` on the
backward pass. Placed between fD and fB, one backward pass of ``LT + LB`` gives
θB the gradient of LB and θD the gradient of ``LT - scale * LB`` (paper eq. 4).
"""
from __future__ import annotations

import tensorflow as tf


def reverse_gradient(x, scale):
    """``x`` forward, ``-scale * dy`` backward; ``scale`` may be a (non-trainable) tensor."""
    scale = tf.stop_gradient(tf.cast(scale, x.dtype))

    @tf.custom_gradient
    def _reverse(inputs):
        def grad(dy):
            return -scale * dy
        return tf.identity(inputs), grad

    return _reverse(x)
