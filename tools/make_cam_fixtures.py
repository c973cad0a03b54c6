#!/usr/bin/python3
"""Reference maps of the CAM toolbox (tests/fixtures/expected_cams.safetensors).

    /usr/bin/python3 tools/make_cam_fixtures.py [--out tests/fixtures]

Reads the committed fixture models (basic, bottleneck) and their inputs from
expected.safetensors (tools/make_fixtures.py writes both) and computes, in
float64 PyTorch + numpy, pytorch-grad-cam's definitions of HiResCAM,
XGradCAM, EigenCAM, EigenGradCAM and ScoreCAM, eigen_smooth for every method
that has a weighted sum, several target layers in one call, and aug_smooth
(test-time augmentation) with and without the horizontal flip. Keys:

    cam2.<model>.<layers>.<cls>.<method>[.eigen][.aug|.augflip].map   S x S
    cam2.<model>.<layer>.<cls>.<method>[.eigen].raw                   h x w

<layers> is one name or names joined by '+'; <cls> the class explained.
Input 0 of each model is used throughout. `.raw` (relu of the cam at the
layer's resolution) is written for single layers without augmentation.

EigenCAM's projection has no defined sign (SVD); pytorch-grad-cam leaves it
to LAPACK. libcovidcam applies the sign correction of pytorch-grad-cam's
get_2d_projection_with_sign_correction (flip when |min| > |max|), and so do
these references. The script refuses cases whose first two singular values
are within 2 % of each other: there the direction itself is ill-defined.
"""

import argparse
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import covidcam_torch as ct  # noqa: E402
import make_fixtures as mf  # noqa: E402

# (layers, methods); each layer list is one call.
GRAD_METHODS = ["gradcam", "gradcampp", "layercam", "hirescam", "xgradcam"]
ALL_METHODS = GRAD_METHODS + ["eigencam", "eigengradcam", "scorecam"]
# Methods whose cam is a weighted sum eigen_smooth can replace by a projection.
EIGEN_SMOOTHABLE = GRAD_METHODS + ["scorecam"]
SINGLE_LAYERS = ["layer4", "layer3", "layer2.0"]
MULTI_LAYERS = [["layer3", "layer4"], ["layer2.0", "layer3", "layer4"]]
MAP_LAYER = "layer3"
AUG_CASES = [("gradcam", False), ("layercam", False), ("gradcam", True)]
TTA_FACTORS = [0.9, 1.0, 1.1]  # pytorch-grad-cam's tta.Multiply factors


def projection(wa):
    """pytorch-grad-cam's get_2d_projection (C x h x w -> h x w) with the sign
    correction of get_2d_projection_with_sign_correction."""
    c = wa.shape[0]
    x = wa.reshape(c, -1).T
    x = x - x.mean(axis=0)
    _, s, vt = np.linalg.svd(x, full_matrices=True)
    if len(s) > 1 and s[0] > 0:
        assert s[1] < 0.98 * s[0], "near-degenerate first component (%g, %g)" % (s[0], s[1])
    p = (x @ vt[0]).reshape(wa.shape[1:])
    if abs(p.min()) > abs(p.max()):
        p = -p
    return p


def upsample_align_corners(a, size):
    """torch.nn.UpsamplingBilinear2d (align_corners=True), as ScoreCAM uses."""
    t = torch.as_tensor(a, dtype=torch.float64)[None]
    return F.interpolate(t, size=(size, size), mode="bilinear", align_corners=True)[0].numpy()


def scorecam_weights(model, x, cls, A):
    """Softmax over channels of the target logit on the input masked by each
    min-max normalised, upsampled activation channel."""
    size = x.shape[-1]
    up = upsample_align_corners(A, size)
    flat = up.reshape(up.shape[0], -1)
    mins, maxs = flat.min(axis=1), flat.max(axis=1)
    up = (up - mins[:, None, None]) / (maxs - mins + 1e-8)[:, None, None]
    masked = torch.as_tensor(x[0].numpy()[None] * up[:, None])  # C x in_ch x S x S
    with torch.no_grad():
        scores = np.concatenate([model(masked[i:i + 16])[:, cls].numpy()
                                 for i in range(0, masked.shape[0], 16)])
    e = np.exp(scores - scores.max())
    return e / e.sum()


def cam_pre_relu(method, model, x, cls, A, g, eigen):
    """get_cam_image of each method, before np.maximum(cam, 0)."""
    if method == "eigencam":
        return projection(A)
    if method == "eigengradcam":
        return projection(g * A)
    if method in ("layercam", "hirescam"):
        wa = (np.maximum(g, 0) if method == "layercam" else g) * A
    else:
        if method == "gradcam":
            w = g.mean(axis=(1, 2))
        elif method == "gradcampp":
            g2, g3 = g * g, g * g * g
            sum_a = A.sum(axis=(1, 2))
            aij = g2 / (2 * g2 + sum_a[:, None, None] * g3 + 1e-6)
            aij = np.where(g != 0, aij, 0)
            w = (np.maximum(g, 0) * aij).sum(axis=(1, 2))
        elif method == "xgradcam":
            w = (g * A / (A.sum(axis=(1, 2))[:, None, None] + 1e-7)).sum(axis=(1, 2))
        elif method == "scorecam":
            w = scorecam_weights(model, x, cls, A)
        else:
            raise ValueError(method)
        wa = w[:, None, None] * A
    return projection(wa) if eigen else wa.sum(axis=0)


def scale(m, size=None):
    """scale_cam_image: min-max, then cv2.resize (half-pixel bilinear)."""
    m = m - m.min()
    m = m / (1e-7 + m.max())
    return mf.resize(m, size, size) if size else m


def forward_cam(model, x, cls, layers, method, eigen):
    """BaseCAM.forward: per-layer relu + scale to the input size, then
    aggregate_multi_layers (relu, mean, scale). Returns (map, raws)."""
    size = x.shape[-1]
    ag = mf.activations_and_grads(model, x, cls, layers)
    per, raws = [], []
    for layer in layers:
        A, g = ag[layer]
        raw = np.maximum(cam_pre_relu(method, model, x, cls, A, g, eigen), 0)
        raws.append(raw)
        per.append(scale(raw, size))
    return scale(np.maximum(np.stack(per), 0).mean(axis=0)), raws


def aug_cam(model, x, cls, layers, method, eigen, flip):
    """forward_augmentation_smoothing: the mean of the de-augmented maps over
    tta.Compose([HorizontalFlip(), Multiply(0.9, 1, 1.1)]), or the factors
    alone when flip is False. The class explained stays fixed."""
    maps = []
    for f in ([False, True] if flip else [False]):
        for factor in TTA_FACTORS:
            xa = torch.flip(x, dims=[-1]) if f else x
            m, _ = forward_cam(model, xa * factor, cls, layers, method, eigen)
            maps.append(m[:, ::-1] if f else m)
    return np.mean(np.stack(maps), axis=0)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    ap.add_argument("--out", default=os.path.join(root, "tests", "fixtures"))
    a = ap.parse_args()
    torch.set_num_threads(1)
    expected, _ = ct.load_safetensors(os.path.join(a.out, "expected.safetensors"))
    out = mf.Out()
    for name in ("basic", "bottleneck"):
        model, _ = mf.reload_double(os.path.join(a.out, name + ".safetensors"))
        x = expected["%s.input.0" % name].double()[None]
        with torch.no_grad():
            lg = model(x)[0].numpy()
        classes = [int(np.argmax(lg)), int(np.argsort(lg)[-2])]
        for cls in classes:
            for layer in SINGLE_LAYERS:
                for method in ALL_METHODS:
                    for eigen in ([False, True] if method in EIGEN_SMOOTHABLE else [False]):
                        m, raws = forward_cam(model, x, cls, [layer], method, eigen)
                        key = "cam2.%s.%s.%d.%s%s" % (name, layer, cls, method,
                                                      ".eigen" if eigen else "")
                        out.put(key + ".raw", raws[0])
                        # One layer's maps check the normalisation of each
                        # method's raw map; S x S maps dominate the file size.
                        if cls == classes[0] and layer == MAP_LAYER:
                            out.put(key + ".map", m)
        cls = classes[0]
        for layers in MULTI_LAYERS:
            for method in (ALL_METHODS if layers == MULTI_LAYERS[0] else ["gradcam"]):
                m, _ = forward_cam(model, x, cls, layers, method, False)
                out.put("cam2.%s.%s.%d.%s.map" % (name, "+".join(layers), cls, method), m)
        for layers in (["layer4"], ["layer3", "layer4"]):
            for method, eigen in (AUG_CASES if layers == ["layer4"] else AUG_CASES[:1]):
                for flip in (False, True):
                    m = aug_cam(model, x, cls, layers, method, eigen, flip)
                    out.put("cam2.%s.%s.%d.%s%s.%s.map" % (
                        name, "+".join(layers), cls, method, ".eigen" if eigen else "",
                        "augflip" if flip else "aug"), m)
    path = os.path.join(a.out, "expected_cams.safetensors")
    ct.save_safetensors(path, out.t, {"generator": "tools/make_cam_fixtures.py"})
    print("wrote %s: %d tensors, %.1f KB" % (path, len(out.t), os.path.getsize(path) / 1024))


if __name__ == "__main__":
    main()
