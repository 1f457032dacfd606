"""Host side of the runner protocol (docs/protocol.md; the device side is runtime_c/src/mc_runner.c).
Every failure (timeout, lost link, bad CRC, error frame, unexpected answer) is a one-line DeviceError."""
from __future__ import annotations

import enum
import json
import struct
import time
import zlib
from dataclasses import dataclass

from microc.errors import DeviceError
from microc.runner.transport import LinkClosed, LinkTimeout, Transport

VERSION = 1
SYNC = b"\xa5\x5a"
RX_MAX = 1024  # the device's MC_RX_MAX: the largest request payload, and the largest READ
WRITE_HEADER = struct.Struct("<BI")  # input index, offset
WRITE_CHUNK = RX_MAX - WRITE_HEADER.size
HEADER = struct.Struct("<BBI")  # version, type, payload length
CRC = struct.Struct("<I")
RESPONSE = 0x80
ERROR = 0x7F
MAX_ANSWER = 16 << 20  # a longer length field is line noise, not a frame worth waiting for


class Request(enum.IntEnum):
    INFO = 0x01
    WRITE = 0x02
    INVOKE = 0x03
    READ = 0x04
    EXIT = 0x05


@dataclass(frozen=True)
class Invocation:
    status: int  # the model's invoke() result; 0 is success
    ticks: int  # mc_ticks() around invoke(); the board says what a tick is
    layer_ticks: tuple[int, ...] | None = None  # None unless asked; () if built without MC_PROFILE


def encode_frame(type_: int, payload: bytes = b"") -> bytes:
    body = HEADER.pack(VERSION, type_, len(payload)) + payload
    return SYNC + body + CRC.pack(zlib.crc32(body))


class Device:
    """A device running mc_serve(), over any Transport. One request at a time, each answered within
    `timeout` seconds."""

    def __init__(self, transport: Transport, timeout: float = 10.0):
        self.transport = transport
        self.timeout = timeout
        # After a timeout or a lost link, where the next frame starts is unknown (a late answer may
        # still come), so every later request fails with the first failure's reason.
        self._broken: str | None = None

    def info(self) -> dict:
        body = self._request(Request.INFO)
        try:
            info = json.loads(body.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            raise DeviceError(f"device sent info that is not JSON ({e})") from None
        if not isinstance(info, dict):
            raise DeviceError("device sent info that is not a JSON object")
        return info

    def write_input(self, index: int, data: bytes) -> None:
        _check_u8(index, "input index")
        for offset in range(0, len(data), WRITE_CHUNK):
            chunk = bytes(data[offset:offset + WRITE_CHUNK])
            self._request(Request.WRITE, WRITE_HEADER.pack(index, offset) + chunk)

    def invoke(self, per_layer: bool = False, timeout: float | None = None) -> Invocation:
        """Run the model once; `timeout` overrides the device's for a slow model."""
        body = self._request(Request.INVOKE, bytes([1 if per_layer else 0]), timeout)
        return _parse_invocation(body, per_layer)

    def read_output(self, index: int, nbytes: int) -> bytes:
        _check_u8(index, "output index")
        out = bytearray()
        for offset in range(0, nbytes, RX_MAX):
            n = min(RX_MAX, nbytes - offset)
            chunk = self._request(Request.READ, struct.pack("<BII", index, offset, n))
            if len(chunk) != n:
                raise DeviceError(f"device answered READ of {n} bytes with {len(chunk)}")
            out += chunk
        return bytes(out)

    def exit(self, code: int = 0) -> None:
        """Ask the device to stop with `code`. It answers first, but the answer may be lost as the
        link closes behind it (a pty drops unread bytes when the device's end closes), so a link
        closed during EXIT counts as stopped; the caller checks the exit status where it has one."""
        _check_u8(code, "exit code")
        try:
            self._request(Request.EXIT, bytes([code]))
        except LinkClosed:
            pass

    def close(self) -> None:
        self.transport.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # ---- framing ----

    def _request(self, request: Request, payload: bytes = b"", timeout: float | None = None) -> bytes:
        """Send one request and return its answer's payload."""
        timeout = self.timeout if timeout is None else timeout
        if self._broken:
            raise DeviceError(f"device cannot take {request.name} after an earlier failure: {self._broken}")
        try:
            self.transport.write(encode_frame(request, payload))
            type_, body = self._read_frame(time.monotonic() + timeout)
        except LinkTimeout:
            self._broken = f"device did not answer {request.name} within {timeout:g} s"
            raise LinkTimeout(self._broken) from None
        except LinkClosed as e:
            self._broken = f"lost the device during {request.name}: {e}"
            raise LinkClosed(self._broken) from None
        return _check_answer(request, type_, body)

    def _read_frame(self, deadline: float) -> tuple[int, bytes]:
        self._hunt_sync(deadline)
        header = self._read(HEADER.size, deadline)
        version, type_, length = HEADER.unpack(header)
        if length > MAX_ANSWER:
            self._broken = f"device sent a frame header claiming {length} bytes (type 0x{type_:02x})"
            raise DeviceError(self._broken)
        payload = self._read(length, deadline)
        (crc,) = CRC.unpack(self._read(CRC.size, deadline))
        if crc != zlib.crc32(header + payload):
            raise DeviceError(f"device sent a frame with a bad CRC (type 0x{type_:02x}, {length} bytes)")
        if version != VERSION:
            raise DeviceError(f"device speaks runner protocol version {version}, microc speaks {VERSION}")
        return type_, payload

    def _hunt_sync(self, deadline: float) -> None:
        """Skip whatever precedes the sync bytes (boot banners, stray prints)."""
        prev = b""
        while True:
            byte = self._read(1, deadline)
            if prev + byte == SYNC:
                return
            prev = byte

    def _read(self, n: int, deadline: float) -> bytes:
        return self.transport.read_exact(n, max(0.0, deadline - time.monotonic()))


def _check_answer(request: Request, type_: int, body: bytes) -> bytes:
    if type_ == ERROR:
        code = body[0] if body else 0
        message = body[1:].decode("ascii", "replace").strip() or "no message"
        raise DeviceError(f"device rejected {request.name}: {message} (error {code})")
    if type_ != request | RESPONSE:
        raise DeviceError(f"device answered {request.name} with a frame of type 0x{type_:02x}")
    return body


def _parse_invocation(body: bytes, per_layer: bool) -> Invocation:
    n = struct.unpack_from("<H", body, 12)[0] if per_layer and len(body) >= 14 else 0
    expected = 14 + 8 * n if per_layer else 12
    if len(body) != expected:
        raise DeviceError(f"device sent a {len(body)}-byte INVOKE answer, expected {expected}")
    status, ticks = struct.unpack_from("<iQ", body)
    layers = struct.unpack_from(f"<{n}Q", body, 14) if per_layer else None
    return Invocation(status, ticks, layers)


def _check_u8(value: int, what: str) -> None:
    if not 0 <= value <= 255:
        raise ValueError(f"{what} must be 0..255, not {value}")
