"""Ours-KL with gradient reversal (Algorithm 1, eq. 4a-c).

One iteration: the adversarial step (fD, fT and every fB in one backward pass), the th1
loop on LT with θT alone (eq. 4b), the th2 loop on every LB,i (eq. 4c).
"""
from __future__ import annotations

import functools
from typing import TYPE_CHECKING

import tensorflow as tf

from ppvr_tf.training import losses, phases
from ppvr_tf.training.distribute import apply_in_order, global_mean, replica_gradients
from ppvr_tf.training.gradient_reversal import reverse_gradient
from ppvr_tf.training.methods import Method, register, rules

if TYPE_CHECKING:
    from ppvr_tf.training.trainer import AdversarialTrainer


def adversarial(t: AdversarialTrainer, data) -> dict:
    """Eq. 4a-c in one backward pass through a gradient reversal layer.

    θD receives ∇(LT − γ LB,j) for the strongest budget model j (smallest LB),
    θT receives ∇LT and every θB,i receives ∇LB,i.
    """
    d_vars, t_vars, b_vars = (t.degradation.trainable_variables, t.target.trainable_variables,
                              t.budget_variables())
    with tf.GradientTape() as tape:
        degraded = t.degrade(data["clips"])
        loss_t, acc_t = t.target_terms(degraded, data["actions"])
        # Which budget model fD fights is chosen without gradient; the reversal
        # scale is γ for that model and 0 for the others.
        private = t.budget_input(data, degraded)
        strongest = _strongest_budget(t, private, data["budget"])
        loss_b, acc_b = [], []
        for i, budget in enumerate(t.budgets):
            logits = budget(reverse_gradient(private, t.gamma * strongest[i]), training=True)
            loss_b.append(losses.budget_loss(t.budget_task, data["budget"], logits))
            acc_b.append(losses.budget_accuracy(t.budget_task, data["budget"], logits))
        total = loss_t + tf.add_n(loss_b) + t.adversary_losses(data, private) + t.degradation_penalty()
    grads = replica_gradients(tape, total, d_vars + t_vars + b_vars)
    n_d, n_t = len(d_vars), len(t_vars)
    apply_in_order([(t.d_optimizer, grads[:n_d], d_vars),
                    (t.t_optimizer, grads[n_d:n_d + n_t], t_vars),
                    (t.b_optimizer, grads[n_d + n_t:], b_vars)])
    return {"loss_t": loss_t, "acc_t": acc_t, "loss_b_min": tf.reduce_min(global_mean(loss_b)),
            "acc_b_max": tf.reduce_max(global_mean(acc_b))}


def _strongest_budget(t: AdversarialTrainer, degraded, labels):
    """One-hot of the budget model with the smallest LB (no forward pass when M = 1)."""
    if len(t.budgets) == 1:
        return tf.ones((1,))
    probe = [losses.budget_loss(t.budget_task, labels, b(degraded, training=False)) for b in t.budgets]
    return tf.one_hot(tf.argmin(global_mean(probe)), len(t.budgets))


METHOD = register(Method(
    name="grl",
    cycle=(phases.ADVERSARIAL, phases.TARGET, phases.BUDGET),
    rules={**rules.SHARED, phases.ADVERSARIAL: adversarial,
           phases.TARGET: functools.partial(rules.target_descent, end_to_end=False)}))
