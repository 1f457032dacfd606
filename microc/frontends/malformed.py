"""What a frontend's reading code raises on a malformed file becomes one line naming the file.

A mutated model can hold anything: offsets past the end (flatbuffers' struct.error), values of the wrong
type or size (TypeError, ValueError, OverflowError), missing fields (AttributeError, KeyError, IndexError)
or shapes too large to allocate (MemoryError). Frontends read inside `malformed_file`; what they build
is then checked semantically by the validation pass (microc/passes/validate.py).
"""
from __future__ import annotations

import contextlib
import struct

from microc.errors import MicrocError, ModelFormatError

_READING_ERRORS = (IndexError, ValueError, TypeError, KeyError, AttributeError, OverflowError,
                   MemoryError, RecursionError, struct.error)


@contextlib.contextmanager
def malformed_file(fname: str):
    try:
        yield
    except MicrocError:
        raise
    except _READING_ERRORS as e:
        text = str(e).strip().splitlines()
        detail = f"{type(e).__name__}: {text[0][:200]}" if text else type(e).__name__
        raise ModelFormatError(f"{fname} is malformed or truncated ({detail})") from None
