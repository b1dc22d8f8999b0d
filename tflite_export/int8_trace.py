"""Where int8 loses fidelity: every tensor of the int8 flatbuffer, dequantised, against the
same tensor of the float32 flatbuffer of the same fD, op by op in execution order.

Post-training int8 rounds each op's output once; the error an op adds is small, but what
reaches the output is the sum of what every op before it added, amplified by what came
after (a norm that divides by a small spread, a steep sigmoid). The op where the SNR
drops is where to look.
"""
from __future__ import annotations

import numpy as np
from ai_edge_litert.interpreter import Interpreter, OpResolverType

from ppvr_tf.evaluation.litert_fd import dequantize, io_details, quantize


def _tensors_by_op(model: bytes, frames: np.ndarray) -> tuple[list[tuple[str, str]], dict[str, np.ndarray]]:
    """[(op name, output tensor name)] in execution order, and each output's values over
    ``frames`` (N, H, W, C) in [0, 1], dequantised for an int8 model."""
    it = Interpreter(model_content=model, experimental_preserve_all_tensors=True,
                     experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
    it.allocate_tensors()
    details = it.get_tensor_details()
    outputs = [(op["op_name"], details[o]) for op in it._get_ops_details() for o in op["outputs"]]
    quantisation = {d["name"]: {"dtype": np.dtype(d["dtype"]).name, "scale": d["quantization"][0],
                                "zero_point": d["quantization"][1]} for _, d in outputs}
    source = io_details(it)["input"]
    values: dict[str, list[np.ndarray]] = {d["name"]: [] for _, d in outputs}
    for frame in frames:
        it.set_tensor(it.get_input_details()[source["position"]]["index"], quantize(frame[None], source))
        it.invoke()
        for _, d in outputs:
            values[d["name"]].append(dequantize(it.get_tensor(d["index"]), quantisation[d["name"]]))
    order = [(op, d["name"]) for op, d in outputs]
    return order, {name: np.stack(v) for name, v in values.items()}


def trace(float32_model: bytes, int8_model: bytes, frames: np.ndarray) -> list[dict]:
    """One row per int8 op output that the float32 model also has (by tensor name):
    ``op``, ``tensor``, ``snr_db`` (signal power over int8 error power) and ``max_abs``
    (the float tensor's largest magnitude: its int8 step is about max_abs / 127)."""
    _, reference = _tensors_by_op(float32_model, frames)
    order, quantised = _tensors_by_op(int8_model, frames)
    rows = []
    for op, name in order:
        if name not in reference or reference[name].shape != quantised[name].shape:
            continue  # an op only the int8 model has (the output QUANTIZE, say)
        ref = reference[name].astype(np.float64)
        noise = max(float(np.mean((quantised[name] - ref) ** 2)), 1e-30)
        rows.append({"op": op, "tensor": name, "snr_db": round(10 * np.log10(float(np.mean(ref ** 2)) / noise), 2),
                     "max_abs": float(np.abs(ref).max())})
    return rows
