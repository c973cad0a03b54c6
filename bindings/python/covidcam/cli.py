"""`python3 -m covidcam classify|gradcam ...`: the example programs in Python.

Same options, text and JSON output, output files and exit statuses as
examples/covidcam-classify.c and examples/covidcam-gradcam.c (stdout is
byte-identical apart from the measured "ms"). Usage errors exit with 2.
"""

import getopt
import math
import os
import sys
import time

from . import _jsonout, _lib
from .errors import Error, LibraryNotFoundError
from .heatmap import Method
from .model import Model
from .session import Session

CLASSIFY_USAGE = """\
Usage: {prog} --model FILE [--json] [--threads N] IMAGE...

Classify each PNG IMAGE (any bit depth or color type; converted to gray)
with the covidcam model FILE and print the top class and the probability
of every class.

  -m, --model FILE   covidcam safetensors model (docs/model-format.md)
  -j, --json         one JSON object per image and line:
                       {{"file":..., "top":..., "probabilities":{{class: p}},
                        "logits":{{class: z}}, "ms":...}}
                     ms is the wall time of the classify call (decode,
                     preprocessing, network). A failed image gives
                     {{"file":..., "status":..., "error":...}} instead.
  -t, --threads N    oneDNN threads (default 0 = all cores)
  -h, --help         show this help
  -V, --version      show the library version

Errors go to stderr with the library's message. Images that fail are
skipped; the exit status is then 1. Usage errors exit with 2.
"""

GRADCAM_USAGE = """\
Usage: {prog} --model FILE [OPTIONS] [-o OVERLAY.png] [--heatmap HEAT.png]
                        [--npy MAP.npy] IMAGE...
       {prog} --model FILE [OPTIONS] --out-dir DIR [--overlay] [--heatmap] [--npy]
                        IMAGE...

Classify each PNG IMAGE and compute the class activation map that explains
the decision, then print the probabilities and write the requested images.

Options:
  -m, --model FILE        covidcam safetensors model (docs/model-format.md)
  -l, --layer NAME        target block: layer4 (default; last block of stage 4),
                          layer4.1, layer3, layer2.0, ... (see --list-layers)
  -c, --class NAME|INDEX  class to explain (default: the top class)
  -M, --method METHOD     gradcam (default), gradcam++ or layercam
  -a, --alpha A           heatmap opacity in the overlay, 0..1 (default 0.5,
                          i.e. pytorch-grad-cam's image_weight = 1 - A = 0.5)
  -j, --json              one JSON object per image and line: file, top,
                          probabilities, class, probability, method, layer,
                          raw_size [h, w], outputs {{kind: path}}, ms
  -t, --threads N         oneDNN threads (default 0 = all cores)
      --list-layers       print the model's target layer names and exit
  -h, --help              show this help
  -V, --version           show the library version

Outputs for one image (several IMAGEs without --out-dir are only printed):
  -o, --overlay FILE      the map over the image, at the image's size (RGB PNG)
      --heatmap FILE      the jet colormap alone, at the image's size (RGB PNG)
      --npy FILE          the map normalised to [0, 1] at the model input size,
                          float32 NumPy array of shape (S, S)

Batch mode, with --out-dir DIR (created if missing), the output options take
no file name and select what to write for each IMAGE, named after the file
name without .png: DIR/NAME.overlay.png, DIR/NAME.heatmap.png, DIR/NAME.npy.
Without any of them only the overlay is written. Two IMAGEs with the same
NAME are refused.

Errors go to stderr with the library's message. Images that fail are skipped
and the exit status is then 1. Usage errors exit with 2.
"""

MAIN_USAGE = """\
Usage: python3 -m covidcam classify --model FILE [--json] [--threads N] IMAGE...
       python3 -m covidcam gradcam --model FILE [OPTIONS] IMAGE...
       python3 -m covidcam version

The example programs covidcam-classify and covidcam-gradcam on the Python
binding; `python3 -m covidcam COMMAND --help` describes each.
"""


class UsageError(Exception):
    pass


class Exit(Exception):
    def __init__(self, code):
        self.code = code


def _out(text):
    sys.stdout.write(text)


def _err(prog, text):
    sys.stderr.write("%s: %s\n" % (prog, text))


def _parse_int(s, lo, hi):
    # cli_parse_int: a whole decimal integer in [lo, hi].
    try:
        v = int(s.strip() if s[:1].isspace() else s, 10)
    except ValueError:
        return None
    return v if lo <= v <= hi else None


def _parse_double(s, lo, hi):
    try:
        v = float(s)
    except ValueError:
        return None
    return v if lo <= v <= hi else None


def _usage_exit(prog, usage, why):
    if why:
        _err(prog, why)
    sys.stderr.write(usage.format(prog=prog))
    raise Exit(2)


def _getopt(argv, shorts, longs, prog, usage):
    try:
        return getopt.gnu_getopt(argv, shorts, longs)
    except getopt.GetoptError as exc:
        _usage_exit(prog, usage, str(exc))


def _version(prog):
    _out("%s (libcovidcam %s)\n" % (prog, _lib.get().version().decode()))
    raise Exit(0)


def _open(prog, path, threads):
    """(model, session), or None after printing what went wrong."""
    lib = _lib.get()
    try:
        model = Model(path)
    except Error as exc:
        _err(prog, "cannot load model %s: %s: %s" % (path, lib.status_string(exc.status)
                                                      .decode(), exc.message))
        return None
    try:
        session = Session(model, threads=threads)
    except Error as exc:
        model.close()
        _err(prog, "cannot create a session: %s: %s" % (lib.status_string(exc.status)
                                                         .decode(), exc.message))
        return None
    return model, session


def _now_ms():
    return time.monotonic_ns() / 1e6


def _round3(x):
    # cli_round3: round(x * 1e3) / 1e3 with C's halves away from zero (x >= 0).
    r = x * 1e3
    f = math.floor(r)
    return (f + (1 if r - f >= 0.5 else 0)) / 1e3


def _pad(name, width):
    # printf's %-20s pads bytes, not characters.
    return name + " " * max(0, width - len(name.encode()))


# ------------------------------------------------------------------ classify


def _classify_args(argv, prog):
    opts, files = _getopt(argv, "m:jt:hV", ["model=", "json", "threads=", "help", "version"],
                          prog, CLASSIFY_USAGE)
    a = {"model": None, "json": False, "threads": 0}
    for o, v in opts:
        if o in ("-m", "--model"):
            a["model"] = v
        elif o in ("-j", "--json"):
            a["json"] = True
        elif o in ("-t", "--threads"):
            a["threads"] = _parse_int(v, 0, 1024)
            if a["threads"] is None:
                _err(prog, "--threads needs an integer in [0, 1024], not '%s'" % v)
                raise Exit(2)
        elif o in ("-h", "--help"):
            _out(CLASSIFY_USAGE.format(prog=prog))
            raise Exit(0)
        elif o in ("-V", "--version"):
            _version(prog)
    if not a["model"] or not files:
        _usage_exit(prog, CLASSIFY_USAGE,
                    "no IMAGE given" if a["model"] else "--model is required")
    return a, files


def _classify_one(prog, session, file, json):
    lib = _lib.get()
    t0 = _now_ms()
    try:
        r = session.classify_file(file)
    except Error as exc:
        status = lib.status_string(exc.status).decode()
        _err(prog, "%s: %s: %s" % (file, status, exc.message))
        if json:
            _out(_jsonout.dumps({"file": file, "status": status, "error": exc.message}) + "\n")
        return 1
    ms = _round3(_now_ms() - t0)
    if not json:
        _out("%s: %s\n" % (file, r.label))
        for c, p in zip(r.classes, r.probabilities):
            _out("  %s %.4f\n" % (_pad(c, 20), p))
        return 0
    _out(_jsonout.dumps({"file": file, "top": r.label,
                         "probabilities": _jsonout.class_map(r.classes, r.probabilities),
                         "logits": _jsonout.class_map(r.classes, r.logits),
                         "ms": ms}) + "\n")
    return 0


def classify_main(argv, prog="covidcam classify"):
    a, files = _classify_args(argv, prog)
    opened = _open(prog, a["model"], a["threads"])
    if not opened:
        return 1
    model, session = opened
    failed = 0
    with model, session:
        for f in files:
            failed |= _classify_one(prog, session, f, a["json"])
            sys.stdout.flush()
    return failed


# ------------------------------------------------------------------ gradcam

_COMMON_LONG = ["model=", "layer=", "class=", "method=", "alpha=", "json", "threads=", "help",
                "version", "out-dir=", "list-layers"]
_SINGLE = ("m:l:c:M:a:jt:hVo:", _COMMON_LONG + ["overlay=", "heatmap=", "npy="])
_BATCH = ("m:l:c:M:a:jt:hVo", _COMMON_LONG + ["overlay", "heatmap", "npy"])


def _batch_mode(argv):
    # Parsed with the batch table, under which --out-dir can never be taken
    # for the file name of an output option (as the C program does).
    try:
        opts, _ = getopt.gnu_getopt(argv, *_BATCH)
    except getopt.GetoptError:
        return False
    return any(o == "--out-dir" for o, _ in opts)


def _gradcam_option(prog, a, o, v, batch):
    simple = {"-m": "model", "--model": "model", "-l": "layer", "--layer": "layer",
              "-c": "class", "--class": "class", "--out-dir": "out_dir"}
    outputs = {"-o": "overlay", "--overlay": "overlay", "--heatmap": "heatmap", "--npy": "npy"}
    if o in simple:
        a[simple[o]] = v
    elif o in outputs:
        a[outputs[o]] = "yes" if batch else v
    elif o in ("-j", "--json"):
        a["json"] = True
    elif o == "--list-layers":
        a["list_layers"] = True
    elif o in ("-M", "--method"):
        if v not in ("gradcam", "gradcam++", "gradcampp", "layercam"):
            _err(prog, "unknown method '%s' (gradcam, gradcam++, layercam)" % v)
            raise Exit(2)
        a["method"] = Method.parse(v)
    elif o in ("-a", "--alpha"):
        a["alpha"] = _parse_double(v, 0.0, 1.0)
        if a["alpha"] is None:
            _err(prog, "--alpha needs a number in [0, 1], not '%s'" % v)
            raise Exit(2)
    elif o in ("-t", "--threads"):
        a["threads"] = _parse_int(v, 0, 1024)
        if a["threads"] is None:
            _err(prog, "--threads needs an integer in [0, 1024], not '%s'" % v)
            raise Exit(2)
    elif o in ("-h", "--help"):
        _out(GRADCAM_USAGE.format(prog=prog))
        raise Exit(0)
    elif o in ("-V", "--version"):
        _version(prog)


def _gradcam_args(argv, prog):
    batch = _batch_mode(argv)
    opts, files = _getopt(argv, *(_BATCH if batch else _SINGLE), prog, GRADCAM_USAGE)
    a = {"model": None, "layer": None, "class": None, "out_dir": None, "json": False,
         "list_layers": False, "method": Method.GRADCAM, "alpha": 0.5, "threads": 0,
         "overlay": None, "heatmap": None, "npy": None}
    for o, v in opts:
        _gradcam_option(prog, a, o, v, batch)
    why = None
    if not a["model"]:
        why = "--model is required"
    elif a["list_layers"]:
        pass
    elif not files:
        why = "no IMAGE given"
    elif not a["out_dir"] and len(files) > 1 and (a["overlay"] or a["heatmap"] or a["npy"]):
        why = "several IMAGEs need --out-dir to write images or maps"
    if why:
        _usage_exit(prog, GRADCAM_USAGE, why)
    if batch and not (a["overlay"] or a["heatmap"] or a["npy"]):
        a["overlay"] = "yes"
    return a, files


def _resolve_class(prog, model, s):
    if s is None:
        return None
    if s in model.classes:
        return model.classes.index(s)
    n = model.num_classes
    i = _parse_int(s, 0, n - 1)
    if i is not None:
        return i
    sys.stderr.write("%s: --class '%s' is neither a class name nor an index in [0, %d]:%s\n"
                     % (prog, s, n - 1, "".join(" " + c for c in model.classes)))
    return False


def _check_layer(prog, model, layer):
    # Refuse an unknown --layer once rather than once per image.
    if not layer or layer in model.layers:
        return True
    sys.stderr.write("%s: unknown --layer '%s'; this model has:%s\n"
                     % (prog, layer, "".join(" " + n for n in model.layers)))
    return False


PATH_MAX = 4096  # the C programs' buffers for output paths


def _fits(s):
    return len(os.fsencode(s)) < PATH_MAX


def stem(path):
    """cli_stem: the last path component without a .png suffix (any case);
    None if empty or too long."""
    base = path.rsplit("/", 1)[-1]
    if len(base) > 4 and base[-4:].lower() == ".png":
        base = base[:-4]
    return base if base and _fits(base) else None


def _check_unique(prog, files):
    seen = {}
    for f in files:
        s = stem(f)
        if s is None:
            _err(prog, "%s: cannot name outputs after this path" % f)
            return False
        if s in seen:
            _err(prog, "%s and %s would both write %s.* in --out-dir" % (seen[s], f, s))
            return False
        seen[s] = f
    return True


def _make_dir(prog, d):
    try:
        os.mkdir(d)
    except FileExistsError:
        if os.path.isdir(d):
            return True
        _err(prog, "cannot create directory %s: not a directory" % d)
        return False
    except OSError as exc:
        _err(prog, "cannot create directory %s: %s" % (d, exc.strerror))
        return False
    return True


def _outputs_for(a, file):
    if not a["out_dir"]:
        return {k: a[k] for k in ("overlay", "heatmap", "npy")}
    s = stem(file)
    suffix = {"overlay": ".overlay.png", "heatmap": ".heatmap.png", "npy": ".npy"}
    out = {k: ("%s/%s%s" % (a["out_dir"], s, suffix[k]) if a[k] else None) for k in suffix}
    if s is None or not all(_fits(p) for p in out.values() if p):
        return None
    return out


def _write_outputs(prog, cam, out, alpha):
    lib = _lib.get()
    for kind, write in (("overlay", lambda p: cam.save_overlay(p, alpha)),
                        ("heatmap", cam.save_colormap)):
        if not out[kind]:
            continue
        try:
            write(out[kind])
        except Error as exc:
            _err(prog, "%s: %s: %s" % (out[kind], lib.status_string(exc.status).decode(),
                                       exc.message))
            return 1
    if out["npy"]:
        try:
            cam.save_npy(out["npy"])
        except OSError as exc:
            _err(prog, "%s: cannot write: %s" % (out["npy"], exc.strerror))
            return 1
    return 0


def _print_cam_text(file, cam, out):
    r = cam.result()
    _out("%s: %s (%.4f); %s of %s (%.4f) at %s\n" % (
        file, r.label, r.probability, cam.method.label, cam.class_name, cam.probability,
        cam.layer))
    for c, p in zip(r.classes, r.probabilities):
        _out("  %s %.4f\n" % (_pad(c, 20), p))
    for kind in ("overlay", "heatmap", "npy"):
        if out[kind]:
            _out("  %s %s\n" % (_pad(kind, 8), out[kind]))


def _print_cam_json(file, cam, out, ms):
    r = cam.result()
    w, h = cam.raw_size
    _out(_jsonout.dumps({
        "file": file, "top": r.label,
        "probabilities": _jsonout.class_map(r.classes, r.probabilities),
        "class": cam.class_name, "probability": _jsonout.F32(cam.probability),
        "method": cam.method.label, "layer": cam.layer, "raw_size": [h, w],
        "outputs": {k: v for k, v in out.items() if v}, "ms": ms}) + "\n")


def _explain_one(prog, session, a, target, file):
    lib = _lib.get()
    t0 = _now_ms()
    try:
        cam = session.gradcam_file(file, method=a["method"], layer=a["layer"], target=target)
    except Error as exc:
        _err(prog, "%s: %s: %s" % (file, lib.status_string(exc.status).decode(), exc.message))
        return 1
    ms = _round3(_now_ms() - t0)
    with cam:
        out = _outputs_for(a, file)
        failed = _write_outputs(prog, cam, out, a["alpha"])
        if not failed and a["json"]:
            _print_cam_json(file, cam, out, ms)
        elif not failed:
            _print_cam_text(file, cam, out)
    return failed


def gradcam_main(argv, prog="covidcam gradcam"):
    a, files = _gradcam_args(argv, prog)
    opened = _open(prog, a["model"], a["threads"])
    if not opened:
        return 1
    model, session = opened
    with model, session:
        if a["list_layers"]:
            for name in model.layers:
                _out(name + "\n")
            return 0
        if not _check_layer(prog, model, a["layer"]):
            return 2
        target = _resolve_class(prog, model, a["class"])
        if target is False:
            return 2
        if a["out_dir"] and not _check_unique(prog, files):
            return 2  # a usage error, found before any work is done
        if a["out_dir"] and not _make_dir(prog, a["out_dir"]):
            return 1
        failed = 0
        for f in files:
            if a["out_dir"] and _outputs_for(a, f) is None:
                _err(prog, "%s: output path too long" % f)
                failed = 1
                continue
            failed |= _explain_one(prog, session, a, target, f)
            sys.stdout.flush()
    return failed


# ------------------------------------------------------------------ entry


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    commands = {"classify": classify_main, "gradcam": gradcam_main}
    try:
        if not argv or argv[0] in ("-h", "--help"):
            (sys.stdout if argv else sys.stderr).write(MAIN_USAGE)
            return 0 if argv else 2
        if argv[0] in ("version", "-V", "--version"):
            _out("covidcam (libcovidcam %s, %s)\n" % (_lib.get().version().decode(),
                                                     _lib.get().path))
            return 0
        if argv[0] not in commands:
            _err("covidcam", "unknown command '%s' (classify, gradcam)" % argv[0])
            sys.stderr.write(MAIN_USAGE)
            return 2
        return commands[argv[0]](argv[1:])
    except Exit as e:
        return e.code
    except LibraryNotFoundError as exc:
        _err("covidcam", str(exc))
        return 1
