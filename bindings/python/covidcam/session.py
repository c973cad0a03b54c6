"""covidcam.Session (per-thread inference state) and covidcam.Result."""

import array
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
    (AVX512-BF16 or AMX; elsewhere Session raises UnsupportedError), INT8 on
    model files with int8 calibration scales (made by covidcam-quantize;
    others raise UnsupportedError), AUTO picks INT8 for such files, else
    BF16 where it is native, else FP32 (Session.precision tells which)."""
    FP32 = 0
    BF16 = 1
    INT8 = 2
    AUTO = 3


class Result:
    """One classification: `top` (index), `label` (its class name),
    `probabilities` and `logits` (lists in class order), `classes`.

    Results of the batch calls (Session.classify_batch, Session.classify_files)
    also carry `assessment` (an Assessment) and `image_info` (an ImageInfo) of
    their image, and `index` (its place in the batch); after a one-image call
    these are None: ask Session.assessment() and Session.image_info()."""

    __slots__ = ("classes", "probabilities", "logits", "top", "assessment", "image_info",
                 "index")

    def __init__(self, classes, probabilities, logits, top, assessment=None, image_info=None,
                 index=None):
        self.classes = classes
        self.probabilities = probabilities
        self.logits = logits
        self.top = top
        self.assessment = assessment
        self.image_info = image_info
        self.index = index

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


# COVIDCAM_MAX_BATCH: the largest Session max_batch.
MAX_BATCH = 256


def _is_path(source):
    return isinstance(source, (str, os.PathLike))


class Session(OwnedHandle):
    """Inference state for one Model, used by one thread at a time.

    Different sessions of one model may run in parallel threads (the library
    releases the GIL during calls). Calls on one session are serialized by a
    lock, so sharing a session between threads is safe but not parallel.

    `max_batch` (1 to MAX_BATCH; 0 means 1) is the most images one
    classify_batch / classify_files call takes; above 1 the session also
    builds a network for that many images (LimitError when their activations
    exceed the session's memory limit)."""

    def __init__(self, model, threads=0, precision=Precision.FP32, max_batch=1):
        if not isinstance(model, Model):
            raise InvalidArgumentError("Session needs a covidcam.Model, got %s"
                                       % type(model).__name__)
        self._lib = _lib.get()
        self._handle = None
        self._model = model
        self._threads = c_int(threads, "threads", 0, 1024)
        # 0 means 1, as in covidcam_session_options
        max_batch = c_int(max_batch, "max_batch", 0, MAX_BATCH) or 1
        self._lock = threading.Lock()
        opts = _lib.init_options(self._lib.session_options_init, _lib.SessionOptions())
        opts.num_threads = self._threads
        asked = _parse_precision(precision)
        opts.precision = int(asked)
        if max_batch > 1:  # else the default 0, which a library before 0.5 also takes
            opts.max_batch = max_batch
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
        if "covidcam_session_max_batch" in self._lib.missing:
            self._max_batch = 1  # before 0.5 (which would have refused max_batch > 1)
        else:
            self._max_batch = self._lib.session_max_batch(self._handle)
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

    @property
    def max_batch(self):
        """The most images one classify_batch / classify_files call takes (the
        max_batch asked for at creation, 1 when it was 0 or 1)."""
        return self._max_batch

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

    # ------------------------------------------------------------ batches (0.5)

    def _check_count(self, count, what):
        if count > self._max_batch:
            raise InvalidArgumentError(
                "%s got %d images, more than the session's max_batch %d (create the Session "
                "with max_batch=%d or more, at most %d)"
                % (what, count, self._max_batch, count, MAX_BATCH) if count <= MAX_BATCH else
                "%s got %d images, more than the session's max_batch %d (at most %d per call)"
                % (what, count, self._max_batch, MAX_BATCH))

    def _batch_extras(self, i):
        """(Assessment, ImageInfo) of image i of the last batch (under the lock)."""
        a = assessment.new_struct()
        st = self._lib.session_batch_assessment(self._handle, i, ctypes.byref(a))
        if st:
            raise error_for(st, "image %d of the batch has no assessment" % i,
                            decode(self._lib.status_string(st)))
        info = image_info.new_struct()
        st = self._lib.session_batch_image_info(self._handle, i, ctypes.byref(info))
        if st:
            raise error_for(st, "image %d of the batch has no decoded input" % i,
                            decode(self._lib.status_string(st)))
        return assessment.Assessment(a, self._lib), image_info.ImageInfo(info)

    def _batch_results(self, count, probs, logits, tops, failed=()):
        n = self._model.num_classes
        out = []
        for i in range(count):
            if i in failed:
                out.append(failed[i])
                continue
            a, info = self._batch_extras(i)
            out.append(Result(self._model.classes, probs[i * n:(i + 1) * n],
                              logits[i * n:(i + 1) * n], tops[i], a, info, i))
        return out

    def _run_batch(self, fn, count, *args):
        n = self._model.num_classes
        probs = (ctypes.c_float * (count * n))()
        logits = (ctypes.c_float * (count * n))()
        tops = (ctypes.c_int * count)()
        with self._lock:
            st = fn(self._h(), *args, probs, logits, n, tops)
            if st:
                self._raise(st)
            return self._batch_results(count, probs, logits, tops)

    def classify_batch(self, images):
        """Classify up to max_batch images in one pass of the network; a list
        of Results in input order, each with its `assessment` and `image_info`.

        `images` is a sequence of tensors, as classify_tensor takes them (float
        ndarrays (C, H, W), all of one shape, or flat float32 buffers or
        sequences of the model's input size), or a float ndarray (N, C, H, W);
        or a sequence of gray pixel images, as classify_pixels takes them (2-D
        uint8 ndarrays, or tuples (buffer, width, height[, stride]) of bytes-like
        buffers; each of its own size). The results equal those of the
        one-image calls up to float rounding (within 1e-5 of the logits' scale
        in fp32). The call fails as a whole, raising the Error of the first
        image that fails (its message names the image's index); an empty
        sequence gives []. For files use classify_files."""
        if _buffers.is_ndarray(images) and images.ndim == 4 and images.dtype.kind == "f":
            self._check_count(len(images), "classify_batch")
            if not len(images):
                return []
            arr = _buffers.np.ascontiguousarray(images, dtype=_buffers.np.float32)
            _, c, h, w = arr.shape
            return self._run_batch(self._lib.classify_tensor_batch, len(arr),
                                   ctypes.c_void_p(arr.ctypes.data), len(arr), c, h, w)
        if _is_path(images) or isinstance(images, (bytes, bytearray, memoryview)) or \
                _buffers.is_ndarray(images):
            raise InvalidArgumentError(
                "classify_batch takes a sequence of images (tensors or 2-D uint8 pixel arrays) "
                "or a float ndarray (N, C, H, W), not %s"
                % ("an ndarray of shape %s %s" % (images.shape, images.dtype)
                   if _buffers.is_ndarray(images) else type(images).__name__))
        try:
            images = list(images)
        except TypeError:
            raise InvalidArgumentError("classify_batch takes a sequence of images, not %s"
                                       % type(images).__name__) from None
        self._check_count(len(images), "classify_batch")
        if not images:
            return []
        kinds = [_batch_kind(x) for x in images]
        for i, k in enumerate(kinds):
            if k is None:
                raise InvalidArgumentError(
                    "classify_batch: image %d is %s; it takes tensors (float ndarrays, float "
                    "sequences or buffers) or pixels (2-D uint8 arrays, (buffer, width, "
                    "height[, stride]) tuples)%s"
                    % (i, _describe(images[i]),
                       "; use classify_files for paths" if _is_path(images[i]) else
                       "; image bytes (PNG, JPEG, DICOM) have no batch call: classify_image "
                       "each, or classify_files" if isinstance(images[i], bytes) else ""))
            if k != kinds[0]:
                raise InvalidArgumentError(
                    "classify_batch: image %d is %s but image 0 is %s: one batch takes either "
                    "tensors or pixels" % (i, k, kinds[0]))
        if kinds[0] == "pixels":
            return self._pixels_batch(images)
        return self._tensor_batch(images)

    def _tensor_batch(self, tensors):
        count = len(tensors)
        dims = self._default_dims(None, None, None)
        first = None
        ptrs, keep = [], []
        for i, t in enumerate(tensors):
            try:
                ptr, c, h, w, k = _buffers.tensor_pointer(t, *dims)
            except InvalidArgumentError as exc:
                raise InvalidArgumentError("tensor %d: %s" % (i, exc.message)) from None
            if first is None:
                first = (c, h, w)
            elif (c, h, w) != first:
                raise InvalidArgumentError(
                    "tensor %d is %d x %d x %d but tensor 0 is %d x %d x %d: the tensors of "
                    "a batch have one shape" % ((i, c, h, w) + first))
            ptrs.append(ptr)
            keep.append(k)
        c, h, w = first
        one = c * h * w
        if one <= 0:  # impossible dimensions: the library's message
            return self._run_batch(self._lib.classify_tensor_batch, count, None, count, c, h, w)
        buf = (ctypes.c_float * (count * one))()
        for i, ptr in enumerate(ptrs):
            ctypes.memmove(ctypes.byref(buf, i * one * 4), ptr, one * 4)
        del keep
        return self._run_batch(self._lib.classify_tensor_batch, count, buf, count, c, h, w)

    def _pixels_batch(self, images):
        count = len(images)
        ptrs = (ctypes.c_void_p * count)()
        widths, heights = (ctypes.c_int * count)(), (ctypes.c_int * count)()
        strides = (ctypes.c_size_t * count)()
        keep = []
        for i, a in enumerate(images):
            try:
                if _pixel_tuple(a):
                    ptr, w, h, st, k = _buffers.pixels_pointer(*(tuple(a) + (None,))[:4])
                else:
                    ptr, w, h, st, k = _buffers.pixels_pointer(_gray_array(a), None, None, None)
            except InvalidArgumentError as exc:
                raise InvalidArgumentError("image %d: %s" % (i, exc.message)) from None
            ptrs[i], widths[i], heights[i], strides[i] = ptr.value, w, h, st
            keep.append(k)
        return self._run_batch(self._lib.classify_pixels_batch, count, ptrs, widths, heights,
                               strides, count)

    def classify_files(self, paths):
        """Classify up to max_batch image files (PNG, JPEG or DICOM, as
        classify_file reads them) in one pass of the network.

        Returns a list in input order with, for each path, either a Result
        (with its `assessment` and `image_info`) or, for a file that could
        not be read or decoded, the Error that classify_file would have
        raised for it (not raised: test with isinstance(x, covidcam.Error);
        its `status`, `message`, and `path` and `index` say which file). One
        failed file does not stop the others. A failure of the call as a
        whole (a backend failure) is raised. An empty sequence gives []."""
        if _is_path(paths) or isinstance(paths, bytes):
            raise InvalidArgumentError("classify_files takes a sequence of paths, not one "
                                       "path (%r)" % (paths,))
        try:
            paths = list(paths)
        except TypeError:
            raise InvalidArgumentError("classify_files takes a sequence of paths, not %s"
                                       % type(paths).__name__) from None
        self._check_count(len(paths), "classify_files")
        count = len(paths)
        if not count:
            return []
        raw = []
        for i, p in enumerate(paths):
            try:
                raw.append(c_path(p, "path %d" % i))
            except InvalidArgumentError as exc:
                raise InvalidArgumentError("classify_files: %s" % exc.message) from None
        c_paths = (ctypes.c_char_p * count)(*raw)
        n = self._model.num_classes
        probs = (ctypes.c_float * (count * n))()
        logits = (ctypes.c_float * (count * n))()
        tops = (ctypes.c_int * count)()
        statuses = (_lib.status_t * count)()
        with self._lock:
            st = self._lib.classify_files(self._h(), c_paths, count, probs, logits, n, tops,
                                          statuses)
            failed = {}
            for i in range(count):
                if statuses[i]:
                    why = decode(self._lib.session_batch_error(self._handle, i))
                    if not why:  # the call failed as a whole
                        self._raise(st or statuses[i])
                    exc = error_for(statuses[i], why, decode(self._lib.status_string(statuses[i])))
                    exc.path, exc.index = paths[i], i
                    failed[i] = exc
            if st and not failed:
                self._raise(st)
            return self._batch_results(count, probs, logits, tops, failed)

    def batch_error(self, index):
        """The message of image `index` of the last batch call ("" when it
        worked, or outside that call): covidcam_session_batch_error."""
        with self._lock:
            return decode(self._lib.session_batch_error(self._h(), c_int(index, "index")))

    def batch_assessment(self, index):
        """The Assessment of image `index` of the last batch call
        (InvalidArgumentError outside it or for an image that failed); the
        batch Results carry it already."""
        with self._lock:
            self._h()
            return self._batch_extras(c_int(index, "index"))[0]

    def batch_image_info(self, index):
        """The ImageInfo of image `index` of the last batch call, like batch_assessment."""
        with self._lock:
            self._h()
            return self._batch_extras(c_int(index, "index"))[1]

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
            if self._max_batch > 1:
                state += " max_batch=%d" % self._max_batch
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


def _pixel_tuple(x):
    """(buffer, width, height) or (buffer, width, height, stride): pixels as
    classify_pixels takes a buffer."""
    return (isinstance(x, tuple) and len(x) in (3, 4)
            and isinstance(x[0], (bytes, bytearray, memoryview, array.array))
            and not isinstance(x[1], float))


def _batch_kind(x):
    """"tensor", "pixels" or None (not an input of classify_batch)."""
    if _pixel_tuple(x):
        return "pixels"
    if _buffers.is_ndarray(x):
        if x.dtype.kind == "f":
            return "tensor"
        return "pixels" if x.ndim == 2 or x.dtype.kind == "u" else None
    if _is_path(x) or isinstance(x, (bytes, bytearray)):
        return None
    try:
        mv = memoryview(x)
    except TypeError:
        mv = None
    if mv is not None:
        return "tensor" if mv.format in _buffers._FLOAT32_FORMATS else None
    try:
        iter(x)
    except TypeError:
        return None
    return "tensor"


def _describe(x):
    if _buffers.is_ndarray(x):
        return "an ndarray of shape %s %s" % (x.shape, x.dtype)
    if _is_path(x):
        return "a path (%r)" % (x,)
    return "a %s object" % type(x).__name__


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
