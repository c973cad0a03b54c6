#!/usr/bin/python3
"""Write the JPEG decoding fixtures of tests/jpeg into tests/fixtures/jpeg.

usage: /usr/bin/python3 tools/make_jpeg_fixtures.py [OUT_DIR]

Needs PIL (python3-pil) and libjpeg-turbo's cjpeg/jpegtran (libjpeg-turbo-progs),
at fixture-making time only. Sources: tests/fixtures/sample_97x131.png and
synthetic color images derived from it (nothing from ../shared).

Manifests (one case per line):
  decode.txt   name width height ref tol
      name.jpg must decode to the gray image ref.gray (width x height) within
      max |difference| <= tol. References come from PIL (an independent use of
      the decoder library, through its own API and conversions):
        .pil     Image.open().convert("L"), after ImageOps.exif_transpose
        .y       Image.draft("L"): libjpeg's own gray output (Y for YCbCr)
  errors.txt   name STATUS message-substring
"""
import io
import os
import struct
import subprocess
import sys
import tempfile

from PIL import Image, ImageOps

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def sample():
    """The sample X-ray, cropped to 61 x 47 (odd sides: partial MCUs at both
    edges) to keep the fixtures small."""
    im = Image.open(os.path.join(ROOT, "tests", "fixtures", "sample_97x131.png")).convert("L")
    return im.crop((18, 40, 18 + 61, 40 + 47))


def color(gray):
    """A saturated-enough RGB image: the X-ray in one channel, gradients in others."""
    w, h = gray.size
    g = gray.tobytes()
    out = bytearray()
    for y in range(h):
        for x in range(w):
            v = g[y * w + x]
            out += bytes((v, min(255, v * 3 // 4 + x), max(0, 255 - v - y // 2)))
    return Image.frombytes("RGB", (w, h), bytes(out))


def jpeg(im, **kw):
    b = io.BytesIO()
    im.save(b, "JPEG", **kw)
    return b.getvalue()


def run(cmd, data):
    return subprocess.run(cmd, input=data, stdout=subprocess.PIPE, check=True).stdout


def pil_gray(data):
    im = ImageOps.exif_transpose(Image.open(io.BytesIO(data)))
    return im.convert("L")


def pil_y(data):
    im = Image.open(io.BytesIO(data))
    im.draft("L", im.size)
    assert im.mode == "L", im.mode
    return im


def ppm(im):
    b = io.BytesIO()
    im.save(b, "PPM")
    return b.getvalue()


def scan_script(n_ac_bands):
    """A legal progressive script for one component: DC first + refine, then
    each of n_ac_bands AC bands first (Al=1) + refine: 2 + 2 * bands scans."""
    lines = ["0: 0 0 0 1;", "0: 0 0 1 0;"]
    bands = []
    step = 63 // n_ac_bands
    lo = 1
    for i in range(n_ac_bands):
        hi = 63 if i == n_ac_bands - 1 else lo + step - 1
        bands.append((lo, hi))
        lo = hi + 1
    for lo, hi in bands:
        lines.append("0: %d %d 0 1;" % (lo, hi))
    for lo, hi in bands:
        lines.append("0: %d %d 1 0;" % (lo, hi))
    return "\n".join(lines) + "\n"


def cjpeg(im, *args, script=None):
    with tempfile.TemporaryDirectory() as d:
        extra = []
        if script:
            p = os.path.join(d, "scans.txt")
            with open(p, "w") as f:
                f.write(script)
            extra = ["-scans", p]
        return run(["cjpeg"] + list(args) + extra, ppm(im))


def exif_orientation(o):
    """A minimal little-endian EXIF block with IFD0 Orientation = o."""
    ifd = struct.pack("<H", 1) + struct.pack("<HHIHH", 0x0112, 3, 1, o, 0) + struct.pack("<I", 0)
    return b"Exif\0\0" + b"II*\0" + struct.pack("<I", 8) + ifd


def patch_sof(data, **fields):
    """Rewrite fields of the first SOFn segment: precision, height, width."""
    i = 2
    while i < len(data):
        assert data[i] == 0xFF
        m = data[i + 1]
        seg = struct.unpack(">H", data[i + 2:i + 4])[0]
        if m in (0xC0, 0xC1, 0xC2):
            b = bytearray(data)
            if "precision" in fields:
                b[i + 4] = fields["precision"]
            if "height" in fields:
                b[i + 5:i + 7] = struct.pack(">H", fields["height"])
            if "width" in fields:
                b[i + 7:i + 9] = struct.pack(">H", fields["width"])
            return bytes(b)
        i += 2 + seg
    raise ValueError("no SOF")


def sos_end(data):
    """Offset just after the first SOS segment header (start of entropy data)."""
    i = 2
    while True:
        m = data[i + 1]
        seg = struct.unpack(">H", data[i + 2:i + 4])[0]
        if m == 0xDA:
            return i + 2 + seg
        i += 2 + seg


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "tests", "fixtures", "jpeg")
    os.makedirs(out, exist_ok=True)
    g = sample()
    c = color(g)
    files = {}
    decode = []  # (name, ref_kind, tol)

    for q in (50, 75, 95):
        files["gray_q%d" % q] = jpeg(g, quality=q)
        decode.append(("gray_q%d" % q, "pil", 0))
    full = Image.open(os.path.join(ROOT, "tests", "fixtures", "sample_97x131.png")).convert("L")
    files["gray_97x131_q85"] = jpeg(full, quality=85)
    decode.append(("gray_97x131_q85", "pil", 0))
    files["ycc420_q90"] = jpeg(c, quality=90, subsampling=2)
    files["ycc422_q60"] = jpeg(c, quality=60, subsampling=1)
    files["ycc444_q75"] = jpeg(c, quality=75, subsampling=0)
    files["prog_gray_q80"] = jpeg(g, quality=80, progressive=True)
    files["prog_ycc_q80"] = jpeg(c, quality=80, progressive=True, optimize=True)
    files["rst_ycc_1"] = run(["jpegtran", "-restart", "1"], files["ycc420_q90"])
    files["rst_gray_2b"] = run(["jpegtran", "-restart", "2B"], files["gray_q75"])
    files["rst_prog"] = run(["jpegtran", "-restart", "1", "-progressive"], files["ycc444_q75"])
    files["arith_gray"] = cjpeg(g, "-arithmetic", "-grayscale")
    files["rgb_nojfif"] = cjpeg(c, "-rgb", "-quality", "85")
    files["scans_34"] = cjpeg(g, "-grayscale", "-progressive", script=scan_script(16))
    files["cmyk_adobe"] = jpeg(c.convert("CMYK"), quality=90)
    for name in ("ycc420_q90", "ycc422_q60", "ycc444_q75", "prog_ycc_q80", "rst_ycc_1",
                 "rst_prog", "rgb_nojfif"):
        decode.append((name, "y", 0))
        decode.append((name, "pil", 5))
    for name in ("prog_gray_q80", "rst_gray_2b", "arith_gray", "scans_34", "cmyk_adobe"):
        decode.append((name, "pil", 0))
    for o in range(1, 9):
        name = "exif_o%d" % o
        files[name] = jpeg(g, quality=85, exif=exif_orientation(o))
        decode.append((name, "pil", 0))
    # an EXIF block whose IFD offset points outside it: orientation ignored
    bad = bytearray(exif_orientation(6))
    bad[10:14] = struct.pack("<I", 0x7FFFFFF0)
    files["exif_bad_ifd"] = jpeg(g, quality=85, exif=bytes(bad))
    decode.append(("exif_bad_ifd", "pil_noexif", 0))

    errors = []
    base = files["ycc420_q90"]
    files["err_truncated"] = base[: len(base) // 2]
    errors.append(("err_truncated", "BAD_FORMAT", "Premature end"))
    app0 = 2 + 2 + struct.unpack(">H", base[4:6])[0]  # junk between two header segments
    files["err_extraneous"] = base[:app0] + b"\x12\x34\x56" + base[app0:]
    errors.append(("err_extraneous", "BAD_FORMAT", "extraneous bytes"))
    at = sos_end(base) + 40
    files["err_marker_in_data"] = base[:at] + b"\xff\xc4" + base[at + 2:]
    errors.append(("err_marker_in_data", "BAD_FORMAT", "invalid JPEG"))
    files["err_no_eoi_tables_only"] = base[: sos_end(base) - 14][:200] + b"\xff\xd9"
    errors.append(("err_no_eoi_tables_only", "BAD_FORMAT", "invalid JPEG"))
    files["err_huge"] = patch_sof(base, width=20000, height=20000)
    errors.append(("err_huge", "LIMIT", "20000x20000"))
    files["err_too_many_pixels"] = patch_sof(base, width=16384, height=4097)
    errors.append(("err_too_many_pixels", "LIMIT", "16384x4097"))
    files["err_width_0"] = patch_sof(base, width=0)
    errors.append(("err_width_0", "BAD_FORMAT", "invalid JPEG"))
    files["err_12bit"] = patch_sof(base, precision=12)
    errors.append(("err_12bit", "UNSUPPORTED", "precision 12"))
    files["err_scans_66"] = cjpeg(g, "-grayscale", "-progressive", script=scan_script(32))
    errors.append(("err_scans_66", "LIMIT", "scans"))

    lines = []
    for name, kind, tol in decode:
        data = files[name]
        if kind == "pil":
            ref = pil_gray(data)
        elif kind == "pil_noexif":
            ref = Image.open(io.BytesIO(data)).convert("L")
        else:
            ref = pil_y(data)
        rname = "%s.%s" % (name, kind)
        with open(os.path.join(out, rname + ".gray"), "wb") as f:
            f.write(ref.tobytes())
        lines.append("%s %d %d %s %d" % (name, ref.size[0], ref.size[1], rname, tol))
    for name, data in files.items():
        with open(os.path.join(out, name + ".jpg"), "wb") as f:
            f.write(data)
    with open(os.path.join(out, "decode.txt"), "w") as f:
        f.write("\n".join(lines) + "\n")
    with open(os.path.join(out, "errors.txt"), "w") as f:
        f.write("\n".join("%s %s %s" % e for e in errors) + "\n")
    # how far PIL's RGB-then-L is from the Y channel on these color fixtures
    worst = 0
    for name, kind, tol in decode:
        if kind == "pil" and tol:
            a = pil_gray(files[name]).tobytes()
            b = pil_y(files[name]).tobytes()
            worst = max(worst, max(abs(x - y) for x, y in zip(a, b)))
    print("wrote %d JPEGs to %s; max |convert(L) - Y| = %d" % (len(files), out, worst))


if __name__ == "__main__":
    main()
