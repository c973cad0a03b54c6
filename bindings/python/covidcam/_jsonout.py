"""JSON lines formatted exactly as the C example programs print them
(jansson, JSON_COMPACT | JSON_REAL_PRECISION(9), examples/cli_util.c), so the
output of `python3 -m covidcam` can be compared byte for byte."""

import math
import os
import struct


class F32:
    """A float32 value printed in the shortest form that reads back as it."""
    __slots__ = ("value",)

    def __init__(self, value):
        self.value = value


def _f32(x):
    return struct.unpack("<f", struct.pack("<f", x))[0]


def shortest_f32(x):
    """cli_json_float: the first of %.6g ... %.9g that reads back as float x."""
    f = _f32(x)
    for prec in range(6, 10):
        s = "%.*g" % (prec, f)
        if _f32(float(s)) == f:
            break
    return float(s)


def _real(x):
    if not math.isfinite(x):
        raise ValueError("%r has no JSON representation" % x)
    # jansson's jsonp_dtostr: "%.9g", then ".0" if it looks like an integer,
    # and no '+' or leading zeros in the exponent.
    s = "%.9g" % x
    if "." not in s and "e" not in s:
        s += ".0"
    if "e" in s:
        mant, exp = s.split("e")
        sign = "-" if exp.startswith("-") else ""
        s = "%se%s%s" % (mant, sign, exp.lstrip("+-").lstrip("0") or "0")
    return s


_ESC = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r",
        "\t": "\\t"}


def _string(s):
    out = []
    for ch in s:
        if "\ud800" <= ch <= "\udfff":  # a byte of a non-UTF-8 name (surrogateescape)
            out.append("\ufffd")
        elif ch in _ESC:
            out.append(_ESC[ch])
        elif ord(ch) < 0x20:
            out.append("\\u%04X" % ord(ch))
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def dumps(v):
    """Compact JSON of dicts (insertion order), lists, str, int, float, F32."""
    if isinstance(v, dict):
        return "{" + ",".join(_string(k) + ":" + dumps(x) for k, x in v.items()) + "}"
    if isinstance(v, (list, tuple)):
        return "[" + ",".join(dumps(x) for x in v) + "]"
    if isinstance(v, str):
        return _string(v)
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, F32):
        return _real(shortest_f32(v.value))
    if isinstance(v, float):
        return _real(v)
    if v is None:
        return "null"
    raise TypeError("cannot format %s as JSON" % type(v).__name__)


def class_map(classes, values):
    return {c: F32(x) for c, x in zip(classes, values)}


def file_fields(key, path):
    """{key: name} with U+FFFD for every byte that is not UTF-8, plus
    {key + "_bytes": hex of the exact bytes} when there is one, as
    cli_json_set_file does in the C programs."""
    raw = os.fsencode(path)
    try:
        return {key: raw.decode("utf-8")}
    except UnicodeDecodeError:
        return {key: raw.decode("utf-8", "replace"), key + "_bytes": raw.hex()}


def error_line(file, status, message):
    """The JSON line of a failed image."""
    d = file_fields("file", file)
    d.update(status=status, error=message)
    return dumps(d)
