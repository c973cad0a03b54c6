"""The CAM toolbox options of a gradcam front end (the C program,
`python3 -m covidcam gradcam`, covidcam-go gradcam): --method with every
library name, layer lists, --eigen-smooth, --aug-smooth and --label.

For each case the --npy map must equal the map the Python binding computes
with the same options (the binding's maps are checked against PyTorch in
its own tests), the --json line must name the method, the blocks of every
layer and the smoothing exactly when used, and --label must change the
overlay. With --reference (the C program) the JSON lines (but "ms"), the
maps and the overlays must be byte-identical to its. Usage errors exit 2.

    cli_cam_options.py FIXTURES SOURCE_ROOT --gradcam "CMD" [--reference C_PROGRAM]

Used by meson (suite formats, the C program), by the Python binding's tests
and by the Go command's tests.
"""

import argparse
import json
import os
import shlex
import struct
import subprocess
import sys
import tempfile

CASES = [
    (["-M", "eigencam", "-l", "layer3,layer4"], "eigencam", False, "none"),
    (["-M", "xgradcam", "--eigen-smooth", "--aug-smooth", "flip"], "xgradcam", True, "flip"),
    (["-M", "hirescam", "--aug-smooth", "intensity", "-l", "layer2.0", "-c", "1"], "hirescam",
     False, "intensity"),
    (["-M", "scorecam", "-l", "layer4"], "scorecam", False, "none"),
    (["-M", "gradcam++", "-l", "layer1, layer4"], "gradcam++", False, "none"),
]


def fail(what):
    raise SystemExit("cli_cam_options: FAIL: " + what)


def run(cmd):
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=300)
    return p.returncode, p.stdout.decode(), p.stderr.decode("utf-8", "replace")


def read_npy(path):
    with open(path, "rb") as f:
        data = f.read()
    (hlen,) = struct.unpack("<H", data[8:10])
    body = data[10 + hlen:]
    return list(struct.unpack("<%df" % (len(body) // 4), body))


def explain(cmd, model, image, args, out_dir, tag):
    npy, png = os.path.join(out_dir, tag + ".npy"), os.path.join(out_dir, tag + ".png")
    rc, out, err = run(cmd + ["-m", model, "-j", "-q", "--npy", npy, "-o", png] + args + [image])
    if rc != 0:
        fail("%s exited %d: %s" % (args, rc, err))
    line = json.loads(out)
    return line, npy, png


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("fixtures")
    ap.add_argument("source_root")
    ap.add_argument("--gradcam", required=True)
    ap.add_argument("--reference")
    a = ap.parse_args()
    sys.path.insert(0, os.path.join(a.source_root, "bindings", "python"))
    import covidcam

    cmd = shlex.split(a.gradcam)
    model = os.path.join(a.fixtures, "basic.safetensors")
    image = os.path.join(a.fixtures, "sample_97x131.png")
    with covidcam.Model(model) as m, covidcam.Session(m, threads=1) as s, \
            tempfile.TemporaryDirectory() as d:
        for i, (args, method, eigen, aug) in enumerate(CASES):
            line, npy, png = explain(cmd, model, image, args, d, "c%d" % i)
            layer = args[args.index("-l") + 1] if "-l" in args else None
            target = int(args[args.index("-c") + 1]) if "-c" in args else None
            with s.gradcam_file(image, method=method, layer=layer, target=target,
                                eigen_smooth=eigen, aug_smooth=aug) as cam:
                want = [v for row in cam.data() for v in row]
                want_layer = cam.layer
            got = read_npy(npy)
            if len(got) != len(want) or max(abs(x - y) for x, y in zip(got, want)) > 1e-6:
                fail("%s: the --npy map differs from the binding's" % args)
            if line["method"] != method or line["layer"] != want_layer:
                fail("%s: method/layer %s %s" % (args, line["method"], line["layer"]))
            if layer and line["layer"].count(",") != layer.count(","):
                fail("%s: layer list %s" % (args, line["layer"]))
            if line.get("eigen_smooth", False) != eigen or line.get("aug_smooth", "none") != aug:
                fail("%s: smoothing fields %s" % (args, line))
            if ("eigen_smooth" in line) != eigen or ("aug_smooth" in line) != (aug != "none"):
                fail("%s: smoothing fields present when not used" % args)
            if a.reference:
                ref, rnpy, rpng = explain([a.reference], model, image, args, d, "r%d" % i)
                line.pop("ms")
                ref.pop("ms")
                for k in ("overlay", "npy"):
                    line["outputs"][k] = ref["outputs"][k] = k
                if line != ref:
                    fail("%s: JSON differs from the C program's:\n%s\n%s" % (args, line, ref))
                for mine, theirs in ((npy, rnpy), (png, rpng)):
                    with open(mine, "rb") as f1, open(theirs, "rb") as f2:
                        if f1.read() != f2.read():
                            fail("%s: %s differs from the C program's" % (args, mine))
        # --label draws on the overlay
        _, _, plain = explain(cmd, model, image, ["-M", "layercam"], d, "plain")
        _, _, labelled = explain(cmd, model, image, ["-M", "layercam", "--label"], d, "label")
        with open(plain, "rb") as f1, open(labelled, "rb") as f2:
            if f1.read() == f2.read():
                fail("--label did not change the overlay")
        if a.reference:
            _, _, ref = explain([a.reference], model, image, ["-M", "layercam", "--label"], d,
                                "rlabel")
            with open(labelled, "rb") as f1, open(ref, "rb") as f2:
                if f1.read() != f2.read():
                    fail("--label overlay differs from the C program's")
    for bad, words in ((["-M", "saliency"], ["saliency", "eigengradcam", "scorecam"]),
                       (["--aug-smooth", "mirror"], ["mirror", "intensity"]),
                       (["-l", "layer3,layer9"], ["layer9", "layer4.1"])):
        rc, _, err = run(cmd + ["-m", model] + bad + [image])
        if rc != 2 or not all(w in err for w in words):
            fail("%s: exit %d, stderr %r" % (bad, rc, err))
    print("cli_cam_options: %d cases, labelled overlay and 3 usage errors: OK" % len(CASES))


if __name__ == "__main__":
    main()
