"""The images a command line names (examples/inputs.c in Python): files as
given, folders walked recursively for the files whose first bytes are PNG,
JPEG or DICOM, "-" for a list of paths on stdin; inputs in the order given,
the images under each folder sorted by the bytes of their path."""

import os
import stat
import sys

SNIFF_BYTES = 256
ERR_IO = 2  # COVIDCAM_ERR_IO
_VRS = b"AEASATCSDADSDTFLFDISLOLTOBODOFOLOVOWPNSHSLSQSSSTSVTMUCUIULUNURUSUTUV"


class Item:
    """path: what to open; rel: the name under --out-dir; status/error: set
    when the walk could not read the file or folder."""
    __slots__ = ("path", "rel", "status", "error")

    def __init__(self, path, rel, status=0, error=None):
        self.path, self.rel, self.status, self.error = path, rel, status, error


class Inputs:
    def __init__(self):
        self.items = []
        self.not_images = 0
        self.not_files = 0
        self.any_folder = False


def looks_like_image(b):
    """cli_looks_like_image: the signatures include/covidcam.h documents."""
    if b[:8] == b"\x89PNG\r\n\x1a\n" or b[:3] == b"\xff\xd8\xff":
        return True
    if len(b) < 8:
        return False
    if len(b) >= 132 and b[128:132] == b"DICM":
        return True
    group, elem = b[0] | b[1] << 8, b[2] | b[3] << 8
    if group not in (0x0002, 0x0008) or elem > 0x0020:
        return False
    if any(_VRS[i:i + 2] == b[4:6] for i in range(0, len(_VRS), 2)):
        return True
    return int.from_bytes(b[4:8], "little") <= len(b) - 8


# ------------------------------------------------------------ fnmatch(3)

_CLASSES = {
    b"alnum": lambda c: chr(c).isalnum(), b"alpha": lambda c: chr(c).isalpha(),
    b"blank": lambda c: c in (9, 32), b"cntrl": lambda c: c < 32 or c == 127,
    b"digit": lambda c: 48 <= c <= 57, b"graph": lambda c: 33 <= c <= 126,
    b"lower": lambda c: 97 <= c <= 122, b"print": lambda c: 32 <= c <= 126,
    b"punct": lambda c: 33 <= c <= 126 and not chr(c).isalnum(),
    b"space": lambda c: c in (9, 10, 11, 12, 13, 32), b"upper": lambda c: 65 <= c <= 90,
    b"xdigit": lambda c: chr(c) in "0123456789abcdefABCDEF"}


def _bracket(p, i, ch):
    """(matched, index after ']') for the bracket at p[i], or None when it is
    not one (then '[' is a literal, as in glibc)."""
    j = i + 1
    neg = j < len(p) and p[j] in b"!^"
    j += neg
    first, hit = True, False
    while j < len(p):
        c = p[j]
        if c == 93 and not first:  # ']'
            return hit != neg, j + 1
        first = False
        if c == 91 and p[j + 1:j + 2] == b":":  # '[:class:]'
            end = p.find(b":]", j + 2)
            if end < 0 or p[j + 2:end] not in _CLASSES:
                return None
            hit |= ch < 128 and _CLASSES[p[j + 2:end]](ch)
            j = end + 2
            continue
        if c == 92 and j + 1 < len(p):  # '\'
            j += 1
            c = p[j]
        if p[j + 1:j + 2] == b"-" and j + 2 < len(p) and p[j + 2] != 93:
            hi = p[j + 2]
            if hi == 92 and j + 3 < len(p):
                j += 1
                hi = p[j + 2]
            hit |= c <= ch <= hi
            j += 3
        else:
            hit |= ch == c
            j += 1
    return None


def fnmatch(p, n, pi=0, ni=0):
    """fnmatch(3) with no flags in the C locale, on bytes."""
    while pi < len(p):
        c = p[pi]
        if c == 42:  # '*'
            while pi < len(p) and p[pi] == 42:
                pi += 1
            return pi == len(p) or any(fnmatch(p, n, pi, k) for k in range(ni, len(n) + 1))
        if ni >= len(n):
            return False
        if c == 63:  # '?'
            pi, ni = pi + 1, ni + 1
            continue
        if c == 91:
            r = _bracket(p, pi, n[ni])
            if r is not None:
                if not r[0]:
                    return False
                pi, ni = r[1], ni + 1
                continue
        elif c == 92 and pi + 1 < len(p):
            pi += 1
            c = p[pi]
        if n[ni] != c:
            return False
        pi, ni = pi + 1, ni + 1
    return ni == len(n)


# ------------------------------------------------------------ walking

def _join(a, b):
    return a + "/" + b if a and not a.endswith("/") and b else a + b


def _error(inputs, path, rel, what, exc):
    inputs.items.append(Item(path, rel, ERR_IO, "%s: %s" % (what, exc.strerror)))


def _sniff(path):
    fd = os.open(path, os.O_RDONLY | os.O_NOCTTY | os.O_NONBLOCK)
    try:
        data = b""
        while len(data) < SNIFF_BYTES:
            chunk = os.read(fd, SNIFF_BYTES - len(data))
            if not chunk:
                break
            data += chunk
        return looks_like_image(data)
    finally:
        os.close(fd)


def _visit(inputs, path, rel, name, pattern):
    try:
        st = os.lstat(path)
    except OSError as exc:
        return _error(inputs, path, rel, "cannot stat", exc)
    if stat.S_ISDIR(st.st_mode):
        return _walk(inputs, path, rel, pattern)
    if pattern is not None and not fnmatch(pattern, os.fsencode(name)):
        return None
    if stat.S_ISLNK(st.st_mode):
        try:
            st = os.stat(path)
        except OSError as exc:
            return _error(inputs, path, rel, "cannot stat", exc)
    if not stat.S_ISREG(st.st_mode):
        inputs.not_files += 1
        return None
    try:
        image = _sniff(path)
    except OSError as exc:
        return _error(inputs, path, rel, "cannot read", exc)
    if not image:
        inputs.not_images += 1
        return None
    inputs.items.append(Item(path, rel))
    return None


def _walk(inputs, d, reldir, pattern):
    try:
        names = os.listdir(d)
    except OSError as exc:
        return _error(inputs, d, reldir, "cannot read folder", exc)
    for name in names:
        _visit(inputs, _join(d, name), _join(reldir, name), name, pattern)
    return None


def _base_name(path):
    i = path.rfind("/")
    return path[i + 1:] if i >= 0 and path[i + 1:] else path


def _add_one(inputs, arg, pattern):
    try:
        is_dir = stat.S_ISDIR(os.stat(arg).st_mode)
    except (OSError, ValueError):
        is_dir = False
    if not is_dir:
        inputs.items.append(Item(arg, _base_name(arg)))
        return
    inputs.any_folder = True
    first = len(inputs.items)
    _walk(inputs, arg, "", pattern)
    inputs.items[first:] = sorted(inputs.items[first:], key=lambda it: os.fsencode(it.rel))


def expand(args, pattern, stdin=None):
    """Inputs of the command-line operands (pattern: str or None)."""
    inputs = Inputs()
    pat = os.fsencode(pattern) if pattern is not None else None
    for a in args:
        if a != "-":
            _add_one(inputs, a, pat)
            continue
        inputs.any_folder = True
        data = (stdin or sys.stdin.buffer).read()
        for line in data.split(b"\n"):
            if line.endswith(b"\r"):
                line = line[:-1]
            if line:
                _add_one(inputs, os.fsdecode(line), pat)
    return inputs
