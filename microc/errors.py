"""User-facing errors: the CLI prints their message as one line and exits non-zero."""


class MicrocError(Exception):
    """A problem with the user's input or environment, explained in one line: control characters in the
    message (a model's names can hold newlines) are written as escapes."""

    exit_code = 2

    def __init__(self, message: object = "", *args):
        text = str(message)
        if not text.isprintable():
            text = "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)
        super().__init__(text, *args)


class UnsupportedOperator(MicrocError):
    pass


class ModelFormatError(MicrocError):
    pass


class DoesNotFit(MicrocError):
    pass


class DeviceError(MicrocError):
    """The device (host process, QEMU, board) failed, timed out or sent a bad frame."""

    exit_code = 3
