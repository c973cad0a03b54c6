"""Exceptions raised by the binding: one subclass of Error per covidcam_status."""

import enum


class Status(enum.IntEnum):
    """covidcam_status (include/covidcam.h)."""
    OK = 0
    INVALID_ARGUMENT = 1
    IO = 2
    BAD_FORMAT = 3
    UNSUPPORTED = 4
    OUT_OF_MEMORY = 5
    BACKEND = 6
    LIMIT = 7


class Error(Exception):
    """A libcovidcam failure. `status` is the Status (None for failures of the
    binding itself, such as a missing library) and `message` the library's text."""

    status = None

    def __init__(self, message, status=None, status_string=None):
        if status is not None:
            self.status = status
        self.message = message
        self.status_string = status_string
        text = "%s: %s" % (status_string, message) if status_string else message
        super().__init__(text)


class InvalidArgumentError(Error, ValueError):
    status = Status.INVALID_ARGUMENT


class FileIOError(Error, OSError):
    status = Status.IO


class BadFormatError(Error, ValueError):
    status = Status.BAD_FORMAT


class UnsupportedError(Error):
    status = Status.UNSUPPORTED


class OutOfMemoryError(Error, MemoryError):
    status = Status.OUT_OF_MEMORY


class BackendError(Error, RuntimeError):
    status = Status.BACKEND


class LimitError(Error, ValueError):
    status = Status.LIMIT


class LibraryNotFoundError(Error, OSError):
    """libcovidcam could not be loaded (the message lists where the binding looked)."""


_BY_STATUS = {cls.status: cls for cls in (InvalidArgumentError, FileIOError, BadFormatError,
                                          UnsupportedError, OutOfMemoryError, BackendError,
                                          LimitError)}


def error_for(status, message, status_string=None):
    """The Error subclass instance for a non-zero status."""
    try:
        st = Status(status)
    except ValueError:
        return Error(message, status, status_string)
    return _BY_STATUS.get(st, Error)(message, st, status_string)
