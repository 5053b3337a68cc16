#!/usr/bin/env python3
"""P²-ViT's pipelining ablation on DeiT (docs/validation.md, "P²-ViT's pipelining ablation"): normalized
latency of the attention, the MLP and the whole image on configs/accel/p2-vit.json with its two pipelining
switches set four ways (neither / inter-layer only / intra-layer only / both), next to the paper's values.

    python3 tools/p2vit_pipelining_ablation.py [--vitsim build/release/vitsim] [--model deit-small]
                                               [--res 224] [--recipe p2vit-w8a8] [--calib-count 4]
                                               [--timing fast]

Quantizes the model once (`vitsim quantize`), then runs `vitsim simulate` four times with a copy of p2-vit's
config whose "pipelining" object is changed (nothing else), and reads layers.csv. Per transformer block, the
attention's latency is the span from the first cycle of its qkv Linear to the last cycle of its projection,
the MLP's from the first cycle of fc1 to the last cycle of fc2; each is summed over the blocks; the image's is
its total cycles. Every value is divided by the one with both switches on. Prints a Markdown table.
Standard library only.
"""
import argparse
import csv
import json
import os
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SETTINGS = [("neither", False, False), ("inter-layer only", True, False), ("intra-layer only", False, True),
            ("both", True, True)]
PAPER = {"attention": [1.79, 1.45, 1.34, 1.00], "MLP": [1.15, 1.00, 1.15, 1.00],
         "overall": [1.57, 1.32, 1.37, 1.00]}


def run(cmd):
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed ({done.returncode}):\n{done.stderr}")
    return done.stdout


def spans(layers_csv):
    """Sum over blocks of (attention span, MLP span), from layers.csv."""
    rows = {r["name"]: r for r in csv.DictReader(open(layers_csv))}
    attention = mlp = 0
    block = 0
    while f"blocks.{block}.attn.qkv" in rows:
        p = f"blocks.{block}."
        attention += int(rows[p + "attn.proj"]["end"]) - int(rows[p + "attn.qkv"]["start"]) + 1
        mlp += int(rows[p + "mlp.fc2"]["end"]) - int(rows[p + "mlp.fc1"]["start"]) + 1
        block += 1
    if block == 0:
        sys.exit(f"{layers_csv}: no transformer block (blocks.0.attn.qkv)")
    return attention, mlp


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--vitsim", default=os.path.join(ROOT, "build", "release", "vitsim"))
    ap.add_argument("--model", default="deit-small")
    ap.add_argument("--res", type=int, default=224)
    ap.add_argument("--recipe", default="p2vit-w8a8")
    ap.add_argument("--calib-count", type=int, default=4)
    ap.add_argument("--timing", default="fast", choices=["fast", "cycle"])
    a = ap.parse_args()
    with open(os.path.join(ROOT, "configs", "accel", "p2-vit.json")) as f:
        base = json.load(f)
    base.pop("$schema", None)
    with tempfile.TemporaryDirectory() as tmp:
        vqg = os.path.join(tmp, "model.vqg")
        run([a.vitsim, "quantize", "--model", a.model, "--res", str(a.res), "--recipe", a.recipe,
             "--calib-count", str(a.calib_count), "--eval", "none", "--out", vqg])
        measured = []
        for label, inter, intra in SETTINGS:
            config = dict(base, pipelining={"inter_layer": inter, "intra_layer": intra})
            config_file = os.path.join(tmp, f"p2-vit-{inter:d}{intra:d}.json")
            with open(config_file, "w") as f:
                json.dump(config, f)
            layers_csv, report = os.path.join(tmp, "layers.csv"), os.path.join(tmp, "report.json")
            run([a.vitsim, "simulate", "--qgraph", vqg, "--accel", config_file, "--timing", a.timing,
                 "--layers-csv", layers_csv, "--report", report])
            with open(report) as f:
                cycles = json.load(f)["cycles"]
            attention, mlp = spans(layers_csv)
            measured.append({"attention": attention, "MLP": mlp, "overall": cycles})
    both = measured[-1]
    print(f"{a.model} @{a.res}, {a.recipe}, p2-vit, {a.timing} timing; normalized latency (lower is better), "
          "paper / vitsim:\n")
    print("| part | " + " | ".join(label for label, _, _ in SETTINGS) + " | vitsim cycles, both on |")
    print("|---|" + "---:|" * (len(SETTINGS) + 1))
    for part in ("attention", "MLP", "overall"):
        cells = [f"{paper:.2f} / {m[part] / both[part]:.2f}" for paper, m in zip(PAPER[part], measured)]
        print(f"| {part} | " + " | ".join(cells) + f" | {both[part]:,} |")


if __name__ == "__main__":
    main()
