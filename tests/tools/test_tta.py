#!/usr/bin/env python3
"""tools/tta.py: its views against hand computation, its figures against a
hand count, and its 'image' row against the library classifying the files.

usage: test_tta.py LIBCOVIDCAM.so FIXTURES_DIR SOURCE_ROOT

  * warp: an integer shift is the array moved with black filling the gap;
    a zoom of a linear ramp is the ramp at the mapped coordinate (bilinear
    interpolation is exact on a linear function) and a 90-degree rotation of
    an odd square is numpy's rot90 clockwise, both to the one gray level
    PIL's fixed-point rounding costs;
  * row: accuracy, errors, per-class recall / precision of a hand-made set
    of logits, a temperature no worse than any of a fine grid, and the
    paired comparison's counts and NLL difference recomputed per image;
  * the tool on a tree of seeded random PNGs with the fixture model: nine
    view rows and the mean row, and the 'image' row's accuracy equals the
    share of files whose top class, from covidcam_classify_file (the
    library's own PNG decoder, not PIL), is their folder's.

Needs numpy and PIL (Debian's python3-numpy, python3-pil): exits 77 (skipped)
without them.
"""
import os
import subprocess
import sys
import tempfile

FAILURES = []


def check(ok, what):
    if not ok:
        FAILURES.append(what)
        print("FAIL:", what)


def test_warp(tta, np, Image):
    rng = np.random.default_rng(3)
    a = rng.integers(1, 256, size=(30, 40), dtype=np.uint8)
    img = Image.fromarray(a, mode="L")
    b = np.asarray(tta.warp(img, 3, 0, 1.0, 0))
    check((b[:, 3:] == a[:, :-3]).all() and (b[:, :3] == 0).all(), "shift right by 3")
    b = np.asarray(tta.warp(img, 0, -2, 1.0, 0))
    check((b[:-2, :] == a[2:, :]).all() and (b[-2:, :] == 0).all(), "shift up by 2")
    check((np.asarray(tta.warp(img, 0, 0, 1.0, 0)) == a).all(), "identity view")

    w, h, zoom = 101, 21, 1.25
    ramp = np.tile(10 + 2 * np.arange(w, dtype=np.float64), (h, 1))
    z = np.asarray(tta.warp(Image.fromarray(ramp.astype(np.uint8), mode="L"), 0, 0, zoom, 0))
    cx = (w - 1) / 2
    src = (np.arange(w) - cx) / zoom + cx  # inside the image for every column at 1.25
    want = 10 + 2 * src
    check(np.abs(z[h // 2].astype(np.float64) - want).max() <= 1.0, "zoom 1.25 of a ramp")

    sq = rng.integers(1, 256, size=(31, 31), dtype=np.uint8)
    r = np.asarray(tta.warp(Image.fromarray(sq, mode="L"), 0, 0, 1.0, 90))
    # PIL's bilinear warp rounds its fixed-point weights down: 1 gray level
    d = r.astype(int)[1:-1, 1:-1] - np.rot90(sq, -1).astype(int)[1:-1, 1:-1]
    check(np.abs(d).max() <= 1, "rotation by 90 degrees: off by %d" % np.abs(d).max())


def test_row(tta, calibrate):
    classes = ["A", "B", "C"]
    # truth A A B B C C; predictions A B B B C A -> 4 right of 6
    logits = [[3, 1, 0], [0, 2, 1], [0, 4, 0], [1, 2, 0], [0, 0, 1], [2, 1, 0]]
    truth = [0, 0, 1, 1, 2, 2]
    cells = [c.strip() for c in tta.row("x", classes, logits, truth).strip("|").split("|")]
    check(cells[1] == "66.67 % (2)", "accuracy cell %r" % cells[1])
    # recall / precision: A 1/2, 1/2; B 2/2, 2/3; C 1/2, 1/1
    check(cells[2:5] == ["50.0 / 50.0", "100.0 / 66.7", "50.0 / 100.0"], "per-class %r" % cells[2:5])
    t, best = float(cells[6]), float(cells[5])
    grid = min(calibrate.nll(logits, truth, 0.05 * k) for k in range(1, 400))
    check(best <= grid + 1e-4, "NLL %.4f at T %.4f above the grid's %.4f" % (best, t, grid))
    check(abs(calibrate.nll(logits, truth, t) - best) < 1e-4, "NLL cell matches its temperature")
    # paired: the second set of logits corrects image 1 and breaks image 0
    other = [[1, 3, 0], [2, 1, 0], [0, 4, 0], [1, 2, 0], [0, 0, 1], [2, 1, 0]]
    line = tta.paired(logits, other, truth)
    check("corrects 1 images and breaks 1" in line, "paired counts: %s" % line)
    d = [calibrate.nll([b], [y], calibrate.fit_temperature(other, truth))
         - calibrate.nll([a], [y], calibrate.fit_temperature(logits, truth))
         for a, b, y in zip(logits, other, truth)]
    mu = sum(d) / len(d)
    se = (sum((v - mu) ** 2 for v in d) / (len(d) - 1) / len(d)) ** 0.5
    check("NLL %+.4f (standard error %.4f)" % (mu, se) in line, "paired NLL: %s" % line)


def test_tool(lib, fixtures, source, np, Image):
    sys.path.insert(0, os.path.join(source, "bindings", "python"))
    os.environ["COVIDCAM_LIBRARY"] = lib
    import covidcam
    model_path = os.path.join(fixtures, "basic.safetensors")
    model = covidcam.Model(model_path)
    session = covidcam.Session(model, threads=1)
    rng = np.random.default_rng(11)
    with tempfile.TemporaryDirectory() as root:
        right = total = 0
        for ci, c in enumerate(model.classes):
            os.makedirs(os.path.join(root, c))
            for k in range(4):
                path = os.path.join(root, c, "%d.png" % k)
                base = rng.integers(0, 256, size=(8, 8)).astype(np.uint8)
                Image.fromarray(base, mode="L").resize((72, 72), Image.BILINEAR).save(path)
                right += int(session.classify(path).top == ci)
                total += 1
        env = dict(os.environ, PYTHONPATH=os.path.join(source, "bindings", "python"))
        out = subprocess.run([sys.executable, os.path.join(source, "tools", "tta.py"),
                              "--model", model_path, "--threads", "1", root],
                             env=env, capture_output=True, text=True)
        check(out.returncode == 0, "tta.py exit %d: %s" % (out.returncode, out.stderr))
        rows = [ln for ln in out.stdout.splitlines() if ln.startswith("| ")]
        check(len(rows) == 11, "header, nine views and the mean: %d rows" % len(rows))
        check("paired over the %d images" % total in out.stdout, "the paired line")
        image = [ln for ln in rows if ln.startswith("| image |")]
        want = "%.2f %% (%d)" % (100 * right / total, total - right)
        got = image[0].split("|")[2].strip() if image else None
        check(got == want, "image row accuracy %r, library %r" % (got, want))


def main():
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    lib, fixtures, source = sys.argv[1:]
    try:
        import numpy as np
        from PIL import Image
    except ImportError as e:
        print("SKIP: tools/tta.py needs numpy and PIL (%s)" % e)
        sys.exit(77)
    sys.path.insert(0, os.path.join(source, "bindings", "python"))
    sys.path.insert(0, os.path.join(source, "tools"))
    os.environ["COVIDCAM_LIBRARY"] = lib
    import calibrate
    import tta
    test_warp(tta, np, Image)
    test_row(tta, calibrate)
    test_tool(lib, fixtures, source, np, Image)
    if FAILURES:
        sys.exit("%d check(s) failed" % len(FAILURES))
    print("ok")


if __name__ == "__main__":
    main()
