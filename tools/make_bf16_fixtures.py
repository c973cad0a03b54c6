#!/usr/bin/python3
"""Reference logits of a bf16 session for the fixture models (deterministic).

    /usr/bin/python3 tools/make_bf16_fixtures.py [--fixtures tests/fixtures]

Writes expected_bf16.safetensors beside the fixtures. It emulates, in float64
on any CPU, what a COVIDCAM_PRECISION_BF16 session computes (docs/precision.md):

  * batch norm folded into each convolution as the loader does (scale in
    float64, weights rounded to float32), then the weights rounded to bf16;
  * the input tensor rounded to bf16;
  * every convolution on bf16 values with exact products and a wide sum, plus
    the fp32 bias, the residual (a bf16 tensor) and ReLU, rounded to fp32 (the
    accumulator) and then to bf16 (the stored activation);
  * max pooling on bf16 values (exact);
  * the last block's output widened to fp32, average pooling and the fc in
    fp32 weights, as the head of a bf16 session runs.

Rounding is to nearest, ties to even, as oneDNN's conversions are. The only
difference left to the library is the order of the fp32 accumulation inside
each convolution; tests/api/test_precision.c derives its tolerance from that.
"""

import argparse
import os
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import covidcam_torch as ct  # noqa: E402

MODELS = ("basic", "bottleneck")
NUM_INPUTS = 3


def bf16(x):
    """float64 -> fp32 -> bf16 (both to nearest even), back as float64."""
    return x.float().to(torch.bfloat16).double()


def bf16_forward(t, meta, x):
    eps = float(meta.get("bn_eps", "1e-5"))
    block, layers, _, _ = ct.arch_from_meta(meta)
    t = {k: v.double() for k, v in t.items()}

    def conv(x, conv_name, bn_name, stride, pad, residual=None, relu=True):
        scale = t[bn_name + ".weight"] / torch.sqrt(t[bn_name + ".running_var"] + eps)
        w = bf16((t[conv_name + ".weight"] * scale[:, None, None, None]).float().double())
        b = (t[bn_name + ".bias"] - t[bn_name + ".running_mean"] * scale).float().double()
        y = F.conv2d(x, w, b, stride=stride, padding=pad)
        if residual is not None:
            y = y + residual
        return bf16(F.relu(y) if relu else y)

    x = F.max_pool2d(conv(bf16(x), "conv1", "bn1", 2, 3), 3, 2, 1)
    for s, n in enumerate(layers):
        for i in range(n):
            p = "layer%d.%d." % (s + 1, i)
            stride = 2 if (s > 0 and i == 0) else 1
            idn = x
            if p + "downsample.0.weight" in t:
                idn = conv(x, p + "downsample.0", p + "downsample.1", stride, 0, relu=False)
            if block == "basic":
                y = conv(x, p + "conv1", p + "bn1", stride, 1)
                x = conv(y, p + "conv2", p + "bn2", 1, 1, residual=idn)
            else:
                y = conv(x, p + "conv1", p + "bn1", 1, 0)
                y = conv(y, p + "conv2", p + "bn2", stride, 1)
                x = conv(y, p + "conv3", p + "bn3", 1, 0, residual=idn)
    pooled = x.mean(dim=(2, 3))
    return pooled @ t["fc.weight"].T + t["fc.bias"]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    ap.add_argument("--fixtures", default=os.path.join(root, "tests", "fixtures"))
    a = ap.parse_args()
    torch.set_num_threads(1)  # bitwise-reproducible float64 reductions
    expected, _ = ct.load_safetensors(os.path.join(a.fixtures, "expected.safetensors"))
    out = {}
    for name in MODELS:
        tensors, meta = ct.load_safetensors(os.path.join(a.fixtures, name + ".safetensors"))
        for k in range(NUM_INPUTS):
            x = expected["%s.input.%d" % (name, k)].double()[None]
            with torch.no_grad():
                z = bf16_forward(tensors, meta, x)[0]
            out["%s.logits_bf16.%d" % (name, k)] = z.float()
            ref = expected["%s.logits.%d" % (name, k)].double()
            print("%s.logits_bf16.%d" % (name, k), [round(v, 5) for v in z.tolist()],
                  "max |bf16 - fp32| %.5f" % (z - ref).abs().max().item())
    path = os.path.join(a.fixtures, "expected_bf16.safetensors")
    ct.save_safetensors(path, out, {"generator": "tools/make_bf16_fixtures.py"})
    print("%s: %d tensors" % (path, len(out)))


if __name__ == "__main__":
    main()
