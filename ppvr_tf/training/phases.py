"""The phases of training. Each training step runs the update rule of one phase; the
schedule (``schedule.py``) decides which phase comes next, the method
(``methods/``) which rule each phase runs."""
from __future__ import annotations

PRETRAIN_IDENTITY = "pretrain_identity"  # fD towards the identity
PRETRAIN_TARGET = "pretrain_target"  # fT on fD(X)
PRETRAIN_BUDGET = "pretrain_budget"  # every fB on fD(X)
ADVERSARIAL = "adversarial"  # the fD step of GRL / Entropy
TARGET = "target"  # the th1 loop
BUDGET = "budget"  # the th2 loop
RESTART = "restart"  # re-initialised budget models retrained, fD and fT frozen
KBEAM_SELECT = "kbeam_select"  # K-beam: the beam with the smallest LB
KBEAM_ASCENT = "kbeam_ascent"  # K-beam: fD's d_iter ascent steps against it
DONE = "done"

PRETRAINING = (PRETRAIN_IDENTITY, PRETRAIN_TARGET, PRETRAIN_BUDGET)
ALL = (*PRETRAINING, ADVERSARIAL, KBEAM_SELECT, KBEAM_ASCENT, TARGET, BUDGET, RESTART, DONE)


def index(phase: str) -> int:
    """A phase as a number, for logs and plots."""
    return ALL.index(phase)

# Log keys the threshold loops read.
TARGET_VAL_ACCURACY = "val_acc_t"  # fT on a validation batch (th1)
BUDGET_TRAIN_ACCURACY = "acc_b_min"  # the weakest budget model's training accuracy (th2)
