"""Helpers shared by the command-line tools: output, option values, opening
a model, timing (as examples/cli_util.c does for the C programs)."""

import getopt
import math
import sys
import time

from . import _lib
from .errors import Error
from .model import Model
from .session import Precision, Session


class Exit(Exception):
    """Leave the command with exit status `code`."""

    def __init__(self, code):
        self.code = code


def out(text):
    sys.stdout.write(text)


def err(prog, text):
    sys.stderr.write("%s: %s\n" % (prog, text))


def parse_int(s, lo, hi):
    # cli_parse_int: a whole decimal integer in [lo, hi].
    try:
        v = int(s.strip() if s[:1].isspace() else s, 10)
    except ValueError:
        return None
    return v if lo <= v <= hi else None


def parse_double(s, lo, hi):
    try:
        v = float(s)
    except ValueError:
        return None
    return v if lo <= v <= hi else None


def parse_precision(prog, value):
    """cli_parse_precision: the Precision named `value` exactly (the names of
    covidcam_precision_parse: fp32, bf16, int8, auto; case-sensitive), else
    print why and exit with 2."""
    for p in Precision:
        if value == p.name.lower():
            return p
    err(prog, "--precision needs fp32, bf16, int8 or auto, not '%s'" % value)
    raise Exit(2)


def usage_exit(prog, usage, why):
    if why:
        err(prog, why)
    sys.stderr.write(usage.format(prog=prog))
    raise Exit(2)


def getopt_args(argv, shorts, longs, prog, usage):
    try:
        return getopt.gnu_getopt(argv, shorts, longs)
    except getopt.GetoptError as exc:
        usage_exit(prog, usage, str(exc))


def version(prog):
    out("%s (libcovidcam %s)\n" % (prog, _lib.get().version().decode()))
    raise Exit(0)


def open_model(prog, path, threads, n=None, precision=Precision.FP32, max_batch=1):
    """(model, session), or with n: (model, [n sessions]) over the one model,
    each computing in `precision` and taking batches of up to `max_batch`
    images (cli_sessions); None after printing what went wrong."""
    lib = _lib.get()
    try:
        model = Model(path)
    except Error as exc:
        err(prog, "cannot load model %s: %s: %s"
            % (path, lib.status_string(exc.status).decode(), exc.message))
        return None
    sessions = []
    try:
        for _ in range(n or 1):
            sessions.append(Session(model, threads=threads, precision=precision,
                                    max_batch=max_batch))
    except Error as exc:
        for s in sessions:
            s.close()
        model.close()
        err(prog, "cannot create a session: %s: %s"
            % (lib.status_string(exc.status).decode(), exc.message))
        return None
    return model, (sessions if n else sessions[0])


def now_ms():
    return time.monotonic_ns() / 1e6


def round3(x):
    # cli_round3: round(x * 1e3) / 1e3 with C's halves away from zero (x >= 0).
    r = x * 1e3
    f = math.floor(r)
    return (f + (1 if r - f >= 0.5 else 0)) / 1e3


def pad(name, width):
    # printf's %-20s pads bytes, not characters.
    return name + " " * max(0, width - len(name.encode()))


def image_json(info):
    """cli_json_image_info: the "image" object of --json (JSON has no NaN, so a
    non-finite DICOM window is left out)."""
    import math
    d = info.as_dict()
    d["format"] = {"PIXELS": "pixels", "TENSOR": "tensor", "NONE": "none"}.get(d["format"],
                                                                              d["format"])
    for k in ("window_center", "window_width"):
        if k in d and (d.get("window_source") == "none" or not math.isfinite(d[k])):
            d.pop("window_center", None)
            d.pop("window_width", None)
    return d
