"""PaddlePaddle `.pdparams` read without Paddle: a pickle (protocol 2 or 4) of a
dict from parameter name to numpy array, plus the `StructuredToParameterName@@`
name table paddle.save adds. Two layouts map to torchvision names:

* paddle.vision ResNet: torchvision's module names, batch norm statistics as
  `_mean` / `_variance`, `fc.weight` stored [in, out];
* the notebook layout: `conv.{0,1}` stem, `block.N.conv{1,2,3}.{0,1}` and
  `block.N.shortcut.{0,1}` with N counting blocks across all stages, `fc`.
"""

import re

from . import unpickle
from .errors import ConvertError

NAME_TABLE = "StructuredToParameterName@@"
BN_NAMES = {"weight": "weight", "bias": "bias", "_mean": "running_mean",
            "_variance": "running_var"}
_NOTEBOOK = re.compile(r"block\.(\d+)\.(conv[123]|shortcut)\.([01])\.(\w+)$")


def read_arrays(data, path):
    obj = unpickle.load(data, what=path)
    if not isinstance(obj, dict):
        raise ConvertError("%s holds a %s, not a dict of parameters"
                           % (path, type(obj).__name__))
    out = {}
    for k, v in obj.items():
        if k == NAME_TABLE:
            continue
        if isinstance(v, unpickle.NDArrayState) and v.array is not None:
            out[str(k)] = v.array
        elif isinstance(k, str) and k.endswith("@@"):
            continue  # other bookkeeping entries paddle may add
        else:
            raise ConvertError("%s: entry '%s' is a %s, not an array"
                               % (path, k, type(v).__name__))
    if not out:
        raise ConvertError("%s holds no arrays" % path)
    return out


def _bn(prefix, arrays, src, out, what):
    for pk, tk in BN_NAMES.items():
        name = "%s.%s" % (src, pk)
        if name not in arrays:
            raise ConvertError("%s lacks '%s' (batch norm after '%s')" % (what, name, src))
        out["%s.%s" % (prefix, tk)] = arrays[name]


def _fc(arrays, out, what):
    for name in ("fc.weight", "fc.bias"):
        if name not in arrays:
            raise ConvertError("%s lacks '%s'" % (what, name))
    w = arrays["fc.weight"]
    if w.ndim != 2:
        raise ConvertError("%s: 'fc.weight' has shape %s, expected [in, out]"
                           % (what, list(w.shape)))
    out["fc.weight"] = w.T  # paddle.nn.Linear stores [in, out]
    out["fc.bias"] = arrays["fc.bias"]


def from_vision(arrays, what):
    """paddle.vision ResNet names -> torchvision names."""
    out = {}
    for k, v in arrays.items():
        if k.startswith("fc."):
            continue
        head, _, last = k.rpartition(".")
        out["%s.%s" % (head, BN_NAMES.get(last, last))] = v
    _fc(arrays, out, what)
    return out


def _notebook_blocks(arrays, what):
    blocks = {}
    for k in arrays:
        m = _NOTEBOOK.match(k)
        if m:
            blocks.setdefault(int(m.group(1)), set()).add(m.group(2))
        elif not (k.startswith("conv.") or k.startswith("fc.")):
            raise ConvertError("%s: parameter '%s' does not fit the notebook layout "
                               "(conv.*, block.N.conv1..3.*, block.N.shortcut.*, fc.*)"
                               % (what, k))
    n = len(blocks)
    if sorted(blocks) != list(range(n)) or not n:
        raise ConvertError("%s: notebook blocks are not numbered 0..N-1 (found %s)"
                           % (what, sorted(blocks)[:12]))
    return [blocks[i] for i in range(n)]


def split_stages(has_shortcut, layers, what):
    """Blocks per stage. A covidcam stage starts at block 0 and wherever a
    shortcut convolution appears (each later stage strides by 2 in its first
    block, which so needs one); `layers` (from --layers) overrides."""
    n = len(has_shortcut)
    starts = [0] + [i for i in range(1, n) if has_shortcut[i]]
    inferred = [b - a for a, b in zip(starts, starts[1:] + [n])]
    if layers is None:
        if len(inferred) > 4:
            raise ConvertError("%s: shortcut convolutions in blocks %s give %d stages (%s); "
                               "covidcam takes 1 to 4: the stage split is ambiguous, pass "
                               "--layers (e.g. --layers 3,4,6,3)"
                               % (what, starts[1:], len(inferred), inferred))
        return inferred
    if sum(layers) != n:
        raise ConvertError("--layers %s adds up to %d blocks, but %s has %d (inferred split: %s)"
                           % (",".join(map(str, layers)), sum(layers), what, n, inferred))
    given = [sum(layers[:s]) for s in range(len(layers))]
    for i in range(1, n):
        if has_shortcut[i] != (i in given):
            raise ConvertError("--layers %s puts %s at block %d, but the file %s a shortcut "
                               "convolution there (inferred split: %s)"
                               % (",".join(map(str, layers)),
                                  "a stage start" if i in given else "no stage start", i,
                                  "has" if has_shortcut[i] else "has no", inferred))
    return list(layers)


def from_notebook(arrays, layers, what):
    """Notebook names -> torchvision names, with the stage split."""
    kinds = _notebook_blocks(arrays, what)
    bottleneck = "conv3" in kinds[0]
    convs = ["conv1", "conv2", "conv3"] if bottleneck else ["conv1", "conv2"]
    for i, k in enumerate(kinds):
        if set(convs) - k or ("conv3" in k) != bottleneck:
            raise ConvertError("%s: block.%d has %s, but block.0 is a %s block (%s)"
                               % (what, i, sorted(k), "bottleneck" if bottleneck else "basic",
                                  ", ".join(convs)))
    split = split_stages(["shortcut" in k for k in kinds], layers, what)
    out = {"conv1.weight": arrays.get("conv.0.weight")}
    if out["conv1.weight"] is None:
        raise ConvertError("%s lacks the stem convolution 'conv.0.weight'" % what)
    _bn("bn1", arrays, "conv.1", out, what)
    n = 0
    for s, count in enumerate(split):
        for i in range(count):
            src, dst = "block.%d." % n, "layer%d.%d." % (s + 1, i)
            for c in convs:
                w = src + c + ".0.weight"
                if w not in arrays:
                    raise ConvertError("%s lacks '%s'" % (what, w))
                out[dst + c + ".weight"] = arrays[w]
                _bn(dst + "bn" + c[-1], arrays, src + c + ".1", out, what)
            if "shortcut" in kinds[n]:
                w = src + "shortcut.0.weight"
                if w not in arrays:
                    raise ConvertError("%s lacks '%s'" % (what, w))
                out[dst + "downsample.0.weight"] = arrays[w]
                _bn(dst + "downsample.1", arrays, src + "shortcut.1", out, what)
            n += 1
    _fc(arrays, out, what)
    return out


def read(data, path, layers=None):
    """({torchvision name: array}, description) of a .pdparams file."""
    arrays = read_arrays(data, path)
    if "conv.0.weight" in arrays or any(k.startswith("block.") for k in arrays):
        return from_notebook(arrays, layers, path), "PaddlePaddle notebook-layout parameters"
    if layers is not None:
        raise ConvertError("--layers applies to notebook-layout .pdparams only; %s uses "
                           "paddle.vision names, whose stages are in the names" % path)
    return from_vision(arrays, path), "PaddlePaddle paddle.vision ResNet parameters"
