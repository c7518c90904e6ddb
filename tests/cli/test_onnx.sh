#!/usr/bin/env bash
# End-to-end tests of the ONNX reader: models written by Python's `onnx` package (helper.make_graph,
# numpy_helper.from_array), `onsager inspect --json` and `onsager convert` compared with what `onnx` and NumPy
# find in the same file (names, dtypes, shapes, values bit for bit); the real Silero VAD networks (legacy and
# v5, weights inside If branches); `onsager analyze` on them; quantised weights against NumPy's dequantisation;
# and the error contract on broken models.
#   tests/cli/test_onnx.sh PATH/TO/onsager      (ONSAGER_DATA: the data directory)
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh" "$@"
data="${ONSAGER_DATA:-$root/data}"

# The independent side: onnx + NumPy. `make DIR` writes the test models; `check MODEL INSPECT_JSON
# SAFETENSORS` enumerates the model's tensors itself (initializers, subgraph initializers, Constant tensors;
# names made unique with #2, #3, ...), works out each tensor's PyTorch layout from the ops that use it, and
# compares with onsager's inspect JSON and converted file; `fits ANALYZE_JSON` checks the power-law fits.
cat >"$tmp/truth.py" <<'EOF'
import json, os, sys
import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
sys.path.insert(0, sys.argv[-1])
import read_safetensors

SKIP = {TensorProto.STRING, TensorProto.COMPLEX64, TensorProto.COMPLEX128}

def make(d):
    rng = np.random.default_rng(1)
    f32 = lambda *s: rng.standard_normal(s).astype(np.float32)
    init = [numpy_helper.from_array(a, n) for n, a in [
        ("conv_w", f32(4, 3, 3, 3)), ("gemm_b0", f32(7, 5)), ("gemm_b1", f32(5, 7)), ("mm", f32(7, 6)),
        ("convt", f32(3, 2, 2, 2)), ("lstm_W", f32(2, 16, 7)), ("lstm_R", f32(2, 16, 4)),
        ("h16", rng.standard_normal((3, 4)).astype(np.float16)), ("d64", rng.standard_normal((2, 3))),
        ("shape_i64", np.array([1, -1], dtype=np.int64))]]
    then_g = helper.make_graph(
        [helper.make_node("MatMul", ["A6", "inner_w"], ["t"])], "then", [], [],
        initializer=[numpy_helper.from_array(f32(6, 6), "inner_w")])
    else_g = helper.make_graph(
        [helper.make_node("Constant", [], ["inner_w"], value=numpy_helper.from_array(f32(2, 2), "c"))],
        "else", [], [], initializer=[numpy_helper.from_array(f32(6, 6), "inner_w")])
    nodes = [
        helper.make_node("Conv", ["X", "conv_w"], ["y0"]),
        helper.make_node("Gemm", ["A", "gemm_b0"], ["y1"], transB=0),
        helper.make_node("Gemm", ["A", "gemm_b1"], ["y2"], transB=1),
        helper.make_node("MatMul", ["A", "mm"], ["y3"]),
        helper.make_node("ConvTranspose", ["X", "convt"], ["y4"]),
        helper.make_node("LSTM", ["S", "lstm_W", "lstm_R"], ["y5"], hidden_size=4, direction="bidirectional"),
        helper.make_node("Constant", [], ["const_t"], value=numpy_helper.from_array(f32(2, 5), "v")),
        helper.make_node("If", ["cond"], ["y6"], then_branch=then_g, else_branch=else_g),
    ]
    g = helper.make_graph(nodes, "test", [helper.make_tensor_value_info("X", TensorProto.FLOAT, [1, 3, 8, 8])],
                          [helper.make_tensor_value_info("y0", TensorProto.FLOAT, None)], initializer=init)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
    onnx.save(m, os.path.join(d, "small.onnx"))
    os.makedirs(os.path.join(d, "ext"))
    onnx.save_model(m, os.path.join(d, "ext", "model.onnx"), save_as_external_data=True,
                    all_tensors_to_one_file=True, location="weights.bin", size_threshold=0)
    # hostile external locations
    for label, loc in [("dotdot", "../weights.bin"), ("absolute", "/etc/hostname"), ("missing", "gone.bin")]:
        mm = onnx.load(os.path.join(d, "ext", "model.onnx"), load_external_data=False)
        for t in mm.graph.initializer:
            for kv in t.external_data:
                if kv.key == "location": kv.value = loc
        with open(os.path.join(d, "ext", label + ".onnx"), "wb") as f: f.write(mm.SerializeToString())

def use_perm(node, i, rank):
    op = node.op_type
    attr = {a.name: helper.get_attribute_value(a) for a in node.attribute}
    if op == "Conv" and i == 1 and rank >= 3: return (op, None)
    if op == "ConvTranspose" and i == 1 and rank >= 3: return (op, (1, 0) + tuple(range(2, rank)))
    if op == "Gemm" and i in (0, 1) and rank == 2:
        t = attr.get("transA" if i == 0 else "transB", 0)
        return (op, (1, 0) if (i == 1) != bool(t) else None)
    if op == "MatMul" and i in (0, 1) and rank == 2: return (op, (1, 0) if i == 1 else None)
    if op in ("LSTM", "GRU", "RNN") and i in (1, 2) and rank == 3: return (op, (1, 2, 0))
    return None

def enumerate_tensors(model):
    out, names = [], set()
    def add(t, name):
        if t.data_type in SKIP: return None
        n, k = name, 2
        while n in names: n, k = f"{name}#{k}", k + 1
        names.add(n)
        out.append({"name": n, "proto": t, "uses": []})
        return len(out) - 1
    def visit(g, scopes):
        scope = {i.name: None for i in g.input}
        scopes.append(scope)
        for t in g.initializer: scope[t.name] = add(t, t.name)
        for node in g.node:
            for i, name in enumerate(node.input):
                idx = next((s[name] for s in reversed(scopes) if name in s), None) if name else None
                if idx is not None:
                    u = use_perm(node, i, len(out[idx]["proto"].dims))
                    if u: out[idx]["uses"].append(u)
            for a in node.attribute:
                if a.type == onnx.AttributeProto.GRAPH: visit(a.g, scopes)
                elif a.type == onnx.AttributeProto.GRAPHS:
                    for sg in a.graphs: visit(sg, scopes)
            value = next((a.t for a in node.attribute if a.name == "value" and a.type == onnx.AttributeProto.TENSOR),
                         None) if node.op_type == "Constant" else None
            for j, o in enumerate(node.output):
                if o: scope[o] = add(value, o) if (value is not None and j == 0) else None
        scopes.pop()
    visit(model.graph, [])
    for e in out:
        dims = list(e["proto"].dims)
        e["dtype"] = TensorProto.DataType.Name(e["proto"].data_type)
        e["stored"] = dims
        agree = e["uses"] and all(u == e["uses"][0] for u in e["uses"])
        e["op"] = e["uses"][0][0] if agree else None
        e["perm"] = e["uses"][0][1] if agree else None
        e["shape"] = [dims[p] for p in e["perm"]] if e["perm"] else dims
    return out

def check(model_path, inspect_json, st_path):
    model = onnx.load(model_path)  # loads external data from the model's directory
    want = enumerate_tensors(model)
    got = json.load(open(inspect_json))["tensors"]
    errors = []
    if [w["name"] for w in want] != [g["name"] for g in got]:
        errors.append(f"names differ: onnx {len(want)} {[w['name'] for w in want][:8]}... onsager {len(got)} {[g['name'] for g in got][:8]}...")
    for w, g in zip(want, got):
        for key, gk in [("dtype", "dtype"), ("stored", "stored_shape"), ("shape", "shape"), ("op", "op")]:
            if w[key] != g[gk]: errors.append(f"{w['name']}: {key} onnx {w[key]} onsager {g[gk]}")
    tensors, _ = read_safetensors.load(st_path)
    conv = {n: a for n, _, _, a in tensors}
    floating = [w for w in want if w["dtype"] in ("FLOAT", "DOUBLE", "FLOAT16", "BFLOAT16")]
    if sorted(conv) != sorted(w["name"] for w in floating):
        errors.append(f"converted names differ: {sorted(conv)[:5]} vs {sorted(w['name'] for w in floating)[:5]}")
    for w in floating:
        a = numpy_helper.to_array(w["proto"]).astype(np.float64)
        if w["perm"]: a = np.transpose(a, w["perm"])
        b = conv.get(w["name"])
        if b is None or b.shape != a.shape or not np.array_equal(a, b):
            errors.append(f"{w['name']}: values differ after convert")
    n_float = len(floating)
    print(f"{len(want)} tensors ({n_float} floating, {sum(1 for w in want if w['perm'])} moved to PyTorch's layout)")
    if errors:
        print("\n".join(errors[:10]), file=sys.stderr)
        sys.exit(1)

def fits(analyze_json):
    d = json.load(open(analyze_json))
    bad, small = [], []
    for l in d["layers"]:
        a = l.get("alpha")
        if a is None or not np.isfinite(a) or a <= 1: bad.append(f"{l['name']}: alpha {a}")
        if not l["valid_fit"]:
            # DESIGN.md §6: alpha from a matrix with M < 50 eigenvalues per slice is unreliable; analyze fits it
            # but marks the fit invalid and says so. Any other invalid fit is a failure.
            if l["M"] < 50 and "too small" in l["phase_reason"]: small.append(f"{l['name']} (M={l['M']})")
            else: bad.append(f"{l['name']}: invalid fit ({l['phase_reason']})")
    print(f"{len(d['layers'])} layers, all with a finite alpha > 1; {len(d['layers']) - len(small)} valid fits; "
          f"{len(small)} marked invalid because M < 50: {', '.join(small[:4])}{' ...' if len(small) > 4 else ''}")
    if bad or not d["layers"]:
        print("\n".join(bad[:10]) or "no layers", file=sys.stderr)
        sys.exit(1)

if __name__ == "__main__":
    {"make": lambda: make(sys.argv[2]), "check": lambda: check(*sys.argv[2:5]),
     "fits": lambda: fits(sys.argv[2])}[sys.argv[1]]()
EOF
truth() { "$py" "$tmp/truth.py" "$@" "$here"; }

# compare MODEL LABEL: inspect --json and convert (f64, so every value compares exactly) against onnx + NumPy.
compare() {
  local model="$1" label="$2"
  rm -f "$tmp/c.safetensors"
  if "$bin" inspect "$model" --json >"$tmp/inspect.json" 2>"$tmp/err" &&
     "$bin" convert "$model" --out "$tmp/c.safetensors" --dtype f64 --quiet >/dev/null 2>>"$tmp/err" &&
     truth check "$model" "$tmp/inspect.json" "$tmp/c.safetensors" >"$tmp/check" 2>>"$tmp/err"
  then ok "$label: $(cat "$tmp/check")"
  else bad "$label" "$(cat "$tmp/err" | head -12)"; fi
}

truth make "$tmp"
compare "$tmp/small.onnx" "onnx-written model (every op layout, If branches, Constants)"
compare "$tmp/ext/model.onnx" "the same model with external data (weights.bin)"
fmt=$("$bin" inspect "$tmp/small.onnx" --json | "$py" -c "import json,sys; print(json.load(sys.stdin)['format'])")
[ "$fmt" = "onnx (opset 13)" ] && ok "format: $fmt" || bad "format" "$fmt"

# The real networks: every tensor onnx finds (names, dtypes, shapes), values after convert, and fits.
for net in silero_vad_legacy silero_vad_v5; do
  f="$data/networks/silero-vad/$net.onnx"
  if [ ! -f "$f" ]; then bad "$net" "missing $f (run scripts/setup.sh)"; continue; fi
  compare "$f" "$net"
  if "$bin" analyze "$f" --json --min-evals 10 --quiet >"$tmp/analyze.json" 2>"$tmp/err" &&
     truth fits "$tmp/analyze.json" >"$tmp/fits" 2>>"$tmp/err"
  then ok "$net analyze: $(cat "$tmp/fits")"
  else bad "$net analyze" "$(head -12 "$tmp/err")"; fi
done

# Quantised weights (tests/cli/quantized_onnx.py): QLinearConv, QLinearMatMul, DequantizeLinear and
# quantize_dynamic's MatMulInteger / ConvInteger, per tensor and per channel. inspect's `dequantized` and the
# values convert writes (F64 and F32) must equal NumPy's (q - zero_point) * scale of the arrays python3-onnx
# saved, exactly; analyze must report the layers; a bad scale, zero point or axis is one error line.
if "$py" "$here/quantized_onnx.py" write "$tmp/quant" 2>"$tmp/err"; then
  for m in qlinear qdq dynamic; do
    f="$tmp/quant/$m.onnx"
    rm -f "$tmp/q64.safetensors" "$tmp/q32.safetensors"
    if "$bin" inspect "$f" --json >"$tmp/q.json" 2>"$tmp/err" &&
       "$bin" convert "$f" --out "$tmp/q64.safetensors" --dtype f64 --quiet >/dev/null 2>>"$tmp/err" &&
       "$bin" convert "$f" --out "$tmp/q32.safetensors" --quiet >"$tmp/convert_out" 2>>"$tmp/err" &&
       "$py" "$here/quantized_onnx.py" check "$tmp/quant" "$m" "$tmp/q.json" "$tmp/q64.safetensors" \
         "$tmp/q32.safetensors" >"$tmp/check" 2>>"$tmp/err"
    then ok "quantised ($m.onnx): $(cat "$tmp/check")"
    else bad "quantised ($m.onnx)" "$(head -12 "$tmp/err")"; fi
  done
  grep -q "6 dequantised, 2 without a known scale: q - zero_point" "$tmp/convert_out" &&
    ok "convert says what it dequantised: $(cat "$tmp/convert_out")" || bad "convert's summary line" "$(cat "$tmp/convert_out")"
  if "$bin" analyze "$tmp/quant/dynamic.onnx" --json --quiet >"$tmp/qa.json" 2>"$tmp/err" &&
     n=$("$py" -c "import json,sys; l=json.load(open(sys.argv[1]))['layers']; assert all(x['dequantized'] for x in l); print(len(l))" "$tmp/qa.json")
  then ok "analyze reports the $n dequantised layers of dynamic.onnx, each marked"
  else bad "analyze on dynamic.onnx" "$(head -5 "$tmp/err")"; fi
  "$py" "$here/quantized_onnx.py" broken "$tmp/quant" >/dev/null
  for case in "scale_inf:holds inf at element 0 (a scale must be finite)" \
              "scale_shape:scale 'conv_c.s' has shape \[3\] but weight 'conv_c.w' \[16, 6, 3, 3\] takes a scalar or \[16\]" \
              "scale_dtype:scale 'dq_conv_t.s' of weight 'dq_conv_t.w' is INT64" \
              "zero_point_range:zero point 'conv_t.z' holds 300 at element 0, outside UINT8's range 0..255" \
              "axis:axis 5 is out of range for weight 'dq_mm.w' of rank 2"; do
    what="${case%%:*}"
    expect_error_file_matching "quantised, broken $what" "$tmp/qb.safetensors" "${case#*:}" \
      "$bin" convert "$tmp/quant/broken_$what.onnx" --out "$tmp/qb.safetensors"
  done
else
  bad "writing the quantised models" "$(tail -3 "$tmp/err")"
fi

# Errors: exit 1, one line on stderr, no output file.
head -c 300 "$tmp/small.onnx" >"$tmp/cut.onnx"
expect_error "truncated model" "" "$bin" inspect "$tmp/cut.onnx"
expect_error "truncated model, convert" "$tmp/cut_out.safetensors" "$bin" convert "$tmp/cut.onnx" --out "$tmp/cut_out.safetensors"
head -c 2000 /dev/urandom >"$tmp/random.onnx"
expect_error "random bytes" "$tmp/rand_out.safetensors" "$bin" convert "$tmp/random.onnx" --out "$tmp/rand_out.safetensors"
for label in dotdot absolute missing; do
  expect_error "external data: $label" "$tmp/ext_out.safetensors" "$bin" convert "$tmp/ext/$label.onnx" --out "$tmp/ext_out.safetensors"
done
head -c 100 "$tmp/ext/weights.bin" >"$tmp/w" && cp "$tmp/w" "$tmp/ext/weights.bin"
expect_error "external data file truncated" "$tmp/ext_out.safetensors" "$bin" analyze "$tmp/ext/model.onnx" --quiet

finish
