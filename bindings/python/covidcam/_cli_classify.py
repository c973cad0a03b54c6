"""`python3 -m covidcam classify`: examples/covidcam-classify.c in Python."""

import sys

from . import _cli_util as u
from . import _jsonout, _lib
from .errors import Error

CLASSIFY_USAGE = """\
Usage: {prog} --model FILE [--json] [--threads N] IMAGE...

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
  -t, --threads N    oneDNN threads (default 0 = all cores)
  -h, --help         show this help
  -V, --version      show the library version

Errors go to stderr with the library's message. Images that fail are
skipped; the exit status is then 1. Usage errors exit with 2.
"""


def _classify_args(argv, prog):
    opts, files = u.getopt_args(argv, "m:jt:hV",
                                ["model=", "json", "threads=", "help", "version"], prog,
                                CLASSIFY_USAGE)
    a = {"model": None, "json": False, "threads": 0}
    for o, v in opts:
        if o in ("-m", "--model"):
            a["model"] = v
        elif o in ("-j", "--json"):
            a["json"] = True
        elif o in ("-t", "--threads"):
            a["threads"] = u.parse_int(v, 0, 1024)
            if a["threads"] is None:
                u.err(prog, "--threads needs an integer in [0, 1024], not '%s'" % v)
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


def _classify_one(prog, session, file, json):
    lib = _lib.get()
    t0 = u.now_ms()
    try:
        r = session.classify_file(file)
    except Error as exc:
        status = lib.status_string(exc.status).decode()
        u.err(prog, "%s: %s: %s" % (file, status, exc.message))
        if json:
            u.out(_jsonout.error_line(file, status, exc.message) + "\n")
        return 1
    ms = u.round3(u.now_ms() - t0)
    info = session.image_info()
    trust = session.assessment()
    warnings = info.warnings() + trust.sentences()
    for w in warnings:
        u.err(prog, "%s: warning: %s" % (file, w))
    if not json:
        u.out("%s: %s\n" % (file, r.label))
        for c, p in zip(r.classes, r.probabilities):
            u.out("  %s %.4f\n" % (u.pad(c, 20), p))
        if trust.ood:
            u.out(trust.ood_line() + "\n")
        return 0
    line = _jsonout.file_fields("file", file)
    line.update({"top": r.label,
                 "probabilities": _jsonout.class_map(r.classes, r.probabilities),
                 "logits": _jsonout.class_map(r.classes, r.logits), "ms": ms, "image": u.image_json(info)})
    line.update({"ood": trust.ood,
                 "ood_score": trust.ood_score if trust.ood_available else None,
                 "warnings": warnings})
    u.out(_jsonout.dumps(line) + "\n")
    return 0


def classify_main(argv, prog="covidcam classify"):
    a, files = _classify_args(argv, prog)
    opened = u.open_model(prog, a["model"], a["threads"])
    if not opened:
        return 1
    model, session = opened
    failed = 0
    with model, session:
        for f in files:
            failed |= _classify_one(prog, session, f, a["json"])
            sys.stdout.flush()
    return failed
