#!/usr/bin/env python3
"""Write the out-of-distribution measurement sets: images that are not usable
frontal chest X-rays, one folder per category, made from what a Debian 12
machine has without downloading.

  synthetic      constant images, uniform and Gaussian noise, gradients,
                 checkerboards (seeded)
  natural        scikit-image's sample photographs (python3-skimage) and
                 random crops of them
  faces          scikit-image's LFW subset (25 x 25 face crops), enlarged to 128
  faces-256      the same enlarged to 256, past the low-resolution check (for
                 the low-detail check and the out-of-distribution score)
  medical-other  scikit-image's retina, histology, cell and phantom images
and, when the X-ray tree is given (--xrays, e.g. ../shared/data/cxr/val),
transformed real films (every --step-th image):
  xray-inverted  negative films
  xray-rot90     rotated a quarter turn
  xray-crop      the central 35 % only, enlarged
  xray-12bit     12-bit values stored in a 16-bit PNG (decodes almost black)
  xray-letterbox the film centred on a black 16:9 canvas

Nothing here is committed: tests and docs/trust.md run this script into a
scratch folder. Needs numpy, PIL and skimage (Debian: python3-numpy,
python3-pil, python3-skimage).

    /usr/bin/python3 tools/make_ood_sets.py --out /tmp/ood --xrays ../shared/data/cxr/val
"""
import argparse
import glob
import os

import numpy as np
from PIL import Image

NATURAL = ("astronaut", "camera", "coffee", "chelsea", "rocket", "coins", "moon", "page",
           "text", "horse", "brick", "grass", "gravel", "cat", "clock", "hubble_deep_field",
           "logo", "colorwheel", "binary_blobs")
MEDICAL = ("retina", "immunohistochemistry", "microaneurysms", "cell", "shepp_logan_phantom")


def gray8(a):
    """Any skimage array as 8-bit gray (RGB(A) averaged, bool and float scaled)."""
    a = np.asarray(a)
    if a.ndim == 3:
        a = a[..., :3].mean(axis=2)
    a = a.astype(np.float64)
    lo, hi = a.min(), a.max()
    if a.max() <= 1.0 and lo >= 0:
        a = a * 255.0
    elif hi > 255 or lo < 0:
        a = (a - lo) / max(hi - lo, 1e-9) * 255.0
    return np.clip(np.rint(a), 0, 255).astype(np.uint8)


def save(folder, name, a, mode=None):
    os.makedirs(folder, exist_ok=True)
    Image.fromarray(a, mode).save(os.path.join(folder, name + ".png"))


def synthetic(out, rng):
    d = os.path.join(out, "synthetic")
    for i, v in enumerate((0, 20, 64, 128, 200, 255, 90, 170)):
        save(d, "constant-%d" % i, np.full((256, 256), v, np.uint8))
    for i in range(8):
        save(d, "uniform-%d" % i, rng.integers(0, 256, (256, 256), dtype=np.uint8))
        g = rng.normal(128, 20 + 10 * i, (256, 256))
        save(d, "gauss-%d" % i, np.clip(g, 0, 255).astype(np.uint8))
    y, x = np.mgrid[0:256, 0:256] / 255.0
    grads = (x, y, 1 - x, 1 - y, (x + y) / 2, np.hypot(x - .5, y - .5) / .71,
             1 - np.hypot(x - .5, y - .5) / .71, np.abs(x - .5) * 2)
    for i, g in enumerate(grads):
        save(d, "gradient-%d" % i, (g * 255).astype(np.uint8))
    for i, k in enumerate((4, 8, 16, 32, 64, 3, 12, 128)):
        c = ((np.arange(256)[:, None] // k + np.arange(256)[None, :] // k) % 2) * 255
        save(d, "checker-%d" % i, c.astype(np.uint8))


def crops(a, rng, n):
    h, w = a.shape
    for _ in range(n):
        s = int(min(h, w) * rng.uniform(0.4, 0.8))
        y, x = rng.integers(0, h - s + 1), rng.integers(0, w - s + 1)
        yield a[y:y + s, x:x + s]


def from_skimage(out, rng, names, category, n_crops):
    import skimage.data as data
    d = os.path.join(out, category)
    for name in names:
        try:
            a = gray8(getattr(data, name)())
        except Exception as exc:  # a data file this skimage does not ship
            print("left out %s: %s" % (name, exc))
            continue
        save(d, name, a)
        for i, c in enumerate(crops(a, rng, n_crops)):
            save(d, "%s-crop%d" % (name, i), np.ascontiguousarray(c))


def faces(out, n=100):
    import skimage.data as data
    crops = data.lfw_subset()[:n]
    for size, name in ((128, "faces"), (256, "faces-256")):
        d = os.path.join(out, name)
        for i, f in enumerate(crops):
            img = Image.fromarray(gray8(f)).resize((size, size), Image.BILINEAR)
            save(d, "face-%03d" % i, np.asarray(img))


def xrays(out, root, step):
    files = sorted(glob.glob(os.path.join(root, "*", "*.png")) +
                   glob.glob(os.path.join(root, "*", "*.jpg")))[::step]
    for f in files:
        stem = os.path.splitext(os.path.basename(f))[0]
        a = np.asarray(Image.open(f).convert("L"))
        save(os.path.join(out, "xray-inverted"), stem, 255 - a)
        save(os.path.join(out, "xray-rot90"), stem, np.ascontiguousarray(np.rot90(a)))
        h, w = a.shape
        c = a[int(h * .325):int(h * .675), int(w * .325):int(w * .675)]
        save(os.path.join(out, "xray-crop"), stem,
             np.asarray(Image.fromarray(c).resize((w, h), Image.BILINEAR)))
        save(os.path.join(out, "xray-12bit"), stem, (a.astype(np.uint16) * 16), "I;16")
        canvas = np.zeros((h, h * 16 // 9), np.uint8)
        x0 = (canvas.shape[1] - w) // 2
        canvas[:, x0:x0 + w] = a
        save(os.path.join(out, "xray-letterbox"), stem, canvas)
    return len(files)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--xrays", action="append", default=[],
                    help="a tree of class folders of real X-rays to transform (repeatable)")
    ap.add_argument("--step", type=int, default=20, help="every STEP-th X-ray [20]")
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    rng = np.random.default_rng(a.seed)
    synthetic(a.out, rng)
    from_skimage(a.out, rng, NATURAL, "natural", 3)
    from_skimage(a.out, rng, MEDICAL, "medical-other", 4)
    faces(a.out)
    for root in a.xrays:
        print("transformed %d X-rays of %s" % (xrays(a.out, root, a.step), root))
    for c in sorted(os.listdir(a.out)):
        print("%-15s %d" % (c, len(os.listdir(os.path.join(a.out, c)))))


if __name__ == "__main__":
    main()
