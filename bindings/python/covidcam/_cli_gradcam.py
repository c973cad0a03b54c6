"""`python3 -m covidcam gradcam`: examples/covidcam-gradcam.c in Python."""

import getopt
import os
import sys

from . import _cli_util as u
from . import _cli_batch, _cli_inputs, _jsonout, _lib
from .errors import Error
from .heatmap import AugSmooth, Method
from .session import Precision

GRADCAM_USAGE = """\
Usage: {prog} --model FILE [OPTIONS] [-o OVERLAY.png] [--heatmap HEAT.png]
                        [--npy MAP.npy] IMAGE|FOLDER|-...
       {prog} --model FILE [OPTIONS] --out-dir DIR [--overlay] [--heatmap] [--npy]
                        IMAGE|FOLDER|-...

Classify each IMAGE (PNG, JPEG or DICOM, recognised from its bytes) and
compute the class activation map that explains the decision, then print the
probabilities and write the requested images.

Options:
  -m, --model FILE        covidcam safetensors model (docs/model-format.md)
  -l, --layer NAME        target block: layer4 (default; last block of stage 4),
                          layer4.1, layer3, layer2.0, ... (see --list-layers);
                          several separated by commas give their mean map
  -c, --class NAME|INDEX  class to explain (default: the top class)
  -M, --method METHOD     gradcam (default) or any of: {methods}
                          (docs/gradcam.md; scorecam: one pass per channel)
      --eigen-smooth      first principal component instead of the weighted sum
      --aug-smooth MODE   none (default), intensity (x 0.9, 1, 1.1) or flip
                          (those and their mirrors; see docs/gradcam.md)
      --label             draw the class, probability, method and layer and a
                          colour bar on the overlay
  -a, --alpha A           heatmap opacity in the overlay, 0..1 (default 0.5,
                          i.e. pytorch-grad-cam's image_weight = 1 - A = 0.5)
  -j, --json              one JSON object per image and line: file, top,
                          probabilities, class, probability, method, layer,
                          eigen_smooth and aug_smooth (when used),
                          raw_size [h, w], outputs {{kind: path}}, ms, image,
                          ood, ood_score, warnings (as covidcam-classify --json)
      --csv FILE          also write one CSV row per image (RFC 4180): file,
                          status, top, a column per class, class, probability,
                          overlay, heatmap, npy, ood, ood_score, warnings,
                          error, file_bytes (as covidcam-classify --csv)
  -t, --threads N         oneDNN threads per worker (default: all cores for one
                          worker, cores / workers for several)
  -J, --jobs N            workers, each with its own session (default: min(cores,
                          8), cores / --threads when given); input order kept
      --pattern GLOB      only files in FOLDERs whose name matches GLOB
      --precision P       fp32 (default), bf16 (CPUs with AVX512-BF16 or AMX),
                          int8 (files made by covidcam-quantize; the map from
                          fp32) or auto (int8 for such files, else bf16 where
                          the CPU has it, else fp32)
  -q, --quiet             no progress and no summary on stderr
      --list-layers       print the model's target layer names and exit
  -h, --help              show this help
  -V, --version           show the library version

Outputs for one image (several IMAGEs without --out-dir are only printed):
  -o, --overlay FILE      the map over the image, at the image's size (RGB PNG)
      --heatmap FILE      the jet colormap alone, at the image's size (RGB PNG)
      --npy FILE          the map normalised to [0, 1] at the model input size,
                          float32 NumPy array of shape (S, S)

Batch mode, with --out-dir DIR (created if missing), the output options take
no file name and select what to write for each IMAGE, named after its path
under its FOLDER (the file name for an IMAGE named directly or listed on
stdin) without the extension: DIR/SUB/NAME.overlay.png, .heatmap.png, .npy,
mirroring the FOLDER's tree. Without any of them only the overlay is
written. When two IMAGEs would get the same NAME (x.png beside x.jpg, or the
same path under two FOLDERs), the later ones in input order are NAME~2,
NAME~3... DIR/index.csv (the --csv columns) and DIR/index.jsonl (the --json
lines) list every input, what was written for it and its result or error.

A FOLDER is searched recursively for PNG, JPEG and DICOM files (recognised
from their bytes), in the byte order of their paths; "-" reads paths from
stdin, one per line. Progress and a summary go to stderr as for
covidcam-classify.

Errors go to stderr with the library's message. Images that fail are reported
and counted; the exit status is then 1. Usage errors exit with 2.
"""


_COMMON_LONG = ["model=", "layer=", "class=", "method=", "alpha=", "json", "threads=", "help",
                "version", "out-dir=", "list-layers", "csv=", "pattern=", "jobs=", "quiet",
                "eigen-smooth", "aug-smooth=", "label", "precision="]
_SINGLE = ("m:l:c:M:a:jt:J:qhVo:", _COMMON_LONG + ["overlay=", "heatmap=", "npy="])
_BATCH = ("m:l:c:M:a:jt:J:qhVo", _COMMON_LONG + ["overlay", "heatmap", "npy"])


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
              "-c": "class", "--class": "class", "--out-dir": "out_dir", "--csv": "csv",
              "--pattern": "pattern"}
    outputs = {"-o": "overlay", "--overlay": "overlay", "--heatmap": "heatmap", "--npy": "npy"}
    if o in simple:
        a[simple[o]] = v
    elif o in outputs:
        a[outputs[o]] = "yes" if batch else v
    elif o in ("-j", "--json"):
        a["json"] = True
    elif o == "--list-layers":
        a["list_layers"] = True
    elif o in ("-q", "--quiet"):
        a["quiet"] = True
    elif o in ("-J", "--jobs"):
        a["jobs"] = u.parse_int(v, 1, 1024)
        if a["jobs"] is None:
            u.err(prog, "--jobs needs an integer in [1, 1024], not '%s'" % v)
            raise u.Exit(2)
    elif o in ("-M", "--method"):
        # the library's names, exactly (case-sensitive, as the C program)
        names = [m.label for m in Method]
        if v not in names + ["gradcampp"]:
            u.err(prog, "unknown method '%s' (%s)" % (v, ", ".join(names)))
            raise u.Exit(2)
        a["method"] = Method.parse(v)
    elif o == "--eigen-smooth":
        a["eigen_smooth"] = True
    elif o == "--label":
        a["label"] = True
    elif o == "--precision":
        a["precision"] = u.parse_precision(prog, v)
    elif o == "--aug-smooth":
        if v not in ("none", "intensity", "flip"):
            u.err(prog, "--aug-smooth needs none, intensity or flip, not '%s'" % v)
            raise u.Exit(2)
        a["aug_smooth"] = AugSmooth.parse(v)
    elif o in ("-a", "--alpha"):
        a["alpha"] = u.parse_double(v, 0.0, 1.0)
        if a["alpha"] is None:
            u.err(prog, "--alpha needs a number in [0, 1], not '%s'" % v)
            raise u.Exit(2)
    elif o in ("-t", "--threads"):
        a["threads"] = u.parse_int(v, 0, 1024)
        a["threads_set"] = True
        if a["threads"] is None:
            u.err(prog, "--threads needs an integer in [0, 1024], not '%s'" % v)
            raise u.Exit(2)
    elif o in ("-h", "--help"):
        u.out(_usage(prog))
        raise u.Exit(0)
    elif o in ("-V", "--version"):
        u.version(prog)


def _template():
    """GRADCAM_USAGE with the library's method names, still a format template."""
    return GRADCAM_USAGE.replace("{methods}", ", ".join(m.label for m in Method))


def _usage(prog):
    return _template().format(prog=prog)


def _gradcam_args(argv, prog):
    batch = _batch_mode(argv)
    opts, files = u.getopt_args(argv, *(_BATCH if batch else _SINGLE), prog, _template())
    a = {"model": None, "layer": None, "class": None, "out_dir": None, "json": False,
         "list_layers": False, "method": Method.GRADCAM, "alpha": 0.5, "threads": 0,
         "threads_set": False, "jobs": 0, "csv": None, "pattern": None, "quiet": False,
         "overlay": None, "heatmap": None, "npy": None, "eigen_smooth": False,
         "aug_smooth": AugSmooth.NONE, "label": False, "precision": Precision.FP32}
    for o, v in opts:
        _gradcam_option(prog, a, o, v, batch)
    why = None
    if not a["model"]:
        why = "--model is required"
    elif a["list_layers"]:
        pass
    elif not files:
        why = "no IMAGE given"
    if why:
        u.usage_exit(prog, _template(), why)
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
    # Refuse an unknown --layer (or one of a comma list) once rather than once
    # per image; the library refuses the rest (empty names, too many).
    if not layer:
        return True
    for name in layer.split(","):
        name = name.strip(" ")
        if name not in model.layers:
            sys.stderr.write("%s: unknown --layer '%s'; this model has:%s\n"
                             % (prog, name, "".join(" " + n for n in model.layers)))
            return False
    return True


PATH_MAX = 4096  # the C programs' buffers for output paths


def _fits(s):
    return len(os.fsencode(s)) < PATH_MAX


def stem(rel):
    """cli_stem of the last component of rel: None if empty or too long."""
    base = rel.rsplit("/", 1)[-1]
    dot = base.rfind(".")
    if dot > 0:
        base = base[:dot]
    return base if base and _fits(base) else None


def _name_outputs(out_dir, items):
    """name_outputs: per input, "DIR/SUB/NAME" or (None, why); later inputs
    that would clash get NAME~2, NAME~3..."""
    taken, out = set(), []
    for it in items:
        if it.status:
            out.append((None, None))
            continue
        rel = it.rel
        slash = rel.rfind("/")
        d = rel[:slash + 1]
        s = stem(rel)
        if s is None or not _fits(d):
            out.append((None, "cannot name outputs after this path"))
            continue
        name, k = d + s, 2
        while os.fsencode(name) in taken:
            name = "%s%s~%d" % (d, s, k)
            k += 1
        taken.add(os.fsencode(name))
        prefix = "%s/%s" % (out_dir, name)
        if len(os.fsencode(prefix)) + 12 >= PATH_MAX:
            out.append((None, "output path too long"))
        else:
            out.append((prefix, None))
    return out


def _make_parents(root, path):
    """Create the folders of path below root: None, or the error message."""
    parts = path[len(root) + 1:].split("/")[:-1]
    d = root
    for p in parts:
        d = d + "/" + p
        try:
            os.mkdir(d)
        except FileExistsError:
            if not os.path.isdir(d):
                return "cannot create directory %s: %s" % (d, os.strerror(20))
        except OSError as exc:
            return "cannot create directory %s: %s" % (d, exc.strerror)
    return None


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


def _outputs_for(a, prefix):
    if not a["out_dir"]:
        return {k: a[k] for k in ("overlay", "heatmap", "npy")}
    suffix = {"overlay": ".overlay.png", "heatmap": ".heatmap.png", "npy": ".npy"}
    return {k: (prefix + suffix[k] if a[k] else None) for k in suffix}


def _write_outputs(cam, out, alpha, label=False):
    """None, or (status, message) of the first output that could not be written."""
    lib = _lib.get()
    overlay = ((lambda p: cam.save_labelled_overlay(p, alpha)) if label
               else (lambda p: cam.save_overlay(p, alpha)))
    for kind, write in (("overlay", overlay),
                        ("heatmap", cam.save_colormap), ("npy", cam.save_npy)):
        if not out[kind]:
            continue
        try:
            write(out[kind])
        except Error as exc:
            return (lib.status_string(exc.status).decode(),
                    "%s %s: %s" % (kind, out[kind], exc.message))
    return None


def _cam_text(file, cam, out):
    r = cam.result()
    text = "%s: %s (%.4f); %s of %s (%.4f) at %s\n" % (
        file, r.label, r.probability, cam.method.label, cam.class_name, cam.probability,
        cam.layer)
    for c, p in zip(r.classes, r.probabilities):
        text += "  %s %.4f\n" % (u.pad(c, 20), p)
    for kind in ("overlay", "heatmap", "npy"):
        if out[kind]:
            text += "  %s %s\n" % (u.pad(kind, 8), out[kind])
    trust = cam.assessment()
    if trust.ood:
        text += trust.ood_line() + "\n"
    return text


def _cam_json(file, cam, out, ms):
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
        "outputs": outputs, "ms": ms})
    if cam.eigen_smooth:
        line["eigen_smooth"] = True
    if cam.aug_smooth != AugSmooth.NONE:
        line["aug_smooth"] = cam.aug_smooth.name.lower()
    line["image"] = u.image_json(cam.image_info())
    info, trust = cam.image_info(), cam.assessment()
    line.update({"ood": trust.ood,
                 "ood_score": trust.ood_score if trust.ood_available else None,
                 "warnings": info.warnings() + trust.sentences()})
    return line


def _explain_image(prog, a, target, names, session, item, i, r):
    lib = _lib.get()
    file = item.path
    prefix, why = names[i] if names else (None, None)
    if a["out_dir"] and prefix is None:
        r.fail(prog, file, 1, lib.status_string(1).decode(), why)
        return
    out = _outputs_for(a, prefix)
    t0 = u.now_ms()
    try:
        cam = session.gradcam_file(file, method=a["method"], layer=a["layer"], target=target,
                                   eigen_smooth=a["eigen_smooth"], aug_smooth=a["aug_smooth"])
    except Error as exc:
        r.fail(prog, file, exc.status, lib.status_string(exc.status).decode(), exc.message)
        return
    ms = u.round3(u.now_ms() - t0)
    with cam:
        for w in cam.image_info().warnings() + cam.assessment().sentences():
            r.err += "%s: %s: warning: %s\n" % (prog, file, w)
        first = out["overlay"] or out["heatmap"] or out["npy"]
        bad = _make_parents(a["out_dir"], first) if a["out_dir"] and first else None
        if bad:
            r.fail(prog, file, 2, lib.status_string(2).decode(), bad)
            return
        failed = _write_outputs(cam, out, a["alpha"], a["label"])
        if failed:
            status, message = failed
            r.fail(prog, file, failed_status(status), status, message)
            return
        r.top = cam.top
        if not a["json"]:
            r.out = _cam_text(file, cam, out)
        r.obj = _cam_json(file, cam, out, ms)


def failed_status(name):
    lib = _lib.get()
    for i in range(1, _cli_batch.NUM_STATUS):
        if lib.status_string(i).decode() == name:
            return i
    return -1


CSV_EXTRA = ("class", "probability", "overlay", "heatmap", "npy")


def _open_index(prog, d, name):
    return _cli_batch.open_csv(prog, "%s/%s" % (d, name))


def gradcam_main(argv, prog="covidcam gradcam"):
    a, files = _gradcam_args(argv, prog)
    if a["list_layers"]:
        # the C program only loads the model here: no session of a["precision"]
        opened = u.open_model(prog, a["model"], a["threads"])
        if not opened:
            return 1
        model, session = opened
        with model, session:
            for name in model.layers:
                u.out(name + "\n")
        return 0
    inputs = _cli_inputs.expand(files, a["pattern"])
    if not inputs.items:
        u.err(prog, "no images found in the given folders or list")
        return 1
    if not a["out_dir"] and len(inputs.items) > 1 and (a["overlay"] or a["heatmap"] or a["npy"]):
        u.err(prog, "several IMAGEs need --out-dir to write images or maps")
        sys.stderr.write(_usage(prog))
        return 2
    jobs, threads = _cli_batch.plan_workers(len(inputs.items), a["jobs"], a["threads"],
                                            a["threads_set"])
    opened = u.open_model(prog, a["model"], threads, jobs, a["precision"])
    if not opened:
        return 1
    model, sessions = opened
    files_open = []
    try:
        if not _check_layer(prog, model, a["layer"]):
            return 2
        target = _resolve_class(prog, model, a["class"])
        if target is False:
            return 2
        names = None
        index_csv = index_jsonl = csv_file = None
        if a["out_dir"]:
            if not _make_dir(prog, a["out_dir"]):
                return 1
            names = _name_outputs(a["out_dir"], inputs.items)
            index_csv = _open_index(prog, a["out_dir"], "index.csv")
            index_jsonl = index_csv and _open_index(prog, a["out_dir"], "index.jsonl")
            files_open += [f for f in (index_csv, index_jsonl) if f]
            if not index_csv or not index_jsonl:
                return 1
        if a["csv"]:
            csv_file = _cli_batch.open_csv(prog, a["csv"])
            if csv_file is None:
                return 1
            files_open.append(csv_file)
        return _cli_batch.run(
            prog, model.classes, inputs, sessions,
            lambda s, item, i, r: _explain_image(prog, a, target, names, s, item, i, r),
            json=a["json"], quiet=a["quiet"], csv_file=csv_file, index_csv=index_csv,
            index_jsonl=index_jsonl, columns=_cli_batch.CsvColumns(model.classes, CSV_EXTRA))
    finally:
        for f in files_open:
            f.close()
        for s in sessions:
            s.close()
        model.close()
