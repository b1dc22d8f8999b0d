"""Process set-up shared by the entry points."""
from __future__ import annotations

import os


def quiet_tensorflow() -> None:
    """Keeps TensorFlow's C++ start-up chatter (CUDA probing on CPU machines) off the console."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
