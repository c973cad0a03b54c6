#!/usr/bin/env python3
"""covidcam-faithfulness against a re-computation of its metrics through the
Python binding (standard library only).

usage: test_faithfulness.py COVIDCAM-FAITHFULNESS LIBCOVIDCAM.so FIXTURES_DIR SOURCE_ROOT

On a dataset of fixture PNGs (two class folders, a file that is not an image,
a hidden file), every --json line's x*map and remove drops are recomputed from
the library's primitives: classify the file, take the network input
(Session.input), the map of the method (gradcam_tensor, target = top class),
multiply / remove the top fraction (ties by position) with each channel's
mean, classify again. The random baseline must be the same for every method
of an image and differ between images; the summary lines must be the means;
the table's rows the summaries.
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile

METHODS = ["gradcam", "layercam", "scorecam", "eigencam"]
FRACTION = 0.3
TOL = 2e-5


def dataset(fixtures, root):
    for cls, files in (("A", ["sample_64.png", "sample_97x131.png"]), ("B", ["sample_64.png"])):
        os.makedirs(os.path.join(root, cls))
        for f in files:
            shutil.copy(os.path.join(fixtures, f), os.path.join(root, cls, f))
    with open(os.path.join(root, "B", "notes.txt"), "w") as f:
        f.write("not an image\n")
    with open(os.path.join(root, "B", ".hidden.png"), "w") as f:
        f.write("skipped: hidden\n")


def recompute(session, path, method, layer):
    r = session.classify_file(path)
    top, p0 = r.top, r.probabilities[r.top]
    x = session.input()
    with session.gradcam_tensor(x, method=method, layer=layer, target=top) as cam:
        m = [v for row in cam.data() for v in row]
    s2 = len(m)
    ch = len(x) // s2
    mult = [x[c * s2 + i] * m[i] for c in range(ch) for i in range(s2)]
    k = round(FRACTION * s2)
    # float32 ranking, ties by position (what the tool documents)
    order = sorted(range(s2), key=lambda i: (-m[i], i))[:k]
    removed = list(x)
    for c in range(ch):
        mean = sum(x[c * s2:(c + 1) * s2]) / s2
        for i in order:
            removed[c * s2 + i] = mean
    return (top, p0, p0 - session.classify_tensor(mult).probabilities[top],
            p0 - session.classify_tensor(removed).probabilities[top])


def main():
    tool, lib, fixtures, source = sys.argv[1:5]
    sys.path.insert(0, os.path.join(source, "bindings", "python"))
    os.environ["COVIDCAM_LIBRARY"] = lib
    import covidcam

    model = os.path.join(fixtures, "basic.safetensors")
    with tempfile.TemporaryDirectory() as d:
        check(tool, covidcam, fixtures, model, d)


def check(tool, covidcam, fixtures, model, d):
    root = os.path.join(d, "data")
    dataset(fixtures, root)
    base = [tool, "-m", model, "-M", ",".join(METHODS), "-l", "layer3", "-f", str(FRACTION),
            "-n", "0", "-t", "1", root]
    out = subprocess.run(base[:1] + ["-j"] + base[1:], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    lines = [json.loads(s) for s in out.stdout.splitlines()]
    table = subprocess.run(base, capture_output=True, text=True, check=True).stdout

    skipped = [o for o in lines if o.get("status") == "skipped"]
    assert len(skipped) == 1 and skipped[0]["file"].endswith("notes.txt"), skipped
    per = [o for o in lines if "method" in o and "summary" not in o]
    summaries = [o for o in lines if o.get("summary")]
    assert len(per) == 3 * len(METHODS), len(per)
    assert [o["method"] for o in summaries] == METHODS

    model_h = covidcam.Model(model)
    session = covidcam.Session(model_h, threads=1)
    classes = model_h.classes
    random_by_file = {}
    for o in per:
        truth = os.path.basename(os.path.dirname(o["file"]))
        assert o["truth"] == truth, o
        top, p0, mult, remove = recompute(session, o["file"], o["method"], "layer3")
        assert o["top"] == classes[top], o
        for name, want in (("p", p0), ("mult_drop", mult), ("remove_drop", remove)):
            assert abs(o[name] - want) <= TOL, (o["file"], o["method"], name, o[name], want)
        rnd = (o["mult_random_drop"], o["remove_random_drop"])
        assert random_by_file.setdefault(o["file"], rnd) == rnd, "random map differs by method"
    assert len(set(random_by_file.values())) == 3, "random maps repeat between images"

    rows = {}
    for line in table.splitlines():
        cells = [c.strip() for c in line.strip("|").split("|")]
        if cells and cells[0] in METHODS:
            rows[cells[0]] = cells
    for sm in summaries:
        mine = [o for o in per if o["method"] == sm["method"]]
        n = len(mine)
        assert sm["images"] == n
        for key in ("mult_drop", "mult_random_drop", "remove_drop", "remove_random_drop"):
            want = sum(o[key] for o in mine) / n
            assert abs(sm[key] - want) <= 1e-9, (sm["method"], key)
        wins = sum(o["mult_drop"] < o["mult_random_drop"] for o in mine) / n
        assert abs(sm["mult_wins"] - wins) <= 1e-8
        wins = sum(o["remove_drop"] > o["remove_random_drop"] for o in mine) / n
        assert abs(sm["remove_wins"] - wins) <= 1e-8
        row = rows[sm["method"]]
        assert row[1] == "%.4f" % sm["mult_drop"] and row[4] == "%.4f" % sm["remove_drop"], row
    assert "3 images (1 skipped)" in table, table.splitlines()[0]

    # errors: usage (2), a root without class folders (1)
    assert subprocess.run([tool, "-m", model, "-M", "saliency", fixtures],
                          capture_output=True).returncode == 2
    with tempfile.TemporaryDirectory() as empty:
        r = subprocess.run([tool, "-m", model, empty], capture_output=True, text=True)
        assert r.returncode == 1 and "no class folders" in r.stderr, r.stderr
    session.close()
    model_h.close()
    print("faithfulness: %d measurements recomputed" % len(per))


if __name__ == "__main__":
    main()
