"""What the privacy attackers predict: one class per clip, or independent binary labels.

A budget task is ``single`` (one class per clip: softmax, accuracy; e.g. identity) or
``multi`` (independent binary attributes: sigmoid, macro AP; e.g. PA-HMDB51's). A
dataset says which it has; training and evaluation read it from here.
"""
from __future__ import annotations

import dataclasses

SINGLE, MULTI, NONE = "single", "multi", "none"  # NONE: a dataset without privacy labels
MISSING = -1.0  # a multi-label entry nobody annotated for this clip (masked in losses and AP)


@dataclasses.dataclass(frozen=True)
class BudgetTask:
    """What the privacy attackers predict."""

    kind: str  # SINGLE or MULTI
    outputs: int  # classes (single) or binary labels (multi)
    names: tuple[str, ...] = ()

    def __post_init__(self):
        if self.kind not in (SINGLE, MULTI):
            raise ValueError(f"budget task kind must be {SINGLE!r} or {MULTI!r}, got {self.kind!r}")

    @property
    def metric(self) -> str:
        return "accuracy" if self.kind == SINGLE else "cmap"
