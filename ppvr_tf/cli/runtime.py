"""Process set-up shared by the entry points."""
from __future__ import annotations

import logging
import os


def quiet_tensorflow() -> None:
    """Keeps TensorFlow's chatter off the console: C++ start-up messages (CUDA probing on
    CPU machines) and its Python INFO/WARNING lines. Retracing warnings in particular
    are expected here: the trainer compiles one step function per phase on purpose.
    Must run before TensorFlow is imported."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf

    tf.get_logger().setLevel(logging.ERROR)
    logging.getLogger("absl").addFilter(_only_errors_of_tensorflow_datasets)


def _only_errors_of_tensorflow_datasets(record: logging.LogRecord) -> bool:
    """tfds logs every split it opens through absl; its progress bars say enough."""
    return record.levelno >= logging.ERROR or "tensorflow_datasets" not in record.pathname
