"""The runner protocol over a noisy cable: KWS on QEMU mps2-an386 through tests/noisy_link.py, which
corrupts 1 byte in 1,000 both ways and drops the link for a second once. Inputs and outputs go over the
UART (WRITE/READ), as to a real board. Every inference must complete with its outputs bit-exact with TFLM:
a corruption accepted anywhere would show as a wrong output.

CI runs 100 inferences; MICROC_NOISY_INFERENCES=1000 gives the figure in docs/protocol.md."""
from __future__ import annotations

import os
import time

import numpy as np
import pytest

from noisy_link import NoisyProxy
from shared_models import built_for_qemu, shared_model
from microc.boards import load_board
from microc.reference import reference_outputs
from microc.runner import qemu
from microc.runner.protocol import Device
from microc.runner.transport import SerialTransport

BOARD = "mps2-an386"
MODEL = "mlperf_tiny/kws_ref_model"
INFERENCES = int(os.environ.get("MICROC_NOISY_INFERENCES", "100"))
DROP_AT = INFERENCES // 3  # the inference before which the link goes down for DROP_SECONDS
DROP_SECONDS = 1.0


@pytest.fixture(scope="module")
def kws_elf(tmp_path_factory):
    return built_for_qemu(MODEL, BOARD, tmp_path_factory.mktemp("noisy") / "kws")[1]


def start_qemu_on_tcp(elf) -> tuple[qemu.QemuProcess, int]:
    """QEMU with the board's usual options, its UART a TCP server the proxy connects to."""
    port = qemu.free_port()
    proc = qemu.QemuProcess(qemu.qemu_command(load_board(BOARD), elf,
                                              f"tcp:127.0.0.1:{port},server=on,wait=on,nodelay=on"))
    deadline = time.monotonic() + 30
    while "waiting for connection" not in proc.stderr_text():
        if proc.proc.poll() is not None or time.monotonic() > deadline:
            note = proc.exit_note() or "no 'waiting for connection' within 30 s"
            proc.stop()
            pytest.fail(f"QEMU did not listen: {note}")
        time.sleep(0.02)
    return proc, port


def test_kws_verifies_over_a_link_that_corrupts_and_drops(kws_elf):
    rng = np.random.default_rng(2026)
    samples = [rng.integers(-128, 128, (1, 49, 10, 1), dtype=np.int8) for _ in range(INFERENCES)]
    proc, port = start_qemu_on_tcp(kws_elf)
    proxy = NoisyProxy(port, rate=1e-3, seed=14)
    start = time.monotonic()
    try:
        with Device(SerialTransport(f"socket://127.0.0.1:{proxy.port}"), timeout=60) as dev:
            assert dev.info()["name"] == "kws_ref_model"
            outputs = []
            for i, x in enumerate(samples):
                if i == DROP_AT:
                    proxy.drop(DROP_SECONDS)
                dev.write_input(0, x.tobytes())
                assert dev.invoke().status == 0
                outputs.append(np.frombuffer(dev.read_output(0, 12), np.int8))
            dev.exit(0)
        assert proc.proc.wait(timeout=10) == 0
    finally:
        proxy.close()
        proc.stop()
    elapsed = time.monotonic() - start
    wrong = [i for i, (x, got) in enumerate(zip(samples, outputs))
             if not np.array_equal(got, reference_outputs(shared_model(MODEL), [x], 1)[0].reshape(-1))]
    print(f"\n{INFERENCES} inferences in {elapsed:.1f} s; corrupted {proxy.corrupted}, dropped {proxy.dropped}, "
          f"resends {dict(dev.resends)}, requests {dict(dev.requests)}")
    assert wrong == []
    # The noise really was there, both ways, and the link came back after the drop.
    assert proxy.corrupted["to_device"] > 0 and proxy.corrupted["to_host"] > 0
    assert sum(proxy.dropped.values()) > 0 and dev.resends["timeout"] >= 1 and dev.resends["damaged"] > 0
    assert dev.requests["INVOKE"] == INFERENCES
