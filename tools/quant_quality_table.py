#!/usr/bin/env python3
"""Regenerates docs/quant-quality.md: top-1 accuracy of every recipe on the trained Fashion-MNIST fixture
(all 10,000 test images), output SQNR of every recipe on EfficientViT-B1 @224 with synthetic weights, and of
the standard-ViT recipes and their ablations on DeiT-Tiny @224 with synthetic weights.

    python3 tools/quant_quality_table.py [--vitsim build/release/vitsim] [--eval-count 10000] [--deit-only]

Runs `vitsim quantize` once per (model, recipe) and reads the quality reports it writes. Standard library
only. Takes about 3 minutes on 2 cores.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RECIPES = ["naive-w8a8", "trio-w8a8", "trio-w4a8", "trio-w8a4"]
# One change to a bundled recipe each, to see where the error comes from (fixture only).
ABLATIONS = [
    ("trio-w8a8", "uniform 8-bit divisor instead of log2", {"attention": {"divisor": "uniform"}}),
    ("trio-w8a8", "log2 rounding at sqrt(2) (authors' code)", {"attention": {"log2_rounding": "sqrt2"}}),
    ("trio-w8a8", "no channel-wise migration", {"channel_migration": {"enabled": False}}),
    ("trio-w8a8", "no filter-wise shifting", {"filter_shift": {"enabled": False}}),
    ("trio-w8a8", "one quantizer for both attention branches", {"attention": {"per_branch": False}}),
    ("naive-w8a8", "log2 divisor instead of uniform", {"attention": {"divisor": "log2"}}),
    ("trio-w8a4", "MSE calibrator instead of min-max", {"calibrator": "mse"}),
]


# DeiT-Tiny (synthetic weights): the two recipes that define ViT ops, and vit-w8a8 with one option changed.
VIT_RECIPES = ["naive-w8a8", "vit-w8a8"]
DEIT_HEADING = "## DeiT-Tiny @224, synthetic weights (8 synthetic evaluation images)"
VIT_ABLATIONS = [
    ("vit-w8a8", "8-bit uniform Softmax codes instead of 4-bit log2", {"softmax": {"output": "uniform", "bits": 8}}),
    ("vit-w8a8", "no PTF on LayerNorm inputs", {"layernorm": {"ptf": False}}),
    ("vit-w8a8", "GELU table instead of i-GELU", {"gelu": "table"}),
]


def ablation_recipe(workdir, index, base, change):
    with open(os.path.join(ROOT, "configs", "quant", base + ".json")) as f:
        recipe = json.load(f)
    for key, value in change.items():
        if isinstance(value, dict):
            recipe.setdefault(key, {}).update(value)
        else:
            recipe[key] = value
    if recipe.get("attention", {}).get("divisor") == "log2":
        recipe["attention"].pop("divisor_bits", None)
    recipe["name"] = f"{base}-ablation-{index}"
    path = os.path.join(workdir, recipe["name"] + ".json")
    with open(path, "w") as f:
        json.dump(recipe, f)
    return path


def quantize(vitsim, workdir, tag, recipe, model_args, calib_args, eval_args):
    out = os.path.join(workdir, f"{tag}-{os.path.splitext(os.path.basename(recipe))[0]}.vqg")
    cmd = [vitsim, "quantize", *model_args, "--recipe", recipe, *calib_args, *eval_args, "--out", out]
    print("+", " ".join(cmd), flush=True)
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    with open(out + ".quality.json") as f:
        return json.load(f)


def regenerate(args):
    fixture = os.path.join(ROOT, "tests", "data", "fashion_evit", "model.onnx")

    with tempfile.TemporaryDirectory() as work:
        fx = {r: quantize(args.vitsim, work, "fashion", r, ["--onnx", fixture],
                          ["--calib", "fashion-mnist", "--calib-count", "256"],
                          ["--eval", "fashion-mnist", "--eval-count", str(args.eval_count)]) for r in RECIPES}
        fashion = (["--onnx", fixture], ["--calib", "fashion-mnist", "--calib-count", "256"],
                   ["--eval", "fashion-mnist", "--eval-count", str(args.eval_count)])
        ablations = [quantize(args.vitsim, work, "fashion", ablation_recipe(work, i, base, change), *fashion)
                     for i, (base, _, change) in enumerate(ABLATIONS)]
        b1 = {r: quantize(args.vitsim, work, "b1", r, ["--model", "efficientvit-b1", "--res", "224"],
                          ["--calib", "synthetic", "--calib-count", "32"],
                          ["--eval", "synthetic", "--eval-count", "8"]) for r in RECIPES}
        vit = deit_lines(args.vitsim, work)

    first = fx[RECIPES[0]]
    lines = [
        "# Quantization quality",
        "",
        "Regenerate with `python3 tools/quant_quality_table.py` (after `bash setup.sh`); every number below is",
        "written by that script from `vitsim quantize` quality reports.",
        "",
        f"## Trained EfficientViT-style model on Fashion-MNIST ({first['accuracy']['labelled']:,} test images)",
        "",
        "The fixture of `docs/fixture.md` (ONNX import), calibrated on the first 256 training images with each",
        "recipe's calibrator. Top-1 accuracy; SQNR and cosine of the logits against FP32.",
        "",
        "| recipe | top-1 | vs FP32 | agreement with FP32 | logits SQNR (dB) | logits cosine |",
        "|---|---:|---:|---:|---:|---:|",
        f"| FP32 | {100 * first['accuracy']['fp32']:.2f}% | | | | |",
    ]
    for r in RECIPES:
        q = fx[r]
        acc, fp = q["accuracy"]["int"], q["accuracy"]["fp32"]
        lines.append(f"| {r} | {100 * acc:.2f}% | {100 * (acc - fp):+.2f} | {100 * q['top1_agreement']:.2f}% "
                     f"| {q['output_sqnr_db']:.2f} | {q['output_cosine']:.4f} |")
    lines += [
        "",
        "### Ablations: one change to a recipe",
        "",
        "| recipe | change | top-1 | logits SQNR (dB) |",
        "|---|---|---:|---:|",
    ]
    for (base, what, _), q in zip(ABLATIONS, ablations):
        lines.append(f"| {base} | {what} | {100 * q['accuracy']['int']:.2f}% | {q['output_sqnr_db']:.2f} |")
    lines += [
        "",
        "## EfficientViT-B1 @224, synthetic weights (8 synthetic evaluation images)",
        "",
        "Synthetic weights and inputs (docs/models.md) have no trained structure, so only the signal-to-noise",
        "figures mean something here; the worst layer is the lowest per-layer SQNR (errors accumulated).",
        "",
        "| recipe | logits SQNR (dB) | logits cosine | worst layer | its SQNR (dB) |",
        "|---|---:|---:|---|---:|",
    ]
    for r in RECIPES:
        q = b1[r]
        finite = [l for l in q["layers"] if isinstance(l["sqnr_db"], (int, float))]
        worst = min(finite, key=lambda l: l["sqnr_db"])
        lines.append(f"| {r} | {q['output_sqnr_db']:.2f} | {q['output_cosine']:.4f} | {worst['name']} "
                     f"| {worst['sqnr_db']:.2f} |")
    write(args.out, lines + vit)


def write(path, lines):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write("\n".join(lines) + "\n")
    os.replace(tmp, path)
    print("wrote", path)


def deit_lines(vitsim, work):
    """The DeiT-Tiny section: the standard-ViT recipes and vit-w8a8's ablations."""
    deit = (["--model", "deit-tiny"], ["--calib", "synthetic", "--calib-count", "32"],
            ["--eval", "synthetic", "--eval-count", "8"])
    runs = [(r, "", quantize(vitsim, work, "deit", r, *deit)) for r in VIT_RECIPES]
    runs += [(base, what, quantize(vitsim, work, "deit", ablation_recipe(work, 100 + i, base, change), *deit))
             for i, (base, what, change) in enumerate(VIT_ABLATIONS)]
    lines = [
        "",
        DEIT_HEADING,
        "",
        "The standard-ViT recipes (docs/quantization.md), calibrated on 32 synthetic images. With synthetic",
        "weights the attention is nearly uniform (each of the 197 probabilities near 1/197), the hardest case",
        "for both 4-bit log2 and 8-bit uniform Softmax codes; a trained ViT's peaked attention is not",
        "represented here.",
        "",
        "| recipe | change | logits SQNR (dB) | logits cosine | worst layer | its SQNR (dB) |",
        "|---|---|---:|---:|---|---:|",
    ]
    for r, what, q in runs:
        finite = [l for l in q["layers"] if isinstance(l["sqnr_db"], (int, float))]
        worst = min(finite, key=lambda l: l["sqnr_db"])
        lines.append(f"| {r} | {what} | {q['output_sqnr_db']:.2f} | {q['output_cosine']:.4f} | {worst['name']} "
                     f"| {worst['sqnr_db']:.2f} |")
    return lines


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--vitsim", default=os.path.join(ROOT, "build", "release", "vitsim"))
    ap.add_argument("--eval-count", type=int, default=10000)
    ap.add_argument("--out", default=os.path.join(ROOT, "docs", "quant-quality.md"))
    ap.add_argument("--deit-only", action="store_true",
                    help="rerun only the DeiT-Tiny section and replace (or append) it in --out")
    args = ap.parse_args()
    if not args.deit_only:
        return regenerate(args)
    with open(args.out) as f:
        kept = f.read().split("\n" + DEIT_HEADING)[0].rstrip("\n").split("\n")
    with tempfile.TemporaryDirectory() as work:
        write(args.out, kept + deit_lines(args.vitsim, work))


if __name__ == "__main__":
    sys.exit(main())
