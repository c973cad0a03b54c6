#!/usr/bin/python3
"""Test-time augmentation: classify every image under nine fixed views and
compare each view, and the average of their logits, on a labelled tree.

The views (fixed before any measurement, all inside the trainer's default
augmentation ranges, docs/training.md): the image itself; shifts of --shift
pixels (10: about 4 % of a 256-pixel film) left, right, up and down; zooms of
0.92 and 1.08 and rotations of -5 and +5 degrees about the centre. Each is a
bilinear affine warp with black outside, as the trainer's augmentation. For
every view and for the mean of the nine views' raw logits, prints one Markdown
row: accuracy, per-class recall / precision, the NLL after fitting a
temperature on the same images (tools/calibrate.py's fit), that temperature
and the ECE (15 bins) at it; then the average against the image itself,
paired image by image (NLL difference with its standard error, images
corrected and broken), since a difference of a few images means little alone.

What it answers: whether averaging views would make better predictions than
the one view the library classifies, and how much a model's validation
figures depend on the exact pixels its epoch was selected on (the shifted
views score the same films without that selection).

Uses the Python binding (bindings/python) with numpy and PIL from Debian:

    PYTHONPATH=bindings/python /usr/bin/python3 tools/tta.py \\
        --model models/covidcam-cxr.safetensors ../shared/data/cxr/val ../shared/data/cxr-tb/val
"""
import argparse
import math
import os
import sys

import numpy as np
from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import calibrate  # noqa: E402
import covidcam  # noqa: E402
import evaluate  # noqa: E402


def views(shift):
    """(name, dx, dy, zoom, degrees) of the nine views."""
    return [("image", 0, 0, 1.0, 0), ("shift left", -shift, 0, 1.0, 0),
            ("shift right", shift, 0, 1.0, 0), ("shift up", 0, -shift, 1.0, 0),
            ("shift down", 0, shift, 1.0, 0), ("zoom 0.92", 0, 0, 0.92, 0),
            ("zoom 1.08", 0, 0, 1.08, 0), ("rotate -5", 0, 0, 1.0, -5),
            ("rotate +5", 0, 0, 1.0, 5)]


def warp(img, dx, dy, zoom, degrees):
    """img (PIL, mode L) zoomed by `zoom` and rotated by `degrees` about its
    centre, then moved by (dx, dy) pixels; bilinear, black outside. PIL maps
    every output pixel back to the input, so the coefficients are the inverse:
    in = centre + R(-a) (out - centre - d) / zoom."""
    if (dx, dy, zoom, degrees) == (0, 0, 1.0, 0):
        return img
    w, h = img.size
    # PIL samples at pixel centres in continuous coordinates (pixel i spans
    # [i, i + 1]), so the image centre is (w / 2, h / 2) there.
    cx, cy = w / 2, h / 2
    a = math.radians(degrees)
    c, s = math.cos(a) / zoom, math.sin(a) / zoom
    x0, y0 = cx + dx, cy + dy
    coeffs = (c, s, cx - c * x0 - s * y0, -s, c, cy + s * x0 - c * y0)
    return img.transform((w, h), Image.AFFINE, coeffs, resample=Image.BILINEAR, fillcolor=0)


def view_logits(session, path, vs):
    """[views][classes] raw logits of the image at path."""
    img = Image.open(path).convert("L")
    return [session.classify_pixels(np.asarray(warp(img, *v[1:]), dtype=np.uint8)).logits
            for v in vs]


def row(name, classes, logits, truth):
    """One Markdown row of figures for [images][classes] logits."""
    pred = [max(range(len(z)), key=z.__getitem__) for z in logits]
    right = sum(int(p == y) for p, y in zip(pred, truth))
    _, per = evaluate.table(classes, [classes[y] for y in truth], [classes[p] for p in pred])
    t = calibrate.fit_temperature(logits, truth)
    probs = [calibrate.softmax(z, t) for z in logits]
    conf = [max(p) for p in probs]
    _, ece = evaluate.calibration(conf, [int(p == y) for p, y in zip(pred, truth)], bins=15)
    cells = ["%.2f %% (%d)" % (100 * right / len(truth), len(truth) - right)]
    cells += ["%.1f / %.1f" % (100 * r[2], 100 * r[1]) for r in per]
    cells += ["%.4f" % calibrate.nll(logits, truth, t), "%.4f" % t, "%.2f %%" % (100 * ece)]
    return "| %s | %s |" % (name, " | ".join(cells))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", required=True)
    ap.add_argument("--shift", type=int, default=10, help="pixels of the four shifts [10]")
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("data", nargs="+", help="folders with one sub-folder of images per class")
    a = ap.parse_args()
    classes, items = evaluate.list_images(a.data)
    model = covidcam.Model(a.model)
    if list(model.classes) != classes:
        sys.exit("tta.py: the model's classes %s are not the folders' %s" % (model.classes, classes))
    session = covidcam.Session(model, threads=a.threads)
    vs = views(a.shift)
    per_image = [view_logits(session, p, vs) for p, _ in items]
    truth = [classes.index(c) for _, c in items]
    print("%d images, %s\n" % (len(items), a.model))
    print("| view | accuracy (errors) | %s | NLL after temperature | temperature | ECE |"
          % " | ".join("%s recall / precision" % c for c in classes))
    print("|---|---|%s---|---|---|" % ("---|" * len(classes)))
    for j, v in enumerate(vs):
        print(row(v[0], classes, [img[j] for img in per_image], truth))
    mean = [[sum(z[k] for z in img) / len(vs) for k in range(len(classes))] for img in per_image]
    print(row("**mean of the nine views' logits**", classes, mean, truth))
    print("\n" + paired([img[0] for img in per_image], mean, truth))


def paired(single, mean, truth):
    """The mean of views against the single image, image by image: the NLL
    difference (each at its own fitted temperature) with its standard error,
    and how many images the average corrects and breaks."""
    t1, t2 = calibrate.fit_temperature(single, truth), calibrate.fit_temperature(mean, truth)
    d = [-math.log(calibrate.softmax(b, t2)[y]) + math.log(calibrate.softmax(a, t1)[y])
         for a, b, y in zip(single, mean, truth)]
    n = len(d)
    mu = sum(d) / n
    se = math.sqrt(sum((v - mu) ** 2 for v in d) / (n - 1) / n) if n > 1 else float("nan")

    def top(z):
        return max(range(len(z)), key=z.__getitem__)
    fixed = sum(int(top(a) != y and top(b) == y) for a, b, y in zip(single, mean, truth))
    broken = sum(int(top(a) == y and top(b) != y) for a, b, y in zip(single, mean, truth))
    return ("mean of views - image, paired over the %d images: NLL %+.4f (standard error %.4f); "
            "the average corrects %d images and breaks %d" % (n, mu, se, fixed, broken))


if __name__ == "__main__":
    main()
