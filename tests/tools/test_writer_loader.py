#!/usr/bin/env python3
"""tools/covidcam_meta.py (the writer's metadata rules) and the C loader agree.

usage: test_writer_loader.py LIBCOVIDCAM.so FIXTURES_DIR

Every case is written at a limit and just past it. The writer's verdict
(metadata or ValueError) must match the loader's (covidcam_model_load_from_memory
OK or not): what the writer refuses is forced into a file by hand and must be
refused by the library too. The weights are those of tests/fixtures/basic.safetensors
with fc resized to the class count. Standard library only (no torch, no numpy).

Then the temperature a model carries is applied: the probabilities the library
reports are softmax(logits / T) of the logits of the same call, recomputed here.
"""
import ctypes
import json
import math
import os
import struct
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tools"))
import covidcam_meta as cm  # noqa: E402

BASE = dict(arch="resnet", block="basic", layers=[1, 2, 1, 2], widths=[8, 16, 16, 32],
            stem_width=8, input_size=64, input_channels=1, mean=[129.5], std=[61.25],
            classes=["COVID", "Normal", "ViralPneumonia"])
NAMES300 = "x" * 300

# (what, changes, writer and loader accept?)
CASES = [
    ("2 classes", dict(classes=["A", "B"]), True),
    ("1 class", dict(classes=["A"]), False),
    ("1000 classes", dict(classes=["c%d" % i for i in range(1000)]), True),
    ("1001 classes", dict(classes=["c%d" % i for i in range(1001)]), False),
    ("255-byte name", dict(classes=["A", "y" * 255]), True),
    ("256-byte name", dict(classes=["A", "y" * 256]), False),
    ("300-byte name", dict(classes=["A", NAMES300]), False),
    ("127 two-byte chars (254 bytes)", dict(classes=["A", "\u00e9" * 127]), True),
    ("128 two-byte chars (256 bytes)", dict(classes=["A", "\u00e9" * 128]), False),
    ("empty name", dict(classes=["A", ""]), False),
    ("duplicate", dict(classes=["A", "B", "A"]), False),
    ("newline", dict(classes=["A", "B\nCOVID 0.99"]), False),
    ("escape", dict(classes=["A", "\x1b[2J"]), False),
    ("DEL", dict(classes=["A", "B\x7f"]), False),
    ("C1 U+0085", dict(classes=["A", "B\x85"]), False),
    ("C1 U+009F", dict(classes=["A", "B\x9f"]), False),
    ("U+00A0 (printable)", dict(classes=["A", "B\xa0"]), True),
    ("lone surrogate", dict(classes=["A", "B\ud800"]), False),
    ("input_size 8", dict(input_size=8), True),
    ("input_size 7", dict(input_size=7), False),
    ("input_size 4", dict(input_size=4), False),
    ("input_size 1024", dict(input_size=1024), True),
    ("input_size 1025", dict(input_size=1025), False),
    ("bn_eps 0.1", dict(bn_eps=0.1), True),
    ("bn_eps 0.1001", dict(bn_eps=0.1001), False),
    ("bn_eps 1.0", dict(bn_eps=1.0), False),
    ("bn_eps 1e-10", dict(bn_eps=1e-10), True),
    ("bn_eps 9.9e-11", dict(bn_eps=9.9e-11), False),
    ("bn_eps 1e-40", dict(bn_eps=1e-40), False),
    ("bn_eps '1e-3'", dict(bn_eps="1e-3"), True),
    ("temperature 1.5", dict(temperature=1.5), True),
    ("temperature 0.01", dict(temperature=0.01), True),
    ("temperature 0.0099", dict(temperature=0.0099), False),
    ("temperature 100", dict(temperature=100.0), True),
    ("temperature 100.01", dict(temperature=100.01), False),
    ("temperature 0", dict(temperature=0.0), False),
    ("temperature -1", dict(temperature=-1.0), False),
    ("temperature 'nan'", dict(temperature="nan"), False),
    ("resize stretch", dict(resize="stretch"), True),
    ("resize center_crop", dict(resize="center_crop"), True),
    ("resize pad", dict(resize="pad"), True),
    ("resize letterbox", dict(resize="letterbox"), False),
    ("resize Pad", dict(resize="Pad"), False),
    ("std 0.001", dict(std=[0.001]), True),
    ("std 0.00099", dict(std=[0.00099]), False),
    ("std 1e-40", dict(std=[1e-40]), False),
    ("std 1e-46", dict(std=[1e-46]), False),
    ("std 10000", dict(std=[10000.0]), True),
    ("std 10000.01", dict(std=[10000.01]), False),
    ("std 1e39", dict(std=[1e39]), False),
    ("mean -10000", dict(mean=[-10000.0]), True),
    ("mean 10000.01", dict(mean=[10000.01]), False),
    ("mean 1e39", dict(mean=[1e39]), False),
]


def raw_meta(kw):
    """The metadata strings for kw, serialised as the writer does, unchecked."""
    meta = {"format": "covidcam", "format_version": "1", "arch": kw["arch"],
            "block": kw["block"], "layers": json.dumps(kw["layers"]),
            "widths": json.dumps(kw["widths"]), "stem_width": str(kw["stem_width"]),
            "input_size": str(kw["input_size"]), "input_channels": str(kw["input_channels"]),
            "mean": json.dumps([float(v) for v in kw["mean"]]),
            "std": json.dumps([float(v) for v in kw["std"]]),
            "classes": json.dumps(kw["classes"])}
    if "bn_eps" in kw:
        b = kw["bn_eps"]
        meta["bn_eps"] = b if isinstance(b, str) else repr(float(b))
    if "temperature" in kw:
        t = kw["temperature"]
        meta["temperature"] = t if isinstance(t, str) else repr(float(t))
    if "resize" in kw:
        meta["resize"] = kw["resize"]
    return meta


def read_fixture(path):
    with open(path, "rb") as f:
        b = f.read()
    n = struct.unpack("<Q", b[:8])[0]
    header = json.loads(b[8:8 + n])
    header.pop("__metadata__", None)
    data = b[8 + n:]
    return {k: (v["dtype"], v["shape"], data[v["data_offsets"][0]:v["data_offsets"][1]])
            for k, v in header.items()}


def serialise(tensors, meta, classes):
    tensors = dict(tensors)
    dtype, (rows, feats), w = tensors["fc.weight"]
    k = len(classes)
    row = [w[(i % rows) * feats * 4:(i % rows + 1) * feats * 4] for i in range(k)]
    tensors["fc.weight"] = ("F32", [k, feats], b"".join(row))
    tensors["fc.bias"] = ("F32", [k], struct.pack("<%df" % k, *[0.01 * i for i in range(k)]))
    header, chunks, off = {"__metadata__": meta}, [], 0
    for name, (dt, shape, raw) in tensors.items():
        header[name] = {"dtype": dt, "shape": shape, "data_offsets": [off, off + len(raw)]}
        chunks.append(raw)
        off += len(raw)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    return struct.pack("<Q", len(h)) + h + b"".join(chunks)


def main():
    lib = ctypes.CDLL(sys.argv[1])
    lib.covidcam_model_load_from_memory.argtypes = [ctypes.c_void_p, ctypes.c_size_t,
                                                    ctypes.POINTER(ctypes.c_void_p),
                                                    ctypes.c_char_p, ctypes.c_size_t]
    lib.covidcam_model_free.argtypes = [ctypes.c_void_p]
    tensors = read_fixture(os.path.join(sys.argv[2], "basic.safetensors"))
    failures = 0
    for what, change, accept in CASES:
        kw = dict(BASE, **change)
        try:
            meta = cm.covidcam_meta(**kw)
            writer = "writes"
        except ValueError as e:
            meta = raw_meta(kw)
            writer = "refuses (%s)" % e
        buf = serialise(tensors, meta, kw["classes"])
        model = ctypes.c_void_p()
        err = ctypes.create_string_buffer(512)
        st = lib.covidcam_model_load_from_memory(buf, len(buf), ctypes.byref(model), err, 512)
        lib.covidcam_model_free(model)
        loader = "loads" if st == 0 else "refuses (%s)" % err.value.decode(errors="replace")
        ok = (writer == "writes") == accept and (st == 0) == accept
        failures += not ok
        print("%s %-32s writer %s; loader %s" % ("ok  " if ok else "FAIL", what,
                                                  writer[:80], loader[:100]))
    print("%d of %d cases disagree" % (failures, len(CASES)))
    for t in (1.0, 2.5, 0.4):
        failures += check_temperature(lib, tensors, t)
    return 1 if failures else 0


def check_temperature(lib, tensors, t):
    """1 when the library's probabilities are not softmax(logits / t)."""
    kw = dict(BASE, temperature=t) if t != 1.0 else dict(BASE)
    buf = serialise(tensors, cm.covidcam_meta(**kw), kw["classes"])
    model, sess = ctypes.c_void_p(), ctypes.c_void_p()
    err = ctypes.create_string_buffer(512)
    lib.covidcam_session_create.argtypes = [ctypes.c_void_p, ctypes.c_void_p,
                                            ctypes.POINTER(ctypes.c_void_p), ctypes.c_char_p,
                                            ctypes.c_size_t]
    lib.covidcam_session_free.argtypes = [ctypes.c_void_p]
    lib.covidcam_model_temperature.argtypes = [ctypes.c_void_p]
    lib.covidcam_model_temperature.restype = ctypes.c_float
    f3 = ctypes.c_float * 3
    lib.covidcam_classify_pixels.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int,
                                             ctypes.c_int, ctypes.c_size_t, f3, f3,
                                             ctypes.c_size_t, ctypes.POINTER(ctypes.c_int)]
    if lib.covidcam_model_load_from_memory(buf, len(buf), ctypes.byref(model), err, 512) or \
            lib.covidcam_session_create(model, None, ctypes.byref(sess), err, 512):
        print("FAIL temperature %g: %s" % (t, err.value.decode(errors="replace")))
        return 1
    side = 40
    pixels = bytes((x * 7 + y * 3) % 256 for y in range(side) for x in range(side))
    probs, logits, top = f3(), f3(), ctypes.c_int(-1)
    st = lib.covidcam_classify_pixels(sess, pixels, side, side, side, probs, logits, 3,
                                      ctypes.byref(top))
    got_t = lib.covidcam_model_temperature(model)
    lib.covidcam_session_free(sess)
    lib.covidcam_model_free(model)
    z = [v / t for v in logits]
    m = max(z)
    want = [math.exp(v - m) / sum(math.exp(u - m) for u in z) for v in z]
    worst = max(abs(a - b) for a, b in zip(probs, want))
    ok = st == 0 and abs(got_t - t) < 1e-6 and worst < 1e-6 and top.value == z.index(m)
    print("%s temperature %-6g model says %g; max |p - softmax(z/T)| %.2e" %
          ("ok  " if ok else "FAIL", t, got_t, worst))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
