#!/usr/bin/env python3
"""Pick the validation images the shipped-model test classifies.

Reads the per-image results written by `tools/evaluate.py --json-out` and
writes, per class and file type (extension, so JPEGs are picked beside
PNGs), the N correctly classified images with the highest confidence (ties
broken by file name) as `<class> <path relative to the data
root> <confidence>` lines, leaving out images the trust assessment flags or
warns about. The test guards loading and the pipeline; the
model card guards accuracy.

    python3 tools/pick_selftest.py --per-class 3 --root ../shared/data/cxr \
        val-results.jsonl > tests/shipped_model_images.txt
"""
import argparse
import json
import os


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--per-class", type=int, default=3)
    ap.add_argument("--root", required=True, help="data root the paths are made relative to")
    ap.add_argument("results", help="JSON lines from tools/evaluate.py --json-out")
    a = ap.parse_args()
    best = {}
    with open(a.results) as f:
        for line in f:
            r = json.loads(line)
            # right, and neither flagged nor warned: the test asserts all three
            if r["top"] != r["truth"] or r.get("ood") or r.get("warnings"):
                continue
            conf = r["probabilities"][r["top"]]
            ext = os.path.splitext(r["file"])[1].lower()
            best.setdefault((r["truth"], ext), []).append((-conf, r["file"]))
    print("# class, image (relative to the shared data root), confidence when picked")
    for c, ext in sorted(best):
        for neg, path in sorted(best[c, ext])[: a.per_class]:
            print("%s %s %.4f" % (c, os.path.relpath(path, a.root), -neg))


if __name__ == "__main__":
    main()
