"""The QEMU runner: hello_world_int8 firmware for mps2-an386 under qemu-system-arm, driven over its
UART on a loopback port. Failures must surface as DeviceError within the timeout, and QEMU must always
be stopped."""
from __future__ import annotations

import signal
import socket
import time
import zlib

import numpy as np
import pytest

from shared_models import shared_model
from microc.boards import load_board
from microc.build import build_project
from microc.errors import DeviceError
from microc.pipeline import compile_model
from microc.reference import reference_outputs
import microc.runner.qemu as qemu
from microc.runner.protocol import CRC, HEADER, SYNC, encode_frame
from microc.runner.transport import LinkClosed

TIMEOUT = 5.0  # seconds; failures must come within this (not a speed assertion)
BOARD = "mps2-an386"


@pytest.fixture(scope="module")
def tools():
    import shutil
    for tool in ("arm-none-eabi-gcc", "qemu-system-arm"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is not installed (scripts/setup.sh installs it)")


@pytest.fixture(scope="module")
def elf(tools, tmp_path_factory):
    project = tmp_path_factory.mktemp("qemu") / "hw"
    compile_model(shared_model("tflm/hello_world_int8"), BOARD, project)
    return build_project(project).artifact


@pytest.fixture
def board():
    return load_board(BOARD)


def test_info_names_the_model_and_qemu_stops_after_exit(elf, board):
    with qemu.qemu_device(board, elf, timeout=TIMEOUT) as dev:
        info = dev.info()
        dev.exit(0)
        status = dev.qemu.proc.wait(timeout=TIMEOUT)  # semihosting exit, not a kill
    assert info["name"] == "hello_world_int8" and info["inputs"][0]["shape"] == [1, 1]
    assert status == 0


def test_device_killed_mid_run_is_reported_within_the_timeout(elf, board):
    with qemu.qemu_device(board, elf, timeout=TIMEOUT) as dev:
        dev.info()
        dev.qemu.proc.kill()
        start = time.monotonic()
        with pytest.raises(DeviceError) as e:
            dev.invoke()
        elapsed = time.monotonic() - start
    assert elapsed < TIMEOUT + 1.0
    assert "INVOKE" in str(e.value) and "\n" not in str(e.value)


def test_a_device_stuck_in_a_frame_is_resynchronised(elf, board):
    """A header whose payload never comes leaves the device waiting for it: the host's request is taken
    for that payload, no answer comes, and after its wait the host sends zeros that end the stuck frame,
    then the request again."""
    with qemu.qemu_device(board, elf, timeout=TIMEOUT) as dev:
        dev.retry_after = 0.5
        header = HEADER.pack(2, 0x02, 1000, 0)  # WRITE, 1000 payload bytes never sent
        dev.transport.write(SYNC + header + CRC.pack(zlib.crc32(header)))
        assert dev.info()["name"] == "hello_world_int8"
        assert dev.resends["timeout"] >= 1  # more than one when a loaded machine delays QEMU past the wait
        dev.exit(0)


def test_a_hung_device_is_a_timeout_and_qemu_is_killed(elf, board):
    with qemu.qemu_device(board, elf, timeout=1.0) as dev:
        dev.info()
        dev.qemu.proc.send_signal(signal.SIGSTOP)
        start = time.monotonic()
        with pytest.raises(DeviceError, match="^device did not answer INFO within 1 s$"):
            dev.info()
        assert time.monotonic() - start < 2.5
        proc = dev.qemu.proc
    assert proc.poll() is not None  # stopped on the way out


def test_corrupted_frame_is_caught_by_the_crc_and_the_link_recovers(elf, board):
    with qemu.qemu_device(board, elf, timeout=TIMEOUT) as dev:
        frame = bytearray(encode_frame(0x01))
        frame[-1] ^= 0x40  # flip a bit of the CRC
        dev.transport.write(bytes(frame))
        type_, _, body = dev._read_frame(time.monotonic() + TIMEOUT)
        assert (type_, body[0], body[1:]) == (0x7F, 1, b"bad CRC")
        assert dev.info()["name"] == "hello_world_int8"  # still in step
        dev.exit(0)


def test_two_concurrent_runs_get_different_ports(elf, board):
    with qemu.qemu_device(board, elf, timeout=TIMEOUT) as a, qemu.qemu_device(board, elf, timeout=TIMEOUT) as b:
        assert a.port != b.port
        assert a.info()["model_hash"] == b.info()["model_hash"]
        a.exit(0)
        b.exit(0)


def test_a_taken_port_is_retried_on_another(elf, board, monkeypatch):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        busy = taken.getsockname()[1]
        ports = iter([busy])
        real_free_port = qemu.free_port
        monkeypatch.setattr(qemu, "free_port", lambda: next(ports, None) or real_free_port())
        with qemu.qemu_device(board, elf, timeout=TIMEOUT) as dev:
            assert dev.port != busy
            assert dev.info()["name"] == "hello_world_int8"
            dev.exit(0)


def test_a_faulting_firmware_is_reported_at_once(tools, tmp_path, board):
    """tests/c/fault.c reads unmapped memory: the fault handler's semihosting exit ends QEMU, and the
    host says so without waiting for its timeout."""
    import shutil
    from microc import ROOT
    project = tmp_path / "p"
    compile_model(shared_model("tflm/hello_world_int8"), BOARD, project)
    shutil.copyfile(ROOT / "tests" / "c" / "fault.c", project / "main.c")
    elf = build_project(project).artifact
    start = time.monotonic()
    with pytest.raises(LinkClosed, match="the firmware took a fault, exit status 250"):
        with qemu.qemu_device(board, elf, timeout=30) as dev:
            dev.info()
    assert time.monotonic() - start < 10


def test_missing_firmware_is_a_one_line_error(board, tmp_path):
    with pytest.raises(DeviceError, match="does not exist: run microc build"):
        with qemu.qemu_device(board, tmp_path / "nothing.elf"):
            pass


QEMU_BOARDS = ["mps2-an385", "mps2-an386", "mps2-an500", "mps2-an505", "mps3-an547", "riscv32-virt"]


@pytest.mark.parametrize("name", QEMU_BOARDS)
def test_host_files_and_the_uart_give_the_same_results(name, tmp_path):
    """Under QEMU inputs and outputs go through semihosting files (LOAD/STORE); the UART path (WRITE/READ,
    as on a real board) must give the same bytes and the same instruction counts."""
    import shutil
    board = load_board(name)
    for tool in (board.toolchain.cc, board.qemu.get("binary", "qemu-system-arm")):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is not installed (scripts/setup.sh installs it)")
    project = tmp_path / "kws"
    compile_model(shared_model("mlperf_tiny/kws_ref_model"), name, project)
    elf = build_project(project).artifact
    sample = np.random.default_rng(5).integers(-128, 128, (1, 49, 10, 1), dtype=np.int8)
    want = reference_outputs(shared_model("mlperf_tiny/kws_ref_model"), [sample], 1)[0]
    runs = []
    for fast in (True, False):
        with qemu.qemu_device(board, elf, timeout=30) as dev:
            assert (dev.host_files is not None) is qemu.has_host_files(board) is True
            if not fast:
                dev.host_files = None
            dev.write_input(0, sample.tobytes())
            ticks = dev.invoke().ticks
            out = np.frombuffer(dev.read_output(0, want.nbytes), want.dtype).reshape(want.shape)
            dev.exit(0)
            runs.append((out.tobytes(), ticks, dict(dev.requests)))
    (fast_out, fast_ticks, fast_requests), (uart_out, uart_ticks, uart_requests) = runs
    assert fast_out == uart_out == want.tobytes()
    assert fast_ticks == uart_ticks
    assert fast_requests == {"LOAD": 1, "INVOKE": 1, "STORE": 1, "EXIT": 1}
    assert uart_requests == {"WRITE": 1, "INVOKE": 1, "READ": 1, "EXIT": 1}
