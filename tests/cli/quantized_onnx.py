#!/usr/bin/python3
"""ONNX models with quantised weights, written with python3-onnx (helper.make_node, numpy_helper.from_array),
and the values onsager must read back, worked out here independently: each weight's q, scale and zero point
are loaded again from the saved file with numpy_helper.to_array and dequantised with NumPy in float64,
(q - zero_point) * scale broadcast along the quantisation axis, then put into PyTorch's layout (MatMul weights
in x out -> out x in).

    quantized_onnx.py write DIR            writes DIR/<model>.onnx and DIR/expected.npz (+ expected.json)
    quantized_onnx.py check DIR MODEL INSPECT_JSON F64.safetensors F32.safetensors
                                           compares onsager's inspect --json and its two converted files
                                           with the expectation; one summary line, exit 1 on a mismatch
    quantized_onnx.py broken DIR           writes DIR/broken_<what>.onnx from the models in DIR, each with
                                           one bad scale, zero point or axis; prints what, one a line

Models: QLinearConv and QLinearMatMul (per-tensor and per-channel / per-column scale and zero point);
DequantizeLinear feeding Conv, MatMul and Gemm (per-tensor, per-axis with a positive and a negative axis, no
zero point, a Constant scale, an INT32 bias with the default axis); and onnxruntime.quantization's
quantize_dynamic layout (DynamicQuantizeLinear -> MatMulInteger / ConvInteger -> Cast -> Mul by
Mul(activation scale, weight scale)), per-tensor and per-channel, plus a ConvInteger whose scale the graph does
not show (expected: q - zero_point, scale unknown). fuzz/make_onnx_corpus.py writes small versions of the same
models as fuzzer seeds (models(small=True)).

The comparison is exact (tolerance 0): q - zero_point is an integer of at most 9 bits and the scale a float32,
so their product is exact in float64; in float32 it is rounded once, as ONNX's own float arithmetic rounds it.
"""
import json
import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 13


def quantize(w, qtype, axis=None):
    """Affine quantisation of float w into qtype (np.int8 / np.uint8): per tensor, or per slice along axis."""
    info = np.iinfo(qtype)
    other = tuple(i for i in range(w.ndim) if i != axis) if axis is not None else None
    lo = np.minimum(w.min(axis=other), 0).astype(np.float64)
    hi = np.maximum(w.max(axis=other), 0).astype(np.float64)
    scale = ((hi - lo) / (info.max - info.min)).astype(np.float32)
    zp = np.clip(np.round(info.min - lo / scale), info.min, info.max).astype(qtype)
    b = [1] * w.ndim
    if axis is not None:
        b[axis] = -1
    q = np.clip(np.round(w / scale.reshape(b)) + zp.reshape(b).astype(np.float64), info.min, info.max)
    return q.astype(qtype), scale, zp


def dequantize(q, scale, zp, axis):
    """(q - zp) * scale in float64; scale and zp (None: 0) hold one value or one per slice along `axis`."""
    def along(v):
        v = np.asarray(v, np.float64).reshape(-1)
        if v.size == 1:
            return v[0]
        b = [1] * q.ndim
        b[axis % q.ndim] = -1
        return v.reshape(b)
    return (q.astype(np.float64) - (0.0 if zp is None else along(zp))) * along(scale)


class Model:
    """One graph being built: its initializers and nodes, and what each quantised weight should read back as."""

    def __init__(self, name, rng, small):
        self.name, self.rng, self.small = name, rng, small
        self.inits, self.nodes, self.want = [], [], []
        self.uint8_inputs = set()  # graph inputs (activations) of type UINT8; the others are FLOAT

    def f32(self, *shape):
        return (self.rng.standard_normal(shape) + 0.2).astype(np.float32)

    def dim(self, big, little):
        return little if self.small else big

    def tensor(self, name, a):
        self.inits.append(numpy_helper.from_array(np.asarray(a), name))
        return name

    def expect(self, weight, op, scale, zp, axis, per_channel, perm=None, in_layout=None):
        """weight will read back dequantised (scale None: unknown, values q - zp), moved by perm."""
        self.want.append({"name": weight, "op": op, "scale": scale, "zero_point": zp, "axis": axis,
                          "per_channel": per_channel, "perm": perm, "layout_op": op if in_layout is None else in_layout})

    def save(self, d):
        known = {t.name for t in self.inits}
        inputs = []
        for node in self.nodes:
            for i in node.input:
                if i and i not in known:
                    elem = TensorProto.UINT8 if i in self.uint8_inputs else TensorProto.FLOAT
                    inputs.append(helper.make_tensor_value_info(i, elem, ["n"]))
                    known.add(i)
            known.update(node.output)
        last = self.nodes[-1].output[0]
        g = helper.make_graph(self.nodes, self.name, inputs, [helper.make_tensor_value_info(last, TensorProto.FLOAT, ["n"])],
                              initializer=self.inits)
        m = helper.make_model(g, opset_imports=[helper.make_opsetid("", OPSET)])
        onnx.checker.check_model(m)
        path = os.path.join(d, self.name + ".onnx")
        onnx.save(m, path)
        return path


def qlinear(m):
    """QLinearConv and QLinearMatMul: the weight's scale and zero point are inputs of the node."""
    m.uint8_inputs = {"x", "xz", "yz", "a", "az"}
    c = m.dim(16, 4)
    w = m.f32(c, 8, 3, 3)
    q, s, z = quantize(w, np.uint8)
    m.tensor("conv_t.w", q), m.tensor("conv_t.s", s), m.tensor("conv_t.z", z)
    m.nodes.append(helper.make_node("QLinearConv", ["x", "xs", "xz", "conv_t.w", "conv_t.s", "conv_t.z", "ys", "yz"],
                                    ["c0"], name="qconv_tensor"))
    m.expect("conv_t.w", "QLinearConv", "conv_t.s", "conv_t.z", 0, False)
    w = m.f32(c, 6, 3, 3)
    q, s, z = quantize(w, np.int8, axis=0)
    m.tensor("conv_c.w", q), m.tensor("conv_c.s", s), m.tensor("conv_c.z", z)
    m.nodes.append(helper.make_node("QLinearConv", ["x", "xs", "xz", "conv_c.w", "conv_c.s", "conv_c.z", "ys", "yz"],
                                    ["c1"], name="qconv_channel"))
    m.expect("conv_c.w", "QLinearConv", "conv_c.s", "conv_c.z", 0, True)
    k, n = m.dim(24, 5), m.dim(20, 4)
    q, s, z = quantize(m.f32(k, n), np.uint8)
    m.tensor("mm_t.b", q), m.tensor("mm_t.s", s.reshape(1)), m.tensor("mm_t.z", z.reshape(1))  # [1]: per-tensor
    m.nodes.append(helper.make_node("QLinearMatMul", ["a", "as", "az", "mm_t.b", "mm_t.s", "mm_t.z", "ys", "yz"],
                                    ["m0"], name="qmm_tensor"))
    m.expect("mm_t.b", "QLinearMatMul", "mm_t.s", "mm_t.z", 1, False, perm=(1, 0))
    q, s, z = quantize(m.f32(k, n), np.int8, axis=1)  # per column of B
    m.tensor("mm_c.b", q), m.tensor("mm_c.s", s), m.tensor("mm_c.z", z)
    m.nodes.append(helper.make_node("QLinearMatMul", ["a", "as", "az", "mm_c.b", "mm_c.s", "mm_c.z", "ys", "yz"],
                                    ["m1"], name="qmm_column"))
    m.expect("mm_c.b", "QLinearMatMul", "mm_c.s", "mm_c.z", 1, True, perm=(1, 0))


def qdq(m):
    """DequantizeLinear weights (the QDQ format): the op the output feeds gives the layout."""
    c = m.dim(12, 4)
    bias = m.rng.integers(-5000, 5000, size=c).astype(np.int32)  # a QDQ bias: 1-D, default axis 1 ignored
    m.tensor("dq_bias.b", bias), m.tensor("dq_bias.s", np.array(1e-3, np.float32))
    m.nodes.append(helper.make_node("DequantizeLinear", ["dq_bias.b", "dq_bias.s"], ["b0"]))
    m.expect("dq_bias.b", "DequantizeLinear", "dq_bias.s", None, 1, False, in_layout="")
    q, s, z = quantize(m.f32(c, 5, 3, 3), np.uint8)
    m.tensor("dq_conv_t.w", q), m.tensor("dq_conv_t.s", s), m.tensor("dq_conv_t.z", z)
    m.nodes += [helper.make_node("DequantizeLinear", ["dq_conv_t.w", "dq_conv_t.s", "dq_conv_t.z"], ["w0"]),
                helper.make_node("Conv", ["x", "w0", "b0"], ["c0"])]
    m.expect("dq_conv_t.w", "DequantizeLinear", "dq_conv_t.s", "dq_conv_t.z", 0, False, in_layout="Conv")
    q, s, z = quantize(m.f32(c, 5, 3, 3), np.int8, axis=0)
    m.tensor("dq_conv_c.w", q), m.tensor("dq_conv_c.s", s), m.tensor("dq_conv_c.z", z)
    m.nodes += [helper.make_node("DequantizeLinear", ["dq_conv_c.w", "dq_conv_c.s", "dq_conv_c.z"], ["w1"], axis=0),
                helper.make_node("Conv", ["x", "w1"], ["c1"])]
    m.expect("dq_conv_c.w", "DequantizeLinear", "dq_conv_c.s", "dq_conv_c.z", 0, True, in_layout="Conv")
    k, n = m.dim(24, 5), m.dim(18, 4)
    q, s, z = quantize(m.f32(k, n), np.int8, axis=1)  # default axis 1: per column of the in x out weight
    m.tensor("dq_mm.w", q), m.tensor("dq_mm.s", s), m.tensor("dq_mm.z", z)
    m.nodes += [helper.make_node("DequantizeLinear", ["dq_mm.w", "dq_mm.s", "dq_mm.z"], ["w2"]),
                helper.make_node("MatMul", ["a", "w2"], ["m0"])]
    m.expect("dq_mm.w", "DequantizeLinear", "dq_mm.s", "dq_mm.z", 1, True, perm=(1, 0), in_layout="MatMul")
    q, s, _ = quantize(m.f32(n, k), np.int8, axis=0)  # Gemm transB=1 (out x in), axis -2, no zero point
    m.tensor("dq_gemm.w", q), m.tensor("dq_gemm.s", s)
    m.nodes += [helper.make_node("DequantizeLinear", ["dq_gemm.w", "dq_gemm.s"], ["w3"], axis=-2),
                helper.make_node("Gemm", ["a", "w3"], ["g0"], transB=1)]
    m.expect("dq_gemm.w", "DequantizeLinear", "dq_gemm.s", None, 0, True, in_layout="Gemm")
    q, s, z = quantize(m.f32(k, n), np.uint8)  # the scale from a Constant node
    m.tensor("dq_const.w", q), m.tensor("dq_const.z", z)
    m.nodes += [helper.make_node("Constant", [], ["dq_const.s"], value=numpy_helper.from_array(s, "v")),
                helper.make_node("DequantizeLinear", ["dq_const.w", "dq_const.s", "dq_const.z"], ["w4"]),
                helper.make_node("MatMul", ["a", "w4"], ["m1"])]
    m.expect("dq_const.w", "DequantizeLinear", "dq_const.s", "dq_const.z", 1, False, perm=(1, 0), in_layout="MatMul")


def dynamic(m):
    """onnxruntime.quantization.quantize_dynamic's layout: the weight scale only appears in a Mul after the node."""
    k, n = m.dim(32, 6), m.dim(24, 5)

    def integer_op(op, prefix, weight, scale, zp, scale_dims=None, cast=True, mul=True, bias=False):
        x, xq, xs, xz = prefix + ".x", prefix + ".xq", prefix + ".xs", prefix + ".xz"
        m.tensor(prefix + ".w", weight), m.tensor(prefix + ".w_zp", zp)
        m.tensor(prefix + ".w_scale", scale if scale_dims is None else scale.reshape(scale_dims))
        m.nodes.append(helper.make_node("DynamicQuantizeLinear", [x], [xq, xs, xz]))
        m.nodes.append(helper.make_node(op, [xq, prefix + ".w", xz, prefix + ".w_zp"], [prefix + ".i"],
                                        name=prefix + "_quant"))
        v = prefix + ".i"
        if bias:
            m.tensor(prefix + ".bq", np.zeros(1, np.int32))
            m.nodes.append(helper.make_node("Add", [v, prefix + ".bq"], [prefix + ".ib"]))
            v = prefix + ".ib"
        if cast:
            m.nodes.append(helper.make_node("Cast", [v], [prefix + ".f"], to=TensorProto.FLOAT))
            v = prefix + ".f"
        m.nodes.append(helper.make_node("Mul", [xs, prefix + ".w_scale"], [prefix + ".scales_mul"]))
        if mul:
            m.nodes.append(helper.make_node("Mul", [v, prefix + ".scales_mul"], [prefix + ".y"]))
        else:  # the output does not go through the scales' Mul: the weight's scale is not shown
            m.nodes.append(helper.make_node("Relu", [v], [prefix + ".y"]))

    q, s, z = quantize(m.f32(k, n), np.uint8)
    integer_op("MatMulInteger", "mmi_t", q, s, z)
    m.want.append({"name": "mmi_t.w", "op": "MatMulInteger", "scale": "mmi_t.w_scale", "zero_point": "mmi_t.w_zp",
                   "axis": 1, "per_channel": False, "perm": (1, 0), "layout_op": "MatMulInteger"})
    q, s, z = quantize(m.f32(k, n), np.uint8, axis=1)  # per column: b_zero_point [N], scale [N]
    integer_op("MatMulInteger", "mmi_c", q, s, z, bias=True)
    m.want.append({"name": "mmi_c.w", "op": "MatMulInteger", "scale": "mmi_c.w_scale", "zero_point": "mmi_c.w_zp",
                   "axis": 1, "per_channel": True, "perm": (1, 0), "layout_op": "MatMulInteger"})
    c = m.dim(16, 4)
    q, s, z = quantize(m.f32(c, 8, 3, 3), np.uint8)
    integer_op("ConvInteger", "ci_t", q, s, z)
    m.want.append({"name": "ci_t.w", "op": "ConvInteger", "scale": "ci_t.w_scale", "zero_point": "ci_t.w_zp",
                   "axis": 0, "per_channel": False, "perm": None, "layout_op": "ConvInteger"})
    q, s, z = quantize(m.f32(c, 8, 3, 3), np.uint8, axis=0)  # w_zero_point [M]; scale [M, 1, 1] on the channels
    integer_op("ConvInteger", "ci_c", q, s, z, scale_dims=(c, 1, 1))
    m.want.append({"name": "ci_c.w", "op": "ConvInteger", "scale": "ci_c.w_scale", "zero_point": "ci_c.w_zp",
                   "axis": 0, "per_channel": True, "perm": None, "layout_op": "ConvInteger"})
    q, s, z = quantize(m.f32(c, 8, 3, 3), np.uint8)
    integer_op("ConvInteger", "ci_u", q, s, z, mul=False)
    m.want.append({"name": "ci_u.w", "op": "ConvInteger", "scale": None, "zero_point": "ci_u.w_zp",
                   "axis": 0, "per_channel": False, "perm": None, "layout_op": "ConvInteger"})
    q, s, z = quantize(m.f32(c, 8, 3, 3), np.uint8, axis=0)  # a [M] scale broadcasts on the output's width
    integer_op("ConvInteger", "ci_w", q, s, z[:1])
    m.want.append({"name": "ci_w.w", "op": "ConvInteger", "scale": None, "zero_point": "ci_w.w_zp",
                   "axis": 0, "per_channel": False, "perm": None, "layout_op": "ConvInteger"})


def models(small=False, seed=5):
    """The test models, each a Model ready to save."""
    rng = np.random.default_rng(seed)
    out = []
    for name, build in [("qlinear", qlinear), ("qdq", qdq), ("dynamic", dynamic)]:
        m = Model(name, rng, small)
        build(m)
        out.append(m)
    return out


def expected_values(path, want):
    """Each weight of `want` dequantised from the arrays in the saved model (float64, PyTorch layout)."""
    model = onnx.load(path)
    arrays = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    for node in model.graph.node:
        if node.op_type == "Constant":
            arrays[node.output[0]] = numpy_helper.to_array(node.attribute[0].t)
    out = {}
    for w in want:
        q = arrays[w["name"]]
        scale = arrays[w["scale"]].reshape(-1) if w["scale"] else np.ones(1, np.float32)
        zp = arrays[w["zero_point"]].reshape(-1) if w["zero_point"] else None
        v = dequantize(q, scale, zp, w["axis"])
        out[w["name"]] = np.transpose(v, w["perm"]) if w["perm"] else v
    return out


def write(d):
    os.makedirs(d, exist_ok=True)
    values, meta = {}, {}
    for m in models():
        path = m.save(d)
        for name, v in expected_values(path, m.want).items():
            values[f"{m.name}/{name}"] = v
        meta[m.name] = m.want
    np.savez(os.path.join(d, "expected.npz"), **values)
    with open(os.path.join(d, "expected.json"), "w") as f:
        json.dump(meta, f)


def check(d, model, inspect_json, f64_path, f32_path):
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import read_safetensors

    want = {w["name"]: w for w in json.load(open(os.path.join(d, "expected.json")))[model]}
    values = np.load(os.path.join(d, "expected.npz"))
    got = {t["name"]: t for t in json.load(open(inspect_json))["tensors"]}
    conv64 = {n: a for n, _, _, a in read_safetensors.load(f64_path)[0]}
    conv32 = {n: a for n, _, _, a in read_safetensors.load(f32_path)[0]}
    errors, unknown = [], 0
    for t in got.values():
        if t.get("dequantized") and t["name"] not in want:
            errors.append(f"{t['name']}: dequantised, but it is not a quantised weight")
    for name, w in want.items():
        t = got.get(name)
        if t is None:
            errors.append(f"{name}: missing from inspect")
            continue
        d = t.get("dequantized") or {}
        expect = {"op": w["op"], "scheme": "per-channel" if w["per_channel"] else "per-tensor",
                  "axis": w["axis"] if w["per_channel"] else None, "scale": w["scale"],
                  "scale_known": w["scale"] is not None, "zero_point": w["zero_point"]}
        if d != expect:
            errors.append(f"{name}: dequantized {d}, expected {expect}")
        if (t.get("op") or "") != w["layout_op"]:
            errors.append(f"{name}: op {t.get('op')}, expected {w['layout_op'] or None}")
        ref = values[f"{model}/{name}"]
        unknown += w["scale"] is None
        a = conv64.get(name)
        if a is None or a.shape != ref.shape or not np.array_equal(a, ref):
            errors.append(f"{name}: F64 values differ from NumPy's (q - zero_point) * scale")
        b = conv32.get(name)
        if b is None or b.shape != ref.shape or not np.array_equal(b, ref.astype(np.float32)):
            errors.append(f"{name}: F32 values differ from NumPy's float32 rounding")
        if list(t["shape"]) != list(ref.shape):
            errors.append(f"{name}: shape {t['shape']}, expected {list(ref.shape)}")
    if errors:
        print("\n".join(errors[:10]), file=sys.stderr)
        sys.exit(1)
    per_channel = sum(w["per_channel"] for w in want.values())
    print(f"{len(want)} quantised weights ({per_channel} per-channel, {unknown} with the scale unknown) "
          f"equal NumPy's dequantisation exactly, in F64 and F32")


def broken(d):
    def init(m, name):
        return next(t for t in m.graph.initializer if t.name == name)

    def scale_inf(m):
        init(m, "conv_t.s").CopyFrom(numpy_helper.from_array(np.array(np.inf, np.float32), "conv_t.s"))

    def scale_shape(m):
        init(m, "conv_c.s").CopyFrom(numpy_helper.from_array(np.ones(3, np.float32), "conv_c.s"))

    def scale_dtype(m):
        init(m, "dq_conv_t.s").CopyFrom(numpy_helper.from_array(np.array(1, np.int64), "dq_conv_t.s"))

    def zero_point_range(m):  # a UINT8 zero point of 300 in int32_data
        init(m, "conv_t.z").CopyFrom(helper.make_tensor("conv_t.z", TensorProto.UINT8, [], [300]))

    def axis(m):
        node = next(n for n in m.graph.node if n.op_type == "DequantizeLinear" and n.input[0] == "dq_mm.w")
        node.attribute.append(helper.make_attribute("axis", 5))

    for what, model, change in [("scale_inf", "qlinear", scale_inf), ("scale_shape", "qlinear", scale_shape),
                                ("scale_dtype", "qdq", scale_dtype), ("zero_point_range", "qlinear", zero_point_range),
                                ("axis", "qdq", axis)]:
        m = onnx.load(os.path.join(d, model + ".onnx"))
        change(m)
        onnx.save(m, os.path.join(d, f"broken_{what}.onnx"))
        print(what)


if __name__ == "__main__":
    if sys.argv[1] == "write":
        write(sys.argv[2])
    elif sys.argv[1] == "check":
        check(*sys.argv[2:7])
    elif sys.argv[1] == "broken":
        broken(sys.argv[2])
    else:
        sys.exit(__doc__)
