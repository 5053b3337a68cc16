#!/usr/bin/env python3
"""Draws the figures of one sweep's results.csv (`vitsim sweep`, docs/sweeps.md):

    /usr/bin/python3 tools/plot_sweep.py RESULTS.csv --out DIR [--prefix NAME] [--x COL --y COL]
                                         [--device-dsps N] [--compare OTHER.csv]

writes DIR/NAME-pareto-fps-dsps.png, DIR/NAME-fps-per-dsp-memory.png, DIR/NAME-heatmap.png and, when
results.csv has energy columns, DIR/NAME-pareto-fps-energy.png (NAME defaults to the name of the folder
holding RESULTS.csv):
  pareto-fps-dsps     FPS vs DSPs of every ok point, marked by the search that found it (results.csv's
                      strategy column; an nsga2 run's points coloured by generation), the non-dominated
                      front (max FPS, min DSPs) connected, filtered points (do not fit) as x marks along
                      the bottom at their DSPs, the DSP limit as a vertical line, the fastest design within
                      the limit annotated; with --compare, another run's ok points (pale) and its front
                      (dashed) underneath, e.g. the grid that a search is measured against.
  fps-per-dsp-memory  FPS/DSP vs on-chip memory (onchip_bytes) with its front (max FPS/DSP, min memory).
  heatmap             the best FPS over all other axes for each pair of values of two axis columns
                      (--x, --y; default the first two axes), written in each cell.
  pareto-fps-energy   FPS vs energy per image (energy_mj, the sweep's energy model) with its front (max
                      FPS, min energy); the design with the most GOPS/W labelled.

Axis columns are the columns between `recipe` and `status`. The DSP limit is --device-dsps, else the
smaller of the spec's constraints.max.dsps and its device's dsps, read from spec.json next to RESULTS.csv
(the device a file relative to the spec's folder or to the working directory, else configs/devices/<name>.json);
no limit line without either. Failed points are not drawn; the legend counts them.

Needs Debian's python3-matplotlib. Output is deterministic (tools/plot_report.py's save: fixed DPI, no
software or date in the PNG, written to a temporary name and renamed). Bad input exits 2 with a message
naming the file, the line and the column.
"""
import argparse
import csv
import json
import math
import os
import sys

from plot_report import DPI, draw_and_list, save  # sets the Agg backend before pyplot is imported
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.colors import LinearSegmentedColormap  # noqa: E402
from matplotlib.transforms import blended_transform_factory  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NUMERIC_COLUMNS = ("fps", "dsps", "luts", "bram36", "fps_per_dsp", "onchip_bytes")
REQUIRED_COLUMNS = ("index", "model", "res", "recipe", "status") + NUMERIC_COLUMNS
ENERGY_COLUMNS = ("energy_mj", "gops_per_w")  # results of sweeps before the energy estimate have neither
STATUSES = ("ok", "failed", "filtered")
STRATEGIES = ("grid", "random", "latin-hypercube", "nsga2")
COMPARE_COLOR, COMPARE_FRONT_COLOR = "#dcdcdc", "#7f7f7f"
OK_COLOR, FRONT_COLOR, FILTERED_COLOR, LIMIT_COLOR = "#b0b0b0", "#c44e52", "#4c72b0", "#555555"


class SweepError(Exception):
    """A results.csv (or spec) that cannot be drawn; the message names the file, line and column."""


def number(text, path, line, column):
    """The value of a numeric cell; None for an empty cell (a metric unknown for that point)."""
    if text == "":
        return None
    try:
        value = float(text)
    except ValueError:
        raise SweepError(f"{path}:{line}: column '{column}' is {text!r}, expected a number") from None
    if not math.isfinite(value):
        raise SweepError(f"{path}:{line}: column '{column}' is {text!r}, expected a finite number")
    return value


def load_results(path):
    """Returns (axis column names, rows); each row a dict with the numeric columns parsed."""
    try:
        with open(path, encoding="utf-8", newline="") as f:
            reader = csv.reader(f)
            header = next(reader, None)
            records = [(reader.line_num, record) for record in reader]
    except OSError as e:
        raise SweepError(f"{path}: cannot read: {e.strerror}") from e
    except (csv.Error, UnicodeDecodeError) as e:
        raise SweepError(f"{path}: not a CSV file: {e}") from e
    if not header:
        raise SweepError(f"{path}: empty file, expected a results.csv header")
    for column in REQUIRED_COLUMNS:
        if column not in header:
            raise SweepError(f"{path}:1: missing column '{column}' (is this a `vitsim sweep` results.csv?)")
    if header.index("status") < header.index("recipe"):
        raise SweepError(f"{path}:1: column 'status' comes before 'recipe'")
    axes = header[header.index("recipe") + 1:header.index("status")]
    rows = []
    for line, record in records:
        if len(record) != len(header):
            raise SweepError(f"{path}:{line}: {len(record)} cells, expected {len(header)} as in the header")
        row = dict(zip(header, record))
        if row["status"] not in STATUSES:
            raise SweepError(f"{path}:{line}: column 'status' is {row['status']!r}, expected one of "
                             f"{', '.join(STATUSES)}")
        for column in NUMERIC_COLUMNS:
            row[column] = number(row[column], path, line, column)
        for column in ENERGY_COLUMNS:
            row[column] = number(row.get(column, ""), path, line, column)
        # Results of sweeps before searches existed have neither column: a grid.
        row["strategy"] = row.get("strategy") or "grid"
        if row["strategy"] not in STRATEGIES:
            raise SweepError(f"{path}:{line}: column 'strategy' is {row['strategy']!r}, expected one of "
                             f"{', '.join(STRATEGIES)}")
        generation = number(row.get("generation", ""), path, line, "generation")
        if generation is not None and (generation < 0 or generation != int(generation)):
            raise SweepError(f"{path}:{line}: column 'generation' is {row['generation']!r}, expected a "
                             f"non-negative integer")
        row["generation"] = None if generation is None else int(generation)
        if row["status"] == "ok":
            for column in ("fps", "dsps", "fps_per_dsp", "onchip_bytes"):
                if row[column] is None:
                    raise SweepError(f"{path}:{line}: column '{column}' is empty for an ok point")
        rows.append(row)
    if not any(r["status"] == "ok" for r in rows):
        raise SweepError(f"{path}: no ok point to draw ({len(rows)} row(s))")
    return axes, rows


def read_json(path, what):
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except OSError as e:
        raise SweepError(f"{path}: cannot read {what}: {e.strerror}") from e
    except json.JSONDecodeError as e:
        raise SweepError(f"{path}:{e.lineno}: {what} is not JSON: {e.msg}") from e


def spec_dsp_limit(results_path):
    """(limit, label) from spec.json next to results.csv: min of constraints.max.dsps and the device's
    dsps; (None, None) without a spec or a DSP constraint."""
    spec_path = os.path.join(os.path.dirname(os.path.abspath(results_path)), "spec.json")
    if not os.path.exists(spec_path):
        return None, None
    constraints = read_json(spec_path, "the sweep spec").get("constraints") or {}
    limits = []
    device = constraints.get("device")
    if isinstance(device, str) and device:
        candidates = [os.path.join(os.path.dirname(spec_path), device), device,
                      os.path.join(REPO, "configs", "devices", f"{device}.json")]
        device_path = next((p for p in candidates if os.path.isfile(p)), None)
        if device_path is None:
            raise SweepError(f"{spec_path}: /constraints/device: no device file for {device!r} (tried "
                             f"{', '.join(candidates)}); pass --device-dsps")
        device_spec = read_json(device_path, "the device")
        dsps = device_spec.get("dsps")
        if not isinstance(dsps, int) or dsps <= 0:
            raise SweepError(f"{device_path}: field 'dsps' is {dsps!r}, expected a positive integer")
        limits.append((dsps, f"{device_spec.get('name', device)} DSPs"))
    max_dsps = (constraints.get("max") or {}).get("dsps")
    if isinstance(max_dsps, int):
        limits.append((max_dsps, "max DSPs"))
    return min(limits) if limits else (None, None)


def pareto_front(points, x_of, y_of):
    """The points not dominated by another with x <= and y >= (one strictly): min x, max y. Ascending x."""
    front, best_y = [], -math.inf
    for p in sorted(points, key=lambda p: (x_of(p), -y_of(p), int(p["index"]))):
        if y_of(p) > best_y:
            front.append(p)
            best_y = y_of(p)
    return front


def axis_label(axes, row, separator="\n"):
    return separator.join(f"{a} {row[a]}" for a in axes)


def subject(rows):
    """'efficientvit-b1 @224, trio-w8a8' when the sweep has one model and recipe."""
    combos = sorted({(r["model"], r["res"], r["recipe"]) for r in rows})
    if len(combos) == 1:
        model, res, recipe = combos[0]
        return f"{model} @{res}, {recipe}"
    return f"{len(combos)} model/recipe combinations"


def status_counts(rows):
    return {s: sum(r["status"] == s for r in rows) for s in STATUSES}


def within(row, limit):
    return limit is None or row["dsps"] <= limit


def strategies(rows):
    return ", ".join(sorted({r["strategy"] for r in rows}))


def scatter_by_origin(ax, ok):
    """The ok points marked by the search that found them: nsga2 generations in colours from early (light)
    to late (dark), any other strategy in grey, with the strategy in the legend."""
    generations = sorted({r["generation"] for r in ok if r["generation"] is not None})
    plain = [r for r in ok if r["generation"] is None]
    if plain:
        ax.scatter([r["dsps"] for r in plain], [r["fps"] for r in plain], s=14, color=OK_COLOR, zorder=2,
                   label=f"ok points, {strategies(plain)} ({len(plain)})")
    cmap = plt.get_cmap("viridis_r")
    for i, g in enumerate(generations):
        found = [r for r in ok if r["generation"] == g]
        shade = 0.15 + 0.85 * (i / (len(generations) - 1) if len(generations) > 1 else 1)
        ax.scatter([r["dsps"] for r in found], [r["fps"] for r in found], s=16, color=cmap(shade), zorder=2,
                   edgecolors="white", linewidths=0.3,
                   label=f"ok points, {strategies(found)} generation {g} ({len(found)})")


def plot_pareto_fps_dsps(axes, rows, name, limit, limit_label, compare=None):
    ok = [r for r in rows if r["status"] == "ok"]
    counts = status_counts(rows)
    front = pareto_front(ok, lambda r: r["dsps"], lambda r: r["fps"])
    fig, ax = plt.subplots(figsize=(9, 6))
    if compare is not None:
        other_name, other_rows = compare
        other_ok = [r for r in other_rows if r["status"] == "ok"]
        other_front = pareto_front(other_ok, lambda r: r["dsps"], lambda r: r["fps"])
        ax.scatter([r["dsps"] for r in other_ok], [r["fps"] for r in other_ok], s=12, color=COMPARE_COLOR,
                   zorder=1, label=f"{other_name}: ok points, {strategies(other_ok)} ({len(other_ok)})")
        ax.plot([r["dsps"] for r in other_front], [r["fps"] for r in other_front], "--", color=COMPARE_FRONT_COLOR,
                lw=1.2, zorder=1, label=f"{other_name}: Pareto front ({len(other_front)})")
    scatter_by_origin(ax, ok)
    ax.plot([r["dsps"] for r in front], [r["fps"] for r in front], "-o", color=FRONT_COLOR, ms=5, lw=1.4,
            zorder=3, label=f"Pareto front: max FPS, min DSPs ({len(front)})")
    filtered = [r for r in rows if r["status"] == "filtered" and r["dsps"] is not None]
    if filtered:
        # Filtered points were never simulated: no FPS, so they sit on a rug at the bottom at their DSPs.
        rug = blended_transform_factory(ax.transData, ax.transAxes)
        ax.scatter([r["dsps"] for r in filtered], [0.025] * len(filtered), marker="x", s=22, lw=1,
                   color=FILTERED_COLOR, transform=rug, zorder=2,
                   label=f"filtered: exceed a constraint, not simulated ({len(filtered)})")
        for dsps in sorted({r["dsps"] for r in filtered}):  # many share a DSP count: say how many
            ax.text(dsps, 0.045, str(sum(r["dsps"] == dsps for r in filtered)), transform=rug, ha="center",
                    va="bottom", fontsize=7, color=FILTERED_COLOR)
    if limit is not None:
        ax.axvline(limit, color=LIMIT_COLOR, ls="--", lw=1, zorder=1, label=f"{limit_label}: {limit:g}")
    if counts["failed"]:
        ax.plot([], [], " ", label=f"failed: {counts['failed']} (not drawn)")
    eligible = [r for r in ok if within(r, limit) and r.get("fits_device") != "false"]
    if eligible:
        best = max(eligible, key=lambda r: (r["fps"], -r["dsps"], -int(r["index"])))
        text = (f"best{' within the limit' if limit is not None else ''}: point {best['index']}\n"
                f"{best['fps']:.1f} FPS, {best['dsps']:g} DSPs\n{axis_label(axes, best)}")
        # The front rises to the right, so the lower right corner (above the rug) is free for the label.
        annotate_best(ax, (best["dsps"], best["fps"]), text, (0.97, 0.1), "right")
    if filtered:  # the rug's transform does not widen the x range by itself
        xs = [r["dsps"] for r in ok + filtered] + ([limit] if limit is not None else [])
        if compare is not None:
            xs += [r["dsps"] for r in compare[1] if r["status"] == "ok"]
        pad = 0.04 * (max(xs) - min(xs) or 1)
        ax.set_xlim(min(xs) - pad, max(xs) + pad)
    return finish_scatter(fig, ax, "DSPs (resource model estimate)", "FPS",
                          f"{name}: {subject(rows)}: FPS vs DSPs", "upper left")


def finish_scatter(fig, ax, xlabel, ylabel, title, legend_at):
    """The scatter plots' common frame: labels, y from 0, grid, title, legend."""
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_ylim(bottom=0)
    ax.grid(True, lw=0.4, alpha=0.5)
    ax.set_title(title)
    ax.legend(loc=legend_at, fontsize=8, framealpha=0.92)
    fig.tight_layout()
    return fig


def annotate_best(ax, xy, text, text_at, ha):
    """Rings the point and labels it from a fixed corner (axes fraction), with an arrow."""
    ax.scatter([xy[0]], [xy[1]], s=90, facecolors="none", edgecolors="black", lw=1.4, zorder=4)
    ax.annotate(text, xy, xytext=text_at, textcoords="axes fraction", ha=ha, va="bottom", fontsize=8,
                multialignment="left", zorder=5,
                bbox={"boxstyle": "round,pad=0.3", "fc": "white", "ec": "#888888", "alpha": 0.95},
                arrowprops={"arrowstyle": "->", "color": "#444444", "lw": 0.8, "shrinkB": 6})


def memory_unit(rows):
    largest = max(r["onchip_bytes"] for r in rows if r["status"] == "ok")
    return (1 << 20, "MiB") if largest >= (1 << 20) else (1 << 10, "KiB")


def plot_fps_per_dsp_memory(axes, rows, name):
    ok = [r for r in rows if r["status"] == "ok"]
    scale, unit = memory_unit(rows)
    front = pareto_front(ok, lambda r: r["onchip_bytes"], lambda r: r["fps_per_dsp"])
    fig, ax = plt.subplots(figsize=(9, 6))
    ax.scatter([r["onchip_bytes"] / scale for r in ok], [r["fps_per_dsp"] for r in ok], s=14, color=OK_COLOR,
               zorder=2, label=f"ok points ({len(ok)})")
    ax.plot([r["onchip_bytes"] / scale for r in front], [r["fps_per_dsp"] for r in front], "-o",
            color=FRONT_COLOR, ms=5, lw=1.4, zorder=3,
            label=f"Pareto front: max FPS/DSP, min memory ({len(front)})")
    best = max(ok, key=lambda r: (r["fps_per_dsp"], -r["onchip_bytes"], -int(r["index"])))
    text = (f"best FPS/DSP: point {best['index']}\n{best['fps_per_dsp']:.3f} FPS/DSP, "
            f"{best['onchip_bytes'] / scale:.2f} {unit}\n{best['fps']:.1f} FPS, {best['dsps']:g} DSPs\n"
            f"{axis_label(axes, best)}")
    ax.set_ylim(bottom=0)  # FPS/DSP varies by a few x at most, so the lower left is free for the label
    annotate_best(ax, (best["onchip_bytes"] / scale, best["fps_per_dsp"]), text, (0.02, 0.04), "left")
    return finish_scatter(fig, ax, f"on-chip memory (onchip_bytes, {unit})", "FPS per DSP",
                          f"{name}: {subject(rows)}: FPS/DSP vs on-chip memory", "lower right")


def plot_pareto_fps_energy(axes, rows, name):
    ok = [r for r in rows if r["status"] == "ok" and r["energy_mj"] is not None and r["gops_per_w"] is not None]
    front = pareto_front(ok, lambda r: r["energy_mj"], lambda r: r["fps"])
    fig, ax = plt.subplots(figsize=(9, 6))
    ax.scatter([r["energy_mj"] for r in ok], [r["fps"] for r in ok], s=14, color=OK_COLOR, zorder=2,
               label=f"ok points ({len(ok)})")
    ax.plot([r["energy_mj"] for r in front], [r["fps"] for r in front], "-o", color=FRONT_COLOR, ms=5, lw=1.4,
            zorder=3, label=f"Pareto front: max FPS, min energy per image ({len(front)})")
    best = max(ok, key=lambda r: (r["gops_per_w"], -r["energy_mj"], -int(r["index"])))
    text = (f"most GOPS/W: point {best['index']}\n{best['gops_per_w']:.1f} GOPS/W, {best['energy_mj']:.3f} mJ "
            f"per image\n{best['fps']:.1f} FPS, {best['dsps']:g} DSPs\n{axis_label(axes, best)}")
    # Faster designs spend less static and background energy per image, so the points fall to the right
    # and the upper right is free for the label.
    annotate_best(ax, (best["energy_mj"], best["fps"]), text, (0.97, 0.5), "right")
    return finish_scatter(fig, ax, "energy per image (energy_mj, mJ)", "FPS",
                          f"{name}: {subject(rows)}: FPS vs energy per image", "lower left")


def has_energy(rows):
    return any(r["status"] == "ok" and r["energy_mj"] is not None and r["gops_per_w"] is not None
               for r in rows)


def axis_values(rows, column):
    """The column's values in order of first appearance: spec order, since rows are in index order."""
    seen = []
    for r in rows:
        if r[column] not in seen:
            seen.append(r[column])
    return seen


def plot_heatmap(axes, rows, name, x_col, y_col):
    ok = [r for r in rows if r["status"] == "ok"]
    xs, ys = axis_values(rows, x_col), axis_values(rows, y_col)
    best = [[None] * len(xs) for _ in ys]
    for r in ok:
        i, j = ys.index(r[y_col]), xs.index(r[x_col])
        best[i][j] = r["fps"] if best[i][j] is None else max(best[i][j], r["fps"])
    values = [v for row in best for v in row if v is not None]
    lo, hi = min(values), max(values)
    cmap = LinearSegmentedColormap.from_list("fps", ["#f7fbff", "#6baed6", "#08306b"])
    cmap.set_bad("#e0e0e0")
    grid = [[math.nan if v is None else v for v in row] for row in best]
    fig, ax = plt.subplots(figsize=(max(5.5, 1.3 * len(xs) + 2.5), max(4.0, 0.8 * len(ys) + 2)))
    image = ax.imshow(grid, cmap=cmap, vmin=lo, vmax=hi if hi > lo else lo + 1, origin="lower",
                      aspect="auto")
    for i, row in enumerate(best):
        for j, v in enumerate(row):
            if v is None:
                ax.text(j, i, "no ok\npoint", ha="center", va="center", fontsize=8, color="#666666")
            else:
                dark = (v - lo) / (hi - lo) > 0.55 if hi > lo else True
                ax.text(j, i, f"{v:.1f}", ha="center", va="center", fontsize=9,
                        color="white" if dark else "black")
    ax.set_xticks(range(len(xs)), xs)
    ax.set_yticks(range(len(ys)), ys)
    ax.set_xlabel(x_col)
    ax.set_ylabel(y_col)
    others = [a for a in axes if a not in (x_col, y_col)]
    over = f" over {', '.join(others)}" if others else ""
    ax.set_title(f"{name}: best FPS{over}", fontsize=9)
    fig.colorbar(image, ax=ax, label="best FPS")
    fig.tight_layout()
    return fig


def plot_sweep(results_path, out_dir, prefix=None, x_col=None, y_col=None, device_dsps=None, compare_path=None):
    """Draws the figures (the energy one when results.csv has energy); returns the paths written."""
    axes, rows = load_results(results_path)
    compare = None
    if compare_path is not None:
        compare = (os.path.basename(os.path.dirname(os.path.abspath(compare_path))), load_results(compare_path)[1])
    if len(axes) < 2 and (x_col is None or y_col is None):
        raise SweepError(f"{results_path}: {len(axes)} axis column(s) ({', '.join(axes) or 'none'}): a heatmap "
                         f"needs two")
    x_col = x_col or next(a for a in axes if a != y_col)
    y_col = y_col or next(a for a in axes if a != x_col)
    for option, column in (("--x", x_col), ("--y", y_col)):
        if column not in axes:
            raise SweepError(f"{results_path}: {option} {column!r} is not an axis column (axes: "
                             f"{', '.join(axes)})")
    if x_col == y_col:
        raise SweepError(f"--x and --y are both {x_col!r}: expected two different axis columns")
    if device_dsps is not None:
        limit, limit_label = device_dsps, "device DSPs"
    else:
        limit, limit_label = spec_dsp_limit(results_path)
    name = prefix or os.path.basename(os.path.dirname(os.path.abspath(results_path)))
    os.makedirs(out_dir, exist_ok=True)
    plt.rcParams.update({"font.size": 9, "figure.dpi": DPI, "savefig.dpi": DPI})
    written = [save(plot_pareto_fps_dsps(axes, rows, name, limit, limit_label, compare), out_dir,
                    f"{name}-pareto-fps-dsps.png"),
               save(plot_fps_per_dsp_memory(axes, rows, name), out_dir, f"{name}-fps-per-dsp-memory.png"),
               save(plot_heatmap(axes, rows, name, x_col, y_col), out_dir, f"{name}-heatmap.png")]
    if has_energy(rows):
        written.append(save(plot_pareto_fps_energy(axes, rows, name), out_dir, f"{name}-pareto-fps-energy.png"))
    return written


def positive_int(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not positive")
    return value


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("results", help="results.csv written by `vitsim sweep`")
    parser.add_argument("--out", required=True, help="folder for the PNGs (created if missing)")
    parser.add_argument("--prefix", help="file name prefix (default: the results folder's name)")
    parser.add_argument("--x", dest="x_col", help="heatmap column axis (default: the first axis column)")
    parser.add_argument("--y", dest="y_col", help="heatmap row axis (default: the second axis column)")
    parser.add_argument("--device-dsps", type=positive_int,
                        help="DSP limit line (default: from spec.json next to RESULTS.csv, if any)")
    parser.add_argument("--compare", metavar="OTHER.csv",
                        help="another run's results.csv drawn under the FPS vs DSPs figure (e.g. the grid)")
    args = parser.parse_args(argv)  # argparse exits 2 on a bad flag
    return draw_and_list("plot_sweep", args.prefix,
                         lambda: plot_sweep(args.results, args.out, args.prefix, args.x_col, args.y_col,
                                            args.device_dsps, args.compare), SweepError)


if __name__ == "__main__":
    sys.exit(main())
