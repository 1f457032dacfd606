"""Host side of the runner protocol (docs/protocol.md; the device side is runtime_c/src/mc_runner.c).
Every failure (timeout, lost link, bad CRC, error frame, unexpected answer) is a one-line DeviceError."""
from __future__ import annotations

import collections
import enum
import json
import os
import struct
import time
import zlib
from dataclasses import dataclass
from pathlib import Path

from microc.errors import DeviceError
from microc.runner.transport import LinkClosed, LinkTimeout, Transport

VERSION = 2
SYNC = b"\xa5\x5a"
RX_MAX = 1024  # the device's MC_RX_MAX: the largest request payload, and the largest READ
WRITE_HEADER = struct.Struct("<BI")  # input index, offset
MIN_CHUNK = 128  # the smallest WRITE or READ on a noisy link: its 20 bytes of framing stay a small share
LAYER_REQUEST = struct.Struct("<BHII")  # flags (bit 0: run the layer), layer, arena offset, length
HEADER = struct.Struct("<BBIH")  # version, type, payload length, sequence number
CRC = struct.Struct("<I")
HEADER_BYTES = HEADER.size + CRC.size  # the header and its own CRC, after the sync
V1_HEADER = struct.Struct("<BBI")  # version 1: version, type, payload length (no sequence, no header CRC)
RESPONSE = 0x80
ERROR = 0x7F
MAX_ANSWER = 16 << 20  # no answer is longer: a header claiming more is not from a microc firmware
# Zeros that complete the longest request a device can be stuck in (its length came, its bytes were
# lost): its CRC then fails, and the device goes back to hunting for sync, which zeros never form.
RESYNC = bytes(HEADER_BYTES + RX_MAX + CRC.size)
MAX_ATTEMPTS = 32  # sends of one request whose answers all came back damaged: the link is unusable


class DeviceErrorCode(enum.IntEnum):
    """The code in an error frame (docs/protocol.md)."""
    CRC = 1
    TYPE = 2
    RANGE = 3
    VERSION = 4
    TOO_LONG = 5
    MALFORMED = 6
    HEADER_CRC = 7
    NO_HOST_FILES = 8
    HOST_FILE = 9


# The request was damaged on its way (or its bytes were taken for another frame's): send it again.
DAMAGED = {DeviceErrorCode.CRC, DeviceErrorCode.VERSION, DeviceErrorCode.HEADER_CRC}


class Request(enum.IntEnum):
    INFO = 0x01
    WRITE = 0x02
    INVOKE = 0x03
    READ = 0x04
    EXIT = 0x05
    LOAD = 0x06
    STORE = 0x07
    LAYER = 0x08
    RESET = 0x09
    SELECT = 0x0A


class DeviceRejected(DeviceError):
    """The device answered a request with an error frame."""

    def __init__(self, message: str, code: int):
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class Invocation:
    status: int  # the model's invoke() result; 0 is success
    ticks: int  # mc_ticks() around invoke(); the board says what a tick is
    layer_ticks: tuple[int, ...] | None = None  # None unless asked; () if built without MC_PROFILE
    stack_bytes: int | None = None  # stack high-water mark during invoke(), if asked; 0: not measured


def encode_frame(type_: int, payload: bytes = b"", seq: int = 0) -> bytes:
    header = HEADER.pack(VERSION, type_, len(payload), seq)
    header += CRC.pack(zlib.crc32(header))
    return SYNC + header + payload + CRC.pack(zlib.crc32(header + payload))


class Device:
    """A device running mc_serve(), over any Transport. One request at a time; a request whose answer
    does not come back intact is sent again (every request is safe to repeat: the device answers a
    repeated INVOKE from its last result), until `timeout` seconds have passed for it.

    `retry_after` is how long to wait before the first resend; each timeout doubles it. A timeout may
    leave the device inside a frame whose bytes were lost, so the next send is preceded by RESYNC.

    `host_files`: a folder of this machine that the device can read and write too (QEMU's semihosting
    gives the firmware its host's files). Inputs and outputs then travel as files named in LOAD and STORE
    requests rather than in WRITE and READ frames, unless the device answers it has no host files."""

    def __init__(self, transport: Transport, timeout: float = 10.0, retry_after: float = 1.0,
                 host_files: Path | None = None):
        self.transport = transport
        self.host_files = host_files
        self.timeout = timeout
        self.retry_after = retry_after
        self.requests = collections.Counter()  # requests made, by name (a resend is not a new one)
        self.resends = collections.Counter()  # why requests were sent again: "timeout", "damaged"
        self._seq = 0
        self._unread = b""  # bytes taken for a header that proved false; hunted through again
        self._resync = False
        self._invoke_seconds = 0.0  # how long the last INVOKE took to answer, for its first wait
        self._chunk = RX_MAX  # bytes per WRITE or READ frame (see _sized_request)

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
        if self.host_files:
            path = self.host_files / f"input{index}.bin"
            path.write_bytes(data)
            if self._host_file(Request.LOAD, index, path):
                return
        offset = 0
        while offset < len(data):
            chunk = bytes(data[offset:offset + self._chunk - WRITE_HEADER.size])
            self._sized_request(Request.WRITE, WRITE_HEADER.pack(index, offset) + chunk)
            offset += len(chunk)

    def invoke(self, per_layer: bool = False, timeout: float | None = None,
               stack: bool = False) -> Invocation:
        """Run the model once; `timeout` overrides the device's for a slow model. `stack`: also the stack's
        high-water mark during the run."""
        body = self._request(Request.INVOKE, bytes([(1 if per_layer else 0) | (2 if stack else 0)]), timeout)
        return _parse_invocation(body, per_layer, stack)

    def read_output(self, index: int, nbytes: int) -> bytes:
        _check_u8(index, "output index")
        if self.host_files:
            path = self.host_files / f"output{index}.bin"
            path.unlink(missing_ok=True)  # what we read back is this STORE's, not an earlier one's
            if self._host_file(Request.STORE, index, path):
                data = path.read_bytes()
                if len(data) != nbytes:
                    raise DeviceError(f"device stored {len(data)} bytes of output {index}, expected {nbytes}")
                return data
        out = bytearray()
        while len(out) < nbytes:
            n = min(self._chunk, nbytes - len(out))
            chunk = self._sized_request(Request.READ, struct.pack("<BII", index, len(out), n))
            if len(chunk) != n:
                raise DeviceError(f"device answered READ of {n} bytes with {len(chunk)}")
            out += chunk
        return bytes(out)

    def run_layer(self, layer: int, offset: int, nbytes: int, run: bool = True) -> bytes:
        """Run one layer alone on the arena as it stands (LAYER), then read `nbytes` of the arena at
        `offset` (its output), before a later layer can reuse that place. `run=False` reads without
        running: a layer's other outputs (running a stateful layer again would update its state again)."""
        out = bytearray()
        for start in range(0, max(nbytes, 1), RX_MAX):
            n = min(RX_MAX, nbytes - start)
            body = self._request(Request.LAYER, LAYER_REQUEST.pack(run and start == 0, layer, offset + start, n))
            status = struct.unpack_from("<i", body)[0] if len(body) >= 4 else None
            if len(body) != 4 + n:
                raise DeviceError(f"device answered LAYER with {len(body)} bytes, expected {4 + n}")
            if status != 0:
                raise DeviceError(f"layer {layer} returned status {status}")
            out += body[4:]
        return bytes(out)

    def reset(self) -> None:
        """Set the model's state (variable tensors) back to its initial value (RESET)."""
        try:
            self._request(Request.RESET)
        except DeviceRejected as e:
            if e.code != DeviceErrorCode.TYPE:
                raise
            raise DeviceError("the device's firmware predates the RESET request (a stateful model needs "
                              "it): rebuild and flash the project") from None

    def select(self, index: int) -> int:
        """Address the firmware's model `index` from now on (SELECT); returns how many models it holds."""
        _check_u8(index, "model index")
        try:
            body = self._request(Request.SELECT, bytes([index]))
        except DeviceRejected as e:
            if e.code == DeviceErrorCode.TYPE:
                raise DeviceError("the device's firmware predates the SELECT request (a project of several "
                                  "models needs it): rebuild and flash the project") from None
            if e.code == DeviceErrorCode.RANGE:
                raise DeviceError(f"the device's firmware has no model {index}") from None
            raise
        if len(body) != 1:
            raise DeviceError(f"device answered SELECT with {len(body)} bytes, expected 1")
        return body[0]

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

    def _sized_request(self, request: Request, payload: bytes) -> bytes:
        """A WRITE or READ, after which the next one's size adapts to the link: a frame of n bytes comes
        through a link that damages a byte in k with probability (1 - 1/k)^n, so after a resend the
        chunks are halved (down to MIN_CHUNK) and after a clean exchange doubled again (up to RX_MAX)."""
        resent = sum(self.resends.values())
        answer = self._request(request, payload)
        if sum(self.resends.values()) > resent:
            self._chunk = max(MIN_CHUNK, self._chunk // 2)
        else:
            self._chunk = min(RX_MAX, self._chunk * 2)
        return answer

    def _host_file(self, request: Request, index: int, path: Path) -> bool:
        """LOAD or STORE through `path`; False (and WRITE/READ from now on) if the board has no host files."""
        name = os.fsencode(path.resolve())
        if len(name) >= RX_MAX:
            raise DeviceError(f"host file path too long for the device ({len(name)} bytes): {path}")
        try:
            self._request(request, bytes([index]) + name)
        except DeviceRejected as e:
            if e.code != DeviceErrorCode.NO_HOST_FILES:
                raise
            self.host_files = None
            return False
        return True

    # ---- framing ----

    def _request(self, request: Request, payload: bytes = b"", timeout: float | None = None) -> bytes:
        """Send one request and return its answer's payload, resending it as needed."""
        budget = self.timeout if timeout is None else timeout
        self._seq = (self._seq + 1) & 0xFFFF
        self.requests[request.name] += 1
        frame = encode_frame(request, payload, self._seq)
        start = time.monotonic()
        deadline = start + budget
        wait = self.retry_after + 2 * (len(frame) + RX_MAX) * self.transport.seconds_per_byte
        if request == Request.INVOKE:
            wait += 2 * self._invoke_seconds
        for _ in range(MAX_ATTEMPTS):
            try:
                if self._resync:
                    self.transport.write(RESYNC)
                    self._resync = False
                self.transport.write(frame)
                answer = self._await(request, min(deadline, time.monotonic() + wait))
            except LinkTimeout:
                self._resync = True
                if time.monotonic() >= deadline:
                    raise LinkTimeout(f"device did not answer {request.name} within {budget:g} s") from None
                self.resends["timeout"] += 1
                wait *= 2
                continue
            except LinkClosed as e:
                raise LinkClosed(f"lost the device during {request.name}: {e}") from None
            if answer is not None:
                if request == Request.INVOKE:
                    self._invoke_seconds = time.monotonic() - start
                return answer
            self.resends["damaged"] += 1
        raise DeviceError(f"the link damaged {MAX_ATTEMPTS} sends of {request.name} in a row "
                          f"(or their answers): it is too noisy to use")

    def _await(self, request: Request, deadline: float) -> bytes | None:
        """The answer to the request just sent, or None if it came back damaged (or the device says the
        request did); answers to earlier requests or earlier sends are skipped."""
        while True:
            frame = self._read_frame(deadline)
            if frame is None:
                return None
            type_, seq, body = frame
            if type_ == ERROR and body and body[0] in DAMAGED:
                return None  # whichever send it answers, resending the current one is safe
            if seq == self._seq:
                return _check_answer(request, type_, body)

    def _read_frame(self, deadline: float) -> tuple[int, int, bytes] | None:
        """The next frame (type, sequence number, payload), or None for a damaged one."""
        self._hunt_sync(deadline)
        header = self._read(HEADER_BYTES, deadline)
        if CRC.unpack_from(header, HEADER.size)[0] != zlib.crc32(header[:HEADER.size]):
            if header[0] == 1:
                self._refuse_version_1(header, deadline)
            self._unread = header + self._unread  # a false sync: a real one may be among these bytes
            return None
        version, type_, length, seq = HEADER.unpack_from(header)
        if version != VERSION:
            raise DeviceError(f"device speaks runner protocol version {version}, microc speaks {VERSION}")
        if length > MAX_ANSWER:
            raise DeviceError(f"device sent a frame header claiming {length} bytes (type 0x{type_:02x})")
        payload = self._read(length, deadline)
        (crc,) = CRC.unpack(self._read(CRC.size, deadline))
        if crc != zlib.crc32(header + payload):
            return None
        return type_, seq, payload

    def _refuse_version_1(self, start: bytes, deadline: float) -> None:
        """Raise if `start` begins an intact version-1 frame (a firmware from an older microc answering
        a request it could not parse); return if it was line noise."""
        _, type_, length = V1_HEADER.unpack_from(start)
        if length > MAX_ANSWER:
            return
        rest = self._read(max(0, V1_HEADER.size + length + CRC.size - len(start)), deadline)
        frame = start + rest
        body, (crc,) = frame[:V1_HEADER.size + length], CRC.unpack_from(frame, V1_HEADER.size + length)
        if crc != zlib.crc32(body):
            self._unread = rest + self._unread
            return
        raise DeviceError(f"device speaks runner protocol version 1 (a firmware built by an older microc); "
                          f"this microc speaks version {VERSION}: rebuild and flash the project")

    def _hunt_sync(self, deadline: float) -> None:
        """Skip whatever precedes the sync bytes (boot banners, stray prints, damaged frames)."""
        prev = b""
        while True:
            byte = self._read(1, deadline)
            if prev + byte == SYNC:
                return
            prev = byte

    def _read(self, n: int, deadline: float) -> bytes:
        head, self._unread = self._unread[:n], self._unread[n:]
        if len(head) == n:
            return head
        return head + self.transport.read_exact(n - len(head), max(0.0, deadline - time.monotonic()))


def _check_answer(request: Request, type_: int, body: bytes) -> bytes:
    if type_ == ERROR:
        code = body[0] if body else 0
        message = body[1:].decode("ascii", "replace").strip() or "no message"
        raise DeviceRejected(f"device rejected {request.name}: {message} (error {code})", code)
    if type_ != request | RESPONSE:
        raise DeviceError(f"device answered {request.name} with a frame of type 0x{type_:02x}")
    return body


def _parse_invocation(body: bytes, per_layer: bool, stack: bool = False) -> Invocation:
    n = struct.unpack_from("<H", body, 12)[0] if per_layer and len(body) >= 14 else 0
    expected = (14 + 8 * n if per_layer else 12) + (4 if stack else 0)
    if len(body) != expected:
        raise DeviceError(f"device sent a {len(body)}-byte INVOKE answer, expected {expected}")
    status, ticks = struct.unpack_from("<iQ", body)
    layers = struct.unpack_from(f"<{n}Q", body, 14) if per_layer else None
    stack_bytes = struct.unpack_from("<I", body, expected - 4)[0] if stack else None
    return Invocation(status, ticks, layers, stack_bytes)


def _check_u8(value: int, what: str) -> None:
    if not 0 <= value <= 255:
        raise ValueError(f"{what} must be 0..255, not {value}")
