"""The paper's optimisation schemes by name.

A method is one iteration's cycle of phases and the update rule each phase runs; the
schedule walks the cycle, ``AdversarialTrainer.train_step`` runs the rule. Each scheme
lives in its own module, beside its algorithm in the paper:

* ``grl.py``: Ours-KL, gradient reversal (Algorithm 1, eq. 4)
* ``entropy.py``: Ours-Entropy (Algorithm 2, eq. 6 and 10)
* ``kbeam.py``: Ours-K-beam (Algorithm 3)

The rules every scheme shares (pretraining, the budget descent) are in ``rules.py``.
Adding a scheme is one module that calls ``register``, imported below.
"""
from __future__ import annotations

import dataclasses
from typing import Callable, Mapping

from ppvr_tf.registry import Registry

Rule = Callable[..., dict]  # (trainer, batch) -> logs


@dataclasses.dataclass(frozen=True)
class Method:
    name: str
    cycle: tuple[str, ...]  # the phases of one iteration, after pretraining
    rules: Mapping[str, Rule]  # phase -> update rule


METHODS: Registry[Method] = Registry("method")


def register(method: Method) -> Method:
    missing = [phase for phase in method.cycle if phase not in method.rules]
    if missing:
        raise ValueError(f"method {method.name!r} has no rule for {', '.join(missing)}")
    return METHODS.register(method.name)(method)


from ppvr_tf.training.methods import grl, entropy, kbeam  # noqa: E402,F401  (they register themselves)
