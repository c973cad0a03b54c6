"""Python binding of libcovidcam: chest X-ray classification with Grad-CAM.

    import covidcam
    with covidcam.Model("model.safetensors") as model, covidcam.Session(model) as s:
        r = s.classify("xray.png")
        print(r.label, r.probability)
        with s.gradcam("xray.png", method="gradcam++", layer="layer4") as cam:
            cam.save_overlay("overlay.png", alpha=0.5)

Pure standard library (ctypes); numpy arrays are accepted and returned when
numpy is installed. The shared library is found through $COVIDCAM_LIBRARY,
then the build tree, then the system loader.
"""

from . import _lib
from .errors import (BackendError, BadFormatError, Error, FileIOError, InvalidArgumentError,
                     LibraryNotFoundError, LimitError, OutOfMemoryError, Status,
                     UnsupportedError)
from .heatmap import AugSmooth, Heatmap, Method, draw_legend
from .assessment import Assessment
from .image_info import Format, ImageInfo, WindowSource, probe
from .model import Model
from .session import MAX_BATCH, Precision, Result, Session

__all__ = [
    "Model", "Session", "Heatmap", "Result", "Method", "AugSmooth", "draw_legend", "Precision", "Status",
    "ImageInfo", "Format", "WindowSource", "probe", "Assessment",
    "Error", "InvalidArgumentError", "FileIOError", "BadFormatError", "UnsupportedError",
    "OutOfMemoryError", "BackendError", "LimitError", "LibraryNotFoundError",
    "library_version", "library_path", "status_string", "MAX_BATCH",
]


def library_version():
    """The loaded library's version string ("0.5.0")."""
    return _lib.get().version().decode()


def library_path():
    """The name or path the shared library was loaded from."""
    return _lib.get().path


def status_string(status):
    """The library's description of a status code."""
    return _lib.get().status_string(int(status)).decode()
