"""What an input image was (covidcam_image_info): format, size, bits, and for
DICOM the modality, view, body part and the gray window used."""

import ctypes
import enum
import os

from . import _buffers, _lib


class Format(enum.IntEnum):
    NONE = 0
    PNG = 1
    JPEG = 2
    DICOM = 3
    PIXELS = 4
    TENSOR = 5


class WindowSource(enum.IntEnum):
    NONE = 0
    FILE = 1
    VOI_LUT = 2
    RANGE = 3


_STRINGS = ("photometric", "modality", "view_position", "body_part", "transfer_syntax")


class ImageInfo:
    """A snapshot of covidcam_image_info. Attributes: format (Format), width,
    height, bits, channels, photometric, orientation (JPEG EXIF, 1..8),
    frames, and for DICOM modality, view_position, body_part,
    transfer_syntax, window_source (WindowSource), window_center,
    window_width."""

    def __init__(self, c):
        self.format = Format(c.format)
        for name in ("width", "height", "bits", "channels", "orientation", "frames",
                     "window_center", "window_width"):
            setattr(self, name, getattr(c, name))
        for name in _STRINGS:
            setattr(self, name, getattr(c, name).decode("ascii", "replace"))
        self.window_source = WindowSource(c.window_source)

    def as_dict(self):
        d = {"format": self.format.name, "width": self.width, "height": self.height,
             "bits": self.bits, "channels": self.channels, "photometric": self.photometric}
        if self.format == Format.JPEG:
            d["orientation"] = self.orientation
        if self.format == Format.DICOM:
            d.update(modality=self.modality, view_position=self.view_position,
                     body_part=self.body_part, transfer_syntax=self.transfer_syntax,
                     frames=self.frames, window_source=self.window_source.name.lower(),
                     window_center=self.window_center, window_width=self.window_width)
        return d

    def warnings(self):
        """Reasons to doubt the model fits this input (a DICOM whose view is
        lateral or whose modality is not CR/DX); as covidcam-classify."""
        out = []
        if self.format != Format.DICOM:
            return out
        if self.view_position in ("LATERAL", "LL", "RL", "LLD", "RLD"):
            out.append("ViewPosition is %s: the model was trained on frontal (PA/AP) views"
                       % self.view_position)
        if self.modality not in ("CR", "DX"):
            out.append("Modality is %s, not CR or DX: the model was trained on radiographs"
                       % (repr(self.modality) if self.modality else "absent"))
        return out

    def __repr__(self):
        return "<covidcam.ImageInfo %s %dx%d %s %d-bit>" % (
            self.format.name, self.width, self.height, self.photometric, self.bits)


def new_struct():
    """A covidcam_image_info with struct_size set (covidcam_image_info_init)."""
    info = _lib.ImageInfoStruct()
    info.struct_size = ctypes.sizeof(info)
    return info


def probe(source):
    """Decode an image (a path, or bytes in any supported format) without a
    model and describe it. Raises the library's error for a bad image."""
    from .errors import error_for
    lib = _lib.get()
    info = new_struct()
    err = ctypes.create_string_buffer(_lib.ERRBUF_SIZE)
    if isinstance(source, (str, os.PathLike)):
        st = lib.image_probe_file(os.fsencode(source), ctypes.byref(info), err, len(err))
    else:
        ptr, n, keep = _buffers.bytes_pointer(source)
        st = lib.image_probe(ptr, n, ctypes.byref(info), err, len(err))
    if st:
        raise error_for(st, err.value.decode("utf-8", "replace"),
                        lib.status_string(st).decode())
    return ImageInfo(info)
