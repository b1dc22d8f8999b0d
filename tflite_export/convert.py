"""float32, float16 and full-integer int8 flatbuffers of a fixed-batch fD SavedModel."""
from __future__ import annotations

from typing import Iterable

import numpy as np
import tensorflow as tf

from ppvr_tf.cli.runtime import cpp_quiet

KINDS = ("float32", "float16", "int8")


def convert(saved_model_dir: str, kind: str, calibration: list[np.ndarray] | None = None) -> bytes:
    """The flatbuffer of ``kind``. int8 is calibrated on ``calibration``, one array of
    frames (N, H, W, 3) in [0, 1] per model input, and takes and gives int8 tensors; every
    kind uses builtin ops only."""
    converter = tf.lite.TFLiteConverter.from_saved_model(saved_model_dir)
    if kind == "float16":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.target_spec.supported_types = [tf.float16]
    elif kind == "int8":
        if not calibration or not len(calibration[0]):
            raise ValueError("int8 conversion needs representative frames")
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = lambda: _one_by_one(calibration)
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        converter.inference_input_type = tf.int8
        converter.inference_output_type = tf.int8
    elif kind != "float32":
        raise ValueError(f"unknown kind {kind!r}; expected one of {KINDS}")
    else:
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    with cpp_quiet():  # its errors come back as a ConverterError
        return converter.convert()


def _one_by_one(inputs: list[np.ndarray]) -> Iterable[list[np.ndarray]]:
    for sample in zip(*inputs):
        yield [value[None].astype(np.float32) for value in sample]
