"""The runner protocol end to end: runtime_c/src/mc_runner.c on the host platform, serving a fake model
(tests/c), driven by microc.runner over a pipe, a TCP socket and a pty."""
from __future__ import annotations

import os
import shutil
import signal
import socket
import struct
import subprocess
import time
import zlib

import numpy as np
import pytest

from microc import ROOT, RUNTIME_C
from microc.errors import DeviceError
from microc.runner.host import HostDevice
from microc.runner.protocol import CRC, HEADER, SYNC, Device, encode_frame
from microc.runner.transport import LinkTimeout, SerialTransport, Transport

IN0, IN1, OUT = 3000, 5, 3000
HOST_CFLAGS = ["-std=c99", "-D_POSIX_C_SOURCE=200809L", "-Wall", "-Wextra", "-Werror", "-pedantic", "-O2"]
CORTEX_M4_CFLAGS = ["-std=c99", "-Wall", "-Wextra", "-Werror", "-mcpu=cortex-m4", "-mthumb",
                    "-mfloat-abi=hard", "-mfpu=fpv4-sp-d16", "-c"]
BOUND_SECONDS = 5.0  # failures must surface within this; not a speed assertion


@pytest.fixture(scope="session")
def firmware(tmp_path_factory) -> str:
    if shutil.which("gcc") is None:
        pytest.skip("gcc is not installed (scripts/setup.sh installs it)")
    return build_fake(tmp_path_factory.mktemp("fake") / "fake_device", RUNTIME_C / "platform/host.c")


def build_fake(exe, platform) -> str:
    """The fake model served by the runner on the host, with the given platform file."""
    sources = [ROOT / "tests/c/fake_model.c", ROOT / "tests/c/fake_main.c",
               RUNTIME_C / "src/mc_runner.c", RUNTIME_C / "src/mc_stack.c", RUNTIME_C / "src/mc_mark.c",
               platform]
    cmd = ["gcc", *HOST_CFLAGS, f"-I{RUNTIME_C / 'include'}", *map(str, sources), "-o", str(exe)]
    subprocess.run(cmd, check=True, capture_output=True, text=True)
    return str(exe)


@pytest.fixture
def device(firmware):
    with HostDevice(firmware, timeout=BOUND_SECONDS) as dev:
        yield dev


def expected_output(in0: bytes, in1: bytes) -> bytes:
    a = np.frombuffer(in0, np.uint8)
    b = np.resize(np.frombuffer(in1, np.uint8), a.size)
    return (a + b).astype(np.uint8).tobytes()  # uint8 addition wraps, as in C


def random_inputs(seed: int) -> tuple[bytes, bytes]:
    rng = np.random.default_rng(seed)
    in1 = rng.integers(0, 256, IN1, dtype=np.uint8)
    in1[0] = 1  # 0xEE would make the fake model fail
    return rng.integers(0, 256, IN0, dtype=np.uint8).tobytes(), in1.tobytes()


def run_model(dev: Device, in0: bytes, in1: bytes) -> bytes:
    dev.write_input(0, in0)
    dev.write_input(1, in1)
    assert dev.invoke().status == 0
    return dev.read_output(0, OUT)


# ---- requests ----

def test_info_round_trips_the_json(device):
    assert device.info() == {"name": "fake", "hash": "0123abcd", "inputs": [{"bytes": 3000}, {"bytes": 5}],
                             "outputs": [{"bytes": 3000}], "arena_bytes": 6005}


def test_chunked_inputs_give_the_expected_outputs(device):
    for seed in (1, 2):  # the second run proves the outputs follow new inputs
        in0, in1 = random_inputs(seed)
        assert run_model(device, in0, in1) == expected_output(in0, in1)


def test_per_layer_ticks_come_back(device):
    first = device.invoke(per_layer=True)
    second = device.invoke(per_layer=True)
    assert first.layer_ticks == (0x0102030405060708, 1)
    assert second.layer_ticks == (0x0102030405060708, 2)
    assert device.invoke().layer_ticks is None


def test_a_negative_status_round_trips(device):
    device.write_input(1, b"\xee\0\0\0\0")
    assert device.invoke().status == -2


def test_out_of_bounds_requests_are_rejected_and_the_link_survives(device):
    with pytest.raises(DeviceError, match=r"rejected WRITE: index or range out of bounds \(error 3\)"):
        device.write_input(0, bytes(IN0 + 1))
    with pytest.raises(DeviceError, match="rejected WRITE: index or range"):
        device.write_input(2, b"x")
    with pytest.raises(DeviceError, match="rejected READ: index or range"):
        device.read_output(1, 10)
    assert device.info()["name"] == "fake"


def test_exit_stops_the_process_with_the_requested_code(device):
    device.exit(3)
    assert device.wait(BOUND_SECONDS) == 3


def test_close_stops_a_device_that_was_not_told_to_exit(firmware):
    dev = HostDevice(firmware, timeout=BOUND_SECONDS)
    dev.info()
    assert dev.close() is not None
    assert dev.process.poll() is not None


def test_a_missing_executable_is_a_device_error(tmp_path):
    with pytest.raises(DeviceError, match="cannot start"):
        HostDevice(tmp_path / "nope")


# ---- malformed frames, checked by reading the device's raw answer ----

def raw_answer(dev: Device, frame: bytes) -> tuple[int, int, bytes]:
    """Send bytes as they are, and decode the answer (type, sequence number, payload) here rather than
    with microc.runner.protocol."""
    dev.transport.write(frame)
    assert dev.transport.read_exact(2, BOUND_SECONDS) == SYNC
    header = dev.transport.read_exact(HEADER.size, BOUND_SECONDS)
    (header_crc,) = struct.unpack("<I", dev.transport.read_exact(4, BOUND_SECONDS))
    version, type_, length, seq = HEADER.unpack(header)
    payload = dev.transport.read_exact(length, BOUND_SECONDS)
    (crc,) = struct.unpack("<I", dev.transport.read_exact(4, BOUND_SECONDS))
    assert (version, header_crc) == (2, zlib.crc32(header))
    assert crc == zlib.crc32(header + struct.pack("<I", header_crc) + payload)
    return type_, seq, payload


def header_only(type_: int, length: int, seq: int = 0) -> bytes:
    """A frame's sync and header with a valid header CRC; the payload is up to the caller."""
    header = HEADER.pack(2, type_, length, seq)
    return SYNC + header + CRC.pack(zlib.crc32(header))


def version_1_info_frame() -> bytes:
    body = struct.pack("<BBI", 1, 0x01, 0)
    return SYNC + body + struct.pack("<I", zlib.crc32(body))


@pytest.mark.parametrize("frame, code", [
    (encode_frame(0x42), 2),
    (encode_frame(0x83), 2),  # a response type is not a request
    (version_1_info_frame(), 4),  # an older microc: told at once, nothing more is read
    (header_only(0x02, 5000), 5),  # answered at once, without reading the payload
    (encode_frame(0x03, b""), 6),
    (encode_frame(0x04, b"\0\0\0\0\0"), 6),
    (encode_frame(0x01, b"x"), 6),
    (encode_frame(0x09, b"x"), 6),  # RESET takes no payload
    (encode_frame(0x0A, b""), 6),  # SELECT takes a model index
    (encode_frame(0x0A, b"\1"), 3),  # a firmware of one model has no model 1
    (header_only(0x02, 5000)[:-1] + b"\0", 7),  # a damaged header: its length is not acted on
])
def test_malformed_frames_get_error_frames(device, frame, code):
    type_, _, payload = raw_answer(device, frame)
    assert (type_, payload[0]) == (0x7F, code)
    assert payload[1:].isascii() and payload[1:]
    assert device.info()["name"] == "fake"


def test_answers_carry_the_request_sequence_number(device):
    assert raw_answer(device, encode_frame(0x01, b"", 0xBEEF))[1] == 0xBEEF
    assert raw_answer(device, encode_frame(0x42, b"", 0x1234))[:2] == (0x7F, 0x1234)


def test_a_resent_invoke_is_answered_without_running_the_model_again(device):
    """The fake model counts its invocations in its second layer's ticks."""
    def invoke(seq):
        type_, _, payload = raw_answer(device, encode_frame(0x03, b"\1", seq))
        assert type_ == 0x83
        return struct.unpack_from("<2Q", payload, 14)[1]
    first = invoke(7)
    assert invoke(7) == first  # the same request again: the cached answer
    assert invoke(8) == first + 1  # a new request runs the model
    device.write_input(1, b"\1\2\3\4\5")
    assert invoke(8) == first + 2  # new inputs: runs again, whatever the sequence number


def test_reset_restores_the_state_and_a_later_invoke_runs_again(device):
    """RESET calls the model's reset (the fake one zeroes its output) and, like a WRITE, makes the next
    INVOKE run whatever its sequence number; answered again when resent (it is idempotent)."""
    in0, in1 = random_inputs(5)
    assert run_model(device, in0, in1) == expected_output(in0, in1)
    for _ in range(2):
        type_, _, payload = raw_answer(device, encode_frame(0x09, b"", 3))
        assert (type_, payload) == (0x89, b"")
    assert device.read_output(0, OUT) == bytes(OUT)
    device.reset()
    assert device.invoke().status == 0
    assert device.read_output(0, OUT) == expected_output(in0, in1)


def test_select_on_a_firmware_of_one_model_answers_its_count(device):
    assert device.select(0) == 1
    assert device.info()["name"] == "fake"


def test_a_read_longer_than_the_device_buffer_is_rejected(device):
    type_, _, payload = raw_answer(device, encode_frame(0x04, struct.pack("<BII", 0, 0, 1025)))
    assert (type_, payload[0]) == (0x7F, 3)


def test_stray_bytes_before_a_frame_are_skipped(device):
    device.transport.write(b"boot banner\r\n\xa5\xa5\x00")
    assert device.info()["name"] == "fake"


# ---- corruption on the wire ----

class FlipWrite(Transport):
    """Flips one byte of the next write: a request corrupted on its way to the device."""

    def __init__(self, inner: Transport, at: int):
        self.inner, self.at = inner, at

    def write(self, data: bytes) -> None:
        if self.at is not None:
            data = bytearray(data)
            data[self.at] ^= 0x10
            self.at = None
        self.inner.write(bytes(data))

    def read_exact(self, n: int, timeout: float) -> bytes:
        return self.inner.read_exact(n, timeout)

    def close(self) -> None:
        self.inner.close()


class FlipRead(FlipWrite):
    """Flips the at-th byte the host receives, and can put noise before the first frame."""

    def __init__(self, inner: Transport, at: int | None, noise: bytes = b""):
        super().__init__(inner, None)
        self.read_at, self.seen, self.noise = at, 0, noise

    def read_exact(self, n: int, timeout: float) -> bytes:
        if self.noise:
            data, self.noise = self.noise[:n], self.noise[n:]
            return data + (self.inner.read_exact(n - len(data), timeout) if len(data) < n else b"")
        data = bytearray(self.inner.read_exact(n, timeout))
        if self.read_at is not None and self.seen <= self.read_at < self.seen + n:
            data[self.read_at - self.seen] ^= 0x01
        self.seen += n
        return bytes(data)


def test_a_corrupted_request_is_sent_again(device):
    link = Device(FlipWrite(device.transport, at=-5), timeout=BOUND_SECONDS)  # last payload byte
    in0, in1 = random_inputs(3)
    assert run_model(link, in0, in1) == expected_output(in0, in1)
    assert link.resends == {"damaged": 1}  # the device answered "bad CRC"


def test_a_corrupted_length_is_harmless(device):
    """Version 1's weakness: a length corrupted upwards left the device waiting for bytes that never came.
    Byte 4 is the length's low byte: the header CRC catches it and the request goes again."""
    link = Device(FlipWrite(device.transport, at=4), timeout=BOUND_SECONDS, retry_after=BOUND_SECONDS)
    assert link.info()["name"] == "fake"
    assert link.resends == {"damaged": 1}


def test_a_corrupted_answer_is_caught_by_the_host_crc_and_asked_again(device):
    info = device.info()
    for at in (3, 30):  # the answer's header, then inside its JSON
        link = Device(FlipRead(device.transport, at=at), timeout=BOUND_SECONDS, retry_after=BOUND_SECONDS)
        assert link.info() == info
        assert link.resends == {"damaged": 1}


class LoseWrite(FlipWrite):
    """Loses the tail of the next write from byte `at` on: the device has a header and waits for a
    payload that never comes."""

    def write(self, data: bytes) -> None:
        if self.at is not None:
            data, self.at = data[:self.at], None
        self.inner.write(data)


def test_a_request_that_loses_bytes_is_resent_after_a_resynchronisation(device):
    link = Device(LoseWrite(device.transport, at=200), timeout=BOUND_SECONDS, retry_after=0.2)
    in0, in1 = random_inputs(5)
    assert run_model(link, in0, in1) == expected_output(in0, in1)
    assert link.resends["timeout"] == 1


class DamageLongFrames(FlipWrite):
    """Damages the first send of every frame longer than `limit` bytes (its resend goes through), and
    records the length of each first send."""

    def __init__(self, inner: Transport, limit: int):
        super().__init__(inner, None)
        self.limit, self.seen, self.sizes = limit, set(), []

    def write(self, data: bytes) -> None:
        if data not in self.seen:
            self.seen.add(data)
            self.sizes.append(len(data))
            if len(data) > self.limit:
                data = data[:-1] + bytes([data[-1] ^ 0xFF])
        self.inner.write(data)


def test_chunks_shrink_on_a_link_that_damages_long_frames_and_grow_back(device):
    link = Device(DamageLongFrames(device.transport, limit=400), timeout=BOUND_SECONDS)
    in0, in1 = random_inputs(8)
    link.write_input(0, in0)
    # Frames of 1,024 + 18 bytes fail once; the size halves after a resend and doubles after a clean one.
    assert [n - 18 for n in link.transport.sizes] == [1024, 512, 256, 512, 256, 470]
    assert link.resends == {"damaged": 4}
    link.write_input(1, in1)
    assert link.invoke().status == 0
    assert link.read_output(0, OUT) == expected_output(in0, in1)


def test_a_version_1_device_is_refused_with_a_clear_message():
    """What a version-1 firmware (microc before protocol 2) answers a version-2 INFO, captured from it:
    it reads the old header, takes the sequence number and half the header CRC for its CRC, and says
    "bad CRC" in a version-1 frame."""
    v1_answer = bytes.fromhex("a55a017f08000000016261642043524385a4131d")
    link = Device(Canned(v1_answer), timeout=BOUND_SECONDS)
    with pytest.raises(DeviceError, match=r"^device speaks runner protocol version 1 \(a firmware built by "
                       r"an older microc\); this microc speaks version 2: rebuild and flash the project$"):
        link.info()


class Canned(Transport):
    """A link whose other end says only `answer`."""

    def __init__(self, answer: bytes):
        self.answer = answer

    def write(self, data: bytes) -> None:
        pass

    def read_exact(self, n: int, timeout: float) -> bytes:
        data, self.answer = self.answer[:n], self.answer[n:]
        if len(data) < n:
            raise LinkTimeout("no more bytes")
        return data

    def close(self) -> None:
        pass


def test_noise_before_an_answer_is_skipped_by_the_host(device):
    link = Device(FlipRead(device.transport, at=None, noise=b"\x5a\xa5\x00hello\xa5"), timeout=BOUND_SECONDS)
    assert link.info()["name"] == "fake"


# ---- a device that dies or hangs ----

def test_a_killed_device_raises_within_the_timeout(firmware):
    with HostDevice(firmware, timeout=1.0) as dev:
        dev.info()
        dev.process.kill()
        dev.process.wait()
        start = time.monotonic()
        with pytest.raises(DeviceError, match="INVOKE.*(exited|closed)"):
            dev.invoke()
        assert time.monotonic() - start < BOUND_SECONDS


def test_a_hung_device_times_out(firmware):
    with HostDevice(firmware, timeout=0.5) as dev:
        dev.info()
        dev.process.send_signal(signal.SIGSTOP)
        try:
            start = time.monotonic()
            with pytest.raises(DeviceError, match=r"^device did not answer INVOKE within 0.5 s$"):
                dev.invoke()
            assert time.monotonic() - start < BOUND_SECONDS
        finally:
            dev.process.send_signal(signal.SIGCONT)
        # The late INVOKE answer is still on its way: the next request skips it (its sequence number is
        # the INVOKE's) and gets its own answer.
        assert dev.info()["name"] == "fake"


# ---- the serial transport: a TCP socket (as QEMU's -serial tcp) and a pty (as a UART) ----

def start_on_fd(firmware: str, fd) -> subprocess.Popen:
    return subprocess.Popen([firmware], stdin=fd, stdout=fd)


def exercise(dev: Device, proc: subprocess.Popen) -> None:
    assert dev.info()["name"] == "fake"
    in0, in1 = random_inputs(4)
    assert run_model(dev, in0, in1) == expected_output(in0, in1)
    dev.exit(5)
    assert proc.wait(timeout=BOUND_SECONDS) == 5


def test_serial_transport_over_a_socket(firmware):
    with socket.create_server(("127.0.0.1", 0)) as server:
        port = server.getsockname()[1]
        with SerialTransport(f"socket://127.0.0.1:{port}") as link:
            conn, _ = server.accept()
            with conn:
                proc = start_on_fd(firmware, conn.fileno())
            try:
                exercise(Device(link, timeout=BOUND_SECONDS), proc)
            finally:
                proc.kill()
                proc.wait()


def test_serial_transport_over_a_pty(firmware):
    master, slave = os.openpty()
    path = os.ttyname(slave)
    proc = start_on_fd(firmware, master)  # the device holds the master end, as QEMU's -serial pty does
    os.close(master)
    try:
        with SerialTransport(path) as link:
            os.close(slave)  # pyserial opened its own; ours would keep the pty alive after the device
            exercise(Device(link, timeout=BOUND_SECONDS), proc)
    finally:
        proc.kill()
        proc.wait()


def test_serial_transport_names_a_port_it_cannot_open():
    with pytest.raises(DeviceError, match="cannot open serial link /dev/nonexistent-microc"):
        SerialTransport("/dev/nonexistent-microc")


# ---- the device side is bare-metal C ----

def test_the_runner_compiles_cleanly_for_cortex_m4(tmp_path):
    if shutil.which("arm-none-eabi-gcc") is None:
        pytest.skip("arm-none-eabi-gcc is not installed (scripts/setup.sh installs it)")
    cmd = ["arm-none-eabi-gcc", *CORTEX_M4_CFLAGS, f"-I{RUNTIME_C / 'include'}",
           str(RUNTIME_C / "src/mc_runner.c"), "-o", str(tmp_path / "mc_runner.o")]
    result = subprocess.run(cmd, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


# ---- inputs and outputs through host files (LOAD and STORE), as QEMU's semihosting gives them ----

def test_inputs_and_outputs_travel_as_host_files(firmware, tmp_path):
    with HostDevice(firmware, timeout=BOUND_SECONDS) as dev:
        dev.host_files = tmp_path
        in0, in1 = random_inputs(6)
        assert run_model(dev, in0, in1) == expected_output(in0, in1)
        assert (tmp_path / "output0.bin").read_bytes() == expected_output(in0, in1)
        assert dev.requests == {"LOAD": 2, "INVOKE": 1, "STORE": 1}


@pytest.mark.parametrize("payload, code", [
    (b"\0", 6),  # no path
    (b"\2/tmp/x", 3),  # no input 2
    (b"\0/nonexistent-microc/input0.bin", 9),
])
def test_bad_loads_are_rejected(device, payload, code):
    type_, _, answer = raw_answer(device, encode_frame(0x06, payload))
    assert (type_, answer[0]) == (0x7F, code)


def test_a_host_file_of_the_wrong_size_is_rejected(device, tmp_path):
    (tmp_path / "short").write_bytes(bytes(IN0 - 1))
    (tmp_path / "long").write_bytes(bytes(IN0 + 1))
    for name in ("short", "long"):
        type_, _, answer = raw_answer(device, encode_frame(0x06, b"\0" + str(tmp_path / name).encode()))
        assert (type_, answer[0], answer[1:]) == (0x7F, 9, b"host file could not be read or written")


def test_a_board_without_host_files_falls_back_to_write_and_read(firmware, tmp_path):
    """arduino.cpp, zephyr.c and mt3620_m4.c answer MC_NO_HOST_FILES: built here with host.c's replaced."""
    source = (RUNTIME_C / "platform/host.c").read_text()
    (tmp_path / "platform.c").write_text(source[:source.index("/* This machine's files")] +
                                         "MC_DEFINE_NO_HOST_FILES\n")
    exe = build_fake(tmp_path / "no_files", tmp_path / "platform.c")
    with HostDevice(exe, timeout=BOUND_SECONDS) as dev:
        dev.host_files = tmp_path
        in0, in1 = random_inputs(7)
        assert run_model(dev, in0, in1) == expected_output(in0, in1)
        assert dev.host_files is None
        assert dev.requests["LOAD"] == 1 and dev.requests["WRITE"] == 4 and dev.requests["READ"] == 3


# ---- LAYER: one layer alone, then its output read from the arena ----

def test_layers_run_alone_and_their_outputs_read_back_from_the_arena(device):
    in0, in1 = random_inputs(3)
    device.write_input(0, in0)
    device.write_input(1, in1)
    out_offset = IN0 + IN1  # where fake_model.c keeps its output in the arena
    summed = expected_output(in0, in1)
    assert device.run_layer(0, out_offset, OUT) == summed  # 3000 bytes: three chunks, one run
    assert device.run_layer(1, out_offset, OUT) == bytes(255 - b for b in summed)
    assert device.read_output(0, OUT) == bytes(255 - b for b in summed)  # the arena really changed
    # run=False reads without running (run again, layer 1 would invert its output back)
    assert device.run_layer(1, out_offset, OUT, run=False) == bytes(255 - b for b in summed)


@pytest.mark.parametrize("payload", [struct.pack("<BHII", 1, 2, 0, 4),  # no layer 2
                                     struct.pack("<BHII", 0, 0, 6000, 6),  # past the arena's 6005 bytes
                                     struct.pack("<BHII", 0, 0, 0, 1025)])  # longer than a READ may be
def test_layer_requests_out_of_range_are_rejected(device, payload):
    type_, _, body = raw_answer(device, encode_frame(0x08, payload))
    assert (type_, body[0]) == (0x7F, 3)
    in0, in1 = random_inputs(4)
    assert run_model(device, in0, in1) == expected_output(in0, in1)  # the link is still in step


def test_a_resent_layer_is_answered_without_running_the_layer_again(device):
    """Layer 1 inverts the output in place: run twice, it would give the bytes back uninverted."""
    in0, in1 = random_inputs(5)
    device.write_input(0, in0)
    device.write_input(1, in1)
    summed = expected_output(in0, in1)
    assert device.run_layer(0, IN0 + IN1, OUT) == summed
    inverted = bytes(255 - b for b in summed[:16])
    for _ in range(2):  # the same request, same seq: the second is a resend
        type_, _, body = raw_answer(device, encode_frame(0x08, struct.pack("<BHII", 1, 1, IN0 + IN1, 16), 777))
        assert (type_, body) == (0x88, b"\0\0\0\0" + inverted)
