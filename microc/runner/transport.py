"""Byte links to a device: a serial port, pty or QEMU socket (SerialTransport), or a host
executable's stdin/stdout (PipeTransport). Failures surface as DeviceError with a one-line message."""
from __future__ import annotations

import os
import queue
import subprocess
import threading
import time

from microc.errors import DeviceError


class LinkTimeout(DeviceError):
    """No (or not enough) bytes arrived in time."""


class LinkClosed(DeviceError):
    """The other end went away (EOF, broken pipe, disconnected socket or port)."""


class Transport:
    """A bidirectional byte stream. Subclasses implement write, _read_some and close."""

    seconds_per_byte = 0.0  # how long the link takes to carry one byte, where it is slow (a UART)

    def write(self, data: bytes) -> None:
        raise NotImplementedError

    def _read_some(self, n: int, timeout: float) -> bytes:
        """Up to n bytes, b"" if none came within timeout; raises LinkClosed at EOF."""
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError

    def read_exact(self, n: int, timeout: float) -> bytes:
        """Exactly n bytes within timeout seconds, or LinkTimeout / LinkClosed."""
        deadline = time.monotonic() + timeout
        buf = bytearray()
        while len(buf) < n:
            left = deadline - time.monotonic()
            if left <= 0:
                raise LinkTimeout(
                    f"device sent {len(buf)} of {n} expected bytes within {timeout:g} s")
            buf += self._read_some(n - len(buf), left)
        return bytes(buf)

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class SerialTransport(Transport):
    """pyserial's serial_for_url: a port name, a pty path, or socket://HOST:PORT (QEMU's serial)."""

    def __init__(self, url_or_port: str, baudrate: int = 115200, timeout: float = 1.0,
                 write_timeout: float = 10.0):
        import serial  # imported here so the pipe transport works without pyserial

        self._serial_error = serial.SerialException
        self._write_timeout_error = serial.SerialTimeoutException
        self.url = url_or_port
        self.seconds_per_byte = 10 / baudrate  # 8 data bits, a start and a stop bit
        try:
            self._port = serial.serial_for_url(
                url_or_port, baudrate=baudrate, timeout=timeout, write_timeout=write_timeout)
        except (serial.SerialException, OSError, ValueError) as e:
            raise DeviceError(f"cannot open serial link {url_or_port}: {_one_line(e)}") from None

    def write(self, data: bytes) -> None:
        # No flush(): tcdrain has no timeout, and the answer we then wait for proves delivery anyway.
        try:
            self._port.write(data)
        except self._write_timeout_error:
            raise LinkTimeout(f"could not write to {self.url} within "
                              f"{self._port.write_timeout:g} s") from None
        except (self._serial_error, OSError) as e:
            raise LinkClosed(f"cannot write to {self.url}: {_one_line(e)}") from None

    def _read_some(self, n: int, timeout: float) -> bytes:
        try:
            self._port.timeout = timeout
            return self._port.read(n)
        except (self._serial_error, OSError) as e:
            raise LinkClosed(f"lost the link to {self.url}: {_one_line(e)}") from None

    def close(self) -> None:
        self._port.close()


class PipeTransport(Transport):
    """A child process's stdin/stdout. A reader thread drains stdout into a queue, so reads can time
    out and a device that writes while we write never blocks us."""

    _EOF = None

    def __init__(self, process: subprocess.Popen):
        self.process = process
        self._in_fd = process.stdin.fileno()
        self._chunks: queue.Queue = queue.Queue()
        self._pending = b""  # the unread tail of the last chunk is _pending[_pos:]
        self._pos = 0
        self._eof = False
        self._reader = threading.Thread(
            target=self._drain, args=(process.stdout.fileno(),), daemon=True)
        self._reader.start()

    def _drain(self, fd: int) -> None:
        try:
            while chunk := os.read(fd, 65536):
                self._chunks.put(chunk)
        except OSError:
            pass
        self._chunks.put(self._EOF)

    def write(self, data: bytes) -> None:
        view = memoryview(data)
        try:
            while view:
                view = view[os.write(self._in_fd, view):]
        except OSError as e:  # BrokenPipeError when the process has gone
            raise LinkClosed(f"cannot write to the device ({self._gone(e)})") from None

    def _read_some(self, n: int, timeout: float) -> bytes:
        if self._pos == len(self._pending):
            self._pending, self._pos = self._next_chunk(timeout), 0
        out = self._pending[self._pos:self._pos + n]
        self._pos += len(out)
        return out

    def _next_chunk(self, timeout: float) -> bytes:
        if self._eof:
            raise LinkClosed(f"the device closed its output ({self._gone(None)})")
        try:
            chunk = self._chunks.get(timeout=timeout)
        except queue.Empty:
            return b""
        if chunk is self._EOF:
            self._eof = True
            return self._next_chunk(timeout)
        return chunk

    def _gone(self, error: OSError | None) -> str:
        """Why the link is dead, in a few words: the exit status if the process has one."""
        try:
            code = self.process.wait(timeout=0.5)
        except subprocess.TimeoutExpired:
            return _one_line(error) if error else "the process is still running"
        return f"process exited with status {code}"

    def close(self) -> None:
        """Close our ends. Stop the process first: stdout is closed only once the reader has seen EOF,
        since closing an fd another thread is blocked reading is unsafe."""
        _close_quietly(self.process.stdin)
        self._reader.join(timeout=1.0)
        if not self._reader.is_alive():
            _close_quietly(self.process.stdout)


def _close_quietly(stream) -> None:
    try:
        stream.close()
    except OSError:
        pass


def _one_line(e: BaseException) -> str:
    text = str(e).strip() or type(e).__name__
    return text.splitlines()[0]
