#!/usr/bin/python3
"""Generate the PyTorch reference fixtures in tests/fixtures/ (deterministic).

    /usr/bin/python3 tools/make_fixtures.py [--out tests/fixtures]

Writes small random-weight covidcam models, two synthetic PNGs, and one
expected.safetensors with every reference value the C tests compare against
(logits, preprocessed tensors, Grad-CAM maps), all computed in float64.
tests/fixtures/README.md documents every file and tensor name.

Before writing anything it checks its own references: file round trips give
identical logits, a from-the-file forward pass with batch norm folded into the
convolutions (as the C loader does) matches torch, the numpy bilinear resize
matches F.interpolate, and Grad-CAM at the last block matches its closed form.
"""

import argparse
import json
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import covidcam_torch as ct  # noqa: E402

SEED = 20240601
NUM_INPUTS = 3  # <model>.input.k, k < NUM_INPUTS
CAM_INPUTS = 2  # Grad-CAM for k < CAM_INPUTS
CAM_LAYERS = ["layer4", "layer4.0", "layer3", "layer2.0", "layer1"]
CAM_METHODS = ["gradcam", "gradcampp", "layercam"]

MODELS = {
    "basic": dict(
        arch="resnet", block="basic", layers=[1, 2, 1, 2], widths=[8, 16, 16, 32],
        stem_width=8, input_size=64, input_channels=1, mean=[129.5], std=[61.25],
        classes=["COVID", "Normal", "ViralPneumonia"], bn_eps=None,
        description="libcovidcam test fixture: random weights, basic blocks"),
    "bottleneck": dict(
        arch="resnet", block="bottleneck", layers=[1, 1, 2, 1], widths=[4, 8, 8, 16],
        stem_width=8, input_size=72, input_channels=3, mean=[120.0, 127.5, 135.25],
        std=[50.0, 60.5, 71.0], classes=["A", "B", "C", "D"], bn_eps="1e-3",
        description="libcovidcam test fixture: random weights, bottleneck blocks"),
}


# ---------------------------------------------------------------- models


def randomize(model, gen):
    """Non-trivial batch-norm statistics and fc bias, so that folding mistakes
    (wrong eps, mean/var swapped, gamma ignored) change the logits."""
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                n = m.num_features
                m.running_mean.copy_(torch.randn(n, generator=gen) * 0.2)
                m.running_var.copy_(torch.rand(n, generator=gen) * 1.5 + 0.5)
                m.weight.copy_(torch.rand(n, generator=gen) + 0.5)
                m.bias.copy_(torch.randn(n, generator=gen) * 0.2)


def calibrate_fc(model, spec, gen):
    """Random fc whose logits swing by ~1 between random inputs, so the top class
    depends on the input and a wrong feature map cannot hide behind fc.bias."""
    size, ch = spec["input_size"], spec["input_channels"]
    feats = []
    h = model.avgpool.register_forward_hook(lambda _m, _i, o: feats.append(o.flatten(1)))
    with torch.no_grad():
        model(torch.randn(16, ch, size, size, generator=gen))
    h.remove()
    f = feats[0]
    w = torch.randn(model.fc.weight.shape, generator=gen) / (f.std(0).mean() * f.shape[1] ** 0.5)
    # Reflect each row so it has a positive component along the mean feature:
    # a row with w.mean_f < 0 gives an all-zero last-block Grad-CAM for nearly
    # every input, which would make half of the CAM fixtures trivial.
    u = f.mean(0) / f.mean(0).norm()
    proj = w @ u
    w = w - 2 * torch.clamp(proj, max=0)[:, None] * u[None, :]
    with torch.no_grad():
        model.fc.weight.copy_(w)
        bias = torch.randn(model.fc.bias.shape, generator=gen) * 0.5 - w @ f.mean(0)
        model.fc.bias.copy_(bias)


def make_model(spec, gen):
    torch.manual_seed(int(torch.randint(0, 2**31 - 1, (1,), generator=gen)))
    eps = float(spec["bn_eps"]) if spec["bn_eps"] else 1e-5
    m = ct.build_resnet(spec["arch"], spec["block"], spec["layers"], spec["widths"],
                        spec["stem_width"], spec["input_channels"], len(spec["classes"]),
                        bn_eps=eps)
    randomize(m, gen)
    calibrate_fc(m.eval(), spec, gen)
    meta = ct.covidcam_meta(spec["arch"], spec["block"], spec["layers"], spec["widths"],
                            spec["stem_width"], spec["input_size"], spec["input_channels"],
                            spec["mean"], spec["std"], spec["classes"], bn_eps=spec["bn_eps"],
                            description=spec["description"])
    return m.eval(), meta


def reload_double(path):
    """The model exactly as stored in `path`, in float64 eval mode."""
    m, meta = ct.load_covidcam(path)
    return m.double().eval(), meta


# ------------------------------------------------ independent folded forward


def folded_forward(tensors, meta, x):
    """Forward pass from raw file tensors with batch norm folded into each
    convolution (W' = W*g/sqrt(v+eps), b' = beta - mean*g/sqrt(v+eps)), strides
    and paddings taken from the format spec rather than from torch modules."""
    eps = float(meta.get("bn_eps", "1e-5"))
    block, layers, _, _ = ct.arch_from_meta(meta)
    t = {k: v.double() for k, v in tensors.items()}

    def conv(x, conv_name, bn_name, stride, pad):
        scale = t[bn_name + ".weight"] / torch.sqrt(t[bn_name + ".running_var"] + eps)
        w = t[conv_name + ".weight"] * scale[:, None, None, None]
        b = t[bn_name + ".bias"] - t[bn_name + ".running_mean"] * scale
        return F.conv2d(x, w, b, stride=stride, padding=pad)

    x = F.max_pool2d(F.relu(conv(x, "conv1", "bn1", 2, 3)), 3, 2, 1)
    for s, n in enumerate(layers):
        for i in range(n):
            p = "layer%d.%d." % (s + 1, i)
            stride = 2 if (s > 0 and i == 0) else 1
            if block == "basic":
                y = F.relu(conv(x, p + "conv1", p + "bn1", stride, 1))
                y = conv(y, p + "conv2", p + "bn2", 1, 1)
            else:
                y = F.relu(conv(x, p + "conv1", p + "bn1", 1, 0))
                y = F.relu(conv(y, p + "conv2", p + "bn2", stride, 1))
                y = conv(y, p + "conv3", p + "bn3", 1, 0)
            idn = x
            if p + "downsample.0.weight" in t:
                idn = conv(x, p + "downsample.0", p + "downsample.1", stride, 0)
            x = F.relu(y + idn)
    x = x.mean(dim=(2, 3))
    return x @ t["fc.weight"].T + t["fc.bias"]


# ------------------------------------------------------------ preprocessing


def resize_np(img, out_h, out_w):
    """Bilinear resize with half-pixel centres, source coordinates clamped at 0
    and the last pixel repeated (cv2 INTER_LINEAR / align_corners=False)."""
    in_h, in_w = img.shape

    def axis(n_out, n_in):
        src = (np.arange(n_out) + 0.5) * (n_in / n_out) - 0.5
        src = np.maximum(src, 0.0)
        i0 = np.minimum(np.floor(src).astype(np.int64), n_in - 1)
        i1 = np.minimum(i0 + 1, n_in - 1)
        return i0, i1, src - i0

    y0, y1, fy = axis(out_h, in_h)
    x0, x1, fx = axis(out_w, in_w)
    top = img[y0][:, x0] * (1 - fx) + img[y0][:, x1] * fx
    bot = img[y1][:, x0] * (1 - fx) + img[y1][:, x1] * fx
    return top * (1 - fy)[:, None] + bot * fy[:, None]


def resize_torch(img, out_h, out_w):
    x = torch.as_tensor(img, dtype=torch.float64)[None, None]
    y = F.interpolate(x, size=(out_h, out_w), mode="bilinear", align_corners=False)
    return y[0, 0].numpy()


def resize(img, out_h, out_w):
    a = resize_torch(img, out_h, out_w)
    b = resize_np(img, out_h, out_w)
    err = np.abs(a - b).max()
    assert err < 1e-9 * max(1.0, np.abs(a).max()), "resize mismatch %g" % err
    return a


def preprocess(gray_u8, meta):
    size = int(meta["input_size"])
    ch = int(meta["input_channels"])
    mean, std = json.loads(meta["mean"]), json.loads(meta["std"])
    r = resize(gray_u8.astype(np.float64), size, size)
    return np.stack([(r - mean[c]) / std[c] for c in range(ch)])


def synthetic_png(path, width, height, rng):
    """Smooth pattern + noise, clipped so 0 and 255 both occur."""
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float64)
    v = (128 + 90 * np.sin(xx / 7.0 + 0.3) * np.cos(yy / 11.0)
         + 60 * (xx / width - yy / height) + rng.normal(0, 10, size=(height, width)))
    img = np.clip(np.rint(v), 0, 255).astype(np.uint8)
    assert img.min() == 0 and img.max() == 255
    Image.fromarray(img, mode="L").save(path, optimize=True)
    back = np.asarray(Image.open(path).convert("L"))
    assert back.shape == (height, width) and np.array_equal(back, img)
    return img


# ----------------------------------------------------------------- Grad-CAM


def block_modules(model):
    """Target-layer name -> residual block module, with the stage aliases."""
    out = {}
    for s, stage in enumerate(model.stages()):
        for i, blk in enumerate(stage):
            out["layer%d.%d" % (s + 1, i)] = blk
        out["layer%d" % (s + 1)] = stage[len(stage) - 1]
    return out


def activations_and_grads(model, x, cls, names):
    """Block outputs (after the final ReLU) and d logit[cls] / d output, float64."""
    mods = block_modules(model)
    acts, grads, handles = {}, {}, []

    def hook(name):
        def fwd(_mod, _inp, out):
            acts[name] = out.detach().clone()

            def save_grad(g):
                grads[name] = g.detach().clone()
            out.register_hook(save_grad)
        return fwd

    seen = {}
    for n in names:
        m = mods[n]
        if id(m) not in seen:
            seen[id(m)] = n
            handles.append(m.register_forward_hook(hook(n)))
    try:
        xx = x.clone().requires_grad_(True)
        logits = model(xx)
        model.zero_grad()
        logits[0, cls].backward()
    finally:
        for h in handles:
            h.remove()
    res = {}
    for n in names:
        src = seen[id(mods[n])]
        res[n] = (acts[src][0].numpy(), grads[src][0].numpy())
    return res


def cam_raw(method, A, g):
    """pytorch-grad-cam weights and weighted sum, then ReLU. A, g: C x h x w."""
    if method == "gradcam":
        alpha = g.mean(axis=(1, 2))
        cam = np.tensordot(alpha, A, axes=1)
    elif method == "gradcampp":
        g2 = g * g
        g3 = g2 * g
        sum_a = A.sum(axis=(1, 2))
        aij = g2 / (2 * g2 + sum_a[:, None, None] * g3 + 1e-6)
        aij = np.where(g != 0, aij, 0)
        alpha = (np.maximum(g, 0) * aij).sum(axis=(1, 2))
        cam = np.tensordot(alpha, A, axes=1)
    elif method == "layercam":
        cam = (np.maximum(g, 0) * A).sum(axis=0)
    else:
        raise ValueError(method)
    return np.maximum(cam, 0)


def cam_map(raw, size):
    """pytorch-grad-cam's scale_cam_image (resize) then aggregate + rescale."""
    m = raw - raw.min()
    m = m / (1e-7 + m.max())
    m = resize(m, size, size)
    m = np.maximum(m, 0)
    m = m - m.min()
    return m / (1e-7 + m.max())


def check_last_block_closed_form(model, x, cls):
    """At the last block logit = fc(mean(A)), so g_k = W[cls,k] / (h*w) exactly."""
    A, g = activations_and_grads(model, x, cls, ["layer%d" % model.num_stages])[
        "layer%d" % model.num_stages]
    h, w = A.shape[1:]
    want = model.fc.weight[cls].detach().numpy()[:, None, None] / (h * w)
    assert np.abs(g - want).max() < 1e-12, "last-block gradient mismatch"


# -------------------------------------------------------------------- main


class Out:
    def __init__(self):
        self.t = {}

    def put(self, name, arr):
        assert name not in self.t, name
        a = torch.as_tensor(np.asarray(arr, dtype=np.float64)).float()
        assert torch.isfinite(a).all(), name
        self.t[name] = a


def logits_of(model, x):
    with torch.no_grad():
        return model(torch.as_tensor(x, dtype=torch.float64)[None])[0].numpy()


def write_models(outdir, gen):
    models = {}
    for name, spec in MODELS.items():
        m, meta = make_model(spec, gen)
        path = os.path.join(outdir, name + ".safetensors")
        ct.save_covidcam(path, m, meta)
        m2, meta2 = ct.load_covidcam(path)
        x = torch.randn(2, spec["input_channels"], spec["input_size"], spec["input_size"],
                        generator=gen)
        with torch.no_grad():
            assert torch.equal(m(x), m2(x)), "F32 round trip changed logits"
        assert meta2 == meta
        models[name] = path

    base = os.path.join(outdir, "basic.safetensors")
    tensors, meta = ct.load_safetensors(base)
    for dt in ("BF16", "F16"):
        path = os.path.join(outdir, "basic_%s.safetensors" % dt.lower())
        ct.save_covidcam(path, tensors, meta, dtype=dt)
        t2, _ = ct.load_safetensors(path)
        for k in tensors:
            assert t2[k].dtype == ct._DTYPES[dt][0]
            assert torch.equal(t2[k], tensors[k].to(t2[k].dtype)), k
        models["basic_" + dt.lower()] = path

    neg = dict(tensors)
    w = neg["fc.weight"].clone()
    w[0] = -w[0].abs()
    assert (w[0] < 0).all()
    neg["fc.weight"] = w
    meta_neg = dict(meta, description="libcovidcam test fixture: basic with fc.weight[0] "
                    "<= 0, so Grad-CAM for class 0 at the last block is all zero")
    path = os.path.join(outdir, "negfc.safetensors")
    ct.save_covidcam(path, neg, meta_neg)
    models["negfc"] = path
    return models


def add_logits(out, name, model, tensors, meta, inputs):
    for k, x in enumerate(inputs):
        ref = logits_of(model, x)
        with torch.no_grad():
            fold = folded_forward(tensors, meta, torch.as_tensor(x, dtype=torch.float64)[None])
        err = np.abs(fold[0].numpy() - ref).max()
        assert err < 1e-10 * max(1.0, np.abs(ref).max()), "%s: folded forward off by %g" % (name, err)
        out.put("%s.logits.%d" % (name, k), ref)


def add_cams(out, name, model, size, inputs, stats):
    for k in range(CAM_INPUTS):
        x = torch.as_tensor(inputs[k], dtype=torch.float64)[None]
        lg = logits_of(model, inputs[k])
        top = int(np.argmax(lg))
        classes = [top, int(np.argsort(lg)[-2])]  # top and runner-up
        for cls in classes:
            check_last_block_closed_form(model, x, cls)
            ag = activations_and_grads(model, x, cls, CAM_LAYERS)
            for layer in CAM_LAYERS:
                A, g = ag[layer]
                for method in CAM_METHODS:
                    raw = cam_raw(method, A, g)
                    key = "cam.%s.%d.%s.%d.%s" % (name, k, layer, cls, method)
                    out.put(key + ".raw", raw)
                    # Maps only for input 0 / top class: the resize and
                    # normalization do not depend on k or the class, and
                    # S x S maps dominate the fixture size.
                    if k == 0 and cls == top:
                        out.put(key + ".map", cam_map(raw, size))
                    stats.append((key, raw.shape, float(raw.max()),
                                  float((raw > 0).mean())))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    ap.add_argument("--out", default=os.path.join(root, "tests", "fixtures"))
    ap.add_argument("--verbose", action="store_true")
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    torch.set_num_threads(1)  # bitwise-reproducible float64 reductions
    gen = torch.Generator().manual_seed(SEED)
    rng = np.random.default_rng(SEED)

    paths = write_models(a.out, gen)
    out = Out()
    inputs = {}
    for name in ("basic", "bottleneck"):
        spec = MODELS[name]
        shape = (spec["input_channels"], spec["input_size"], spec["input_size"])
        inputs[name] = [torch.randn(shape, generator=gen).numpy() for _ in range(NUM_INPUTS)]
        for k, x in enumerate(inputs[name]):
            out.put("%s.input.%d" % (name, k), x)
    for name in ("basic_bf16", "basic_f16", "negfc"):
        inputs[name] = inputs["basic"]

    loaded = {}
    for name, path in paths.items():
        tensors, meta = ct.load_safetensors(path)
        model, _ = reload_double(path)
        loaded[name] = (model, meta)
        add_logits(out, name, model, tensors, meta, inputs[name])

    img97 = synthetic_png(os.path.join(a.out, "sample_97x131.png"), 97, 131, rng)
    img64 = synthetic_png(os.path.join(a.out, "sample_64.png"), 64, 64, rng)
    for name, tag, img in (("basic", "png97", img97), ("basic", "png64", img64),
                           ("bottleneck", "png97", img97)):
        model, meta = loaded[name]
        x = preprocess(img, meta)
        out.put("%s.%s.tensor" % (name, tag), x)
        out.put("%s.%s.logits" % (name, tag), logits_of(model, x))
    # Same size resize is the identity: the 64x64 tensor is exactly the pixels.
    assert np.array_equal(out.t["basic.png64.tensor"][0].double().numpy(),
                          torch.tensor((img64 - 129.5) / 61.25).float().double().numpy())

    stats = []
    for name in ("basic", "bottleneck"):
        model, meta = loaded[name]
        add_cams(out, name, model, int(meta["input_size"]), inputs[name], stats)

    model, _ = loaded["negfc"]
    x = torch.as_tensor(inputs["negfc"][0], dtype=torch.float64)[None]
    A, g = activations_and_grads(model, x, 0, ["layer4"])["layer4"]
    pre = np.tensordot(g.mean(axis=(1, 2)), A, axes=1)
    assert (pre <= 0).all() and (pre < 0).any() and (A > 0).any()
    raw = cam_raw("gradcam", A, g)
    neg_map = cam_map(raw, 64)
    assert not raw.any() and not neg_map.any(), "negfc Grad-CAM is not all zero"
    out.put("cam.negfc.0.layer4.0.gradcam.raw", raw)
    out.put("cam.negfc.0.layer4.0.gradcam.map", neg_map)

    exp_path = os.path.join(a.out, "expected.safetensors")
    ct.save_safetensors(exp_path, out.t, {"generator": "tools/make_fixtures.py",
                                          "seed": str(SEED)})
    back, _ = ct.load_safetensors(exp_path)
    assert all(torch.equal(back[k], v) for k, v in out.t.items())

    if a.verbose:
        for key, shape, mx, frac in stats:
            print("%-48s %-8s max %.4g  >0 %.2f" % (key, "x".join(map(str, shape)), mx, frac))
    for name in sorted(paths):
        print("%-28s %7d bytes" % (os.path.basename(paths[name]), os.path.getsize(paths[name])))
    print("%-28s %7d bytes, %d tensors" % ("expected.safetensors", os.path.getsize(exp_path),
                                           len(out.t)))
    for name in ("basic", "bottleneck"):
        for k in range(NUM_INPUTS):
            print("%s.logits.%d" % (name, k), np.round(out.t["%s.logits.%d" % (name, k)].numpy(), 4))


if __name__ == "__main__":
    main()
