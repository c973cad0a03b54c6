#!/usr/bin/python3
"""Generate the converter fixtures in tests/fixtures/convert/ (deterministic).

    /usr/bin/python3 tools/make_convert_fixtures.py [--out tests/fixtures/convert]

Tiny random-weight ResNets of both block kinds, written the ways users bring
them: PyTorch state dicts, a whole pickled torchvision model, ONNX (batch norm
kept, and folded into convolution biases by torch.onnx.export), paddle.vision
and notebook-layout .pdparams. expected.npz holds, for each model, an input
tensor and the logits: torch in float64 for the PyTorch-built models, and an
independent numpy reimplementation of the notebook network for the notebook
layout (no torch involved). tests/fixtures/convert/README.md lists the files.
"""

import argparse
import io
import os
import pickle
import sys

import numpy as np
import torch
import torch.nn as nn
import torchvision
from torchvision.models.resnet import BasicBlock, Bottleneck

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import covidcam_torch as ct  # noqa: E402

SEED = 20261202

# name -> build_resnet arguments and input size
TORCH_MODELS = {
    "basic": dict(block="basic", layers=[1, 1, 1], widths=[4, 8, 8], stem_width=4,
                  in_channels=3, num_classes=3, size=32),
    "bottleneck": dict(block="bottleneck", layers=[2, 1, 1], widths=[4, 8, 8], stem_width=8,
                       in_channels=1, num_classes=2, size=40),
}
NOTEBOOK = dict(layers=[2, 2, 1, 1], widths=[4, 8, 8, 16], stem=8, in_channels=3, classes=4,
                size=32, eps=1e-5)


def randomize(model, gen):
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                n = m.num_features
                m.running_mean.copy_(torch.randn(n, generator=gen) * 0.2)
                m.running_var.copy_(torch.rand(n, generator=gen) * 1.5 + 0.5)
                m.weight.copy_(torch.rand(n, generator=gen) + 0.5)
                m.bias.copy_(torch.randn(n, generator=gen) * 0.2)
            elif isinstance(m, nn.Conv2d):
                m.weight.copy_(torch.randn(m.weight.shape, generator=gen)
                               * (2.0 / m.weight[0].numel()) ** 0.5)
        model.fc.weight.mul_(8.0)
        model.fc.bias.copy_(torch.randn(model.fc.bias.shape, generator=gen) * 0.3)


def build(spec, gen):
    m = ct.build_resnet("resnet", spec["block"], spec["layers"], spec["widths"],
                        spec["stem_width"], spec["in_channels"], spec["num_classes"])
    randomize(m, gen)
    return m.eval()


def logits_of(model, x):
    with torch.no_grad():
        return model.double()(torch.from_numpy(x).double()[None])[0].numpy()


def whole_torchvision_model(spec, sd):
    """A torchvision.models.ResNet object (torchvision classes only, as a user's
    torch.save(model) would pickle) carrying the tiny architecture's weights."""
    block = BasicBlock if spec["block"] == "basic" else Bottleneck
    tv = torchvision.models.resnet.ResNet(block, [1, 1, 1, 1], num_classes=spec["num_classes"])
    tv.conv1 = nn.Conv2d(spec["in_channels"], spec["stem_width"], 7, 2, 3, bias=False)
    tv.bn1 = nn.BatchNorm2d(spec["stem_width"])
    tv.inplanes = spec["stem_width"]
    for s, (n, w) in enumerate(zip(spec["layers"], spec["widths"])):
        setattr(tv, "layer%d" % (s + 1), tv._make_layer(block, w, n, stride=1 if s == 0 else 2))
    for s in range(len(spec["layers"]) + 1, 5):
        delattr(tv, "layer%d" % s)
    tv.fc = nn.Linear(tv.inplanes, spec["num_classes"])
    tv.load_state_dict(sd)
    return tv


def to_paddle_vision(sd):
    out = {}
    for k, v in sd.items():
        if k.endswith("num_batches_tracked"):
            continue
        a = v.detach().float().numpy().copy()
        k = k.replace("running_mean", "_mean").replace("running_var", "_variance")
        out[k] = a.T.copy() if k == "fc.weight" else a
    return out


def paddle_save(arrays, path, protocol):
    """What paddle.save(layer.state_dict(), path) writes: a pickle of name ->
    ndarray plus the structured-name table."""
    obj = dict(arrays)
    obj["StructuredToParameterName@@"] = {k: "param_%d" % i for i, k in enumerate(arrays)}
    with open(path, "wb") as f:
        pickle.dump(obj, f, protocol=protocol)


# ------------------------------------------------------------ notebook (numpy)


def np_conv(x, w, stride, pad):
    c, h, wd = x.shape
    k = w.shape[2]
    xp = np.pad(x, ((0, 0), (pad, pad), (pad, pad)))
    win = np.lib.stride_tricks.sliding_window_view(xp, (k, k), axis=(1, 2))
    win = win[:, ::stride, ::stride]
    return np.einsum("chwij,ocij->ohw", win, w)


def np_bn(x, p, eps):
    g, b, m, v = p
    return (x - m[:, None, None]) / np.sqrt(v[:, None, None] + eps) * g[:, None, None] + \
        b[:, None, None]


def np_maxpool(x):
    xp = np.pad(x, ((0, 0), (1, 1), (1, 1)), constant_values=-np.inf)
    win = np.lib.stride_tricks.sliding_window_view(xp, (3, 3), axis=(1, 2))[:, ::2, ::2]
    return win.max(axis=(3, 4))


def notebook_params(rng):
    """Random parameters of the notebook's bottleneck ResNet, by notebook name."""
    nb = NOTEBOOK
    p = {}

    def conv_bn(prefix, oc, ic, k):
        p[prefix + ".0.weight"] = (rng.standard_normal((oc, ic, k, k)) *
                                   (2.0 / (ic * k * k)) ** 0.5).astype(np.float32)
        p[prefix + ".1.weight"] = (rng.random(oc) + 0.5).astype(np.float32)
        p[prefix + ".1.bias"] = (rng.standard_normal(oc) * 0.2).astype(np.float32)
        p[prefix + ".1._mean"] = (rng.standard_normal(oc) * 0.2).astype(np.float32)
        p[prefix + ".1._variance"] = (rng.random(oc) * 1.5 + 0.5).astype(np.float32)

    conv_bn("conv", nb["stem"], nb["in_channels"], 7)
    cin, n = nb["stem"], 0
    for s, (count, w) in enumerate(zip(nb["layers"], nb["widths"])):
        for i in range(count):
            b = "block.%d." % n
            conv_bn(b + "conv1", w, cin, 1)
            conv_bn(b + "conv2", w, w, 3)
            conv_bn(b + "conv3", w * 4, w, 1)
            if i == 0:
                conv_bn(b + "shortcut", w * 4, cin, 1)
            cin, n = w * 4, n + 1
    p["fc.weight"] = (rng.standard_normal((cin, nb["classes"])) * 8.0 / cin ** 0.5).astype(np.float32)
    p["fc.bias"] = (rng.standard_normal(nb["classes"]) * 0.3).astype(np.float32)
    return p


def notebook_forward(p, x):
    """The notebook network in float64 numpy: stem conv 7x7/2, BN, ReLU, max-pool
    3x3/2; bottleneck blocks (1x1, 3x3 with the stride, 1x1, shortcut conv+BN
    where present), stride 2 in the first block of every stage but the first;
    global average pool; fc with weight [in, out]."""
    nb = NOTEBOOK
    d = {k: v.astype(np.float64) for k, v in p.items()}

    def cbn(x, prefix, stride, pad):
        bn = [d[prefix + ".1." + s] for s in ("weight", "bias", "_mean", "_variance")]
        return np_bn(np_conv(x, d[prefix + ".0.weight"], stride, pad), bn, nb["eps"])

    relu = lambda v: np.maximum(v, 0)  # noqa: E731
    x = np_maxpool(relu(cbn(x, "conv", 2, 3)))
    n = 0
    for s, count in enumerate(nb["layers"]):
        for i in range(count):
            stride = 2 if s > 0 and i == 0 else 1
            b = "block.%d." % n
            y = relu(cbn(x, b + "conv1", 1, 0))
            y = relu(cbn(y, b + "conv2", stride, 1))
            y = cbn(y, b + "conv3", 1, 0)
            short = cbn(x, b + "shortcut", stride, 0) if b + "shortcut.0.weight" in d else x
            x = relu(y + short)
            n += 1
    return x.mean(axis=(1, 2)) @ d["fc.weight"] + d["fc.bias"]


def check_notebook_forward(p, x):
    """The numpy network against torch on the same weights (renamed by hand
    here, not by the converter), so the notebook reference is itself checked."""
    nb = NOTEBOOK
    model = ct.build_resnet("resnet", "bottleneck", nb["layers"], nb["widths"], nb["stem"],
                            nb["in_channels"], nb["classes"]).eval()
    sd, n = {}, 0

    def put(dst, src):
        sd[dst + ".weight"] = p[src + ".0.weight"]

    def bn(dst, src):
        for a, b in (("weight", "weight"), ("bias", "bias"), ("running_mean", "_mean"),
                     ("running_var", "_variance")):
            sd["%s.%s" % (dst, a)] = p["%s.1.%s" % (src, b)]

    put("conv1", "conv")
    bn("bn1", "conv")
    for s, count in enumerate(nb["layers"]):
        for i in range(count):
            for c in (1, 2, 3):
                put("layer%d.%d.conv%d" % (s + 1, i, c), "block.%d.conv%d" % (n, c))
                bn("layer%d.%d.bn%d" % (s + 1, i, c), "block.%d.conv%d" % (n, c))
            if i == 0:
                put("layer%d.%d.downsample.0" % (s + 1, i), "block.%d.shortcut" % n)
                bn("layer%d.%d.downsample.1" % (s + 1, i), "block.%d.shortcut" % n)
            n += 1
    sd["fc.weight"], sd["fc.bias"] = p["fc.weight"].T, p["fc.bias"]
    res = model.load_state_dict({k: torch.from_numpy(np.ascontiguousarray(v))
                                 for k, v in sd.items()}, strict=False)
    if res.unexpected_keys or any(not k.endswith("num_batches_tracked")
                                  for k in res.missing_keys):
        raise SystemExit("notebook renaming: %s" % (res,))
    diff = np.abs(logits_of(model, x) - notebook_forward(p, x)).max()
    if diff > 1e-9:
        raise SystemExit("numpy notebook network differs from torch by %g" % diff)


# ------------------------------------------------------------ main


def export_onnx(model, size, in_ch, path, fold):
    mode = torch.onnx.TrainingMode.EVAL if fold else torch.onnx.TrainingMode.PRESERVE
    f = io.BytesIO()
    torch.onnx.export(model.float().eval(), torch.zeros(1, in_ch, size, size), f,
                      training=mode, do_constant_folding=fold, opset_version=13,
                      input_names=["input"], output_names=["logits"])
    with open(path, "wb") as out:
        out.write(f.getvalue())


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "..", "tests",
                                                  "fixtures", "convert"))
    out = ap.parse_args().out
    os.makedirs(out, exist_ok=True)
    torch.manual_seed(SEED)
    gen = torch.Generator().manual_seed(SEED)
    rng = np.random.default_rng(SEED)
    expected = {}
    for name, spec in TORCH_MODELS.items():
        model = build(spec, gen)
        x = rng.standard_normal((spec["in_channels"], spec["size"], spec["size"])).astype(np.float32)
        sd = {k: v.clone() for k, v in model.state_dict().items()}
        expected[name + ".input"] = x
        expected[name + ".logits"] = logits_of(model, x).astype(np.float32)
        torch.save(sd, os.path.join(out, name + "_sd.pth"))
        paddle_save(to_paddle_vision(sd), os.path.join(out, name + "_vision.pdparams"),
                    protocol=2 if name == "basic" else 4)
        model.float()
        if name == "basic":
            # a training checkpoint of an nn.DataParallel model
            torch.save({"epoch": 7, "state_dict": {"module." + k: v for k, v in sd.items()},
                        "best_acc": 0.5}, os.path.join(out, "basic_ckpt.pth"))
            tv = whole_torchvision_model(spec, sd)
            torch.save(tv, os.path.join(out, "basic_model.pth"))
            export_onnx(model, spec["size"], spec["in_channels"],
                        os.path.join(out, "basic.onnx"), fold=False)
            # convolutions with a bias followed by batch norm
            with torch.no_grad():
                for m in model.modules():
                    if isinstance(m, nn.Conv2d):
                        m.bias = nn.Parameter(torch.randn(m.out_channels, generator=gen) * 0.1)
            export_onnx(model, spec["size"], spec["in_channels"],
                        os.path.join(out, "basic_convbias.onnx"), fold=False)
            expected["basic_convbias.logits"] = logits_of(model, x).astype(np.float32)
        else:
            export_onnx(model, spec["size"], spec["in_channels"],
                        os.path.join(out, "bottleneck_folded.onnx"), fold=True)
    p = notebook_params(rng)
    x = rng.standard_normal((NOTEBOOK["in_channels"], NOTEBOOK["size"], NOTEBOOK["size"]))
    check_notebook_forward(p, x.astype(np.float32))
    expected["notebook.input"] = x.astype(np.float32)
    expected["notebook.logits"] = notebook_forward(p, x.astype(np.float32)).astype(np.float32)
    paddle_save(p, os.path.join(out, "notebook.pdparams"), protocol=4)
    np.savez(os.path.join(out, "expected.npz"), **expected)
    for f in sorted(os.listdir(out)):
        print("%-28s %7d bytes" % (f, os.path.getsize(os.path.join(out, f))))


if __name__ == "__main__":
    main()
