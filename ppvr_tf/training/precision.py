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
import tensorflow as tf
from absl import logging

PRECISIONS = ("float32", "mixed_bfloat16")
AUTO = "auto"  # a flag value only: resolved to one of PRECISIONS before a run starts
# The CPUs where bf16 training has been shown to train (docs/mixed_precision.md), by the
# /proc/cpuinfo flag that decides which of oneDNN's bf16 kernels run. Elsewhere bf16 is
# emulated (slower than float32) and its kernels unchecked.
SHOWN_TO_TRAIN = {
    "amx_bf16": "AMX: oneDNN's brgemm kernels",
    "avx512_bf16": "AVX512-BF16 without AMX: oneDNN's jit_bf16 kernels (with models/conv3d.py)",
}


def resolve(name: str, cpuinfo: str = "/proc/cpuinfo") -> str:
    """``auto``: mixed_bfloat16 on a CPU of a kind in ``SHOWN_TO_TRAIN`` (read from
    ``cpuinfo``) where no GPU takes the work, float32 elsewhere. Any other name is
    returned as it is, with a warning when it is bf16 on a CPU that would emulate it."""
    if name == "mixed_bfloat16" and not cpu_bf16(cpuinfo) and not tf.config.list_physical_devices("GPU"):
        logging.warning("--precision=mixed_bfloat16 on a CPU without bf16 arithmetic (%s): TensorFlow "
                        "emulates it, slower than float32 and further from it (docs/mixed_precision.md)",
                        " / ".join(SHOWN_TO_TRAIN))
    if name != AUTO:
        return name
    if tf.config.list_physical_devices("GPU"):
        return "float32"  # GPUs differ in bf16 support: choose explicitly there
    return "mixed_bfloat16" if cpu_bf16(cpuinfo) else "float32"


def cpu_bf16(cpuinfo: str = "/proc/cpuinfo") -> set[str]:
    """The ``SHOWN_TO_TRAIN`` flags this CPU has (none when ``cpuinfo`` cannot be read:
    not Linux, no way to tell)."""
    try:
        with open(cpuinfo) as f:
            flags = {flag for line in f if line.startswith("flags") for flag in line.split(":", 1)[1].split()}
    except OSError:
        return set()
    return flags & SHOWN_TO_TRAIN.keys()


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
