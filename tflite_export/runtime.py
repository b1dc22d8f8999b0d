"""Run an exported fD through LiteRT as a frame filter (what ``ppvr-evaluate`` and
``ppvr-anonymize`` call): float frames in [0, 1] in, float frames out."""
from __future__ import annotations

import numpy as np

from tflite_export import model_info


class TFLiteFrameFilter:
    """Frames (N, H, W, 3) float in [0, 1] -> fD(frames), one frame per invocation (or, for
    a model that also takes the previous frame, clips -> fD(clips))."""

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
        details = self.interp.get_input_details()
        self._inputs = [details[spec["position"]]["index"] for spec in self.io["inputs"]]
        self._output = self.interp.get_output_details()[0]["index"]

    @property
    def frame_shape(self) -> tuple[int, int, int]:
        return tuple(self.io["input"]["shape"][1:])

    @property
    def per_clip(self) -> bool:
        """A model of (frame, previous frame), like BDQ, filters whole clips."""
        return len(self._inputs) == 2

    def __call__(self, x, training: bool = False) -> np.ndarray:
        """fD of frames (N, H, W, 3); of clips (N, T, H, W, 3) for a frame-pair model, whose
        first frame is paired with itself (no motion yet)."""
        del training
        if not self.per_clip:
            return self.run([x])
        clips = np.asarray(x, np.float32)
        previous = np.concatenate([clips[:, :1], clips[:, :-1]], axis=1)
        out = self.run([clips.reshape(-1, *clips.shape[2:]), previous.reshape(-1, *clips.shape[2:])])
        return out.reshape(*clips.shape[:2], *out.shape[1:])

    def run(self, inputs: list) -> np.ndarray:
        """One invocation per sample; ``inputs`` holds one float array (N, H, W, 3) per
        model input (the frame, and the previous frame for BDQ)."""
        quantized = [model_info.quantize(np.asarray(x, np.float32), io) for x, io in zip(inputs, self.io["inputs"])]
        out = []
        for sample in zip(*quantized):
            for index, value in zip(self._inputs, sample):
                self.interp.set_tensor(index, value[None])
            self.interp.invoke()
            out.append(self.interp.get_tensor(self._output)[0])
        return model_info.dequantize(np.stack(out), self.io["output"])
