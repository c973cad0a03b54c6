"""covidcam-classify and covidcam-gradcam on every format: --json carries the
image info, an unsupported file is a clean JSON error, and --out-dir names the
outputs after the input whatever its extension.
usage: test_cli_formats.py CLASSIFY GRADCAM MODEL FIXTURES
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile


def run(cmd):
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    return r.returncode, r.stdout, r.stderr


def main():
    classify, gradcam, model, fx = sys.argv[1:5]
    tmp = tempfile.mkdtemp(prefix="cc-cli-")
    try:
        gif = os.path.join(tmp, "fake.png")
        with open(gif, "wb") as f:
            f.write(b"GIF89a" + b"\0" * 32)
        jpg = os.path.join(fx, "jpeg", "exif_o6.jpg")
        png = os.path.join(fx, "png", "gray16.png")
        rc, out, err = run([classify, "--model", model, "--json", jpg, png, gif])
        assert rc == 1, (rc, err)
        lines = [json.loads(l) for l in out.splitlines()]
        assert len(lines) == 3, out
        a, b, c = lines
        assert a["image"] == {"format": "JPEG", "width": 47, "height": 61, "bits": 8,
                              "channels": 1, "photometric": "GRAY", "orientation": 6}, a
        assert b["image"]["format"] == "PNG" and b["image"]["bits"] == 16, b
        assert c["status"] == "unsupported" and "GIF" in c["error"], c
        # no DICOM warnings for a JPEG; the trust fields are on every result
        assert not [w for w in a["warnings"] if w.startswith(("ViewPosition", "Modality"))], a
        assert a["ood"] is False and a["ood_score"] is None, a  # no OOD statistics

        # --out-dir: x.jpg, y.png, z.jpeg -> x.*, y.*, z.*
        src = {"x.jpg": jpg, "y.png": png, "z.jpeg": os.path.join(fx, "jpeg", "gray_q50.jpg")}
        inputs = []
        for name, path in src.items():
            dst = os.path.join(tmp, name)
            shutil.copy(path, dst)
            inputs.append(dst)
        out_dir = os.path.join(tmp, "out")
        rc, out, err = run([gradcam, "--model", model, "--json", "--out-dir", out_dir,
                            "--overlay", "--npy"] + inputs)
        assert rc == 0, err
        got = sorted(os.listdir(out_dir))
        want = sorted(s + ext for s in ("x", "y", "z") for ext in (".overlay.png", ".npy"))
        assert got == sorted(want + ["index.csv", "index.jsonl"]), got
        recs = [json.loads(l) for l in out.splitlines()]
        assert [r["image"]["format"] for r in recs] == ["JPEG", "PNG", "JPEG"], recs
        # same name, two extensions: the later one is x~2
        dup = os.path.join(tmp, "x.png")
        shutil.copy(png, dup)
        o2 = os.path.join(tmp, "o2")
        rc, out, err = run([gradcam, "--model", model, "--out-dir", o2, inputs[0], dup])
        assert rc == 0, (rc, err)
        assert sorted(os.listdir(o2)) == ["index.csv", "index.jsonl", "x.overlay.png",
                                          "x~2.overlay.png"], os.listdir(o2)
        print("ok")
        return 0
    finally:
        shutil.rmtree(tmp)


if __name__ == "__main__":
    sys.exit(main())
