#!/usr/bin/env python3
"""Where the cycles of the shipped trio-vit go, as a waterfall (docs/validation.md, docs/figures.md).

Each bar is measured by switching exactly one more thing to ideal, on top of the previous bars:
  1. trio-vit as shipped, real memory (configs/accel/trio-vit.json)
  2. ideal memory (--ideal-memory): the memory bar is the difference
  3. auxiliary units at the largest throughput a config accepts (4,096 per cycle, latencies kept): aux bar
  4. the classifier head left out (cycles up to the last layer before the head, MACs likewise): head bar
  5. the rest down to MACs / multipliers (every multiplier busy every cycle): mapping and idle lanes
Usage: /usr/bin/python3 tools/gap_waterfall.py --vitsim build/release/vitsim --qgraph B1.vqg --out PNG
Prints the table (markdown) on stdout. No constant is fitted: the bars are differences of simulations.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile


def simulate(vitsim, qgraph, accel, ideal, tmp, tag):
    report = os.path.join(tmp, tag + ".json")
    cmd = [vitsim, "simulate", "--qgraph", qgraph, "--accel", accel, "--report", report]
    if ideal:
        cmd.append("--ideal-memory")
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    with open(report) as f:
        return json.load(f)


def before_head(report):
    """Cycles up to the last layer before the classifier head, and the MACs of those layers."""
    body = [l for l in report["layers"] if not l["name"].startswith("head.") and l["start"] >= 0]
    return max(l["end"] for l in body) + 1, sum(l["macs"] for l in body)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--vitsim", required=True)
    ap.add_argument("--qgraph", required=True)
    ap.add_argument("--config", required=True, help="the shipped trio-vit config (JSON file)")
    ap.add_argument("--out", required=True, help="PNG to write")
    args = ap.parse_args()
    with open(args.config) as f:
        config = json.load(f)
    with tempfile.TemporaryDirectory() as tmp:
        shipped = simulate(args.vitsim, args.qgraph, args.config, False, tmp, "real")
        ideal = simulate(args.vitsim, args.qgraph, args.config, True, tmp, "ideal")
        fast_aux = dict(config, name=config["name"] + "-fast-aux")
        fast_aux["aux_units"] = {k: dict(v, throughput=4096) for k, v in config["aux_units"].items()}
        aux_path = os.path.join(tmp, "fast-aux.json")
        with open(aux_path, "w") as f:
            json.dump(fast_aux, f)
        aux = simulate(args.vitsim, args.qgraph, aux_path, True, tmp, "aux")
    multipliers = shipped["multipliers"]
    head_cycles, body_macs = before_head(aux)
    # Cycles scaled to the whole model's MACs, so every bar is in the same unit (cycles per image).
    scale = shipped["macs"] / body_macs
    no_head = head_cycles * scale
    bound = shipped["macs"] / multipliers
    steps = [("trio-vit, real memory", shipped["cycles"]), ("ideal memory", ideal["cycles"]),
             ("ideal auxiliary units", aux["cycles"]), ("head left out (scaled)", no_head),
             ("every multiplier busy", bound)]
    names = ["memory", "auxiliary units", "classifier head", "mapping and idle lanes"]
    clock = shipped["clock_mhz"] * 1e6
    gops = lambda cycles: 2 * shipped["macs"] * clock / cycles / 1e9
    print("| step | cycles | GOPS | MAC utilization | bar | cycles removed |")
    print("|---|---:|---:|---:|---|---:|")
    for i, (label, cycles) in enumerate(steps):
        bar = names[i - 1] if i else ""
        removed = f"{steps[i - 1][1] - cycles:,.0f}" if i else ""
        print(f"| {label} | {cycles:,.0f} | {gops(cycles):.1f} | {100 * bound / cycles:.1f}% | {bar} | {removed} |")

    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(8, 4.2))
    labels = ["real memory"] + names + ["MACs / multipliers"]
    x = range(len(labels))
    ax.bar(0, steps[0][1], color="#4c72b0")
    for i in range(1, len(steps)):
        ax.bar(i, steps[i - 1][1] - steps[i][1], bottom=steps[i][1], color="#dd8452")
    ax.bar(len(steps), steps[-1][1], color="#55a868")
    ax.set_xticks(list(x))
    ax.set_xticklabels(labels, rotation=15, ha="right")
    ax.set_ylabel("cycles per image")
    ax.set_title(f"{shipped['model']} @{shipped['resolution']} on {shipped['accel']}: where the cycles go")
    fig.tight_layout()
    fig.savefig(args.out, dpi=110, metadata={"Software": None})
    return 0


if __name__ == "__main__":
    sys.exit(main())
