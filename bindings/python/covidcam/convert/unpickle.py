"""A pickle reader that rebuilds tensors and plain containers, and nothing else.

`pickle.load` (and so `torch.load` and `paddle.load`) calls whatever the file
names: a `__reduce__` can run `os.system`. This reader resolves every global a
file asks for against an explicit table of data-only stand-ins written here;
no module is imported and nothing from the file is called. A file naming any
other global is refused with ConvertError naming it. It is the pure-Python
unpickler with BUILD (set an object's state) limited to the stand-in
instances, so a file cannot rewrite a stand-in class or function either.

Whole pickled torch modules (torchvision ResNet, nn.Conv2d, ...) are read as
inert records (ModuleRecord): their classes are never imported, only the
`_parameters`, `_buffers` and `_modules` dictionaries they carry are kept.
"""

import collections
import io
import pickle

import numpy as np

from .errors import ConvertError

# torch storage class -> numpy dtype of its elements. BFloat16 has no numpy
# dtype: its raw 16 bits travel as uint16 and are widened in storage_array().
STORAGE_DTYPES = {
    "FloatStorage": np.dtype("<f4"),
    "DoubleStorage": np.dtype("<f8"),
    "HalfStorage": np.dtype("<f2"),
    "BFloat16Storage": np.dtype("<u2"),
    "LongStorage": np.dtype("<i8"),
    "IntStorage": np.dtype("<i4"),
    "ShortStorage": np.dtype("<i2"),
    "CharStorage": np.dtype("i1"),
    "ByteStorage": np.dtype("u1"),
    "BoolStorage": np.dtype("?"),
}

# numpy dtype strings an ndarray in a .pdparams or .pth may have.
ARRAY_DTYPES = {"f2", "f4", "f8", "i1", "i2", "i4", "i8", "u1", "u2", "b1", "?"}

MAX_ELEMENTS = 1 << 31  # no ResNet tensor comes near; refuse absurd shapes early

MODULE_PREFIXES = ("torch.nn.modules.", "torchvision.models.")
PYTORCH_HINT = ("save the weights instead: torch.save(model.state_dict(), 'model.pth') "
                "in the program that defines the model")


class StorageType:
    """Stands for torch.FloatStorage & co: only its element dtype matters."""

    def __init__(self, name):
        self.name = name
        self.dtype = STORAGE_DTYPES[name]


class Storage:
    """A storage's raw bytes from the zip, viewed as its dtype."""

    def __init__(self, kind, data, key):
        self.kind = kind
        self.key = key
        if len(data) % kind.dtype.itemsize:
            raise ConvertError("storage '%s' has %d bytes, not a multiple of %d (%s)"
                               % (key, len(data), kind.dtype.itemsize, kind.name))
        self.array = np.frombuffer(data, kind.dtype)


class Tensor:
    """A rebuilt torch tensor: a numpy array (BF16 widened to float32)."""

    def __init__(self, array, dtype_name):
        self.array = array
        self.dtype_name = dtype_name


def _check_shape(shape, what):
    if not isinstance(shape, tuple) or not all(type(d) is int and d >= 0 for d in shape):
        raise ConvertError("%s has an invalid shape %r" % (what, shape))
    n = 1
    for d in shape:
        n *= d
    if n > MAX_ELEMENTS:
        raise ConvertError("%s has %d elements, more than any ResNet tensor" % (what, n))
    return n


def rebuild_tensor(storage, offset, size, stride, *rest):
    """torch._utils._rebuild_tensor_v2(storage, offset, size, stride, ...)."""
    if not isinstance(storage, Storage):
        raise ConvertError("a tensor refers to something that is not a storage")
    what = "tensor in storage '%s'" % storage.key
    _check_shape(tuple(size), what)
    if (type(offset) is not int or offset < 0 or len(stride) != len(size)
            or not all(type(s) is int and s >= 0 for s in stride)):
        raise ConvertError("%s has an invalid offset/stride" % what)
    src = storage.array
    last = offset + sum((d - 1) * s for d, s in zip(size, stride)) if all(size) else offset - 1
    if last >= len(src):
        raise ConvertError("%s of shape %s reaches element %d of a storage of %d"
                           % (what, list(size), last, len(src)))
    item = src.dtype.itemsize
    view = np.lib.stride_tricks.as_strided(src[offset:] if all(size) else src[:0],
                                           shape=tuple(size),
                                           strides=tuple(s * item for s in stride),
                                           writeable=False)
    arr = np.array(view)
    if storage.kind.name == "BFloat16Storage":
        arr = (arr.astype(np.uint32) << 16).view(np.float32)
    return Tensor(arr, storage.kind.name)


def rebuild_parameter(data, *rest):
    """torch._utils._rebuild_parameter(data, requires_grad, hooks): the data."""
    return data


class ModuleRecord:
    """An inert stand-in for one nn.Module class named in the file."""

    qualname = "?"

    def __init__(self, *args, **kwargs):
        self.state = {}

    def __setstate__(self, state):
        self.state = state if isinstance(state, dict) else {}


def _record_class(qualname):
    return type("ModuleRecord", (ModuleRecord,), {"qualname": qualname})


def reconstructor(cls, base, state):
    """copyreg._reconstructor(cls, object, None), for ModuleRecord classes only."""
    if isinstance(cls, type) and issubclass(cls, ModuleRecord):
        return cls()
    raise ConvertError("copyreg._reconstructor asked to build %r" % (cls,))


# ---------------------------------------------------------------- numpy


class DType:
    """numpy.dtype(str, align, copy) followed by __setstate__((ver, order, ...))."""

    def __init__(self, name, align=False, copy=True):
        if not isinstance(name, str) or name.lstrip("<>|=") not in ARRAY_DTYPES:
            raise ConvertError("array dtype %r is not a number type" % (name,))
        self.name = name
        self.order = "<"

    def __setstate__(self, state):
        if isinstance(state, tuple) and len(state) > 1 and state[1] in ("<", ">", "|", "="):
            self.order = "<" if state[1] in ("|", "=") else state[1]

    def numpy(self):
        return np.dtype(self.order + self.name.lstrip("<>|="))


class NDArrayType:
    """Stands for numpy.ndarray as the first argument of _reconstruct."""


class NDArrayState:
    """numpy.core.multiarray._reconstruct(ndarray, (0,), b'b') then __setstate__."""

    def __init__(self, cls, shape, typecode):
        if cls is not NDArrayType:
            raise ConvertError("numpy _reconstruct asked to build %r" % (cls,))
        self.array = None

    def __setstate__(self, state):
        if not isinstance(state, tuple) or len(state) not in (4, 5):
            raise ConvertError("an ndarray in the file has an unknown state layout")
        shape, dtype, fortran, raw = state[-4:]
        if not isinstance(dtype, DType):
            raise ConvertError("an ndarray in the file has no plain dtype")
        if isinstance(raw, str):  # pickled by Python 2
            raw = raw.encode("latin-1")
        if not isinstance(raw, (bytes, bytearray)):
            raise ConvertError("an ndarray in the file holds objects, not numbers")
        n = _check_shape(tuple(shape), "an ndarray")
        dt = dtype.numpy()
        if len(raw) != n * dt.itemsize:
            raise ConvertError("an ndarray of shape %s has %d data bytes, expected %d"
                               % (list(shape), len(raw), n * dt.itemsize))
        arr = np.frombuffer(bytes(raw), dt).reshape(tuple(shape), order="F" if fortran else "C")
        self.array = np.ascontiguousarray(arr.astype(dt.newbyteorder("=")))


def scalar(dtype, raw):
    """numpy.core.multiarray.scalar(dtype, bytes): a numpy scalar (e.g. a step count)."""
    if not isinstance(dtype, DType) or not isinstance(raw, (bytes, bytearray)):
        raise ConvertError("numpy scalar with an unexpected payload")
    dt = dtype.numpy()
    if len(raw) != dt.itemsize:
        raise ConvertError("numpy scalar of %d bytes for dtype %s" % (len(raw), dt))
    return np.frombuffer(bytes(raw), dt)[0]


def codecs_encode(text, encoding="utf-8"):
    """_codecs.encode(str, 'latin1'): how protocol 2 pickles bytes in Python 3."""
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1"):
        raise ConvertError("_codecs.encode with encoding %r" % (encoding,))
    return text.encode("latin-1")


# The only objects whose state a file may set (BUILD).
BUILD_TARGETS = (NDArrayState, DType, ModuleRecord, collections.OrderedDict)

ALLOWED = {
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("builtins", "set"): set,
    ("builtins", "frozenset"): frozenset,
    ("__builtin__", "set"): set,  # protocol 2 keeps Python 2 module names
    ("__builtin__", "frozenset"): frozenset,
    ("_codecs", "encode"): codecs_encode,
    ("copyreg", "_reconstructor"): reconstructor,
    ("torch._utils", "_rebuild_tensor_v2"): rebuild_tensor,
    ("torch._utils", "_rebuild_tensor"): rebuild_tensor,
    ("torch._utils", "_rebuild_parameter"): rebuild_parameter,
    ("torch._utils", "_rebuild_parameter_with_state"): rebuild_parameter,
    ("numpy", "ndarray"): NDArrayType,
    ("numpy", "dtype"): DType,
}
for _m in ("numpy.core.multiarray", "numpy._core.multiarray"):
    ALLOWED[(_m, "_reconstruct")] = NDArrayState
    ALLOWED[(_m, "scalar")] = scalar


class RestrictedUnpickler(pickle._Unpickler):
    """find_class answers only from ALLOWED and torch storage types (and, with
    modules=True, inert ModuleRecord classes for torch.nn / torchvision module
    classes); BUILD only on BUILD_TARGETS instances."""

    dispatch = dict(pickle._Unpickler.dispatch)

    def __init__(self, data, storages=None, modules=False, what="the file"):
        super().__init__(io.BytesIO(data), encoding="latin1")
        self._storages = storages
        self._modules = modules
        self._what = what
        self._records = {}

    def _load_build(self):
        inst = self.stack[-2] if len(self.stack) > 1 else None
        if not isinstance(inst, BUILD_TARGETS):
            raise ConvertError("%s sets the state of %s, which a tensor file never does"
                               % (self._what, getattr(inst, "__name__", type(inst).__name__)))
        pickle._Unpickler.load_build(self)

    dispatch[pickle.BUILD[0]] = _load_build

    def find_class(self, module, name):
        key = (module, name)
        if key in ALLOWED:
            return ALLOWED[key]
        if module == "torch" and name in STORAGE_DTYPES:
            return StorageType(name)  # fresh: nothing a file does to it outlives the load
        qual = "%s.%s" % (module, name)
        if self._modules and module.startswith(MODULE_PREFIXES):
            return self._records.setdefault(qual, _record_class(qual))
        hint = ""
        if self._modules and module != "builtins" and "." not in name and name[:1].isupper():
            hint = ("; a whole pickled model is read only when it is built from torch.nn and "
                    "torchvision classes: " + PYTORCH_HINT)
        raise ConvertError("%s asks for the Python global '%s', which this converter does not "
                           "load (it only rebuilds tensors; nothing in the file is run)%s"
                           % (self._what, qual, hint))

    def persistent_load(self, pid):
        if self._storages is None:
            raise ConvertError("%s refers to external data (persistent id), which only a "
                               "PyTorch zip file has" % self._what)
        if not (isinstance(pid, tuple) and len(pid) == 5 and pid[0] == "storage"
                and isinstance(pid[1], StorageType) and isinstance(pid[2], str)):
            raise ConvertError("%s has an unknown persistent id %r" % (self._what, pid[:1]))
        kind, key = pid[1], pid[2]
        return Storage(kind, self._storages(key), key)


def load(data, storages=None, modules=False, what="the file"):
    """Unpickle `data` (bytes) with RestrictedUnpickler; ConvertError on any refusal
    or malformed stream."""
    try:
        return RestrictedUnpickler(data, storages, modules, what).load()
    except ConvertError:
        raise
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, IndexError, KeyError,
            AttributeError, OverflowError, MemoryError, RecursionError) as exc:
        raise ConvertError("%s is not a readable pickle (%s: %s)"
                           % (what, type(exc).__name__, exc)) from None
