#!/usr/bin/python3
"""Writes the bad-input corpus tests/data/bad/ (docs/building.md, "Bad-input corpus").

Each case is one input file (or none, for a command-line case), the vitsim command that reads it, the
expected exit code and a fragment of the expected message (stderr, or stdout for exit 0). The cases go to
tests/data/bad/manifest.tsv, which tests/bad_inputs_test.sh runs through the real CLI. The .vqg cases are
edits of base/tiny.vqg (a 4-layer conv net quantized from base/tiny.onnx, plus a matmul node), so every
file is a few kilobytes. Deterministic: running it again rewrites the same bytes.

    /usr/bin/python3 tools/make_bad_inputs.py     # needs python3-onnx and a built build/ci/vitsim
"""
import copy
import json
import os
import shutil
import struct
import subprocess
import sys
import zlib

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "tests", "data", "bad")
VITSIM = os.path.join(ROOT, "build", "ci", "vitsim")
DEEP = 70000  # nesting that crashed the recursive message dump (issue 17)

cases = []  # (file name or "-", expected rc, fragment, command with {f} = the file, {t} = a temp dir)


def case(name, content, rc, fragment, command):
    if content is not None:
        mode = "wb" if isinstance(content, bytes) else "w"
        with open(os.path.join(OUT, name), mode) as f:
            f.write(content)
    fragment = fragment or "vitsim: error: "
    for field in (fragment, command):
        assert "\t" not in field and "\n" not in field, field
    cases.append((name if content is not None else "-", rc, fragment, command))


def dumps(j):
    return json.dumps(j, indent=1)


def deep(levels, leaf="1"):
    return "[" * levels + leaf + "]" * levels


# ---------------------------------------------------------------------------------------------------
# JSON inputs: accelerator configs, recipes, sweep specs share one reader; each gets the same attacks.

def json_family(prefix, base, key, command, container=None, full_size=False):
    """Cases that set `key` (in `container`, a dict inside base) to hostile values, plus file-level ones.
    full_size: the issue's sizes (70,000 levels, 100,000 digits); else smaller ones that hit the same limits."""
    levels, digits, long = (DEEP, 100000, 100000) if full_size else (2000, 400, 3000)
    def with_value(raw):  # raw JSON text for the value
        j = copy.deepcopy(base)
        target = j if container is None else container(j)
        target[key] = "@@VALUE@@"
        return dumps(j).replace('"@@VALUE@@"', raw)

    case(prefix + "_deep_value.json", with_value(deep(levels)), 2, "nested deeper than 128", command)
    case(prefix + "_depth_129.json", with_value(deep(129)), 2, "nested deeper than 128", command)
    case(prefix + "_1e400.json", with_value("1e400"), 2, "number out of range: 1e400", command)
    case(prefix + "_100k_digits.json", with_value("9" * digits), 2, "number out of range", command)
    case(prefix + "_int64_overflow.json", with_value("9223372036854775808"), 2, "expected", command)
    case(prefix + "_uint64_max.json", with_value("18446744073709551615"), 2, "expected", command)
    case(prefix + "_20_digits.json", with_value("99999999999999999999"), 2, "expected", command)
    case(prefix + "_negative.json", with_value("-2147483649"), 2, "expected", command)
    case(prefix + "_escape_in_string.json", with_value('"\\u001b[31mred"'), 2, "", command)
    case(prefix + "_huge_string.json", with_value('"' + "x" * long + '"'), 2, "bytes)", command)
    j = copy.deepcopy(base)
    j["k" * long] = 1
    case(prefix + "_huge_unknown_key.json", dumps(j), 2, "bytes)", command)
    j = copy.deepcopy(base)
    j["\u001b]0;pwned\u0007"] = 1
    case(prefix + "_escape_in_key.json", dumps(j), 2, "\\x1b]0;pwned\\x07", command)
    text = dumps(base)
    case(prefix + "_truncated.json", text[: len(text) // 2], 2, "malformed JSON", command)
    case(prefix + "_empty.json", "", 2, "malformed JSON", command)
    case(prefix + "_array.json", "[" + text + "]", 2, "expected an object", command)
    case(prefix + "_null.json", "null", 2, "expected an object", command)
    case(prefix + "_trailing.json", text + "{}", 2, "malformed JSON", command)
    case(prefix + "_nul_byte.json", text[:10] + "\0" + text[10:], 2, "malformed JSON", command)
    case(prefix + "_bad_utf8.json", text.encode()[:12] + b"\xff\xfe" + text.encode()[12:], 2,
         "malformed JSON", command)
    case(prefix + "_deep_unknown_key.json", text[:-2] + ',\n "zz": ' + deep(levels, "{}") + "}", 2,
         "nested deeper than 128", command)


def accel_cases():
    with open(os.path.join(ROOT, "configs", "accel", "small-test.json")) as f:
        base = json.load(f)
    json_family("accel", base, "lanes", "accel --config {f}", lambda j: j["engines"][0], full_size=True)
    json_family("accel_clock", base, "clock_mhz", "accel --config {f}")


def recipe_cases():
    with open(os.path.join(ROOT, "configs", "quant", "naive-w8a8.json")) as f:
        base = json.load(f)
    json_family("recipe", base, "weight_bits", "quantize --onnx {d}/base/tiny.onnx --recipe {f} --out {t}/o.vqg")
    # Mixed precision holds calibration images out to score its search: one image leaves none to calibrate.
    case("-", None, 2, "at least 2 calibration images",
         "quantize --onnx {d}/base/tiny.onnx --recipe p2vit-mixed --calib-count 1 --out {t}/o.vqg")


def sweep_cases():
    base = {"name": "bad", "base_accel": "small-test", "models": [{"model": "efficientvit-b0", "res": 32}],
            "recipes": ["naive-w8a8"], "axes": [{"pointer": "/engines/0/lanes", "values": [4, 8]}]}
    run = "sweep {f} --dry-run"
    json_family("sweep", base, "values", run, lambda j: j["axes"][0])

    def spec(axis, name):
        j = copy.deepcopy(base)
        j["axes"] = [axis]
        return dumps(j)

    case("sweep_pointer_index_overflow.json",
         spec({"pointer": "/engines/99999999999999999999/lanes", "values": [1]}, "p"), 2, "does not exist", run)
    case("sweep_pointer_bad_escape.json", spec({"pointer": "/engines/0/la~2nes", "values": [1]}, "p"), 2,
         "malformed JSON pointer", run)
    case("sweep_pointer_no_slash.json", spec({"pointer": "engines", "values": [1]}, "p"), 2,
         "expected a JSON pointer", run)
    case("sweep_pointer_missing.json", spec({"pointer": "/engines/0/nope", "values": [1]}, "p"), 2,
         "does not exist", run)
    case("sweep_values_empty.json", spec({"pointer": "/engines/0/lanes", "values": []}, "p"), 2,
         "non-empty array", run)
    case("sweep_values_duplicate.json", spec({"pointer": "/engines/0/lanes", "values": [4, 4]}, "p"), 2,
         "duplicate value", run)
    case("sweep_range_step_zero.json",
         spec({"pointer": "/engines/0/lanes", "range": {"from": 1, "to": 4, "step": 0}}, "p"), 2,
         "nonzero step", run)
    case("sweep_range_int64_span.json",
         spec({"pointer": "/engines/0/lanes",
               "range": {"from": -9223372036854775808, "to": 9223372036854775807, "step": 1}}, "p"), 2,
         "more than 100000 values", run)
    # Legal: three values at the int64 extremes (they used to collapse into one); each config is invalid.
    case("sweep_range_int64_extremes.json",
         spec({"pointer": "/engines/0/lanes",
               "range": {"from": -9223372036854775808, "to": 9223372036854775807,
                         "step": 9223372036854775807}}, "p"), 0, "3 point(s)", run)
    case("sweep_range_uint64.json",
         spec({"pointer": "/engines/0/lanes", "range": {"from": 1, "to": 18446744073709551615, "step": 1}},
              "p"), 2, "int64 range", run)
    case("sweep_range_1e400.json",
         spec({"pointer": "/engines/0/lanes", "range": {"from": 1, "to": 4, "step": 1}}, "p").replace(
             '"step": 1', '"step": 1e400'), 2, "number out of range", run)


# ---------------------------------------------------------------------------------------------------
# Quantized graphs: header edits of base/tiny.vqg (the sections and their CRCs stay valid), and section-level
# damage: truncated, bit-flipped and oversized data and weights sections.

def read_vqg(path):
    """Preamble (magic + version), header, and the rest: data section, padding, weights section."""
    with open(path, "rb") as f:
        b = f.read()
    n = struct.unpack("<Q", b[12:20])[0]
    header = json.loads(b[20:20 + n])
    data_offset = (20 + n + 63) // 64 * 64
    return b[:12], header, b[data_offset:]


def write_vqg(preamble, header_text, data):
    if isinstance(header_text, str):
        header_text = header_text.encode()
    head = preamble + struct.pack("<Q", len(header_text)) + header_text
    head += b"\0" * ((-len(head)) % 64)
    return head + data


def vqg(preamble, header, data):
    return write_vqg(preamble, json.dumps(header, separators=(",", ":")), data)


def vqg_cases():
    base = os.path.join(OUT, "base")
    onnx_path = os.path.join(base, "tiny.onnx")
    make_tiny_onnx(onnx_path)
    tiny = os.path.join(base, "tiny.vqg")
    subprocess.run([VITSIM, "quantize", "--onnx", onnx_path, "--recipe", "naive-w8a8", "--calib-count", "2",
                    "--eval", "none", "--out", tiny, "--report", os.path.join(base, "tiny.quality.json")],
                   check=True, stdout=subprocess.DEVNULL)
    if os.path.exists(os.path.join(base, "tiny.quality.json")):
        os.remove(os.path.join(base, "tiny.quality.json"))
    pre, h, data = read_vqg(tiny)
    # A matmul of the conv output by itself ([4,8,8] x [4,8,8]), raw int32 accumulators, as the last node.
    mm = copy.deepcopy(h["nodes"][2])
    mm.update({"name": "mm", "op": "matmul", "inputs": [1, 1], "out_shape": [4, 8, 8], "in_features": 8,
               "a": {"row_offset": 0, "rows": 8, "transpose": False},
               "b": {"row_offset": 0, "rows": 8, "transpose": False}})
    mm["q"]["out"] = {"bits": 32, "groups": [1, 1], "scale": [0.001], "zero_point": [0]}
    mm["q"]["requant"] = []
    hm = copy.deepcopy(h)
    hm["nodes"].append(mm)
    with open(os.path.join(base, "tiny_matmul.vqg"), "wb") as f:
        f.write(vqg(pre, hm, data))

    sim = "simulate --qgraph {f}"
    fun = "simulate --qgraph {f} --functional"

    def edit(name, fn, rc, fragment, command=sim, start=h):
        j = copy.deepcopy(start)
        fn(j)
        case(name, vqg(pre, j, data), rc, fragment, command)

    def setq(node, key, value):
        return lambda j: j["nodes"][node]["q"].__setitem__(key, value)

    def setn(node, key, value):
        return lambda j: j["nodes"][node].__setitem__(key, value)

    edit("vqg_conv_weight_empty.vqg", setq(1, "weight", []), 2, "/nodes/1/q/weight: is empty", fun)
    edit("vqg_conv_requant_empty.vqg", setq(1, "requant", []), 2, "/nodes/1/q/requant: is empty", fun)
    edit("vqg_linear_weight_empty.vqg", setq(3, "weight", []), 2, "/nodes/3/q/weight: is empty", fun)
    edit("vqg_linear_requant_empty_forward.vqg", setq(3, "requant", []), 2, "/nodes/3/q/requant: is empty",
         "forward --qgraph {f} --repeat 1")
    edit("vqg_out_scale_empty.vqg", lambda j: j["nodes"][2]["q"].__setitem__(
        "out", {"bits": 8, "groups": [1, 1], "scale": [], "zero_point": []}), 2, "/nodes/2/q/out/scale", fun)
    edit("vqg_conv_out_shape_off_by_one.vqg", setn(1, "out_shape", [4, 8, 9]), 2, "geometry: out_shape 4x8x9")
    edit("vqg_conv_pad_65536.vqg", setn(1, "pad", 65536), 2, "geometry")
    edit("vqg_conv_pad_65537.vqg", setn(1, "pad", 65537), 2, "/nodes/1/pad")
    edit("vqg_conv_stride_0.vqg", setn(1, "stride", 0), 2, "/nodes/1/stride")
    edit("vqg_linear_in_features_0.vqg", setn(3, "in_features", 0), 2, "/nodes/3/q/weight", fun)
    edit("vqg_linear_in_features_0_no_params.vqg",
         lambda j: (j["nodes"][3].__setitem__("in_features", 0), j["nodes"][3].__setitem__("params", {}),
                    j["nodes"][3]["q"].__setitem__("weight", [])), 2, "geometry: in_features 0")
    edit("vqg_input_shape_zero.vqg", setn(0, "out_shape", [3, 0, 8]), 2, "/nodes/0/out_shape")
    edit("vqg_input_index_forward.vqg", setn(2, "inputs", [3]), 2, "not an earlier node")
    edit("vqg_avgpool_two_inputs.vqg", setn(2, "inputs", [1, 1]), 2, "input")
    edit("vqg_name_escape.vqg", setn(1, "name", "\u001b[2J\u001b[31mconv"), 2, "control characters")
    edit("vqg_model_escape.vqg", lambda j: j.__setitem__("model", "tiny\u009b31m"), 2, "control characters")
    edit("vqg_mm_a_rows_int32_max.vqg", lambda j: j["nodes"][4]["a"].__setitem__("rows", 2147483647), 2,
         "outside operand", sim, hm)
    edit("vqg_mm_a_row_offset_int32_max.vqg", lambda j: j["nodes"][4]["a"].__setitem__("row_offset", 2147483647),
         2, "outside operand", fun, hm)
    edit("vqg_mm_b_slice_past_end.vqg",
         lambda j: j["nodes"][4]["b"].update({"row_offset": 7, "rows": 8}), 2, "outside operand", sim, hm)
    edit("vqg_mm_in_features_off.vqg", lambda j: j["nodes"][4].__setitem__("in_features", 9), 2,
         "geometry: in_features 9", fun, hm)
    edit("vqg_mm_batch_mismatch.vqg", lambda j: j["nodes"][4].__setitem__("out_shape", [5, 8, 8]), 2,
         "geometry", sim, hm)
    edit("vqg_mm_requant_missing.vqg", lambda j: j["nodes"][4]["q"].__setitem__(
        "out", {"bits": 8, "groups": [1, 1], "scale": [0.1], "zero_point": [0]}), 2,
         "/nodes/4/q/requant: is empty", fun, hm)
    # Legal and degenerate: only the input node. Exit 0, finite metrics (no "inf FPS" or "fps": null).
    edit("vqg_only_input.vqg", lambda j: j.__setitem__("nodes", j["nodes"][:1]), 0, "(latency 0.000 ms",
         sim + " --report {t}/r.json")
    # Huge but consistent: 3x2^31-1 x2^31-1 input. Timing is refused by the memory check of the executor.
    def huge(j):
        n = 2**30  # 3 x 2^60 elements: within int64, far beyond any machine's memory
        j["nodes"][0]["out_shape"] = [3, n, n]
        j["nodes"][1]["out_shape"] = [4, n, n]
        j["resolution"] = n
    edit("vqg_huge_input_forward.vqg", huge, 2, "of memory, more than this machine", "forward --qgraph {f}")
    edit("vqg_huge_input_functional.vqg", huge, 2, "of memory, more than this machine", fun)
    text = json.dumps(h, separators=(",", ":"))
    case("vqg_header_deep.vqg", write_vqg(pre, text.replace('"recipe":', '"recipe":' + deep(DEEP) + ',"r":'),
                                           data), 2, "nested deeper than 256", sim)
    case("vqg_header_1e400.vqg", write_vqg(pre, text.replace('"kernel":3', '"kernel":1e400'), data), 2,
         "number out of range", sim)
    case("vqg_header_100k_digits.vqg", write_vqg(pre, text.replace('"kernel":3', '"kernel":' + "3" * 100000),
                                                 data), 2, "number out of range", sim)
    case("vqg_header_uint64.vqg", write_vqg(pre, text.replace('"kernel":3', '"kernel":18446744073709551615'),
                                            data), 2, "/nodes/1/kernel", sim)
    case("vqg_bad_magic.vqg", b"VITSIMQX" + vqg(pre, h, data)[8:], 2, "bad magic", sim)
    whole = vqg(pre, h, data)
    case("vqg_truncated.vqg", whole[:100], 2, "truncated", sim)
    # The last byte is a weight: a timing-only run never reads it, computing values does.
    assert h["weights"]["bytes"] > 0
    flipped_weight = whole[:-1] + bytes([whole[-1] ^ 1])
    case("vqg_crc_mismatch.vqg", flipped_weight, 2, "weights section checksum mismatch", fun)
    case("vqg_weights_flip_forward.vqg", flipped_weight, 2, "weights section checksum mismatch",
         "forward --qgraph {f} --repeat 1")
    case("vqg_weights_flip_timing_only.vqg", flipped_weight, 0, "(latency ", sim)
    # tiny's small arrays are all inline: a data section holding node 2's output zero point as an i8 tensor.
    weights = data[(h["data"]["bytes"] + 63) // 64 * 64:]
    zero_point = bytes([h["nodes"][2]["q"]["out"]["zero_point"][0] & 0xFF])
    hd = copy.deepcopy(h)
    hd["nodes"][2]["q"]["out"]["zero_point"] = {"dtype": "i8", "shape": [1], "offset": 0, "bytes": 1}
    hd["data"] = {"bytes": 1, "crc32": zlib.crc32(zero_point)}
    case("vqg_data_section_ok.vqg", vqg(pre, hd, zero_point + bytes(63) + weights), 0, "(latency ", fun)
    case("vqg_data_crc_mismatch.vqg", vqg(pre, hd, bytes([zero_point[0] ^ 0x40]) + bytes(63) + weights), 2,
         "data section checksum mismatch", sim)
    case("vqg_data_padding_nonzero.vqg", vqg(pre, hd, zero_point + b"\1" + bytes(62) + weights), 2,
         "non-zero byte in the data section padding", fun)
    case("vqg_weights_truncated.vqg", whole[:-1], 2, "weights section at offset", sim)
    case("vqg_weights_truncated_functional.vqg", whole[:-1], 2, "weights section at offset", fun)
    case("vqg_weights_extra_byte.vqg", whole + b"\0", 2, "1 unexpected bytes after", sim)
    edit("vqg_weights_oversized.vqg", lambda j: j["weights"].__setitem__("bytes", 2**63), 2,
         "-byte weights section at offset", sim)
    edit("vqg_data_oversized.vqg", lambda j: j["data"].__setitem__("bytes", 2**64 - 1), 2,
         "-byte data section at offset", sim)
    edit("vqg_weight_ref_outside.vqg", lambda j: j["nodes"][1]["q"]["weight"].__setitem__(
        "offset", h["weights"]["bytes"]), 2, "lie outside the weights section", sim)
    edit("vqg_weight_ref_huge.vqg", lambda j: j["nodes"][1]["q"]["weight"].__setitem__("shape", [2**31 - 1] * 8),
         2, "/nodes/1/q/weight/bytes", sim)
    edit("vqg_weight_dtype_i2.vqg", lambda j: j["nodes"][1]["q"]["weight"].__setitem__("dtype", "i2"), 2,
         "unknown dtype 'i2'", sim)
    case("vqg_version_1.vqg", whole[:8] + struct.pack("<I", 1) + whole[12:], 2,
         "format version 1 is no longer read", sim)
    case("vqg_header_length_huge.vqg", whole[:12] + struct.pack("<Q", 2**63) + whole[20:], 2,
         "header length", sim)
    case("vqg_empty.vqg", b"", 2, "too short", sim)


def make_tiny_onnx(path):
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper
    rng = np.random.default_rng(0)
    inits = [numpy_helper.from_array(rng.standard_normal(s).astype(np.float32), n)
             for n, s in (("w", (4, 3, 3, 3)), ("b", (4,)), ("g", (2, 4)), ("gb", (2,)))]
    nodes = [helper.make_node("Conv", ["x", "w", "b"], ["c"], kernel_shape=[3, 3], pads=[1, 1, 1, 1], name="conv"),
             helper.make_node("Relu", ["c"], ["r"], name="relu"),
             helper.make_node("GlobalAveragePool", ["r"], ["p"], name="pool"),
             helper.make_node("Flatten", ["p"], ["f"], name="flat"),
             helper.make_node("Gemm", ["f", "g", "gb"], ["y"], transB=1, name="head")]
    graph = helper.make_graph(nodes, "tiny", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 2])], inits)
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], producer_name="vitsim"), path)


def other_cases():
    with open(os.path.join(OUT, "base", "tiny.onnx"), "rb") as f:
        onnx_bytes = f.read()
    q = "quantize --onnx {f} --out {t}/o.vqg"
    case("onnx_garbage.onnx", bytes(range(256)) * 4, 2, "ONNX", q)
    case("onnx_empty.onnx", b"", 2, "the file is empty", q)
    case("onnx_truncated.onnx", onnx_bytes[: len(onnx_bytes) // 2], 2, "ONNX", q)
    case("onnx_text.onnx", "not an onnx model\n", 2, "ONNX", q)
    s = "scalesim --topology {f}"
    header = "Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, Strides,\n"
    case("csv_empty.csv", "", 2, "", s)
    case("csv_header_only.csv", header, 2, "at least one layer", s)
    case("csv_negative.csv", header + "l1, -8, 8, 3, 3, 4, 4, 1,\n", 2, "", s)
    case("csv_huge_dims.csv", header + "l1, 1099511627776, 1099511627776, 3, 3, 4, 4, 1,\n", 2, "", s)
    case("csv_text_dims.csv", header + "l1, eight, 8, 3, 3, 4, 4, 1,\n", 2, "", s)
    case("csv_1e400.csv", header + "l1, 1e400, 8, 3, 3, 4, 4, 1,\n", 2, "", s)
    case("csv_nul.csv", header + "l1, 8\0, 8, 3, 3, 4, 4, 1,\n", 2, "", s)
    case("csv_escape_name.csv", header + "\u001b[2Jl1, 8, 8, 3, 3, 4, 4, 1,\n", 2, "", s)
    # Command-line values and special files (no file of their own; {fifo} is a FIFO the runner makes).
    for args, fragment in [("forward --seed -1", "non-negative integer"),
                           ("forward --seed ''", "empty value"),
                           ("forward --seed 99999999999999999999999", "64-bit range"),
                           ("forward --seed 1e3", "integer"),
                           ("forward --repeat 0", "--repeat"),
                           ("forward --repeat 4294967297", "--repeat"),
                           ("graph --res -32", "--res"),
                           ("graph --res ''", "--res"),
                           ("graph --model efficientvit-l3 --res 2147483616", "does not fit in int64"),
                           ("forward --res 65536", "of memory, more than this machine"),
                           ("simulate --qgraph {d}/base/tiny.vqg --watchdog-cycles -1", "--watchdog-cycles"),
                           ("simulate --qgraph {d}/base/tiny.vqg --image-seed -5", "non-negative"),
                           ("simulate --qgraph {d}/base/tiny.vqg --max-cycles -1", "--max-cycles"),
                           ("simulate --qgraph {d}/base/tiny.vqg --max-cycles ''", "empty value"),
                           ("simulate --qgraph {d}/base/tiny.vqg --timing cycle --max-cycles 40 --report {t}/r.json",
                            "limit of 40 cycles at cycle 40, running layer 'conv'"),
                           ("simulate --qgraph {d}/base/tiny.vqg --max-cycles 40 --functional --layers-csv {t}/l.csv",
                            "limit of 40 cycles at cycle 40, running layer 'conv'"),
                           ("simulate --qgraph {d}/base/tiny.vqg --top nan", "--top"),
                           ("sweep configs/sweeps/trio-vit-memory.json --out {t}/s --backend slurm --slurm-poll nan",
                            "finite number"),
                           ("sweep configs/sweeps/trio-vit-memory.json --out {t}/s --backend slurm --slurm-poll inf",
                            "--slurm-poll"),
                           ("quantize --onnx {fifo} --out {t}/o.vqg", "not a regular file"),
                           ("quantize --onnx /dev/zero --out {t}/o.vqg", "not a regular file"),
                           ("sweep {fifo} --dry-run", "not a regular file"),
                           ("accel --config /dev/zero", ""),
                           ("accel --config {fifo}", "no accelerator config of that name"),
                           ("simulate --qgraph {fifo}", "not a regular file"),
                           ("scalesim --topology {fifo}", "found neither"),
                           ("quantize --onnx {d}/base/tiny.onnx --recipe {fifo} --out {t}/o.vqg", "not a file"),
                           ("simulate --qgraph {t}/g.vqg --report {t}/g.vqg", "one of this run's input files"),
                           ("quantize --onnx {t}/m.onnx --out {t}/m.onnx", "one of this run's input files"),
                           ("simulate --qgraph {d}/base/tiny.vqg --report {t}/link.json", "symbolic link"),
                           ("graph --onnx {t}/m.onnx --scalesim-topology {t}/m.onnx",
                            "one of this run's input files"),
                           ("graph --scalesim-topology {t}/link.json", "symbolic link"),
                           ("graph --onnx {fifo} --scalesim-topology {t}/o.csv", "not a regular file"),
                           ("graph --scalesim-topology {t}/missing/o.csv", "o.csv"),
                           ("autotune --model deit-tiny --fps 0", "the target --fps must be positive"),
                           ("autotune --fps nan", "finite number"),
                           ("autotune --model deit-tiny --fps 10 --recipe vit-w8a8", "has no mixed_scheme"),
                           ("autotune --model deit-tiny --fps 10 --base vit-gemm", "exactly one engine"),
                           ]:
        case("-", None, 2, fragment, args)
    # Legal extremes that must end normally: a cycle limit far beyond the run once moved simulated time to it.
    for mode in ("cycle", "fast"):
        case("-", None, 0, "(latency",
             f"simulate --qgraph {{d}}/base/tiny.vqg --timing {mode} --max-cycles 9223372036854775807")


def sweep_result_cases():
    """A sweep folder whose point 0 result.json was tampered with: --collect and a resume refuse it."""
    spec = {"name": "tamper", "base_accel": "trio-vit", "models": [{"model": "efficientvit-b0", "res": 32}],
            "recipes": ["naive-w8a8"], "axes": [{"pointer": "/clock_mhz", "values": [150]}]}
    folder = os.path.join(OUT, "sweep_tampered")
    shutil.rmtree(folder, ignore_errors=True)
    os.makedirs(folder)
    spec_path = os.path.join(folder, "spec.json")
    with open(spec_path, "w") as f:
        f.write(json.dumps(spec, indent=2) + "\n")
    work = os.path.join(folder, "run")
    subprocess.run([VITSIM, "sweep", spec_path, "--out", work, "-j", "1"], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    with open(os.path.join(work, "points", "0", "result.json")) as f:
        good = json.load(f)
    assert good["status"] == "ok", good
    shutil.rmtree(work)
    variants = {
        "cycles_negative": lambda r: r["metrics"].__setitem__("cycles", -5),
        "cycles_string": lambda r: r["metrics"].__setitem__("cycles", "many"),
        "metrics_array": lambda r: r.__setitem__("metrics", [1, 2]),
        "status_number": lambda r: r.__setitem__("status", 3),
        "index_wrong": lambda r: r.__setitem__("index", 7),
        "unknown_metric": lambda r: r["metrics"].__setitem__("\u001b[31mx", 1),
        "fps_null_ok": lambda r: r["metrics"].__setitem__("fps", None),
        "top_level_string": lambda r: None,
    }
    for name, fn in variants.items():
        r = copy.deepcopy(good)
        fn(r)
        text = json.dumps(r, indent=1) if name != "top_level_string" else '"result"'
        d = os.path.join(folder, name)
        os.makedirs(os.path.join(d, "points", "0"))
        shutil.copy(spec_path, os.path.join(d, "spec.json"))
        with open(os.path.join(d, "points", "0", "result.json"), "w") as f:
            f.write(text + "\n")
        fragment = "result.json: "
        case("-", None, 2, fragment, "sweep {d}/sweep_tampered/spec.json --out {copy:sweep_tampered/%s} --collect" % name)
        case("-", None, 2, fragment, "sweep {d}/sweep_tampered/spec.json --out {copy:sweep_tampered/%s} -j 1" % name)


def main():
    shutil.rmtree(OUT, ignore_errors=True)
    os.makedirs(os.path.join(OUT, "base"))
    vqg_cases()
    accel_cases()
    recipe_cases()
    sweep_cases()
    other_cases()
    sweep_result_cases()
    with open(os.path.join(OUT, "manifest.tsv"), "w") as f:
        f.write("# file\texit code\tmessage fragment\tcommand ({f} file, {d} this folder, {t} temp dir, "
                "{fifo} a FIFO, {copy:X} a temp copy of X); written by tools/make_bad_inputs.py\n")
        for name, rc, fragment, command in cases:
            f.write("%s\t%d\t%s\t%s\n" % (name, rc, fragment, command))
    print("%d cases in %s" % (len(cases), OUT))


if __name__ == "__main__":
    sys.exit(main())
