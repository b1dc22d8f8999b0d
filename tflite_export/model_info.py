"""What a flatbuffer holds, read through LiteRT: ops, quantisation, MACs per frame."""
from __future__ import annotations

import numpy as np
from ai_edge_litert.interpreter import Interpreter

# MACs of the ops that multiply; every other op is elementwise or a reduction and is
# reported in the op list but not counted here.
_WEIGHTED = {"CONV_2D", "DEPTHWISE_CONV_2D", "TRANSPOSE_CONV", "FULLY_CONNECTED"}


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
