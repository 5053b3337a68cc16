#!/usr/bin/python3
"""Checks the JSON Schemas of docs/ with Debian's python3-jsonschema (docs/building.md, "JSON Schemas").

1. Every docs/*.schema.json is a valid draft 2020-12 schema.
2. Every shipped config (configs/accel, configs/dram, configs/quant, configs/sweeps) validates against its
   schema and names it in "$schema", so that editors complete and check it.
3. The schemas agree with the C++ readers: configs made from a shipped one by one edit are given to the real
   vitsim and to the schema. An edit the C++ reader refuses (exit 2) must be refused by the schema too, a
   legal edit accepted by both; the few rules a schema cannot express are listed as such (vitsim refuses,
   the schema accepts), so a schema that learns one, or a reader that forgets one, is noticed.
4. Reports written by the real vitsim (a zoo model on an ideal bus, with functional simulation, on DDR4, in
   cycle mode on the systolic array; a graph of only its input) validate against docs/report.schema.json,
   and edited reports that break it are refused at the expected place (the validator bites).

    /usr/bin/python3 tools/check_schemas.py VITSIM_BINARY

Exit 0 when everything holds, 1 otherwise (each failure on its own line), 77 when python3-jsonschema is not
installed (ctest counts that as skipped, unless VITSIM_REQUIRE_PYTHON_TOOLS is set: then it fails).
"""
import copy
import glob
import json
import os
import pathlib
import subprocess
import sys
import tempfile

try:
    import jsonschema
except ImportError:
    if os.environ.get("VITSIM_REQUIRE_PYTHON_TOOLS"):
        print("FAIL: VITSIM_REQUIRE_PYTHON_TOOLS is set but python3-jsonschema is missing (apt-get install "
              "python3-jsonschema)")
        sys.exit(1)
    print("SKIP: python3-jsonschema is not installed")
    sys.exit(77)

ROOT = pathlib.Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
BAD = ROOT / "tests" / "data" / "bad"
SCHEMA_OF_FOLDER = {"accel": "accel-config", "dram": "dram-preset", "energy": "energy-model", "quant": "recipe",
                    "sweeps": "sweep"}

failures = []


def fail(message):
    failures.append(message)
    print("FAIL: " + message)


def load_schemas():
    """Every docs/*.schema.json by its file URI, so that relative $refs between them resolve offline."""
    store = {}
    for path in sorted(DOCS.glob("*.schema.json")):
        schema = json.loads(path.read_text())
        jsonschema.Draft202012Validator.check_schema(schema)
        store[path.as_uri()] = schema
    return store


STORE = load_schemas()


def validator(name):
    uri = (DOCS / (name + ".schema.json")).as_uri()
    schema = STORE[uri]
    resolver = jsonschema.RefResolver(base_uri=uri, referrer=schema, store=STORE)
    return jsonschema.Draft202012Validator(schema, resolver=resolver)


def schema_errors(name, document):
    """'<json path>: <message>' for every violation, sorted."""
    return sorted(f"{e.json_path}: {e.message[:200]}" for e in validator(name).iter_errors(document))


def check_shipped_configs():
    for folder, name in SCHEMA_OF_FOLDER.items():
        files = sorted((ROOT / "configs" / folder).glob("*.json"))
        if not files:
            fail(f"configs/{folder}: no config found")
        for path in files:
            document = json.loads(path.read_text())
            expected = os.path.relpath(DOCS / (name + ".schema.json"), path.parent)
            if document.get("$schema") != expected:
                fail(f"{path.relative_to(ROOT)}: \"$schema\" should be \"{expected}\"")
            for e in schema_errors(name, document):
                fail(f"{path.relative_to(ROOT)}: {e}")


# One edit of a shipped config: (description, edit, what vitsim and the schema must say). "both" = both
# refuse, "legal" = both accept, "reader only" = a rule the schema cannot express (vitsim refuses, the schema
# accepts). An edit is a list of (JSON path as a tuple, value); value DELETE removes the key.
DELETE = object()
REFUSED, LEGAL, READER_ONLY = "both refuse", "both accept", "reader only"

ACCEL_EDITS = [
    ("clock 0", [(("clock_mhz",), 0)], REFUSED),
    ("fractional dsp_packing", [(("dsp_packing",), 2.5)], REFUSED),
    ("fixed-priority arbitration", [(("arbitration",), "fixed-priority")], LEGAL),
    ("unknown arbitration", [(("arbitration",), "lottery")], REFUSED),
    ("unknown top-level key", [(("bogus",), 1)], REFUSED),
    ("$schema not a string", [(("$schema",), 5)], REFUSED),
    ("$schema below the top level", [(("dma", "$schema"), "x")], REFUSED),
    ("empty name", [(("name",), "")], REFUSED),
    ("name with an escape character", [(("name",), "trio\u001b[2J")], REFUSED),
    ("no engines", [(("engines",), [])], REFUSED),
    ("pe 0", [(("engines", 0, "pe"), 0)], REFUSED),
    ("lanes above 4096", [(("engines", 0, "lanes"), 4097)], REFUSED),
    ("unknown engine type", [(("engines", 0, "type"), "tensorcore")], REFUSED),
    ("rmac key on a mat engine", [(("engines", 0, "kernels"), [3])], REFUSED),
    ("even depthwise kernel", [(("engines", 1, "kernels"), [3, 4])], REFUSED),
    ("pipeline stage 0", [(("engines", 0, "pipeline", "multiply"), 0)], REFUSED),
    ("config without a relu unit", [(("aux_units", "relu"), DELETE)], LEGAL),
    ("unknown aux unit type", [(("aux_units", "tanh"), {"throughput": 1, "latency": 1})], REFUSED),
    ("a gelu unit", [(("aux_units", "gelu"), {"throughput": 4, "latency": 3, "dsps": 4})], LEGAL),
    ("a gelu unit of an unknown method", [(("aux_units", "gelu"), {"throughput": 4, "latency": 3, "method": "spline"})],
     REFUSED),
    ("aux throughput 0", [(("aux_units", "hswish", "throughput"), 0)], REFUSED),
    ("word_bytes not a power of two", [(("buffers", "weight", "word_bytes"), 6)], REFUSED),
    ("resident_bytes on the weight buffer", [(("buffers", "weight", "resident_bytes"), 0)], REFUSED),
    ("ports_per_bank 3", [(("buffers", "output", "ports_per_bank"), 3)], REFUSED),
    ("DDR4 with an ideal-bus key", [(("dram", "bandwidth_gbps"), 19.2)], REFUSED),
    ("DDR4 without a preset", [(("dram", "preset"), DELETE)], REFUSED),
    ("DDR4 with the fr-fcfs scheduler", [(("dram", "scheduler"), "fr-fcfs")], REFUSED),
    ("malformed DDR4 mapping", [(("dram", "mapping"), "row-bank")], REFUSED),
    ("ideal bus without latency", [(("dram",), {"bandwidth_gbps": 19.2})], REFUSED),
    ("DMA with 0 outstanding bursts", [(("dma", "max_outstanding_bursts"), 0)], REFUSED),
    ("defaults: no dma, no rmac kernels", [(("dma",), DELETE), (("engines", 1, "kernels"), DELETE)], LEGAL),
    ("ideal bus", [(("dram",), {"model": "ideal-bus", "bandwidth_gbps": 19.2, "latency_ns": 100})], LEGAL),
    ("duplicate engine names", [(("engines", 1, "name"), "mat")], READER_ONLY),
    ("capacity not a multiple of banks x word_bytes", [(("buffers", "weight", "capacity_bytes"), 1000)],
     READER_ONLY),
]
DRAM_EDITS = [
    ("data rate 700", [(("data_rate_mts",), 700)], REFUSED),
    ("rows not a power of two", [(("organization", "rows"), 1000)], REFUSED),
    ("burst length 4", [(("timing", "burst_length"), 4)], REFUSED),
    ("missing cl", [(("timing", "cl"), DELETE)], REFUSED),
    ("unknown scheduler", [(("controller", "scheduler"), "lifo")], REFUSED),
    ("queue depth 0", [(("controller", "queue_depth"), 0)], REFUSED),
    ("default controller", [(("controller",), DELETE)], LEGAL),
    ("rc below ras + rp", [(("timing", "rc"), 40)], READER_ONLY),
]
RECIPE_EDITS = [
    ("weight bits 9", [(("weight_bits",), 9)], REFUSED),
    ("unknown calibrator", [(("calibrator",), "median")], REFUSED),
    ("unknown divisor", [(("attention", "divisor"), "exact")], REFUSED),
    ("integer LayerNorm", [(("float_layernorm",), False)], REFUSED),
    ("migration quantile 0.4", [(("channel_migration", "quantile"), 0.4)], REFUSED),
    ("unknown key in filter_shift", [(("filter_shift", "bits"), 4)], REFUSED),
    ("no name", [(("name",), DELETE)], REFUSED),
    ("percentile calibrator", [(("calibrator",), "percentile:0.999")], LEGAL),
    ("log2 softmax, PTF, i-GELU", [(("softmax",), {"output": "log2", "bits": 4}), (("layernorm",), {"ptf": True}),
                                   (("gelu",), "poly")], LEGAL),
    ("unknown softmax output", [(("softmax",), {"output": "exact"})], REFUSED),
    ("unknown gelu", [(("gelu",), "tanh")], REFUSED),
    ("log2 softmax of 8 bits", [(("softmax",), {"output": "log2", "bits": 8})], READER_ONLY),
]
SWEEP_EDITS = [
    ("no recipes", [(("recipes",), DELETE)], REFUSED),
    ("no models", [(("models",), [])], REFUSED),
    ("resolution 0", [(("models", 0, "res"), 0)], REFUSED),
    ("unknown timing", [(("timing",), "slow")], REFUSED),
    ("negative cycle limit", [(("max_cycles",), -1)], REFUSED),
    ("cycle mode with a cycle limit", [(("timing",), "cycle"), (("max_cycles",), 1000000)], LEGAL),
    ("pointer without a slash", [(("axes", 0, "pointer"), "dram/preset")], REFUSED),
    ("axis with values and a range", [(("axes", 0, "range"), {"from": 1, "to": 2, "step": 1})], REFUSED),
    ("axis with no values", [(("axes", 0, "values"), [])], REFUSED),
    ("axis with a repeated value", [(("axes", 1, "values"), [0, 0])], REFUSED),
    ("range with step 0", [(("axes", 1, "values"), DELETE), (("axes", 1, "range"),
                                                             {"from": 0, "to": 8, "step": 0})], REFUSED),
    ("negative DSP budget", [(("constraints", "max"), {"dsps": -1})], REFUSED),
    ("calibration count 0", [(("calibration",), {"count": 0})], REFUSED),
    ("no constraints, one recipe as a string", [(("constraints",), DELETE), (("recipes",), "trio-w8a8")],
     LEGAL),
    ("pointer to a key the base config lacks", [(("axes", 0, "pointer"), "/dram/width")], READER_ONLY),
    ("nsga2 search", [(("search",), {"strategy": "nsga2", "population": 4, "generations": 2, "seed": 3,
                                     "objectives": [{"metric": "fps", "goal": "max"},
                                                    {"metric": "luts", "goal": "min"}]})], LEGAL),
    ("latin-hypercube search", [(("search",), {"strategy": "latin-hypercube", "points": 5})], LEGAL),
    ("random search without points", [(("search",), {"strategy": "random"})], REFUSED),
    ("nsga2 search with points", [(("search",), {"strategy": "nsga2", "population": 4, "generations": 2,
                                                 "points": 3})], REFUSED),
    ("grid search with a seed", [(("search",), {"strategy": "grid", "seed": 2})], REFUSED),
    ("unknown objective metric", [(("search",), {"objectives": [{"metric": "speed", "goal": "max"}]})],
     REFUSED),
    ("the same objective twice", [(("search",), {"objectives": [{"metric": "fps", "goal": "max"},
                                                               {"metric": "fps", "goal": "min"}]})],
     READER_ONLY),
]
ENERGY_EDITS = [
    ("negative MAC energy", [(("fpga", "mac_pj", "value"), -1)], REFUSED),
    ("empty source", [(("fpga", "static_w", "source"), "")], REFUSED),
    ("coefficient without its source", [(("fpga", "static_w"), 0.6)], REFUSED),
    ("unknown current", [(("dram", "idd6_ma"), {"value": 30, "source": "assumption: test"})], REFUSED),
    ("x12 devices", [(("dram", "device_width_bits"), 12)], REFUSED),
    ("no ipp0", [(("dram", "ipp0_ma"), DELETE)], REFUSED),
    ("x8 devices, no description", [(("dram", "device_width_bits"), 8), (("description",), DELETE)], LEGAL),
    ("IDD4R below IDD3N", [(("dram", "idd4r_ma", "value"), 10)], READER_ONLY),
]


def apply_edits(document, edits):
    document = copy.deepcopy(document)
    for path, value in edits:
        parent = document
        for key in path[:-1]:
            parent = parent[key]
        if value is DELETE:
            del parent[path[-1]]
        else:
            parent[path[-1]] = value
    return document


def check_agreement(vitsim, tmp):
    groups = [
        ("accel-config", "configs/accel/trio-vit.json", ACCEL_EDITS, ["accel", "--config", "{f}"]),
        ("dram-preset", "configs/dram/ddr4-2400-x64.json", DRAM_EDITS,
         ["dram", "--preset", "{f}", "--bytes", "4096"]),
        ("recipe", "configs/quant/trio-w8a8.json", RECIPE_EDITS,
         ["quantize", "--onnx", str(BAD / "base" / "tiny.onnx"), "--recipe", "{f}", "--calib-count", "1",
          "--out", "{t}/out.vqg"]),
        ("sweep", "configs/sweeps/trio-vit-memory.json", SWEEP_EDITS, ["sweep", "{f}", "--dry-run"]),
        ("energy-model", "configs/energy/zcu102-ddr4.json", ENERGY_EDITS,
         ["simulate", "--qgraph", str(BAD / "base" / "tiny.vqg"), "--energy", "{f}"]),
    ]
    for schema, base_file, edits, command in groups:
        base = json.loads((ROOT / base_file).read_text())
        for i, (what, edit, expect) in enumerate(edits):
            document = apply_edits(base, edit)
            path = os.path.join(tmp, f"{schema}-{i}.json")
            with open(path, "w") as f:
                json.dump(document, f)
            args = [vitsim] + [a.replace("{f}", path).replace("{t}", tmp) for a in command]
            run = subprocess.run(args, capture_output=True, text=True, timeout=120, cwd=ROOT)
            reader_refuses = run.returncode == 2
            if run.returncode not in (0, 2):
                fail(f"{schema}, {what}: vitsim exited {run.returncode}: {run.stderr.strip()[:300]}")
                continue
            schema_refuses = bool(schema_errors(schema, document))
            want_reader, want_schema = {REFUSED: (True, True), LEGAL: (False, False),
                                        READER_ONLY: (True, False)}[expect]
            if (reader_refuses, schema_refuses) != (want_reader, want_schema):
                fail(f"{schema}, {what}: expected {expect}, but vitsim "
                     f"{'refuses' if reader_refuses else 'accepts'} ({run.stderr.strip()[:200]}) and the "
                     f"schema {'refuses' if schema_refuses else 'accepts'} "
                     f"({'; '.join(schema_errors(schema, document))[:300]})")


def run_ok(args):
    """Runs a vitsim command that must succeed; False (and a failure) when it does not."""
    run = subprocess.run(args, capture_output=True, text=True, timeout=300)
    if run.returncode != 0:
        fail(f"{' '.join(args)}: exit {run.returncode}: {run.stderr.strip()[:300]}")
    return run.returncode == 0


def write_reports(vitsim, tmp):
    """Reports of the real CLI: {label: path}."""
    b0 = os.path.join(tmp, "b0.vqg")
    run_ok([vitsim, "quantize", "--model", "efficientvit-b0", "--res", "64", "--calib-count", "1", "--out", b0])
    runs = {
        "b0 on trio-vit (DDR4)": [b0, "--accel", "trio-vit"],
        "b0 on small-memory (ideal bus), functional": [b0, "--accel", "small-memory", "--functional"],
        "b0 on systolic-32x32-os, cycle mode": [b0, "--accel", "systolic-32x32-os", "--timing", "cycle"],
        "b0 with ideal memory": [b0, "--accel", "trio-vit", "--ideal-memory"],
        "a graph of only its input": [str(BAD / "vqg_only_input.vqg")],
    }
    reports = {}
    for i, (label, args) in enumerate(runs.items()):
        path = os.path.join(tmp, f"report-{i}.json")
        if run_ok([vitsim, "simulate", "--qgraph"] + args + ["--report", path]):
            reports[label] = path
    return reports


def check_reports(reports):
    for label, path in reports.items():
        with open(path) as f:
            for e in schema_errors("report", json.load(f)):
                fail(f"report of {label}: {e}")


def check_report_schema_bites(path):
    """Each edit must be refused at its place: the schema checks keys, types, requirements and tuples."""
    with open(path) as f:
        report = json.load(f)
    edits = [
        ("an undocumented key", lambda r: r.update(surprise=1), "$: Additional properties"),
        ("cycles as a string", lambda r: r.update(cycles="many"), "$.cycles: 'many' is not of type"),
        ("a layer without macs", lambda r: r["layers"][1].pop("macs"), "$.layers[1]: 'macs' is a required"),
        ("a 3-element timeline segment", lambda r: r["resources"][0]["timeline"].__setitem__(0, [1, 2, 3]),
         "$.resources[0].timeline[0]: [1, 2, 3] is too short"),
        ("fps null", lambda r: r.update(fps=None), "$.fps: None is not of type"),
        ("utilization above 1", lambda r: r.update(mac_utilization=1.5), "$.mac_utilization: 1.5 is greater"),
    ]
    for what, edit, expected in edits:
        broken = copy.deepcopy(report)
        edit(broken)
        errors = schema_errors("report", broken)
        if not any(e.startswith(expected) for e in errors):
            fail(f"report with {what}: expected an error starting \"{expected}\", got {errors[:3]}")


def main():
    if len(sys.argv) != 2:
        print(__doc__)
        return 2
    vitsim = os.path.abspath(sys.argv[1])
    check_shipped_configs()
    with tempfile.TemporaryDirectory() as tmp:
        check_agreement(vitsim, tmp)
        reports = write_reports(vitsim, tmp)
        check_reports(reports)
        if reports:
            check_report_schema_bites(next(iter(reports.values())))
    print(f"{len(failures)} failure(s); schemas: {', '.join(sorted(os.path.basename(u) for u in STORE))}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
