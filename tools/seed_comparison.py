#!/usr/bin/env python3
"""The seed papers' comparison (docs/figures.md, "The seed papers' comparison"): FPS, FPS/DSP, GOPS and
GOPS/DSP of each (accelerator, model, recipe) row of ROWS, simulated by `vitsim run` in fast mode (synthetic
weights, one calibration image: cycles do not depend on the images, docs/simulation.md), next to the
recipe's top-1 accuracy on the matching trained Fashion-MNIST fixture (`vitsim quantize --eval`,
docs/fixture.md) and the published value where a paper states one.

    /usr/bin/python3 tools/seed_comparison.py [--vitsim build/release/vitsim] [--doc docs/figures.md]
                                              [--png docs/figures/seed-comparison.png | --no-figure]
                                              [--row ACCEL,MODEL,RECIPE ...] [--res 224]
                                              [--calib-count 256] [--eval-count 10000]

Writes two markdown tables (the rows; the accelerators' resource estimates on the ZCU102) between the
marker comments MARK_BEGIN and MARK_END of --doc, and the figure. Reads report.json and the quality and
`vitsim accel --json` files, never the printed text. The same inputs give the same bytes. Progress on
stderr. Bad input (an unknown accelerator, model or recipe, no vitsim, no matplotlib, no markers) exits 2
and leaves --doc and --png untouched. bash tools/make_figures.sh runs it (about 2.5 minutes of CPU).
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEVICE = "zcu102"
MARK_BEGIN = "<!-- seed-comparison:begin (tools/seed_comparison.py writes this part) -->"
MARK_END = "<!-- seed-comparison:end -->"

# Published values: (metric, value, source), the sources named in docs/figures.md. Metrics: "fps", "gops",
# "gops_per_dsp".
P2VIT = "P²-ViT"  # Shi et al., TVLSI 2024, arXiv 2405.19915: W8A8, in its comparison with Auto-ViT-Acc
AUTOVIT = "Auto-ViT-Acc"  # Li et al., FPL 2022, arXiv 2208.05163: DeiT-B on a ZCU102
PRECURSOR = "Trio-ViT precursor, model not stated"  # arXiv 2403.20230: EfficientViT on a ZCU102
# One line per row: (accelerator config, zoo model, recipe, published values). Adding a row is one line.
ROWS = [
    ("trio-vit", "efficientvit-b1", "trio-w8a8", [("gops", 780.2, PRECURSOR)]),
    ("trio-vit", "efficientvit-b2", "trio-w8a8", [("gops", 780.2, PRECURSOR)]),
    ("p2-vit", "deit-tiny", "p2vit-w8a8", []),
    ("p2-vit", "deit-small", "p2vit-w8a8", [("gops_per_dsp", 0.623, P2VIT)]),
    ("p2-vit", "deit-base", "p2vit-w8a8", [("gops_per_dsp", 0.799, P2VIT)]),
    ("auto-vit-acc", "deit-tiny", "autovitacc-mixed", []),
    ("auto-vit-acc", "deit-small", "autovitacc-mixed", []),
    ("auto-vit-acc", "deit-base", "autovitacc-mixed", [("fps", 56.8, AUTOVIT)]),
    # Auto-ViT-Acc's FP32 baseline (timing needs only the graph's shapes: vit-w8a8's graph, 4-byte elements).
    ("autovitacc-fp32-baseline", "deit-base", "vit-w8a8", [("fps", 10.0, AUTOVIT)]),
]
METRIC_NAMES = {"fps": "FPS", "gops": "GOPS", "gops_per_dsp": "GOPS/DSP"}
# The trained fixture a row's recipe is measured on: EfficientViT models on the EfficientViT fixture, the
# rest (DeiT, ViT) on the DeiT-style ViT fixture.
FIXTURES = {"efficientvit": "tests/data/fashion_evit/model.onnx", "vit": "tests/data/fashion_vit/model.onnx"}


class BadInput(Exception):
    pass


def fixture_of(model):
    return FIXTURES["efficientvit" if model.startswith("efficientvit") else "vit"]


def progress(message):
    print("seed_comparison: " + message, file=sys.stderr, flush=True)


def run(cmd):
    """Runs a vitsim command; its failure (an unknown config, model or recipe: exit 2) is bad input."""
    done = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if done.returncode != 0:
        raise BadInput(f"`{' '.join(cmd)}` exited {done.returncode}: {done.stderr.strip()}")


def simulate(args, work, accel, model, recipe):
    report = os.path.join(work, f"{accel}-{model}-{recipe}.json")
    progress(f"{model} @{args.res}, {recipe} on {accel}")
    run([args.vitsim, "run", "--model", model, "--res", str(args.res), "--recipe", recipe, "--calib-count", "1",
         "--accel", accel, "--timing", "fast", "--report", report])
    with open(report) as f:
        return json.load(f)


def fixture_accuracy(args, work, fixture, recipe):
    out = os.path.join(work, f"{os.path.basename(os.path.dirname(fixture))}-{recipe}.vqg")
    progress(f"{recipe} on {os.path.dirname(fixture)} ({args.eval_count} test images)")
    run([args.vitsim, "quantize", "--onnx", os.path.join(ROOT, fixture), "--recipe", recipe, "--calib",
         "fashion-mnist", "--calib-count", str(args.calib_count), "--eval", "fashion-mnist", "--eval-count",
         str(args.eval_count), "--out", out])
    with open(out + ".quality.json") as f:
        return json.load(f)["accuracy"]


def resources(args, accel):
    done = subprocess.run([args.vitsim, "accel", "--config", accel, "--device", DEVICE, "--json"],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if done.returncode != 0:
        raise BadInput(f"`vitsim accel --config {accel}` exited {done.returncode}: {done.stderr.strip()}")
    config = json.loads(done.stdout)
    return dict(config["resources"], number_format=config["number_format"])


def measure(args, rows):
    """One dict per row (report metrics, fixture accuracy, published values) and the configs' resources."""
    with tempfile.TemporaryDirectory() as work:
        reports = [simulate(args, work, accel, model, recipe) for accel, model, recipe, _ in rows]
        accuracy = {}
        for _, model, recipe, _ in rows:
            key = (fixture_of(model), recipe)
            if key not in accuracy:
                accuracy[key] = fixture_accuracy(args, work, *key)
    configs = {}
    for accel, _, _, _ in rows:
        configs.setdefault(accel, resources(args, accel))
    measured = [dict(accel=accel, model=model, recipe=recipe, published=published, report=report,
                     accuracy=accuracy[(fixture_of(model), recipe)], fixture=fixture_of(model))
                for (accel, model, recipe, published), report in zip(rows, reports)]
    return measured, configs


def table_lines(measured, configs, res, device):
    lines = [
        f"| accelerator | model @{res} | recipe | DSPs | FPS | FPS/DSP | GOPS | GOPS/DSP | published | "
        "fixture top-1 | fixture FP32 top-1 |",
        "|---|---|---|---:|---:|---:|---:|---:|---|---:|---:|",
    ]
    for m in measured:
        r, acc = m["report"], m["accuracy"]
        published = "; ".join(f"{value:g} {METRIC_NAMES[metric]} ({source})" for metric, value, source in
                              m["published"])
        fixture = "EfficientViT" if "evit" in m["fixture"] else "ViT"
        # An FP32 datapath runs the model unquantized: its accuracy is the fixture's FP32 top-1.
        top1 = acc["fp32"] if configs[m["accel"]]["number_format"] == "fp32" else acc["int"]
        lines.append(f"| {m['accel']} | {m['model']} | {m['recipe']} | {r['dsps']:,} | {r['fps']:.1f} | "
                     f"{r['fps_per_dsp']:.4f} | {r['gops']:.1f} | {r['dsp_efficiency']:.3f} | {published} | "
                     f"{100 * top1:.2f}% ({fixture}) | {100 * acc['fp32']:.2f}% |")
    lines += [
        "",
        f"| accelerator | DSPs | LUTs | BRAM36 | fits the {device['name']} "
        f"({device['dsps']:,} DSPs, {device['luts']:,} LUTs, {device['bram36']:,} BRAM36) |",
        "|---|---:|---:|---:|---|",
    ]
    for accel, res_ in configs.items():
        u = res_["fit"]["utilization_percent"]
        fits = "yes" if res_["fit"]["fits"] else f"no ({res_['fit']['over']})"
        lines.append(f"| {accel} | {res_['dsps']:,} ({u['dsps']:.1f}%) | {res_['luts']:,} ({u['luts']:.1f}%) | "
                     f"{res_['bram36']:,} ({u['bram36']:.1f}%) | {fits} |")
    return lines


def marked_section(path):
    """The text of `path` and where its generated section starts and ends (checked before any run)."""
    with open(path) as f:
        text = f.read()
    begin, end = text.find(MARK_BEGIN), text.find(MARK_END)
    if begin < 0 or end < begin:
        raise BadInput(f"{path} has no '{MARK_BEGIN}' ... '{MARK_END}' section")
    return text, begin + len(MARK_BEGIN), end


def replace_section(path, section, lines):
    text, begin, end = section
    new = text[:begin] + "\n" + "\n".join(lines) + "\n" + text[end:]
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(new)
    os.replace(tmp, path)


def draw(measured, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = [f"{m['accel']}\n{m['model']}\n{m['recipe']}" for m in measured]
    panels = [("fps", "FPS (log scale)", True), ("gops_per_dsp", "GOPS/DSP", False), ("fps_per_dsp", "FPS/DSP", False)]
    keys = {"fps": "fps", "gops_per_dsp": "dsp_efficiency", "fps_per_dsp": "fps_per_dsp"}
    fig, axes = plt.subplots(len(panels), 1, figsize=(10, 9), sharex=True)
    x = range(len(measured))
    for ax, (metric, title, log) in zip(axes, panels):
        bars = ax.bar([i - 0.2 for i in x], [m["report"][keys[metric]] for m in measured], 0.4, label="vitsim",
                      color="#4c72b0")
        ax.bar_label(bars, fmt="%.3g", fontsize=7)
        pub = [(i, v) for i, m in enumerate(measured) for k, v, _ in m["published"] if k == metric]
        if pub:
            bars = ax.bar([i + 0.2 for i, _ in pub], [v for _, v in pub], 0.4, label="published", color="#dd8452")
            ax.bar_label(bars, fmt="%.3g", fontsize=7)
        ax.set_ylabel(title)
        if log:
            ax.set_yscale("log")
        ax.margins(y=0.3)  # room for the legend above the tallest bar
        ax.grid(axis="y", alpha=0.3)
        ax.legend(loc="upper right", fontsize=8)
    axes[-1].set_xticks(list(x))
    axes[-1].set_xticklabels(labels, fontsize=7)
    fig.suptitle("The seed papers' accelerators on ZCU102-sized configs (fast mode, batch 1)")
    fig.tight_layout()
    tmp = path + ".tmp"
    fig.savefig(tmp, dpi=100, format="png", metadata={"Software": None})
    os.replace(tmp, path)
    plt.close(fig)


def parse_row(text):
    parts = text.split(",")
    if len(parts) != 3 or not all(parts):
        raise argparse.ArgumentTypeError(f"'{text}' is not ACCEL,MODEL,RECIPE")
    return (*parts, [])


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--vitsim", default=os.path.join(ROOT, "build", "release", "vitsim"))
    ap.add_argument("--doc", default=os.path.join(ROOT, "docs", "figures.md"))
    ap.add_argument("--png", default=os.path.join(ROOT, "docs", "figures", "seed-comparison.png"))
    ap.add_argument("--no-figure", action="store_true", help="write the tables only (no matplotlib needed)")
    ap.add_argument("--row", type=parse_row, action="append",
                    help="ACCEL,MODEL,RECIPE instead of the built-in rows (repeatable; no published values)")
    ap.add_argument("--res", type=int, default=224, help="input resolution of every row")
    ap.add_argument("--calib-count", type=int, default=256, help="fixture calibration images")
    ap.add_argument("--eval-count", type=int, default=10000, help="fixture test images")
    args = ap.parse_args()
    try:
        if not os.access(args.vitsim, os.X_OK):
            raise BadInput(f"no vitsim at {args.vitsim}: build it (bash setup.sh) or pass --vitsim")
        if not args.no_figure:
            try:
                import matplotlib  # noqa: F401
            except ImportError:
                raise BadInput("needs Debian's python3-matplotlib (apt-get install -y python3-matplotlib)")
        with open(os.path.join(ROOT, "configs", "devices", DEVICE + ".json")) as f:
            device = json.load(f)
        section = marked_section(args.doc)
        measured, configs = measure(args, args.row or ROWS)
    except (BadInput, OSError) as e:
        print(f"seed_comparison: {e}", file=sys.stderr)
        return 2
    if not args.no_figure:
        draw(measured, args.png)
        progress(f"wrote {args.png}")
    replace_section(args.doc, section, table_lines(measured, configs, args.res, device))
    progress(f"wrote {args.doc}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
