#!/usr/bin/env python3
"""docs/validation.md's RTL co-simulation section, from a run of the RTL co-simulation tests.

    tools/rtl_validation.py [--rtl-tests build/ci/tests/rtl/vitsim_rtl_tests] [--doc docs/validation.md]
    tools/rtl_validation.py --check [...]

The first form runs every [rtl] test with VITSIM_RTL_SUMMARY set (each co-simulation run appends a JSON
line: tests/rtl/cosim.hpp), and writes the table of what was compared between the section's markers (the
rest of the page is `vitsim validate --out`'s, which keeps this section). Nothing is written when a test
fails. `--check` runs nothing: it fails if a test the binary lists is missing from the section (a new
co-simulation whose table was not regenerated).
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

BEGIN = "<!-- rtl-cosim begin: written by tools/rtl_validation.py; vitsim validate --out keeps it -->"
END = "<!-- rtl-cosim end -->"


def fail(message):
    print(f"rtl_validation: {message}", file=sys.stderr)
    sys.exit(2)


def section_bounds(text, doc):
    begin = text.find(BEGIN)
    end = text.find(END, begin + 1) if begin >= 0 else -1
    if begin < 0 or end < 0:
        fail(f"{doc} has no RTL section markers (regenerate it with `vitsim validate --out {doc}`)")
    return begin + len(BEGIN), end


def test_names(binary):
    # Catch2 v2 exits with the number of tests listed, so the listing itself is what is checked.
    listed = subprocess.run([binary, "--list-test-names-only", "[rtl]"], capture_output=True, text=True)
    names = [line.strip() for line in listed.stdout.splitlines() if line.strip()]
    if not names or listed.returncode != len(names) % 256:
        fail(f"{binary} --list-test-names-only listed no tests: {listed.stderr.strip()}")
    return names


def commas(n):
    return f"{n:,}"


def table(runs, seconds):
    """Markdown for the runs (dicts in file order), grouped by test in order of first appearance."""
    tests = {}
    for run in runs:
        tests.setdefault(run["test"], []).append(run)
    rows, mutations = [], []
    total = {"tiles": 0, "cycles": 0, "values": 0}
    for name, entries in tests.items():
        cosims = [e for e in entries if "tiles" in e]
        layers = sum(e.get("scalesim_layers", 0) for e in entries)
        if cosims and all(e["divergence"] for e in cosims):
            mutations.append((name, [e["divergence"] for e in cosims]))
            continue
        diverged = [e["divergence"] for e in cosims if e["divergence"]]
        if diverged:
            fail(f"'{name}' diverged but passed: {diverged[0]}")
        sums = {k: sum(e[k] for e in cosims) for k in total}
        for k in total:
            total[k] += sums[k]
        extra = f"; {layers} SCALE-Sim v2 layers' Total Cycles equal" if layers else ""
        rows.append(f"| {name} | {commas(sums['tiles'])} | {commas(sums['cycles'])} | "
                    f"{commas(sums['values'])} | all equal{extra} |")
    out = [
        f"One run of every `vitsim_rtl_tests` test tagged [rtl], each in its own process as ctest runs them "
        f"({len(tests)} tests, {seconds:.0f} s wall on the 2-core development machine): every random tile's every beat and value equal in "
        f"{len(rows)} co-simulations, {commas(total['tiles'])} tiles, {commas(total['cycles'])} cycles and "
        f"{commas(total['values'])} output values compared in all.",
        "",
        "| co-simulation (test name) | tiles | cycles | values | result |",
        "|---|---:|---:|---:|---|",
        *rows,
        "",
        "**Mutations caught.** Each of these tests changes vitsim's model of a unit on purpose (its "
        "comments say how: a stage, a cycle of latency, a port cycle or a wave more, a stage or a lane's "
        "results fewer) and requires a divergence from the RTL; the first divergence each reported:",
        "",
    ]
    for name, divergences in mutations:
        out.append(f"- {name}: " + "; ".join(f"`{d}`" for d in divergences))
    return "\n".join(out) + "\n"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rtl-tests", default="build/ci/tests/rtl/vitsim_rtl_tests")
    parser.add_argument("--doc", default="docs/validation.md")
    parser.add_argument("--check", action="store_true", help="only check the section names every test")
    args = parser.parse_args()
    if not os.access(args.rtl_tests, os.X_OK):
        fail(f"{args.rtl_tests} is not an executable (build the ci preset with Verilator installed)")
    try:
        with open(args.doc, encoding="utf-8") as f:
            text = f.read()
    except OSError as e:
        fail(f"cannot read {args.doc}: {e.strerror}")
    begin, end = section_bounds(text, args.doc)
    names = test_names(args.rtl_tests)
    if args.check:
        missing = [n for n in names if n not in text[begin:end]]
        if missing:
            print(f"rtl_validation: {len(missing)} RTL test(s) missing from {args.doc}'s RTL section "
                  "(run tools/rtl_validation.py):", file=sys.stderr)
            for n in missing:
                print(f"  {n}", file=sys.stderr)
            sys.exit(1)
        print(f"rtl_validation: {args.doc} names all {len(names)} RTL tests")
        return
    with tempfile.TemporaryDirectory() as tmp:
        summary = os.path.join(tmp, "summary.jsonl")
        t0 = time.monotonic()
        # One process per test, as ctest runs them: Verilator's default context does not survive a second
        # model of another design constructed in the same process (seen: a hang in its error path).
        for name in names:
            print(f"rtl_validation: {name}", file=sys.stderr)
            run = subprocess.run([args.rtl_tests, name.replace(",", "\\,")], capture_output=True, text=True,
                                 env={**os.environ, "VITSIM_RTL_SUMMARY": summary})
            if run.returncode != 0:
                sys.stderr.write(run.stdout[-4000:])
                fail(f"'{name}' failed (exit {run.returncode}); {args.doc} not written")
        seconds = time.monotonic() - t0
        with open(summary, encoding="utf-8") as f:
            runs = [json.loads(line) for line in f if line.strip()]
    ran = {r["test"] for r in runs}
    silent = [n for n in names if n not in ran]
    if silent:
        fail(f"test(s) that recorded no co-simulation: {', '.join(silent)}")
    new = text[:begin] + "\n" + table(runs, seconds) + text[end:]
    with open(args.doc + ".tmp", "w", encoding="utf-8") as f:
        f.write(new)
    os.replace(args.doc + ".tmp", args.doc)
    print(f"rtl_validation: {len(runs)} runs of {len(ran)} tests written to {args.doc} ({seconds:.0f} s)")


if __name__ == "__main__":
    main()
