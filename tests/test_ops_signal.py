"""TFLM's signal library operators (custom Signal* operators of the audio front ends): microc's C against
TFLM's Python interpreter, which registers them, bit for bit; several invocations in sequence for the
stateful spectral subtraction; the refusals of what TFLM would read out of bounds."""
import subprocess

import numpy as np
import pytest
from flatbuffers import flexbuffers

from harness import compile_and_run, compile_and_run_sanitized
from microc import RUNTIME_C
from microc.codegen.generate import generate
from microc.errors import MicrocError
from microc.frontends import load_model
from tflite_builder import ModelBuilder

RNG = np.random.default_rng(12)


def run_tflm_sequence(model: bytes, samples) -> list[list[np.ndarray]]:
    """The samples one after the other in one interpreter: state carried as on the device."""
    from tflite_micro.python.tflite_micro import runtime
    interp = runtime.Interpreter.from_bytes(bytes(model), arena_size=1 << 20)
    outs = []
    for sample in samples:
        for i, x in enumerate(sample):
            interp.set_input(np.array(x, order="C"), i)  # 0-d stays 0-d
        interp.invoke()
        n = _n_outputs(model)
        outs.append([np.array(interp.get_output(i), copy=True) for i in range(n)])
    return outs


def _n_outputs(model: bytes) -> int:
    import tflite
    return tflite.Model.GetRootAs(model, 0).Subgraphs(0).OutputsLength()


def check(model: bytes, samples, tmp_path, sanitize: bool = False) -> None:
    tmp_path.mkdir(parents=True, exist_ok=True)
    path = tmp_path / "m.tflite"
    path.write_bytes(model)
    want = run_tflm_sequence(model, samples)
    run = compile_and_run_sanitized if sanitize else compile_and_run
    got = run(path, samples, tmp_path / "build")
    assert len(got) == len(want) and all(len(g) == len(w) for g, w in zip(got, want))
    for i, (g, w) in enumerate(zip(got, want)):
        for j, (a, b) in enumerate(zip(g, w)):
            assert a.dtype == b.dtype and np.array_equal(a, b), f"sample {i} output {j}: {a} != {b}"


# ---- the spectrum: SignalWindow, SignalFftAutoScale, SignalRfft, SignalEnergy ----

def spectrum_model(frame: int, fft_length: int, shift: int = 12) -> bytes:
    b = ModelBuilder()
    bins = fft_length // 2 + 1
    x = b.tensor("audio", (1, frame), "int16")
    w = b.const("window", RNG.integers(0, 4096, frame, endpoint=True).astype(np.int16))
    win = b.tensor("windowed", (1, frame), "int16")
    flat = b.tensor("flat", (frame,), "int16")
    scaled = b.tensor("scaled", (frame,), "int16")
    bits = b.tensor("bits", (), "int32")
    spec = b.tensor("spectrum", (2 * bins,), "int16")
    energy = b.tensor("energy", (bins,), "uint32")
    b.custom("SignalWindow", [x, w], [win], shift=shift)
    b.op("RESHAPE", [win, b.const("shape", np.array([frame], np.int32))], [flat], new_shape=[frame])
    b.custom("SignalFftAutoScale", [flat], [scaled, bits])
    b.custom("SignalRfft", [scaled], [spec], T=7, fft_length=fft_length)
    b.custom("SignalEnergy", [spec], [energy], start_index=0, end_index=bins)
    b.inputs([x])
    b.outputs([win, bits, spec, energy])
    return b.build()


def audio_samples(frame: int) -> list[list[np.ndarray]]:
    edge = [np.zeros((1, frame), np.int16), np.full((1, frame), -32768, np.int16),
            np.full((1, frame), 32767, np.int16), RNG.integers(-3, 4, (1, frame)).astype(np.int16)]
    noise = [RNG.integers(-32768, 32767, (1, frame), endpoint=True).astype(np.int16) for _ in range(3)]
    t = np.arange(frame)
    tone = [(np.sin(t * 0.3) * 2000).astype(np.int16).reshape(1, frame)]
    return [[x] for x in edge + noise + tone]


@pytest.mark.parametrize("frame,fft_length", [(480, 512), (16, 16), (50, 64), (32, 32)])
def test_spectrum(frame, fft_length, tmp_path):
    check(spectrum_model(frame, fft_length), audio_samples(frame), tmp_path)


# ---- the mel features: SignalFilterBank, SignalFilterBankSquareRoot, SignalPCAN, SignalFilterBankLog ----

def filter_bank_tables(bins: int, channels: int):
    """Channel c spans [starts[c], starts[c] + widths[c]) of the spectrum, as TFLM's filter bank
    builder lays them out (overlapping triangles, channel 0 the scratch one); random weights."""
    edges = np.linspace(1, bins - 1, channels + 3).astype(np.int64)
    starts, widths = edges[:channels + 1], edges[2:channels + 3] - edges[:channels + 1]
    weight_starts = np.concatenate([[0], np.cumsum(widths)[:-1]])
    n = int(widths.sum())
    weights = RNG.integers(0, 4096, n, endpoint=True).astype(np.int16)
    unweights = (4096 - weights).astype(np.int16)
    return [a.astype(np.int16) for a in (starts, weight_starts, widths)], weights, unweights


def features_model(bins: int, channels: int, snr_shift: int = 6, scale: int = 64, correction: int = 3,
                   lut=None) -> bytes:
    b = ModelBuilder()
    (starts, wstarts, widths), weights, unweights = filter_bank_tables(bins, channels)
    energy = b.tensor("energy", (bins,), "uint32")
    bits = b.tensor("bits", (), "int32")
    noise = b.tensor("noise", (channels,), "uint32")
    sums = b.tensor("sums", (channels,), "uint64")
    root = b.tensor("root", (channels,), "uint32")
    gained = b.tensor("gained", (channels,), "uint32")
    logs = b.tensor("log", (channels,), "int16")
    lut = RNG.integers(-32768, 32767, 125, endpoint=True).astype(np.int16) if lut is None else lut
    b.custom("SignalFilterBank", [energy, b.const("w", weights), b.const("u", unweights), b.const("f", starts),
                                  b.const("s", wstarts), b.const("n", widths)], [sums], num_channels=channels)
    b.custom("SignalFilterBankSquareRoot", [sums, bits], [root])
    b.custom("SignalPCAN", [root, noise, b.const("lut", lut)], [gained], snr_shift=snr_shift)
    b.custom("SignalFilterBankLog", [gained], [logs], input_correction_bits=correction, output_scale=scale)
    b.inputs([energy, bits, noise])
    b.outputs([sums, root, gained, logs])
    return b.build()


def feature_samples(bins: int, channels: int, n: int = 6) -> list[list[np.ndarray]]:
    out = []
    for k in range(n):
        top = [2**32 - 1, 2**20, 2**31, 255, 2**26, 1][k % 6]
        energy = RNG.integers(0, top, bins, endpoint=True, dtype=np.uint64).astype(np.uint32)
        noise = (RNG.integers(0, 2**32, channels, dtype=np.uint64) >> RNG.integers(0, 32, channels, dtype=np.uint64)).astype(np.uint32)
        noise[:3] = [0, 1, 2]
        out.append([energy, np.array(k % 8, np.int32), noise])
    return out


@pytest.mark.parametrize("bins,channels,options", [
    (257, 40, {}), (33, 6, dict(snr_shift=0, scale=2**20, correction=0)),
    (65, 10, dict(snr_shift=20, scale=1000, correction=12))])
def test_features(bins, channels, options, tmp_path):
    check(features_model(bins, channels, **options), feature_samples(bins, channels), tmp_path)


def test_sanitized(tmp_path):
    """ASan/UBSan over every operator, the extreme inputs included (-32768 frames, 2^32 - 1 energies)."""
    check(spectrum_model(480, 512), audio_samples(480)[:3], tmp_path / "spectrum", sanitize=True)
    check(features_model(257, 40), feature_samples(257, 40, 3), tmp_path / "features", sanitize=True)
    check(subtraction_model(12, clamping=True), root_samples(12, 8), tmp_path / "subtraction", sanitize=True)
    check(delay_model((3, 4), 9), delay_samples((3, 4)), tmp_path / "delay", sanitize=True)
    check(framer_model((2, 8), 6, 4, True), delay_samples((2, 8)), tmp_path / "framer", sanitize=True)
    check(stacker_model(4, 2, 0, 1), delay_samples((4,)), tmp_path / "stacker", sanitize=True)  # always full
    check(overlap_add_model((2, 3, 8), 4, "int16"), delay_samples((2, 3, 8)), tmp_path / "overlap_add",
          sanitize=True)
    check(irfft_model(64, 2), spectra(64, 2), tmp_path / "irfft", sanitize=True)


def test_kernels_cross_compile_for_cortex_m4(tmp_path):
    subprocess.run(["arm-none-eabi-gcc", "-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic", "-O2",
                    "-mcpu=cortex-m4", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv4-sp-d16",
                    f"-I{RUNTIME_C / 'include'}", "-c", str(RUNTIME_C / "src" / "mc_signal.c"),
                    "-o", str(tmp_path / "k.o")], check=True, capture_output=True, text=True)


def _refused(model: bytes, tmp_path, match: str) -> None:
    path = tmp_path / "bad.tflite"
    path.write_bytes(model)
    with pytest.raises(MicrocError, match=match):
        generate(load_model(path), "bad")


def _one(op: str, inputs, outputs, **options) -> bytes:
    """A model of one custom operator; inputs are (name, shape, dtype) or constant arrays."""
    b = ModelBuilder()
    ins = [b.const(f"c{i}", t) if isinstance(t, np.ndarray) else b.tensor(*t) for i, t in enumerate(inputs)]
    outs = [b.tensor(*t) for t in outputs]
    b.custom(op, ins, outs, **options)
    b.inputs([i for i, t in zip(ins, inputs) if not isinstance(t, np.ndarray)])
    b.outputs(outs)
    return b.build()


@pytest.mark.parametrize("model,match", [
    (_one("SignalRfft", [("x", (48,), "int16")], [("y", (50,), "int16")], T=7, fft_length=48),
     "fft_length 48 is not a power of two"),
    (_one("SignalRfft", [("x", (40,), "int16")], [("y", (34,), "int16")], T=7, fft_length=32),
     "do not fit fft_length 32"),
    (_one("SignalRfft", [("x", (32,), "int32")], [("y", (34,), "int32")], T=2, fft_length=32),
     "only the int16 RFFT"),
    (_one("SignalWindow", [("x", (10,), "int16"), np.ones(4, np.int16)], [("y", (10,), "int16")], shift=1),
     "does not tile"),
    (_one("SignalWindow", [("x", (8,), "int16"), np.ones(4, np.int16)], [("y", (8,), "int16")], shift=40),
     r"shift=40 is missing or outside \[0, 31\]"),
    (_one("SignalEnergy", [("x", (20,), "int16")], [("y", (10,), "uint32")], start_index=2, end_index=11),
     "end_index=11"),
    (_one("SignalFilterBank", [("x", (8,), "uint32"), np.ones(4, np.int16), np.ones(4, np.int16),
                               np.array([0, 6], np.int16), np.array([0, 0], np.int16), np.array([4, 4], np.int16)],
          [("y", (1,), "uint64")], num_channels=1), "reads outside the input"),
    (_one("SignalPCAN", [("x", (4,), "uint32"), ("n", (4,), "uint32"), np.ones(100, np.int16)],
          [("y", (4,), "uint32")], snr_shift=6), "fewer than the 125"),
    (_one("SignalFilterBankLog", [("x", (4,), "uint32")], [("y", (4,), "int32")],
          input_correction_bits=3, output_scale=64), "output 0 'y' is int32, expected int16"),
])
def test_refusals(model, match, tmp_path):
    _refused(model, tmp_path, match)


# ---- SignalFilterBankSpectralSubtraction: state kept between invokes ----

SUBTRACTION = dict(alternate_one_minus_smoothing=15401, alternate_smoothing=983, clamping=False,
                   min_signal_remaining=819, one_minus_smoothing=15975, smoothing=409, smoothing_bits=10,
                   spectral_subtraction_bits=14)  # the micro_speech front end's


def subtraction_model(channels: int, **options) -> bytes:
    """The features' half of the micro_speech front end: the PCAN gain comes from the noise estimate."""
    b = ModelBuilder()
    x = b.tensor("root", (channels,), "uint32")
    y = b.tensor("subtracted", (channels,), "uint32")
    noise = b.tensor("noise", (channels,), "uint32")
    gained = b.tensor("gained", (channels,), "uint32")
    lut = RNG.integers(-32768, 32767, 125, endpoint=True).astype(np.int16)
    b.custom("SignalFilterBankSpectralSubtraction", [x], [y, noise], num_channels=channels,
             **{**SUBTRACTION, **options})
    b.custom("SignalPCAN", [y, noise, b.const("lut", lut)], [gained], snr_shift=6)
    b.inputs([x])
    b.outputs([y, noise, gained])
    return b.build()


def root_samples(channels: int, n: int) -> list[list[np.ndarray]]:
    """Loud, then quiet frames (the estimate above the signal: the clamping case), then extremes."""
    tops = [2**16, 2**20, 2**12, 2**4, 2**22 - 1, 2**32 - 1, 0]
    return [[RNG.integers(0, tops[k % len(tops)], channels, endpoint=True, dtype=np.uint64).astype(np.uint32)]
            for k in range(n)]


@pytest.mark.parametrize("options", [{}, dict(clamping=True), dict(smoothing_bits=0, spectral_subtraction_bits=31,
                                                                  smoothing=2**20, one_minus_smoothing=2**31 - 1)])
def test_spectral_subtraction_in_sequence(options, tmp_path):
    check(subtraction_model(12, **options), root_samples(12, 14), tmp_path)


# ---- the builtins' int32 and uint32 paths the front ends use around the signal operators ----

def int32_builtins_model() -> bytes:
    """ADD (TFLM's int32 ADD ignores its fused activation), MUL and DIV (they clamp to it), MAXIMUM,
    MINIMUM, broadcasting; STRIDED_SLICE, CONCATENATION; CAST to and from uint32."""
    b = ModelBuilder()
    a = b.tensor("a", (3, 8), "int32")
    s = b.tensor("s", (8,), "int32")
    e = b.tensor("e", (10,), "uint32")
    outs = []

    def out(name, shape, dtype="int32"):
        outs.append(b.tensor(name, shape, dtype))
        return outs[-1]

    b.op("ADD", [a, s], [out("add", (3, 8))], activation="RELU")
    b.op("MUL", [a, s], [out("mul", (3, 8))], activation="RELU")
    b.op("MUL", [a, b.const("k", np.array([-3], np.int32))], [out("mul_k", (3, 8))])
    b.op("DIV", [a, b.const("d", np.array([7, -2, 1, -1, 3, 100, -9, 2], np.int32))], [out("div", (3, 8))])
    b.op("DIV", [a, b.const("d2", np.array(5, np.int32))], [out("div_n1", (3, 8))], activation="RELU_N1_TO_1")
    b.op("MAXIMUM", [a, s], [out("max", (3, 8))])
    b.op("MINIMUM", [s, a], [out("min", (3, 8))])
    b.op("STRIDED_SLICE", [a, *(b.const(f"ss{i}", np.array(v, np.int32)) for i, v in
                                enumerate(([0, 1], [3, 7], [2, 2])))], [out("slice", (2, 3))])
    b.op("CONCATENATION", [b.const("zeros", np.zeros(5, np.int32)), s], [out("concat", (13,))], axis=0)
    b.op("CAST", [e], [out("e_s32", (10,))], in_type="uint32", out_type="int32")
    b.op("CAST", [s], [out("s_u32", (8,), "uint32")], in_type="int32", out_type="uint32")
    b.op("CAST", [e], [out("e_s8", (10,), "int8")], in_type="uint32", out_type="int8")
    b.inputs([a, s, e])
    b.outputs(outs)
    return b.build()


def int32_samples(n: int = 4) -> list[list[np.ndarray]]:
    out = []
    for k in range(n):
        # large values, or large products; sums and products stay inside int32 (TFLM's overflow is
        # undefined: microc wraps)
        a_top, s_top = (2**30, 2) if k % 2 == 0 else (2**15, 2**15)
        a = RNG.integers(-a_top, a_top, (3, 8)).astype(np.int32)
        s = RNG.integers(-s_top, s_top, 8).astype(np.int32)
        e = RNG.integers(0, 2**32, 10, dtype=np.uint64).astype(np.uint32)
        out.append([a, s, e])
    return out


def test_int32_builtins(tmp_path):
    check(int32_builtins_model(), int32_samples(), tmp_path)
    check(int32_builtins_model(), int32_samples(1), tmp_path / "sanitized", sanitize=True)


def test_audio_front_end_on_the_cortex_m4(tmp_path):
    """micro_speech's audio front end (every signal operator and the int32 builtins) as firmware on the
    emulated M4: 5 random frames, then all -32768 and all 32767, in sequence after a RESET, the noise
    estimate (40 uint32) carried, each output bit-exact with TFLM run the same way. (On host:
    tests/test_shared_models.py.)"""
    from shared_models import built_for_qemu
    from microc.runner.session import run_project
    project, _ = built_for_qemu("tflm/audio_preprocessor_int8", "mps2-an386", tmp_path / "proj")
    run = run_project(project, samples=5, seed=4, verify=True)
    assert run.match is True and run.comparison.max_abs_diff == 0 and len(run.samples) == 7
    assert run.metadata["state_bytes"] == 160
    assert all(s.instructions and s.instructions > 0 for s in run.samples)


# ---- SignalDelay: the delayed samples kept between invokes ----

def delay_model(shape, delay: int) -> bytes:
    b = ModelBuilder()
    x, y = b.tensor("x", shape, "int16"), b.tensor("y", shape, "int16")
    b.custom("SignalDelay", [x], [y], delay_length=delay)
    b.inputs([x])
    b.outputs([y])
    return b.build()


def delay_samples(shape, n: int = 6) -> list[list[np.ndarray]]:
    return [[RNG.integers(-32768, 32767, shape, endpoint=True).astype(np.int16)] for _ in range(n)]


@pytest.mark.parametrize("shape,delay", [((2, 5), 3), ((6,), 6), ((3, 4), 9), ((1, 2, 7), 1)])
def test_delay_in_sequence(shape, delay, tmp_path):
    """Delays shorter than, equal to and longer than a frame, over several rows, 6 invocations."""
    check(delay_model(shape, delay), delay_samples(shape), tmp_path)


# ---- SignalFramer: the samples of an unfinished frame kept between invokes ----

def framer_model(shape, size: int, step: int, prefill: bool) -> bytes:
    b = ModelBuilder()
    frames = shape[-1] // step
    x = b.tensor("x", shape, "int16")
    y, valid = b.tensor("y", tuple(shape[:-1]) + (frames, size), "int16"), b.tensor("valid", (), "bool")
    b.custom("SignalFramer", [x], [y, valid], frame_size=size, frame_step=step, prefill=prefill)
    b.inputs([x])
    b.outputs([y, valid])
    return b.build()


@pytest.mark.parametrize("shape,size,step,prefill", [
    ((2, 8), 6, 4, True), ((12,), 5, 3, True), ((3, 4), 4, 4, False), ((2, 6), 7, 2, False), ((6,), 3, 2, False)])
def test_framer_in_sequence(shape, size, step, prefill, tmp_path):
    """Frames overlapping or not, prefilled or not, 6 invocations."""
    check_valid_frames(framer_model(shape, size, step, prefill), delay_samples(shape), tmp_path)


def test_exported_again_runs_the_same_on_tflm(tmp_path):
    """The exporter writes the custom operators back (without the state input the frontend added), so a
    mismatch's first-divergent-layer search can run their intermediate tensors on TFLM."""
    from microc.export.tflite import export_tflite
    for k, (model, samples) in enumerate([(spectrum_model(32, 32), audio_samples(32)[:3]),
                                          (subtraction_model(6), root_samples(6, 5)),
                                          (framer_model((2, 8), 6, 4, True), delay_samples((2, 8), 3))]):
        path = tmp_path / f"m{k}.tflite"
        path.write_bytes(model)
        again = export_tflite(load_model(path))
        for got, want in zip(run_tflm_sequence(again, samples), run_tflm_sequence(model, samples)):
            assert all(np.array_equal(g, w) for g, w in zip(got, want))


# ---- SignalStacker: the frames of the context kept between invokes ----

def stacker_model(channels: int, left: int, right: int, step: int) -> bytes:
    b = ModelBuilder()
    x = b.tensor("x", (channels,), "int16")
    y, valid = b.tensor("y", (channels * (left + 1 + right),), "int16"), b.tensor("valid", (), "bool")
    b.custom("SignalStacker", [x], [y, valid], num_channels=channels, stacker_left_context=left,
             stacker_right_context=right, stacker_step=step)
    b.inputs([x])
    b.outputs([y, valid])
    return b.build()


def check_valid_frames(model: bytes, samples, tmp_path) -> None:
    """TFLM leaves an output it cannot fill unwritten (and the flag false): such invocations compare the
    flag alone."""
    path = tmp_path / "m.tflite"
    path.write_bytes(model)
    want = run_tflm_sequence(model, samples)
    got = compile_and_run(path, samples, tmp_path / "build")
    assert [bool(w[1]) for w in want] == [bool(g[1]) for g in got]
    assert any(bool(w[1]) for w in want)
    for g, w in zip(got, want):
        if w[1]:
            assert np.array_equal(g[0], w[0])


@pytest.mark.parametrize("channels,left,right,step", [(4, 2, 1, 1), (3, 0, 3, 2), (5, 3, 0, 4), (2, 1, 1, 3)])
def test_stacker_in_sequence(channels, left, right, step, tmp_path):
    """Left and right context, steps of one frame to all of them, 9 invocations."""
    check_valid_frames(stacker_model(channels, left, right, step), delay_samples((channels,), 9), tmp_path)


# ---- SignalOverlapAdd: the partial sums kept between invokes ----

def overlap_add_model(shape, step: int, dtype: str) -> bytes:
    b = ModelBuilder()
    x = b.tensor("x", shape, dtype)
    y = b.tensor("y", tuple(shape[:-2]) + (shape[-2] * step,), dtype)
    b.custom("SignalOverlapAdd", [x], [y], T=7 if dtype == "int16" else 0, frame_step=step)
    b.inputs([x])
    b.outputs([y])
    return b.build()


@pytest.mark.parametrize("shape,step,dtype", [((2, 3, 8), 4, "int16"), ((1, 6), 2, "int16"), ((3, 2, 5), 5, "int16"),
                                              ((2, 3, 8), 3, "float32")])
def test_overlap_add_in_sequence(shape, step, dtype, tmp_path):
    """Overlapping frames (int16 sums saturating), none, several rows, 6 invocations; float32 exactly
    (the same additions in the same order)."""
    samples = delay_samples(shape) if dtype == "int16" else \
        [[RNG.standard_normal(shape).astype(np.float32)] for _ in range(6)]
    check(overlap_add_model(shape, step, dtype), samples, tmp_path)


def test_corrupt_custom_options_are_one_line_errors(tmp_path):
    """Custom options the flexbuffers reader asserts on (a corrupt type byte) are a malformed file, not a
    traceback."""
    model = _one("SignalWindow", [("x", (8,), "int16"), np.ones(4, np.int16)], [("y", (8,), "int16")], shift=12)
    good = bytes(flexbuffers.Dumps({"shift": 12}))
    assert model.count(good) == 1
    path = tmp_path / "bad.tflite"
    path.write_bytes(model.replace(good, b"shift\x00\x01\x07\x01\x01A\x0c\x04\x02\x11\x01"))
    with pytest.raises(MicrocError, match=r"bad.tflite is malformed or truncated \(ValueError: custom options"):
        load_model(path)


# ---- SignalIrfft: kiss_fftri ----

def irfft_model(fft_length: int, frames: int) -> bytes:
    bins = fft_length // 2 + 1
    b = ModelBuilder()
    x, y = b.tensor("spectrum", (frames, 2 * bins), "int16"), b.tensor("y", (frames, fft_length), "int16")
    b.custom("SignalIrfft", [x], [y], T=7, fft_length=fft_length)
    b.inputs([x])
    b.outputs([y])
    return b.build()


def spectra(fft_length: int, frames: int) -> list[list[np.ndarray]]:
    """Random, extreme (-32768 everywhere) and small values."""
    shape = (frames, 2 * (fft_length // 2 + 1))
    return [[np.full(shape, -32768, np.int16)], [RNG.integers(-4, 5, shape).astype(np.int16)],
            *([RNG.integers(-32768, 32767, shape, endpoint=True).astype(np.int16)] for _ in range(3))]


@pytest.mark.parametrize("fft_length,frames", [(512, 1), (16, 3), (64, 2)])
def test_irfft(fft_length, frames, tmp_path):
    check(irfft_model(fft_length, frames), spectra(fft_length, frames), tmp_path)
