#!/usr/bin/env python3
"""Write the seed corpus of the fuzz harnesses (fuzz/corpus/<harness>/).

Every seed is generated here from a fixed pseudo-random stream: small PNGs of
every color type, bit depth and interlace method libpng reads, tiny covidcam
models in F32/F16/BF16, and Grad-CAM option prefixes. No radiograph (and
nothing from ../shared) goes into the repository.

    python3 fuzz/make_corpus.py          # rewrites fuzz/corpus/
Plain python3 (standard library only); the output is deterministic.
"""
import json
import os
import random
import shutil
import struct
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "corpus")

# ----------------------------------------------------------------- PNG


def chunk(kind, data):
    body = kind + data
    return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body) & 0xFFFFFFFF)


def pack_row(samples, depth):
    """Pack one row of integer samples at `depth` bits, big-endian."""
    if depth == 8:
        return bytes(samples)
    if depth == 16:
        return b"".join(struct.pack(">H", s) for s in samples)
    out, acc, bits = bytearray(), 0, 0
    for s in samples:
        acc = (acc << depth) | s
        bits += depth
        if bits == 8:
            out.append(acc)
            acc, bits = 0, 0
    if bits:
        out.append(acc << (8 - bits))
    return bytes(out)


CHANNELS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}
ADAM7 = [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)]


def filtered(rows, bpp, filt):
    """Apply PNG filter `filt` (0-4) to packed rows; returns the IDAT payload."""
    out, prev = bytearray(), None
    for row in rows:
        up = prev if prev is not None else bytes(len(row))
        f = bytearray()
        for i, x in enumerate(row):
            a = row[i - bpp] if i >= bpp else 0
            b = up[i]
            c = up[i - bpp] if i >= bpp else 0
            if filt == 0:
                p = 0
            elif filt == 1:
                p = a
            elif filt == 2:
                p = b
            elif filt == 3:
                p = (a + b) // 2
            else:
                pa, pb, pc = abs(b - c), abs(a - c), abs(a + b - 2 * c)
                p = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
            f.append((x - p) & 0xFF)
        out.append(filt)
        out += f
        prev = row
    return bytes(out)


def png(w, h, color, depth, rnd, interlace=False, filt=0, extra=()):
    ch = CHANNELS[color]
    maxv = (1 << depth) - 1
    pix = [[[rnd.randint(0, maxv if color != 3 else min(3, maxv)) for _ in range(ch)]
            for _ in range(w)] for _ in range(h)]
    bpp = max(1, ch * depth // 8)

    def rows_of(xs, ys):
        return [pack_row([s for x in xs for s in pix[y][x]], depth) for y in ys]

    if interlace:
        data = b""
        for x0, y0, dx, dy in ADAM7:
            xs, ys = list(range(x0, w, dx)), list(range(y0, h, dy))
            if xs and ys:
                data += filtered(rows_of(xs, ys), bpp, filt)
    else:
        data = filtered(rows_of(range(w), range(h)), bpp, filt)
    ihdr = struct.pack(">IIBBBBB", w, h, depth, color, 0, 0, 1 if interlace else 0)
    out = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr)
    if color == 3:
        out += chunk(b"PLTE", bytes([0, 0, 0, 255, 0, 0, 0, 255, 0, 40, 80, 250]))
    for kind, payload in extra:
        out += chunk(kind, payload)
    return out + chunk(b"IDAT", zlib.compress(data, 9)) + chunk(b"IEND", b"")


def png_seeds(rnd):
    seeds = {}
    for color, depths in ((0, (1, 2, 4, 8, 16)), (2, (8, 16)), (3, (1, 2, 4, 8)), (4, (8, 16)), (6, (8, 16))):
        for depth in depths:
            w, h = rnd.randint(1, 40), rnd.randint(1, 40)
            seeds["c%d_d%d_%dx%d.png" % (color, depth, w, h)] = png(w, h, color, depth, rnd, filt=rnd.randint(0, 4))
    seeds["adam7_gray8_13x11.png"] = png(13, 11, 0, 8, rnd, interlace=True)
    seeds["adam7_rgba16_9x9.png"] = png(9, 9, 6, 16, rnd, interlace=True, filt=4)
    seeds["gray8_64x64_paeth.png"] = png(64, 64, 0, 8, rnd, filt=4)
    seeds["gray8_1x1.png"] = png(1, 1, 0, 8, rnd)
    ancillary = (
        (b"gAMA", struct.pack(">I", 45455)),
        (b"cHRM", struct.pack(">8I", 31270, 32900, 64000, 33000, 30000, 60000, 15000, 6000)),
        (b"sRGB", b"\x00"),
        (b"tEXt", b"Comment\x00generated seed"),
        (b"zTXt", b"Title\x00\x00" + zlib.compress(b"a compressed text chunk")),
    )
    seeds["rgb8_ancillary_17x5.png"] = png(17, 5, 2, 8, rnd, extra=ancillary)
    seeds["pal_trns_6x6.png"] = png(6, 6, 3, 8, rnd, extra=((b"tRNS", b"\x00\x80"),))
    return seeds


# ----------------------------------------------------------------- models


def bn(prefix, c):
    return [("%s.%s" % (prefix, p), [c]) for p in ("weight", "bias", "running_mean", "running_var")]


def arch_tensors(block, layers, widths, stem, in_ch, nc):
    """Names and shapes of docs/model-format.md, in file order."""
    exp = 4 if block == "bottleneck" else 1
    t = [("conv1.weight", [stem, in_ch, 7, 7])] + bn("bn1", stem)
    cin = stem
    for s, (n, w) in enumerate(zip(layers, widths)):
        for i in range(n):
            stride = 2 if s > 0 and i == 0 else 1
            name = "layer%d.%d" % (s + 1, i)
            out = w * exp
            if block == "bottleneck":
                convs = [(cin, w, 1), (w, w, 3), (w, out, 1)]
            else:
                convs = [(cin, w, 3), (w, out, 3)]
            for k, (ci, co, ks) in enumerate(convs):
                t.append(("%s.conv%d.weight" % (name, k + 1), [co, ci, ks, ks]))
                t += bn("%s.bn%d" % (name, k + 1), co)
            if stride != 1 or cin != out:
                t.append(("%s.downsample.0.weight" % name, [out, cin, 1, 1]))
                t += bn("%s.downsample.1" % name, out)
            cin = out
    return t + [("fc.weight", [nc, cin]), ("fc.bias", [nc])]


def encode(values, dtype):
    if dtype == "F32":
        return struct.pack("<%df" % len(values), *values)
    if dtype == "F16":
        return struct.pack("<%de" % len(values), *values)
    raw = struct.pack("<%df" % len(values), *values)  # BF16: round to nearest even
    out = bytearray()
    for i in range(0, len(raw), 4):
        u = struct.unpack("<I", raw[i:i + 4])[0]
        u = (u + 0x7FFF + ((u >> 16) & 1)) >> 16
        out += struct.pack("<H", u)
    return bytes(out)


def model(rnd, block, layers, widths, stem, size, in_ch, classes, dtype="F32", extra_meta=None,
          extra_tensors=(), override=None):
    tensors = arch_tensors(block, layers, widths, stem, in_ch, len(classes))
    meta = {"format": "covidcam", "format_version": "1", "arch": "resnet", "block": block,
            "layers": json.dumps(layers), "widths": json.dumps(widths), "stem_width": str(stem),
            "input_size": str(size), "input_channels": str(in_ch),
            "mean": json.dumps([127.5] * in_ch), "std": json.dumps([64.0] * in_ch),
            "classes": json.dumps(classes)}
    meta.update(extra_meta or {})
    header, data = {"__metadata__": meta}, b""
    for name, shape in tensors:
        n = 1
        for d in shape:
            n *= d
        positive = name.endswith("running_var") or (".bn" in name or name.startswith("bn1")) and name.endswith("weight")
        vals = [(0.5 + rnd.random()) if positive else (rnd.random() - 0.5) for _ in range(n)]
        if override:
            vals = override(name, vals)
        blob = encode(vals, dtype)
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [len(data), len(data) + len(blob)]}
        data += blob
    for name, dtype_x, blob in extra_tensors:
        header[name] = {"dtype": dtype_x, "shape": [len(blob) // 8], "data_offsets": [len(data), len(data) + len(blob)]}
        data += blob
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text)) + text + data


def with_entry(blob, name, entry):
    """The model `blob` with one more header entry (no data), listed last."""
    (n,) = struct.unpack("<Q", blob[:8])
    header = json.loads(blob[8:8 + n])
    header[name] = entry
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text)) + text + blob[8 + n:]


def with_ood(blob, classes, features, threshold="2.5"):
    """The model `blob` with OOD statistics (docs/model-format.md): class k's
    mean k in every feature, the identity as precision, appended F32 data."""
    (n,) = struct.unpack("<Q", blob[:8])
    header = json.loads(blob[8:8 + n])
    data = bytearray(blob[8 + n:])
    means = [float(k) for k in range(classes) for _ in range(features)]
    prec = [1.0 if i == j else 0.0 for i in range(features) for j in range(features)]
    for name, shape, vals in (("ood.class_means", [classes, features], means),
                              ("ood.precision", [features, features], prec)):
        raw = struct.pack("<%df" % len(vals), *vals)
        header[name] = {"dtype": "F32", "shape": shape, "data_offsets": [len(data), len(data) + len(raw)]}
        data += raw
    header["__metadata__"].update({"ood_method": "mahalanobis", "ood_threshold": threshold})
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text)) + text + bytes(data)


def hostile_seeds(rnd):
    """Models that pass the file checks but attack the numbers: logits that
    overflow float, subnormal weights, mean/std that are not floats, and an
    empty tensor at [0, 0] listed after the tensor starting there."""
    huge_fc = (lambda name, v: [3e38] * len(v) if name == "fc.weight" else v)
    subnormal = (lambda name, v: [1e-40 if x > 0 else -1e-40 for x in v]
                 if name.endswith("conv1.weight") or ".conv" in name else v)
    return {
        "overflow_fc.safetensors": model(rnd, "basic", [1], [2], 2, 16, 1, ["a", "b"],
                                         override=huge_fc),
        "subnormal_conv.safetensors": model(rnd, "basic", [1], [2], 2, 16, 1, ["a", "b"],
                                            override=subnormal),
        "tiny_std.safetensors": model(rnd, "basic", [1], [2], 2, 16, 1, ["a", "b"],
                                      extra_meta={"std": "[1e-46]"}),
        "huge_mean.safetensors": model(rnd, "basic", [1], [2], 2, 16, 1, ["a", "b"],
                                       extra_meta={"mean": "[1e39]"}),
        "empty_tensor_at_0.safetensors": with_entry(
            model(rnd, "basic", [1], [1], 1, 8, 1, ["p", "q"]), "bn1.num_batches_tracked",
            {"dtype": "I64", "shape": [0], "data_offsets": [0, 0]}),
    }


def int8_scales(names, value=0.02, **edits):
    """An int8_scales metadata value for the activation names, with edits
    (name: value, None removes it)."""
    sc = {n: value for n in names}
    for k, v in edits.items():
        if v is None:
            sc.pop(k.replace("__", "."), None)
        else:
            sc[k.replace("__", ".")] = v
    return json.dumps(sc)


# the activations int8 quantizes in model(rnd, "basic", [1], [2], 2, ...) (no
# downsample) and in model(rnd, "bottleneck", [1, 1], [1, 2], 2, ...)
BASIC_Q = ["input", "conv1", "layer1.0.conv1", "layer1.0"]
BOTTLENECK_Q = ["input", "conv1", "layer1.0.conv1", "layer1.0.conv2", "layer1.0",
                "layer1.0.downsample", "layer2.0.conv1", "layer2.0.conv2", "layer2.0",
                "layer2.0.downsample"]


def int8_seeds(rnd):
    """Calibrated files (int8 sessions run) and hostile int8_scales."""
    def basic(scales):
        return model(rnd, "basic", [1], [2], 2, 16, 1, ["a", "b"],
                     extra_meta={"int8_scales": scales, "int8_method": "minmax"})
    return {
        "int8_basic.safetensors": basic(int8_scales(BASIC_Q)),
        "int8_bottleneck.safetensors": model(rnd, "bottleneck", [1, 1], [1, 2], 2, 16, 3,
                                             ["x", "y", "z", "w"],
                                             extra_meta={"int8_scales": int8_scales(BOTTLENECK_Q)}),
        "int8_zero.safetensors": basic(int8_scales(BASIC_Q, layer1__0=0)),
        "int8_tiny.safetensors": basic(int8_scales(BASIC_Q, conv1=1e-300)),
        "int8_missing.safetensors": basic(int8_scales(BASIC_Q, input=None)),
        "int8_unknown.safetensors": basic(int8_scales(BASIC_Q, layer9__0=0.1)),
        "int8_not_object.safetensors": basic("[0.02, 0.02]"),
    }


def model_seeds(rnd):
    return {
        "basic_f32.safetensors": model(rnd, "basic", [1], [2], 2, 16, 1, ["a", "b"]),
        "basic2_f16.safetensors": model(rnd, "basic", [1, 1], [2, 3], 2, 24, 1, ["COVID", "Normal", "Viral"], "F16",
                                        {"bn_eps": "0.001", "description": "seed"}),
        "bottleneck_bf16.safetensors": model(rnd, "bottleneck", [1, 1], [1, 2], 2, 16, 3, ["x", "y", "z", "w"], "BF16"),
        "tracked.safetensors": model(rnd, "basic", [1], [1], 1, 8, 1, ["p", "q"],
                                     extra_tensors=(("bn1.num_batches_tracked", "I64", struct.pack("<q", 7)),)),
        "resnet18_no_tensors.safetensors": (lambda t: struct.pack("<Q", len(t)) + t)(
            json.dumps({"__metadata__": {"format": "covidcam", "format_version": "1", "arch": "resnet18",
                                         "input_size": "224", "input_channels": "3", "mean": "[1,2,3]",
                                         "std": "[1,1,1]", "classes": "[\"a\",\"b\"]"}}).encode()),
        # the optional metadata of 0.3: calibration, resize mode, OOD statistics
        "ood_pad_calibrated.safetensors": with_ood(
            model(rnd, "basic", [1], [2], 2, 16, 1, ["a", "b"],
                  extra_meta={"temperature": "0.5", "resize": "pad"}), 2, 2),
    }


# ----------------------------------------------------------------- Grad-CAM


def gradcam_seeds(rnd):
    """8 option bytes + image (see fuzz_gradcam.c) for the 10 layers of basic."""
    seeds = {}
    for k in range(12):
        method, layer, cls = k % 3, k if k < 10 else 242 + k, (-1 if k % 4 == 0 else k % 3) & 0xFF
        w, h = rnd.randint(8, 48), rnd.randint(8, 48)
        if k % 2:
            px = bytes(rnd.randint(0, 255) for _ in range(w * h))
            head = bytes([method, layer, cls, 1]) + struct.pack("<H", w) + bytes([rnd.randint(0, 255), rnd.randint(0, 255)])
            seeds["l%02d_m%d_pixels_%dx%d" % (layer, method, w, h)] = head + px
        else:
            head = bytes([method, layer, cls, 0, 0, 0, rnd.randint(0, 255), rnd.randint(0, 255)])
            seeds["l%02d_m%d_png_%dx%d" % (layer, method, w, h)] = head + png(w, h, 0, 8, rnd, filt=k % 5)
    return seeds


def write(sub, seeds):
    d = os.path.join(OUT, sub)
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    for name, data in sorted(seeds.items()):
        with open(os.path.join(d, name), "wb") as f:
            f.write(data)
    print("%-13s %3d seeds, %6d bytes" % (sub, len(seeds), sum(len(v) for v in seeds.values())))


def main():
    write("png_classify", png_seeds(random.Random(1)))
    write("gradcam", gradcam_seeds(random.Random(3)))
    seeds = model_seeds(random.Random(2))
    seeds.update(hostile_seeds(random.Random(4)))
    seeds.update(int8_seeds(random.Random(5)))
    write("model_load", seeds)


if __name__ == "__main__":
    main()
