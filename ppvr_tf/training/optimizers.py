"""Adam with one fused kernel per variable.

Keras 3's Adam writes its update as about twenty graph ops per variable (casts, both
β powers, the moment updates, the step), and every phase of the adversarial trainer and
every evaluation fit traces it again. ``FusedAdam`` computes the step's scalars once and
updates each variable with TensorFlow's ``ResourceApplyAdam`` kernel, which is the same
rule (Kingma & Ba, Algorithm 1, ε added to √v as Keras does): about a third of the graph
ops and half the tracing time of a step; the steps themselves take as long
(docs/benchmarks.md). Its variables and checkpoints are Adam's.
"""
from __future__ import annotations

import keras
import tensorflow as tf


@keras.saving.register_keras_serializable(package="ppvr_tf")
class FusedAdam(keras.optimizers.Adam):
    """``keras.optimizers.Adam`` (without AMSGrad) on ``ResourceApplyAdam``; float32
    variables with dense gradients take the fused kernel, anything else Adam's own ops."""

    _scalars: dict | None = None

    def __init__(self, learning_rate=0.001, name="adam", **kwargs):
        if kwargs.get("amsgrad"):
            raise ValueError("FusedAdam has no AMSGrad: use keras.optimizers.Adam")
        super().__init__(learning_rate, name=name, **kwargs)  # Adam's variable names

    def _distributed_tf_update_step(self, distribution, grads_and_vars, learning_rate):
        """Called once per ``apply`` (in cross-replica context under a strategy): the
        scalars every variable's update shares."""
        step = tf.cast(self.iterations + 1, tf.float32)
        beta1, beta2 = tf.constant(self.beta_1, tf.float32), tf.constant(self.beta_2, tf.float32)
        self._scalars = dict(lr=tf.cast(learning_rate, tf.float32), beta1=beta1, beta2=beta2,
                             beta1_power=tf.pow(beta1, step), beta2_power=tf.pow(beta2, step),
                             epsilon=tf.constant(self.epsilon, tf.float32))
        try:
            super()._distributed_tf_update_step(distribution, grads_and_vars, learning_rate)
        finally:
            self._scalars = None

    def update_step(self, gradient, variable, learning_rate):
        if self._scalars is None or variable.dtype != tf.float32 or isinstance(gradient, tf.IndexedSlices):
            return super().update_step(gradient, variable, learning_rate)
        index = self._get_variable_index(variable)
        tf.raw_ops.ResourceApplyAdam(var=variable.handle, m=self._momentums[index].value.handle,
                                     v=self._velocities[index].value.handle,
                                     grad=tf.cast(gradient, tf.float32), **self._scalars)
