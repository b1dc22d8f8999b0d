"""Mixed precision: bfloat16 arithmetic where the hardware has it (AMX or AVX512-BF16
CPUs, TPUs, recent GPUs), float32 everywhere it matters.

Under ``mixed_bfloat16`` the variables stay float32 and the layers compute in bfloat16.
Every model's output (fD's frames, fT's and fB's logits) is float32, so losses,
entropies and accuracies are computed in float32, and ``export`` hands the camera and
the cloud float32 models.
"""
from __future__ import annotations

import contextlib
from typing import Iterator

import keras

PRECISIONS = ("float32", "mixed_bfloat16")


@contextlib.contextmanager
def policy(name: str) -> Iterator[None]:
    """Models built inside compute in ``name``'s dtype."""
    if name not in PRECISIONS:
        raise ValueError(f"unknown precision {name!r}; expected one of {', '.join(PRECISIONS)}")
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(name)
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)
