"""What a flatbuffer holds, read through LiteRT: ops, quantisation, MACs per frame."""
from __future__ import annotations

import numpy as np
from ai_edge_litert.interpreter import Interpreter, OpResolverType

# MACs of the ops that multiply; every other op is elementwise or a reduction and is
# reported in the op list but not counted here.
_WEIGHTED = {"CONV_2D", "DEPTHWISE_CONV_2D", "TRANSPOSE_CONV", "FULLY_CONNECTED"}


def interpreter(model: bytes, threads: int | None = None) -> Interpreter:
    """LiteRT's reference interpreter: builtin kernels, no default delegate."""
    interp = Interpreter(model_content=model, num_threads=threads,
                         experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
    interp.allocate_tensors()
    return interp


def ops(interp: Interpreter) -> list[dict]:
    return interp._get_ops_details()  # the public API has no op list


def op_names(interp: Interpreter) -> list[str]:
    return sorted({op["op_name"] for op in ops(interp)})


def macs_per_frame(interp: Interpreter) -> int:
    """Multiply-accumulates of one invocation (batch 1 = one frame)."""
    shapes = {t["index"]: tuple(t["shape"]) for t in interp.get_tensor_details()}
    total = 0
    for op in ops(interp):
        name = op["op_name"]
        if name not in _WEIGHTED:
            continue
        inputs = [shapes.get(i, ()) for i in op["inputs"] if i >= 0]
        out = shapes[op["outputs"][0]]
        if name == "CONV_2D":  # weights (Co, kh, kw, Ci)
            total += int(np.prod(out)) * int(np.prod(inputs[1][1:]))
        elif name == "DEPTHWISE_CONV_2D":  # weights (1, kh, kw, Co)
            total += int(np.prod(out)) * int(np.prod(inputs[1][1:3]))
        elif name == "TRANSPOSE_CONV":  # (output shape, weights (Co, kh, kw, Ci), input)
            total += int(np.prod(inputs[2][:-1])) * int(np.prod(inputs[1]))
        else:  # FULLY_CONNECTED: weights (O, I)
            total += int(np.prod(out[:-1])) * int(np.prod(inputs[1]))
    return total


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
