"""FLOPs of a compiled step, counted from its graph.

A step's cost is its convolutions and matrix products, forward and backward. Counting
them in the traced graph, rather than from layer formulas, counts exactly what the step
runs: the backward passes the tape built, frozen models' input gradients, and nothing
that ``stop_gradient`` cut. Multiply and add count as 2 FLOPs; element-wise ops are left
out (they are memory-bound and small beside the convolutions).

TensorFlow's own profiler registry has no Conv3D (C3D, fT) and needs a TF1 graph, hence
this counter.
"""
from __future__ import annotations

import math
from typing import Callable

import tensorflow as tf

_CONVS = {"Conv2D", "Conv3D"}
_CONV_BACKPROPS = {"Conv2DBackpropInput", "Conv2DBackpropFilter", "Conv3DBackpropInputV2",
                   "Conv3DBackpropFilterV2"}
_DEPTHWISE = {"DepthwiseConv2dNative", "DepthwiseConv2dNativeBackpropInput",
              "DepthwiseConv2dNativeBackpropFilter"}
# gradient ops: the forward conv's output shape is their incoming gradient, input 2
_GRADIENTS = _CONV_BACKPROPS | (_DEPTHWISE - {"DepthwiseConv2dNative"})


class UnknownShapeError(ValueError):
    """An op whose FLOPs depend on a shape the trace left unknown."""


def _dims(tensor: tf.Tensor, op: tf.Operation) -> list[int]:
    shape = tensor.shape
    if shape.rank is None or None in shape.as_list():
        raise UnknownShapeError(f"{op.type} {op.name}: shape {shape} is not static; trace the step "
                                "with concrete inputs")
    return shape.as_list()


def _kernel(op: tf.Operation) -> list[int]:
    """The filter's shape: an input of the forward op and of the input-gradient op, the
    output of the filter-gradient op."""
    if op.type.endswith(("BackpropFilter", "BackpropFilterV2")):
        return _dims(op.outputs[0], op)
    return _dims(op.inputs[1], op)


def _output_side(op: tf.Operation) -> list[int]:
    """The forward conv's output shape: its output, or the incoming gradient of a backprop."""
    return _dims(op.inputs[2] if op.type in _GRADIENTS else op.outputs[0], op)


def op_flops(op: tf.Operation) -> int:
    """FLOPs of one op (0 for ops not counted)."""
    if op.type in _CONVS | _CONV_BACKPROPS:
        # every output element is a dot product over the kernel's window and input channels
        return 2 * math.prod(_output_side(op)) * math.prod(_kernel(op)[:-1])
    if op.type in _DEPTHWISE:
        # per output channel: one window of one input channel
        return 2 * math.prod(_output_side(op)) * math.prod(_kernel(op)[:-2])
    if op.type in ("MatMul", "BatchMatMulV2", "BatchMatMulV3"):
        a = _dims(op.inputs[0], op)
        adjoint = op.get_attr("transpose_a" if op.type == "MatMul" else "adj_x")
        inner = a[-2] if adjoint else a[-1]
        return 2 * math.prod(_dims(op.outputs[0], op)) * inner
    return 0


def graph_flops(graph: tf.Graph) -> int:
    """FLOPs of the ops of ``graph`` that run — those its outputs and side effects need;
    TensorFlow prunes the rest, such as the input gradient of a model's first layer —
    and of the functions they call (each call counted; of a conditional's branches, the
    most expensive)."""
    return sum(op_flops(op) + _called_flops(graph, op) for op in _ops_that_run(graph))


def _ops_that_run(graph: tf.Graph) -> list[tf.Operation]:
    needed = [t.op for t in graph.outputs] + list(getattr(graph, "control_outputs", []))
    seen: dict[str, tf.Operation] = {}
    while needed:
        op = needed.pop()
        if op.name in seen:
            continue
        seen[op.name] = op
        needed.extend(t.op for t in op.inputs)
        needed.extend(op.control_inputs)
    return list(seen.values())


def _called_flops(graph: tf.Graph, op: tf.Operation) -> int:
    names = []
    for attr in op.node_def.attr.values():
        if attr.HasField("func"):
            names.append([attr.func.name])
        elif attr.list.func:
            names.append([f.name for f in attr.list.func])  # Case/If branches: one runs
    total = 0
    for branch in names:
        costs = []
        for name in branch:
            function = graph._get_function(name)  # pylint: disable=protected-access
            costs.append(0 if function is None else graph_flops(function.graph))
        total += max(costs, default=0)
    return total


def step_flops(step: Callable, *args) -> int:
    """FLOPs of one call of ``step`` (a Python function or a ``tf.function``) on ``args``."""
    function = step if isinstance(step, tf.types.experimental.PolymorphicFunction) else tf.function(step)
    return graph_flops(function.get_concrete_function(*args).graph)
