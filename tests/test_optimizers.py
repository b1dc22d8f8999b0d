"""FusedAdam is Keras' Adam on one kernel per variable."""
from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from ppvr_tf.models import budget
from ppvr_tf.training.optimizers import FusedAdam


def _train(optimizer: keras.optimizers.Optimizer, steps: int = 8):
    """``steps`` compiled updates of a small budget model (batch norm, dense, conv)."""
    keras.utils.set_random_seed(0)
    model = budget.build_budget_model("cnn@0.25", (2, 16, 16, 3), 4)
    clips = tf.random.stateless_uniform((6, 2, 16, 16, 3), (1, 2))
    labels = tf.constant([0, 1, 2, 3, 0, 1])
    initial = [v.numpy().copy() for v in model.trainable_variables]

    @tf.function
    def step():
        with tf.GradientTape() as tape:
            logits = model(clips, training=True)
            loss = tf.reduce_mean(keras.losses.sparse_categorical_crossentropy(labels, logits, from_logits=True))
        optimizer.apply(tape.gradient(loss, model.trainable_variables), model.trainable_variables)
        return loss

    for _ in range(steps):
        step()
    moved = [float(np.max(np.abs(v.numpy() - w))) for v, w in zip(model.trainable_variables, initial)]
    return model, optimizer, step.get_concrete_function().graph, moved


def test_fused_adam_takes_the_steps_keras_adam_takes():
    keras_model, keras_adam, keras_graph, _ = _train(keras.optimizers.Adam(3e-3))
    fused_model, fused_adam, fused_graph, moved = _train(FusedAdam(3e-3))
    assert min(moved) > 1e-4  # every variable was updated
    for fused, reference in zip(fused_model.weights, keras_model.weights):
        np.testing.assert_allclose(fused.numpy(), reference.numpy(), rtol=1e-4, atol=1e-5, err_msg=fused.path)
    assert len(fused_adam.variables) == len(keras_adam.variables)  # Adam's state: its checkpoints hold the same
    for fused, reference in zip(fused_adam.variables, keras_adam.variables):
        np.testing.assert_allclose(fused.numpy(), reference.numpy(), rtol=1e-4, atol=1e-6, err_msg=fused.path)
    kernels = [op for op in fused_graph.get_operations() if op.type == "ResourceApplyAdam"]
    assert len(kernels) == len(fused_model.trainable_variables)
    assert len(fused_graph.get_operations()) < 0.6 * len(keras_graph.get_operations())


def test_fused_adam_has_no_amsgrad():
    with pytest.raises(ValueError, match="AMSGrad"):
        FusedAdam(1e-3, amsgrad=True)
