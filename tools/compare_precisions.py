#!/usr/bin/env python3
"""Compare one model's sessions of different precisions, image by image.

Reads the per-image results `tools/evaluate.py --json-out` writes (one JSON
object per line: file, top, probabilities, ood, truth) for a reference run
(fp32) and one or more others (bf16, int8) of the same images, and prints the
model card's precision table in Markdown: accuracy, top-1 agreement with the
reference, the largest |difference| of any class probability, the expected
calibration error (15 bins, evaluate.py's) and how many OOD flags changed.
The runs must hold the same files; a file missing from either is an error.

Standard library only, so it runs with the plain `python3`.

    python3 tools/compare_precisions.py fp32=res-fp32.jsonl bf16=res-bf16.jsonl int8=res-int8.jsonl
"""
import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import evaluate  # noqa: E402


def load(path):
    """{file: result} of a JSON-lines file."""
    out = {}
    with open(path) as f:
        for n, line in enumerate(f, 1):
            r = json.loads(line)
            if "top" not in r:
                sys.exit("%s:%d: %s failed (%s)" % (path, n, r.get("file"), r.get("error")))
            out[r["file"]] = r
    return out


def figures(ref, run):
    """(accuracy, agreeing, max |delta p|, ECE, OOD flags changed, images)
    of run against ref, both {file: result} over the same files."""
    if set(ref) != set(run):
        missing = sorted(set(ref) ^ set(run))
        raise ValueError("the runs hold different files, e.g. %s" % missing[0])
    files = sorted(ref)
    right = [int(run[f]["top"] == run[f]["truth"]) for f in files]
    agree = sum(int(run[f]["top"] == ref[f]["top"]) for f in files)
    dp = max(abs(run[f]["probabilities"][c] - ref[f]["probabilities"][c])
             for f in files for c in ref[f]["probabilities"])
    conf = [run[f]["probabilities"][run[f]["top"]] for f in files]
    _, ece = evaluate.calibration(conf, right, bins=15)
    ood = sum(int(bool(run[f].get("ood")) != bool(ref[f].get("ood"))) for f in files)
    return sum(right) / len(files), agree, dp, ece, ood, len(files)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("runs", nargs="+", metavar="NAME=FILE",
                    help="the reference first (e.g. fp32=res-fp32.jsonl), then the others")
    a = ap.parse_args()
    runs = []
    for spec in a.runs:
        name, sep, path = spec.partition("=")
        if not sep or not name or not path:
            sys.exit("compare_precisions.py: %r is not NAME=FILE" % spec)
        runs.append((name, load(path)))
    ref_name, ref = runs[0]
    print("| session | accuracy | top-1 agreement with %s | max \\|Δ probability\\| | ECE | "
          "OOD flag changed |" % ref_name)
    print("|---|---|---|---|---|---|")
    for name, run in runs:
        try:
            acc, agree, dp, ece, ood, n = figures(ref, run)
        except ValueError as e:
            sys.exit("compare_precisions.py: %s and %s: %s" % (ref_name, name, e))
        if run is ref:
            print("| %s | %.2f %% | — | — | %.2f %% | — |" % (name, 100 * acc, 100 * ece))
        else:
            print("| %s | %.2f %% | %.2f %% (%d / %d) | %.3f | %.2f %% | %d of %d |"
                  % (name, 100 * acc, 100 * agree / n, agree, n, dp, 100 * ece, ood, n))


if __name__ == "__main__":
    main()
