"""Run an exported fD through LiteRT as a frame filter (what ``ppvr-evaluate`` and
``ppvr-anonymize`` call): float frames in [0, 1] in, float frames out."""
from __future__ import annotations

import numpy as np

from tflite_export import model_info


class TFLiteFrameFilter:
    """Frames (N, H, W, 3) float in [0, 1] -> fD(frames), one frame per invocation."""

    def __init__(self, path: str, threads: int = 1):
        with open(path, "rb") as f:
            self._load(f.read(), threads)

    @classmethod
    def from_bytes(cls, model: bytes, threads: int = 1) -> "TFLiteFrameFilter":
        frame_filter = cls.__new__(cls)
        frame_filter._load(model, threads)
        return frame_filter

    def _load(self, model: bytes, threads: int) -> None:
        self.model = model
        self.interp = model_info.interpreter(model, threads)
        self.io = model_info.io_details(self.interp)
        self._input = self.interp.get_input_details()[0]["index"]
        self._output = self.interp.get_output_details()[0]["index"]

    @property
    def frame_shape(self) -> tuple[int, int, int]:
        return tuple(self.io["input"]["shape"][1:])

    def __call__(self, frames, training: bool = False) -> np.ndarray:
        del training
        frames = np.asarray(frames, np.float32)
        out = []
        for frame in model_info.quantize(frames, self.io["input"]):
            self.interp.set_tensor(self._input, frame[None])
            self.interp.invoke()
            out.append(self.interp.get_tensor(self._output)[0])
        return model_info.dequantize(np.stack(out), self.io["output"])
