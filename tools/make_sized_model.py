#!/usr/bin/python3
"""Write a covidcam model of a chosen size with random weights, for measuring
memory and speed (docs/security.md, "Memory"). numpy only; the weights are
He-initialised with unit batch norm, so activations stay finite and the
network does real work, but the answers mean nothing.

    /usr/bin/python3 tools/make_sized_model.py OUT.safetensors --arch resnet50 \
        --input-size 1024 [--dtype BF16] [--channels 3]
    /usr/bin/python3 tools/make_sized_model.py OUT.safetensors --arch resnet \
        --block basic --layers 2,2,2,2 --widths 128,256,512,1024 --stem 128
"""
import argparse
import json
import struct

import numpy as np

NAMED = {"resnet18": ("basic", [2, 2, 2, 2]), "resnet34": ("basic", [3, 4, 6, 3]),
         "resnet50": ("bottleneck", [3, 4, 6, 3]), "resnet101": ("bottleneck", [3, 4, 23, 3])}


def tensors(block, layers, widths, stem, in_ch, classes):
    """(name, shape) in the order of lib/net/arch.c."""
    out = [("conv1.weight", (stem, in_ch, 7, 7))] + bn("bn1", stem)
    exp = 4 if block == "bottleneck" else 1
    ch = stem
    for s, (n, w) in enumerate(zip(layers, widths)):
        for b in range(n):
            convs = 3 if block == "bottleneck" else 2
            for c in range(1, convs + 1):
                ci = ch if c == 1 else w
                co = w * exp if c == convs else w
                k = 1 if block == "bottleneck" and c != 2 else 3
                out += [("layer%d.%d.conv%d.weight" % (s + 1, b, c), (co, ci, k, k))]
                out += bn("layer%d.%d.bn%d" % (s + 1, b, c), co)
            if (s > 0 and b == 0) or ch != w * exp:
                out += [("layer%d.%d.downsample.0.weight" % (s + 1, b), (w * exp, ch, 1, 1))]
                out += bn("layer%d.%d.downsample.1" % (s + 1, b), w * exp)
            ch = w * exp
    return out + [("fc.weight", (classes, ch)), ("fc.bias", (classes,))]


def bn(prefix, c):
    return [(prefix + "." + p, (c,)) for p in ("weight", "bias", "running_mean", "running_var")]


def values(name, shape, rng):
    if name.endswith("running_var") or (name.endswith(".weight") and len(shape) == 1):
        return np.ones(shape, np.float32)
    if len(shape) == 1:
        return np.zeros(shape, np.float32)
    fan_in = int(np.prod(shape[1:]))
    return (rng.standard_normal(shape) * np.sqrt(2.0 / fan_in)).astype(np.float32)


def encode(a, dtype):
    if dtype == "F32":
        return a.astype("<f4").tobytes()
    if dtype == "F16":
        return a.astype("<f2").tobytes()
    return (a.astype("<f4").view("<u4") >> 16).astype("<u2").tobytes()  # BF16, truncated


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("out")
    p.add_argument("--arch", default="resnet50", choices=sorted(NAMED) + ["resnet"])
    p.add_argument("--block", default="basic", choices=["basic", "bottleneck"])
    p.add_argument("--layers", default="2,2,2,2")
    p.add_argument("--widths", default="64,128,256,512")
    p.add_argument("--stem", type=int, default=64)
    p.add_argument("--input-size", type=int, default=224)
    p.add_argument("--channels", type=int, default=1, choices=[1, 3])
    p.add_argument("--classes", type=int, default=3)
    p.add_argument("--dtype", default="F32", choices=["F32", "F16", "BF16"])
    a = p.parse_args()
    meta = {"format": "covidcam", "format_version": "1", "arch": a.arch,
            "input_size": str(a.input_size), "input_channels": str(a.channels),
            "mean": json.dumps([127.5] * a.channels), "std": json.dumps([64.0] * a.channels),
            "classes": json.dumps(["c%d" % i for i in range(a.classes)])}
    if a.arch == "resnet":
        block, layers = a.block, [int(x) for x in a.layers.split(",")]
        widths, stem = [int(x) for x in a.widths.split(",")], a.stem
        meta.update(block=block, layers=json.dumps(layers), widths=json.dumps(widths),
                    stem_width=str(stem))
    else:
        (block, layers), widths, stem = NAMED[a.arch], [64, 128, 256, 512], 64
    rng = np.random.default_rng(0)
    header, blobs, off = {"__metadata__": meta}, [], 0
    for name, shape in tensors(block, layers, widths, stem, a.channels, a.classes):
        b = encode(values(name, shape, rng), a.dtype)
        header[name] = {"dtype": a.dtype, "shape": list(shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    j = json.dumps(header, separators=(",", ":")).encode()
    j += b" " * (-len(j) % 8)
    with open(a.out, "wb") as f:
        f.write(struct.pack("<Q", len(j)) + j)
        for b in blobs:
            f.write(b)


if __name__ == "__main__":
    main()
