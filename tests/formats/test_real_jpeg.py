"""Decode real chest X-ray JPEGs (../shared/data/cxr-tb) with the library
(image_dump) and with PIL, and compare:
  * exactly with PIL's Image.draft("L") (libjpeg's gray output: the Y channel);
  * within 1 with PIL's convert("L") (ITU-R 601 on the decoded RGB), the
    documented tolerance for YCbCr files of gray content.
usage: test_real_jpeg.py IMAGE_DUMP   (exit 77 = skipped)
"""
import glob
import io
import os
import subprocess
import sys

try:
    from PIL import Image
except ImportError:
    print("PIL not installed: skipping")
    sys.exit(77)

PER_FOLDER = 12


def main():
    dump = sys.argv[1]
    shared = os.environ.get("CC_SHARED_DATA", "")
    root = os.path.join(os.path.dirname(shared), "cxr-tb")
    files = []
    for split in ("train", "val"):
        for cls in ("Tuberculosis", "Normal"):
            files += sorted(glob.glob(os.path.join(root, split, cls, "*.jpg")))[:PER_FOLDER]
    if not files:
        print("no JPEGs under %s: skipping" % root)
        return 77
    out = subprocess.run([dump] + files, stdout=subprocess.PIPE, check=False).stdout
    buf = io.BytesIO(out)
    worst_l = 0
    for path in files:
        head = buf.readline().decode().split()
        if head[0] == "error":
            print("FAIL %s: %s" % (path, " ".join(head)))
            return 1
        fmt, w, h = int(head[0]), int(head[1]), int(head[2])
        ours = buf.read(w * h)
        im = Image.open(path)
        if fmt != 2 or (w, h) != im.size:
            print("FAIL %s: format %d size %dx%d, PIL %s" % (path, fmt, w, h, im.size))
            return 1
        l601 = im.convert("L").tobytes()
        im = Image.open(path)
        im.draft("L", im.size)
        y = im.tobytes()
        if ours != y:
            diff = max(abs(a - b) for a, b in zip(ours, y))
            print("FAIL %s: differs from PIL draft('L') by up to %d" % (path, diff))
            return 1
        d = max(abs(a - b) for a, b in zip(ours, l601))
        worst_l = max(worst_l, d)
        if d > 1:
            print("FAIL %s: differs from PIL convert('L') by %d > 1" % (path, d))
            return 1
    print("%d real JPEGs: equal to PIL draft('L'); max |diff| vs convert('L') = %d"
          % (len(files), worst_l))
    return 0


if __name__ == "__main__":
    sys.exit(main())
