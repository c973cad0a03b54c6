"""`python3 -m covidcam classify|gradcam ...`: the example programs in Python.

Same options, text and JSON output, output files and exit statuses as
examples/covidcam-classify.c and examples/covidcam-gradcam.c (stdout is
byte-identical apart from the measured "ms"). Usage errors exit with 2.
"""

import sys

from . import _lib
from ._cli_classify import classify_main
from ._cli_gradcam import gradcam_main
from ._cli_util import Exit, err, out
from .errors import LibraryNotFoundError

MAIN_USAGE = """\
Usage: python3 -m covidcam classify --model FILE [--json] [--threads N] IMAGE...
       python3 -m covidcam gradcam --model FILE [OPTIONS] IMAGE...
       python3 -m covidcam convert IN -o OUT.safetensors --classes A,B ... (see --help)
       python3 -m covidcam version

The example programs covidcam-classify and covidcam-gradcam on the Python
binding; `python3 -m covidcam COMMAND --help` describes each.
"""




def convert_main(argv):
    from .convert.cli import main as convert
    return convert(argv)


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    commands = {"classify": classify_main, "gradcam": gradcam_main, "convert": convert_main}
    try:
        if not argv or argv[0] in ("-h", "--help"):
            (sys.stdout if argv else sys.stderr).write(MAIN_USAGE)
            return 0 if argv else 2
        if argv[0] in ("version", "-V", "--version"):
            out("covidcam (libcovidcam %s, %s)\n" % (_lib.get().version().decode(),
                                                     _lib.get().path))
            return 0
        if argv[0] not in commands:
            err("covidcam", "unknown command '%s' (classify, gradcam, convert)" % argv[0])
            sys.stderr.write(MAIN_USAGE)
            return 2
        return commands[argv[0]](argv[1:])
    except Exit as e:
        return e.code
    except LibraryNotFoundError as exc:
        err("covidcam", str(exc))
        return 1
