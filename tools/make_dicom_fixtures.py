#!/usr/bin/python3
"""Write the DICOM fixtures of tests/dicom (tests/fixtures/dicom/).

    /usr/bin/python3 tools/make_dicom_fixtures.py     # rewrites tests/fixtures/dicom/
                                                      # and fuzz/corpus/dicom/

Needs pydicom, numpy and PIL (Debian: python3-pydicom, python3-numpy,
python3-pil) and DCMTK's command line tools (Debian: dcmtk) for the
compressed transfer syntaxes: dcmcjpeg, dcmcjpls, dcmcrle, dcmconv. Only the
generator needs them; the tests read the committed files.

Every image comes from tests/fixtures/sample_97x131.png, sample_64.png or a
synthetic gradient. For each decodable file the expected 8-bit gray pixels
(<name>.gray, rows packed) are computed here with numpy from the pixel values
the file was built from (never by decoding the file with DCMTK), following the
mapping of docs/preprocessing.md:

    m = x                                   no rescale (slope 1, intercept 0)
    m = trunc(x * slope + intercept)        otherwise (integer, toward zero)
    window (c, w), w1 = w - 1, lb = c - 0.5 - w1/2, rb = c - 0.5 + w1/2,
      MONOCHROME2: y = 0 if m <= lb, 255 if m > rb,
                   else trunc((255 - ((c - 0.5)/w1 + 0.5) * 255) + m * (255/w1))
      MONOCHROME1: y = 255 if m <= lb, 0 if m > rb,
                   else trunc((0 + ((c - 0.5)/w1 + 0.5) * 255) + m * (-255/w1))
    window source: the file's first WindowCenter/WindowWidth; else the range
      of the stored bits through the rescale, in double, [lo, hi]:
      w = hi - lo + 1, c = lo + w/2 (so an 8-bit image maps 1:1)
    VOI LUT (first item of the VOI LUT Sequence, preferred over a window):
      g = 256 / 2^bits, y = trunc(LUT[clamp(m - first, 0, n-1)] * g)
    RGB: DCMTK's 8-bit RGB, then gray = r if r == g == b
      else (6968 r + 23434 g + 2366 b) >> 15 (the PNG weights)

The JPEG baseline file is lossy: its reference decodes the JPEG stream with
Pillow (libjpeg-turbo), an independent decoder, before the (identity) 8-bit
mapping.

manifest.txt has one line per decodable file:
    name width height transfer_syntax photometric modality view body_part
    bits_stored samples signed frames window_source center width slope intercept
("-" for an empty string); errors.txt one line per error file:
    name status message-substring...
"""
import hashlib
import io
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import zlib

import numpy as np
import pydicom
from PIL import Image
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.encaps import encapsulate
from pydicom.sequence import Sequence
from pydicom.uid import UID

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIX = os.path.join(ROOT, "tests", "fixtures")
OUT = os.path.join(FIX, "dicom")

EXPLICIT_LE = "1.2.840.10008.1.2.1"
IMPLICIT_LE = "1.2.840.10008.1.2"
EXPLICIT_BE = "1.2.840.10008.1.2.2"
DEFLATED = "1.2.840.10008.1.2.1.99"
JPEG_BASELINE = "1.2.840.10008.1.2.4.50"
JPEG_LOSSLESS_SV1 = "1.2.840.10008.1.2.4.70"
JPEG_LOSSLESS = "1.2.840.10008.1.2.4.57"
JPEG_LS = "1.2.840.10008.1.2.4.80"
RLE = "1.2.840.10008.1.2.5"
J2K_LOSSLESS = "1.2.840.10008.1.2.4.90"

CR_SOP = "1.2.840.10008.5.1.4.1.1.1"
DX_SOP = "1.2.840.10008.5.1.4.1.1.1.1"
SC_SOP = "1.2.840.10008.5.1.4.1.1.7"
MF_SC_SOP = "1.2.840.10008.5.1.4.1.1.7.2"
SR_SOP = "1.2.840.10008.5.1.4.1.1.88.11"

manifest = []
errors = []


def uid(name, kind):
    """A deterministic UID under 2.25 (UUID-derived root) from the fixture name."""
    h = int(hashlib.sha1((name + "/" + kind).encode()).hexdigest()[:30], 16)
    return "2.25." + str(h)


def png_gray(name):
    return np.asarray(Image.open(os.path.join(FIX, name)).convert("L"), dtype=np.uint8)


def gradient(h, w, lo, hi, seed):
    """A smooth diagonal ramp from lo to hi with a little deterministic noise."""
    rng = np.random.RandomState(seed)
    y, x = np.mgrid[0:h, 0:w]
    t = (x + y) / float(h + w - 2)
    v = lo + t * (hi - lo) + rng.randint(-3, 4, size=(h, w))
    return np.clip(np.round(v), lo, hi).astype(np.int64)


def base(name, rows, cols, photometric, bits_alloc, bits_stored, signed, sop=DX_SOP,
         spp=1, modality="DX", view="PA", body="CHEST"):
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = sop
    ds.file_meta.MediaStorageSOPInstanceUID = uid(name, "sop")
    ds.file_meta.TransferSyntaxUID = EXPLICIT_LE
    ds.file_meta.ImplementationClassUID = "2.25.98765432109876543210"
    ds.file_meta.ImplementationVersionName = "COVIDCAM_FIX"
    ds.SOPClassUID = sop
    ds.SOPInstanceUID = uid(name, "sop")
    ds.StudyInstanceUID = uid(name, "study")
    ds.SeriesInstanceUID = uid(name, "series")
    ds.Modality = modality
    ds.PatientName = "Fixture^" + name[:20]
    ds.PatientID = "CC" + name[:10]
    if body:
        ds.BodyPartExamined = body
    if view:
        ds.ViewPosition = view
    ds.SamplesPerPixel = spp
    ds.PhotometricInterpretation = photometric
    if spp == 3:
        ds.PlanarConfiguration = 0
    ds.Rows = rows
    ds.Columns = cols
    ds.BitsAllocated = bits_alloc
    ds.BitsStored = bits_stored
    ds.HighBit = bits_stored - 1
    ds.PixelRepresentation = 1 if signed else 0
    return ds


def pack(values, bits_alloc, bits_stored, signed, big_endian=False):
    """Stored values (ints) -> pixel data bytes: two's complement in bits_stored
    bits, zero above the high bit."""
    v = np.asarray(values, dtype=np.int64)
    mask = (1 << bits_stored) - 1
    raw = v & mask
    dt = {8: "u1", 16: "u2"}[bits_alloc]
    dt = (">" if big_endian else "<") + dt
    return raw.astype(dt).tobytes()


def save(ds, path, ts=EXPLICIT_LE):
    ds.file_meta.TransferSyntaxUID = ts
    ds.is_little_endian = ts != EXPLICIT_BE
    ds.is_implicit_VR = ts == IMPLICIT_LE
    ds.save_as(path, write_like_original=False)


def run(*cmd):
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)


def mono_reference(m, photometric, c, w):
    """DCMTK's linear window (dimoopxt.h, 'VOI LINEAR #6/#8') on modality values m."""
    m = np.asarray(m, dtype=np.float64)
    w1 = w - 1.0
    lb = c - 0.5 - w1 / 2
    rb = c - 0.5 + w1 / 2
    if photometric == "MONOCHROME1":
        low, high = 255.0, 0.0
    else:
        low, high = 0.0, 255.0
    outrange = high - low
    offset = 0.0 if w1 == 0 else high - ((c - 0.5) / w1 + 0.5) * outrange
    grad = 0.0 if w1 == 0 else outrange / w1
    inner = np.trunc(offset + m * grad)
    y = np.where(m <= lb, low, np.where(m > rb, high, inner))
    assert y.min() >= 0 and y.max() <= 255
    return y.astype(np.uint8)


def modality(x, slope, intercept):
    x = np.asarray(x, dtype=np.int64)
    if slope == 1.0 and intercept == 0.0:
        return x
    return np.trunc(x.astype(np.float64) * slope + intercept).astype(np.int64)


def range_window(bits_stored, signed, slope, intercept):
    lo, hi = (-(1 << (bits_stored - 1)), (1 << (bits_stored - 1)) - 1) if signed \
        else (0, (1 << bits_stored) - 1)
    # In double, not truncated (DCMTK's absolute minimum / maximum).
    a, b = lo * slope + intercept, hi * slope + intercept
    lo, hi = min(a, b), max(a, b)
    w = float(hi - lo + 1)
    return lo + w / 2, w


def gray_of_rgb(rgb):
    r, g, b = (rgb[..., i].astype(np.int64) for i in range(3))
    y = (6968 * r + 23434 * g + 2366 * b) >> 15
    same = (r == g) & (g == b)
    return np.where(same, r, y).astype(np.uint8)


def s(v):
    return v if v else "-"


def record(name, gray, ts, photometric, bits, spp, signed, frames, wsrc, c, w,
           slope=1.0, intercept=0.0, modality_="DX", view="PA", body="CHEST"):
    h, wd = gray.shape
    with open(os.path.join(OUT, name + ".gray"), "wb") as f:
        f.write(np.ascontiguousarray(gray, dtype=np.uint8).tobytes())
    manifest.append("%s %d %d %s %s %s %s %s %d %d %d %d %d %.17g %.17g %.17g %.17g" % (
        name, wd, h, ts, photometric, s(modality_), s(view), s(body), bits, spp,
        1 if signed else 0, frames, wsrc, c, w, slope, intercept))


W_FILE, W_VOI, W_RANGE = 1, 2, 3


def compress(src, dst, tool, *opts):
    run(tool, *opts, src, dst)


def check_roundtrip(path, values):
    """Self-check where pydicom has its own decoder (native, deflate, RLE)."""
    ds = pydicom.dcmread(path)
    arr = ds.pixel_array
    if getattr(ds, "NumberOfFrames", 1) > 1:
        arr = arr[0]
    assert np.array_equal(arr.astype(np.int64), np.asarray(values, dtype=np.int64)), path


def mono8_family(tmp):
    """sample_97x131.png as 8-bit MONOCHROME2 in every transfer syntax: no window,
    so every lossless one decodes to the PNG's own gray values."""
    px = png_gray("sample_97x131.png")
    h, w = px.shape
    ds = base("mono8", h, w, "MONOCHROME2", 8, 8, False)
    ds.PixelData = pack(px, 8, 8, False)
    src = os.path.join(tmp, "mono8.dcm")
    save(ds, src)
    c, wd = range_window(8, False, 1.0, 0.0)
    ref = mono_reference(px, "MONOCHROME2", c, wd)
    assert np.array_equal(ref, px)  # 8-bit maps 1:1

    def out(n):
        return os.path.join(OUT, n + ".dcm")

    shutil.copy(src, out("mono8_explicit_le"))
    check_roundtrip(out("mono8_explicit_le"), px)
    record("mono8_explicit_le", ref, EXPLICIT_LE, "MONOCHROME2", 8, 1, False, 1, W_RANGE, c, wd)

    save(ds, out("mono8_implicit_le"), IMPLICIT_LE)
    check_roundtrip(out("mono8_implicit_le"), px)
    record("mono8_implicit_le", ref, IMPLICIT_LE, "MONOCHROME2", 8, 1, False, 1, W_RANGE, c, wd)

    compress(src, out("mono8_deflated"), "dcmconv", "+td")
    check_roundtrip(out("mono8_deflated"), px)
    record("mono8_deflated", ref, DEFLATED, "MONOCHROME2", 8, 1, False, 1, W_RANGE, c, wd)

    compress(src, out("mono8_jpeg_lossless_sv1"), "dcmcjpeg", "+e1", "+un")
    record("mono8_jpeg_lossless_sv1", ref, JPEG_LOSSLESS_SV1, "MONOCHROME2", 8, 1, False, 1,
           W_RANGE, c, wd)

    compress(src, out("mono8_jpeg_lossless"), "dcmcjpeg", "+el", "+un")
    record("mono8_jpeg_lossless", ref, JPEG_LOSSLESS, "MONOCHROME2", 8, 1, False, 1,
           W_RANGE, c, wd)

    compress(src, out("mono8_jpegls"), "dcmcjpls", "+el", "+un")
    record("mono8_jpegls", ref, JPEG_LS, "MONOCHROME2", 8, 1, False, 1, W_RANGE, c, wd)

    compress(src, out("mono8_rle"), "dcmcrle")
    check_roundtrip(out("mono8_rle"), px)
    record("mono8_rle", ref, RLE, "MONOCHROME2", 8, 1, False, 1, W_RANGE, c, wd)

    # Lossy: the reference decodes the JPEG stream with Pillow (libjpeg-turbo).
    compress(src, out("mono8_jpeg_baseline"), "dcmcjpeg", "+eb", "+un", "+q", "90")
    jds = pydicom.dcmread(out("mono8_jpeg_baseline"))
    frame = next(pydicom.encaps.generate_pixel_data_frame(jds.PixelData))
    dec = np.asarray(Image.open(io.BytesIO(frame)).convert("L"), dtype=np.uint8)
    assert dec.shape == px.shape
    record("mono8_jpeg_baseline", mono_reference(dec, "MONOCHROME2", c, wd), JPEG_BASELINE,
           "MONOCHROME2", 8, 1, False, 1, W_RANGE, c, wd)

    # A private UN element of undefined length (its items are implicit VR,
    # CP-246) before the pixels: read, not mistaken for a damaged file.
    data = open(src, "rb").read()
    pn = data.rfind(struct.pack("<HH", 0x0010, 0x0010))
    priv = struct.pack("<HH2sH", 0x0009, 0x0010, b"LO", 4) + b"PRIV"
    priv += struct.pack("<HH2sHI", 0x0009, 0x1001, b"UN", 0, 0xFFFFFFFF)
    priv += struct.pack("<HHI", 0xFFFE, 0xE000, 0xFFFFFFFF)
    priv += struct.pack("<HHI", 0x0009, 0x1002, 4) + b"abcd"
    priv += struct.pack("<HHI", 0xFFFE, 0xE00D, 0) + struct.pack("<HHI", 0xFFFE, 0xE0DD, 0)
    fixed = bytearray(data[:pn] + priv + data[pn:])
    with open(out("mono8_un_sequence"), "wb") as f:
        f.write(bytes(fixed))
    record("mono8_un_sequence", ref, EXPLICIT_LE, "MONOCHROME2", 8, 1, False, 1, W_RANGE, c, wd)

    # No preamble, no meta header: a bare implicit-VR dataset.
    buf = io.BytesIO()
    bare = ds.copy()
    del bare.file_meta
    bare.is_little_endian = True
    bare.is_implicit_VR = True
    pydicom.filewriter.write_dataset(pydicom.filebase.DicomFileLike(buf), bare)
    with open(out("mono8_no_preamble"), "wb") as f:
        f.write(buf.getvalue())
    record("mono8_no_preamble", ref, IMPLICIT_LE, "MONOCHROME2", 8, 1, False, 1, W_RANGE, c, wd)
    return src, px


def mono12_family(tmp):
    """12 bits stored in 16, rescale slope/intercept, two windows (the first is used)."""
    px = png_gray("sample_64.png").astype(np.int64)
    g = gradient(64, 64, 0, 4095, 12)
    x = np.clip(g // 2 + px * 8, 0, 4095)
    slope, icpt = 0.75, -1024.0
    ds = base("mono12", 64, 64, "MONOCHROME2", 16, 12, False, sop=CR_SOP, modality="CR",
              view="AP")
    ds.RescaleSlope = "0.75"
    ds.RescaleIntercept = "-1024"
    ds.RescaleType = "US"
    ds.WindowCenter = ["300", "0"]
    ds.WindowWidth = ["1500", "400"]
    ds.PixelData = pack(x, 16, 12, False)
    src = os.path.join(tmp, "mono12.dcm")
    save(ds, src)
    m = modality(x, slope, icpt)
    ref = mono_reference(m, "MONOCHROME2", 300.0, 1500.0)
    for name, ts, tool, opts in [
            ("mono12_window", EXPLICIT_LE, None, ()),
            ("mono12_window_jpegls", JPEG_LS, "dcmcjpls", ("+el", "+un")),
            ("mono12_window_jpeg_lossless", JPEG_LOSSLESS_SV1, "dcmcjpeg", ("+e1", "+un")),
            ("mono12_window_rle", RLE, "dcmcrle", ())]:
        dst = os.path.join(OUT, name + ".dcm")
        if tool:
            compress(src, dst, tool, *opts)
        else:
            shutil.copy(src, dst)
        record(name, ref, ts, "MONOCHROME2", 12, 1, False, 1, W_FILE, 300.0, 1500.0,
               slope, icpt, "CR", "AP", "CHEST")

    # Same pixels, no window: the stored range through the modality step.
    del ds.WindowCenter
    del ds.WindowWidth
    save(ds, os.path.join(OUT, "mono12_range.dcm"))
    c, w = range_window(12, False, slope, icpt)
    record("mono12_range", mono_reference(m, "MONOCHROME2", c, w), EXPLICIT_LE, "MONOCHROME2",
           12, 1, False, 1, W_RANGE, c, w, slope, icpt, "CR", "AP", "CHEST")

    # Big endian (retired, still read).
    ds.WindowCenter = "300"
    ds.WindowWidth = "1500"
    ds.PixelData = pack(x, 16, 12, False, big_endian=True)  # OW words are swapped too
    save(ds, os.path.join(OUT, "mono12_big_endian.dcm"), EXPLICIT_BE)
    ds.PixelData = pack(x, 16, 12, False)
    record("mono12_big_endian", ref, EXPLICIT_BE, "MONOCHROME2", 12, 1, False, 1, W_FILE,
           300.0, 1500.0, slope, icpt, "CR", "AP", "CHEST")

    # MONOCHROME1: the same stored values, displayed inverted.
    ds.PhotometricInterpretation = "MONOCHROME1"
    save(ds, os.path.join(OUT, "mono1_window.dcm"))
    record("mono1_window", mono_reference(m, "MONOCHROME1", 300.0, 1500.0), EXPLICIT_LE,
           "MONOCHROME1", 12, 1, False, 1, W_FILE, 300.0, 1500.0, slope, icpt, "CR", "AP", "CHEST")
    dst = os.path.join(OUT, "mono1_window_rle.dcm")
    compress(os.path.join(OUT, "mono1_window.dcm"), dst, "dcmcrle")
    record("mono1_window_rle", mono_reference(m, "MONOCHROME1", 300.0, 1500.0), RLE,
           "MONOCHROME1", 12, 1, False, 1, W_FILE, 300.0, 1500.0, slope, icpt, "CR", "AP", "CHEST")

    del ds.WindowCenter
    del ds.WindowWidth
    save(ds, os.path.join(OUT, "mono1_range.dcm"))
    record("mono1_range", mono_reference(m, "MONOCHROME1", c, w), EXPLICIT_LE, "MONOCHROME1",
           12, 1, False, 1, W_RANGE, c, w, slope, icpt, "CR", "AP", "CHEST")


def signed_family():
    """Signed pixels: 16 bits stored with a window, 12 bits stored in 16 without."""
    px = png_gray("sample_64.png").astype(np.int64)
    g = gradient(64, 64, -30000, 30000, 16)
    x = np.clip(g + (px - 128) * 20, -32768, 32767)
    ds = base("signed16", 64, 64, "MONOCHROME2", 16, 16, True, modality="DX", view="LL",
              body="")
    ds.WindowCenter = "-2000"
    ds.WindowWidth = "30000.5"
    ds.RescaleSlope = "1"
    ds.RescaleIntercept = "100"
    ds.PixelData = pack(x, 16, 16, True)
    save(ds, os.path.join(OUT, "signed16_window.dcm"))
    m = modality(x, 1.0, 100.0)
    record("signed16_window", mono_reference(m, "MONOCHROME2", -2000.0, 30000.5), EXPLICIT_LE,
           "MONOCHROME2", 16, 1, True, 1, W_FILE, -2000.0, 30000.5, 1.0, 100.0, "DX", "LL", "")

    x12 = np.clip(g // 16, -2048, 2047)
    ds = base("signed12", 64, 64, "MONOCHROME2", 16, 12, True)
    # Bits above the high bit are not pixel data: set some to check they are masked.
    raw = np.frombuffer(pack(x12, 16, 12, True), dtype="<u2").copy()
    raw[::7] |= 0x5000
    ds.PixelData = raw.tobytes()
    save(ds, os.path.join(OUT, "signed12_range.dcm"))
    c, w = range_window(12, True, 1.0, 0.0)
    record("signed12_range", mono_reference(x12, "MONOCHROME2", c, w), EXPLICIT_LE,
           "MONOCHROME2", 12, 1, True, 1, W_RANGE, c, w)
    dst = os.path.join(OUT, "signed12_range_jpegls.dcm")
    ds.PixelData = pack(x12, 16, 12, True)
    tmp = dst + ".tmp"
    save(ds, tmp)
    compress(tmp, dst, "dcmcjpls", "+el", "+un")
    os.unlink(tmp)
    record("signed12_range_jpegls", mono_reference(x12, "MONOCHROME2", c, w), JPEG_LS,
           "MONOCHROME2", 12, 1, True, 1, W_RANGE, c, w)


def voi_lut():
    """A VOI LUT Sequence (preferred over the window also present)."""
    x = gradient(48, 40, 0, 1023, 5)
    first, n, bits = 100, 800, 12
    lut = np.round(4095 * (np.linspace(0.0, 1.0, n) ** 0.6)).astype(np.int64)
    ds = base("voilut", 48, 40, "MONOCHROME2", 16, 10, False)
    ds.WindowCenter = "512"
    ds.WindowWidth = "1024"
    item = Dataset()
    item.add_new(0x00283002, "US", [n, first, bits])
    item.add_new(0x00283006, "US", [int(v) for v in lut])
    item.LUTExplanation = "GAMMA"
    ds.VOILUTSequence = Sequence([item])
    ds.PixelData = pack(x, 16, 10, False)
    save(ds, os.path.join(OUT, "voi_lut.dcm"))
    idx = np.clip(x - first, 0, n - 1)
    ref = np.trunc(lut[idx].astype(np.float64) * (256.0 / (1 << bits))).astype(np.uint8)
    record("voi_lut", ref, EXPLICIT_LE, "MONOCHROME2", 10, 1, False, 1, W_VOI,
           first + n / 2.0, float(n))


def rgb_family(tmp):
    h, w = 40, 56
    y, x = np.mgrid[0:h, 0:w]
    rgb = np.stack([x * 255 // (w - 1), y * 255 // (h - 1), (x + y) * 255 // (w + h - 2)],
                   axis=-1).astype(np.uint8)
    rgb[:8, :8] = 77  # a gray patch (r == g == b keeps its value)
    ds = base("rgb", h, w, "RGB", 8, 8, False, sop=SC_SOP, spp=3, modality="OT", view="",
              body="")
    ds.PixelData = rgb.tobytes()
    src = os.path.join(OUT, "rgb.dcm")
    save(ds, src)
    ref = gray_of_rgb(rgb)
    record("rgb", ref, EXPLICIT_LE, "RGB", 8, 3, False, 1, W_RANGE, 128.0, 256.0,
           modality_="OT", view="", body="")
    dst = os.path.join(OUT, "rgb_rle.dcm")
    compress(src, dst, "dcmcrle")
    record("rgb_rle", ref, RLE, "RGB", 8, 3, False, 1, W_RANGE, 128.0, 256.0,
           modality_="OT", view="", body="")
    # Planar configuration 1 (RRR...GGG...BBB).
    ds.PlanarConfiguration = 1
    ds.PixelData = np.ascontiguousarray(rgb.transpose(2, 0, 1)).tobytes()
    save(ds, os.path.join(OUT, "rgb_planar.dcm"))
    record("rgb_planar", ref, EXPLICIT_LE, "RGB", 8, 3, False, 1, W_RANGE, 128.0, 256.0,
           modality_="OT", view="", body="")


def multiframe():
    """Three frames; only the first one is decoded."""
    frames = [gradient(32, 48, 0, 255, 30 + i) for i in range(3)]
    frames[1] = 255 - frames[1]
    ds = base("multiframe", 32, 48, "MONOCHROME2", 8, 8, False, sop=MF_SC_SOP, modality="OT",
              view="", body="")
    ds.NumberOfFrames = 3
    ds.FrameIncrementPointer = 0x00181063
    ds.FrameTime = "100"
    ds.PixelData = b"".join(pack(f, 8, 8, False) for f in frames)
    src = os.path.join(OUT, "multiframe.dcm")
    save(ds, src)
    check_roundtrip(src, frames[0])
    c, w = range_window(8, False, 1.0, 0.0)
    ref = mono_reference(frames[0], "MONOCHROME2", c, w)
    record("multiframe", ref, EXPLICIT_LE, "MONOCHROME2", 8, 1, False, 3, W_RANGE, c, w,
           modality_="OT", view="", body="")
    dst = os.path.join(OUT, "multiframe_rle.dcm")
    compress(src, dst, "dcmcrle")
    check_roundtrip(dst, frames[0])
    record("multiframe_rle", ref, RLE, "MONOCHROME2", 8, 1, False, 3, W_RANGE, c, w,
           modality_="OT", view="", body="")


def error(name, data, status, message):
    with open(os.path.join(OUT, name + ".dcm"), "wb") as f:
        f.write(data)
    errors.append("%s %s %s" % (name, status, message))


def find_tag(data, group, elem, explicit=True):
    key = struct.pack("<HH", group, elem)
    i = data.rfind(key)
    assert i >= 0
    return i


def error_family(mono8_src):
    good = open(mono8_src, "rb").read()

    # An SR-like dataset: no pixel data at all.
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = SR_SOP
    ds.file_meta.MediaStorageSOPInstanceUID = uid("sr", "sop")
    ds.file_meta.ImplementationClassUID = "2.25.98765432109876543210"
    ds.SOPClassUID = SR_SOP
    ds.SOPInstanceUID = uid("sr", "sop")
    ds.Modality = "SR"
    ds.ValueType = "CONTAINER"
    ds.ContinuityOfContent = "SEPARATE"
    path = os.path.join(tempfile.gettempdir(), "cc_sr.dcm")
    save(ds, path)
    error("err_no_pixel_data", open(path, "rb").read(), "BAD_FORMAT",
          "no pixel data (7FE0,0010)")
    os.unlink(path)

    # Truncated in the pixel data, and inside the file meta group.
    error("err_truncated", good[:len(good) - 3000], "BAD_FORMAT", "truncated")
    error("err_truncated_meta", good[:150], "BAD_FORMAT", "truncated")

    # Rows/Columns over COVIDCAM_MAX_IMAGE_DIM (16384) with a few bytes of pixels.
    pix = find_tag(good, 0x7FE0, 0x0010)
    head = bytearray(good[:pix])
    r = find_tag(head, 0x0028, 0x0010)
    c = find_tag(head, 0x0028, 0x0011)
    big = bytearray(head)
    struct.pack_into("<H", big, r + 8, 40000)
    struct.pack_into("<H", big, c + 8, 20)
    small_pixels = struct.pack("<HH2sHI", 0x7FE0, 0x0010, b"OB", 0, 64) + bytes(64)
    error("err_huge_rows", bytes(big) + small_pixels, "LIMIT", "rows 40000 x columns 20")
    big = bytearray(head)
    struct.pack_into("<H", big, r + 8, 10000)
    struct.pack_into("<H", big, c + 8, 10000)
    error("err_too_many_pixels", bytes(big) + small_pixels, "LIMIT", "100000000 pixels")

    # A pixel data element that claims far more bytes than the file holds.
    lie = bytearray(good)
    struct.pack_into("<I", lie, pix + 8, 0x7FFFFFF0)
    error("err_lying_pixel_length", bytes(lie), "BAD_FORMAT", "(7FE0,0010)")
    # The same lie in an ordinary element (PatientName) before the pixels.
    pn = find_tag(good, 0x0010, 0x0010)
    lie = bytearray(good)
    struct.pack_into("<H", lie, pn + 6, 0xFFF0)
    lie = lie[:pn + 4] + b"UT" + b"\0\0" + struct.pack("<I", 0x7FFFFFF0) + good[pn + 8:]
    error("err_lying_element_length", bytes(lie), "BAD_FORMAT", "(0010,0010)")
    # The same lie behind DCMTK's internal VR names, which it also accepts from
    # a file: "px" (which makes the element Pixel Data), "ox" and "lt" take a
    # 4-byte length after 2 reserved bytes, "na" a 4-byte length at once.
    for vr in ("px", "ox", "lt"):
        lie = good[:pn + 4] + vr.encode() + b"\0\0" + struct.pack("<I", 0x7FFFFFF0) + good[pn + 8:]
        error("err_internal_vr_%s_length" % vr, bytes(lie), "BAD_FORMAT", "(0010,0010)")
    lie = good[:pn + 4] + b"na" + struct.pack("<I", 0x7FFFFFF0) + good[pn + 8:]
    error("err_internal_vr_na_length", bytes(lie), "BAD_FORMAT", "(0010,0010)")

    # The same lie inside a deflated dataset (checked on the inflated bytes).
    d = open(os.path.join(OUT, "mono8_deflated.dcm"), "rb").read()
    meta_end = find_tag(d, 0x0002, 0x0013)
    meta_end += 8 + struct.unpack("<H", d[meta_end + 6:meta_end + 8])[0]
    raw = bytearray(zlib.decompress(d[meta_end:], -15))
    struct.pack_into("<I", raw, raw.rfind(struct.pack("<HH", 0x7FE0, 0x0010)) + 8, 0x7FFFFFF0)
    z = zlib.compressobj(9, zlib.DEFLATED, -15)
    error("err_deflated_lying_length", d[:meta_end] + z.compress(bytes(raw)) + z.flush(),
          "BAD_FORMAT", "(7FE0,0010)")
    # A deflated dataset cut one byte short, inside the pixel data length:
    # DCMTK feeds zlib a zero byte after the file's end (raw deflate needs it
    # to finish), which here completes the length as 0x00FFFFF0. One stored
    # block, so the pad byte inflates to itself.
    raw = bytearray(zlib.decompress(d[meta_end:], -15))
    pix = raw.rfind(struct.pack("<HH", 0x7FE0, 0x0010))
    raw = raw[:pix + 8] + struct.pack("<I", 0x00FFFFF0)
    z = zlib.compressobj(0, zlib.DEFLATED, -15)
    stored = z.compress(bytes(raw)) + z.flush()
    assert zlib.decompressobj(-15).decompress(stored[:-1]) == raw[:-1]
    error("err_deflated_pad_byte_length", d[:meta_end] + stored[:-1], "BAD_FORMAT", "(7FE0,0010)")
    # A meta group length (0002,0000) that ends inside the group.
    bad = bytearray(good)
    struct.pack_into("<I", bad, 132 + 8, 40)
    error("err_meta_group_length", bytes(bad), "BAD_FORMAT", "(0002,0000)")

    # Sequences nested 40 deep (open-ended SQ and items) before the pixels.
    pn = find_tag(good, 0x0010, 0x0010)
    nest = b""
    for _ in range(40):
        nest += struct.pack("<HH2sHI", 0x0040, 0xA730, b"SQ", 0, 0xFFFFFFFF)
        nest += struct.pack("<HHI", 0xFFFE, 0xE000, 0xFFFFFFFF)
    for _ in range(40):
        nest += struct.pack("<HHI", 0xFFFE, 0xE00D, 0) + struct.pack("<HHI", 0xFFFE, 0xE0DD, 0)
    error("err_deep_nesting", good[:pn] + nest + good[pn:], "BAD_FORMAT", "nested deeper than 32")

    # Pixel data present but shorter than Rows x Columns (consistent lengths).
    short = bytearray(head) + struct.pack("<HH2sHI", 0x7FE0, 0x0010, b"OB", 0, 1000) + \
        bytes(1000)
    error("err_short_pixel_data", bytes(short), "BAD_FORMAT", "1000 bytes")

    # BitsStored above BitsAllocated.
    bs = find_tag(head, 0x0028, 0x0101)
    bad = bytearray(good)
    struct.pack_into("<H", bad, bs + 8, 12)
    error("err_bits_stored", bytes(bad), "BAD_FORMAT", "BitsStored (0028,0101) 12")

    # JPEG 2000: well-formed, but not decodable by the free DCMTK.
    px = png_gray("sample_64.png")
    j = io.BytesIO()
    Image.fromarray(px).save(j, format="JPEG2000", irreversible=False, no_jp2=True)
    ds = base("j2k", 64, 64, "MONOCHROME2", 8, 8, False)
    ds.PixelData = encapsulate([j.getvalue()])
    ds["PixelData"].is_undefined_length = True
    ds["PixelData"].VR = "OB"
    path = os.path.join(tempfile.gettempdir(), "cc_j2k.dcm")
    ds.file_meta.TransferSyntaxUID = J2K_LOSSLESS
    ds.is_little_endian = True
    ds.is_implicit_VR = False
    ds.save_as(path, write_like_original=False)
    error("err_jpeg2000", open(path, "rb").read(), "UNSUPPORTED", "1.2.840.10008.1.2.4.90")
    os.unlink(path)

    # Not DICOM at all: a PNG.
    error("err_not_dicom", open(os.path.join(FIX, "sample_64.png"), "rb").read(),
          "BAD_FORMAT", "not DICOM")


SEEDS = os.path.join(ROOT, "fuzz", "corpus", "dicom")


def fuzz_seeds(tmp):
    """Tiny files (12 x 10) of every encoding for fuzz/corpus/dicom: small
    seeds let libFuzzer mutate headers rather than pixels."""
    if os.path.isdir(SEEDS):
        shutil.rmtree(SEEDS)
    os.makedirs(SEEDS)
    x8 = gradient(10, 12, 0, 255, 70)
    x12 = gradient(10, 12, 0, 4095, 71)

    def seed(name, ds, ts=EXPLICIT_LE, tool=None, *opts):
        src = os.path.join(tmp, "seed.dcm")
        dst = os.path.join(SEEDS, name + ".dcm")
        save(ds, src if tool else dst, ts)
        if tool:
            compress(src, dst, tool, *opts)

    ds = base("seed8", 10, 12, "MONOCHROME2", 8, 8, False)
    ds.PixelData = pack(x8, 8, 8, False)
    seed("mono8", ds)
    seed("mono8_implicit", ds, IMPLICIT_LE)
    seed("mono8_deflated", ds, EXPLICIT_LE, "dcmconv", "+td")
    seed("mono8_jpeg_baseline", ds, EXPLICIT_LE, "dcmcjpeg", "+eb", "+un")
    seed("mono8_jpeg_lossless", ds, EXPLICIT_LE, "dcmcjpeg", "+e1", "+un")
    seed("mono8_jpegls", ds, EXPLICIT_LE, "dcmcjpls", "+el", "+un")
    seed("mono8_rle", ds, EXPLICIT_LE, "dcmcrle")
    ds.NumberOfFrames = 2
    ds.PixelData = pack(x8, 8, 8, False) * 2
    seed("multiframe_rle", ds, EXPLICIT_LE, "dcmcrle")
    ds = base("seed12", 10, 12, "MONOCHROME1", 16, 12, False)
    ds.RescaleSlope = "0.5"
    ds.RescaleIntercept = "-100"
    ds.WindowCenter = ["900", "100"]
    ds.WindowWidth = ["1800", "50"]
    ds.PixelData = pack(x12, 16, 12, False)
    seed("mono1_12bit", ds)
    seed("mono1_12bit_jpegls", ds, EXPLICIT_LE, "dcmcjpls", "+el", "+un")
    ds.PixelData = pack(x12, 16, 12, False, big_endian=True)
    seed("mono1_12bit_big_endian", ds, EXPLICIT_BE)
    ds = base("seeds16", 10, 12, "MONOCHROME2", 16, 16, True)
    ds.PixelData = pack(x12 - 2048, 16, 16, True)
    item = Dataset()
    item.add_new(0x00283002, "US", [16, 0, 8])
    item.add_new(0x00283006, "US", list(range(0, 256, 16)))
    ds.VOILUTSequence = Sequence([item])
    seed("signed16_voi_lut", ds)
    ds = base("seedrgb", 10, 12, "RGB", 8, 8, False, sop=SC_SOP, spp=3)
    ds.PixelData = np.stack([x8, 255 - x8, x8 // 2], axis=-1).astype(np.uint8).tobytes()
    seed("rgb", ds)
    seed("rgb_rle", ds, EXPLICIT_LE, "dcmcrle")
    seed("rgb_jpeg_baseline", ds, EXPLICIT_LE, "dcmcjpeg", "+eb", "+un")
    return len(os.listdir(SEEDS))


def main():
    for tool in ("dcmcjpeg", "dcmcjpls", "dcmcrle", "dcmconv"):
        if not shutil.which(tool):
            sys.exit("make_dicom_fixtures: %s not found (apt-get install dcmtk)" % tool)
    if os.path.isdir(OUT):
        shutil.rmtree(OUT)
    os.makedirs(OUT)
    with tempfile.TemporaryDirectory() as tmp:
        mono8_src, _ = mono8_family(tmp)
        mono12_family(tmp)
        signed_family()
        voi_lut()
        rgb_family(tmp)
        multiframe()
        error_family(mono8_src)
        nseeds = fuzz_seeds(tmp)
    with open(os.path.join(OUT, "manifest.txt"), "w") as f:
        f.write("\n".join(manifest) + "\n")
    with open(os.path.join(OUT, "errors.txt"), "w") as f:
        f.write("\n".join(errors) + "\n")
    total = sum(os.path.getsize(os.path.join(OUT, n)) for n in os.listdir(OUT))
    print("wrote %d decodable + %d error fixtures to %s (%d bytes), %d fuzz seeds"
          % (len(manifest), len(errors), OUT, total, nseeds))


if __name__ == "__main__":
    main()
