"""covidcam model metadata (docs/model-format.md): build and validate the
__metadata__ dict by the C loader's rules, without torch or numpy.

The bounds come from the C headers (lib/net/model_meta.h, include/covidcam.h),
the one place they are defined, so this writer refuses exactly what
covidcam_model_load() refuses. tools/covidcam_torch.py re-exports everything
here; tests/tools/test_writer_loader.py checks writer and loader agree.
"""

import json
import math
import os
import re
import struct

FORMAT = "covidcam"
FORMAT_VERSION = "1"

# name -> (block, layers); all use widths [64,128,256,512] and stem 64.
NAMED_ARCHS = {
    "resnet18": ("basic", [2, 2, 2, 2]),
    "resnet34": ("basic", [3, 4, 6, 3]),
    "resnet50": ("bottleneck", [3, 4, 6, 3]),
    "resnet101": ("bottleneck", [3, 4, 23, 3]),
    "resnet152": ("bottleneck", [3, 8, 36, 3]),
}
STANDARD_WIDTHS = [64, 128, 256, 512]
STANDARD_STEM = 64
BLOCKS = ("basic", "bottleneck")

_ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
_HEADERS = (os.path.join(_ROOT, "lib", "net", "model_meta.h"),
            os.path.join(_ROOT, "include", "covidcam.h"))


def _read_limits():
    """The numeric #defines of the headers: CC_META_* and COVIDCAM_MAX_*."""
    out = {}
    pat = re.compile(r"^#define\s+((?:CC_META|COVIDCAM_MAX)_\w+)\s+([-+0-9.eE]+)u?\s*(?:/\*.*)?$")
    for path in _HEADERS:
        with open(path, encoding="utf-8") as f:
            for line in f:
                m = pat.match(line.strip())
                if m:
                    v = m.group(2)
                    out[m.group(1)] = float(v) if any(c in v for c in ".eE") else int(v)
    return out


LIMITS = _read_limits()


# The metadata `resize` values the loader accepts (lib/net/model_meta.c).
RESIZE_MODES = ("stretch", "center_crop", "pad")


def _json(value):
    return json.dumps(value, separators=(",", ":"))


def _f32(x):
    """x rounded to the float32 the C library computes with."""
    try:
        return struct.unpack("<f", struct.pack("<f", float(x)))[0]
    except OverflowError:
        return math.inf


def _check_f32(name, x, lo, hi, normal=False):
    f = _f32(x)  # compared as the C loader does: float value, float bounds
    if not math.isfinite(f) or not _f32(lo) <= f <= _f32(hi) or (normal and abs(f) < 2.0 ** -126):
        raise ValueError("%s is %r; it must be a number in [%g, %g] (as float)" % (name, x, lo, hi))


def check_class_names(classes):
    """The loader's rules for class names: 2 to COVIDCAM_MAX_CLASSES distinct
    names of 1 to 255 UTF-8 bytes without control characters (C0, DEL, C1)."""
    lo, hi = LIMITS["CC_META_MIN_CLASSES"], LIMITS["COVIDCAM_MAX_CLASSES"]
    if classes is None or not lo <= len(classes) <= hi:
        raise ValueError("classes must list %d to %d names, not %d"
                         % (lo, hi, 0 if classes is None else len(classes)))
    seen = {}
    for i, c in enumerate(classes):
        if not isinstance(c, str):
            raise ValueError("classes[%d] must be a string" % i)
        n = len(c.encode("utf-8", "surrogatepass"))
        if not 1 <= n <= LIMITS["CC_META_MAX_CLASS_NAME_BYTES"]:
            raise ValueError("classes[%d] must be a non-empty name of at most %d bytes, not %d"
                             % (i, LIMITS["CC_META_MAX_CLASS_NAME_BYTES"], n))
        for j, ch in enumerate(c):
            o = ord(ch)
            if o < 0x20 or 0x7f <= o <= 0x9f:
                raise ValueError("classes[%d] contains control character U+%04X at %d"
                                 % (i, o, j))
            if 0xd800 <= o <= 0xdfff:
                raise ValueError("classes[%d] contains a lone surrogate at %d" % (i, j))
        if c in seen:
            raise ValueError("classes[%d] %r repeats classes[%d]" % (i, c, seen[c]))
        seen[c] = i


def resolve_arch(arch, block=None, layers=None, widths=None, stem_width=None):
    """(block, layers, widths, stem_width) for a named or custom arch."""
    if arch in NAMED_ARCHS:
        nb, nl = NAMED_ARCHS[arch]
        got = (block or nb, list(layers or nl), list(widths or STANDARD_WIDTHS),
               int(stem_width or STANDARD_STEM))
        if got != (nb, nl, STANDARD_WIDTHS, STANDARD_STEM):
            raise ValueError("%s is fixed: block=%s layers=%s widths=%s stem=%d"
                             % (arch, nb, nl, STANDARD_WIDTHS, STANDARD_STEM))
        return got
    if arch != "resnet":
        raise ValueError("unknown arch %r" % arch)
    if block not in BLOCKS or layers is None or widths is None or stem_width is None:
        raise ValueError("arch 'resnet' needs block (basic|bottleneck), layers, widths, stem_width")
    layers, widths = [int(v) for v in layers], [int(v) for v in widths]
    if not 1 <= len(layers) <= 4 or len(layers) != len(widths):
        raise ValueError("layers and widths need the same length, 1 to 4 stages")
    if min(layers + widths + [int(stem_width)]) < 1:
        raise ValueError("layers, widths and stem_width must be positive")
    return block, layers, widths, int(stem_width)


def _positive_text(key, value, lo, hi):
    """The metadata text of an optional positive number (a string is kept
    verbatim), checked as the loader checks it."""
    text = value if isinstance(value, str) else repr(float(value))
    try:
        number = float(text)
    except ValueError:
        raise ValueError("%s must be a number, not %r" % (key, text)) from None
    if text != text.strip():
        raise ValueError("%s must be a number, not %r" % (key, text))
    _check_f32(key, number, lo, hi, True)
    return text


def covidcam_meta(arch, block=None, layers=None, widths=None, stem_width=None,
                  input_size=224, input_channels=3, mean=None, std=None, classes=None,
                  bn_eps=None, description=None, training=None, temperature=None,
                  resize=None):
    """The __metadata__ dict (all values strings) for a covidcam model.

    mean/std: one value per input channel, 0-255 pixel units. bn_eps may be a
    number or a string (written verbatim, e.g. "1e-3"); so may temperature (the
    softmax calibration, docs/model-format.md). resize: "stretch" (the
    default when absent), "center_crop" or "pad" (docs/preprocessing.md). training: a JSON-able
    object or an already-encoded JSON string. Raises ValueError for anything
    the C loader would refuse (bounds: docs/model-format.md)."""
    check_class_names(classes)
    input_channels = int(input_channels)
    if input_channels not in (1, 3):
        raise ValueError("input_channels must be 1 or 3")
    input_size = int(input_size)
    if not LIMITS["CC_META_MIN_INPUT_SIZE"] <= input_size <= LIMITS["COVIDCAM_MAX_INPUT_SIZE"]:
        raise ValueError("input_size must be in [%d, %d], not %d"
                         % (LIMITS["CC_META_MIN_INPUT_SIZE"], LIMITS["COVIDCAM_MAX_INPUT_SIZE"],
                            input_size))
    if mean is None or std is None or len(mean) != input_channels or len(std) != input_channels:
        raise ValueError("mean and std need one value per input channel")
    m = LIMITS["CC_META_MAX_ABS_MEAN"]
    for i, v in enumerate(mean):
        _check_f32("mean[%d]" % i, v, -m, m)
    for i, v in enumerate(std):
        _check_f32("std[%d]" % i, v, LIMITS["CC_META_MIN_STD"], LIMITS["CC_META_MAX_STD"], True)
    meta = {"format": FORMAT, "format_version": FORMAT_VERSION, "arch": arch}
    if arch == "resnet":
        block, layers, widths, stem_width = resolve_arch(arch, block, layers, widths, stem_width)
        meta.update(block=block, layers=_json(layers), widths=_json(widths),
                    stem_width=str(stem_width))
    else:
        resolve_arch(arch, block, layers, widths, stem_width)
    meta.update(input_size=str(input_size), input_channels=str(input_channels),
                mean=_json([float(v) for v in mean]), std=_json([float(v) for v in std]),
                classes=_json([str(c) for c in classes]))
    for key, value, lo, hi in (("bn_eps", bn_eps, "CC_META_MIN_BN_EPS", "CC_META_MAX_BN_EPS"),
                               ("temperature", temperature, "CC_META_MIN_TEMPERATURE",
                                "CC_META_MAX_TEMPERATURE")):
        if value is not None:
            meta[key] = _positive_text(key, value, LIMITS[lo], LIMITS[hi])
    if resize is not None:
        if resize not in RESIZE_MODES:
            raise ValueError("resize must be one of %s, not %r" % (", ".join(RESIZE_MODES), resize))
        meta["resize"] = resize
    if description is not None:
        meta["description"] = str(description)
    if training is not None:
        meta["training"] = training if isinstance(training, str) else _json(training)
    return meta


def arch_from_meta(meta):
    """(block, layers, widths, stem_width) described by metadata."""
    arch = meta["arch"]
    if arch in NAMED_ARCHS:
        return resolve_arch(arch)
    return resolve_arch(arch, meta.get("block"), json.loads(meta["layers"]),
                        json.loads(meta["widths"]), int(meta["stem_width"]))
