"""The converter's one error type: its message names the culprit."""


class ConvertError(Exception):
    """A file or option the converter refuses; str() says which and why."""
