#!/usr/bin/env python3
"""Evaluate a covidcam model on a folder tree through the C library.

Runs `covidcam-classify --json` on every image under DATA/<class>/ (the class
is the folder name; several DATA trees are merged by class name; PNG, JPEG
and DICOM are told apart by their bytes) and prints, in Markdown, what the model card reports:
accuracy, the confusion matrix, per-class precision / recall / F1 (the
notebook's table), and calibration — mean confidence against accuracy in
15 equal-width confidence bins, with the expected calibration error (ECE).

Standard library only, so it runs with the plain `python3`.

    python3 tools/evaluate.py --classify build/examples/covidcam-classify \
        --model models/covidcam-cxr.safetensors ../shared/data/cxr/val
"""
import argparse
import json
import os
import subprocess
import sys


def list_images(roots):
    """(sorted class names, [(path, class)]) of the regular files in
    ROOT/<class>/ for every root (hidden files left out)."""
    if isinstance(roots, str):
        roots = [roots]
    classes, items = set(), []
    for root in roots:
        for c in sorted(d for d in os.listdir(root) if os.path.isdir(os.path.join(root, d))):
            classes.add(c)
            folder = os.path.join(root, c)
            for f in sorted(os.listdir(folder)):
                path = os.path.join(folder, f)
                if not f.startswith(".") and os.path.isfile(path):
                    items.append((path, c))
    return sorted(classes), items


def classify(exe, model, paths, threads, chunk=200, precision="fp32"):
    """JSON objects from covidcam-classify, in the order of paths."""
    out = []
    for i in range(0, len(paths), chunk):
        cmd = [exe, "--model", model, "--json", "--precision", precision]
        if threads:
            cmd += ["--threads", str(threads)]
        res = subprocess.run(cmd + paths[i:i + chunk], capture_output=True, text=True)
        if res.returncode != 0:
            sys.exit("covidcam-classify failed (%d): %s" % (res.returncode, res.stderr.strip()))
        out += [json.loads(line) for line in res.stdout.splitlines() if line.strip()]
    return out


def table(classes, truth, pred):
    n = len(classes)
    idx = {c: i for i, c in enumerate(classes)}
    cm = [[0] * n for _ in range(n)]
    for t, p in zip(truth, pred):
        cm[idx[t]][idx[p]] += 1
    rows = []
    for i, c in enumerate(classes):
        tp = cm[i][i]
        support = sum(cm[i])
        predicted = sum(cm[r][i] for r in range(n))
        precision = tp / predicted if predicted else 0.0
        recall = tp / support if support else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        rows.append((c, precision, recall, f1, support))
    return cm, rows


def calibration(conf, correct, bins=15):
    edges = [i / bins for i in range(bins + 1)]
    out, ece = [], 0.0
    for b in range(bins):
        lo, hi = edges[b], edges[b + 1]
        sel = [i for i, c in enumerate(conf) if (lo < c <= hi) or (b == 0 and c == lo)]
        if not sel:
            continue
        mc = sum(conf[i] for i in sel) / len(sel)
        acc = sum(correct[i] for i in sel) / len(sel)
        ece += len(sel) / len(conf) * abs(mc - acc)
        out.append((lo, hi, len(sel), mc, acc))
    return out, ece


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--classify", required=True, help="path of covidcam-classify")
    ap.add_argument("--model", required=True)
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--precision", default="fp32", help="fp32 (default), bf16 or auto")
    ap.add_argument("--json-out", help="also write per-image results (JSON lines) here")
    ap.add_argument("data", nargs="+", help="folder with one sub-folder of images per class "
                    "(several are merged by class name)")
    a = ap.parse_args()

    classes, items = list_images(a.data)
    results = classify(a.classify, a.model, [p for p, _ in items], a.threads,
                       precision=a.precision)
    if len(results) != len(items):
        sys.exit("expected %d results, got %d" % (len(items), len(results)))
    truth = [c for _, c in items]
    pred = [r["top"] for r in results]
    # The model may predict classes that have no folder here (a subset of the
    # data): the table has every class of either, folders' first.
    for r in results:
        classes += [c for c in r["probabilities"] if c not in classes]
    conf = [r["probabilities"][r["top"]] for r in results]
    correct = [int(t == p) for t, p in zip(truth, pred)]
    if a.json_out:
        with open(a.json_out, "w") as f:
            for r, t in zip(results, truth):
                f.write(json.dumps(dict(r, truth=t)) + "\n")

    cm, rows = table(classes, truth, pred)
    acc = sum(correct) / len(correct)
    print("Images: %d, accuracy: **%.2f%%** (%d errors)\n" % (len(items), 100 * acc,
                                                           len(items) - sum(correct)))
    print("Confusion matrix (rows: true class, columns: predicted):\n")
    print("| true \\ predicted | " + " | ".join(classes) + " |")
    print("|---" * (len(classes) + 1) + "|")
    for c, r in zip(classes, cm):
        print("| %s | " % c + " | ".join(str(v) for v in r) + " |")
    print("\nPer class:\n")
    print("| class | precision | recall | F1 | support |")
    print("|---|---|---|---|---|")
    for c, p, r, f, s in rows:
        print("| %s | %.4f | %.4f | %.4f | %d |" % (c, p, r, f, s))
    macro = [sum(x[k] for x in rows) / len(rows) for k in (1, 2, 3)]
    print("| macro avg | %.4f | %.4f | %.4f | %d |" % (macro[0], macro[1], macro[2], len(items)))
    bins, ece = calibration(conf, correct)
    print("\nCalibration (top-class confidence in 15 equal bins):\n")
    print("| confidence | images | mean confidence | accuracy |")
    print("|---|---|---|---|")
    for lo, hi, n, mc, ac in bins:
        print("| (%.3f, %.3f] | %d | %.4f | %.4f |" % (lo, hi, n, mc, ac))
    print("\nExpected calibration error (ECE): %.4f" % ece)
    ms = sorted(r["ms"] for r in results)
    print("\nMedian classification time per image: %.1f ms" % ms[len(ms) // 2])


if __name__ == "__main__":
    main()
