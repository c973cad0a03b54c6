"""Turning Python objects into C pointers without copying when possible.

C cannot check the length of the arrays it is given, so every conversion here
also checks that the buffer holds what the dimensions promise.
numpy is optional: without it, buffers, array.array and sequences are accepted.
"""

import array
import ctypes
import sys

from ._checks import c_int, c_size
from .errors import InvalidArgumentError

try:
    import numpy as np
except ImportError:  # the binding works on a bare Python
    np = None


# struct formats of a native float32: array.array/memoryview give "f", ctypes
# arrays "<f" (on little-endian machines).
_FLOAT32_FORMATS = ("f", "=f", "@f", "<f" if sys.byteorder == "little" else ">f")


def have_numpy():
    return np is not None


def is_ndarray(obj):
    return np is not None and isinstance(obj, np.ndarray)


def _readonly_pointer(obj, ctype, count):
    """(pointer, keepalive) for a buffer-protocol object holding >= count items."""
    try:
        mv = memoryview(obj).cast("B")
    except TypeError:  # not C-contiguous: one copy
        obj = memoryview(obj).tobytes()
        mv = memoryview(obj)
    need = count * ctypes.sizeof(ctype)
    if mv.nbytes < need:
        raise InvalidArgumentError("buffer holds %d bytes, %d needed" % (mv.nbytes, need))
    if mv.readonly:
        # ctypes cannot point into a read-only buffer other than bytes.
        data = obj if isinstance(obj, bytes) else mv.tobytes()
        return ctypes.cast(ctypes.c_char_p(data), ctypes.c_void_p), data
    arr = (ctypes.c_char * mv.nbytes).from_buffer(mv)
    return ctypes.cast(arr, ctypes.c_void_p), (arr, mv)


def bytes_pointer(data):
    """(pointer, length, keepalive) for PNG or model bytes."""
    if isinstance(data, bytes):
        return ctypes.cast(ctypes.c_char_p(data), ctypes.c_void_p), len(data), data
    if is_ndarray(data):
        data = np.ascontiguousarray(data).view(np.uint8).reshape(-1)
    try:
        n = memoryview(data).nbytes
    except TypeError:
        raise InvalidArgumentError("expected bytes-like data, got %s"
                                   % type(data).__name__) from None
    ptr, keep = _readonly_pointer(data, ctypes.c_char, n)
    return ptr, n, keep


def pixels_pointer(pixels, width, height, stride):
    """(pointer, width, height, stride, keepalive) for 8-bit gray pixels.

    A 2-D uint8 ndarray gives its own dimensions and row stride (no copy when
    its rows are contiguous); other buffers need width and height."""
    if is_ndarray(pixels):
        if pixels.ndim != 2 or pixels.dtype != np.uint8:
            raise InvalidArgumentError("pixels must be a 2-D uint8 array, got %d-D %s"
                                       % (pixels.ndim, pixels.dtype))
        if pixels.strides[1] != 1 or pixels.strides[0] < pixels.shape[1]:
            pixels = np.ascontiguousarray(pixels)
        h, w = pixels.shape
        ptr = ctypes.c_void_p(pixels.ctypes.data)
        return ptr, w, h, pixels.strides[0], pixels
    if width is None or height is None:
        raise InvalidArgumentError("width and height are required for pixel buffers")
    width, height = c_int(width, "width"), c_int(height, "height")
    stride = width if stride is None else c_size(stride, "stride")
    # Impossible dimensions are left for the library to reject with its message.
    need = stride * (height - 1) + width if width > 0 and height > 0 and stride >= width else 0
    ptr, keep = _readonly_pointer(pixels, ctypes.c_uint8, need)
    return ptr, width, height, stride, keep


def tensor_pointer(tensor, channels, height, width):
    """(pointer, channels, height, width, keepalive) for a planar float32 tensor.

    An ndarray of shape (C, H, W), (1, C, H, W) or (H, W) gives its own
    dimensions and is converted to contiguous float32 only if it is not already.
    Flat buffers of float32 (array.array('f'), memoryview) are used in place;
    any other sequence of numbers is converted."""
    if is_ndarray(tensor):
        shape = tensor.shape
        if tensor.ndim == 4 and shape[0] == 1:
            shape = shape[1:]
        elif tensor.ndim == 2:
            shape = (1,) + shape
        elif tensor.ndim != 3:
            raise InvalidArgumentError("tensor must have shape (C, H, W), got %s"
                                       % (tensor.shape,))
        arr = np.ascontiguousarray(tensor, dtype=np.float32)
        return ctypes.c_void_p(arr.ctypes.data), shape[0], shape[1], shape[2], arr
    if channels is None or height is None or width is None:
        raise InvalidArgumentError("channels, height and width are required for flat tensors")
    channels = c_int(channels, "channels")
    height, width = c_int(height, "height"), c_int(width, "width")
    n = channels * height * width
    if n <= 0:
        ptr, keep = ctypes.c_void_p(None), None
        return ptr, int(channels), int(height), int(width), keep
    try:
        mv = memoryview(tensor)
    except TypeError:
        mv = None
    if mv is not None and mv.format in _FLOAT32_FORMATS and mv.itemsize == 4:
        ptr, keep = _readonly_pointer(tensor, ctypes.c_float, n)
        return ptr, int(channels), int(height), int(width), keep
    if mv is not None:
        raise InvalidArgumentError("tensor buffer must hold native float32 (array.array('f'), "
                                   "a ctypes.c_float array, a float32 ndarray), not format '%s'"
                                   % mv.format)
    try:
        arr = array.array("f", tensor)
    except TypeError:
        raise InvalidArgumentError("tensor must be float32 data, got %s"
                                   % type(tensor).__name__) from None
    if len(arr) < n:
        raise InvalidArgumentError("tensor holds %d floats, %d needed" % (len(arr), n))
    ptr, keep = _readonly_pointer(arr, ctypes.c_float, n)
    return ptr, int(channels), int(height), int(width), keep


def floats_out(ptr, count, shape=None, numpy=False):
    """Copy `count` floats from a C pointer: an ndarray of `shape` if numpy,
    else a list (of rows if shape has two dimensions)."""
    if numpy:
        if np is None:
            raise InvalidArgumentError("numpy is not available")
        out = np.empty(count, dtype=np.float32)
        if count:
            ctypes.memmove(out.ctypes.data, ptr, count * 4)
        return out.reshape(shape) if shape else out
    flat = ptr[:count] if count else []
    if shape and len(shape) == 2:
        w = shape[1]
        return [flat[i:i + w] for i in range(0, count, w)]
    return flat
