"""`python3 -m covidcam classify`: examples/covidcam-classify.c in Python."""

from . import _cli_util as u
from . import _cli_batch, _cli_inputs, _jsonout, _lib
from .errors import Error
from .session import MAX_BATCH, Precision

CLASSIFY_USAGE = """\
Usage: {prog} --model FILE [--json] [--csv FILE] [--threads N] [--jobs N]
                         [--precision P] [--batch N] [--pattern GLOB] [--quiet]
                         IMAGE|FOLDER|-...

Classify each IMAGE (PNG, JPEG or DICOM, recognised from its bytes whatever
its name; converted to gray) with the covidcam model FILE and print the top
class and the probability of every class. Doubts about an answer are
warnings on stderr (and in the JSON), never failures: a DICOM whose
ViewPosition is lateral or whose Modality is not CR/DX, an image that is
nearly constant, of low dynamic range, likely inverted or far from square,
and, with a model that carries OOD statistics, an image unlike the training
images (a line "OUT OF DISTRIBUTION" in the table). docs/trust.md.

  -m, --model FILE   covidcam safetensors model (docs/model-format.md)
  -j, --json         one JSON object per image and line:
                       {{"file":..., "top":..., "probabilities":{{class: p}},
                        "logits":{{class: z}}, "ms":...,
                        "image":{{"format", "width", "height", "bits",
                        "channels", "photometric", and for DICOM "modality",
                        "view_position", "body_part", "window_center"...}},
                        "ood": true|false, "ood_score": number (null when
                        the model has no OOD statistics),
                        "warnings":[...] ([] when none)}}
                     ms is the wall time of the classify call (decode,
                     preprocessing, network). A failed image gives
                     {{"file":..., "status":..., "error":...}} instead.
                     A name that is not UTF-8 is printed with U+FFFD for
                     each bad byte, plus "file_bytes": its bytes in hex.
      --csv FILE     also write one CSV row per image (RFC 4180): file,
                     status (ok or the failure), top, a column per class
                     (its probability), ood, ood_score, warnings (joined
                     with "; "), error, file_bytes; values as in the JSON
  -t, --threads N    oneDNN threads per worker (default: all cores for one
                     worker, cores / workers for several)
  -J, --jobs N       workers, each with its own session over the one model
                     (default: min(cores, 8), cores / --threads when given,
                     never more than images); output stays in input order
      --precision P  fp32 (default), bf16 (CPUs with AVX512-BF16 or AMX), int8
                     (files made by covidcam-quantize) or auto (int8 for such
                     files, else bf16 where the CPU has it, else fp32)
      --batch N      classify N images per network pass in each worker (1 to
                     """ + str(MAX_BATCH) + """, default 1); results agree with one by one up to
                     float rounding (last digits of --json values)
      --pattern GLOB only files in FOLDERs whose name matches GLOB
                     (fnmatch: * ? [...]), e.g. '*.png'
  -q, --quiet        no progress and no summary on stderr
  -h, --help         show this help
  -V, --version      show the library version

A FOLDER is searched recursively for PNG, JPEG and DICOM files, recognised
from their bytes (other files are skipped and counted), in the byte order of
their paths; links to folders are not followed. "-" reads paths (files or
folders) from stdin, one per line. With several images or a FOLDER, stderr
shows progress (a bar on a terminal, else a line every 10 s) and ends with a
summary: images, failures by status, top classes, time, images/s.

Errors go to stderr with the library's message. Images that fail are
reported and counted; the exit status is then 1. Usage errors exit with 2.
"""


def _classify_args(argv, prog):
    opts, files = u.getopt_args(argv, "m:jt:J:qhV",
                                ["model=", "json", "threads=", "jobs=", "csv=", "pattern=",
                                 "quiet", "help", "version", "precision=", "batch="], prog,
                                CLASSIFY_USAGE)
    a = {"model": None, "json": False, "threads": 0, "threads_set": False, "jobs": 0,
         "csv": None, "pattern": None, "quiet": False, "precision": Precision.FP32, "batch": 1}
    for o, v in opts:
        if o in ("-m", "--model"):
            a["model"] = v
        elif o in ("-j", "--json"):
            a["json"] = True
        elif o in ("-q", "--quiet"):
            a["quiet"] = True
        elif o in ("--csv", "--pattern"):
            a[o[2:]] = v
        elif o == "--precision":
            a["precision"] = u.parse_precision(prog, v)
        elif o == "--batch":
            a["batch"] = u.parse_int(v, 1, MAX_BATCH)
            if a["batch"] is None:
                u.err(prog, "--batch needs an integer in [1, %d], not '%s'" % (MAX_BATCH, v))
                raise u.Exit(2)
        elif o in ("-t", "--threads"):
            a["threads"] = u.parse_int(v, 0, 1024)
            a["threads_set"] = True
            if a["threads"] is None:
                u.err(prog, "--threads needs an integer in [0, 1024], not '%s'" % v)
                raise u.Exit(2)
        elif o in ("-J", "--jobs"):
            a["jobs"] = u.parse_int(v, 1, 1024)
            if a["jobs"] is None:
                u.err(prog, "--jobs needs an integer in [1, 1024], not '%s'" % v)
                raise u.Exit(2)
        elif o in ("-h", "--help"):
            u.out(CLASSIFY_USAGE.format(prog=prog))
            raise u.Exit(0)
        elif o in ("-V", "--version"):
            u.version(prog)
    if not a["model"] or not files:
        u.usage_exit(prog, CLASSIFY_USAGE,
                     "no IMAGE given" if a["model"] else "--model is required")
    return a, files


def _fill_result(prog, a, file, res, ms, info, trust, r):
    """fill_result: one classified image's warnings, text and JSON into r."""
    warnings = info.warnings() + trust.sentences()
    for w in warnings:
        r.err += "%s: %s: warning: %s\n" % (prog, file, w)
    r.top = res.top
    if not a["json"]:
        r.out += "%s: %s\n" % (file, res.label)
        for c, p in zip(res.classes, res.probabilities):
            r.out += "  %s %.4f\n" % (u.pad(c, 20), p)
        if trust.ood:
            r.out += trust.ood_line() + "\n"
    line = _jsonout.file_fields("file", file)
    line.update({"top": res.label,
                 "probabilities": _jsonout.class_map(res.classes, res.probabilities),
                 "logits": _jsonout.class_map(res.classes, res.logits), "ms": ms,
                 "image": u.image_json(info)})
    line.update({"ood": trust.ood,
                 "ood_score": trust.ood_score if trust.ood_available else None,
                 "warnings": warnings})
    r.obj = line


def _classify_image(prog, a, session, item, r):
    lib = _lib.get()
    file = item.path
    t0 = u.now_ms()
    try:
        res = session.classify_file(file)
    except Error as exc:
        r.fail(prog, file, exc.status, lib.status_string(exc.status).decode(), exc.message)
        return
    ms = u.round3(u.now_ms() - t0)
    _fill_result(prog, a, file, res, ms, session.image_info(), session.assessment(), r)


def _classify_chunk(prog, a, session, items, rs):
    """classify_chunk: the listable ones of items in one classify_files call;
    "ms" is the call's time per image."""
    lib = _lib.get()
    at = [k for k, item in enumerate(items) if not item.status]
    if not at:
        return
    paths = [items[k].path for k in at]
    t0 = u.now_ms()
    try:
        out = session.classify_files(paths)
    except Error as exc:  # the call failed as a whole: every image with its status
        out = [exc] * len(paths)
    ms = u.round3((u.now_ms() - t0) / len(paths))
    for k, file, res in zip(at, paths, out):
        r = rs[k]
        if isinstance(res, Error):
            r.fail(prog, file, res.status, lib.status_string(res.status).decode(), res.message)
            continue
        _fill_result(prog, a, file, res, ms, res.image_info, res.assessment, r)


def classify_main(argv, prog="covidcam classify"):
    a, files = _classify_args(argv, prog)
    inputs = _cli_inputs.expand(files, a["pattern"])
    if not inputs.items:
        u.err(prog, "no images found in the given folders or list")
        return 1
    batch = a["batch"]
    units = (len(inputs.items) + batch - 1) // batch
    jobs, threads = _cli_batch.plan_workers(units, a["jobs"], a["threads"], a["threads_set"])
    opened = u.open_model(prog, a["model"], threads, jobs, a["precision"], batch)
    if not opened:
        return 1
    model, sessions = opened
    csv_file = None
    try:
        if a["csv"]:
            csv_file = _cli_batch.open_csv(prog, a["csv"])
            if csv_file is None:
                return 1
        return _cli_batch.run(
            prog, model.classes, inputs, sessions,
            lambda s, item, i, r: _classify_image(prog, a, s, item, r), json=a["json"],
            quiet=a["quiet"], csv_file=csv_file, columns=_cli_batch.CsvColumns(model.classes),
            chunk=lambda s, items, rs: _classify_chunk(prog, a, s, items, rs), chunk_size=batch)
    finally:
        if csv_file:
            csv_file.close()
        for s in sessions:
            s.close()
        model.close()
