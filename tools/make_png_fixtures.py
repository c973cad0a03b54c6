#!/usr/bin/python3
"""Generate the fixtures of the PNG / preprocessing / rendering tests (tests/png).

    /usr/bin/python3 tools/make_png_fixtures.py [--out tests/fixtures/png]

Deterministic (fixed seed); every reference is computed here, independently of
the C code:

  PNG decoding   PNGs written by a minimal encoder below (every color type, bit
                 depth 1..16, Adam7, palette + tRNS, gAMA/cHRM/sRGB chunks,
                 several filter types, split IDAT), each checked by decoding it
                 with PIL. The expected 8-bit gray is computed with numpy from
                 the raw samples using libpng's integer arithmetic (see
                 expected_gray()). Broken PNGs for the error tests.
  resize         torch F.interpolate(bilinear, align_corners=False) in float64.
  colormap       OpenCV COLORMAP_JET rebuilt from its definition (control points
                 + OpenCV's float interp1 + convertTo rounding, emulated in
                 numpy float32), and pytorch-grad-cam's show_cam_on_image
                 reimplemented in numpy.

Files (all raw little-endian, no headers; dimensions are in the manifests):
  decode.txt            name width height      -> name.png, name.gray (u8)
  errors.txt            name status            -> name.png
  resize.txt            name kind sw sh dw dh  -> name.src (u8|f32), name.ref (f64)
  preprocess.txt        name sw sh size channels mean.. std.. -> name.src, name.ref
  jet_lut.rgb           256 x RGB u8
  jet_map.f32 / .rgb    values -> expected RGB of cc_colormap_jet
  overlay.txt           name n weight          -> name.gray, name.f32, name.rgb
"""

import argparse
import os
import struct
import sys
import zlib

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

SEED = 1234
ADAM7 = [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2),
         (0, 1, 1, 2)]
CHANNELS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}
# png_do_rgb_to_gray coefficients (libpng's defaults, sum 32768)
RC, GC, BC = 6968, 23434, 2366


# ---------------------------------------------------------------- PNG writer

def chunk(kind, data, bad_crc=False):
    crc = zlib.crc32(kind + data) & 0xFFFFFFFF
    if bad_crc:
        crc ^= 0x1
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)


def pack_row(samples, depth):
    """samples: 1-D int array of one scanline (all channels interleaved)."""
    if depth == 16:
        return samples.astype(">u2").tobytes()
    if depth == 8:
        return samples.astype(np.uint8).tobytes()
    per = 8 // depth
    out = bytearray((len(samples) + per - 1) // per)
    for i, v in enumerate(samples):
        out[i // per] |= int(v) << (8 - depth * (i % per + 1))
    return bytes(out)


def paeth(a, b, c):
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    if pa <= pb and pa <= pc:
        return a
    return b if pb <= pc else c


def filter_row(kind, row, prev, bpp):
    out = bytearray(len(row))
    for i, x in enumerate(row):
        a = row[i - bpp] if i >= bpp else 0
        b = prev[i]
        c = prev[i - bpp] if i >= bpp else 0
        pred = [0, a, b, (a + b) // 2, paeth(a, b, c)][kind]
        out[i] = (x - pred) & 0xFF
    return bytes([kind]) + bytes(out)


def raw_stream(img, depth, channels, interlace, filt_seed):
    """Filtered scanlines of img (H x W x C ints), Adam7 if interlace."""
    h, w = img.shape[:2]
    bpp = max(1, channels * depth // 8)
    passes = ADAM7 if interlace else [(0, 0, 1, 1)]
    out = bytearray()
    k = filt_seed
    for x0, y0, dx, dy in passes:
        sub = img[y0::dy, x0::dx]
        if sub.shape[0] == 0 or sub.shape[1] == 0:
            continue
        prev = bytes(len(pack_row(sub[0].reshape(-1), depth)))
        for r in sub:
            packed = pack_row(r.reshape(-1), depth)
            out += filter_row(k % 5, packed, prev, bpp)
            prev = packed
            k += 1
    return bytes(out)


def png_bytes(img, depth, color, interlace=False, palette=None, trns=None, extra=(),
              idat=None, ihdr=None, filt_seed=0):
    h, w = img.shape[:2]
    hdr = ihdr if ihdr is not None else struct.pack(">IIBBBBB", w, h, depth, color, 0, 0,
                                                    1 if interlace else 0)
    out = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", hdr)
    for kind, data in extra:
        out += chunk(kind, data)
    if palette is not None:
        out += chunk(b"PLTE", bytes(np.asarray(palette, np.uint8).reshape(-1)))
    if trns is not None:
        out += chunk(b"tRNS", trns)
    if idat is None:
        z = zlib.compress(raw_stream(img, depth, CHANNELS[color], interlace, filt_seed), 9)
        idat = [z[: len(z) // 2], z[len(z) // 2:]]  # two IDAT chunks
    for part in idat:
        out += chunk(b"IDAT", part)
    return out + chunk(b"IEND", b"")


# ---------------------------------------------------------------- references

def round_div(num, den):
    """round(num / den) for non-negative integer arrays, den odd (no ties)."""
    return (2 * num + den) // (2 * den)


def expected_gray(img, depth, color, palette=None):
    """8-bit gray as libpng 1.6 produces it with our transforms (pngrtran.c):
    1/2/4-bit gray expanded by v * 255 / (2^d - 1); alpha dropped; 16-bit RGB
    reduced at 16 bits with rounding, gray16 = (RC*r + GC*g + BC*b + 16384) >> 15,
    then every 16-bit value scaled to 8 bits with round(v * 255 / 65535);
    8-bit RGB (and palette entries) gray = (RC*r + GC*g + BC*b) >> 15, truncated,
    except r == g == b which gives r."""
    a = img.astype(np.int64)
    if color == 3:
        a = np.asarray(palette, np.int64)[a[..., 0]]
        depth = 8
    elif color in (4, 6):
        a = a[..., :-1]
    if a.shape[-1] == 3:
        r, g, b = a[..., 0], a[..., 1], a[..., 2]
        if depth == 16:
            gray = (RC * r + GC * g + BC * b + 16384) >> 15
        else:
            gray = np.where((r == g) & (r == b), r, (RC * r + GC * g + BC * b) >> 15)
    else:
        gray = a[..., 0]
    if depth == 16:
        gray = round_div(gray * 255, 65535)
    elif depth < 8:
        gray = gray * (255 // (2 ** depth - 1))
    return gray.astype(np.uint8)


def check_with_pil(path, img, depth, color, palette):
    """PIL decodes our PNG to the same samples: validates the writer."""
    im = Image.open(path)
    im.load()
    got = np.asarray(im)
    if color == 3:
        want = img[..., 0]
    elif depth == 16 and color == 0:
        want = img[..., 0]
    elif depth == 16:
        want = img >> 8  # PIL keeps the high byte of 16-bit color
    elif depth < 8 and color == 0:
        want = img[..., 0] * (255 // (2 ** depth - 1))
        if depth == 1:
            want = img[..., 0].astype(bool)
    elif img.shape[-1] == 1:
        want = img[..., 0]
    else:
        want = img
    if color == 4 and depth == 16:
        want = (img[..., 0] >> 8)  # PIL reads LA16 as L
        got = np.asarray(im.convert("L")) if got.ndim == 3 else got
    if got.shape != want.shape or not np.array_equal(got.astype(np.int64), want.astype(np.int64)):
        raise SystemExit("PIL disagrees with the writer for %s (mode %s)" % (path, im.mode))
    if palette is not None and np.asarray(im.getpalette(), np.uint8)[: 3 * len(palette)].tolist() \
            != np.asarray(palette, np.uint8).reshape(-1).tolist():
        raise SystemExit("PIL palette differs for %s" % path)


# ---------------------------------------------------------------- PNG cases

def rand_img(rng, h, w, c, depth):
    return rng.integers(0, 2 ** depth, size=(h, w, c), dtype=np.int64)


def decode_cases(rng):
    cases = []

    def add(name, img, depth, color, **kw):
        cases.append((name, img, depth, color, kw))

    g16 = rand_img(rng, 7, 11, 1, 16)
    # rounding edges of round(v*255/65535): v = 257k + 128 rounds down, +129 up
    edges = [0, 1, 128, 129, 385, 386, 32767, 32768, 65406, 65407, 65534, 65535]
    g16.reshape(-1)[: len(edges)] = edges
    rgb8 = rand_img(rng, 11, 17, 3, 8)
    rgb8[0, :5] = [[7, 7, 7], [0, 0, 0], [255, 255, 255], [255, 255, 254], [1, 0, 0]]
    rgb16 = rand_img(rng, 6, 10, 3, 16)
    rgb16[0, :3] = [[65535, 65535, 65535], [0, 0, 0], [40000, 40000, 40000]]
    pal = rng.integers(0, 256, size=(40, 3))
    pal[:5] = [[0, 0, 0], [255, 255, 255], [9, 9, 9], [200, 10, 10], [10, 200, 10]]
    pal4 = rng.integers(0, 256, size=(16, 3))

    add("gray8", rand_img(rng, 9, 13, 1, 8), 8, 0)
    add("gray8_adam7", rand_img(rng, 9, 13, 1, 8), 8, 0, interlace=True)
    add("gray8_1x1_adam7", rand_img(rng, 1, 1, 1, 8), 8, 0, interlace=True)
    add("gray8_trns", rand_img(rng, 4, 6, 1, 8), 8, 0, trns=struct.pack(">H", 17))
    add("gray16", g16, 16, 0)
    add("gray1", rand_img(rng, 5, 19, 1, 1), 1, 0)
    add("gray2", rand_img(rng, 5, 19, 1, 2), 2, 0)
    add("gray4", rand_img(rng, 5, 19, 1, 4), 4, 0)
    add("gray2_adam7", rand_img(rng, 10, 11, 1, 2), 2, 0, interlace=True)
    add("gray_alpha8", rand_img(rng, 6, 10, 2, 8), 8, 4)
    add("gray_alpha16", rand_img(rng, 5, 9, 2, 16), 16, 4)
    add("rgb8", rgb8, 8, 2)
    add("rgb8_adam7", rand_img(rng, 11, 17, 3, 8), 8, 2, interlace=True)
    add("rgba8", rand_img(rng, 8, 12, 4, 8), 8, 6)
    add("rgb16", rgb16, 16, 2)
    add("rgba16_adam7", rand_img(rng, 5, 7, 4, 16), 16, 6, interlace=True)
    add("palette8", rng.integers(0, 40, size=(10, 16, 1)), 8, 3, palette=pal)
    add("palette4_trns", rng.integers(0, 16, size=(7, 9, 1)), 4, 3, palette=pal4,
        trns=bytes(rng.integers(0, 256, size=16, dtype=np.uint8)))
    # Gamma and chromaticities must not change the result (we pin gamma to 1
    # and set the coefficients explicitly): odd primaries would give other
    # rgb_to_gray weights, gAMA would make libpng convert in linear light.
    chrm = struct.pack(">8I", 31270, 32900, 50000, 20000, 20000, 60000, 10000, 10000)
    add("rgb8_gama_chrm", rand_img(rng, 6, 8, 3, 8), 8, 2,
        extra=[(b"gAMA", struct.pack(">I", 45455)), (b"cHRM", chrm)])
    add("rgb8_srgb", rand_img(rng, 6, 8, 3, 8), 8, 2,
        extra=[(b"sRGB", b"\x00"), (b"gAMA", struct.pack(">I", 45455))])
    add("gray8_wide", rand_img(rng, 1, 16384, 1, 8), 8, 0)
    return cases


def write_decode_fixtures(out, rng):
    lines = []
    for name, img, depth, color, kw in decode_cases(rng):
        path = os.path.join(out, name + ".png")
        data = png_bytes(img, depth, color, interlace=kw.get("interlace", False),
                         palette=kw.get("palette"), trns=kw.get("trns"),
                         extra=kw.get("extra", ()), filt_seed=len(lines))
        with open(path, "wb") as f:
            f.write(data)
        check_with_pil(path, img, depth, color, kw.get("palette"))
        gray = expected_gray(img, depth, color, kw.get("palette"))
        gray.tofile(os.path.join(out, name + ".gray"))
        lines.append("%s %d %d" % (name, img.shape[1], img.shape[0]))
    with open(os.path.join(out, "decode.txt"), "w") as f:
        f.write("\n".join(lines) + "\n")


def write_error_fixtures(out, rng):
    img = rand_img(rng, 6, 8, 1, 8)
    raw = raw_stream(img, 8, 1, False, 0)
    z = zlib.compress(raw, 9)
    bad_adler = z[:-1] + bytes([z[-1] ^ 0xFF])
    cases = {
        "bad_zlib": png_bytes(img, 8, 0, idat=[b"\x78\x9c" + bytes(range(40))]),
        "bad_adler": png_bytes(img, 8, 0, idat=[bad_adler]),
        "short_idat": png_bytes(img, 8, 0, idat=[zlib.compress(raw[: len(raw) // 2])]),
        "bad_filter": png_bytes(img, 8, 0, idat=[zlib.compress(b"\x07" + raw[1:])]),
        "no_idat": png_bytes(img, 8, 0, idat=[]),
        "bad_depth": png_bytes(img, 8, 0, ihdr=struct.pack(">IIBBBBB", 8, 6, 3, 0, 0, 0, 0)),
        "bad_color": png_bytes(img, 8, 0, ihdr=struct.pack(">IIBBBBB", 8, 6, 8, 5, 0, 0, 0)),
        "zero_dims": png_bytes(img, 8, 0, ihdr=struct.pack(">IIBBBBB", 0, 0, 8, 0, 0, 0, 0)),
        "zero_width": png_bytes(img, 8, 0, ihdr=struct.pack(">IIBBBBB", 0, 6, 8, 0, 0, 0, 0)),
        "huge": png_bytes(img, 8, 0,
                          ihdr=struct.pack(">IIBBBBB", 100000, 100000, 8, 0, 0, 0, 0)),
        "too_wide": png_bytes(img, 8, 0, ihdr=struct.pack(">IIBBBBB", 16385, 1, 8, 0, 0, 0, 0)),
        "too_many_pixels": png_bytes(img, 8, 0,
                                     ihdr=struct.pack(">IIBBBBB", 16384, 4097, 8, 0, 0, 0, 0)),
        "width_2g": png_bytes(img, 8, 0,
                              ihdr=struct.pack(">IIBBBBB", 0x80000000, 1, 8, 0, 0, 0, 0)),
    }
    # flip the CRC of the first IDAT chunk / of IHDR
    good = png_bytes(img, 8, 0)
    at = good.index(b"IDAT")
    length = struct.unpack(">I", good[at - 4: at])[0]
    crc_at = at + 4 + length
    cases["bad_idat_crc"] = good[:crc_at] + bytes([good[crc_at] ^ 1]) + good[crc_at + 1:]
    cases["bad_ihdr_crc"] = good[:29] + bytes([good[29] ^ 1]) + good[30:]
    status = {k: "BAD_FORMAT" for k in cases}
    for k in ("huge", "too_wide", "too_many_pixels", "width_2g"):
        status[k] = "LIMIT"
    lines = []
    for name in sorted(cases):
        with open(os.path.join(out, "err_" + name + ".png"), "wb") as f:
            f.write(cases[name])
        lines.append("err_%s %s" % (name, status[name]))
    with open(os.path.join(out, "errors.txt"), "w") as f:
        f.write("\n".join(lines) + "\n")


# ---------------------------------------------------------------- resize

def torch_resize(src, dw, dh):
    t = torch.from_numpy(np.asarray(src, np.float64))[None, None]
    r = F.interpolate(t, size=(dh, dw), mode="bilinear", align_corners=False)
    return r[0, 0].numpy()


def write_resize_fixtures(out, rng):
    cases = [("down_97x131_64", "u8", 97, 131, 64, 64), ("up_7x5_64", "u8", 7, 5, 64, 64),
             ("rect_50x30_23x17", "u8", 50, 30, 23, 17), ("mixed_40x10_16x32", "u8", 40, 10, 16, 32),
             ("same_19x11", "u8", 19, 11, 19, 11), ("one_1x1_5x3", "u8", 1, 1, 5, 3),
             ("wide_300x2_700x3", "u8", 300, 2, 700, 3),
             ("f32_7x7_33x20", "f32", 7, 7, 33, 20), ("f32_same_6x4", "f32", 6, 4, 6, 4)]
    lines = []
    for name, kind, sw, sh, dw, dh in cases:
        if kind == "u8":
            src = rng.integers(0, 256, size=(sh, sw)).astype(np.uint8)
        else:
            src = rng.standard_normal((sh, sw)).astype(np.float32)
        ref = torch_resize(src, dw, dh)
        src.tofile(os.path.join(out, "resize_%s.src" % name))
        ref.astype("<f8").tofile(os.path.join(out, "resize_%s.ref" % name))
        lines.append("%s %s %d %d %d %d" % (name, kind, sw, sh, dw, dh))
    with open(os.path.join(out, "resize.txt"), "w") as f:
        f.write("\n".join(lines) + "\n")

    lines = []
    for name, sw, sh, size, mean, std in [("pre3_97x131_32", 97, 131, 32, [123.7, 116.3, 103.5],
                                           [58.4, 57.1, 57.4]),
                                          ("pre1_20x20_20", 20, 20, 20, [128.0], [64.0])]:
        src = rng.integers(0, 256, size=(sh, sw)).astype(np.uint8)
        r = torch_resize(src, size, size)
        ref = np.stack([(r - m) / s for m, s in zip(mean, std)])
        src.tofile(os.path.join(out, "pre_%s.src" % name))
        ref.astype("<f8").tofile(os.path.join(out, "pre_%s.ref" % name))
        lines.append("%s %d %d %d %d %s %s" % (name, sw, sh, size, len(mean),
                                               " ".join(map(repr, mean)), " ".join(map(repr, std))))
    with open(os.path.join(out, "preprocess.txt"), "w") as f:
        f.write("\n".join(lines) + "\n")


# ---------------------------------------------------------------- colormap

# A few of the float literals of class Jet in OpenCV's colormap.cpp, to check
# that the control points below describe the same table: (channel, index, value)
OPENCV_JET_SAMPLES = [("r", 95, 0.0), ("r", 96, 0.00588235294117645), ("r", 102, 0.1000000000000001),
                      ("r", 159, 0.9941176470588236), ("r", 160, 1.0), ("r", 224, 0.9862745098039216),
                      ("r", 255, 0.5), ("g", 31, 0.0), ("g", 32, 0.001960784313725483),
                      ("g", 33, 0.01764705882352935), ("g", 223, 0.001960784313725483),
                      ("g", 224, 0.0), ("b", 0, 0.5), ("b", 1, 0.5156862745098039),
                      ("b", 31, 0.9862745098039216), ("b", 96, 0.9941176470588236),
                      ("b", 159, 0.00588235294117645), ("b", 160, 0.0)]


def jet_base():
    """OpenCV's 256 float samples per channel = GNU Octave jet(256): piecewise
    linear through these control points, sampled at linspace(0, 1, 256)."""
    x = np.linspace(0.0, 1.0, 256)
    ch = {"r": np.interp(x, [0, 3 / 8, 5 / 8, 7 / 8, 1], [0, 0, 1, 1, 0.5]),
          "g": np.interp(x, [0, 1 / 8, 3 / 8, 5 / 8, 7 / 8, 1], [0, 0, 1, 1, 0, 0]),
          "b": np.interp(x, [0, 1 / 8, 3 / 8, 5 / 8, 1], [0.5, 1, 1, 0, 0])}
    ch = {k: v.astype(np.float32) for k, v in ch.items()}
    for c, i, v in OPENCV_JET_SAMPLES:
        if ch[c][i] != np.float32(v):
            raise SystemExit("jet control points disagree with OpenCV at %s[%d]" % (c, i))
    return ch


def opencv_interp1(X, Y, XI):
    """interp1_<float> of colormap.cpp, scalar float32 arithmetic."""
    f = np.float32
    out = np.zeros(len(XI), np.float32)
    for i, xi in enumerate(XI):
        low, high = 0, len(X) - 1
        if xi < X[low]:
            high = 1
        if xi > X[high]:
            low = high - 1
        while high - low > 1:
            c = low + ((high - low) >> 1)
            if xi > X[c]:
                low = c
            else:
                high = c
        num = f(f(xi - X[low]) * f(Y[high] - Y[low]))
        out[i] = f(f(0) + f(Y[low] + f(num / f(X[high] - X[low]))))
    return out


def opencv_jet_lut():
    f = np.float32
    step = f(f(1) - f(0)) / f(255)  # linspace(0, 1, 256) in float
    X = np.array([f(f(0) + f(f(i) * step)) for i in range(256)], np.float32)
    base = jet_base()
    lut = np.zeros((256, 3), np.uint8)
    for k, c in enumerate("rgb"):
        y = opencv_interp1(X, base[c], X)
        # convertTo(CV_8U, 255.): float product, cvRound (half to even), saturate
        lut[:, k] = np.clip(np.rint((y * f(255)).astype(np.float32)), 0, 255).astype(np.uint8)
    return lut


def quantize(mask):
    """np.uint8(255 * mask) on float32, with out-of-range values clamped first
    (the documented behaviour of cc_colormap_jet; numpy would wrap)."""
    m = np.nan_to_num(np.asarray(mask, np.float32), nan=0.0)
    m = np.clip(m, np.float32(0), np.float32(1))
    return (np.float32(255) * m).astype(np.float32).astype(np.uint8)


def show_cam_on_image(img, mask, lut, image_weight):
    """pytorch-grad-cam utils/image.py show_cam_on_image(use_rgb=True) with
    cv2.applyColorMap replaced by the LUT (already RGB)."""
    heatmap = lut[np.uint8(255 * mask)]
    heatmap = np.float32(heatmap) / 255
    cam = (1 - image_weight) * heatmap + image_weight * img
    cam = cam / np.max(cam)
    return np.uint8(255 * cam)


def write_colormap_fixtures(out, rng):
    lut = opencv_jet_lut()
    # endpoints as documented for cv2.COLORMAP_JET (BGR (128,0,0) / (0,0,128))
    assert lut[0].tolist() == [0, 0, 128] and lut[255].tolist() == [128, 0, 0]
    lut.tofile(os.path.join(out, "jet_lut.rgb"))

    vals = [0.0, 1.0, -0.5, 1.5, np.nan, np.inf, -np.inf, 1e-9, 0.999999, 0.5,
            np.nextafter(np.float32(1), np.float32(0))]
    vals += [np.float32(i) / np.float32(255) for i in range(256)]  # some truncate to i-1
    vals += list(rng.random(500))
    m = np.array(vals, np.float32)
    m.tofile(os.path.join(out, "jet_map.f32"))
    lut[quantize(m)].tofile(os.path.join(out, "jet_map.rgb"))

    lines = []
    for name, h, w, weight in [("ov_9x7_w50", 7, 9, 0.5), ("ov_16x16_w30", 16, 16, 0.3),
                               ("ov_5x4_w0", 4, 5, 0.0), ("ov_5x4_w100", 4, 5, 1.0)]:
        gray = rng.integers(0, 256, size=(h, w)).astype(np.uint8)
        mask = rng.random((h, w)).astype(np.float32)
        mask[0, 0], mask[-1, -1] = 0.0, 1.0
        wt = float(np.float32(weight))  # the C side receives a float
        img = np.repeat((np.float32(gray) / 255)[..., None], 3, axis=2)
        rgb = show_cam_on_image(img, mask, lut, wt)
        gray.tofile(os.path.join(out, name + ".gray"))
        mask.tofile(os.path.join(out, name + ".f32"))
        rgb.tofile(os.path.join(out, name + ".rgb"))
        lines.append("%s %d %r" % (name, h * w, weight))
    with open(os.path.join(out, "overlay.txt"), "w") as f:
        f.write("\n".join(lines) + "\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    here = os.path.dirname(os.path.abspath(__file__))
    ap.add_argument("--out", default=os.path.join(here, "..", "tests", "fixtures", "png"))
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    rng = np.random.default_rng(SEED)
    torch.set_default_dtype(torch.float64)
    write_decode_fixtures(a.out, rng)
    write_error_fixtures(a.out, rng)
    write_resize_fixtures(a.out, rng)
    write_colormap_fixtures(a.out, rng)
    print("wrote fixtures to", os.path.normpath(a.out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
