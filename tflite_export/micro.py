"""TFLite Micro, through the tflite-micro wheel's interpreter: does every op exist
there, how much arena does the model really need, and what does it compute."""
from __future__ import annotations

import contextlib
import os
import re
import sys
import tempfile

import numpy as np
from tflite_micro import runtime

from ppvr_tf.evaluation import litert_fd

PROBE_ARENA = 16 * 1024 * 1024  # large enough to allocate anything; the real need is recorded


class MicroError(RuntimeError):
    """The model cannot run on TFLite Micro; ``missing`` names the ops it lacks, if that is why."""

    def __init__(self, message: str, missing: tuple[str, ...] = ()):
        super().__init__(message)
        self.missing = missing


@contextlib.contextmanager
def _captured_stderr(lines: list[str]):
    """TFLite Micro reports on the C stderr: collect it."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as tmp:
        os.dup2(tmp.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            tmp.seek(0)
            lines.extend(tmp.read().decode(errors="replace").splitlines())


def load(model: bytes, arena_size: int = PROBE_ARENA):
    """The TFLite Micro interpreter; MicroError names every op it lacks."""
    log: list[str] = []
    try:
        with _captured_stderr(log):
            return runtime.Interpreter.from_bytes(model, arena_size=arena_size)
    except RuntimeError as error:
        missing = tuple(sorted(set(re.findall(r"Didn't find op for builtin opcode '(\w+)'", "\n".join(log)))))
        if missing:
            raise MicroError(f"ops TFLite Micro does not have: {', '.join(missing)}", missing) from None
        raise MicroError(f"TFLite Micro cannot allocate the model ({error}): " + " | ".join(log[-3:])) from None


def unsupported_ops(model: bytes) -> list[str]:
    try:
        load(model)
    except MicroError as error:
        if error.missing:
            return list(error.missing)
        raise
    return []


def _set_inputs(interp, sample: list[np.ndarray], io: dict) -> None:
    """One sample: a float array (H, W, 3) per model input."""
    for value, detail in zip(sample, io["inputs"]):
        interp.set_input(litert_fd.quantize(value[None], detail), detail["position"])


def recorded_arena_bytes(model: bytes, sample: list[np.ndarray], io: dict) -> int:
    """The arena TFLite Micro's recording allocator reports after one invocation."""
    interp = load(model)
    _set_inputs(interp, sample, io)
    interp.invoke()
    log: list[str] = []
    with _captured_stderr(log):
        interp.print_allocations()
    match = re.search(r"Arena allocation total (\d+) bytes", "\n".join(log))
    if not match:
        raise MicroError("TFLite Micro printed no arena total: " + " | ".join(log[:3]))
    return int(match.group(1))


def _runs_with(model: bytes, sample: list[np.ndarray], io: dict, arena_size: int) -> bool:
    try:
        run(model, [value[None] for value in sample], io, arena_size)
    except MicroError:
        return False
    return True


def arena_bytes(model: bytes, sample: list[np.ndarray], io: dict, recorded: int, alignment: int = 16) -> int:
    """The smallest arena (to ``alignment`` bytes) with which the model loads and runs.

    The recording allocator's total (``recorded``) leaves out the scratch memory
    planning needs, so the search starts there and grows until an invocation succeeds."""
    low = recorded
    if _runs_with(model, sample, io, low):
        return low
    step = alignment
    while not _runs_with(model, sample, io, low + step):
        step *= 2
    high, low = low + step, low + step // 2
    while high - low > alignment:
        middle = (low + high) // 2 // alignment * alignment
        if _runs_with(model, sample, io, middle):
            high = middle
        else:
            low = middle
    return high


def run(model: bytes, inputs: list[np.ndarray], io: dict, arena_size: int) -> np.ndarray:
    """fD through TFLite Micro with exactly ``arena_size`` bytes of arena; ``inputs`` holds
    one float array (N, H, W, 3) per model input."""
    interp = load(model, arena_size)
    out = []
    for sample in zip(*inputs):
        _set_inputs(interp, list(sample), io)
        interp.invoke()
        out.append(interp.get_output(0)[0])
    return litert_fd.dequantize(np.stack(out), io["output"])
