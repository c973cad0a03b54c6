"""covidcam.Model: immutable weights and metadata, shareable between threads."""

import ctypes
import os
import threading

from ._checks import c_path, c_str
from . import _buffers, _lib
from ._handle import OwnedHandle
from .errors import InvalidArgumentError, error_for


def decode(raw):
    return None if raw is None else raw.decode("utf-8", "replace")


def check_errbuf(lib, status, errbuf):
    """Raise the Error for a failed call that reported through an errbuf."""
    if status:
        raise error_for(status, decode(errbuf.value), decode(lib.status_string(status)))


class Model(OwnedHandle):
    """A covidcam model loaded from a file path or from bytes.

    Use as a context manager or call close(); every Session of the model must
    be closed first. A model may be shared by any number of threads."""

    def __init__(self, source):
        self._lib = _lib.get()
        self._handle = None
        self._sessions = 0
        self._orphaned = False
        self._lock = threading.Lock()
        err = ctypes.create_string_buffer(_lib.ERRBUF_SIZE)
        out = _lib.model_p()
        if isinstance(source, (str, os.PathLike)):
            st = self._lib.model_load(c_path(source), ctypes.byref(out), err, len(err))
        else:
            ptr, n, keep = _buffers.bytes_pointer(source)
            st = self._lib.model_load_from_memory(ptr, n, ctypes.byref(out), err, len(err))
            del keep
        check_errbuf(self._lib, st, err)
        self._handle = out.value
        self._classes = tuple(decode(self._lib.model_class_name(self._handle, i))
                              for i in range(self._lib.model_num_classes(self._handle)))

    @classmethod
    def load(cls, path):
        return cls(os.fspath(path))

    @classmethod
    def from_bytes(cls, data):
        if isinstance(data, (str, os.PathLike)):
            raise InvalidArgumentError("from_bytes needs bytes-like data, not a path")
        return cls(data)

    # ------------------------------------------------------------ lifetime

    _kind = "model"

    @property
    def handle(self):
        """The covidcam_model pointer (int); InvalidArgumentError once closed."""
        return self._h()

    def close(self):
        """Free the model. Refused while sessions of it are open."""
        with self._lock:
            if self._handle is None:
                return
            if self._sessions:
                raise InvalidArgumentError("model still has %d open session(s); close them first"
                                           % self._sessions)
            self._lib.model_free(self._handle)
            self._handle = None

    def __del__(self):
        if getattr(self, "_handle", None) is None:
            return
        # Sessions keep their model alive, so sessions are open here only when
        # the garbage collector breaks a cycle holding both: the last one to
        # close frees the model.
        with self._lock:
            if self._sessions:
                self._orphaned = True
                return
            self._lib.model_free(self._handle)
            self._handle = None

    def _attach(self):
        with self._lock:
            handle = self.handle
            self._sessions += 1
            return handle

    def _detach(self):
        with self._lock:
            self._sessions -= 1
            if not self._sessions and self._orphaned:
                self._lib.model_free(self._handle)
                self._handle = None

    # ------------------------------------------------------------ queries

    @property
    def classes(self):
        """Class names in logit order."""
        return self._classes

    @property
    def num_classes(self):
        return len(self._classes)

    def class_index(self, name):
        """Index of class `name`; InvalidArgumentError if there is none."""
        i = self._lib.model_class_index(self.handle, c_str(name, "class name"))
        if i < 0:
            raise InvalidArgumentError("unknown class %r (classes: %s)"
                                       % (name, ", ".join(self._classes)))
        return i

    @property
    def input_size(self):
        return self._lib.model_input_size(self.handle)

    @property
    def input_channels(self):
        return self._lib.model_input_channels(self.handle)

    @property
    def temperature(self):
        """Softmax temperature T of the model's calibration (1.0 when the file
        has none): probabilities are softmax(logits / T)."""
        return self._lib.model_temperature(self.handle)

    @property
    def arch(self):
        return decode(self._lib.model_arch(self.handle))

    @property
    def layers(self):
        """Valid Grad-CAM target layer names."""
        h = self.handle
        return tuple(decode(self._lib.model_layer_name(h, i))
                     for i in range(self._lib.model_num_layers(h)))

    def metadata(self, key, default=None):
        """The raw string value of metadata `key`, or `default`."""
        v = self._lib.model_metadata(self.handle, c_str(key, "metadata key"))
        return default if v is None else decode(v)

    @property
    def has_ood(self):
        """True when the model file carries out-of-distribution statistics."""
        return bool(self._lib.model_has_ood(self.handle))

    @property
    def num_features(self):
        """Length of the pooled feature vector (Session.features)."""
        return self._lib.model_num_features(self.handle)

    def preprocess(self, pixels, width=None, height=None, stride=None, numpy=None):
        """The network input for gray pixels (as classify does): a flat list of
        C*S*S floats, or a (C, S, S) float32 ndarray when numpy (default: when
        the pixels are an ndarray)."""
        h = self.handle
        ptr, w, hh, st, keep = _buffers.pixels_pointer(pixels, width, height, stride)
        c, s = self.input_channels, self.input_size
        n = c * s * s
        out = (ctypes.c_float * n)()
        what = "cannot preprocess %dx%d pixels (stride %d)" % (w, hh, st)
        if "covidcam_model_preprocess_errbuf" in self._lib.missing:  # a library before 0.2
            err = self._lib.model_preprocess(h, ptr, w, hh, st, out, n)
        else:
            msg = ctypes.create_string_buffer(_lib.ERRBUF_SIZE)
            err = self._lib.model_preprocess_errbuf(h, ptr, w, hh, st, out, n, msg, len(msg))
            if err and msg.value:
                what = "%s: %s" % (what, decode(msg.value))
        del keep
        if err:
            raise error_for(err, what, decode(self._lib.status_string(err)))
        if numpy is None:
            numpy = _buffers.is_ndarray(pixels)
        return _buffers.floats_out(out, n, (c, s, s), numpy) if numpy else list(out)

    def __repr__(self):
        if self._handle is None:
            return "<covidcam.Model closed>"
        return "<covidcam.Model %s %dx%dx%d classes=%s>" % (
            self.arch, self.input_channels, self.input_size, self.input_size,
            list(self._classes))
