#!/usr/bin/env python3
"""Regenerates configs/synth/resources.csv: LUT, FF, DSP48E2 and BRAM36 of every unit that has RTL
(arch/rtl/, docs/rtl.md) at each shipped accelerator config's parameters (configs/accel/*.json), from
Debian's Yosys (`synth_xilinx -family xcup -flatten`, UltraScale+). arch/resource_model.cpp reads the table.

    python3 tools/synth_resources.py [--yosys yosys] [--out configs/synth/resources.csv] [--fresh]
    python3 tools/synth_resources.py --check CONFIG UNIT     synthesize one row again; exit 1 if it differs

The table is rewritten after each synthesis, smallest units first, and a run resumes from the rows
already there (same module and parameters) unless --fresh. Units with RTL: the engines of type mat and rmac (named as in the config; with the config's port shares
and DSP packing, and no requantizer chain; engines of 4 or more replicas also at 1, 2, 4 ... replicas up
to 256 multipliers, the replica ladder, and engines above 256 multipliers only so), the power-of-two
product unit of the shift_array and mixed engines' shift lanes ("<engine> shift product": one barrel
shifter, vitsim_shift_product) and the requantizer, log2 quantizer + shift divider, hswish and residual
add (auxiliary units). Standard library only. A bad
argument or a failing synthesis prints one message on stderr and exits 2.
"""
import argparse
import csv
import io
import json
import math
import os
import re
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RTL = os.path.join(ROOT, "arch", "rtl")
# Each top module's files, dependencies first. A unit is synthesized from the files it needs only: Yosys's
# counts depend on everything it has read (editing mac_array.sv once moved a requantizer by one LUT).
COMMON = ["stall_pipe.sv", "requantizer.sv"]
SOURCES = {
    "vitsim_requantizer": COMMON,
    "vitsim_log2_divider": COMMON + ["log2_divider.sv"],
    "vitsim_hswish": COMMON + ["hswish.sv"],
    "vitsim_residual_add": COMMON + ["residual_add.sv"],
    "vitsim_shift_product": ["shift_product.sv"],
    "vitsim_mat_engine": COMMON + ["engine_common.sv", "shift_product.sv", "mac_array.sv", "mat_engine.sv"],
    "vitsim_rmac_engine": COMMON + ["engine_common.sv", "mac_array.sv", "rmac_engine.sv"],
}
# The auxiliary unit types with RTL (config key -> top module), as AuxUnitParams::rtl says.
AUX_TOPS = {"requantizer": "vitsim_requantizer", "log2_quantizer": "vitsim_log2_divider",
            "hswish": "vitsim_hswish", "residual_add": "vitsim_residual_add"}
# Engines above this many multipliers are not synthesized whole (Yosys 0.23 ran more than 7 CPU-minutes on
# trio-vit's 1,024-multiplier MAT without finishing): only their replica ladder is.
LADDER_MULTIPLIERS = 256
COLUMNS = ["config", "unit", "top", "parameters", "luts", "ffs", "dsp48e2", "bram36"]


class Failure(Exception):
    pass


def port_share(config, buffer):
    b = config["buffers"][buffer]
    return max(1, b["banks"] * b["ports_per_bank"] * b["word_bytes"] // len(config["engines"]))


def units(config):
    """(unit, top module, parameters) of every unit of `config` that has RTL, in config order."""
    out = []
    for e in config["engines"]:
        # A shift lane's product unit: shift_array's 4-bit log2 attention codes (P²-ViT's; the config does
        # not carry the width), mixed's pot_bits-wide power-of-two weight codes.
        if e["type"] == "shift_array":
            out.append((e["name"] + " shift product", "vitsim_shift_product", {"LOG2_CODE": 1, "CODE_BITS": 4}))
        if e["type"] == "mixed":
            out.append((e["name"] + " shift product", "vitsim_shift_product",
                        {"LOG2_CODE": 0, "CODE_BITS": e.get("pot_bits", 4)}))
        # The RTL packs one or two INT8 products per DSP48E2 (docs/rtl.md).
        if e["type"] not in ("mat", "rmac") or config.get("dsp_packing", 1) > 2:
            continue
        stages = e.get("pipeline", {})
        replicas = e.get("replicas", 1)
        params = lambda r: {
            "PE": e["pe"], "LANES": e["lanes"], "REPLICAS": r,
            "FETCH": stages.get("fetch", 1), "MULTIPLY": stages.get("multiply", 1),
            "ACCUMULATE": stages.get("accumulate", 1), "WRITEBACK": stages.get("writeback", 1),
            "ACT_SHARE": port_share(config, "activation"), "WEIGHT_SHARE": port_share(config, "weight"),
            "CHAIN_RATE": 0, "DSP_PACKING": config.get("dsp_packing", 1)}
        # The replica ladder (engines of 4 or more replicas): the same engine at 1, 2, 4 ... replicas, up to
        # LADDER_MULTIPLIERS multipliers, from which the resource model extrapolates engines too large to
        # synthesize (and which measures that extrapolation where the whole engine was synthesized too).
        if replicas >= 4:
            r = 1
            while r < replicas and e["pe"] * e["lanes"] * r <= LADDER_MULTIPLIERS:
                out.append((f"{e['name']} ({r} of {replicas} replicas)", f"vitsim_{e['type']}_engine", params(r)))
                r *= 2
        if e["pe"] * e["lanes"] * replicas <= LADDER_MULTIPLIERS or replicas < 4:
            out.append((e["name"], f"vitsim_{e['type']}_engine", params(replicas)))
    for unit, u in config["aux_units"].items():
        if unit in AUX_TOPS:
            out.append((unit, AUX_TOPS[unit], {"LANES": u["throughput"], "LATENCY": u["latency"]}))
    return out


def synthesize(yosys, top, params):
    """{luts, ffs, dsp48e2, bram36} of `top` with `params`."""
    chparams = " ".join(f"-chparam {k} {v}" for k, v in params.items())
    with tempfile.TemporaryDirectory() as tmp:
        stat = os.path.join(tmp, "stat.txt")
        script = (f"read_verilog -sv {' '.join(os.path.join(RTL, s) for s in SOURCES[top])}; "
                  f"hierarchy -top {top} {chparams}; synth_xilinx -family xcup -flatten; tee -q -o {stat} stat")
        run = subprocess.run([yosys, "-q", "-p", script], capture_output=True, text=True)
        if run.returncode != 0 or not os.path.exists(stat):
            raise Failure(f"yosys failed on {top} {params}: {(run.stderr or run.stdout).strip()[-400:]}")
        cells = {}
        with open(stat) as f:
            for line in f:
                m = re.match(r"\s+(\w+)\s+(\d+)\s*$", line)
                if m:
                    cells[m.group(1)] = int(m.group(2))
    luts = sum(n for c, n in cells.items() if re.fullmatch(r"LUT[1-6]", c))
    ffs = sum(n for c, n in cells.items() if re.fullmatch(r"FD[CPRS]E", c))
    bram = cells.get("RAMB36E2", 0) + (cells.get("RAMB18E2", 0) + 1) // 2
    return {"luts": luts, "ffs": ffs, "dsp48e2": cells.get("DSP48E2", 0), "bram36": bram}


def param_text(params):
    return " ".join(f"{k}={v}" for k, v in params.items())


def plan(only=None):
    """(config name, unit, top, parameter text, parameters) of every row, in config and unit order."""
    out = []
    for path in sorted(os.listdir(os.path.join(ROOT, "configs", "accel"))):
        with open(os.path.join(ROOT, "configs", "accel", path)) as f:
            config = json.load(f)
        for unit, top, params in units(config):
            if not only or (config["name"], unit) == only:
                out.append((config["name"], unit, top, param_text(params), params))
    return out


def rows(yosys, only=None, done=None, save=None):
    """The table's rows. `done` maps (top, parameter text) to already synthesized counts, which are reused;
    smaller units are synthesized first, and `save` is called with the rows so far after each synthesis."""
    done = dict(done or {})
    todo = plan(only)
    # Multiplies per unit: engines PE x LANES x REPLICAS, a requantizer lane 1, a log2 divider lane 3,
    # an hswish or residual-add lane 2.
    per_lane = {"vitsim_requantizer": 1, "vitsim_log2_divider": 3, "vitsim_hswish": 2, "vitsim_residual_add": 2}
    cost = lambda r: per_lane.get(r[2], 1) * math.prod(r[4].get(k, 1) for k in ("PE", "LANES", "REPLICAS"))
    for config, unit, top, text, params in sorted(todo, key=cost):
        if (top, text) not in done:
            print(f"synth_resources: {config} {unit}: {top} {text}", file=sys.stderr)
            done[(top, text)] = synthesize(yosys, top, params)
            if save:
                save(table(todo, done))
    return table(todo, done)


def table(todo, done):
    return [{"config": c, "unit": u, "top": t, "parameters": x, **done[(t, x)]}
            for c, u, t, x, _ in todo if (t, x) in done]


def to_csv(table):
    s = io.StringIO()
    w = csv.DictWriter(s, COLUMNS, lineterminator="\n")
    w.writeheader()
    w.writerows(table)
    return s.getvalue()


def write(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--yosys", default="yosys")
    ap.add_argument("--out", default=os.path.join(ROOT, "configs", "synth", "resources.csv"))
    ap.add_argument("--check", nargs=2, metavar=("CONFIG", "UNIT"))
    ap.add_argument("--fresh", action="store_true", help="synthesize every row again (default: resume)")
    args = ap.parse_args()
    try:
        if args.check:
            with open(args.out) as f:
                committed = [r for r in csv.DictReader(f) if (r["config"], r["unit"]) == tuple(args.check)]
            if not committed:
                raise Failure(f"{args.out} has no row for config {args.check[0]} unit {args.check[1]}")
            fresh = rows(args.yosys, tuple(args.check))
            if not fresh:
                raise Failure(f"config {args.check[0]} has no unit {args.check[1]} with RTL")
            got = {k: str(v) for k, v in fresh[0].items()}
            if got != committed[0]:
                print(f"synth_resources: {args.out} says {committed[0]}, synthesis gives {got}", file=sys.stderr)
                return 1
            print(f"synth_resources: {args.check[0]} {args.check[1]} matches: {got}")
            return 0
        # Resume: rows already in the output file (same module and parameters) are not synthesized again.
        done = {}
        if os.path.exists(args.out) and not args.fresh:
            with open(args.out) as f:
                for r in csv.DictReader(f):
                    done[(r["top"], r["parameters"])] = {k: int(r[k]) for k in ("luts", "ffs", "dsp48e2", "bram36")}
        rows(args.yosys, done=done, save=lambda t: write(args.out, to_csv(t)))
        return 0
    except (Failure, OSError, KeyError, ValueError) as e:
        print(f"synth_resources: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
