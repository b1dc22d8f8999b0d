"""The outer loop of Algorithms 1-4, kept on the host between compiled steps.

Each training step runs the update rule of one *phase*; after the step the
schedule reads the step's logs and decides the next phase. This is how the
paper's "while target validation accuracy <= th1" and "while budget training
accuracy <= th2" loops, K-beam's d_iter ascent steps and budget-model restarting
are expressed without data-dependent control flow around optimizer updates
(which tf.distribute cannot synchronise).

After the pretraining phases the schedule walks the method's cycle (one iteration:
``methods/grl.py``, ``entropy.py``, ``kbeam.py`` each define theirs).

The schedule also books how each phase of an iteration ended (``per_iteration``,
results.json's ``training.per_iteration``): fD's step against fB, and where the th1 and
th2 loops stopped.

With restarting, every ``restart_every`` iterations the budget models are
re-initialised and retrained with fD and fT frozen (phase ``restart``): from random
weights, or (``restart_from=pretrained``) from the weights fB's pretraining left them.
"""
from __future__ import annotations

import dataclasses
import json

from ppvr_tf.options import option
from ppvr_tf.training import methods
from ppvr_tf.training.phases import (
    ADVERSARIAL, BUDGET, BUDGET_TRAIN_ACCURACY, DONE, KBEAM_ASCENT, KBEAM_SELECT, PRETRAIN_BUDGET,
    PRETRAIN_IDENTITY, PRETRAIN_TARGET, PRETRAINING, RESTART, TARGET, TARGET_VAL_ACCURACY)


@dataclasses.dataclass(frozen=True)
class ScheduleConfig:
    method: str = option("entropy", f"Optimisation scheme: one of {', '.join(methods.METHODS.names())}.")
    max_iter: int = option(67, "Adversarial iterations.")
    th1: float = option(0.85, "Target validation accuracy threshold (th1 loop).")
    th2: float = option(0.99, "Budget training accuracy threshold (th2 loop).")
    d_iter: int = option(30, "K-beam ascent steps per iteration.")
    degradation_steps: int = option(
        1, "fD's adversarial steps per iteration (GRL's eq. 7a, Entropy's eq. 10a), each on a new batch against "
        "the same fT and fB, before the th1 and th2 loops: how far fD may get ahead of budget models that then "
        "catch up. 1: the paper's.")
    restart_every: int = option(0, "Restart the budget models every R iterations (0: never).")
    restart_from: str = option(
        "scratch", "What a restarted budget model starts from: scratch (fresh random weights, the paper's) or "
        "pretrained (its weights at the end of fB's pretraining, when fD was still near the identity: an "
        "adversary who has seen the people in raw video and adapts to fD(X), the attack suite's `pretrained`).",
        choices=("scratch", "pretrained"))
    pretrain_identity_steps: int = option(100, "Steps of fD-to-identity pretraining.")
    pretrain_target_steps: int = option(500, "Steps of fT pretraining on fD(X).")
    pretrain_budget_steps: int = option(200, "Steps of fB pretraining on fD(X).")
    max_target_steps: int = option(200, "Cap of one th1 loop.")
    max_budget_steps: int = option(200, "Cap of one th2 loop.")
    restart_budget_steps: int = option(1000, "Cap of retraining restarted budget models.")
    threshold_window: int = option(3, "Steps whose mean accuracy the threshold loops test.")
    finetune_target_epochs: int = option(
        0, "After adversarial training: epochs of fitting fT again on the final, frozen fD(X) with the "
        "evaluation's fT recipe (--eval_target_lr, --eval_patience, --eval_augment), keeping the weights of the "
        "best validation loss, the trained ones included (the cloud's last step; fD, and so privacy, is "
        "unchanged). 0: fT as adversarial training left it (the paper's).")


@dataclasses.dataclass
class ScheduleState:
    phase: str = PRETRAIN_IDENTITY
    phase_steps: int = 0
    iteration: int = 0
    total_steps: int = 0
    restarts: int = 0
    beam_choice: int = 0
    recent: list = dataclasses.field(default_factory=list)
    steps_per_phase: dict = dataclasses.field(default_factory=dict)
    capped_loops: dict = dataclasses.field(default_factory=dict)
    # One record per finished iteration: for each phase it ran, its steps and its last step's logs
    # (fD's step against fB; where the th1 and th2 loops ended). Checkpointed with the rest, so a
    # resumed run neither loses nor repeats records.
    per_iteration: list = dataclasses.field(default_factory=list)
    current: dict = dataclasses.field(default_factory=dict)  # the iteration in progress


class Schedule:
    """Host-side state machine: ``phase`` says which update the next step runs."""

    def __init__(self, config: ScheduleConfig, state: ScheduleState | None = None):
        self.config = config
        self.cycle = methods.METHODS[config.method].cycle  # the phases of one iteration
        self.state = state or ScheduleState()
        if state is None:
            self._enter(self._first_pretraining_phase())

    # -- queries ---------------------------------------------------------------
    @property
    def phase(self) -> str:
        return self.state.phase

    @property
    def done(self) -> bool:
        return self.state.phase == DONE

    def max_steps(self) -> int:
        """The most steps training can take: pretraining, then every loop at its cap."""
        c = self.config
        restarts = (c.max_iter - 1) // c.restart_every if c.restart_every else 0
        pretraining = sum(self._pretraining_steps(phase) for phase in PRETRAINING)
        return pretraining + c.max_iter * self._per_iteration_cap() + restarts * c.restart_budget_steps

    def remaining_steps(self) -> tuple[int, bool]:
        """(steps still to run, whether that is only an upper bound): ``remaining_by_phase``
        summed."""
        by_phase, bound = self.remaining_by_phase()
        return sum(by_phase.values()), bound

    def remaining_by_phase(self) -> tuple[dict[str, int], bool]:
        """({phase: steps still to run}, whether that is only an upper bound). Pretraining is
        exact; each phase of the iterations left is priced at its mean steps per finished
        iteration, or at its cap before the first iteration has ended (the bound), less what
        the iteration in progress has already run of it. By phase, because their steps cost
        differently (an fD step moves every model, a th2 step fB)."""
        s, c = self.state, self.config
        if self.done:
            return {}, False
        remaining: dict[str, int] = {}
        if s.phase in PRETRAINING:
            for p in PRETRAINING[PRETRAINING.index(s.phase):]:
                remaining[p] = self._pretraining_steps(p) - (s.phase_steps if p == s.phase else 0)
        in_progress = {p: record["steps"] for p, record in s.current.items()}
        if s.iteration:
            finished = {p: n - in_progress.get(p, 0) for p, n in s.steps_per_phase.items() if p not in PRETRAINING}
            per_iteration, bound = {p: n / s.iteration for p, n in finished.items()}, False
        else:
            per_iteration, bound = self._phase_caps(), True
        after_this = c.max_iter - s.iteration - 1
        for p, n in per_iteration.items():
            remaining[p] = round(after_this * n + max(0.0, n - in_progress.get(p, 0)))
        return {p: n for p, n in remaining.items() if n}, bound

    def _fixed_steps(self) -> dict[str, int]:
        """The phases of an iteration that run a set number of steps (no threshold loop)."""
        c = self.config
        return {ADVERSARIAL: c.degradation_steps, KBEAM_SELECT: 1, KBEAM_ASCENT: c.d_iter}

    def _phase_caps(self) -> dict[str, int]:
        """The most steps each phase of one iteration can take."""
        c = self.config
        caps = {**self._fixed_steps(), TARGET: c.max_target_steps, BUDGET: c.max_budget_steps}
        return {phase: caps[phase] for phase in self.cycle}

    def _per_iteration_cap(self) -> int:
        return sum(self._phase_caps().values())

    # -- transitions -----------------------------------------------------------
    def advance(self, logs: dict[str, float]) -> bool:
        """Books the step just run in ``phase`` and moves on.

        Returns True when the budget models must be re-initialised before the
        next step (a restart begins).
        """
        s, c = self.state, self.config
        s.phase_steps += 1
        s.total_steps += 1
        s.steps_per_phase[s.phase] = s.steps_per_phase.get(s.phase, 0) + 1
        phase = s.phase
        if phase in PRETRAINING:
            if s.phase_steps >= self._pretraining_steps(phase):
                self._enter(self._next_pretraining_phase(phase))
            return False
        self._book(phase, logs)
        if phase == KBEAM_SELECT:
            losses = [logs[k] for k in sorted(logs) if k.startswith("lb_")]
            s.beam_choice = min(range(len(losses)), key=losses.__getitem__)
        fixed = self._fixed_steps()
        if phase in fixed:
            return self._next_in_cycle() if s.phase_steps >= fixed[phase] else False
        if phase == TARGET:
            return self._threshold_loop(logs[TARGET_VAL_ACCURACY], c.th1, c.max_target_steps)
        if phase in (BUDGET, RESTART):
            cap = c.restart_budget_steps if phase == RESTART else c.max_budget_steps
            return self._threshold_loop(logs[BUDGET_TRAIN_ACCURACY], c.th2, cap)
        raise RuntimeError(f"no step should run in phase {phase!r}")

    def _threshold_loop(self, accuracy: float, threshold: float, cap: int) -> bool:
        """'while accuracy <= threshold: update' — leaves when the recent mean passes."""
        s = self.state
        s.recent = (s.recent + [float(accuracy)])[-self.config.threshold_window:]
        if sum(s.recent) / len(s.recent) > threshold:
            return self._next_in_cycle()
        if s.phase_steps >= cap:
            s.capped_loops[s.phase] = s.capped_loops.get(s.phase, 0) + 1
            return self._next_in_cycle()
        return False

    def _next_in_cycle(self) -> bool:
        s, cycle = self.state, self.cycle
        if s.phase == RESTART:
            self._enter(cycle[0])
            return False
        position = cycle.index(s.phase) + 1
        if position < len(cycle):
            self._enter(cycle[position])
            return False
        s.iteration += 1
        s.per_iteration.append(s.current)
        s.current = {}
        return self._after_iteration()

    def _book(self, phase: str, logs: dict[str, float]) -> None:
        record = self.state.current.setdefault(phase, {"steps": 0})
        record["steps"] += 1
        record.update({k: round(float(v), 4) for k, v in logs.items()})

    def _after_iteration(self) -> bool:
        """Iteration ``state.iteration`` has ended: done, a restart, or the next cycle."""
        s, c = self.state, self.config
        if s.iteration >= c.max_iter:
            self._enter(DONE)
            return False
        if c.restart_every and s.iteration and s.iteration % c.restart_every == 0:
            s.restarts += 1
            self._enter(RESTART)
            return True
        self._enter(self.cycle[0])
        return False

    def extend(self) -> bool:
        """A finished run resumed with a larger ``max_iter`` trains on from where it ended,
        step for step as a run started with that ``max_iter``. Returns True when the budget
        models must be re-initialised first (the extension begins with a restart)."""
        if not self.done or self.state.iteration >= self.config.max_iter:
            return False
        return self._after_iteration()

    def _enter(self, phase: str) -> None:
        if phase in self.cycle and self.state.iteration >= self.config.max_iter:
            phase = DONE  # max_iter = 0: pretraining only
        self.state.phase, self.state.phase_steps, self.state.recent = phase, 0, []

    def _pretraining_steps(self, phase: str) -> int:
        c = self.config
        return {PRETRAIN_IDENTITY: c.pretrain_identity_steps, PRETRAIN_TARGET: c.pretrain_target_steps,
                PRETRAIN_BUDGET: c.pretrain_budget_steps}[phase]

    def _first_pretraining_phase(self) -> str:
        return self._next_pretraining_phase(None)

    def _next_pretraining_phase(self, phase: str | None) -> str:
        start = 0 if phase is None else PRETRAINING.index(phase) + 1
        for candidate in PRETRAINING[start:]:
            if self._pretraining_steps(candidate) > 0:
                return candidate
        return self.cycle[0]

    # -- persistence -----------------------------------------------------------
    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self.state), sort_keys=True)

    @classmethod
    def from_json(cls, config: ScheduleConfig, text: str) -> "Schedule":
        return cls(config, ScheduleState(**json.loads(text)))
