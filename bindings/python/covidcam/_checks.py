"""Arguments checked before they reach C: ctypes silently truncates Python
ints to the C type (2**32 + 2 becomes 2) and C strings stop at the first NUL
("layer1\\0junk" would be "layer1"), so both are refused here, naming the
argument."""

import operator
import os

from .errors import InvalidArgumentError

INT_MIN, INT_MAX = -2 ** 31, 2 ** 31 - 1
SIZE_MAX = 2 ** 64 - 1


def c_int(value, name, lo=INT_MIN, hi=INT_MAX):
    """`value` as a Python int in [lo, hi] (a C int unless narrower)."""
    if isinstance(value, bool):
        raise InvalidArgumentError("%s must be an integer, not a bool" % name)
    try:
        v = operator.index(value)
    except TypeError:
        raise InvalidArgumentError("%s must be an integer, not %s"
                                   % (name, type(value).__name__)) from None
    if not lo <= v <= hi:
        raise InvalidArgumentError("%s must be in [%d, %d], got %d" % (name, lo, hi, v))
    return v


def c_size(value, name):
    """`value` as a size_t."""
    return c_int(value, name, 0, SIZE_MAX)


def c_str(value, name):
    """A str as UTF-8 bytes without NUL, for names (layer, class, metadata key)."""
    if not isinstance(value, str):
        raise InvalidArgumentError("%s must be a str, not %s" % (name, type(value).__name__))
    if "\0" in value:
        raise InvalidArgumentError("%s %r contains a NUL character" % (name, value))
    return value.encode("utf-8", "surrogateescape")


def c_path(value, name="path"):
    """A str, bytes or os.PathLike path as file-system bytes without NUL."""
    try:
        raw = os.fsencode(value)
    except TypeError:
        raise InvalidArgumentError("%s must be a str, bytes or os.PathLike, not %s"
                                   % (name, type(value).__name__)) from None
    if b"\0" in raw:
        raise InvalidArgumentError("%s %r contains a NUL byte" % (name, value))
    return raw
