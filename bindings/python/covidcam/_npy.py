"""Writing a float32 matrix as a NumPy .npy file (format 1.0), without numpy.

Byte-identical to examples/npy.c: the header is padded so that the data
starts at a multiple of 64 bytes, as numpy itself does."""

import array
import struct
import sys

_ALIGN = 64
_PREAMBLE = 10  # magic (6) + version (2) + header length (2)


def header(rows, cols):
    d = "{'descr': '<f4', 'fortran_order': False, 'shape': (%d, %d), }" % (rows, cols)
    total = (_PREAMBLE + len(d) + 1 + _ALIGN - 1) // _ALIGN * _ALIGN
    hlen = total - _PREAMBLE
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", hlen) + (d.ljust(hlen - 1) + "\n").encode()


def write_f32(path, rows, cols, values):
    """Write rows x cols floats (a flat sequence, row-major) to `path`."""
    data = array.array("f", values)
    if len(data) != rows * cols:
        raise ValueError("npy: %d values for a %dx%d matrix" % (len(data), rows, cols))
    if sys.byteorder != "little":
        data.byteswap()
    with open(path, "wb") as f:
        f.write(header(rows, cols))
        f.write(data.tobytes())
