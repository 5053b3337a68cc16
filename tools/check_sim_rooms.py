#!/usr/bin/python3
"""sim/'s rooms follow the flow (docs/architecture.md, "Folders"): every C++ file of sim/ sits in a room, and
includes sim/ headers only from its own room and from the rooms before it in the flow.

Usage: check_sim_rooms.py SOURCE_DIR. Exit 0 when the rule holds, 1 with one line per violation, 2 for bad
usage."""
import pathlib
import re
import sys

# Each room, and the rooms its files may include: compile -> run -> (dse, validate) -> cli.
MAY_INCLUDE = {
    "compile": {"compile"},
    "run": {"compile", "run"},
    "dse": {"compile", "run", "dse"},
    "validate": {"compile", "run", "validate"},
    "cli": {"compile", "run", "dse", "validate", "cli"},
}
INCLUDE = re.compile(r'\s*#\s*include\s+"sim/([^"]+)"')


def violations(sim):
    found = []
    for path in sorted(sim.rglob("*")):
        if path.suffix not in (".cpp", ".hpp"):
            continue
        rel = path.relative_to(sim)
        room = rel.parts[0] if len(rel.parts) == 2 else None
        if room not in MAY_INCLUDE:
            found.append(f"sim/{rel}: not in a room (sim/{{{','.join(MAY_INCLUDE)}}}/)")
            continue
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            match = INCLUDE.match(line)
            if not match:
                continue
            target = match.group(1).split("/")
            if len(target) != 2 or target[0] not in MAY_INCLUDE:
                found.append(f"sim/{rel}:{number}: includes sim/{match.group(1)}, which is in no room")
            elif target[0] not in MAY_INCLUDE[room]:
                found.append(f"sim/{rel}:{number}: the {room} room includes sim/{match.group(1)} of the "
                             f"{target[0]} room, which comes after it in the flow")
    return found


def main(argv):
    if len(argv) != 2:
        print("usage: check_sim_rooms.py SOURCE_DIR", file=sys.stderr)
        return 2
    sim = pathlib.Path(argv[1]) / "sim"
    if not sim.is_dir():
        print(f"check_sim_rooms.py: {sim} is not a folder", file=sys.stderr)
        return 2
    found = violations(sim)
    for line in found:
        print(line)
    if found:
        return 1
    print("sim/: every file in a room, every include from the same room or one before it")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
