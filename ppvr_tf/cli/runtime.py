"""Process set-up shared by the entry points."""
from __future__ import annotations

import contextlib
import logging
import os
import sys
from typing import Iterator


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
    logging.getLogger("absl").addFilter(_only_errors_of_tensorflow_datasets)


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


def _only_errors_of_tensorflow_datasets(record: logging.LogRecord) -> bool:
    """tfds logs every split it opens through absl; its progress bars say enough."""
    return record.levelno >= logging.ERROR or "tensorflow_datasets" not in record.pathname
