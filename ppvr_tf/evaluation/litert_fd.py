"""An exported fD (.tflite) run through LiteRT as a frame filter: what the evaluation
(``ppvr-evaluate``) judges and ``ppvr-anonymize`` shows. Float frames in [0, 1] in,
float frames out; the model's int8 quantisation is applied on the way."""
from __future__ import annotations

import numpy as np
from ai_edge_litert.interpreter import Interpreter, OpResolverType


def interpreter(model: bytes, threads: int | None = None) -> Interpreter:
    """LiteRT's reference interpreter: builtin kernels, no default delegate."""
    interp = Interpreter(model_content=model, num_threads=threads,
                         experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
    interp.allocate_tensors()
    return interp


def io_details(interp: Interpreter) -> dict:
    """Shape, dtype, scale and zero point of the input (every input, for an fD that also
    takes the previous frame) and of the output."""
    def describe(detail):
        scale, zero_point = detail["quantization"]
        return {"shape": [int(d) for d in detail["shape"]], "dtype": np.dtype(detail["dtype"]).name,
                "scale": float(scale), "zero_point": int(zero_point)}
    details = interp.get_input_details()
    inputs = [{**describe(details[p]), "position": p} for p in input_order(interp)]
    return {"input": inputs[0], "inputs": inputs, "output": describe(interp.get_output_details()[0])}


def input_order(interp: Interpreter) -> list[int]:
    """Positions of the model's inputs in its signature's order (``frame``, then
    ``previous_frame``): the converter may store them the other way round."""
    details = interp.get_input_details()
    names = interp.get_signature_list().get("serving_default", {}).get("inputs", [])
    if len(details) == 1 or len(names) != len(details):
        return list(range(len(details)))
    stored = [d["name"].removeprefix("serving_default_").split(":")[0] for d in details]
    return [stored.index(name) for name in names]


def quantize(frames: np.ndarray, io: dict) -> np.ndarray:
    """Float frames in [0, 1] -> the model's input tensor values."""
    if io["dtype"] == "float32":
        return frames.astype(np.float32)
    info = np.iinfo(io["dtype"])
    q = np.round(frames / io["scale"] + io["zero_point"])
    return np.clip(q, info.min, info.max).astype(io["dtype"])


def dequantize(values: np.ndarray, io: dict) -> np.ndarray:
    if io["dtype"] == "float32":
        return values.astype(np.float32)
    return ((values.astype(np.float32) - io["zero_point"]) * io["scale"]).astype(np.float32)


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
        self.interp = interpreter(model, threads)
        self.io = io_details(self.interp)
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
        quantized = [quantize(np.asarray(x, np.float32), io) for x, io in zip(inputs, self.io["inputs"])]
        out = []
        for sample in zip(*quantized):
            for index, value in zip(self._inputs, sample):
                self.interp.set_tensor(index, value[None])
            self.interp.invoke()
            out.append(self.interp.get_tensor(self._output)[0])
        return dequantize(np.stack(out), self.io["output"])
