"""covidcam.Session (per-thread inference state) and covidcam.Result."""

import ctypes
import enum
import os
import threading

from . import _buffers, _lib, assessment, image_info
from ._checks import c_int, c_path, c_str
from ._handle import OwnedHandle
from .errors import InvalidArgumentError, error_for
from .heatmap import AugSmooth, Heatmap, Method
from .model import Model, check_errbuf, decode


class Precision(enum.IntEnum):
    """covidcam_precision. BF16 works on CPUs that compute bf16 natively
    (AVX512-BF16 or AMX; elsewhere Session raises UnsupportedError), INT8 is
    reserved (always UnsupportedError), AUTO picks BF16 where it is native,
    else FP32 (Session.precision tells which)."""
    FP32 = 0
    BF16 = 1
    INT8 = 2
    AUTO = 3


class Result:
    """One classification: `top` (index), `label` (its class name),
    `probabilities` and `logits` (lists in class order), `classes`."""

    __slots__ = ("classes", "probabilities", "logits", "top")

    def __init__(self, classes, probabilities, logits, top):
        self.classes = classes
        self.probabilities = probabilities
        self.logits = logits
        self.top = top

    @property
    def label(self):
        return self.classes[self.top]

    @property
    def probability(self):
        return self.probabilities[self.top]

    def as_dict(self):
        """{"top": label, "probabilities": {class: p}, "logits": {class: z}}."""
        return {"top": self.label,
                "probabilities": dict(zip(self.classes, self.probabilities)),
                "logits": dict(zip(self.classes, self.logits))}

    def __repr__(self):
        return "<covidcam.Result %s p=%.4f>" % (self.label, self.probability)


def _is_path(source):
    return isinstance(source, (str, os.PathLike))


class Session(OwnedHandle):
    """Inference state for one Model, used by one thread at a time.

    Different sessions of one model may run in parallel threads (the library
    releases the GIL during calls). Calls on one session are serialized by a
    lock, so sharing a session between threads is safe but not parallel."""

    def __init__(self, model, threads=0, precision=Precision.FP32):
        if not isinstance(model, Model):
            raise InvalidArgumentError("Session needs a covidcam.Model, got %s"
                                       % type(model).__name__)
        self._lib = _lib.get()
        self._handle = None
        self._model = model
        self._threads = c_int(threads, "threads", 0, 1024)
        self._lock = threading.Lock()
        opts = _lib.init_options(self._lib.session_options_init, _lib.SessionOptions())
        opts.num_threads = self._threads
        asked = _parse_precision(precision)
        opts.precision = int(asked)
        err = ctypes.create_string_buffer(_lib.ERRBUF_SIZE)
        out = _lib.session_p()
        mh = model._attach()
        try:
            st = self._lib.session_create(mh, ctypes.byref(opts), ctypes.byref(out), err,
                                          len(err))
            check_errbuf(self._lib, st, err)
        except BaseException:
            model._detach()
            raise
        self._handle = out.value
        # fixed at creation: what was asked for, or what AUTO resolved to (a
        # library before covidcam_session_precision only computes fp32)
        if "covidcam_session_precision" in self._lib.missing:
            self._precision = asked
        else:
            self._precision = Precision(self._lib.session_precision(self._handle))
        n = model.num_classes
        self._probs = (ctypes.c_float * n)()
        self._logits = (ctypes.c_float * n)()
        self._top = ctypes.c_int()

    # ------------------------------------------------------------ lifetime

    @property
    def model(self):
        return self._model

    @property
    def threads(self):
        """The thread count asked for (0 = all cores)."""
        return self._threads

    @property
    def precision(self):
        """The Precision the session computes in: the one asked for, or what
        AUTO resolved to (never AUTO); resolved once, at creation."""
        return self._precision

    _kind = "session"

    def close(self):
        with self._lock:
            if self._handle is None:
                return
            self._lib.session_free(self._handle)
            self._handle = None
            self._model._detach()

    @property
    def last_error(self):
        return decode(self._lib.session_last_error(self._h()))

    def _raise(self, status):
        raise error_for(status, decode(self._lib.session_last_error(self._handle)),
                        decode(self._lib.status_string(status)))

    # ------------------------------------------------------------ classify

    def _classify(self, fn, *args):
        n = self._model.num_classes
        with self._lock:
            st = fn(self._h(), *args, self._probs, self._logits, n, ctypes.byref(self._top))
            if st:
                self._raise(st)
            return Result(self._model.classes, self._probs[:n], self._logits[:n],
                          self._top.value)

    def classify_file(self, path):
        """Classify an image file: PNG, JPEG or DICOM (recognised from its bytes)."""
        return self._classify(self._lib.classify_file, c_path(path))

    def classify_png(self, data):
        """Classify PNG bytes (bytes, bytearray, memoryview, uint8 ndarray)."""
        ptr, n, keep = _buffers.bytes_pointer(data)
        return self._classify(self._lib.classify_png, ptr, n)

    def classify_image(self, data):
        """Classify image bytes in any supported format (PNG, JPEG, DICOM)."""
        ptr, n, keep = _buffers.bytes_pointer(data)
        return self._classify(self._lib.classify_image, ptr, n)

    def image_info(self):
        """The ImageInfo of the input of the last successful classify or
        Grad-CAM call (InvalidArgumentError if the last call failed)."""
        info = image_info.new_struct()
        with self._lock:
            st = self._lib.session_image_info(self._h(), ctypes.byref(info))
        if st:
            raise error_for(st, "the session has no decoded input (the last call failed or "
                            "none was made)", decode(self._lib.status_string(st)))
        return image_info.ImageInfo(info)

    def assessment(self):
        """The Assessment (warnings, OOD score) of the last successful classify
        or Grad-CAM call (InvalidArgumentError if the last call failed)."""
        a = assessment.new_struct()
        with self._lock:
            st = self._lib.session_assessment(self._h(), ctypes.byref(a))
        if st:
            raise error_for(st, "the session has no assessment (the last call failed or none "
                            "was made)", decode(self._lib.status_string(st)))
        return assessment.Assessment(a, self._lib)

    def features(self, numpy=None):
        """The pooled features (what the fc layer reads) of the last successful
        call: a list of floats, or a float32 ndarray when numpy."""
        n = self._model.num_features
        out = (ctypes.c_float * n)()
        with self._lock:
            st = self._lib.session_features(self._h(), out, n)
            if st:
                self._raise(st)
        return _buffers.floats_out(out, n, (n,), numpy) if numpy else list(out)

    def input(self, numpy=None):
        """The network input of the last successful call (covidcam_session_input):
        the preprocessed tensor C x S x S, flat list of floats or a float32
        ndarray (C, S, S) when numpy (0.4)."""
        m = self._model
        c, s = m.input_channels, m.input_size
        n = c * s * s
        out = (ctypes.c_float * n)()
        with self._lock:
            st = self._lib.session_input(self._h(), out, n)
            if st:
                self._raise(st)
        return _buffers.floats_out(out, n, (c, s, s), numpy) if numpy else list(out)

    def classify_pixels(self, pixels, width=None, height=None, stride=None):
        """Classify 8-bit gray pixels: a 2-D uint8 ndarray, or a buffer of
        `height` rows of `width` bytes `stride` (default width) apart."""
        ptr, w, h, st, keep = _buffers.pixels_pointer(pixels, width, height, stride)
        return self._classify(self._lib.classify_pixels, ptr, w, h, st)

    def classify_tensor(self, tensor, channels=None, height=None, width=None):
        """Classify a normalized planar float32 tensor C x S x S: an ndarray, or
        a flat buffer/sequence (dimensions default to the model's input)."""
        c, h, w = self._default_dims(channels, height, width)
        ptr, c, h, w, keep = _buffers.tensor_pointer(tensor, c, h, w)
        return self._classify(self._lib.classify_tensor, ptr, c, h, w)

    def classify(self, source):
        """Classify a path, image bytes (PNG, JPEG, DICOM), a 2-D uint8
        ndarray (pixels) or a float ndarray (tensor)."""
        if _is_path(source):
            return self.classify_file(source)
        if _buffers.is_ndarray(source) and source.dtype.kind == "f":
            return self.classify_tensor(source)
        if _buffers.is_ndarray(source):
            return self.classify_pixels(_gray_array(source))
        return self.classify_image(source)

    def _default_dims(self, channels, height, width):
        m = self._model
        return (m.input_channels if channels is None else channels,
                m.input_size if height is None else height,
                m.input_size if width is None else width)

    # ------------------------------------------------------------ Grad-CAM

    def _options(self, method, layer, target, eigen_smooth=False, aug_smooth=None):
        opts = _lib.init_options(self._lib.gradcam_options_init, _lib.GradcamOptions())
        opts.method = int(Method.parse(method))
        opts.eigen_smooth = 1 if eigen_smooth else 0
        opts.aug_smooth = int(AugSmooth.parse(aug_smooth))
        if layer is not None:
            if isinstance(layer, (list, tuple)):
                layer = ",".join(layer)
            opts.layer = c_str(layer, "layer")
        if target is not None:
            opts.target_class = (self._model.class_index(target) if isinstance(target, str)
                                 else c_int(target, "target"))
        return opts

    def _gradcam(self, fn, args, method, layer, target, **smooth):
        opts = self._options(method, layer, target, **smooth)
        out = _lib.heatmap_p()
        with self._lock:
            st = fn(self._h(), *args, ctypes.byref(opts), ctypes.byref(out))
            if st:
                self._raise(st)
        return Heatmap(out.value, self._model.classes, self._model)

    def gradcam_file(self, path, method="gradcam", layer=None, target=None, **smooth):
        """Grad-CAM of an image file (PNG, JPEG, DICOM). `method`: a Method or
        its name ("gradcam", "gradcam++", "layercam", "hirescam", "xgradcam",
        "eigencam", "eigengradcam", "scorecam"); `layer`: "layer4" (default),
        "layer3.1"..., or several ("layer3,layer4" or a list: their mean map);
        `target`: class index or name to explain (default: the top class).
        Keywords `eigen_smooth` (bool) and `aug_smooth` (AugSmooth or "none",
        "intensity", "flip") as in docs/gradcam.md."""
        return self._gradcam(self._lib.gradcam_file, (c_path(path),), method, layer, target,
                             **smooth)

    def gradcam_png(self, data, method="gradcam", layer=None, target=None, **smooth):
        ptr, n, keep = _buffers.bytes_pointer(data)
        return self._gradcam(self._lib.gradcam_png, (ptr, n), method, layer, target, **smooth)

    def gradcam_image(self, data, method="gradcam", layer=None, target=None, **smooth):
        """Grad-CAM of image bytes in any supported format."""
        ptr, n, keep = _buffers.bytes_pointer(data)
        return self._gradcam(self._lib.gradcam_image, (ptr, n), method, layer, target, **smooth)

    def gradcam_pixels(self, pixels, width=None, height=None, stride=None, method="gradcam",
                       layer=None, target=None, **smooth):
        ptr, w, h, st, keep = _buffers.pixels_pointer(pixels, width, height, stride)
        return self._gradcam(self._lib.gradcam_pixels, (ptr, w, h, st), method, layer, target,
                             **smooth)

    def gradcam_tensor(self, tensor, channels=None, height=None, width=None, method="gradcam",
                       layer=None, target=None, **smooth):
        c, h, w = self._default_dims(channels, height, width)
        ptr, c, h, w, keep = _buffers.tensor_pointer(tensor, c, h, w)
        return self._gradcam(self._lib.gradcam_tensor, (ptr, c, h, w), method, layer, target,
                             **smooth)

    def gradcam(self, source, method="gradcam", layer=None, target=None, **smooth):
        """Grad-CAM of a path, image bytes, pixels ndarray or tensor ndarray."""
        kw = dict(smooth, method=method, layer=layer, target=target)
        if _is_path(source):
            return self.gradcam_file(source, **kw)
        if _buffers.is_ndarray(source) and source.dtype.kind == "f":
            return self.gradcam_tensor(source, **kw)
        if _buffers.is_ndarray(source):
            return self.gradcam_pixels(_gray_array(source), **kw)
        return self.gradcam_image(source, **kw)

    def __repr__(self):
        if self._handle is None:
            state = "closed"
        else:
            state = "threads=%d precision=%s" % (self._threads, self._precision.name.lower())
        return "<covidcam.Session %s>" % state


def _gray_array(a):
    """A non-float ndarray is pixels: say what shape they need rather than
    passing the array on as PNG bytes."""
    if a.ndim != 2 or a.dtype.kind != "u" or a.dtype.itemsize != 1:
        raise InvalidArgumentError(
            "an image array must be 2-D (height, width) uint8 gray pixels, got shape %s %s%s"
            % (a.shape, a.dtype, "; convert color to gray first (e.g. take one channel)"
               if a.ndim == 3 else ""))
    return a


def _parse_precision(p):
    if isinstance(p, str):
        try:
            return Precision[p.upper()]
        except KeyError:
            raise InvalidArgumentError("unknown precision %r (fp32, bf16, int8, auto)"
                                       % p) from None
    try:
        return Precision(p)
    except ValueError:
        raise InvalidArgumentError("unknown precision %r" % (p,)) from None
