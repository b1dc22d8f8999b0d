"""Ours-K-beam (Algorithm 3): K budget models as beams of the max step.

One iteration: select the beam j with the smallest LB on a batch (the host keeps the
choice), d_iter ascent steps of fD on LB,j, the th2 loop on every LB,i (the min step),
then the th1 loop on LT with θT and θD end to end.
"""
from __future__ import annotations

import functools
from typing import TYPE_CHECKING

import tensorflow as tf

from ppvr_tf.training import losses, phases
from ppvr_tf.training.methods import Method, register, rules

if TYPE_CHECKING:
    from ppvr_tf.training.trainer import AdversarialTrainer


def select(t: AdversarialTrainer, data) -> dict:
    """LB,i of every beam on a batch (``lb_00``, ``lb_01``, ...); the schedule takes argmin."""
    degraded = t.budget_input(data)
    return {f"lb_{i:02d}": _beam_loss(t, budget, degraded, data["budget"])
            for i, budget in enumerate(t.budgets)}


def ascent(t: AdversarialTrainer, data) -> dict:
    """θD ← θD + αD ∇θD LB,j for the chosen beam j (one compiled step for any j)."""
    with tf.GradientTape() as tape:
        degraded = t.budget_input(data)
        branches = [functools.partial(_beam_loss, t, budget, degraded, data["budget"]) for budget in t.budgets]
        loss_b = tf.switch_case(tf.convert_to_tensor(t.beam_choice), branches)
        ascent = t.degradation_penalty() - loss_b
    t.apply(t.d_optimizer, ascent, t.degradation.trainable_variables, tape)
    return {"loss_b_chosen": loss_b}


def _beam_loss(t: AdversarialTrainer, budget, degraded, labels):
    return losses.budget_loss(t.budget_task, labels, budget(degraded, training=False))


METHOD = register(Method(
    name="kbeam",
    cycle=(phases.KBEAM_SELECT, phases.KBEAM_ASCENT, phases.BUDGET, phases.TARGET),
    rules={**rules.SHARED, phases.KBEAM_SELECT: select, phases.KBEAM_ASCENT: ascent,
           phases.TARGET: functools.partial(rules.target_descent, end_to_end=True)}))
