"""QEMU as the device: the firmware's UART on a loopback TCP port that pyserial connects to.

QEMU runs with `-icount shift=0` (virtual time advances 1 ns per instruction, so the board's timer
counts instructions deterministically) and semihosting (the firmware's mc_exit stops QEMU, and it reads
and writes its host's files). The requests go over the UART; inputs and outputs, when the board has
semihosting, go through files in a temporary folder (LOAD and STORE, docs/protocol.md), because QEMU's
emulated UART carries only tens of KiB/s. The verdict always comes from the protocol; QEMU's exit status
only explains a device that died.
"""
from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from microc.errors import DeviceError
from microc.runner.counter import CounterInfo, plugin_counter
from microc.runner.protocol import Device
from microc.runner.transport import LinkClosed, SerialTransport

ICOUNT = ["-icount", "shift=0,align=off,sleep=off"]
PORT_ATTEMPTS = 5
FAULT_EXIT_STATUS = 250  # templates/cortex-m/startup.c.j2: the firmware took a fault
GRACE_SECONDS = 1.0


def qemu_command(board, elf: Path, serial: str, plugin: list[str] = ()) -> list[str]:
    q = board.qemu
    return [q.get("binary", "qemu-system-arm"), "-M", q["machine"], *q.get("args", ()), *ICOUNT, *plugin,
            "-nographic", "-monitor", "none", "-serial", serial, "-kernel", str(elf)]


PLUGIN_NOT_LOADED = "Could not load plugin"  # QEMU's message when -plugin fails (plugins/loader.c)


def _need_qemu(board) -> str:
    binary = board.qemu.get("binary", "qemu-system-arm")
    if shutil.which(binary) is None:
        package = board.qemu.get("debian_package", "qemu-system-arm")
        raise DeviceError(f"{binary} not found: install the Debian package {package}")
    return binary


def free_port() -> int:
    """A loopback port that was free a moment ago; QEMU may still lose it to another process, so
    callers retry on a bind failure."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class QemuProcess:
    """A QEMU process whose stderr goes to a file (readable after it dies); stop() always kills it."""

    def __init__(self, cmd: list[str], stdout=subprocess.DEVNULL):
        self.cmd = cmd
        self._stderr = tempfile.TemporaryFile()
        try:
            self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=stdout, stderr=self._stderr)
        except OSError as e:
            self._stderr.close()
            raise DeviceError(f"cannot start {cmd[0]}: {e.strerror}") from None

    def stderr_text(self) -> str:
        """pread, not seek+read: QEMU shares the file offset, and moving it would misplace its writes."""
        if self._stderr.closed:
            return ""
        return os.pread(self._stderr.fileno(), 1 << 16, 0).decode("utf-8", "replace").strip()

    def exit_note(self) -> str:
        """Why QEMU ended, for error messages ("" while it runs)."""
        code = self.proc.poll()
        if code is None:
            return ""
        if code == FAULT_EXIT_STATUS:
            return f"the firmware took a fault, exit status {code}"
        err = self.stderr_text().splitlines()
        return f"QEMU exited with status {code}" + (f": {err[-1]}" if err else "")

    def stop(self) -> int | None:
        """Let QEMU finish a semihosting exit for a moment, then terminate, then kill it."""
        for step, grace in ((None, 0.3), (self.proc.terminate, GRACE_SECONDS), (self.proc.kill, GRACE_SECONDS)):
            if self.proc.poll() is not None:
                break
            if step is not None:
                step()
            try:
                self.proc.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                pass
        self._stderr.close()
        return self.proc.poll()


def has_host_files(board) -> bool:
    """Whether the firmware may use its host's files: semihosting on, with the host's system calls."""
    args = list(board.qemu.get("args", ()))
    return any(a == "-semihosting-config" and "target=native" in b for a, b in zip(args, args[1:]))


class QemuDevice(Device):
    """A Device over QEMU's serial socket; close() stops QEMU whatever state it is in, and removes the
    folder of host files. `counter` is the instruction-counting plugin QEMU runs (None: the board's timer
    counts, `counter_info.note` says why)."""

    def __init__(self, qemu: QemuProcess, transport: SerialTransport, port: int, timeout: float,
                 host_files: bool, counter=None):
        self._files_dir = tempfile.TemporaryDirectory(prefix="microc-qemu-") if host_files else None
        super().__init__(transport, timeout=timeout,
                         host_files=Path(self._files_dir.name) if host_files else None)
        self.qemu = qemu
        self.port = port
        self.counter = counter
        self.counter_info = CounterInfo("plugin" if counter else "timer")

    def _request(self, request, payload=b"", timeout=None):
        try:
            return super()._request(request, payload, timeout)
        except DeviceError as e:
            if isinstance(e, LinkClosed):  # QEMU closes the socket as it exits: let it finish
                with contextlib.suppress(subprocess.TimeoutExpired):
                    self.qemu.proc.wait(timeout=GRACE_SECONDS)
            note = self.qemu.exit_note()
            if note and note not in str(e):
                raise type(e)(f"{e} ({note})") from None
            raise

    def close(self) -> None:
        try:
            self.transport.close()
        finally:
            self.qemu.stop()
            if self._files_dir:
                self._files_dir.cleanup()
            if self.counter:
                self.counter.close()


@contextlib.contextmanager
def qemu_device(board, elf: str | os.PathLike, timeout: float = 120.0):
    """Start QEMU on `elf` with its UART on a free loopback port, connect, yield a Device; QEMU is
    killed on the way out, on errors and timeouts included."""
    _need_qemu(board)
    elf = Path(elf)
    if not elf.is_file():
        raise DeviceError(f"firmware {elf} does not exist: run microc build")
    counter, note = plugin_counter(board, elf)
    try:
        device = _start(board, elf, timeout, counter)
    except _PluginNotLoaded as e:
        counter.close()
        counter, note = None, str(e)
        device = _start(board, elf, timeout, None)
    except BaseException:
        if counter:
            counter.close()
        raise
    device.counter_info.note = note
    try:
        yield device
    finally:
        device.close()


def _start(board, elf: Path, timeout: float, counter) -> QemuDevice:
    last = ""
    for _ in range(PORT_ATTEMPTS):
        port = free_port()
        # nodelay: without it each small answer waits ~45 ms on the host's delayed ACK
        serial = f"tcp:127.0.0.1:{port},server=on,wait=on,nodelay=on"
        qemu = QemuProcess(qemu_command(board, elf, serial, counter.qemu_args if counter else ()))
        try:
            transport = _connect(qemu, port, min(timeout, 30.0))
            if counter:
                _await_plugin(qemu, counter, min(timeout, 30.0))
        except _PortTaken as e:
            qemu.stop()
            last = str(e)
            continue
        except BaseException:
            qemu.stop()
            raise
        return QemuDevice(qemu, transport, port, timeout, has_host_files(board), counter)
    raise DeviceError(f"QEMU could not listen on a free loopback port in {PORT_ATTEMPTS} attempts: {last}")


class _PortTaken(Exception):
    pass


class _PluginNotLoaded(Exception):
    pass


def _connect(qemu: QemuProcess, port: int, timeout: float) -> SerialTransport:
    """Connect once QEMU says it listens (with wait=on it starts the guest only then). Waiting for its
    own "waiting for connection" line, not just for the port to accept, keeps us from connecting to
    another run's QEMU that won the same port."""
    deadline = time.monotonic() + timeout
    while "waiting for connection" not in qemu.stderr_text():
        if qemu.proc.poll() is not None:
            err = qemu.stderr_text()
            if "in use" in err or "bind" in err.lower():
                raise _PortTaken(err.splitlines()[-1])
            _check_plugin_loaded(err)
            raise DeviceError(f"QEMU did not start: {qemu.exit_note()}")
        if time.monotonic() > deadline:
            raise DeviceError(f"QEMU did not open its serial port {port} within {timeout:g} s")
        time.sleep(0.02)
    return SerialTransport(f"socket://127.0.0.1:{port}")


def _check_plugin_loaded(err: str) -> None:
    for line in err.splitlines():
        if PLUGIN_NOT_LOADED in line or "-plugin: invalid option" in line:
            raise _PluginNotLoaded(f"QEMU did not load the counting plugin: {line.split(': ', 1)[-1]}")


def _await_plugin(qemu: QemuProcess, counter, timeout: float) -> None:
    """QEMU loads plugins after its serial port has a client: wait until the plugin has written its header
    (it loaded) or QEMU has died (why, if it could not load it)."""
    deadline = time.monotonic() + timeout
    while not counter.loaded():
        if qemu.proc.poll() is not None:
            _check_plugin_loaded(qemu.stderr_text())
            raise DeviceError(f"QEMU did not start: {qemu.exit_note()}")
        if time.monotonic() > deadline:
            raise DeviceError(f"QEMU did not load the counting plugin within {timeout:g} s")
        time.sleep(0.005)


@dataclass
class ConsoleRun:
    """A firmware run on QEMU's console: its exit status (None: killed at the timeout), what it printed,
    and the counting plugin's record of each INVOKE it marked (none where the timer counts)."""
    status: int | None
    text: str
    records: list = field(default_factory=list)
    counter: CounterInfo = field(default_factory=lambda: CounterInfo("timer"))


def console_run(board, elf: str | os.PathLike, timeout: float = 60.0) -> ConsoleRun:
    """Run firmware that prints to its UART and exits (a self-test), under the counting plugin where it
    can run."""
    _need_qemu(board)
    counter, note = plugin_counter(board, Path(elf))
    try:
        status, text, err = _console(board, Path(elf), timeout, counter)
        if counter and status not in (None, 0):
            _check_plugin_loaded(err)
    except _PluginNotLoaded as e:
        counter.close()
        counter, note = None, str(e)
        status, text, err = _console(board, Path(elf), timeout, None)
    except BaseException:
        if counter:
            counter.close()
        raise
    if counter is None:
        return ConsoleRun(status, text, [], CounterInfo("timer", note))
    try:
        return ConsoleRun(status, text, list(iter(counter.next_record, None)), CounterInfo("plugin"))
    finally:
        counter.close()


def _console(board, elf: Path, timeout: float, counter) -> tuple[int | None, str, str]:
    with tempfile.TemporaryFile() as out:
        qemu = QemuProcess(qemu_command(board, elf, "stdio", counter.qemu_args if counter else ()), stdout=out)
        try:
            code = qemu.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            code = None
        finally:
            err = qemu.stderr_text()
            qemu.stop()
        out.seek(0)
        return code, out.read().decode("utf-8", "replace"), err


def run_console(board, elf: str | os.PathLike, timeout: float = 60.0) -> tuple[int | None, str]:
    """console_run's (exit status, what it printed)."""
    run = console_run(board, elf, timeout)
    return run.status, run.text
