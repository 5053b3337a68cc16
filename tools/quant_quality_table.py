#!/usr/bin/env python3
"""Regenerates docs/quant-quality.md: top-1 accuracy of every recipe on the trained Fashion-MNIST EfficientViT
fixture (all 10,000 test images), output SQNR of every recipe on EfficientViT-B1 @224 with synthetic weights,
of the standard-ViT recipes and their ablations on DeiT-Tiny @224 with synthetic weights, and top-1 accuracy
of the standard-ViT recipes and ablations on the trained Fashion-MNIST ViT fixture (all 10,000 test images).

    python3 tools/quant_quality_table.py [--vitsim build/release/vitsim] [--eval-count 10000]
                                         [--deit-only | --vit-fixture-only]

Runs `vitsim quantize` once per (model, recipe) and reads the quality reports it writes. The ViT fixture's
rows also go to tests/data/fashion_vit/quant_quality.json, where the fixture's ctest reads its bounds.
Standard library only. Takes about 3 minutes on 2 cores.
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


# Standard ViTs: the recipes that define ViT ops, then one option of one of them changed: (base, change, name,
# None) for a recipe file `name` in configs/quant/, (base, change, name, {key: value}) for the base with the
# keys replaced, written as recipe `name` (P2-ViT's counterparts with the calibrator's float scales and with
# plain power-of-two rounding).
VIT_RECIPES = ["naive-w8a8", "vit-w8a8", "p2vit-w8a8", "p2vit-w4a8", "autovitacc-mixed"]
DEIT_HEADING = "## DeiT-Tiny @224, synthetic weights (8 synthetic evaluation images)"
FLOAT_SCALES = {"scales": "float", "pot_rounding": "nearest"}
PLAIN_POT = {"pot_rounding": "nearest"}
VIT_ABLATIONS = [
    ("vit-w8a8", "8-bit uniform Softmax codes instead of 4-bit log2", "vit-w8a8-softmax-uniform", None),
    ("vit-w8a8", "no PTF on LayerNorm inputs", "vit-w8a8-no-ptf", None),
    ("vit-w8a8", "GELU table instead of i-GELU", "vit-w8a8-gelu-table", None),
    ("p2vit-w8a8", "float scales instead of powers of two", "p2vit-w8a8-float-scales", FLOAT_SCALES),
    ("p2vit-w8a8", "plain power-of-two rounding instead of adaptive", "p2vit-w8a8-plain-pot", PLAIN_POT),
    ("p2vit-w4a8", "float scales instead of powers of two", "p2vit-w4a8-float-scales", FLOAT_SCALES),
    ("p2vit-w4a8", "plain power-of-two rounding instead of adaptive", "p2vit-w4a8-plain-pot", PLAIN_POT),
]
# Rows of the ViT fixture's section only (the search scores many choices: not rerun on DeiT-Tiny @224).
VIT_FIXTURE_MIXED = ["p2vit-mixed"]
VIT_FIXTURE_DIR = os.path.join(ROOT, "tests", "data", "fashion_vit")
VIT_FIXTURE_HEADING = "## Trained DeiT-style ViT on Fashion-MNIST"
VIT_FIXTURE_CALIB = 256


def ablation_recipe(workdir, index, base, change, name=None):
    with open(os.path.join(ROOT, "configs", "quant", base + ".json")) as f:
        recipe = json.load(f)
    for key, value in change.items():
        if isinstance(value, dict):
            recipe.setdefault(key, {}).update(value)
        else:
            recipe[key] = value
    if recipe.get("attention", {}).get("divisor") == "log2":
        recipe["attention"].pop("divisor_bits", None)
    recipe["name"] = name or f"{base}-ablation-{index}"
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
        vit = deit_lines(args.vitsim, work) + vit_fixture_lines(args.vitsim, work, args.eval_count)

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
    runs = [(base, what, quantize(vitsim, work, "deit", recipe, *deit)) for _, base, what, recipe in vit_runs(work)]
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


def vit_runs(work):
    """(name, base, change, recipe argument) of every standard-ViT row: the recipes, then the ablations."""
    runs = [(r, r, "", r) for r in VIT_RECIPES]
    for base, what, name, change in VIT_ABLATIONS:
        runs.append((name, base, what, name if change is None else ablation_recipe(work, 0, base, change, name)))
    return runs


def vit_fixture_lines(vitsim, work, eval_count):
    """The trained ViT fixture's section; also writes its rows to tests/data/fashion_vit/quant_quality.json."""
    fixture = (["--onnx", os.path.join(VIT_FIXTURE_DIR, "model.onnx")],
               ["--calib", "fashion-mnist", "--calib-count", str(VIT_FIXTURE_CALIB)],
               ["--eval", "fashion-mnist", "--eval-count", str(eval_count)])
    runs = vit_runs(work) + [(r, r, "", r) for r in VIT_FIXTURE_MIXED]
    reports = {r: quantize(vitsim, work, "vit", recipe, *fixture) for r, _, _, recipe in runs}
    first = reports[VIT_RECIPES[0]]
    fp32 = first["accuracy"]["fp32"]
    lines = [
        "",
        f"{VIT_FIXTURE_HEADING} ({first['accuracy']['labelled']:,} test images)",
        "",
        "The ViT fixture of `docs/fixture.md` (ONNX import), calibrated on the first "
        f"{VIT_FIXTURE_CALIB} training images (min-max).",
        "FP32 is the imported graph on vitsim's FP32 executor; naive-w8a8 is the naive W8A8 of",
        "docs/quantization.md (8-bit per-channel weights, 8-bit per-tensor activations, uniform 8-bit Softmax",
        "codes, no PTF, GELU by table); each ablation changes one option of the recipe in its first column (a",
        "recipe file in `configs/quant/`, or written by the script). SQNR, cosine and agreement compare the",
        "integer logits with FP32. p2vit-mixed calibrates on the first 3/4 of those images and scores its",
        "search on the last 1/4 (never on test images); its row says what the search chose.",
        "",
        "| recipe | change | top-1 | vs FP32 | agreement with FP32 | logits SQNR (dB) | logits cosine |",
        "|---|---|---:|---:|---:|---:|---:|",
        f"| FP32 | | {100 * fp32:.2f}% | | | | |",
    ]
    for r, base, what, _ in runs:
        q = reports[r]
        acc = q["accuracy"]["int"]
        if "mixed_precision" in q:
            m = q["mixed_precision"]
            high = sum(1 for l in m["layers"] if l["weight_bits"] == 8)
            what = (f"{high} of {len(m['layers'])} layers at 8-bit weights, BOPs {m['bops_ratio']:.3f}x the "
                    f"all-4-bit model (budget {m['budget']}x)")
        lines.append(f"| {base} | {what} | {100 * acc:.2f}% | {100 * (acc - fp32):+.2f} "
                     f"| {100 * q['top1_agreement']:.2f}% | {q['output_sqnr_db']:.2f} | {q['output_cosine']:.4f} |")
    table = {
        "what": "accuracy of vitsim quantize on the fixture, written by tools/quant_quality_table.py",
        "calibration": {"split": "train", "first_images": VIT_FIXTURE_CALIB},
        "evaluation": {"split": "test", "first_images": first["accuracy"]["labelled"]},
        "fp32_accuracy": fp32,
        "recipes": {r: {"accuracy": reports[r]["accuracy"]["int"], "top1_agreement": reports[r]["top1_agreement"],
                        "output_sqnr_db": reports[r]["output_sqnr_db"]} for r, _, _, _ in runs},
    }
    path = os.path.join(VIT_FIXTURE_DIR, "quant_quality.json")
    with open(path + ".tmp", "w") as f:
        json.dump(table, f, indent=2, sort_keys=True)
        f.write("\n")
    os.replace(path + ".tmp", path)
    return lines


def replace_section(path, heading, lines):
    """Replaces the section that starts with `heading` (up to the next '## ' heading) by `lines`, or appends."""
    with open(path) as f:
        text = f.read().rstrip("\n").split("\n")
    start = next((i for i, l in enumerate(text) if l.startswith(heading)), None)
    if start is None:
        return write(path, text + lines)
    end = next((i for i in range(start + 1, len(text)) if text[i].startswith("## ")), len(text))
    while start > 0 and not text[start - 1]:
        start -= 1
    write(path, text[:start] + lines + ([""] + text[end:] if end < len(text) else []))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--vitsim", default=os.path.join(ROOT, "build", "release", "vitsim"))
    ap.add_argument("--eval-count", type=int, default=10000)
    ap.add_argument("--out", default=os.path.join(ROOT, "docs", "quant-quality.md"))
    only = ap.add_mutually_exclusive_group()
    only.add_argument("--deit-only", action="store_true",
                      help="rerun only the DeiT-Tiny section and replace (or append) it in --out")
    only.add_argument("--vit-fixture-only", action="store_true",
                      help="rerun only the trained ViT fixture's section and replace (or append) it in --out")
    args = ap.parse_args()
    if not (args.deit_only or args.vit_fixture_only):
        return regenerate(args)
    with tempfile.TemporaryDirectory() as work:
        if args.deit_only:
            replace_section(args.out, DEIT_HEADING, deit_lines(args.vitsim, work))
        else:
            replace_section(args.out, VIT_FIXTURE_HEADING, vit_fixture_lines(args.vitsim, work, args.eval_count))


if __name__ == "__main__":
    sys.exit(main())
