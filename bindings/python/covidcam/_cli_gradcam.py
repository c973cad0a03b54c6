"""`python3 -m covidcam gradcam`: examples/covidcam-gradcam.c in Python."""

import getopt
import os
import sys

from . import _cli_util as u
from . import _jsonout, _lib
from .errors import Error
from .heatmap import Method

GRADCAM_USAGE = """\
Usage: {prog} --model FILE [OPTIONS] [-o OVERLAY.png] [--heatmap HEAT.png]
                        [--npy MAP.npy] IMAGE...
       {prog} --model FILE [OPTIONS] --out-dir DIR [--overlay] [--heatmap] [--npy]
                        IMAGE...

Classify each IMAGE (PNG, JPEG or DICOM, recognised from its bytes) and
compute the class activation map that explains the decision, then print the
probabilities and write the requested images.

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
                          raw_size [h, w], outputs {{kind: path}}, ms, image,
                          ood, ood_score, warnings (as covidcam-classify --json)
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
name without its extension (x.jpg, x.dcm, x.png: NAME x): DIR/NAME.overlay.png,
DIR/NAME.heatmap.png, DIR/NAME.npy.
Without any of them only the overlay is written. Two IMAGEs with the same
NAME are refused.

Errors go to stderr with the library's message. Images that fail are skipped
and the exit status is then 1. Usage errors exit with 2.
"""


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
            u.err(prog, "unknown method '%s' (gradcam, gradcam++, layercam)" % v)
            raise u.Exit(2)
        a["method"] = Method.parse(v)
    elif o in ("-a", "--alpha"):
        a["alpha"] = u.parse_double(v, 0.0, 1.0)
        if a["alpha"] is None:
            u.err(prog, "--alpha needs a number in [0, 1], not '%s'" % v)
            raise u.Exit(2)
    elif o in ("-t", "--threads"):
        a["threads"] = u.parse_int(v, 0, 1024)
        if a["threads"] is None:
            u.err(prog, "--threads needs an integer in [0, 1024], not '%s'" % v)
            raise u.Exit(2)
    elif o in ("-h", "--help"):
        u.out(GRADCAM_USAGE.format(prog=prog))
        raise u.Exit(0)
    elif o in ("-V", "--version"):
        u.version(prog)


def _gradcam_args(argv, prog):
    batch = _batch_mode(argv)
    opts, files = u.getopt_args(argv, *(_BATCH if batch else _SINGLE), prog, GRADCAM_USAGE)
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
        u.usage_exit(prog, GRADCAM_USAGE, why)
    if batch and not (a["overlay"] or a["heatmap"] or a["npy"]):
        a["overlay"] = "yes"
    return a, files


def _resolve_class(prog, model, s):
    if s is None:
        return None
    if s in model.classes:
        return model.classes.index(s)
    n = model.num_classes
    i = u.parse_int(s, 0, n - 1)
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
    """cli_stem: the last path component without its extension (a leading dot
    is kept); None if empty or too long."""
    base = path.rsplit("/", 1)[-1]
    dot = base.rfind(".")
    if dot > 0:
        base = base[:dot]
    return base if base and _fits(base) else None


def _check_unique(prog, files):
    seen = {}
    for f in files:
        s = stem(f)
        if s is None:
            u.err(prog, "%s: cannot name outputs after this path" % f)
            return False
        if s in seen:
            u.err(prog, "%s and %s would both write %s.* in --out-dir" % (seen[s], f, s))
            return False
        seen[s] = f
    return True


def _make_dir(prog, d):
    try:
        os.mkdir(d)
    except FileExistsError:
        if os.path.isdir(d):
            return True
        u.err(prog, "cannot create directory %s: not a directory" % d)
        return False
    except OSError as exc:
        u.err(prog, "cannot create directory %s: %s" % (d, exc.strerror))
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


def _write_outputs(cam, out, alpha):
    """None, or (status, message) of the first output that could not be written."""
    lib = _lib.get()
    for kind, write in (("overlay", lambda p: cam.save_overlay(p, alpha)),
                        ("heatmap", cam.save_colormap), ("npy", cam.save_npy)):
        if not out[kind]:
            continue
        try:
            write(out[kind])
        except Error as exc:
            return (lib.status_string(exc.status).decode(),
                    "%s %s: %s" % (kind, out[kind], exc.message))
    return None


def _report(prog, a, file, status, message):
    u.err(prog, "%s: %s: %s" % (file, status, message))
    if a["json"]:
        u.out(_jsonout.error_line(file, status, message) + "\n")


def _print_cam_text(file, cam, out):
    r = cam.result()
    u.out("%s: %s (%.4f); %s of %s (%.4f) at %s\n" % (
        file, r.label, r.probability, cam.method.label, cam.class_name, cam.probability,
        cam.layer))
    for c, p in zip(r.classes, r.probabilities):
        u.out("  %s %.4f\n" % (u.pad(c, 20), p))
    for kind in ("overlay", "heatmap", "npy"):
        if out[kind]:
            u.out("  %s %s\n" % (u.pad(kind, 8), out[kind]))
    trust = cam.assessment()
    if trust.ood:
        u.out(trust.ood_line() + "\n")


def _print_cam_json(file, cam, out, ms):
    r = cam.result()
    w, h = cam.raw_size
    line = _jsonout.file_fields("file", file)
    outputs = {}
    for k, v in out.items():
        if v:
            outputs.update(_jsonout.file_fields(k, v))
    line.update({
        "top": r.label,
        "probabilities": _jsonout.class_map(r.classes, r.probabilities),
        "class": cam.class_name, "probability": _jsonout.F32(cam.probability),
        "method": cam.method.label, "layer": cam.layer, "raw_size": [h, w],
        "outputs": outputs, "ms": ms,
        "image": u.image_json(cam.image_info())})
    info, trust = cam.image_info(), cam.assessment()
    line.update({"ood": trust.ood,
                 "ood_score": trust.ood_score if trust.ood_available else None,
                 "warnings": info.warnings() + trust.sentences()})
    u.out(_jsonout.dumps(line) + "\n")


def _explain_one(prog, session, a, target, file):
    lib = _lib.get()
    t0 = u.now_ms()
    try:
        cam = session.gradcam_file(file, method=a["method"], layer=a["layer"], target=target)
    except Error as exc:
        _report(prog, a, file, lib.status_string(exc.status).decode(), exc.message)
        return 1
    ms = u.round3(u.now_ms() - t0)
    with cam:
        for w in cam.image_info().warnings() + cam.assessment().sentences():
            u.err(prog, "%s: warning: %s" % (file, w))
        out = _outputs_for(a, file)
        failed = _write_outputs(cam, out, a["alpha"])
        if failed:
            _report(prog, a, file, *failed)
        elif a["json"]:
            _print_cam_json(file, cam, out, ms)
        else:
            _print_cam_text(file, cam, out)
    return 1 if failed else 0


def gradcam_main(argv, prog="covidcam gradcam"):
    a, files = _gradcam_args(argv, prog)
    opened = u.open_model(prog, a["model"], a["threads"])
    if not opened:
        return 1
    model, session = opened
    with model, session:
        if a["list_layers"]:
            for name in model.layers:
                u.out(name + "\n")
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
                u.err(prog, "%s: output path too long" % f)
                failed = 1
                continue
            failed |= _explain_one(prog, session, a, target, f)
            sys.stdout.flush()
    return failed
