#!/usr/bin/env python3
"""Fit a covidcam model's softmax temperature on a validation tree.

Runs `covidcam-classify --json` on every image under DATA/<class>/ (several
trees are merged by class name), takes the raw logits, and finds the
temperature T that minimises the negative log-likelihood of the true classes
under softmax(logits / T) (Guo et al. 2017, "On Calibration of Modern Neural
Networks"). The NLL is convex in 1/T, so a golden-section search over
1/T in [0.01, 100] finds the minimum. Prints the expected calibration error
(ECE, 15 equal-width bins of top-class confidence) and the reliability table
before (T = 1) and after, and with --write OUT writes a copy of the model whose
metadata carries `temperature` (every tensor byte unchanged; docs/model-format.md).

Standard library only, so it runs with the plain `python3`.

    python3 tools/calibrate.py --classify build/examples/covidcam-classify \\
        --model runs/v2/best.safetensors --write models/covidcam-cxr.safetensors \\
        ../shared/data/cxr/val ../shared/data/cxr-tb/val
"""
import argparse
import json
import math
import os
import struct
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import evaluate  # noqa: E402


def softmax(z, t):
    m = max(z)
    e = [math.exp((v - m) / t) for v in z]
    s = sum(e)
    return [v / s for v in e]


def nll(logits, truth, t):
    total = 0.0
    for z, y in zip(logits, truth):
        m = max(z)
        lse = m / t + math.log(sum(math.exp((v - m) / t) for v in z))
        total += lse - z[y] / t
    return total / len(truth)


def fit_temperature(logits, truth, lo=0.01, hi=100.0, iters=80):
    """T minimising the NLL; golden-section search on log(1/T), where the NLL
    (convex in 1/T, and log is monotone) is unimodal."""
    g = (math.sqrt(5) - 1) / 2
    a, b = math.log(lo), math.log(hi)
    c, d = b - g * (b - a), a + g * (b - a)
    fc, fd = nll(logits, truth, 1 / math.exp(c)), nll(logits, truth, 1 / math.exp(d))
    for _ in range(iters):
        if fc < fd:
            b, d, fd = d, c, fc
            c = b - g * (b - a)
            fc = nll(logits, truth, 1 / math.exp(c))
        else:
            a, c, fc = c, d, fd
            d = a + g * (b - a)
            fd = nll(logits, truth, 1 / math.exp(d))
    return 1 / math.exp((a + b) / 2)


def report(title, logits, truth, t):
    probs = [softmax(z, t) for z in logits]
    top = [max(range(len(p)), key=p.__getitem__) for p in probs]
    conf = [p[k] for p, k in zip(probs, top)]
    correct = [int(k == y) for k, y in zip(top, truth)]
    bins, ece = evaluate.calibration(conf, correct, bins=15)
    print("\n%s (T = %.4f): NLL %.4f, ECE %.2f%%\n" % (title, t, nll(logits, truth, t), 100 * ece))
    print("| confidence | images | mean confidence | accuracy |")
    print("|---|---|---|---|")
    for lo, hi, n, mc, ac in bins:
        print("| (%.3f, %.3f] | %d | %.4f | %.4f |" % (lo, hi, n, mc, ac))
    return ece


def write_with_temperature(src, dst, t):
    """Copy the safetensors file src to dst with metadata temperature = t."""
    with open(src, "rb") as f:
        data = f.read()
    n = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8:8 + n])
    header.setdefault("__metadata__", {})["temperature"] = "%.4f" % t
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    tmp = dst + ".tmp%d" % os.getpid()
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + data[8 + n:])
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, dst)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--classify", required=True, help="path of covidcam-classify")
    ap.add_argument("--model", required=True)
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--write", metavar="OUT", help="write the model with the fitted temperature")
    ap.add_argument("data", nargs="+", help="validation folders, one sub-folder per class")
    a = ap.parse_args()

    classes, items = evaluate.list_images(a.data)
    results = evaluate.classify(a.classify, a.model, [p for p, _ in items], a.threads)
    if len(results) != len(items):
        sys.exit("expected %d results, got %d" % (len(items), len(results)))
    order = list(results[0]["logits"].keys())
    if sorted(order) != sorted(classes):
        sys.exit("the model's classes %s differ from the folders' %s" % (order, classes))
    logits = [[r["logits"][c] for c in order] for r in results]
    truth = [order.index(c) for _, c in items]
    t = fit_temperature(logits, truth)
    print("Images: %d; fitted temperature T = %.4f" % (len(items), t))
    report("Before (softmax of the raw logits)", logits, truth, 1.0)
    report("After temperature scaling", logits, truth, t)
    if a.write:
        write_with_temperature(a.model, a.write, t)
        print("\nwrote %s with temperature %.4f" % (a.write, t))


if __name__ == "__main__":
    main()
