"""The lifetime protocol shared by Model, Session and Heatmap."""

from .errors import InvalidArgumentError


class OwnedHandle:
    """Owns one library handle in self._handle; subclasses define close().

    Gives the context-manager protocol, `closed`, a finaliser that closes a
    forgotten handle, and _h(), which refuses use after close."""

    _kind = "handle"  # named in the "is closed" error

    @property
    def closed(self):
        return self._handle is None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        if getattr(self, "_handle", None) is not None:
            self.close()

    def _h(self):
        if self._handle is None:
            raise InvalidArgumentError("%s is closed" % self._kind)
        return self._handle
