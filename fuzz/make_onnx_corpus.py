#!/usr/bin/python3
"""Writes the ONNX fuzzer's seed corpus into SEEDS/onnx/ (each file well under 16 KB) with python3-onnx,
quantised weights included (small versions of tests/cli/quantized_onnx.py's models).

    /usr/bin/python3 fuzz/make_onnx_corpus.py SEEDS
"""
import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "cli"))
import quantized_onnx  # noqa: E402

out = os.path.join(sys.argv[1], "onnx")
os.makedirs(out, exist_ok=True)
rng = np.random.default_rng(3)
f32 = lambda *s: rng.standard_normal(s).astype(np.float32)  # noqa: E731


def save(name, nodes, inits):
    g = helper.make_graph(nodes, name, [], [], initializer=inits)
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)]), os.path.join(out, name + ".onnx"))


# Dense layers: Gemm transB 0/1, MatMul, raw data.
save("dense", [helper.make_node("Gemm", ["x", "fc1"], ["h"], transB=1),
               helper.make_node("MatMul", ["h", "fc2"], ["y"]),
               helper.make_node("Gemm", ["y", "fc3"], ["z"], transB=0)],
     [numpy_helper.from_array(f32(8, 6), "fc1"), numpy_helper.from_array(f32(8, 4), "fc2"),
      numpy_helper.from_array(f32(4, 3), "fc3"), numpy_helper.from_array(f32(8), "b1")])

# Conv, ConvTranspose, LSTM, a Constant and an If whose branches hold initializers (as Silero VAD v5 does).
then_g = helper.make_graph([helper.make_node("MatMul", ["a", "w"], ["t"])], "then", [], [],
                           initializer=[numpy_helper.from_array(f32(3, 3), "w")])
else_g = helper.make_graph([helper.make_node("Constant", [], ["w"], value=numpy_helper.from_array(f32(2), "c"))],
                           "else", [], [], initializer=[numpy_helper.from_array(f32(2, 2), "v")])
save("graph", [helper.make_node("Conv", ["x", "conv"], ["c"]),
               helper.make_node("ConvTranspose", ["c", "convt"], ["d"]),
               helper.make_node("LSTM", ["s", "W", "R"], ["l"], hidden_size=2),
               helper.make_node("Constant", [], ["k"], value=numpy_helper.from_array(np.array([1, 2], np.int64), "k")),
               helper.make_node("If", ["cond"], ["o"], then_branch=then_g, else_branch=else_g)],
     [numpy_helper.from_array(f32(3, 2, 2, 2), "conv"), numpy_helper.from_array(f32(3, 2, 2), "convt"),
      numpy_helper.from_array(f32(1, 8, 3), "W"), numpy_helper.from_array(f32(1, 8, 2), "R")])

# Typed fields (float_data, int32_data with float16/bfloat16 bit patterns, double_data, int64_data).
save("typed", [], [helper.make_tensor("f", TensorProto.FLOAT, [2, 3], f32(6).tolist()),
                   helper.make_tensor("h", TensorProto.FLOAT16, [4], rng.standard_normal(4).astype(np.float16)),
                   helper.make_tensor("bf", TensorProto.BFLOAT16, [2], [0x3F80, 0xC040], raw=False),
                   helper.make_tensor("d", TensorProto.DOUBLE, [2], [0.5, -1.25]),
                   helper.make_tensor("i", TensorProto.INT64, [3], [1, -2, 3]),
                   helper.make_tensor("u8", TensorProto.UINT8, [2], [0, 255])])

# External data in the fuzz target's fixed w.bin (64 bytes).
ext = []
for name, dt, dims, off, length in [("e", TensorProto.FLOAT, [2, 4], 0, 32), ("h", TensorProto.FLOAT16, [4], 32, 8),
                                    ("d", TensorProto.DOUBLE, [3], 40, 24)]:
    t = TensorProto(name=name, data_type=dt, dims=dims)
    t.data_location = TensorProto.EXTERNAL
    for k, v in [("location", "w.bin"), ("offset", str(off)), ("length", str(length))]:
        e = t.external_data.add()
        e.key, e.value = k, v
    ext.append(t)
save("external", [helper.make_node("MatMul", ["x", "e"], ["y"])], ext)

# Quantised weights: QLinearConv / QLinearMatMul, DequantizeLinear, quantize_dynamic's MatMulInteger / ConvInteger.
for m in quantized_onnx.models(small=True):
    m.name = "quantized_" + m.name
    m.save(out)
for f in sorted(os.listdir(out)):
    print(f, os.path.getsize(os.path.join(out, f)))
