"""SavedModels for the two sides of the system.

* camera side, fD: ``serve(frames)`` with frames (N, H, W, 3) float32 in [0, 1];
  per frame, so a camera streams frames through it one by one.
* cloud side, fT: ``serve(clips)`` with clips (N, T, H, W, 3) of degraded frames,
  returning action logits.

Each directory also holds ``ppvr_tf.json``: the experiment configuration and the
model's role, so ``ppvr-evaluate`` can rebuild the matching dataset.
"""
from __future__ import annotations

import json
import os

import keras
import numpy as np
import tensorflow as tf

from ppvr_tf.io_utils import atomic_directory

METADATA = "ppvr_tf.json"


def export(model: keras.Model, path: str, input_shape: tuple, role: str, config_json: str) -> None:
    """Writes ``model`` as a SavedModel with a ``serve`` signature, atomically."""
    with atomic_directory(path) as tmp:
        model.export(tmp, format="tf_saved_model", verbose=False,
                     input_signature=[tf.TensorSpec((None, *input_shape), tf.float32)])
        with open(os.path.join(tmp, METADATA), "w") as f:
            json.dump({"role": role, "input_shape": list(input_shape),
                       "config": json.loads(config_json)}, f, indent=2)


def load_metadata(path: str) -> dict:
    file = os.path.join(path, METADATA)
    if not os.path.exists(os.path.join(path, "saved_model.pb")):
        raise FileNotFoundError(f"{path}: not a SavedModel directory (no saved_model.pb)")
    if not os.path.exists(file):
        raise FileNotFoundError(f"{file}: missing; was this SavedModel exported by ppvr_tf?")
    with open(file) as f:
        return json.load(f)


class ServingModel:
    """A loaded SavedModel called like a function on float arrays."""

    def __init__(self, path: str):
        self.path = path
        self.metadata = load_metadata(path)
        self._loaded = tf.saved_model.load(path)
        self._serve = self._loaded.signatures["serving_default"]
        self._output = next(iter(self._serve.structured_outputs))
        # an fD over whole clips (N, T, H, W, C), like a motion encoding, rather than frames
        self.per_clip = self.metadata["role"] == "degradation" and len(self.metadata["input_shape"]) == 4

    def __call__(self, x, training: bool = False) -> tf.Tensor:
        del training  # inference only
        return self._serve(tf.convert_to_tensor(np.asarray(x, np.float32)))[self._output]
