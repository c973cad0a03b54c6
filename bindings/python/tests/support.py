"""Test helpers: fixture paths, the reference tensors, a small PNG reader.

Everything here is independent of libcovidcam so the tests compare the
binding against separate references (PyTorch fixtures, zlib decoding)."""

import array
import glob
import json
import os
import struct
import sys
import unittest
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE_ROOT = os.environ.get("CC_SOURCE_ROOT") or os.path.normpath(
    os.path.join(HERE, "..", "..", ".."))
FIXTURES = os.environ.get("CC_FIXTURES") or os.path.join(SOURCE_ROOT, "tests", "fixtures")
SHARED = os.environ.get("CC_SHARED_DATA") or os.path.normpath(
    os.path.join(SOURCE_ROOT, "..", "shared", "data", "cxr"))

sys.path.insert(0, os.path.normpath(os.path.join(HERE, "..")))

try:
    import numpy
except ImportError:
    numpy = None


def fixture(name):
    return os.path.join(FIXTURES, name)


def read(path):
    with open(path, "rb") as f:
        return f.read()


# ------------------------------------------------------------------ safetensors


def read_safetensors(path):
    """(header dict without __metadata__, metadata dict, {name: (shape, floats)})
    for the F32 tensors of a safetensors file."""
    buf = read(path)
    (n,) = struct.unpack("<Q", buf[:8])
    header = json.loads(buf[8:8 + n].decode("utf-8"))
    meta = header.pop("__metadata__", {}) or {}
    tensors = {}
    for name, info in header.items():
        if info["dtype"] != "F32":
            continue
        b, e = info["data_offsets"]
        a = array.array("f")
        a.frombytes(buf[8 + n + b:8 + n + e])
        if sys.byteorder != "little":
            a.byteswap()
        tensors[name] = (info["shape"], a)
    return header, meta, tensors


def write_with(src, dst, tensors, meta, drop_meta=()):
    """Copy src with F32 tensors ({name: (shape, flat list)}) appended and the
    metadata updated (an independent writer: not tools/ood_fit.py)."""
    buf = read(src)
    (n,) = struct.unpack("<Q", buf[:8])
    header = json.loads(buf[8:8 + n])
    body = bytearray(buf[8 + n:])
    for name, (shape, flat) in tensors.items():
        raw = array.array("f", flat).tobytes()
        header[name] = {"dtype": "F32", "shape": list(shape),
                        "data_offsets": [len(body), len(body) + len(raw)]}
        body += raw
    md = header.setdefault("__metadata__", {})
    md.update(meta)
    for k in drop_meta:
        md.pop(k, None)
    h = json.dumps(header).encode()
    h += b" " * (-len(h) % 8)
    with open(dst, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + bytes(body))



_expected = None


def expected(name):
    """(shape, array('f')) of a tensor in tests/fixtures/expected.safetensors."""
    global _expected
    if _expected is None:
        _expected = read_safetensors(fixture("expected.safetensors"))[2]
    return _expected[name]


def expected_names():
    expected("basic.logits.0")
    return list(_expected)


# ------------------------------------------------------------------ PNG


def decode_png(data):
    """(width, height, channels, bytes) of an 8-bit non-interlaced gray or RGB PNG."""
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError("not a PNG")
    pos, idat, ihdr = 8, [], None
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos:pos + 4])
        kind = data[pos + 4:pos + 8]
        body = data[pos + 8:pos + 8 + length]
        pos += 12 + length
        if kind == b"IHDR":
            ihdr = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat.append(body)
        elif kind == b"IEND":
            break
    w, h, depth, color, _, _, interlace = ihdr
    channels = {0: 1, 2: 3}.get(color)
    if depth != 8 or channels is None or interlace:
        raise ValueError("decode_png handles 8-bit gray/RGB non-interlaced only")
    raw = zlib.decompress(b"".join(idat))
    return w, h, channels, _unfilter(raw, w * channels, h, channels)


def _paeth(a, b, c):
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    if pa <= pb and pa <= pc:
        return a
    return b if pb <= pc else c


def _unfilter(raw, stride, height, bpp):
    out = bytearray(stride * height)
    prev = bytearray(stride)
    for y in range(height):
        f = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for x in range(stride):
            a = line[x - bpp] if x >= bpp else 0
            b = prev[x]
            c = prev[x - bpp] if x >= bpp else 0
            pred = (0, a, b, (a + b) // 2, _paeth(a, b, c))[f] if f else 0
            line[x] = (line[x] + pred) & 0xFF
        out[y * stride:(y + 1) * stride] = line
        prev = line
    return bytes(out)


# ------------------------------------------------------------------ data


def xrays(per_class=3):
    """Up to per_class sorted PNG paths from each class folder of val/."""
    out = []
    for d in sorted(glob.glob(os.path.join(SHARED, "val", "*"))):
        out += sorted(glob.glob(os.path.join(d, "*.png")))[:per_class]
    return out


def need_xrays(per_class=3):
    files = xrays(per_class)
    if not files:
        raise unittest.SkipTest("no X-rays under %s/val" % SHARED)
    return files


def max_abs_diff(a, b):
    assert len(a) == len(b), (len(a), len(b))
    return max((abs(x - y) for x, y in zip(a, b)), default=0.0)


def flatten(rows):
    return [v for r in rows for v in r]


# ------------------------------------------------------------------ CPU


# ONEDNN_MAX_CPU_ISA values below AVX512_CORE_BF16: they take native bf16 away.
ISA_BELOW_BF16 = ("SSE41", "AVX", "AVX2", "AVX2_VNNI", "AVX512_CORE", "AVX512_CORE_VNNI")


def bf16_native():
    """(expected, reason): whether a BF16 session should work here, decided
    without the library: /proc/cpuinfo has avx512_bf16 or amx_bf16 and
    ONEDNN_MAX_CPU_ISA (if set) does not cap the ISA below AVX512_CORE_BF16."""
    flags = set()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    flags.update(line.split(":", 1)[1].split())
    except OSError:
        return False, "no /proc/cpuinfo"
    have = sorted(flags & {"avx512_bf16", "amx_bf16"})
    if not have:
        return False, "the CPU flags have neither avx512_bf16 nor amx_bf16"
    cap = os.environ.get("ONEDNN_MAX_CPU_ISA", "").strip().upper()
    if cap in ISA_BELOW_BF16:
        return False, "ONEDNN_MAX_CPU_ISA=%s caps oneDNN below AVX512_CORE_BF16" % cap
    return True, "CPU has %s%s" % (", ".join(have),
                                   ", ONEDNN_MAX_CPU_ISA=%s" % cap if cap else "")
