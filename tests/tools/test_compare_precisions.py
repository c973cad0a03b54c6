#!/usr/bin/env python3
"""tools/compare_precisions.py against a hand count on four images.

usage: test_compare_precisions.py SOURCE_ROOT

The reference and a second run differ on one top class (image 2, by 0.15 in
probability) and one OOD flag (image 3); the second run fixes image 2. The
ECEs are hand computed: every confidence falls in its own 15-bin interval, so
ECE = (|0.85 - 1| + |0.55 - 1| + |0.78 - 1| + |0.70 - 0|) / 4 = 0.38.
Runs over different files and failed images are refused. Standard library only.
"""
import json
import os
import subprocess
import sys
import tempfile

REF = [("a.png", "A", "A", 0.90, False), ("b.png", "B", "A", 0.40, False),
       ("c.png", "B", "B", 0.20, True), ("d.png", "A", "B", 0.70, False)]
RUN = [("a.png", "A", "A", 0.85, False), ("b.png", "A", "A", 0.55, False),
       ("c.png", "B", "B", 0.22, False), ("d.png", "A", "B", 0.70, False)]


def write(path, rows):
    with open(path, "w") as f:
        for file, top, truth, pa, ood in rows:
            f.write(json.dumps({"file": file, "top": top, "truth": truth, "ood": ood,
                                "probabilities": {"A": pa, "B": 1 - pa}}) + "\n")


def run(tool, *args):
    return subprocess.run([sys.executable, tool] + list(args), capture_output=True, text=True)


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    tool = os.path.join(sys.argv[1], "tools", "compare_precisions.py")
    failures = []
    with tempfile.TemporaryDirectory() as d:
        ref, other, short, bad = (os.path.join(d, n) for n in ("ref", "other", "short", "bad"))
        write(ref, REF)
        write(other, RUN)
        write(short, RUN[:3])
        with open(bad, "w") as f:
            f.write(json.dumps({"file": "a.png", "status": "ERR_DECODE", "error": "truncated"}) + "\n")
        out = run(tool, "fp32=" + ref, "int8=" + other)
        rows = [ln for ln in out.stdout.splitlines() if ln.startswith("| ")]
        # the reference's ECE: confidences 0.90, 0.60, 0.80, 0.70, right 1, 0, 1, 0,
        # each in its own bin: (0.1 + 0.6 + 0.2 + 0.7) / 4 = 0.40
        want = ["| fp32 | 50.00 % | — | — | 40.00 % | — |",
                "| int8 | 75.00 % | 75.00 % (3 / 4) | 0.150 | 38.00 % | 1 of 4 |"]
        if out.returncode != 0 or rows[1:] != want:
            failures.append("table: rc %d, %r, stderr %s" % (out.returncode, rows, out.stderr))
        out = run(tool, "fp32=" + ref, "int8=" + short)
        if out.returncode == 0 or "different files" not in out.stderr or "d.png" not in out.stderr:
            failures.append("different files accepted: %r" % out.stderr)
        out = run(tool, "fp32=" + bad)
        if out.returncode == 0 or "a.png failed (truncated)" not in out.stderr:
            failures.append("failed image accepted: %r" % out.stderr)
        out = run(tool, "fp32" + ref)
        if out.returncode == 0 or "is not NAME=FILE" not in out.stderr:
            failures.append("bad argument accepted: %r" % out.stderr)
    for f in failures:
        print("FAIL:", f)
    if failures:
        sys.exit(1)
    print("ok")


if __name__ == "__main__":
    main()
