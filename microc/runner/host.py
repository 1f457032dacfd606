"""The host board: a firmware built for this machine (runtime_c/platform/host.c) serving the runner
protocol on its stdin/stdout."""
from __future__ import annotations

import os
import subprocess
import tempfile

from microc.errors import DeviceError
from microc.runner.protocol import Device
from microc.runner.transport import PipeTransport

GRACE_SECONDS = 1.0  # how long close() lets the process stop on its own before the next, harder step


class HostDevice(Device):
    """Start `executable` and talk to it. Use as a context manager: close() always stops the process."""

    def __init__(self, executable: str | os.PathLike, *args: str, timeout: float = 10.0):
        # stderr goes to a file rather than a pipe: nobody has to drain it, and it can be read afterwards.
        self._stderr = tempfile.TemporaryFile()
        try:
            self.process = subprocess.Popen(
                [os.fspath(executable), *args],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._stderr)
        except OSError as e:
            self._stderr.close()
            raise DeviceError(f"cannot start {os.fspath(executable)}: {e.strerror}") from None
        super().__init__(PipeTransport(self.process), timeout=timeout)

    def wait(self, timeout: float) -> int:
        """The process's exit status once it stops; DeviceError if it runs on past `timeout` seconds."""
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise DeviceError(f"host device still running after {timeout:g} s") from None

    def stderr_text(self) -> str:
        """What the process wrote to stderr so far (all of it, once closed)."""
        if self._stderr.closed:
            return self._stderr_final
        self._stderr.seek(0)
        return self._stderr.read().decode("utf-8", "replace")

    def close(self) -> int:
        """Stop the process: end of input, then SIGTERM, then SIGKILL. Returns its exit status."""
        if self.process.poll() is None:
            self._stop_process()
        self.transport.close()
        if not self._stderr.closed:
            self._stderr_final = self.stderr_text()
            self._stderr.close()
        return self.process.returncode

    def _stop_process(self) -> None:
        try:
            self.process.stdin.close()  # host.c exits when its input ends
        except OSError:
            pass
        for step in (lambda: None, self.process.terminate, self.process.kill):
            step()
            try:
                self.process.wait(timeout=GRACE_SECONDS)
                return
            except subprocess.TimeoutExpired:
                pass
