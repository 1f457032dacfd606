"""User-facing errors: the CLI prints their message as one line and exits non-zero."""


class MicrocError(Exception):
    """A problem with the user's input or environment, explained in one line."""

    exit_code = 2


class UnsupportedOperator(MicrocError):
    pass


class ModelFormatError(MicrocError):
    pass


class DoesNotFit(MicrocError):
    pass


class DeviceError(MicrocError):
    """The device (host process, QEMU, board) failed, timed out or sent a bad frame."""

    exit_code = 3
