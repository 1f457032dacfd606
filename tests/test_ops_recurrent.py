"""SVDF (and its state kept between invokes): microc's C against TFLM, several invocations in sequence
with the state carried on both sides, int8 bit-exact, float32 within the tolerance."""
import re
import subprocess

import numpy as np
import pytest

import harness
from microc import RUNTIME_C
from test_ops_pool import assert_matches, models_of
from tflite_builder import ModelBuilder


def run_tflm_sequence(model: bytes, samples) -> list[list[np.ndarray]]:
    """Every sample on one TFLM interpreter, in order: its variable tensors carry over as on a device."""
    from tflite_micro.python.tflite_micro import runtime
    interp = runtime.Interpreter.from_bytes(bytes(model), arena_size=8 << 20)
    outs = []
    for sample in samples:
        for i, x in enumerate(sample):
            interp.set_input(np.ascontiguousarray(x), i)
        interp.invoke()
        outs.append(_outputs(interp, model))
    return outs


def _outputs(interp, model: bytes) -> list[np.ndarray]:
    import tflite
    n = tflite.Model.GetRootAs(model, 0).Subgraphs(0).OutputsLength()
    return [np.array(interp.get_output(i), copy=True) for i in range(n)]


def check_sequence(model: bytes, samples, tmp_path, sanitized: bool = False):
    """The samples in order on TFLM and on microc's C (in one process: the state carries over)."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    path = tmp_path / "model.tflite"
    path.write_bytes(model)
    run = harness.compile_and_run_sanitized if sanitized else harness.compile_and_run
    got = run(path, samples, tmp_path / "build")
    for k, (want, outs) in enumerate(zip(run_tflm_sequence(model, samples), got)):
        for i, (ref, out) in enumerate(zip(want, outs)):
            assert_matches(out, ref, f"output {i}, invocation {k}")


def samples_of(shapes, dtype, n, seed):
    rng = np.random.default_rng(seed)
    if dtype == "float32":
        return [[rng.normal(0, 1, s).astype(np.float32) for s in shapes] for _ in range(n)]
    extremes = [[np.full(s, v, np.int8) for s in shapes] for v in (127, -128)]  # the state saturates
    return [[rng.integers(-128, 128, s, dtype=np.int8) for s in shapes] for _ in range(n)] + extremes


# ---- SVDF ----

def add_svdf(b, dtype, tag, batches, inputs, units, rank, memory, state_dtype="int8", activation="NONE",
             state_zp=-7, seed=0):
    """One SVDF with weights from `seed`; int8 scales chosen so the state and output use their range."""
    rng = np.random.default_rng(seed)
    filters = units * rank
    q = dtype != "float32"
    if not q:
        wf = b.const(f"wf{tag}", rng.normal(0, 0.3, (filters, inputs)).astype(np.float32))
        wt = b.const(f"wt{tag}", rng.normal(0, 0.3, (filters, memory)).astype(np.float32))
        bias = b.const(f"b{tag}", rng.normal(0, 0.5, units).astype(np.float32))
        x = b.tensor(f"x{tag}", (batches, inputs), dtype)
        state = b.tensor(f"s{tag}", (batches, filters * memory), dtype, variable=True)
        y = b.tensor(f"y{tag}", (batches, units), dtype)
    else:
        # Scales from the values' spread (uniform int8 data: std 74), so neither the state nor the output
        # saturates: the state's std a third of its range, the output's likewise.
        qmax = 127 if state_dtype == "int8" else 32767
        in_s, wf_s, wt_s = 0.05, 0.01, (0.01 if state_dtype == "int8" else 0.0005)
        wt_std = 74 if state_dtype == "int8" else 11500
        state_s = in_s * wf_s * 74 * 74 * np.sqrt(inputs) * 3 / qmax
        out_s = state_s * wt_s * wt_std * qmax / 3 * np.sqrt(memory * rank) * 3 / 127
        wf = b.const(f"wf{tag}", rng.integers(-127, 128, (filters, inputs), dtype=np.int8), scale=wf_s)
        wt_data = rng.integers(-127, 128, (filters, memory)).astype(state_dtype) if state_dtype == "int8" \
            else rng.integers(-20000, 20001, (filters, memory)).astype(np.int16)
        wt = b.const(f"wt{tag}", wt_data, scale=wt_s)
        bias = b.const(f"b{tag}", rng.integers(-3000, 3000, units, dtype=np.int32),
                       scale=float(np.float32(state_s) * np.float32(wt_s)))
        x = b.tensor(f"x{tag}", (batches, inputs), dtype, scale=in_s, zero_point=3)
        state = b.tensor(f"s{tag}", (batches, filters * memory), state_dtype, scale=state_s,
                         zero_point=state_zp if state_dtype == "int8" else 0, variable=True)
        y = b.tensor(f"y{tag}", (batches, units), dtype, scale=out_s, zero_point=-5)
    b.op("SVDF", [x, wf, wt, bias, state], [y], rank=rank, activation=activation)
    return [x], [(batches, inputs)], y


SVDF_CASES = [  # batches, inputs, units, rank, memory
    (1, 12, 4, 1, 5),
    (1, 7, 3, 2, 4),   # rank 2: each unit sums two filters
    (2, 5, 4, 3, 3),   # batches: one state row each
    (1, 9, 5, 1, 1),   # memory 1: the state is the last projection alone
]


@pytest.mark.parametrize("dtype", ["int8", "float32"])
def test_svdf_sequence(dtype, tmp_path):
    """Every case in one model: int8 with int8 and with int16 state; float32, also with a fused RELU."""
    if dtype == "int8":
        cases = [(*c, sd) for sd in ("int8", "int16") for c in SVDF_CASES]
    else:
        cases = [*SVDF_CASES, (1, 6, 4, 2, 3, None, "RELU")]
    model, feeds = models_of(dtype, cases, add_svdf)
    check_sequence(model, samples_of(feeds, dtype, 6, seed=3), tmp_path)


def test_svdf_sanitized(tmp_path):
    """int8 and int16 state under ASan/UBSan, several invocations in one process."""
    b = ModelBuilder()
    ins, outs, feeds = [], [], []
    for tag, state_dtype in (("a", "int8"), ("b", "int16")):
        i, f, o = add_svdf(b, "int8", tag, 2, 6, 3, 2, 4, state_dtype)
        ins, outs, feeds = ins + i, outs + [o], feeds + f
    b.inputs(ins)
    b.outputs(outs)
    check_sequence(b.build(), samples_of(feeds, "int8", 5, seed=9), tmp_path, sanitized=True)


def test_svdf_state_is_outside_the_arena_and_reset(tmp_path):
    """The state has its own region (the arena does not grow for it), and <name>_reset() brings the
    model back to its first invocation's outputs."""
    import ctypes
    from microc.codegen.generate import generate
    from microc.frontends import load_model
    b = ModelBuilder()
    x, feeds, y = add_svdf(b, "int8", "", 1, 8, 4, 1, 6)
    b.inputs(x)
    b.outputs([y])
    path = tmp_path / "m.tflite"
    path.write_bytes(b.build())
    gen = generate(load_model(path), "m")
    # 24 state bytes, aligned; the arena holds the input, the output and the 4 filters' int32
    # accumulators (16 bytes each, aligned), nothing for the state
    assert gen.metadata["state_bytes"] == 32 and gen.plan.arena_bytes == 16 + 16 + 16
    lib = harness.build_shared(gen, tmp_path)
    sample = samples_of(feeds, "int8", 1, seed=1)[0]
    first = [harness.run_shared(lib, gen, sample)[0] for _ in range(3)]
    assert not np.array_equal(first[0], first[2])  # the state changed the answer
    ctypes.CDLL(str(lib)).m_reset()
    again = harness.run_shared(lib, gen, sample)[0]
    np.testing.assert_array_equal(again, first[0])
    want = run_tflm_sequence(b.build(), [sample] * 3)
    for got, ref in zip(first, want):
        np.testing.assert_array_equal(got, ref[0])


def test_svdf_refuses_a_missing_bias(tmp_path):
    from microc.codegen.generate import generate
    from microc.errors import UnsupportedOperator
    from microc.frontends import load_model
    b = ModelBuilder()
    x = b.tensor("x", (1, 4), "float32")
    wf = b.const("wf", np.ones((2, 4), np.float32))
    wt = b.const("wt", np.ones((2, 3), np.float32))
    s = b.tensor("s", (1, 6), "float32", variable=True)
    y = b.tensor("y", (1, 2), "float32")
    b.op("SVDF", [x, wf, wt, -1, s], [y], rank=1)
    b.inputs([x])
    b.outputs([y])
    (tmp_path / "m.tflite").write_bytes(b.build())
    with pytest.raises(UnsupportedOperator, match="without a bias"):
        generate(load_model(tmp_path / "m.tflite"), "m")


@pytest.mark.parametrize("src", ["mc_svdf.c", "mc_lstm.c"])
def test_recurrent_kernels_cross_compile_for_cortex_m4(src, tmp_path):
    subprocess.run(["arm-none-eabi-gcc", "-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic", "-O2",
                    "-mcpu=cortex-m4", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv4-sp-d16",
                    f"-I{RUNTIME_C / 'include'}", "-c", str(RUNTIME_C / "src" / src),
                    "-o", str(tmp_path / "k.o")], check=True, capture_output=True, text=True)


# ---- UNIDIRECTIONAL_SEQUENCE_LSTM ----

def add_lstm(b, dtype, tag, batches, steps, inputs, units, time_major=False, cell_clip=0.0, seed=0,
             peephole=False):
    """One LSTM (no peepholes, projection or layer norm, as TFLM takes); int8 with an int16 cell state
    of scale 2^-11, scales chosen so the gates' pre-activations span a few units."""
    rng = np.random.default_rng(seed)
    shape = (steps, batches, inputs) if time_major else (batches, steps, inputs)
    out_shape = (*shape[:2], units)
    q = dtype == "int8"
    in_s, w_s, h_s = 0.02, 0.004, 1 / 128
    ins = [None] * 24
    for k in range(1, 9):
        n = inputs if k <= 4 else units
        if q:
            ins[k] = b.const(f"w{k}{tag}", rng.integers(-127, 128, (units, n), dtype=np.int8), scale=w_s)
        else:
            ins[k] = b.const(f"w{k}{tag}", rng.normal(0, 0.4, (units, n)).astype(np.float32))
    for k in range(12, 16):
        if q:
            ins[k] = b.const(f"b{k}{tag}", rng.integers(-20000, 20000, units, dtype=np.int32),
                             scale=in_s * w_s)
        else:
            ins[k] = b.const(f"b{k}{tag}", rng.normal(0, 0.5, units).astype(np.float32))
    qx = dict(scale=in_s, zero_point=-4) if q else {}
    qh = dict(scale=h_s, zero_point=2) if q else {}
    if peephole:  # cell-to-input weights, which TFLM's kernel does not take
        ins[9] = b.const(f"p{tag}", np.ones(units, np.float32))
    ins[0] = b.tensor(f"x{tag}", shape, dtype, **qx)
    ins[18] = b.tensor(f"h{tag}", (batches, units), dtype, **qh, variable=True)
    ins[19] = b.tensor(f"c{tag}", (batches, units), "int16" if q else dtype,
                       **(dict(scale=2.0**-11, zero_point=0) if q else {}), variable=True)
    y = b.tensor(f"y{tag}", out_shape, dtype, **qh)
    b.op("UNIDIRECTIONAL_SEQUENCE_LSTM", [-1 if t is None else t for t in ins], [y],
         time_major=time_major, cell_clip=cell_clip)
    return [ins[0]], [shape], y


LSTM_CASES = [  # batches, steps, inputs, units
    (2, 3, 5, 4),  # several batches: time-major steps them together, batch-major one after the other
    (1, 1, 3, 6),  # one step
    (3, 4, 2, 3),
]


@pytest.mark.parametrize("dtype", ["int8", "float32"])
def test_lstm_sequence(dtype, tmp_path):
    """Every case in one model, batch-major and time-major, and a cell clip of 0.3 (it changes the int8
    outputs by up to 35 quanta against no clip)."""
    cases = [(*c, time_major) for time_major in (False, True) for c in LSTM_CASES]
    model, feeds = models_of(dtype, [*cases, (2, 4, 5, 4, False, 0.3)], add_lstm)
    check_sequence(model, samples_of(feeds, dtype, 4, seed=7), tmp_path)


def test_lstm_sanitized(tmp_path):
    model, feeds = models_of("int8", [(2, 3, 4, 5, False), (2, 2, 3, 4, True)], add_lstm)
    check_sequence(model, samples_of(feeds, "int8", 3, seed=4), tmp_path, sanitized=True)


# ---- the keyword models' SVDF layers, every layer's output over a sequence ----

@pytest.mark.parametrize("name", ["tflm/keyword_scrambled_8bit", "tflm/keyword_scrambled"])
def test_keyword_models_svdf_layers_match_tflm_in_sequence(name, tmp_path):
    """The shared keyword models between their int16 QUANTIZEs (7 SVDF with int8 or int16 state, 5
    FULLY_CONNECTED, SOFTMAX int8 -> int16), every layer's output a graph output, 6 invocations in
    sequence on microc's C and on TFLM: each SVDF's state carried on real shapes and scales. The
    weights are scrambled: nearly every layer's output saturates to -128/127 (the final one is
    0.5/0.5 for any input), so the per-operator tests above are the ones with unsaturated values."""
    from microc.export.tflite import export_tflite
    from microc.frontends import load_model
    from shared_models import shared_model
    graph = load_model(shared_model(name))
    assert [op.type for op in graph.ops[:2]] == ["QUANTIZE", "SVDF"] and graph.ops[-1].type == "QUANTIZE"
    graph.ops = graph.ops[1:-1]
    graph.inputs = [graph.ops[0].inputs[0]]
    graph.outputs = [op.outputs[0] for op in graph.ops]
    model = export_tflite(graph)
    rng = np.random.default_rng(1)
    samples = [[rng.integers(-128, 128, (1, 96), dtype=np.int8)] for _ in range(6)]
    check_sequence(model, samples, tmp_path)


def test_lstm_refuses_what_tflm_does_not_run(tmp_path):
    """Peepholes (and projection, layer norm) are refused with a one-line error naming them."""
    from microc.codegen.generate import generate
    from microc.errors import UnsupportedOperator
    from microc.frontends import load_model
    b = ModelBuilder()
    x, feeds, y = add_lstm(b, "float32", "", 1, 2, 3, 4, peephole=True)
    b.inputs(x)
    b.outputs([y])
    (tmp_path / "m.tflite").write_bytes(b.build())
    with pytest.raises(UnsupportedOperator, match=r"inputs \[9\] \(peepholes, projection or layer "):
        generate(load_model(tmp_path / "m.tflite"), "m")


@pytest.mark.parametrize("case,message", [
    ("state not variable", "input 's' is read before any operator writes it"),
    ("state as graph input", "graph input 's' is a variable tensor"),
    ("1-D feature weights", "input 1 'wf' must have rank 2"),
])
def test_malformed_stateful_models_are_one_line_errors(case, message, tmp_path):
    from microc.errors import ModelFormatError
    from microc.frontends import load_model
    b = ModelBuilder()
    x = b.tensor("x", (1, 4), "float32")
    wf = b.const("wf", np.ones((2, 4) if case != "1-D feature weights" else (8,), np.float32))
    wt = b.const("wt", np.ones((2, 3), np.float32))
    bias = b.const("b", np.ones(2, np.float32))
    s = b.tensor("s", (1, 6), "float32", variable=case != "state not variable")
    y = b.tensor("y", (1, 2), "float32")
    b.op("SVDF", [x, wf, wt, bias, s], [y], rank=1)
    b.inputs([x, s] if case == "state as graph input" else [x])
    b.outputs([y])
    (tmp_path / "m.tflite").write_bytes(b.build())
    with pytest.raises(ModelFormatError, match=re.escape(message)):
        load_model(tmp_path / "m.tflite")
