"""A noisy serial cable for tests: a TCP proxy between the host and QEMU's serial port that corrupts bytes
at a given rate in both directions (each byte replaced by another with probability `rate`, from a seeded
generator per direction) and can drop the link for a while (every byte either way is lost meanwhile)."""
from __future__ import annotations

import random
import socket
import threading
import time

DIRECTIONS = ("to_device", "to_host")


class NoisyProxy:
    """Listens on a loopback port (`port`); the first client is joined to 127.0.0.1:`target_port`."""

    def __init__(self, target_port: int, rate: float = 1e-3, seed: int = 0):
        self.target_port = target_port
        self.rate = rate
        self.seed = seed
        self.corrupted = dict.fromkeys(DIRECTIONS, 0)  # bytes changed
        self.dropped = dict.fromkeys(DIRECTIONS, 0)  # bytes lost while the link was down
        self._down_until = 0.0
        self._server = socket.create_server(("127.0.0.1", 0))
        self.port = self._server.getsockname()[1]
        self._sockets: list[socket.socket] = [self._server]
        threading.Thread(target=self._serve, daemon=True).start()

    def drop(self, seconds: float) -> None:
        """Lose everything both ways for `seconds` from now."""
        self._down_until = time.monotonic() + seconds

    def close(self) -> None:
        for s in self._sockets:
            s.close()

    def _serve(self) -> None:
        host, _ = self._server.accept()
        device = socket.create_connection(("127.0.0.1", self.target_port))
        for s in (host, device):
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._sockets += [host, device]
        for src, dst, direction in ((host, device, "to_device"), (device, host, "to_host")):
            threading.Thread(target=self._pump, args=(src, dst, direction), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket, direction: str) -> None:
        rng = random.Random(f"{self.seed}/{direction}")
        try:
            while data := src.recv(65536):
                if time.monotonic() < self._down_until:
                    self.dropped[direction] += len(data)
                    continue
                dst.sendall(self._corrupt(bytearray(data), rng, direction))
            dst.shutdown(socket.SHUT_WR)
        except OSError:  # closed at the end of the test
            pass

    def _corrupt(self, data: bytearray, rng: random.Random, direction: str) -> bytes:
        for i in range(len(data)):
            if rng.random() < self.rate:
                data[i] ^= rng.randrange(1, 256)
                self.corrupted[direction] += 1
        return bytes(data)
