"""Wrap a generator's ONNX graph so it takes and returns uint8 HWC frames.

The engine then does the normalisation (uint8 -> [0, 1] float, NHWC -> NCHW, and back, with
rounding and clipping) on the GPU, and the host copies a quarter of the bytes of float32.
"""
from __future__ import annotations

import onnx
from onnx import TensorProto, helper, numpy_helper
import numpy as np

FRAME_IN, FRAME_OUT = "frame", "frame_2x"


def wrap_uint8_hwc(model: onnx.ModelProto) -> onnx.ModelProto:
    graph = model.graph
    lr, sr = graph.input[0].name, graph.output[0].name
    consts = [numpy_helper.from_array(np.array(v, np.float32), name) for name, v in
              (("io_inv255", 1 / 255), ("io_255", 255.0), ("io_zero", 0.0))]
    pre = [helper.make_node("Cast", [FRAME_IN], ["io_f"], to=TensorProto.FLOAT),
           helper.make_node("Mul", ["io_f", "io_inv255"], ["io_fn"]),
           helper.make_node("Transpose", ["io_fn"], [lr], perm=[0, 3, 1, 2])]
    post = [helper.make_node("Mul", [sr, "io_255"], ["io_o1"]),
            helper.make_node("Clip", ["io_o1", "io_zero", "io_255"], ["io_o2"]),
            helper.make_node("Round", ["io_o2"], ["io_o3"]),
            helper.make_node("Transpose", ["io_o3"], ["io_o4"], perm=[0, 2, 3, 1]),
            # TensorRT allows uint8 only at the graph's edges, so the cast comes last.
            helper.make_node("Cast", ["io_o4"], [FRAME_OUT], to=TensorProto.UINT8)]
    nodes = pre + list(graph.node) + post
    del graph.node[:]
    graph.node.extend(nodes)
    graph.initializer.extend(consts)
    del graph.input[:]
    graph.input.append(helper.make_tensor_value_info(FRAME_IN, TensorProto.UINT8, [1, "height", "width", 3]))
    del graph.output[:]
    graph.output.append(helper.make_tensor_value_info(FRAME_OUT, TensorProto.UINT8, [1, "height2", "width2", 3]))
    onnx.checker.check_model(model)
    return model
