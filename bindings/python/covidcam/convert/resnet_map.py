"""Architecture inference from torchvision ResNet tensor names and shapes, and
the checks every tensor passes before it is written (docs/model-format.md)."""

import collections

import numpy as np

from .errors import ConvertError

NAMED_ARCHS = {
    "resnet18": ("basic", [2, 2, 2, 2]),
    "resnet34": ("basic", [3, 4, 6, 3]),
    "resnet50": ("bottleneck", [3, 4, 6, 3]),
    "resnet101": ("bottleneck", [3, 4, 23, 3]),
    "resnet152": ("bottleneck", [3, 8, 36, 3]),
}
STANDARD_WIDTHS = [64, 128, 256, 512]
BN_PARTS = ("weight", "bias", "running_mean", "running_var")
MAX_CLASSES = 1000


class Arch(collections.namedtuple("Arch", "block layers widths stem_width in_channels classes")):
    @property
    def expansion(self):
        return 4 if self.block == "bottleneck" else 1

    @property
    def name(self):
        for name, (block, layers) in NAMED_ARCHS.items():
            if (block, layers) == (self.block, list(self.layers)) and \
                    list(self.widths) == STANDARD_WIDTHS and self.stem_width == 64:
                return name
        return "resnet"

    def describe(self):
        return "%s (%s blocks, layers %s, widths %s, stem %d, %d input channel%s, %d outputs)" % (
            self.name, self.block, list(self.layers), list(self.widths), self.stem_width,
            self.in_channels, "" if self.in_channels == 1 else "s", self.classes)


def _shape(sd, name):
    return tuple(sd[name].shape) if name in sd else None


def infer(sd, what):
    """The Arch of a torchvision-named state dict, from names and shapes."""
    stem = _shape(sd, "conv1.weight")
    if stem is None or len(stem) != 4:
        sample = ", ".join(sorted(sd)[:6]) or "none"
        raise ConvertError("%s has no 4-d 'conv1.weight': not a torchvision-style ResNet "
                           "(tensors: %s ...)" % (what, sample))
    fc = _shape(sd, "fc.weight")
    if fc is None or len(fc) != 2:
        head = [k for k in sorted(sd) if k.startswith("fc.")]
        raise ConvertError("%s has no 2-d 'fc.weight' (the classifier, one nn.Linear)%s"
                           % (what, "; it has %s instead" % ", ".join(head[:4]) if head else ""))
    block = "bottleneck" if "layer1.0.conv3.weight" in sd else "basic"
    layers, widths = [], []
    while "layer%d.0.conv1.weight" % (len(layers) + 1) in sd:
        s = len(layers) + 1
        n = 0
        while "layer%d.%d.conv1.weight" % (s, n) in sd:
            n += 1
        w = _shape(sd, "layer%d.0.conv1.weight" % s)
        if len(w) != 4:
            raise ConvertError("%s: 'layer%d.0.conv1.weight' has shape %s, expected 4-d"
                               % (what, s, list(w)))
        layers.append(n)
        widths.append(w[0])
    if not 1 <= len(layers) <= 4:
        raise ConvertError("%s has %d ResNet stages (layer1, layer2, ...); covidcam takes 1 to 4"
                           % (what, len(layers)))
    return Arch(block, layers, widths, stem[0], stem[1], fc[0])


def expected_shapes(a):
    """name -> shape of every tensor the loader expects, in torchvision order."""
    out = collections.OrderedDict()

    def conv_bn(conv, bn, oc, ic, k):
        out[conv + ".weight"] = (oc, ic, k, k)
        for p in BN_PARTS:
            out["%s.%s" % (bn, p)] = (oc,)

    conv_bn("conv1", "bn1", a.stem_width, a.in_channels, 7)
    cin = a.stem_width
    for s, (n, w) in enumerate(zip(a.layers, a.widths)):
        cout = w * a.expansion
        for i in range(n):
            p = "layer%d.%d." % (s + 1, i)
            if a.block == "bottleneck":
                conv_bn(p + "conv1", p + "bn1", w, cin, 1)
                conv_bn(p + "conv2", p + "bn2", w, w, 3)
                conv_bn(p + "conv3", p + "bn3", cout, w, 1)
            else:
                conv_bn(p + "conv1", p + "bn1", w, cin, 3)
                conv_bn(p + "conv2", p + "bn2", w, w, 3)
            if i == 0 and (s > 0 or cin != cout):
                conv_bn(p + "downsample.0", p + "downsample.1", cout, cin, 1)
            cin = cout
    out["fc.weight"] = (a.classes, cin)
    out["fc.bias"] = (a.classes,)
    return out


def check(sd, a, what):
    """float32 tensors in loader order after checking names, shapes and values."""
    want = expected_shapes(a)
    for name, shape in want.items():
        if name not in sd:
            raise ConvertError("%s lacks tensor '%s' (shape %s) that a %s needs"
                               % (what, name, list(shape), a.describe()))
        got = tuple(sd[name].shape)
        if got != shape:
            raise ConvertError("%s: tensor '%s' has shape %s, expected %s for a %s"
                               % (what, name, list(got), list(shape), a.describe()))
    for name in sd:
        if name not in want and not name.endswith("num_batches_tracked"):
            raise ConvertError("%s has tensor '%s' %s that a %s does not have"
                               % (what, name, list(sd[name].shape), a.describe()))
    out = collections.OrderedDict()
    for name in want:
        v = np.asarray(sd[name])
        if v.dtype.kind != "f":
            raise ConvertError("%s: tensor '%s' has dtype %s, not floating point"
                               % (what, name, v.dtype))
        with np.errstate(over="ignore", invalid="ignore"):
            v = np.ascontiguousarray(v, dtype="<f4")
        bad = np.flatnonzero(~np.isfinite(v))
        if bad.size:
            raise ConvertError("%s: tensor '%s' has a non-finite value at element %d (%r)"
                               % (what, name, bad[0], float(v.reshape(-1)[bad[0]])))
        if name.endswith("running_var") and (v < 0).any():
            raise ConvertError("%s: tensor '%s' is negative at channel %d"
                               % (what, name, int(np.flatnonzero(v < 0)[0])))
        out[name] = v
    if not 2 <= a.classes <= MAX_CLASSES:
        raise ConvertError("%s has %d outputs; covidcam takes 2 to %d classes"
                           % (what, a.classes, MAX_CLASSES))
    return out


def count_parameters(tensors):
    return int(sum(v.size for v in tensors.values()))
