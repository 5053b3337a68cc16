#!/usr/bin/env python3
"""Draws the activation buffer's occupancy over time from a memory plan
(`vitsim simulate|run ... --memory-plan F`, docs/metrics.md "Memory plan"):

    /usr/bin/python3 tools/plot_memory_plan.py PLAN.json --out FILE.png

Each resident layer output is a rectangle: x from the first cycle its producer ran to the last cycle its
last reader ran, y its byte range in the resident region; the band above the region is the engines' tile
slots. Below, the bytes of DRAM traffic are not drawn (see the report). Needs Debian's python3-matplotlib;
deterministic output (fixed size and DPI, no metadata). Bad input exits 2 with a message.
"""
import argparse
import json
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.patches as patches  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description="activation buffer occupancy of a vitsim memory plan")
    ap.add_argument("plan")
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    try:
        with open(args.plan) as f:
            plan = json.load(f)
        buf = plan["activation_buffer"]
        resident = [t for t in plan["tensors"] if t["space"] == "activation"]
        capacity, region = buf["capacity_bytes"], buf["resident_bytes"]
    except (OSError, ValueError, KeyError, TypeError) as e:
        print(f"plot_memory_plan: {args.plan}: not a vitsim memory plan ({e})", file=sys.stderr)
        return 2
    end = max([t["last_cycle"] for t in plan["tensors"]] + [1])
    kib = 1024.0
    fig, ax = plt.subplots(figsize=(10, 4.5))
    colors = plt.get_cmap("tab20").colors
    for i, t in enumerate(resident):
        x0, x1 = t["first_cycle"], t["last_cycle"] + 1
        ax.add_patch(patches.Rectangle((x0, t["offset"] / kib), x1 - x0, t["bytes"] / kib,
                                       facecolor=colors[i % len(colors)], edgecolor="black", linewidth=0.3))
    ax.add_patch(patches.Rectangle((0, region / kib), end, (capacity - region) / kib, facecolor="#dddddd",
                                   edgecolor="none"))
    ax.text(end / 2, (region + capacity) / 2 / kib, "engines' tile slots", ha="center", va="center")
    ax.axhline(region / kib, color="black", linewidth=0.8)
    ax.set_xlim(0, end)
    ax.set_ylim(0, capacity / kib)
    ax.set_xlabel("cycle")
    ax.set_ylabel("activation buffer address (KiB)")
    ax.set_title(f"{plan['model']} on {plan['accel']}: resident layer outputs ({len(resident)})")
    fig.tight_layout()
    fig.savefig(args.out, dpi=110, metadata={"Software": None})
    return 0


if __name__ == "__main__":
    sys.exit(main())
