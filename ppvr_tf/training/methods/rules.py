"""Update rules every method shares: pretraining, and the budget models' descent.

Notation (paper §3.3): X clips, fD degradation, fT target, fB,i budget models, LT the
target loss, LB,i the budget losses; θD, θT, θB their weights.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import tensorflow as tf

from ppvr_tf.training import losses, phases
from ppvr_tf.training.distribute import global_mean

if TYPE_CHECKING:
    from ppvr_tf.training.trainer import AdversarialTrainer


def pretrain_identity(t: AdversarialTrainer, data) -> dict:
    """fD towards the identity: θD ← θD − α ∇ ‖fD(X) − X‖²."""
    clips = data["clips"]
    with tf.GradientTape() as tape:
        loss = tf.reduce_mean(tf.square(t.degrade(clips) - clips))
        penalised = loss + t.degradation_penalty()
    t.apply(t.identity_optimizer, penalised, t.degradation.trainable_variables, tape)
    return {"loss_identity": loss}


def pretrain_target(t: AdversarialTrainer, data) -> dict:
    """fT on fD(X), fD frozen: θT ← θT − αT ∇LT."""
    degraded = t.degrade(data["clips"])
    with tf.GradientTape() as tape:
        loss_t, acc_t = t.target_terms(degraded, data["actions"])
    t.apply(t.t_optimizer, loss_t, t.target.trainable_variables, tape)
    return {"loss_t": loss_t, "acc_t": acc_t}


def budget_descent(t: AdversarialTrainer, data) -> dict:
    """Eq. 4c / 6c / 10c: every θB,i ← θB,i − αB ∇LB,i, fD frozen (also the budget
    pretraining and a restart's retraining). ``acc_b_min`` is the weakest fB's training
    accuracy, which the th2 loop reads."""
    degraded = tf.stop_gradient(t.budget_input(data))
    with tf.GradientTape() as tape:
        loss_b, entropy_b, acc_b = t.budget_terms(degraded, data["budget"])
        total = tf.add_n(loss_b) + t.adversary_losses(data, degraded)
    t.apply(t.b_optimizer, total, t.budget_variables(), tape)
    return {"loss_b_min": tf.reduce_min(global_mean(loss_b)),
            "entropy_b_min": tf.reduce_min(global_mean(entropy_b)),
            phases.BUDGET_TRAIN_ACCURACY: tf.reduce_min(global_mean(acc_b))}


def target_descent(t: AdversarialTrainer, data, end_to_end: bool) -> dict:
    """The th1 loop's step on LT: θT alone (GRL, eq. 4b), or θT and θD end to end
    (Entropy eq. 6b, K-beam). Also logs fT's accuracy on a validation batch, which the
    th1 loop reads."""
    val_logits = t(data["val_clips"], training=False)
    val_acc = losses.classification_accuracy(data["val_actions"], val_logits)
    variables = t.target.trainable_variables
    if end_to_end:
        variables = variables + t.degradation.trainable_variables
    with tf.GradientTape() as tape:
        loss_t, acc_t = t.target_terms(t.degrade(data["clips"]), data["actions"])
        penalised = loss_t + t.degradation_penalty() if end_to_end else loss_t
    t.apply(t.t_optimizer, penalised, variables, tape)
    return {"loss_t": loss_t, "acc_t": acc_t, phases.TARGET_VAL_ACCURACY: val_acc}


SHARED = {
    phases.PRETRAIN_IDENTITY: pretrain_identity,
    phases.PRETRAIN_TARGET: pretrain_target,
    phases.PRETRAIN_BUDGET: budget_descent,
    phases.BUDGET: budget_descent,
    phases.RESTART: budget_descent,
}
