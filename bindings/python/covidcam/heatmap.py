"""covidcam.Heatmap: one Grad-CAM result, independent of its session."""

import ctypes
import enum
import os

from . import _buffers, _lib, _npy, assessment, image_info
from ._checks import c_int, c_path, c_str
from ._handle import OwnedHandle
from .errors import FileIOError, InvalidArgumentError, error_for


class Method(enum.IntEnum):
    """covidcam_cam_method (docs/gradcam.md)."""
    GRADCAM = 0
    GRADCAMPP = 1
    LAYERCAM = 2
    HIRESCAM = 3      # 0.4
    XGRADCAM = 4      # 0.4
    EIGENCAM = 5      # 0.4
    EIGENGRADCAM = 6  # 0.4
    SCORECAM = 7      # 0.4

    @classmethod
    def parse(cls, value):
        """A Method from itself, its int value or a name ("gradcam",
        "gradcam++"/"gradcampp", "layercam", "hirescam", "xgradcam",
        "eigencam", "eigengradcam", "scorecam", any case)."""
        if isinstance(value, str):
            key = value.strip().lower().replace("++", "pp").replace("-", "").replace("_", "")
            for m in cls:
                if m.name.lower() == key:
                    return m
            raise InvalidArgumentError("unknown method %r (%s)"
                                       % (value, ", ".join(m.label for m in cls)))
        try:
            return cls(value)
        except ValueError:
            raise InvalidArgumentError("unknown method %r" % (value,)) from None

    @property
    def label(self):
        """The name the library and the command-line tools use ("gradcam++"),
        from covidcam_cam_method_name."""
        lib = _lib.get()
        if "covidcam_cam_method_name" in lib.missing:  # a 0.3 library: three methods
            return {0: "gradcam", 1: "gradcam++", 2: "layercam"}.get(int(self), self.name.lower())
        return lib.cam_method_name(int(self)).decode("ascii")


class AugSmooth(enum.IntEnum):
    """covidcam_aug_smooth: test-time augmentation of the map (0.4)."""
    NONE = 0
    INTENSITY = 1  # the input times 0.9, 1, 1.1
    FLIP = 2       # those and their mirrors (pytorch-grad-cam's default set)

    @classmethod
    def parse(cls, value):
        """An AugSmooth from itself, its int value, a name ("none",
        "intensity", "flip", any case), or a bool (True = INTENSITY)."""
        if isinstance(value, bool) or value is None:
            return cls.INTENSITY if value else cls.NONE
        if isinstance(value, str):
            for m in cls:
                if m.name.lower() == value.strip().lower():
                    return m
            raise InvalidArgumentError("unknown aug_smooth %r (none, intensity, flip)" % value)
        try:
            return cls(value)
        except ValueError:
            raise InvalidArgumentError("unknown aug_smooth %r" % (value,)) from None


def draw_legend(rgb, width, height, text):
    """Draw covidcam_draw_legend's legend (`text` on a band along the top, the
    jet colour bar along the bottom) into `rgb` in place: a writable buffer
    of 3*width*height bytes (bytearray, or a C-contiguous uint8 ndarray of
    shape (height, width, 3))."""
    lib = _lib.get()
    w, h = c_int(width, "width"), c_int(height, "height")
    if _buffers.is_ndarray(rgb):
        if rgb.dtype != _buffers.np.uint8 or not rgb.flags.c_contiguous or not rgb.flags.writeable:
            raise InvalidArgumentError("rgb must be a writable C-contiguous uint8 array")
        ptr, n = ctypes.c_void_p(rgb.ctypes.data), rgb.nbytes
    else:
        try:
            view = memoryview(rgb)
        except TypeError:
            raise InvalidArgumentError("rgb must be a writable buffer, not %s"
                                       % type(rgb).__name__) from None
        if view.readonly or not view.c_contiguous:
            raise InvalidArgumentError("rgb must be writable and contiguous (a bytearray)")
        n = view.nbytes
        ptr = ctypes.cast((ctypes.c_char * n).from_buffer(rgb), ctypes.c_void_p) if n else None
    if n < 3 * max(w, 0) * max(h, 0):
        raise InvalidArgumentError("rgb holds %d bytes, %d x %d RGB needs %d"
                                   % (n, w, h, 3 * w * h))
    err = ctypes.create_string_buffer(_lib.ERRBUF_SIZE)
    st = lib.draw_legend(ptr, w, h, c_str(text, "text"), err, len(err))
    if st:
        raise error_for(st, "cannot draw the legend: %s" % _decode(err.value),
                        _decode(lib.status_string(st)))


def _decode(raw):
    return None if raw is None else raw.decode("utf-8", "replace")


class Heatmap(OwnedHandle):
    """A class activation map with the classification it came from.

    Owns a covidcam_heatmap; use as a context manager or call close(). It may
    outlive the session and model that produced it and move between threads."""

    def __init__(self, handle, classes, model=None):
        self._lib = _lib.get()
        self._handle = handle
        self._classes = tuple(classes)
        self._model = model  # for label(): the class names' owner

    # ------------------------------------------------------------ lifetime

    _kind = "heatmap"

    def close(self):
        if self._handle is not None:
            self._lib.heatmap_free(self._handle)
            self._handle = None

    def _raise(self, status, what):
        raise error_for(status, what, _decode(self._lib.status_string(status)))

    def _render(self, name, what, *args):
        """Call the renderer `name` (heatmap_resize, ...) through its _errbuf
        twin, so an error carries the library's message naming the culprit;
        a library older than 0.3 lacks the twins and gives the status alone."""
        if "covidcam_%s_errbuf" % name in self._lib.missing:
            st = getattr(self._lib, name)(*args)
        else:
            err = ctypes.create_string_buffer(_lib.ERRBUF_SIZE)
            st = getattr(self._lib, name + "_errbuf")(*args, err, len(err))
            if st and err.value:
                what = "%s: %s" % (what, _decode(err.value))
        if st:
            self._raise(st, what)

    # ------------------------------------------------------------ metadata

    def assessment(self):
        """The Assessment (warnings, OOD score) of the classification this map
        came with."""
        a = assessment.new_struct()
        st = self._lib.heatmap_assessment(self._h(), ctypes.byref(a))
        if st:
            self._raise(st, "cannot read the heatmap's assessment")
        return assessment.Assessment(a, self._lib)

    def image_info(self):
        """The ImageInfo of the image this map was computed from."""
        info = image_info.new_struct()
        st = self._lib.heatmap_image_info(self._h(), ctypes.byref(info))
        if st:
            self._raise(st, "cannot read the heatmap's image info")
        return image_info.ImageInfo(info)

    @property
    def size(self):
        """Side of the square normalized map (the model input size)."""
        return self._lib.heatmap_size(self._h())

    @property
    def raw_size(self):
        """(width, height) of the raw map at the target layer."""
        h = self._h()
        return self._lib.heatmap_raw_width(h), self._lib.heatmap_raw_height(h)

    @property
    def image_size(self):
        """(width, height) of the original image; (0, 0) for tensor input."""
        h = self._h()
        return self._lib.heatmap_image_width(h), self._lib.heatmap_image_height(h)

    @property
    def class_index(self):
        """The class explained."""
        return self._lib.heatmap_class(self._h())

    @property
    def class_name(self):
        return self._classes[self.class_index]

    @property
    def probability(self):
        """The probability of the class explained."""
        return self._lib.heatmap_probability(self._h())

    @property
    def layer(self):
        """The target block ("layer4.1" for "layer4" on a basic ResNet...)."""
        return _decode(self._lib.heatmap_layer(self._h()))

    @property
    def method(self):
        return Method(self._lib.heatmap_method(self._h()))

    @property
    def classes(self):
        return self._classes

    @property
    def top(self):
        """Index of the top class of the classification."""
        return self._lib.heatmap_top_class(self._h())

    @property
    def probabilities(self):
        h = self._h()
        return self._lib.heatmap_probabilities(h)[:self._lib.heatmap_num_classes(h)]

    @property
    def logits(self):
        h = self._h()
        return self._lib.heatmap_logits(h)[:self._lib.heatmap_num_classes(h)]

    def result(self):
        """The classification as a covidcam.Result."""
        from .session import Result
        return Result(self._classes, self.probabilities, self.logits, self.top)

    # ------------------------------------------------------------ maps

    def data(self, numpy=False):
        """The map normalized to [0, 1] at size x size: a list of rows, or a
        float32 ndarray (size, size) when numpy is true."""
        h = self._h()
        s = self._lib.heatmap_size(h)
        return _buffers.floats_out(self._lib.heatmap_data(h), s * s, (s, s), numpy)

    def raw(self, numpy=False):
        """relu(cam) at the target layer's resolution, not normalized: a list
        of rows or a float32 ndarray (raw_height, raw_width)."""
        h = self._h()
        w, hh = self._lib.heatmap_raw_width(h), self._lib.heatmap_raw_height(h)
        return _buffers.floats_out(self._lib.heatmap_raw(h), w * hh, (hh, w), numpy)

    def resize(self, width, height, numpy=False):
        """The normalized map bilinearly resized to width x height."""
        h = self._h()
        width, height = c_int(width, "width"), c_int(height, "height")
        n = max(width, 0) * max(height, 0)
        if n > 64 << 20:  # COVIDCAM_MAX_IMAGE_PIXELS: refused before allocating
            raise InvalidArgumentError("cannot resize the heatmap to %dx%d: more than %d pixels"
                                       % (width, height, 64 << 20))
        out = (ctypes.c_float * n)()
        self._render("heatmap_resize", "cannot resize the heatmap to %sx%s" % (width, height),
                     h, width, height, out)
        return _buffers.floats_out(out, n, (int(height), int(width)), numpy)

    def _default_size(self, width, height):
        if width is not None and height is not None:
            return c_int(width, "width"), c_int(height, "height")
        w, hh = self.image_size
        if not w:
            w = hh = self.size
        return w, hh

    def _rgb_out(self, buf, width, height, numpy):
        if numpy:
            if not _buffers.have_numpy():
                raise InvalidArgumentError("numpy is not available")
            return _buffers.np.frombuffer(buf, dtype=_buffers.np.uint8).reshape(height, width, 3)
        return buf.raw

    def colormap(self, width=None, height=None, numpy=False):
        """The map through the jet colormap as RGB bytes (3*width*height) or
        a uint8 ndarray (height, width, 3); default size: the image's."""
        width, height = self._default_size(width, height)
        buf = ctypes.create_string_buffer(3 * max(width, 0) * max(height, 0))
        self._render("heatmap_colormap", "cannot colormap the heatmap at %dx%d" % (width, height),
                     self._h(), width, height, buf)
        return self._rgb_out(buf, width, height, numpy)

    def overlay(self, gray, width=None, height=None, stride=None, alpha=0.5, numpy=None):
        """The jet map blended over gray pixels (2-D uint8 ndarray or a buffer
        with width/height/stride), `alpha` being the map's weight (the image's
        is 1 - alpha). RGB bytes, or an ndarray when numpy (default: when gray is one)."""
        ptr, w, hh, st_, keep = _buffers.pixels_pointer(gray, width, height, stride)
        buf = ctypes.create_string_buffer(3 * max(w, 0) * max(hh, 0))
        try:
            self._render("heatmap_overlay", "cannot overlay the heatmap on %dx%d pixels (alpha %s)"
                         % (w, hh, alpha), self._h(), ptr, w, hh, st_, 1.0 - float(alpha), buf)
        finally:
            del keep
        if numpy is None:
            numpy = _buffers.is_ndarray(gray)
        return self._rgb_out(buf, w, hh, numpy)

    def save_overlay(self, path, alpha=0.5):
        """Write the map blended over the original image as an RGB PNG;
        `alpha` is the map's weight (pytorch-grad-cam image_weight = 1 - alpha)."""
        err = ctypes.create_string_buffer(_lib.ERRBUF_SIZE)
        st = self._lib.heatmap_write_overlay(self._h(), c_path(path), 1.0 - float(alpha),
                                             err, len(err))
        if st:
            self._raise(st, _decode(err.value))

    @property
    def eigen_smooth(self):
        """Whether eigen_smooth was applied."""
        return bool(self._lib.heatmap_eigen_smooth(self._h()))

    @property
    def aug_smooth(self):
        """The AugSmooth the map was computed with."""
        return AugSmooth(self._lib.heatmap_aug_smooth(self._h()))

    def label(self):
        """covidcam_heatmap_label: "COVID 97.1% | gradcam++ layer4.1" (with
        " eigen", " aug" or " aug+flip" when used)."""
        if self._model is None:
            raise InvalidArgumentError("this heatmap has no model to name its class")
        buf = ctypes.create_string_buffer(512)
        st = self._lib.heatmap_label(self._h(), self._model._h(), buf, len(buf))
        if st:
            self._raise(st, "cannot label the heatmap")
        return _decode(buf.value)

    def save_labelled_overlay(self, path, alpha=0.5, label=None):
        """save_overlay() with a legend drawn on it: `label` (default: label())
        on a band along the top, the colour bar along the bottom."""
        text = self.label() if label is None else label
        err = ctypes.create_string_buffer(_lib.ERRBUF_SIZE)
        st = self._lib.heatmap_write_labelled_overlay(self._h(), c_path(path), 1.0 - float(alpha),
                                                      c_str(text, "label"), err, len(err))
        if st:
            self._raise(st, _decode(err.value))

    def save_colormap(self, path):
        """Write the jet colormap alone as an RGB PNG at the image size."""
        err = ctypes.create_string_buffer(_lib.ERRBUF_SIZE)
        st = self._lib.heatmap_write_colormap(self._h(), c_path(path), err, len(err))
        if st:
            self._raise(st, _decode(err.value))

    def save_npy(self, path):
        """Write the normalized map (size x size float32) as a NumPy .npy file."""
        h = self._h()
        s = self._lib.heatmap_size(h)
        raw = c_path(path)
        try:
            _npy.write_f32(raw, s, s, self._lib.heatmap_data(h)[:s * s])
        except OSError as exc:
            raise FileIOError("cannot write %s: %s"
                              % (os.fsdecode(raw), exc.strerror or exc)) from None

    def __repr__(self):
        if self._handle is None:
            return "<covidcam.Heatmap closed>"
        return "<covidcam.Heatmap %s %s %s p=%.4f %dx%d>" % (
            self.method.label, self.layer, self.class_name, self.probability, self.size,
            self.size)
