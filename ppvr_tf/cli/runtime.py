"""Process set-up shared by the entry points."""
from __future__ import annotations

import contextlib
import logging
import os
import sys
from typing import Iterator

from absl import logging as absl_logging


def quiet_tensorflow() -> None:
    """Keeps TensorFlow's chatter off the console: its C++ start-up lines (oneDNN notes,
    CUDA probing on CPU machines), which it writes straight to the stderr file descriptor
    before any log level applies, and its Python INFO/WARNING lines. Retracing warnings in
    particular are expected here: the trainer compiles one step function per phase on
    purpose. ``TF_CPP_MIN_LOG_LEVEL=0`` brings everything back. Must run before
    TensorFlow is imported."""
    if os.environ.get("TF_CPP_MIN_LOG_LEVEL") == "0":
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    with _stderr_to_devnull():
        import tensorflow as tf

        tf.config.list_physical_devices()  # the CUDA probe, while its lines go nowhere
    tf.get_logger().setLevel(logging.ERROR)
    logging.getLogger("absl").addFilter(_no_library_chatter)
    absl_logging.get_absl_handler().setFormatter(_ShortFormatter())


class _ShortFormatter(logging.Formatter):
    """``12:04:31 message`` for INFO, the level's name in front of anything worse."""

    def __init__(self):
        super().__init__("%(asctime)s %(message)s", "%H:%M:%S")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        return line if record.levelno <= logging.INFO else f"{record.levelname}: {line}"


@contextlib.contextmanager
def cpp_quiet() -> Iterator[None]:
    """TensorFlow's C++ lines written inside the block (the TFLite converter's quantiser
    prints one per conversion) go nowhere, unless ``TF_CPP_MIN_LOG_LEVEL=0``."""
    if os.environ.get("TF_CPP_MIN_LOG_LEVEL") == "0":
        yield
    else:
        with _stderr_to_devnull():
            yield


@contextlib.contextmanager
def _stderr_to_devnull() -> Iterator[None]:
    """File descriptor 2 points at /dev/null inside the block (C++ code writes there
    directly, around Python's sys.stderr)."""
    sys.stderr.flush()
    saved, devnull = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    try:
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


_SHOWN_FROM = {"tensorflow_datasets": logging.ERROR, "tensorflow": logging.WARNING, "keras": logging.WARNING}


def _no_library_chatter(record: logging.LogRecord) -> bool:
    """TensorFlow, tfds and Keras log through absl too: every checkpoint shard, every split
    opened (tfds' progress bars say enough). Their warnings (tfds: errors) still show."""
    for library, level in _SHOWN_FROM.items():
        if f"{os.sep}{library}{os.sep}" in record.pathname:
            return record.levelno >= level
    return True
