#!/usr/bin/python3
"""int8 fixture models and the logits of an int8 session on them (deterministic).

    /usr/bin/python3 tools/make_int8_fixtures.py [--fixtures tests/fixtures]

For each fixture model (basic, bottleneck) it writes <model>_int8.safetensors:
the model's tensors unchanged plus the metadata int8_scales, calibrated the way
covidcam-quantize --method minmax does (the largest |x| of each tensor over the
fixture inputs, over 255 for u8 tensors and 127 for s8 ones); and
expected_int8.safetensors with, for every fixture input, what an
COVIDCAM_PRECISION_INT8 session computes (docs/precision.md, "int8"), simulated
in numpy-exact integer arithmetic:

  * batch norm folded as the loader does (float64 scale, float32 weights);
  * weights s8 per output channel: sw = max|w| / 127, w8 = rint(w / sw);
    bias s32 = rint(b / (s_src * sw)); output scale float32(s_src * sw / s_dst)
    (lib/net/qweights.c, in float64 like it);
  * the input: rint(float32(x) * float32(1 / s_in)) saturated to s8;
  * each convolution: the exact integer sum, then in float32 (as oneDNN 2.x's
    int8 kernels): (float(sum) + float(bias)) * scale [+ sum_scale * shortcut],
    ReLU, rint, saturated to u8 (s8 for the downsample, which has no ReLU);
  * max pooling on the codes; the head dequantizes (float32(q) * s_last),
    average-pools and applies the fp32 fc (float64 here).

Two variants: `logits_int8` as above (CPUs with AVX512-VNNI or AMX, whose
int8 dot products are exact), and `logits_int8_avx2` for CPUs without them
(AVX2, AVX-512 without VNNI), as oneDNN 2.x computes there: the one
convolution with an s8 input (the stem) gets its weights halved by oneDNN's
weight reorder (rint(w8 / 2), ties to even; its bias halved and its output
scale doubled to match, so no 16-bit sum can saturate), and every u8-input
convolution adds its u8 x s8 products in pairs of input channels (4j, 4j+1),
(4j+2, 4j+3) with signed 16-bit saturation (vpmaddubsw) before the exact
32-bit sum. The only freedom left to the library is whether the sum post-op
is one fused rounding (FMA) or two; tests/api/test_int8.c derives its
tolerance.
"""

import argparse
import json
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import covidcam_torch as ct  # noqa: E402

MODELS = ("basic", "bottleneck")
NUM_INPUTS = 3
f32 = np.float32


def blocks_of(meta):
    """[(prefix, stride, has_down, nconv)] in order, as lib/net/arch.c."""
    block, layers, _, _ = ct.arch_from_meta(meta)
    out = []
    for s, n in enumerate(layers):
        for i in range(n):
            out.append(("layer%d.%d" % (s + 1, i), 2 if (s > 0 and i == 0) else 1,
                        block == "basic" and 2 or 3))
    return out


def folded(t, meta, conv, bn):
    eps = float(meta.get("bn_eps", "1e-5"))
    g, beta = t[bn + ".weight"].double(), t[bn + ".bias"].double()
    mean, var = t[bn + ".running_mean"].double(), t[bn + ".running_var"].double()
    s = g / torch.sqrt(var + eps)
    w = (t[conv + ".weight"].double() * s[:, None, None, None]).float().numpy()
    b = (beta - mean * s).float().numpy()
    return w, b


def convs(t, meta):
    """The network as a list of steps, each conv with its folded weights."""
    net = {"stem": folded(t, meta, "conv1", "bn1"), "blocks": []}
    for p, stride, nconv in blocks_of(meta):
        has_down = p + ".downsample.0.weight" in t
        cs = [folded(t, meta, "%s.conv%d" % (p, k + 1), "%s.bn%d" % (p, k + 1))
              for k in range(nconv)]
        down = folded(t, meta, p + ".downsample.0", p + ".downsample.1") if has_down else None
        net["blocks"].append((p, stride, cs, down))
    return net


def conv64(x, w, stride):
    k = w.shape[2]
    return F.conv2d(torch.from_numpy(np.asarray(x, np.float64)),
                    torch.from_numpy(np.asarray(w, np.float64)),
                    stride=stride, padding=k // 2).numpy()


def conv_pairs_s16(x, w, stride):
    """The u8 x s8 sum of an AVX2 int8 kernel: for each tap, products of input
    channels 4j, 4j+1 (and 4j+2, 4j+3) added in pairs with signed 16-bit
    saturation (vpmaddubsw), then summed exactly."""
    k = w.shape[2]
    pad = k // 2
    c = x.shape[1]
    c4 = (c + 3) // 4 * 4
    xp = np.zeros((c4, x.shape[2] + 2 * pad, x.shape[3] + 2 * pad))
    xp[:c, pad:pad + x.shape[2], pad:pad + x.shape[3]] = x[0]
    wp = np.zeros((w.shape[0], c4, k, k))
    wp[:, :c] = w
    ho = (x.shape[2] + 2 * pad - k) // stride + 1
    wo = (x.shape[3] + 2 * pad - k) // stride + 1
    acc = np.zeros((w.shape[0], ho, wo))
    for dy in range(k):
        for dx in range(k):
            patch = xp[:, dy:dy + stride * ho:stride, dx:dx + stride * wo:stride]
            prod = wp[:, :, dy, dx][:, :, None, None] * patch[None]
            pairs = prod.reshape(w.shape[0], c4 // 2, 2, ho, wo).sum(axis=2)
            acc += np.clip(pairs, -32768, 32767).sum(axis=1)
    return acc[None]


def block_strides(nconv, stride):
    # v1.5: basic strides conv1, bottleneck conv2
    return [stride, 1] if nconv == 2 else [1, stride, 1]


def fp32_maxima(net, x):
    """|x| maxima of every quantized tensor on input x (float64 forward)."""
    mx = {}

    def note(name, v):
        mx[name] = max(mx.get(name, 0.0), float(np.abs(v).max()))

    def conv(v, wb, stride):
        w, b = wb
        return conv64(v, w, stride) + b.astype(np.float64)[None, :, None, None]

    note("input", x)
    y = np.maximum(conv(x, net["stem"], 2), 0)
    note("conv1", y)
    y = F.max_pool2d(torch.from_numpy(y), 3, 2, 1).numpy()
    for p, stride, cs, down in net["blocks"]:
        idn = y
        if down is not None:
            idn = conv(y, down, stride)
            note(p + ".downsample", idn)
        h = y
        st = block_strides(len(cs), stride)
        for k, wb in enumerate(cs):
            h = conv(h, wb, st[k])
            if k == len(cs) - 1:
                h = h + idn
            h = np.maximum(h, 0)
            note(p if k == len(cs) - 1 else "%s.conv%d" % (p, k + 1), h)
        y = h
    return mx


def calibrate(net, inputs):
    mx = {}
    for x in inputs:
        for k, v in fp32_maxima(net, x).items():
            mx[k] = max(mx.get(k, 0.0), v)
    s8 = lambda k: k == "input" or k.endswith(".downsample")  # noqa: E731
    return {k: float(f32(v / (127.0 if s8(k) else 255.0) if v > 0 else 1 / 255.0))
            for k, v in mx.items()}


def qconv(w, b, s_src, s_dst):
    """lib/net/qweights.c, in float64."""
    amax = np.abs(w.astype(np.float64)).reshape(w.shape[0], -1).max(axis=1)
    sw = np.where(amax > 0, amax / 127.0, 1.0)
    w8 = np.clip(np.rint(w.astype(np.float64) / sw[:, None, None, None]), -127, 127)
    bq = np.clip(np.rint(b.astype(np.float64) / (s_src * sw)), -2.0 ** 30, 2.0 ** 30)
    os_ = (s_src * sw / s_dst).astype(f32)
    return w8, bq, os_


def run_q(xq, wb, s_src, s_dst, stride, halve, relu=True, s8=False, res=None, sum_scale=None,
          avx2=False):
    w8, bq, os_ = qconv(wb[0], wb[1], s_src, s_dst)
    if halve:  # without VNNI: weights halved by the reorder (ties to even), bias too, scale * 2
        w8 = np.rint(w8 * 0.5)
        bq = bq * 0.5
        os_ = (os_ * f32(2)).astype(f32)
    # without VNNI: the s8-input conv (the stem) has halved weights and no
    # saturation; the u8-input ones saturate pair sums at 16 bits
    acc = conv_pairs_s16(xq, w8, stride) if avx2 else conv64(xq, w8, stride)
    y = (acc.astype(f32) + bq.astype(f32)[None, :, None, None]) * os_[None, :, None, None]
    y = y.astype(f32)
    if res is not None:
        y = (y + f32(sum_scale) * res.astype(f32)).astype(f32)
    if relu:
        y = np.maximum(y, f32(0))
    lo, hi = (-128, 127) if s8 else (0, 255)
    return np.clip(np.rint(y), lo, hi)


def int8_forward(net, sc, x, fc_w, fc_b, avx2):
    s = lambda k: float(f32(sc[k]))  # noqa: E731  (the loader's float)
    xq = np.clip(np.rint(x.astype(f32) * f32(1.0 / s("input"))), -128, 127)
    y = run_q(xq, net["stem"], s("input"), s("conv1"), 2, avx2)  # the one s8-input conv
    y = F.max_pool2d(torch.from_numpy(y), 3, 2, 1).numpy()
    s_in = s("conv1")
    for p, stride, cs, down in net["blocks"]:
        if down is not None:
            idn = run_q(y, down, s_in, s(p + ".downsample"), stride, False, relu=False, s8=True,
                        avx2=avx2)
            s_idn = s(p + ".downsample")
        else:
            idn, s_idn = y, s_in
        h, src = y, s_in
        st = block_strides(len(cs), stride)
        for k, wb in enumerate(cs):
            last = k == len(cs) - 1
            dst = s(p) if last else s("%s.conv%d" % (p, k + 1))
            if last:
                h = run_q(h, wb, src, dst, st[k], False, res=idn,
                          sum_scale=float(f32(s_idn / s(p))), avx2=avx2)
            else:
                h = run_q(h, wb, src, dst, st[k], False, avx2=avx2)
            src = dst
        y, s_in = h, s(p)
    feat = (y.astype(f32) * f32(s_in)).astype(np.float64).mean(axis=(2, 3))
    return feat @ fc_w.T + fc_b


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    ap.add_argument("--fixtures", default=os.path.join(root, "tests", "fixtures"))
    a = ap.parse_args()
    torch.set_num_threads(1)
    expected, _ = ct.load_safetensors(os.path.join(a.fixtures, "expected.safetensors"))
    out = {}
    for name in MODELS:
        tensors, meta = ct.load_safetensors(os.path.join(a.fixtures, name + ".safetensors"))
        net = convs(tensors, meta)
        xs = [expected["%s.input.%d" % (name, k)].double().numpy()[None]
              for k in range(NUM_INPUTS)]
        sc = calibrate(net, xs)
        qmeta = dict(meta)
        qmeta["int8_scales"] = json.dumps(sc, separators=(",", ":"))
        qmeta["int8_method"] = "minmax"
        qmeta["int8_images"] = str(NUM_INPUTS)
        ct.save_safetensors(os.path.join(a.fixtures, name + "_int8.safetensors"), tensors, qmeta)
        fc_w = tensors["fc.weight"].double().numpy()
        fc_b = tensors["fc.bias"].double().numpy()
        for k, x in enumerate(xs):
            ref = expected["%s.logits.%d" % (name, k)].double().numpy()
            for suffix, avx2 in (("", False), ("_avx2", True)):
                z = int8_forward(net, sc, x, fc_w, fc_b, avx2)[0]
                key = "%s.logits_int8%s.%d" % (name, suffix, k)
                out[key] = torch.from_numpy(z).float()
                print(key, [round(v, 5) for v in z.tolist()],
                      "max |int8 - fp32| %.5f" % np.abs(z - ref).max())
        out["%s.last_scale" % name] = torch.tensor([sc[net["blocks"][-1][0]]], dtype=torch.float32)
    path = os.path.join(a.fixtures, "expected_int8.safetensors")
    ct.save_safetensors(path, out, {"generator": "tools/make_int8_fixtures.py"})
    print("%s: %d tensors" % (path, len(out)))


if __name__ == "__main__":
    main()
