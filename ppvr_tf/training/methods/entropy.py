"""Ours-Entropy (Algorithm 2): fD maximises the budget models' entropy.

One iteration: the adversarial fD step (eq. 10a), the th1 loop on LT with θT and θD
end to end (eq. 6b), the th2 loop on every LB,i (eq. 10c).
"""
from __future__ import annotations

import functools
from typing import TYPE_CHECKING

import tensorflow as tf

from ppvr_tf.training import phases
from ppvr_tf.training.distribute import global_mean
from ppvr_tf.training.methods import Method, register, rules

if TYPE_CHECKING:
    from ppvr_tf.training.trainer import AdversarialTrainer


def adversarial(t: AdversarialTrainer, data) -> dict:
    """Eq. 10a: θD ← θD − αD ∇θD (LT − γ min_i HB,i), against the most confident fB (plus
    fD's own penalty, ``degradation_penalty``)."""
    with tf.GradientTape() as tape:
        degraded = t.degrade(data["clips"])
        loss_t, acc_t = t.target_terms(degraded, data["actions"])
        loss_b, entropy_b, acc_b = t.budget_terms(t.budget_input(data, degraded), data["budget"])
        # min_i HB,i: i chosen on the global batch, its entropy on this replica's share.
        weakest = tf.argmin(global_mean(entropy_b))
        entropy = tf.gather(tf.stack(entropy_b), weakest)
        loss_d = loss_t - t.gamma * entropy + t.degradation_penalty()
    t.apply(t.d_optimizer, loss_d, t.degradation.trainable_variables, tape)
    return {"loss_t": loss_t, "acc_t": acc_t, "entropy_b_min": entropy,
            "loss_b_min": tf.reduce_min(global_mean(loss_b)), "acc_b_max": tf.reduce_max(global_mean(acc_b))}


METHOD = register(Method(
    name="entropy",
    cycle=(phases.ADVERSARIAL, phases.TARGET, phases.BUDGET),
    rules={**rules.SHARED, phases.ADVERSARIAL: adversarial,
           phases.TARGET: functools.partial(rules.target_descent, end_to_end=True)}))
