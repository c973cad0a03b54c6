"""covidcam-quantize end to end.

    test_quantize.py QUANTIZE CLASSIFY FIXTURES SHARED_CXR [GRADCAM]

On a tiny synthetic folder (fixture PNGs under class folders, plus a file
that is no image) with the fixture model: the --json report, the written
file (the tensor bytes unchanged, one positive scale per quantized tensor,
no temporary file left), that it loads and classifies in int8, percentile
scales no larger than minmax ones, --val, and the errors (each naming its
culprit, usage errors exit 2). When SHARED_CXR has the real X-rays: the
shipped model calibrated on 200 training images and checked on every
validation image against the accuracy targets of docs/precision.md (int8
accuracy within 0.5 points of fp32, top-1 agreement >= 99.5 %), and with
GRADCAM (covidcam-gradcam) the maps of int8 sessions against fp32 ones.
"""

import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile


class Failure(AssertionError):
    pass


def check(cond, what):
    if not cond:
        raise Failure(what)


def run(cmd, want):
    p = subprocess.run(cmd, capture_output=True, text=True)
    check(p.returncode == want, "%s: exit %d, wanted %d\n%s" % (cmd, p.returncode, want,
                                                               p.stderr))
    return p


def header(path):
    with open(path, "rb") as f:
        buf = f.read()
    (n,) = struct.unpack("<Q", buf[:8])
    return json.loads(buf[8:8 + n]), buf[8 + n:]


def tiny_tree(root, fixtures):
    pngs = ["sample_64.png", "sample_97x131.png"]
    for k, cls in enumerate(["COVID", "Normal", "ViralPneumonia"]):
        os.makedirs(os.path.join(root, cls))
        for i, name in enumerate(pngs):
            shutil.copy(os.path.join(fixtures, name), os.path.join(root, cls, "%d_%s" % (k, name)))
    with open(os.path.join(root, "Normal", "notes.txt"), "w") as f:
        f.write("not an image\n")


def test_tiny(q, classify, fixtures, tmp):
    tree = os.path.join(tmp, "calib")
    tiny_tree(tree, fixtures)
    model = os.path.join(fixtures, "basic.safetensors")
    out = os.path.join(tmp, "out", "basic_q.safetensors")
    os.makedirs(os.path.dirname(out))
    p = run([q, "--model", model, "--calibrate", tree, "--images", "4", "-o", out, "--json",
             "--val", tree], 0)
    rep = json.loads(p.stdout)
    check(rep["calibration_images"] == 4 and rep["method"] == "minmax", rep)
    check(rep["val"]["images"] == 6 and 0 <= rep["val"]["agreement"] <= 100, rep)
    check(os.listdir(os.path.dirname(out)) == ["basic_q.safetensors"], "temporary file left")
    h_in, data_in = header(model)
    h_out, data_out = header(out)
    check(data_in == data_out, "tensor data changed")
    check({k: v for k, v in h_in.items() if k != "__metadata__"} ==
          {k: v for k, v in h_out.items() if k != "__metadata__"}, "tensor entries changed")
    meta = h_out["__metadata__"]
    scales = json.loads(meta["int8_scales"])
    check(len(scales) == rep["tensors"] == 17, "basic has 17 quantized tensors: %s" % scales)
    check(all(v > 0 for v in scales.values()), scales)
    check(meta["int8_method"] == "minmax" and meta["int8_images"] == "4", meta)
    for k, v in h_in["__metadata__"].items():
        check(meta[k] == v, "metadata %s changed" % k)
    p = run([classify, "--model", out, "--precision", "int8", "--json",
             os.path.join(fixtures, "sample_64.png")], 0)
    check(abs(sum(json.loads(p.stdout)["probabilities"].values()) - 1) < 1e-5, p.stdout)
    # text output, percentile, and OUT replacing IN in place
    pct = os.path.join(tmp, "pct.safetensors")
    shutil.copy(model, pct)
    p = run([q, "-m", pct, "-c", tree, "-o", pct, "--method", "percentile"], 0)
    check("calibrated 17 tensors on 6 images (percentile)" in p.stdout, p.stdout)
    ps = json.loads(header(pct)[0]["__metadata__"]["int8_scales"])
    check(all(ps[k] <= scales[k] * (1 + 1e-6) or k not in scales for k in ps),
          "percentile above minmax")


def test_errors(q, fixtures, tmp):
    model = os.path.join(fixtures, "basic.safetensors")
    tree = os.path.join(tmp, "calib")
    out = os.path.join(tmp, "e.safetensors")
    p = run([q, "--calibrate", tree, "-o", out], 2)
    check("--model" in p.stderr, p.stderr)
    p = run([q, "-m", model, "-c", tree, "-o", out, "--method", "max"], 2)
    check("'max'" in p.stderr, p.stderr)
    p = run([q, "-m", model, "-c", tree, "-o", out, "--images", "-3"], 2)
    p = run([q, "-m", model, "-c", os.path.join(tmp, "nowhere"), "-o", out], 1)
    check("nowhere" in p.stderr, p.stderr)
    empty = os.path.join(tmp, "empty")
    os.makedirs(empty)
    p = run([q, "-m", model, "-c", empty, "-o", out], 1)
    check("no PNG, JPEG or DICOM images" in p.stderr, p.stderr)
    p = run([q, "-m", os.path.join(tmp, "missing.safetensors"), "-c", tree, "-o", out], 1)
    check("missing.safetensors" in p.stderr, p.stderr)
    p = run([q, "-m", model, "-c", tree, "-o", os.path.join(tmp, "no", "dir", "x")], 1)
    check("cannot create" in p.stderr, p.stderr)
    badval = os.path.join(tmp, "badval", "Pneumothorax")
    os.makedirs(badval)
    shutil.copy(os.path.join(fixtures, "sample_64.png"), badval)
    p = run([q, "-m", model, "-c", tree, "-o", out, "--val", os.path.dirname(badval)], 1)
    check("'Pneumothorax' is none of the model's classes" in p.stderr, p.stderr)
    check(not os.path.exists(out + ".tmp"), "temporary file left")


def test_real(q, shared, tmp):
    repo = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    model = os.path.join(repo, "models", "covidcam-cxr.safetensors")
    out = os.path.join(tmp, "cxr_int8.safetensors")
    p = run([q, "-m", model, "-c", os.path.join(shared, "train"), "-o", out, "--json",
             "--val", os.path.join(shared, "val"), "--threads", "2"], 0)
    v = json.loads(p.stdout)["val"]
    print("shipped model, all of val/: %s" % v)
    check(v["images"] > 1000, v)
    check(v["int8_accuracy"] >= v["fp32_accuracy"] - 0.5, "int8 accuracy target: %s" % v)
    check(v["agreement"] >= 99.5, "agreement target: %s" % v)
    return out


def read_npy(path):
    """A little-endian float32 .npy as a flat array (standard library only)."""
    import array
    import ast
    with open(path, "rb") as f:
        buf = f.read()
    check(buf[:6] == b"\x93NUMPY", path)
    hl = struct.unpack("<H", buf[8:10])[0]
    info = ast.literal_eval(buf[10:10 + hl].decode("latin1"))
    check(info["descr"] == "<f4", info)
    a = array.array("f")
    a.frombytes(buf[10 + hl:])
    return a


def pearson(a, b):
    n = len(a)
    ma, mb = sum(a) / n, sum(b) / n
    sab = sum((x - ma) * (y - mb) for x, y in zip(a, b))
    saa = sum((x - ma) ** 2 for x in a)
    sbb = sum((y - mb) ** 2 for y in b)
    return sab / (saa * sbb) ** 0.5 if saa > 0 and sbb > 0 else float(saa == sbb)


def test_gradcam(gradcam, model, shared, tmp):
    """int8 sessions take Grad-CAM maps from their bf16 net (fp32 without
    native bf16) for the class the int8 pass chose: against an fp32
    session's maps of 4 validation images per class, r is bf16's (0.998 at
    layer3, docs/precision.md), 1 without bf16, unless the top class differs."""
    worst = {}
    for cls in ("COVID", "Normal", "ViralPneumonia"):
        d = os.path.join(shared, "val", cls)
        for name in sorted(os.listdir(d))[:4]:
            for layer in ("layer4", "layer3"):
                maps = []
                for p in ("fp32", "int8"):
                    out = os.path.join(tmp, "%s_%s.npy" % (p, layer))
                    run([gradcam, "--model", model, "--precision", p, "--layer", layer,
                         "--npy", out, "--threads", "2", os.path.join(d, name)], 0)
                    maps.append(read_npy(out))
                r = pearson(maps[0], maps[1])
                dmax = max(abs(x - y) for x, y in zip(maps[0], maps[1]))
                w = worst.get(layer, (1.0, 0.0))
                worst[layer] = (min(w[0], r), max(w[1], dmax))
    for layer, (r, dmax) in sorted(worst.items()):
        print("Grad-CAM %s, int8 session vs fp32, 12 val images: worst r %.4f, worst max "
              "|difference| %.4f" % (layer, r, dmax))
        check(r >= 0.99, "Grad-CAM of int8 sessions at %s: r %.4f" % (layer, r))


def main():
    q, classify, fixtures, shared = sys.argv[1:5]
    gradcam = sys.argv[5] if len(sys.argv) > 5 else None
    with tempfile.TemporaryDirectory() as tmp:
        test_tiny(q, classify, fixtures, tmp)
        test_errors(q, fixtures, tmp)
        if os.path.isdir(os.path.join(shared, "val")) and os.path.isdir(os.path.join(shared, "train")):
            out = test_real(q, shared, tmp)
            if gradcam:
                test_gradcam(gradcam, out, shared, tmp)
        else:
            print("skipped the real X-rays: %s has no train/ and val/" % shared)
    print("ok")


if __name__ == "__main__":
    try:
        main()
    except Failure as e:
        print("FAIL:", e)
        sys.exit(1)
