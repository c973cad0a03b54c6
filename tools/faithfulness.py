#!/usr/bin/python3
"""How faithful are a model's Grad-CAM maps? Remove what the map calls most
important and see whether the model's confidence falls more than when an
equally large random region is removed.

For every image (a seeded sample of N per class of each DATA/<class>/ tree):
  1. classify the gray pixels; c = the top class, p0 = its probability;
  2. compute the map explaining c (library Grad-CAM, --method, --layer),
     bilinearly resized to the image;
  3. "remove" exactly the --fraction of pixels with the highest map values:
     set them to the image's mean gray level ("mean") or to a Gaussian blur
     of the image ("blur", radius 8 px); p1 = probability of c afterwards;
  4. the same with a random map of the same kind (uniform noise at the
     target layer's resolution, bilinearly resized, so the removed area is as
     large and as blob-shaped as the CAM's): p_r.
The confidence drop is p0 - p1 (pytorch-grad-cam's "confidence change" metrics,
with removal instead of multiplication). A faithful map has a mean CAM drop
clearly above the random one. Prints a Markdown table per removal, and one
of the share of the top pixels that lie in the outer 10 % frame of the image.

Uses the Python binding (bindings/python) with numpy and PIL from Debian:

    PYTHONPATH=bindings/python COVIDCAM_LIBRARY=build/lib/libcovidcam.so \\
        /usr/bin/python3 tools/faithfulness.py --model models/covidcam-cxr.safetensors \\
        --per-class 60 ../shared/data/cxr/val ../shared/data/cxr-tb/val
"""
import argparse
import os
import random
import sys

import numpy as np
from PIL import Image, ImageFilter

import covidcam


def sample(roots, per_class, seed):
    """[(path, class)]: per_class files per class (all when 0), seeded."""
    by_class = {}
    for root in roots:
        for c in sorted(os.listdir(root)):
            d = os.path.join(root, c)
            if os.path.isdir(d):
                by_class.setdefault(c, []).extend(
                    os.path.join(d, f) for f in sorted(os.listdir(d)) if not f.startswith("."))
    rng = random.Random(seed)
    out = []
    for c in sorted(by_class):
        files = by_class[c]
        pick = files if not per_class or per_class >= len(files) else rng.sample(files, per_class)
        out += [(p, c) for p in sorted(pick)]
    return out


def top_mask(saliency, fraction):
    """Boolean mask of exactly round(fraction * size) pixels with the highest
    saliency (ties broken by position, so the area is exact)."""
    flat = saliency.ravel()
    k = int(round(fraction * flat.size))
    mask = np.zeros(flat.size, dtype=bool)
    if k:
        mask[np.argsort(-flat, kind="stable")[:k]] = True
    return mask.reshape(saliency.shape)


def upsample(small, width, height):
    img = Image.fromarray(np.asarray(small, dtype=np.float32), mode="F")
    return np.asarray(img.resize((width, height), Image.BILINEAR), dtype=np.float32)


def frame_mask(h, w, margin=0.1):
    """The outer `margin` of the image on every side (36 % of the area at
    0.1): where borders, burnt-in text and collimation edges sit."""
    m = np.ones((h, w), dtype=bool)
    dy, dx = int(round(margin * h)), int(round(margin * w))
    m[dy:h - dy, dx:w - dx] = False
    return m


def removed(gray, mask, kind, blurred):
    out = gray.copy()
    out[mask] = blurred[mask] if kind == "blur" else np.uint8(round(float(gray.mean())))
    return out


def measure(session, items, a):
    rng = np.random.default_rng(a.seed)
    rows = []
    for path, truth in items:
        gray = np.asarray(Image.open(path).convert("L"), dtype=np.uint8)
        h, w = gray.shape
        r0 = session.classify_pixels(gray)
        c = r0.top
        p0 = r0.probabilities[c]
        hm = session.gradcam_pixels(gray, method=a.method, layer=a.layer, target=c)
        cam = hm.resize(w, h, numpy=True)
        rw, rh = hm.raw_size
        hm.close()
        rand = upsample(rng.random((rh, rw)), w, h)
        blurred = np.asarray(Image.fromarray(gray).filter(ImageFilter.GaussianBlur(8)))
        row = {"truth": truth, "top": r0.label, "p0": p0,
               "frame": float(top_mask(cam, a.fraction)[frame_mask(h, w)].mean())}
        for kind in ("mean", "blur"):
            for name, sal in (("cam", cam), ("random", rand)):
                img = removed(gray, top_mask(sal, a.fraction), kind, blurred)
                row[kind, name] = p0 - session.classify_pixels(img).probabilities[c]
        rows.append(row)
    return rows


def table(rows, kind, fraction):
    classes = sorted({r["truth"] for r in rows})
    print("\nTop %.0f%% of the map replaced by %s:\n" % (
        100 * fraction, "the image mean" if kind == "mean" else "a Gaussian blur (radius 8 px)"))
    print("| images | n | mean drop, CAM | mean drop, random | CAM drop > random |")
    print("|---|---|---|---|---|")
    for c in classes + ["all"]:
        sel = [r for r in rows if c == "all" or r["truth"] == c]
        cam = np.array([r[kind, "cam"] for r in sel])
        rnd = np.array([r[kind, "random"] for r in sel])
        print("| %s | %d | %.4f | %.4f | %.1f%% |" % (c, len(sel), cam.mean(), rnd.mean(),
                                                     100 * float((cam > rnd).mean())))


def frame_table(rows, fraction):
    """Where the map's top pixels sit: a class whose maps reach the frame far
    more than the others' may be reading the source (borders, text), not the
    lungs."""
    classes = sorted({r["truth"] for r in rows})
    print("\nShare of the map's top %.0f%% pixels in the outer 10%% frame (%.0f%% of the "
          "area):\n" % (100 * fraction, 100 * frame_mask(100, 100).mean()))
    print("| images | n | mean share | images with share > 0.25 |")
    print("|---|---|---|---|")
    for c in classes + ["all"]:
        f = np.array([r["frame"] for r in rows if c == "all" or r["truth"] == c])
        print("| %s | %d | %.3f | %.1f%% |" % (c, len(f), f.mean(), 100 * float((f > 0.25).mean())))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", required=True)
    ap.add_argument("--method", default="gradcam")
    ap.add_argument("--layer", default=None, help="target block (default: the last)")
    ap.add_argument("--fraction", type=float, default=0.2)
    ap.add_argument("--per-class", type=int, default=60, help="images per class (0 = all)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("data", nargs="+")
    a = ap.parse_args()
    if not 0 < a.fraction < 1:
        sys.exit("--fraction must be in (0, 1)")
    items = sample(a.data, a.per_class, a.seed)
    model = covidcam.Model(a.model)
    session = covidcam.Session(model, threads=a.threads)
    rows = measure(session, items, a)
    print("Model %s, method %s, layer %s, fraction %.2f, %d images, seed %d" % (
        a.model, a.method, a.layer or "last", a.fraction, len(rows), a.seed))
    for kind in ("mean", "blur"):
        table(rows, kind, a.fraction)
    frame_table(rows, a.fraction)


if __name__ == "__main__":
    main()
