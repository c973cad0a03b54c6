"""The covidcam safetensors writer: F32 tensors plus the metadata the C loader
requires, checked here against the loader's own rules (lib/net/model_load.c) so a
bad option is reported before anything is written."""

import json
import math
import os
import struct

from .errors import ConvertError

MAX_INPUT_SIZE = 1024
MAX_CLASS_NAME_BYTES = 255
MAX_HEADER_BYTES = 16 << 20  # COVIDCAM_MAX_HEADER_BYTES


def _json(v):
    return json.dumps(v, separators=(",", ":"))


def _text(value, what):
    """value if it is valid UTF-8 text (argv may carry undecodable bytes)."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ConvertError("%s %s is not valid UTF-8 text"
                           % (what, value.encode("utf-8", "backslashreplace").decode())) from None
    return value


def metadata(arch, classes, input_size, input_channels, mean, std, bn_eps=None,
             description=None, source=None):
    """The __metadata__ dict for `arch` (resnet_map.Arch); ConvertError for values
    the loader would refuse."""
    if not 2 <= len(classes) <= 1000:
        raise ConvertError("--classes needs 2 to 1000 names, got %d" % len(classes))
    for i, c in enumerate(classes):
        _text(c, "class %d" % i)
        if not c or len(c.encode("utf-8")) > MAX_CLASS_NAME_BYTES:
            raise ConvertError("class %d (%r) must be a non-empty name of at most %d bytes"
                               % (i, c, MAX_CLASS_NAME_BYTES))
        if c in classes[:i]:
            raise ConvertError("class '%s' appears twice in --classes" % c)
    if not 8 <= input_size <= MAX_INPUT_SIZE:
        raise ConvertError("--input-size must be 8 to %d pixels, not %d"
                           % (MAX_INPUT_SIZE, input_size))
    if input_channels not in (1, 3):
        raise ConvertError("input channels must be 1 or 3, not %d" % input_channels)
    for key, vals, positive in (("mean", mean, False), ("std", std, True)):
        if len(vals) != input_channels:
            raise ConvertError("--%s needs 1 or %d numbers (one per input channel), got %d"
                               % (key, input_channels, len(vals)))
        for v in vals:
            if not math.isfinite(v) or (positive and v <= 0):
                raise ConvertError("--%s values must be finite%s numbers, not %r"
                                   % (key, " positive" if positive else "", v))
    meta = {"format": "covidcam", "format_version": "1", "arch": arch.name}
    if arch.name == "resnet":
        meta.update(block=arch.block, layers=_json(list(arch.layers)),
                    widths=_json(list(arch.widths)), stem_width=str(arch.stem_width))
    meta.update(input_size=str(input_size), input_channels=str(input_channels),
                mean=_json(list(mean)), std=_json(list(std)), classes=_json(list(classes)))
    if bn_eps is not None:
        if not 0 < bn_eps < 1:
            raise ConvertError("batch-norm epsilon %r is outside (0, 1)" % bn_eps)
        meta["bn_eps"] = repr(float(bn_eps))
    if description:
        meta["description"] = _text(description, "--description")
    if source:
        meta["converted_from"] = source
    return meta


def write(path, tensors, meta):
    """Write `tensors` (name -> C-contiguous little-endian float32 ndarray) and
    `meta` as safetensors; the file appears whole or not at all."""
    header, offset = {}, 0
    for name, v in tensors.items():
        header[name] = {"dtype": "F32", "shape": list(v.shape),
                        "data_offsets": [offset, offset + v.nbytes]}
        offset += v.nbytes
    header["__metadata__"] = meta
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * (-len(text) % 8)
    if len(text) > MAX_HEADER_BYTES:
        raise ConvertError("the safetensors header would have %d bytes, more than the loader's "
                           "limit of %d (a very long --description?)" % (len(text), MAX_HEADER_BYTES))
    tmp = "%s.tmp%d" % (path, os.getpid())
    try:
        with open(tmp, "wb") as f:
            f.write(struct.pack("<Q", len(text)))
            f.write(text)
            for v in tensors.values():
                f.write(v.tobytes())
        os.replace(tmp, path)
    except OSError as exc:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise ConvertError("cannot write %s: %s" % (path, exc.strerror or exc)) from None
