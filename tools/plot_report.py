#!/usr/bin/env python3
"""Draws the figures of one vitsim report.json (`vitsim run|simulate ... --report F`, docs/metrics.md):

    /usr/bin/python3 tools/plot_report.py REPORT.json --out DIR [--prefix NAME] [--zoom BLOCK]

writes DIR/NAME-layers.png, DIR/NAME-timeline.png and DIR/NAME-roofline.png (NAME defaults to
<model>-<res>-<accel>):
  layers    per-layer cycles stacked by cause (busy, port, aux, DRAM, dependency) in graph order, the
            layer's span as a tick, and its MAC utilization = macs / (span x multipliers of the engines
            it ran on) on the right axis; layers that ran nothing are left out.
  timeline  Gantt chart: one row per unit that ran tiles plus the DMA load and store queues, segments
            colored by layer type; gaps are stalls. The lower panel zooms on one block (--zoom, default:
            the first block with an attention kernel).
  roofline  per layer: x = 2 x MACs / DRAM bytes (ops/byte), y = 2 x MACs / span x f_clk (GOPS), under
            the compute roof (peak_gops) and the memory roof (dram_bandwidth_gbps x x), log-log.
  energy    (a report with "energy", docs/energy.md) the image's energy stacked by component (compute,
            clock, on-chip memory, DRAM, static), and per layer its compute, on-chip memory and DRAM
            read/write energy stacked in graph order; writes DIR/NAME-energy.png.

Needs Debian's python3-matplotlib. Output is deterministic: fixed size and DPI, no software or date in the
PNG metadata, each file written to a temporary name and renamed into place. Bad input exits 2 with a
message naming the file and the field.
"""
import argparse
import json
import math
import os
import sys
import tempfile

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (after the backend is chosen)
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402
from matplotlib.ticker import FuncFormatter  # noqa: E402

DPI = 110
STALL_CAUSES = [  # (key in cycles{}, legend name, color)
    ("busy", "busy", "#4c72b0"),
    ("stall_port", "buffer port stall", "#dd8452"),
    ("stall_aux", "aux output stall", "#8172b3"),
    ("stall_dram", "DRAM stall", "#c44e52"),
    ("stall_dependency", "dependency stall", "#937860"),
]
# Fixed colors for the zoo's layer labels, so a label looks the same in every figure and report.
LABEL_COLORS = {
    "conv3x3": "#1b2a49",
    "pw1x1": "#4c72b0",
    "dw3x3": "#55a868",
    "dw5x5": "#2ca02c",
    "gconv1x1": "#17becf",
    "matmul": "#dd8452",
    "attn_kernel": "#e377c2",
    "attn_normalize": "#9467bd",
    "add": "#8c8c8c",
    "avgpool": "#bcbd22",
    "linear": "#c44e52",
    "concat": "#7f7f7f",
}
SPARE_COLORS = ["#8c564b", "#ff7f0e", "#d62728", "#98df8a", "#aec7e8", "#ffbb78", "#c5b0d5", "#f7b6d2"]


class ReportError(Exception):
    """A report that cannot be drawn; the message names the file and the field."""


def field(obj, key, where, path):
    if not isinstance(obj, dict) or key not in obj:
        raise ReportError(f"{path}: missing field '{where}{key}'")
    return obj[key]


def load_report(path):
    try:
        with open(path, encoding="utf-8") as f:
            report = json.load(f)
    except OSError as e:
        raise ReportError(f"{path}: cannot read: {e.strerror}") from e
    except json.JSONDecodeError as e:
        raise ReportError(f"{path}:{e.lineno}: not JSON: {e.msg}") from e
    if field(report, "schema", "", path) != "vitsim-report":
        raise ReportError(f"{path}: field 'schema' is {report['schema']!r}, expected 'vitsim-report'")
    for key in ("model", "resolution", "recipe", "accel", "clock_mhz", "cycles", "peak_gops",
                "dram_bandwidth_gbps", "macs", "gops", "dram_bytes_read", "dram_bytes_written"):
        field(report, key, "", path)
    for key in ("clock_mhz", "peak_gops", "dram_bandwidth_gbps"):
        if not isinstance(report[key], (int, float)) or report[key] <= 0:
            raise ReportError(f"{path}: field '{key}' is {report[key]!r}, expected a positive number")
    for i, res in enumerate(field(report, "resources", "", path)):
        for key in ("name", "engine", "multipliers", "tiles", "timeline"):
            field(res, key, f"resources[{i}].", path)
    dma = field(report, "dma", "", path)
    for key in ("load", "store"):
        field(dma, key, "dma.", path)
    for i, layer in enumerate(field(report, "layers", "", path)):
        for key in ("name", "label", "op", "start", "end", "span_cycles", "macs", "resources", "cycles",
                    "dram_bytes_read", "dram_bytes_written"):
            field(layer, key, f"layers[{i}].", path)
        for key, _, _ in STALL_CAUSES:
            field(layer["cycles"], key, f"layers[{i}].cycles.", path)
    n = len(report["layers"])
    timelines = [(f"resources[{i}].timeline", r["timeline"]) for i, r in enumerate(report["resources"])]
    timelines += [(f"dma.{k}", dma[k]) for k in ("load", "store")]
    for where, timeline in timelines:
        for j, seg in enumerate(timeline):
            if not (isinstance(seg, list) and len(seg) == 4 and 0 <= seg[0] < n):
                raise ReportError(f"{path}: {where}[{j}] is {seg!r}, expected [layer < {n}, start, end, items]")
    return report


def ran(layer):
    return layer["start"] >= 0


def stage_of(name):
    """'S3/b1.mla.qkv' -> 'S3', 'stem.1.main.dw' -> 'stem', 'head.op_list.2' -> 'head'."""
    return name.split("/")[0] if "/" in name else name.split(".")[0]


def block_of(name):
    """'S3/b1.mla.qkv' -> 'S3/b1'; names without a block keep their stage."""
    if "/" in name:
        stage, rest = name.split("/", 1)
        return f"{stage}/{rest.split('.')[0].split(' ')[0]}"
    return stage_of(name)


def label_colors(report):
    colors = dict(LABEL_COLORS)
    spare = iter(SPARE_COLORS * (1 + len(report["layers"]) // len(SPARE_COLORS)))
    for layer in report["layers"]:  # unknown labels get spare colors in graph order: deterministic
        if layer["label"] not in colors:
            colors[layer["label"]] = next(spare)
    return colors


def title(report, what):
    return (f"{report['model']} @{report['resolution']}, {report['recipe']} on {report['accel']}: {what}")


def cycles_formatter():
    def fmt(value, _pos):
        if abs(value) >= 1e6:
            return f"{value / 1e6:g}M"
        if abs(value) >= 1e3:
            return f"{value / 1e3:g}k"
        return f"{value:g}"

    return FuncFormatter(fmt)


def engine_multipliers(report):
    return {r["name"]: r["multipliers"] for r in report["resources"] if r["engine"]}


def layer_utilization(report, layer):
    """macs / (span x multipliers of the engines the layer ran on); None for layers without MACs."""
    mults = engine_multipliers(report)
    m = sum(mults.get(name, 0) for name in layer["resources"])
    if layer["macs"] == 0 or m == 0 or layer["span_cycles"] <= 0:
        return None
    return layer["macs"] / (layer["span_cycles"] * m)


def waits_before_start(report):
    """Per layer, the stall cycles that lie before the layer's own start: a unit's wait between its previous
    tile and the layer's first tile on it is charged to the layer, and for a unit used once per block
    (residual add, attention kernel) most of that wait is other layers' time. The gaps of a unit's timeline
    are exactly its stalls (docs/metrics.md), so this is measured, not estimated."""
    waits = [0] * len(report["layers"])
    for res in report["resources"]:
        for prev, seg in zip(res["timeline"], res["timeline"][1:]):
            start = report["layers"][seg[0]]["start"]
            waits[seg[0]] += max(0, min(seg[1], start) - (prev[2] + 1))
    return waits


def save(fig, out_dir, name):
    """Writes the PNG atomically, with no software or date in its metadata (byte-stable output)."""
    final = os.path.join(out_dir, name)
    fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=".png", dir=out_dir)
    os.close(fd)
    try:
        fig.savefig(tmp, dpi=DPI, format="png", metadata={"Software": None})
        os.chmod(tmp, 0o644)  # mkstemp makes it private
        os.replace(tmp, final)
    except BaseException:
        os.unlink(tmp)
        raise
    finally:
        plt.close(fig)
    return final


def plot_layers(report):
    layers = [(i, l) for i, l in enumerate(report["layers"]) if ran(l)]
    x = list(range(len(layers)))
    fig, ax = plt.subplots(figsize=(16, 6.2))
    bottom = [0] * len(layers)
    for key, name, color in STALL_CAUSES:
        values = [l["cycles"][key] for _, l in layers]
        if not any(values):
            continue
        ax.bar(x, values, width=0.8, bottom=bottom, color=color, label=name, linewidth=0)
        bottom = [b + v for b, v in zip(bottom, values)]
    waits = waits_before_start(report)
    pre = [waits[i] for i, _ in layers]
    ax.bar(x, pre, width=0.8, bottom=[b - w for b, w in zip(bottom, pre)], fill=False, hatch="////",
           edgecolor="white", linewidth=0)
    ax.scatter(x, [l["span_cycles"] for _, l in layers], marker="_", s=60, color="black", linewidths=1.5,
               label="span (first to last cycle)", zorder=3)
    ax.set_ylabel("cycles (summed over the layer's tiles on all units)")
    ax.yaxis.set_major_formatter(cycles_formatter())
    ax.set_xlim(-1, len(layers))

    # x axis: one tick per block (b0, b1, ...) and the stage name under each stage, dashed stage boundaries.
    blocks, stages = [], []
    for pos, (_, l) in enumerate(layers):
        if not blocks or blocks[-1][0] != block_of(l["name"]):
            blocks.append([block_of(l["name"]), pos, pos])
        blocks[-1][2] = pos
        if not stages or stages[-1][0] != stage_of(l["name"]):
            stages.append([stage_of(l["name"]), pos, pos])
        stages[-1][2] = pos
    ax.set_xticks([(a + b) / 2 for _, a, b in blocks])
    ax.set_xticklabels([name.split("/")[-1] if "/" in name else "" for name, _, _ in blocks], fontsize=8)
    for name, a, b in stages:
        if a > 0:
            ax.axvline(a - 0.5, color="0.6", linestyle="--", linewidth=0.8)
        ax.text((a + b) / 2, -0.06, name, transform=ax.get_xaxis_transform(), ha="center", va="top",
                fontsize=10, fontweight="bold")
    ax.set_xlabel(f"layers in graph order ({len(layers)} that ran; blocks b0, b1, ... within each stage)",
                  labelpad=22)

    ax2 = ax.twinx()
    util = [(pos, layer_utilization(report, l)) for pos, (_, l) in enumerate(layers)]
    util = [(pos, u) for pos, u in util if u is not None]
    ax2.plot([p for p, _ in util], [100 * u for _, u in util], "o", color="#2ca02c", markersize=3.5,
             label="MAC utilization (right axis)")
    ax2.set_ylim(0, 100)
    ax2.set_ylabel("layer MAC utilization, %  = macs / (span x multipliers of its engines)")

    hatched = Patch(facecolor="#b0b0b0", edgecolor="white", hatch="////", linewidth=0,
                    label="hatched: stall cycles before the layer's start")
    handles = ax.get_legend_handles_labels()[0] + [hatched] + ax2.get_legend_handles_labels()[0]
    ax.legend(handles=handles, loc="lower center", bbox_to_anchor=(0.5, 1.0), fontsize=8, ncol=len(handles),
              frameon=False)
    ax.set_ylim(0, max(bottom + [1]) * 1.04)
    ax.set_title(title(report, f"per-layer cycles ({report['cycles']:,} cycles in all, "
                               f"MAC utilization {100 * report.get('mac_utilization', 0):.1f}%)"), pad=22)
    fig.tight_layout()
    return fig


def default_zoom_block(report):
    for layer in report["layers"]:
        if layer["op"] == "attn_kernel" and ran(layer):
            return block_of(layer["name"])
    ran_layers = [l for l in report["layers"] if ran(l)]
    return block_of(max(ran_layers, key=lambda l: l["span_cycles"])["name"]) if ran_layers else None


def timeline_rows(report):
    rows = [(r["name"], r["timeline"]) for r in report["resources"] if r["timeline"]]
    rows += [("DMA load", report["dma"]["load"]), ("DMA store", report["dma"]["store"])]
    return rows


def draw_gantt(ax, report, rows, colors, window=None, names=False):
    layers = report["layers"]
    for row, (_, timeline) in enumerate(rows):
        y = len(rows) - 1 - row
        segs = [s for s in timeline if window is None or (s[2] >= window[0] and s[1] <= window[1])]
        ax.broken_barh([(s[1], s[2] - s[1] + 1) for s in segs], (y - 0.4, 0.8),
                       facecolors=[colors[layers[s[0]]["label"]] for s in segs], linewidth=0)
        if names and window is not None:
            width = window[1] - window[0]
            shown_end = -1
            for s in segs:  # name the wide segments, one name per run of the same layer
                if s[2] - s[1] >= 0.045 * width and s[1] > shown_end and not row >= len(rows) - 2:
                    short = layers[s[0]]["name"].split(".", 1)[-1] if "/" in layers[s[0]]["name"] else \
                        layers[s[0]]["name"]
                    ax.text((max(s[1], window[0]) + min(s[2], window[1])) / 2, y, short, ha="center",
                            va="center", fontsize=7, color="white", clip_on=True)
                    shown_end = s[2]
    ax.set_yticks(range(len(rows)))
    ax.set_yticklabels([name for name, _ in reversed(rows)])
    ax.set_ylim(-0.6, len(rows) - 0.4)
    ax.xaxis.set_major_formatter(cycles_formatter())
    ax.set_facecolor("#f4f4f4")
    ax.grid(axis="x", color="white", linewidth=0.8)
    ax.set_axisbelow(True)


def zoom_members(report, zoom=None):
    """(block, its layers that ran) for the timeline's zoom panel; a --zoom naming no such block is an error."""
    block = zoom or default_zoom_block(report)
    members = [l for l in report["layers"] if ran(l) and block_of(l["name"]) == block]
    if zoom and not members:
        blocks = sorted({block_of(l["name"]) for l in report["layers"] if ran(l)})
        raise ReportError(f"--zoom {zoom}: no layer that ran is in that block (blocks: {', '.join(blocks)})")
    return block, members


def plot_timeline(report, zoom=None):
    colors = label_colors(report)
    rows = timeline_rows(report)
    zoom, members = zoom_members(report, zoom)
    window = (min(l["start"] for l in members), max(l["end"] for l in members)) if members else None

    fig, axes = plt.subplots(2 if window else 1, 1, figsize=(16, 8.5 if window else 4.5), squeeze=False)
    top = axes[0][0]
    draw_gantt(top, report, rows, colors)
    top.set_xlim(0, report["cycles"])
    top.set_title(title(report, f"engine timeline ({report['cycles']:,} cycles; gaps are stalls or idle)"))
    if window:
        top.axvspan(window[0], window[1], color="black", alpha=0.12, linewidth=0)
        bottom = axes[1][0]
        pad = (window[1] - window[0]) * 0.02
        draw_gantt(bottom, report, rows, colors, window, names=True)
        bottom.set_xlim(window[0] - pad, window[1] + pad)
        bottom.set_title(f"zoom on the shaded window: block {zoom}, cycles {window[0]:,} to {window[1]:,} "
                         f"({len(members)} layers)", fontsize=10)
    axes[-1][0].set_xlabel(f"cycle (f_clk = {report['clock_mhz']:g} MHz)")
    used = []
    for row in rows:
        for seg in row[1]:
            label = report["layers"][seg[0]]["label"]
            if label not in used:
                used.append(label)
    fig.legend(handles=[Patch(color=colors[lb], label=lb) for lb in used], loc="lower center",
               ncol=min(len(used), 12), fontsize=8, frameon=False)
    fig.tight_layout(rect=(0, 0.04, 1, 1))
    return fig


def plot_roofline(report):
    """None when the run moved no DRAM bytes (--ideal-memory): there is no intensity to plot."""
    if report["dram_bytes_read"] + report["dram_bytes_written"] == 0:
        return None
    colors = label_colors(report)
    clock_hz = report["clock_mhz"] * 1e6
    peak, bandwidth = report["peak_gops"], report["dram_bandwidth_gbps"]
    points, no_traffic = {}, 0
    for layer in report["layers"]:
        if not ran(layer) or layer["macs"] == 0 or layer["span_cycles"] <= 0:
            continue
        traffic = layer["dram_bytes_read"] + layer["dram_bytes_written"]
        if traffic == 0:
            no_traffic += 1  # no finite operational intensity to draw
            continue
        oi = 2 * layer["macs"] / traffic
        gops = 2 * layer["macs"] / layer["span_cycles"] * clock_hz / 1e9
        points.setdefault(layer["label"], []).append((oi, gops, layer))

    fig, ax = plt.subplots(figsize=(10, 6.8))
    all_oi = [p[0] for pts in points.values() for p in pts]
    run_oi = 2 * report["macs"] / max(1, report["dram_bytes_read"] + report["dram_bytes_written"])
    lo = min(all_oi + [run_oi, peak / bandwidth]) / 2
    hi = max(all_oi + [run_oi, peak / bandwidth]) * 2
    ridge = peak / bandwidth
    ax.plot([lo, ridge, hi], [bandwidth * lo, peak, peak], color="black", linewidth=1.8)
    ax.text(hi / 1.1, peak * 1.06, f"compute roof {peak:g} GOPS", ha="right", va="bottom", fontsize=9)
    clock_ghz = report["clock_mhz"] / 1e3
    for peak_engine in sorted({2 * m * clock_ghz for m in engine_multipliers(report).values()}):
        if abs(peak_engine - peak) > 1e-9:
            ax.axhline(peak_engine, color="0.4", linestyle=":", linewidth=1)
            ax.text(hi / 1.1, peak_engine * 1.04, f"one engine {peak_engine:g} GOPS", ha="right",
                    va="bottom", fontsize=8, color="0.3")
    handles = []
    longest = max((p[2]["span_cycles"] for pts in points.values() for p in pts), default=1)
    for label in sorted(points, key=lambda lb: list(LABEL_COLORS).index(lb) if lb in LABEL_COLORS else 99):
        pts = points[label]
        # Marker area grows with the layer's span, so the layers that take the time stand out.
        ax.scatter([p[0] for p in pts], [p[1] for p in pts], color=colors[label], alpha=0.85,
                   s=[8 + 220 * p[2]["span_cycles"] / longest for p in pts],
                   edgecolors="white", linewidths=0.4, zorder=3)
        handles.append(Line2D([], [], marker="o", linestyle="", color=colors[label], markersize=6,
                              label=f"{label} ({len(pts)})"))
    handles.append(ax.scatter([run_oi], [report["gops"]], marker="*", s=220, color="gold", edgecolors="black",
                              linewidths=0.8, zorder=4, label=f"whole run ({report['gops']:.1f} GOPS)"))
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlim(lo, hi)
    all_gops = [p[1] for pts in points.values() for p in pts] + [report["gops"]]
    ax.set_ylim(max(min(all_gops), peak * 1e-4) / 2, peak * 2)  # a run without MACs has gops 0
    ax.set_xlabel("operational intensity, ops per DRAM byte (2 x MACs / bytes read + written)")
    ax.set_ylabel("achieved GOPS (2 x MACs / span x f_clk)")
    ax.grid(True, which="major", color="0.85", linewidth=0.8)
    ax.grid(True, which="minor", color="0.93", linewidth=0.5)
    note = f"; {no_traffic} layers without DRAM traffic not drawn" if no_traffic else ""
    ax.set_title(title(report, f"roofline per layer{note}"), fontsize=11)
    ax.legend(handles=handles, loc="lower right", fontsize=8, title="layer type (count); area ~ span",
              title_fontsize=8, framealpha=0.9)
    fig.tight_layout()
    # The memory roof's label follows the line: its angle is only known once the axes are laid out.
    x0, x1 = lo * 1.3, lo * 2.6
    (px0, py0), (px1, py1) = ax.transData.transform([(x0, bandwidth * x0), (x1, bandwidth * x1)])
    ax.text(x0, bandwidth * x0 * 1.15, f"memory roof {bandwidth:g} GB/s", fontsize=9, ha="left",
            va="bottom", rotation=math.degrees(math.atan2(py1 - py0, px1 - px0)), rotation_mode="anchor")
    return fig


ENERGY_COMPONENTS = [  # (key in energy.components_j / layers[].energy_j, legend name, color)
    ("compute", "compute (MACs, idle lanes, auxiliary units)", "#1f77b4"),
    ("clock", "clock tree and registers", "#9467bd"),
    ("onchip_memory", "on-chip memory (BRAM)", "#2ca02c"),
    ("dram", "DRAM (DDR4)", "#d62728"),
    ("static", "static", "#7f7f7f"),
]


def plot_energy(report, path):
    energy = report["energy"]
    components = field(energy, "components_j", "energy.", path)
    layers = [l for l in report["layers"] if "energy_j" in l and ran(l)]
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(16, 6.2), gridspec_kw={"width_ratios": [1, 6]})
    bottom = 0.0
    for key, name, color in ENERGY_COMPONENTS:
        value = 1e3 * field(components, key, "energy.components_j.", path)
        ax.bar([0], [value], bottom=bottom, color=color, label=name, width=0.6, linewidth=0)
        bottom += value
    ax.set_xticks([0])
    ax.set_xticklabels(["image"])
    ax.set_ylabel("mJ per image")
    ax.set_title(f"{1e3 * energy['per_image_j']:.3f} mJ, {energy['average_power_w']:.3f} W,\n"
                 f"{energy['gops_per_w']:.1f} GOPS/W ({energy['model']})", fontsize=9)
    x = list(range(len(layers)))
    below = [0.0] * len(layers)
    for key, _, color in ENERGY_COMPONENTS:
        if key not in ("compute", "onchip_memory", "dram"):
            continue
        values = [1e6 * field(l["energy_j"], key, "layers[].energy_j.", path) for l in layers]
        ax2.bar(x, values, bottom=below, color=color, width=0.8, linewidth=0)
        below = [b + v for b, v in zip(below, values)]
    ax2.set_xlim(-1, len(layers))
    ax2.set_xlabel(f"layers in graph order ({len(layers)} that ran; clock, static and the DRAM's ACT/PRE, "
                   "refresh and background are the image's only)")
    ax2.set_ylabel("uJ per layer")
    fig.legend(handles=ax.get_legend_handles_labels()[0], loc="upper center", bbox_to_anchor=(0.5, 0.94),
               fontsize=8, ncol=len(ENERGY_COMPONENTS), frameon=False)
    fig.suptitle(title(report, "energy by component and per layer"))
    fig.tight_layout(rect=(0, 0, 1, 0.9))
    return fig


def default_prefix(report):
    return f"{report['model']}-{report['resolution']}-{report['accel']}"


def plot_report(report_path, out_dir, prefix=None, zoom=None):
    """Draws the three figures; returns the paths written."""
    report = load_report(report_path)
    prefix = prefix or default_prefix(report)
    zoom_members(report, zoom)  # a bad --zoom fails before any file is written
    os.makedirs(out_dir, exist_ok=True)
    plt.rcParams.update({"font.size": 9, "figure.dpi": DPI, "savefig.dpi": DPI})
    written = [save(plot_layers(report), out_dir, f"{prefix}-layers.png"),
               save(plot_timeline(report, zoom), out_dir, f"{prefix}-timeline.png")]
    roofline = plot_roofline(report)
    if roofline is None:
        print(f"plot_report: {report_path}: no DRAM traffic (ideal memory), no roofline drawn", file=sys.stderr)
    else:
        written.append(save(roofline, out_dir, f"{prefix}-roofline.png"))
    if "energy" in report:
        written.append(save(plot_energy(report, report_path), out_dir, f"{prefix}-energy.png"))
    return written


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("report", help="report.json from `vitsim run|simulate --report`")
    parser.add_argument("--out", required=True, help="folder for the PNGs (created if missing)")
    parser.add_argument("--prefix", help="file name prefix (default: <model>-<res>-<accel>)")
    parser.add_argument("--zoom", help="block of the timeline's zoom panel, e.g. S3/b1 (default: the first "
                                       "block with an attention kernel)")
    args = parser.parse_args(argv)
    return draw_and_list("plot_report", args.prefix, lambda: plot_report(args.report, args.out, args.prefix,
                                                                          args.zoom), ReportError)


def draw_and_list(tool, prefix, draw, error_type):
    """The tools' common ending: check --prefix, draw, print the files written; exit code 2 on bad input."""
    if prefix is not None and (not prefix or os.sep in prefix):
        print(f"{tool}: --prefix {prefix!r}: expected a file name prefix without '{os.sep}'", file=sys.stderr)
        return 2
    try:
        for path in draw():
            print(path)
    except error_type as e:
        print(f"{tool}: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
