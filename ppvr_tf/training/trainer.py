"""The adversarial trainer: fD, fT and fB trained by the paper's update rules.

``AdversarialTrainer`` is a ``keras.Model`` driven by ``fit``. Each step runs the
update rule of the schedule's current phase (see ``schedule.py``) as its own
compiled ``tf.function``; after the step the schedule decides the next phase.

Notation (paper §3.3): X clips, fD degradation, fT target, fB,i budget models,
LT target loss, LB budget loss, HB budget entropy, γ the trade-off weight and
three optimizers with step sizes αD, αT, αB.
"""
from __future__ import annotations

import functools
from typing import Callable, Sequence

import keras
import tensorflow as tf

from ppvr_tf.models.degradation import degrade_clips
from ppvr_tf.training import losses, schedule as sched
from ppvr_tf.training.gradient_reversal import reverse_gradient


class AdversarialTrainer(keras.Model):
    """Holds fD, fT and the budget ensemble; ``fit`` runs Algorithms 1-4."""

    def __init__(self, degradation: keras.Model, target: keras.Model,
                 budgets: Sequence[keras.Model], budget_task: losses.BudgetTask,
                 schedule: sched.Schedule, gamma: float,
                 budget_factory: Callable[[int], keras.Model], **kwargs):
        super().__init__(**kwargs)
        self.degradation = degradation
        self.target = target
        self.budgets = list(budgets)
        self.budget_task = budget_task
        self.schedule = schedule
        self.gamma = gamma
        self.budget_factory = budget_factory
        self.beam_choice = keras.Variable(schedule.state.beam_choice, dtype="int32",
                                          trainable=False, name="beam_choice")
        self.built = True  # every sub-model arrives built; fit must not trace call() on a batch

    def call(self, clips, training=False):
        """Inference path: the target's logits on degraded clips."""
        return self.target(degrade_clips(self.degradation, clips, training), training=training)

    def compile(self, d_optimizer, t_optimizer, b_optimizer, identity_optimizer, **kwargs):
        """One optimizer per role: αD (fD), αT (fT, and fD end to end), αB (every fB),
        plus the optimizer of fD's identity pretraining."""
        super().compile(**kwargs)
        self.d_optimizer, self.t_optimizer = d_optimizer, t_optimizer
        self.b_optimizer, self.identity_optimizer = b_optimizer, identity_optimizer
        # Built eagerly: the compiled steps must not create variables.
        d_vars, t_vars = self.degradation.trainable_variables, self.target.trainable_variables
        d_optimizer.build(d_vars)
        identity_optimizer.build(d_vars)
        t_optimizer.build(t_vars + d_vars)
        b_optimizer.build(self._budget_variables())

    def _maybe_symbolic_build(self, iterator=None, data_batch=None):
        """Nothing to build: sub-models and optimizers are built by now. (Keras' own would
        pull a batch off the stream, and under MultiWorkerMirroredStrategy fail to reduce a
        dict batch across workers.)"""

    def _budget_variables(self):
        return [v for b in self.budgets for v in b.trainable_variables]

    # -- the fit() hook: one compiled step per phase ----------------------------
    def make_train_function(self, force=False):
        if self.train_function is not None and not force:
            return self.train_function
        self.phase_steps: dict[str, Callable] = {}  # compiled once per phase, traced once

        def train_function(iterator):
            phase = self.schedule.phase
            if phase not in self.phase_steps:
                self.phase_steps[phase] = self._compile_phase(phase)
            logs = self.phase_steps[phase](iterator)
            values = {k: float(v) for k, v in logs.items()}
            if self.schedule.advance(values):
                self.reinitialize_budgets()
            if phase == sched.KBEAM_SELECT:  # the host picked j = argmin LB,i
                self.beam_choice.assign(self.schedule.state.beam_choice)
            if self.schedule.done:
                self.stop_training = True
            return {**logs, "phase": sched_index(phase), "iteration": self.schedule.state.iteration}

        self.train_function = train_function
        return train_function

    def _compile_phase(self, phase: str) -> Callable:
        """One step of ``phase`` on the next batch: every replica runs the update rule on
        its share of the global batch; the logs are averaged over all replicas of all workers."""
        strategy, update = self.distribute_strategy, functools.partial(self._update, phase)

        def step(iterator):
            logs = strategy.run(update, args=(iterator.get_next(),))
            return {k: strategy.reduce(tf.distribute.ReduceOp.MEAN, v, axis=None) for k, v in logs.items()}
        return step if self.run_eagerly else tf.function(step, jit_compile=bool(self.jit_compile))

    def reinitialize_budgets(self) -> None:
        """Restarting: fresh random weights for every budget model, fresh αB moments."""
        for index, model in enumerate(self.budgets):
            model.set_weights(self.budget_factory(index).get_weights())
        for variable in self.b_optimizer.variables:
            if "iteration" not in variable.path and "learning_rate" not in variable.path:
                variable.assign(tf.zeros_like(variable))

    # -- update rules -----------------------------------------------------------
    def _update(self, phase: str, data) -> dict:
        return getattr(self, f"_step_{phase}")(data)

    def _gradients(self, tape, loss, variables):
        """Per-replica gradients, scaled so the optimizer's cross-replica sum is a mean."""
        scale = 1.0 / tf.distribute.get_strategy().num_replicas_in_sync
        return [None if g is None else g * scale for g in tape.gradient(loss, variables)]

    def _apply(self, optimizer, loss, variables, tape):
        optimizer.apply(self._gradients(tape, loss, variables), variables)

    def _degrade(self, clips):
        """fD in the update rules: training-time arithmetic (see ``degrade_clips``)."""
        return degrade_clips(self.degradation, clips, training=True)

    def _budget_input(self, data, degraded=None):
        """fD of the clips the budget labels belong to: the action clips themselves, or
        in cross-dataset training the privacy dataset's clips (``budget_clips``)."""
        if "budget_clips" in data:
            return self._degrade(data["budget_clips"])
        return self._degrade(data["clips"]) if degraded is None else degraded

    def _adversary_losses(self, data, degraded):
        """What budget models with an inner adversary (``InversionBudget``: g and R) learn
        besides LB; fD does not see these gradients."""
        raw = data.get("budget_clips", data["clips"])
        extra = [b.adversary_loss(self._budget_loss, raw, tf.stop_gradient(degraded), data["budget"])
                 for b in self.budgets if hasattr(b, "adversary_loss")]
        return tf.add_n(extra) if extra else tf.constant(0.0)

    def _budget_loss(self, labels, logits):
        return losses.budget_loss(self.budget_task, labels, logits)

    def _budget_terms(self, degraded, labels):
        logits = [b(degraded, training=True) for b in self.budgets]
        return ([losses.budget_loss(self.budget_task, labels, l) for l in logits],
                [losses.budget_entropy(self.budget_task, l) for l in logits],
                [losses.budget_accuracy(self.budget_task, labels, l) for l in logits])

    def _target_terms(self, degraded, actions):
        logits = self.target(degraded, training=True)
        loss = losses.classification_loss(actions, logits) + _regularisation(self.target)
        return loss, losses.classification_accuracy(actions, logits)

    def _step_pretrain_identity(self, data):
        """fD to identity: MSE between fD(X) and X."""
        clips = data["clips"]
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(tf.square(self._degrade(clips) - clips))
        self._apply(self.identity_optimizer, loss, self.degradation.trainable_variables, tape)
        return {"loss_identity": loss}

    def _step_pretrain_target(self, data):
        """fT on fD(X), fD frozen."""
        degraded = self._degrade(data["clips"])
        with tf.GradientTape() as tape:
            loss_t, acc_t = self._target_terms(degraded, data["actions"])
        self._apply(self.t_optimizer, loss_t, self.target.trainable_variables, tape)
        return {"loss_t": loss_t, "acc_t": acc_t}

    def _step_budget(self, data):
        """Eq. 4c / 6c / 10c: every θB,i ← θB,i − αB ∇LB,i, fD frozen."""
        degraded = tf.stop_gradient(self._budget_input(data))
        with tf.GradientTape() as tape:
            loss_b, entropy_b, acc_b = self._budget_terms(degraded, data["budget"])
            total = tf.add_n(loss_b) + self._adversary_losses(data, degraded)
        self._apply(self.b_optimizer, total, self._budget_variables(), tape)
        return {"loss_b": tf.reduce_min(_global(loss_b)), "entropy_b": tf.reduce_min(_global(entropy_b)),
                "acc_b": tf.reduce_min(_global(acc_b))}

    _step_pretrain_budget = _step_budget
    _step_restart = _step_budget

    def _step_target(self, data):
        """The th1 loop: θT (GRL, eq. 4b) or θT, θD end to end (eq. 6b) on LT."""
        val_logits = self(data["val_clips"], training=False)
        val_acc = losses.classification_accuracy(data["val_actions"], val_logits)
        end_to_end = self.schedule.config.method != "grl"
        variables = self.target.trainable_variables
        if end_to_end:
            variables = variables + self.degradation.trainable_variables
        with tf.GradientTape() as tape:
            loss_t, acc_t = self._target_terms(self._degrade(data["clips"]), data["actions"])
        self._apply(self.t_optimizer, loss_t, variables, tape)
        return {"loss_t": loss_t, "acc_t": acc_t, sched.TARGET_VAL_ACCURACY: val_acc}

    def _step_adversarial(self, data):
        return (self._grl_step if self.schedule.config.method == "grl" else self._entropy_step)(data)

    def _entropy_step(self, data):
        """Eq. 10a: θD ← θD − αD ∇θD (LT − γ min_i HB,i)."""
        with tf.GradientTape() as tape:
            degraded = self._degrade(data["clips"])
            loss_t, acc_t = self._target_terms(degraded, data["actions"])
            loss_b, entropy_b, acc_b = self._budget_terms(self._budget_input(data, degraded),
                                                          data["budget"])
            # min_i HB,i: i chosen on the global batch, its entropy on this replica's share.
            weakest = tf.argmin(_global(entropy_b))
            entropy = tf.gather(tf.stack(entropy_b), weakest)
            loss_d = loss_t - self.gamma * entropy
        self._apply(self.d_optimizer, loss_d, self.degradation.trainable_variables, tape)
        return {"loss_t": loss_t, "acc_t": acc_t, "entropy_b": entropy,
                "loss_b": tf.reduce_min(_global(loss_b)), "acc_b": tf.reduce_max(_global(acc_b))}

    def _grl_step(self, data):
        """Eq. 4a-c in one backward pass through a gradient reversal layer.

        θD receives ∇(LT − γ LB,j) for the strongest budget model j (smallest LB),
        θT receives ∇LT and every θB,i receives ∇LB,i.
        """
        d_vars = self.degradation.trainable_variables
        t_vars, b_vars = self.target.trainable_variables, self._budget_variables()
        with tf.GradientTape() as tape:
            degraded = self._degrade(data["clips"])
            loss_t, acc_t = self._target_terms(degraded, data["actions"])
            # Which budget model fD fights is chosen without gradient; the reversal
            # scale is γ for that model and 0 for the others.
            private = self._budget_input(data, degraded)
            strongest = self._strongest_budget(private, data["budget"])
            loss_b, acc_b = [], []
            for i, budget in enumerate(self.budgets):
                logits = budget(reverse_gradient(private, self.gamma * strongest[i]), training=True)
                loss_b.append(losses.budget_loss(self.budget_task, data["budget"], logits))
                acc_b.append(losses.budget_accuracy(self.budget_task, data["budget"], logits))
            total = loss_t + tf.add_n(loss_b) + self._adversary_losses(data, private)
        grads = self._gradients(tape, total, d_vars + t_vars + b_vars)
        n_d, n_t = len(d_vars), len(t_vars)
        _apply_in_order([(self.d_optimizer, grads[:n_d], d_vars),
                         (self.t_optimizer, grads[n_d:n_d + n_t], t_vars),
                         (self.b_optimizer, grads[n_d + n_t:], b_vars)])
        return {"loss_t": loss_t, "acc_t": acc_t, "loss_b": tf.reduce_min(_global(loss_b)),
                "acc_b": tf.reduce_max(_global(acc_b))}

    def _strongest_budget(self, degraded, labels):
        """One-hot of the budget model with the smallest LB (no forward pass when M = 1)."""
        if len(self.budgets) == 1:
            return tf.ones((1,))
        probe = [losses.budget_loss(self.budget_task, labels, b(degraded, training=False))
                 for b in self.budgets]
        return tf.one_hot(tf.argmin(_global(probe)), len(self.budgets))

    def _step_kbeam_select(self, data):
        """K-beam max step, part 1: LB of every beam on a batch; the host takes argmin."""
        degraded = self._budget_input(data)
        logs = {}
        for i, budget in enumerate(self.budgets):
            logits = budget(degraded, training=False)
            logs[f"lb_{i:02d}"] = losses.budget_loss(self.budget_task, data["budget"], logits)
        return logs

    def _step_kbeam_ascent(self, data):
        """K-beam max step, part 2: θD ← θD + αD ∇θD LB(θD, θB,j) for the chosen beam j."""
        with tf.GradientTape() as tape:
            degraded = self._budget_input(data)
            branches = [functools.partial(self._beam_loss, budget, degraded, data["budget"])
                        for budget in self.budgets]
            loss_b = tf.switch_case(tf.convert_to_tensor(self.beam_choice), branches)
            ascent = -loss_b
        self._apply(self.d_optimizer, ascent, self.degradation.trainable_variables, tape)
        return {"loss_b": loss_b}

    def _beam_loss(self, budget, degraded, labels):
        return losses.budget_loss(self.budget_task, labels, budget(degraded, training=False))


def _apply_in_order(updates) -> None:
    """Applies several optimizers one after the other.

    Each apply all-reduces its gradients across replicas; unordered, two replicas
    may start different all-reduces first and deadlock or mismatch. Gating each
    update's gradients on the previous optimizer's step counter fixes the order.
    """
    previous = None
    for optimizer, grads, variables in updates:
        if previous is not None:
            with tf.control_dependencies([tf.convert_to_tensor(previous.iterations)]):
                grads = [None if g is None else tf.identity(g) for g in grads]
        optimizer.apply(grads, variables)
        previous = optimizer


def _global(per_replica: Sequence[tf.Tensor]) -> tf.Tensor:
    """Per-model batch means, stacked, over the global batch rather than this replica's
    share: min/max/argmin over models must pick the same model on every replica."""
    values = tf.stack(per_replica)
    context = tf.distribute.get_replica_context()
    if context is None or context.num_replicas_in_sync == 1:
        return values
    return context.all_reduce(tf.distribute.ReduceOp.MEAN, tf.stop_gradient(values))


def _regularisation(model: keras.Model):
    return tf.add_n(model.losses) if model.losses else tf.constant(0.0)


def sched_index(phase: str) -> int:
    """A phase as a number, for logs and plots."""
    order = (*sched.PRETRAINING, sched.ADVERSARIAL, sched.KBEAM_SELECT, sched.KBEAM_ASCENT,
             sched.TARGET, sched.BUDGET, sched.RESTART, sched.DONE)
    return order.index(phase)
