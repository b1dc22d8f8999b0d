"""The adversarial trainer: fD, fT and fB trained by the paper's update rules.

``AdversarialTrainer`` is a ``keras.Model`` driven by ``fit``. ``train_step`` runs the
update rule of the schedule's current phase, as the method (``methods/``) defines it;
after each step the schedule (``schedule.py``) reads the logs and picks the next phase.

Notation (paper §3.3): X clips, fD degradation, fT target, fB,i budget models,
LT target loss, LB budget loss, HB budget entropy, γ the trade-off weight and
three optimizers with step sizes αD, αT, αB.
"""
from __future__ import annotations

import functools
from typing import Callable, Sequence

import keras
import tensorflow as tf

from ppvr_tf.data.tasks import BudgetTask
from ppvr_tf.models.degradation import degrade_clips, logit_margins
from ppvr_tf.training import losses, methods, phases, schedule as sched
from ppvr_tf.training.distribute import replica_gradients


class AdversarialTrainer(keras.Model):
    """Holds fD, fT and the budget ensemble; ``fit`` runs Algorithms 1-4.
    ``pretrained_budgets`` (``restart_from=pretrained``): ``weights[i]``, variables that
    keep fB,i's weights from the end of its pretraining (``pretrained_copies``).
    ``logit_margin_from``: the iteration from which fD's logit margin charges (0: always)."""

    def __init__(self, degradation: keras.Model, target: keras.Model,
                 budgets: Sequence[keras.Model], budget_task: BudgetTask,
                 schedule: sched.Schedule, gamma: float,
                 budget_factory: Callable[[int], keras.Model], pretrained_budgets: tf.Module | None = None,
                 logit_margin_from: int = 0, **kwargs):
        super().__init__(**kwargs)
        self.degradation = degradation
        self.target = target
        self.budgets = list(budgets)
        self.budget_task = budget_task
        self.schedule = schedule
        self.method = methods.METHODS[schedule.config.method]
        self.gamma = gamma
        self.budget_factory = budget_factory
        self.beam_choice = keras.Variable(schedule.state.beam_choice, dtype="int32",
                                          trainable=False, name="beam_choice")
        self.pretrained_budgets = pretrained_budgets or pretrained_copies([])
        self.logit_margin_from = logit_margin_from
        self.logit_margins = logit_margins(degradation)
        self.logit_margin_on: bool | None = None  # what the margins were last switched to
        self.built = True  # every sub-model arrives built

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
        b_optimizer.build(self.budget_variables())

    # -- the Keras hooks -----------------------------------------------------------
    def train_step(self, data) -> dict:
        """One update of the current phase, by the rule the method gives it."""
        return self.update(self.schedule.phase, data)

    def update(self, phase: str, data) -> dict:
        """The update rule of ``phase`` on one batch (the replica's share of it)."""
        return self.method.rules[phase](self, data)

    def make_train_function(self, force=False):
        """``fit``'s step: ``train_step`` compiled once per phase (traced when the phase
        first runs), then the schedule's move to the next phase."""
        if self.train_function is not None and not force:
            return self.train_function
        self.phase_steps: dict[str, Callable] = {}

        def train_function(iterator):
            phase, iteration = self.schedule.phase, self.schedule.state.iteration
            self.switch_logit_margin()
            if phase not in self.phase_steps:
                self.phase_steps[phase] = self._compile_step()
            logs = self.phase_steps[phase](iterator)
            if self.schedule.advance({k: float(v) for k, v in logs.items()}):
                self.reinitialize_budgets()
            if phase == phases.PRETRAIN_BUDGET and self.schedule.phase != phase:
                self.keep_pretrained_budgets()
            if phase == phases.KBEAM_SELECT:  # the host picked j = argmin LB,i
                self.beam_choice.assign(self.schedule.state.beam_choice)
            if self.schedule.done:
                self.stop_training = True
            return {**logs, "phase": phases.index(phase), "iteration": iteration}  # the step just run

        self.train_function = train_function
        return train_function

    def _compile_step(self) -> Callable:
        """Every replica runs ``train_step`` on its share of the global batch; the logs
        are averaged over all replicas of all workers."""
        strategy = self.distribute_strategy

        def step(iterator):
            logs = strategy.run(self.train_step, args=(iterator.get_next(),))
            return {k: strategy.reduce(tf.distribute.ReduceOp.MEAN, v, axis=None) for k, v in logs.items()}
        return step if self.run_eagerly else tf.function(step, jit_compile=bool(self.jit_compile))

    def switch_logit_margin(self) -> None:
        """fD's logit margin charges in the iterations from ``logit_margin_from`` on (from
        the start when 0): a host-side switch the compiled steps read."""
        s = self.schedule
        on = not self.logit_margin_from or (s.phase not in phases.PRETRAINING
                                            and s.state.iteration + 1 >= self.logit_margin_from)
        if on != self.logit_margin_on:
            for penalty in self.logit_margins:
                penalty.margin_on.assign(float(on))
            self.logit_margin_on = on

    def keep_pretrained_budgets(self) -> None:
        """fB's pretraining has ended: what ``restart_from=pretrained`` restarts from."""
        for kept, model in zip(self.pretrained_budgets.weights, self.budgets):
            for copy, weight in zip(kept, model.weights):
                copy.assign(weight)

    def reinitialize_budgets(self) -> None:
        """Restarting: every budget model from fresh random weights (or, with
        ``restart_from=pretrained``, from its pretrained ones), fresh αB moments."""
        for index, model in enumerate(self.budgets):
            if self.pretrained_budgets.weights:
                for weight, kept in zip(model.weights, self.pretrained_budgets.weights[index]):
                    weight.assign(kept)
            else:
                model.set_weights(self.budget_factory(index).get_weights())
        for variable in self.b_optimizer.variables:
            if "iteration" not in variable.path and "learning_rate" not in variable.path:
                variable.assign(tf.zeros_like(variable))

    # -- the terms the update rules are made of ------------------------------------------
    def budget_variables(self) -> list:
        return [v for b in self.budgets for v in b.trainable_variables]

    def apply(self, optimizer, loss, variables, tape: tf.GradientTape) -> None:
        optimizer.apply(replica_gradients(tape, loss, variables), variables)

    def degrade(self, clips):
        """fD in the update rules: training-time arithmetic (see ``degrade_clips``)."""
        return degrade_clips(self.degradation, clips, training=True)

    def budget_input(self, data, degraded=None):
        """fD of the clips the budget labels belong to: the action clips themselves, or
        in cross-dataset training the privacy dataset's clips (``budget_clips``)."""
        if "budget_clips" in data:
            return self.degrade(data["budget_clips"])
        return self.degrade(data["clips"]) if degraded is None else degraded

    def budget_terms(self, degraded, labels) -> tuple[list, list, list]:
        """LB,i, HB,i and the training accuracy of every budget model."""
        logits = [b(degraded, training=True) for b in self.budgets]
        return ([losses.budget_loss(self.budget_task, labels, l) for l in logits],
                [losses.budget_entropy(self.budget_task, l) for l in logits],
                [losses.budget_accuracy(self.budget_task, labels, l) for l in logits])

    def target_terms(self, degraded, actions):
        """LT (with fT's weight decay) and fT's training accuracy."""
        logits = self.target(degraded, training=True)
        loss = losses.classification_loss(actions, logits) + _regularisation(self.target)
        return loss, losses.classification_accuracy(actions, logits)

    def degradation_penalty(self):
        """What fD's own layers add to every loss θD descends (``LogitBound``), from its
        latest call: call after ``degrade``."""
        return _regularisation(self.degradation)

    def adversary_losses(self, data, degraded):
        """What budget models with an inner adversary (``InversionBudget``: g and R) learn
        besides LB; fD does not see these gradients."""
        raw = data.get("budget_clips", data["clips"])
        loss = functools.partial(losses.budget_loss, self.budget_task)
        extra = [b.adversary_loss(loss, raw, tf.stop_gradient(degraded), data["budget"])
                 for b in self.budgets if hasattr(b, "adversary_loss")]
        return tf.add_n(extra) if extra else tf.constant(0.0)


def _regularisation(model: keras.Model):
    return tf.add_n(model.losses) if model.losses else tf.constant(0.0)


def pretrained_copies(budgets: Sequence[keras.Model]) -> tf.Module:
    """Variables (made in the caller's strategy scope) for every weight of every fB."""
    module = tf.Module(name="pretrained_budgets")
    module.weights = [[tf.Variable(tf.zeros(w.shape, w.dtype), trainable=False) for w in b.weights] for b in budgets]
    return module
