"""Finding libcovidcam and declaring the C signatures (ctypes).

Every function of include/covidcam.h that the binding calls is declared here
with its argtypes and restype, so that a pointer is never truncated to an int
and a wrong argument fails in Python instead of in C.
"""

import ctypes
import ctypes.util
import os
import threading

from .errors import LibraryNotFoundError

ENV_VAR = "COVIDCAM_LIBRARY"
# The major version this binding was written for (covidcam.h COVIDCAM_VERSION_MAJOR).
ABI_MAJOR = 0
ERRBUF_SIZE = 512  # COVIDCAM_ERRBUF_SIZE

c_float_p = ctypes.POINTER(ctypes.c_float)
c_uint8_p = ctypes.POINTER(ctypes.c_uint8)
c_int_p = ctypes.POINTER(ctypes.c_int)
status_t = ctypes.c_int
# Opaque handles stay plain void pointers; the Python classes own them.
model_p = ctypes.c_void_p
session_p = ctypes.c_void_p
heatmap_p = ctypes.c_void_p


# Mirrors of the versioned option structs of covidcam.h. Fields are only ever
# appended; struct_size must be ctypes.sizeof of the mirror (init_options), so
# a library newer or older than this mirror reads exactly the fields it has.
class SessionOptions(ctypes.Structure):
    _fields_ = [("struct_size", ctypes.c_size_t),
                ("num_threads", ctypes.c_int),
                ("precision", ctypes.c_int),
                ("max_batch", ctypes.c_int),      # 0.5
                ("reserved0", ctypes.c_int)]      # 0.5's tail padding, never a field


class GradcamOptions(ctypes.Structure):
    _fields_ = [("struct_size", ctypes.c_size_t),
                ("method", ctypes.c_int),
                ("layer", ctypes.c_char_p),
                ("target_class", ctypes.c_int),
                ("reserved0", ctypes.c_int),      # 0.3's tail padding, never a field
                ("eigen_smooth", ctypes.c_int),   # 0.4
                ("aug_smooth", ctypes.c_int)]     # 0.4


def init_options(init, opts):
    """Fill opts with the library's defaults through its exported _init (which
    writes the 0.1 struct) and set struct_size to this mirror's size; fields a
    later mirror adds keep ctypes' zero, their documented default."""
    init(ctypes.byref(opts))
    opts.struct_size = ctypes.sizeof(opts)
    return opts


class ImageInfoStruct(ctypes.Structure):
    """covidcam_image_info (include/covidcam.h), field for field."""
    _fields_ = [("struct_size", ctypes.c_size_t),
                ("format", ctypes.c_int),
                ("width", ctypes.c_int),
                ("height", ctypes.c_int),
                ("bits", ctypes.c_int),
                ("channels", ctypes.c_int),
                ("photometric", ctypes.c_char * 20),
                ("orientation", ctypes.c_int),
                ("frames", ctypes.c_int),
                ("modality", ctypes.c_char * 20),
                ("view_position", ctypes.c_char * 20),
                ("body_part", ctypes.c_char * 20),
                ("transfer_syntax", ctypes.c_char * 68),
                ("window_source", ctypes.c_int),
                ("window_center", ctypes.c_double),
                ("window_width", ctypes.c_double)]


class AssessmentStruct(ctypes.Structure):
    """covidcam_assessment (include/covidcam.h), field for field."""
    _fields_ = [("struct_size", ctypes.c_size_t),
                ("warnings", ctypes.c_uint),
                ("ood_available", ctypes.c_int),
                ("ood", ctypes.c_int),
                ("ood_score", ctypes.c_double),
                ("ood_threshold", ctypes.c_double)]


_P = ctypes.POINTER
_void = None
_size = ctypes.c_size_t
_int = ctypes.c_int
_str = ctypes.c_char_p
_buf = ctypes.c_void_p

# name -> (restype, argtypes)
_SIGNATURES = {
    "covidcam_version": (_str, []),
    "covidcam_status_string": (_str, [status_t]),
    # model
    "covidcam_model_load": (status_t, [_str, _P(model_p), _str, _size]),
    "covidcam_model_load_from_memory": (status_t, [_buf, _size, _P(model_p), _str, _size]),
    "covidcam_model_free": (_void, [model_p]),
    "covidcam_model_num_classes": (_int, [model_p]),
    "covidcam_model_class_name": (_str, [model_p, _int]),
    "covidcam_model_class_index": (_int, [model_p, _str]),
    "covidcam_model_input_size": (_int, [model_p]),
    "covidcam_model_input_channels": (_int, [model_p]),
    "covidcam_model_temperature": (ctypes.c_float, [model_p]),
    "covidcam_model_arch": (_str, [model_p]),
    "covidcam_model_metadata": (_str, [model_p, _str]),
    "covidcam_model_num_layers": (_int, [model_p]),
    "covidcam_model_layer_name": (_str, [model_p, _int]),
    "covidcam_model_preprocess": (status_t, [model_p, _buf, _int, _int, _size, c_float_p,
                                             _size]),
    "covidcam_model_preprocess_errbuf": (status_t, [model_p, _buf, _int, _int, _size,
                                                    c_float_p, _size, _str, _size]),
    # session
    "covidcam_session_options_init": (_void, [_P(SessionOptions)]),
    "covidcam_session_create": (status_t, [model_p, _P(SessionOptions), _P(session_p), _str,
                                           _size]),
    "covidcam_session_free": (_void, [session_p]),
    "covidcam_session_last_error": (_str, [session_p]),
    "covidcam_session_model": (model_p, [session_p]),
    "covidcam_session_precision": (_int, [session_p]),
    "covidcam_precision_name": (_str, [_int]),
    "covidcam_precision_parse": (status_t, [_str, c_int_p]),
    "covidcam_session_max_batch": (_int, [session_p]),
    # classify
    "covidcam_classify_file": (status_t, [session_p, _str, c_float_p, c_float_p, _size,
                                          c_int_p]),
    "covidcam_classify_png": (status_t, [session_p, _buf, _size, c_float_p, c_float_p, _size,
                                         c_int_p]),
    "covidcam_classify_pixels": (status_t, [session_p, _buf, _int, _int, _size, c_float_p,
                                            c_float_p, _size, c_int_p]),
    "covidcam_classify_tensor": (status_t, [session_p, _buf, _int, _int, _int, c_float_p,
                                            c_float_p, _size, c_int_p]),
    "covidcam_classify_image": (status_t, [session_p, _buf, _size, c_float_p, c_float_p, _size,
                                           c_int_p]),
    # batches (0.5)
    "covidcam_classify_tensor_batch": (status_t, [session_p, _buf, _int, _int, _int, _int,
                                                  c_float_p, c_float_p, _size, c_int_p]),
    "covidcam_classify_pixels_batch": (status_t, [session_p, _P(_buf), c_int_p, c_int_p,
                                                  _P(_size), _int, c_float_p, c_float_p, _size,
                                                  c_int_p]),
    "covidcam_classify_files": (status_t, [session_p, _P(_str), _int, c_float_p, c_float_p,
                                           _size, c_int_p, _P(status_t)]),
    "covidcam_session_batch_error": (_str, [session_p, _int]),
    "covidcam_session_batch_assessment": (status_t, [session_p, _int, _P(AssessmentStruct)]),
    "covidcam_session_batch_image_info": (status_t, [session_p, _int, _P(ImageInfoStruct)]),
    # image formats
    "covidcam_session_image_info": (status_t, [session_p, _P(ImageInfoStruct)]),
    "covidcam_heatmap_image_info": (status_t, [heatmap_p, _P(ImageInfoStruct)]),
    # trust (0.3)
    "covidcam_warning_name": (_str, [ctypes.c_uint]),
    "covidcam_warning_description": (_str, [ctypes.c_uint]),
    "covidcam_session_assessment": (status_t, [session_p, _P(AssessmentStruct)]),
    "covidcam_heatmap_assessment": (status_t, [heatmap_p, _P(AssessmentStruct)]),
    "covidcam_model_has_ood": (_int, [model_p]),
    "covidcam_model_num_features": (_int, [model_p]),
    "covidcam_session_features": (status_t, [session_p, c_float_p, _size]),
    "covidcam_image_probe": (status_t, [_buf, _size, _P(ImageInfoStruct), _str, _size]),
    "covidcam_image_probe_file": (status_t, [_str, _P(ImageInfoStruct), _str, _size]),
    # Grad-CAM
    "covidcam_gradcam_options_init": (_void, [_P(GradcamOptions)]),
    "covidcam_gradcam_file": (status_t, [session_p, _str, _P(GradcamOptions), _P(heatmap_p)]),
    "covidcam_gradcam_png": (status_t, [session_p, _buf, _size, _P(GradcamOptions),
                                        _P(heatmap_p)]),
    "covidcam_gradcam_image": (status_t, [session_p, _buf, _size, _P(GradcamOptions),
                                          _P(heatmap_p)]),
    "covidcam_gradcam_pixels": (status_t, [session_p, _buf, _int, _int, _size,
                                           _P(GradcamOptions), _P(heatmap_p)]),
    "covidcam_gradcam_tensor": (status_t, [session_p, _buf, _int, _int, _int,
                                           _P(GradcamOptions), _P(heatmap_p)]),
    # heatmap
    "covidcam_heatmap_free": (_void, [heatmap_p]),
    "covidcam_heatmap_raw_width": (_int, [heatmap_p]),
    "covidcam_heatmap_raw_height": (_int, [heatmap_p]),
    "covidcam_heatmap_raw": (c_float_p, [heatmap_p]),
    "covidcam_heatmap_size": (_int, [heatmap_p]),
    "covidcam_heatmap_data": (c_float_p, [heatmap_p]),
    "covidcam_heatmap_class": (_int, [heatmap_p]),
    "covidcam_heatmap_probability": (ctypes.c_float, [heatmap_p]),
    "covidcam_heatmap_layer": (_str, [heatmap_p]),
    "covidcam_heatmap_method": (_int, [heatmap_p]),
    "covidcam_heatmap_num_classes": (_int, [heatmap_p]),
    "covidcam_heatmap_probabilities": (c_float_p, [heatmap_p]),
    "covidcam_heatmap_logits": (c_float_p, [heatmap_p]),
    "covidcam_heatmap_top_class": (_int, [heatmap_p]),
    "covidcam_heatmap_image_width": (_int, [heatmap_p]),
    "covidcam_heatmap_image_height": (_int, [heatmap_p]),
    "covidcam_heatmap_resize": (status_t, [heatmap_p, _int, _int, c_float_p]),
    "covidcam_heatmap_colormap": (status_t, [heatmap_p, _int, _int, _buf]),
    "covidcam_heatmap_overlay": (status_t, [heatmap_p, _buf, _int, _int, _size, ctypes.c_float,
                                            _buf]),
    "covidcam_heatmap_resize_errbuf": (status_t, [heatmap_p, _int, _int, c_float_p, _str, _size]),
    "covidcam_heatmap_colormap_errbuf": (status_t, [heatmap_p, _int, _int, _buf, _str, _size]),
    "covidcam_heatmap_overlay_errbuf": (status_t, [heatmap_p, _buf, _int, _int, _size,
                                                   ctypes.c_float, _buf, _str, _size]),
    "covidcam_heatmap_write_overlay": (status_t, [heatmap_p, _str, ctypes.c_float, _str, _size]),
    "covidcam_heatmap_write_colormap": (status_t, [heatmap_p, _str, _str, _size]),
    # CAM toolbox and legends (0.4)
    "covidcam_cam_method_name": (_str, [_int]),
    "covidcam_session_input": (status_t, [session_p, c_float_p, _size]),
    "covidcam_cam_method_parse": (status_t, [_str, c_int_p]),
    "covidcam_heatmap_eigen_smooth": (_int, [heatmap_p]),
    "covidcam_heatmap_aug_smooth": (_int, [heatmap_p]),
    "covidcam_heatmap_label": (status_t, [heatmap_p, model_p, _str, _size]),
    "covidcam_draw_legend": (status_t, [_buf, _int, _int, _str, _str, _size]),
    "covidcam_heatmap_write_labelled_overlay": (status_t, [heatmap_p, _str, ctypes.c_float,
                                                           _str, _str, _size]),
}


class _Missing:
    """Stands in for a symbol the loaded library lacks, so that an older
    library still serves the functions it has."""

    def __init__(self, name, path):
        self.name, self.path = name, path

    def __call__(self, *args):
        raise LibraryNotFoundError("%s does not export %s (library older than the binding?)"
                                   % (self.path, self.name))


class Library:
    """The loaded shared library with every function declared."""

    def __init__(self, cdll, path):
        self.path = path
        self.missing = []
        for name, (restype, argtypes) in _SIGNATURES.items():
            try:
                fn = getattr(cdll, name)
            except AttributeError:
                self.missing.append(name)
                fn = _Missing(name, path)
            else:
                fn.restype = restype
                fn.argtypes = argtypes
            setattr(self, name[len("covidcam_"):], fn)
        self.cdll = cdll


def _package_root():
    # bindings/python/covidcam/_lib.py -> the source root four levels up (in a
    # checkout; installed, some directory above site-packages).
    here = os.path.dirname(os.path.abspath(__file__))
    return os.path.normpath(os.path.join(here, "..", "..", ".."))


def candidates():
    """(description, name or path) in search order."""
    out = []
    env = os.environ.get(ENV_VAR)
    if env:
        out.append(("$%s" % ENV_VAR, env))
    build_root = os.environ.get("CC_BUILD_ROOT")
    if build_root:
        out.append(("$CC_BUILD_ROOT", os.path.join(build_root, "lib", "libcovidcam.so")))
    root = _package_root()
    # Only a package used in place from a checkout has build trees beside it;
    # an installed one (site-packages) relies on the loader.
    if os.path.isfile(os.path.join(root, "include", "covidcam.h")):
        out.append(("build tree", os.path.join(root, "build", "lib", "libcovidcam.so")))
        # where tools/demo.sh and server/demo.sh build (README quick start)
        for d in ("build-demo", "build-server"):
            out.append(("%s tree" % d, os.path.join(root, d, "lib", "libcovidcam.so")))
    # The dynamic loader honours LD_LIBRARY_PATH and ld.so.cache.
    out.append(("system loader", "libcovidcam.so.%d" % ABI_MAJOR))
    found = ctypes.util.find_library("covidcam")
    if found and found != "libcovidcam.so.%d" % ABI_MAJOR:
        out.append(("system loader", found))
    return out


def _load_one(where, name):
    # An explicit path that does not exist is reported as such rather than
    # through dlopen's less direct message.
    if os.sep in name and not os.path.exists(name):
        return None, "%s: %s: no such file" % (where, name)
    try:
        cdll = ctypes.CDLL(name)
    except OSError as exc:
        return None, "%s: %s" % (where, exc)
    return cdll, None


def load():
    """Load the first library found; LibraryNotFoundError lists every place tried."""
    tried = []
    env_set = bool(os.environ.get(ENV_VAR))
    for where, name in candidates():
        cdll, why = _load_one(where, name)
        if cdll is None:
            tried.append(why)
            # An explicit COVIDCAM_LIBRARY that fails must not silently fall
            # back to some other copy of the library.
            if env_set and where == "$" + ENV_VAR:
                break
            continue
        lib = Library(cdll, name)
        version = lib.version().decode()
        major = int(version.split(".")[0])
        if major != ABI_MAJOR:
            tried.append("%s: %s: version %s, binding needs %d.x"
                         % (where, name, version, ABI_MAJOR))
            continue
        return lib
    raise LibraryNotFoundError("libcovidcam not found; looked in:\n  " + "\n  ".join(tried)
                               + "\nSet %s to the path of libcovidcam.so." % ENV_VAR)


_lock = threading.Lock()
_lib = None


def get():
    """The process-wide Library, loaded on first use."""
    global _lib
    with _lock:
        if _lib is None:
            _lib = load()
        return _lib
