"""Resource variables (VAR_HANDLE, READ_VARIABLE, ASSIGN_VARIABLE, CALL_ONCE): microc's C against TFLM,
several invocations in sequence with the variables carried on both sides, and across a reset."""
import ctypes
import json
import shutil

import numpy as np
import pytest

import harness
from test_ops_recurrent import check_sequence
from tflite_builder import ModelBuilder
from microc.codegen.generate import generate
from microc.errors import MicrocError
from microc.frontends import load_model

Q = dict(scale=0.25, zero_point=-5)  # the int8 variables' quantization: a non-zero fill on reset


def _io(b, name, shape, dtype):
    return b.tensor(name, shape, dtype, **(Q if dtype == "int8" else {}))


def _init(b, assigns, dtype):
    """CALL_ONCE's init subgraph: each variable (shared_name, values[, container]) assigned a constant;
    returns the subgraph's index."""
    k = b.add_subgraph("init")
    for shared_name, values, *container in assigns:
        h = b.tensor(f"{shared_name}_h", (), "resource")
        c = b.const(f"{shared_name}_init", np.asarray(values, dtype), **(Q if dtype == "int8" else {}))
        b.op("VAR_HANDLE", [], [h], shared_name=shared_name, container=(container or [None])[0])
        b.op("ASSIGN_VARIABLE", [h, c], [])
    b.select(0)
    return k


def counter(dtype, shape=(1, 5), call_once=True):
    """state += x each invoke, the new state the output; CALL_ONCE sets the state's first value."""
    b = ModelBuilder()
    x, h, v, s = (_io(b, n, shape, dtype) if n != "h" else b.tensor(n, (), "resource") for n in "xhvs")
    if call_once:
        init = [[10, -20, 30, -40, 50][:shape[-1]]] * shape[0]
        b.op("CALL_ONCE", [], [], init_subgraph_index=2)  # a second subgraph in between: not the init one
    b.op("VAR_HANDLE", [], [h], shared_name="acc")
    b.op("READ_VARIABLE", [h], [v])
    b.op("ADD", [v, x], [s])
    b.op("ASSIGN_VARIABLE", [h, s], [])
    b.inputs([x])
    b.outputs([s])
    if call_once:
        b.add_subgraph("unused")
        b.select(0)
        _init(b, [("acc", init)], dtype)
    return b.build()


def two_variables(dtype):
    """Two variables: a running sum (read before its assignment) and the previous input (assigned first,
    then read back in the same invoke: the output is the new input), both set by one CALL_ONCE."""
    b = ModelBuilder()
    shape = (2, 3)
    x, v, s, p, r = (_io(b, n, shape, dtype) for n in ("x", "v", "s", "p", "r"))
    h1, h2 = b.tensor("h1", (), "resource"), b.tensor("h2", (), "resource")
    b.op("CALL_ONCE", [], [], init_subgraph_index=1)
    # with containers: TFLM's FindId compares them (a handle without one after one with one crashes it)
    b.op("VAR_HANDLE", [], [h1], container="c", shared_name="sum")
    b.op("VAR_HANDLE", [], [h2], container="c", shared_name="last")
    b.op("READ_VARIABLE", [h2], [p])          # the previous input, before this invoke assigns it
    b.op("READ_VARIABLE", [h1], [v])
    b.op("ADD", [v, x], [s])
    b.op("ASSIGN_VARIABLE", [h1, s], [])
    b.op("ASSIGN_VARIABLE", [h2, x], [])
    h3 = b.tensor("h3", (), "resource")       # a second handle of the same variable
    b.op("VAR_HANDLE", [], [h3], container="c", shared_name="last")
    b.op("READ_VARIABLE", [h3], [r])          # after the assignment: this invoke's input
    y = _io(b, "y", shape, dtype)
    b.op("SUB", [p, r], [y])
    b.inputs([x])
    b.outputs([s, y, p])
    _init(b, [("sum", [[1, 2, 3], [-4, -5, -6]], "c"), ("last", [[7, 8, 9], [10, 11, 12]], "c")], dtype)
    return b.build()


def samples(shape, dtype, n, seed=0):
    rng = np.random.default_rng(seed)
    if dtype == "float32":
        return [[rng.normal(0, 3, shape).astype(np.float32)] for _ in range(n)]
    # small steps, then the extremes: the sum saturates at 127 and comes back down
    steps = [[rng.integers(-20, 21, shape).astype(np.int8)] for _ in range(n - 3)]
    return steps + [[np.full(shape, v, np.int8)] for v in (127, 127, -128)]


@pytest.mark.parametrize("dtype", ["int8", "float32"])
def test_counter_with_call_once_in_sequence(dtype, tmp_path):
    check_sequence(counter(dtype), samples((1, 5), dtype, 8), tmp_path)


@pytest.mark.parametrize("dtype", ["int8", "float32"])
def test_two_variables_read_before_and_after_their_assignment(dtype, tmp_path):
    check_sequence(two_variables(dtype), samples((2, 3), dtype, 7, seed=2), tmp_path)


def test_variables_sanitized_without_call_once(tmp_path):
    """Under ASan/UBSan; without CALL_ONCE the state starts at its zero-point fill, as TFLM's."""
    check_sequence(counter("int8", (2, 4), call_once=False), samples((2, 4), "int8", 6, seed=4), tmp_path,
                   sanitized=True)


def test_state_region_and_reset_as_tflm(tmp_path):
    """The variable and CALL_ONCE's flag are in the persistent region, not the arena; a reset fills the
    variable with its zero point and does not run CALL_ONCE again, exactly as TFLM's Reset()."""
    from tflite_micro.python.tflite_micro import runtime
    model = counter("int8")
    (tmp_path / "m.tflite").write_bytes(model)
    gen = generate(load_model(tmp_path / "m.tflite"), "m")
    assert gen.metadata["state_bytes"] == 16 + 16  # 5 bytes of state and 1 flag byte, each aligned
    assert gen.plan.arena_bytes == 2 * 16 and gen.plan.in_place  # x and the read value, the sum over it
    lib = harness.build_shared(gen, tmp_path)
    xs = samples((1, 5), "int8", 6, seed=7)
    got = [harness.run_shared(lib, gen, s)[0] for s in xs[:3]]
    ctypes.CDLL(str(lib)).m_reset()
    got += [harness.run_shared(lib, gen, s)[0] for s in xs[3:]]
    interp = runtime.Interpreter.from_bytes(model, arena_size=1 << 20)
    want = []
    for k, (x,) in enumerate(xs):
        if k == 3:
            interp.reset()
        interp.set_input(x, 0)
        interp.invoke()
        want.append(np.array(interp.get_output(0)))
    for k, (g, w) in enumerate(zip(got, want)):
        np.testing.assert_array_equal(g, w, err_msg=f"invocation {k}")
    # after the reset the sum starts from the fill (-5), not from CALL_ONCE's constants
    np.testing.assert_array_equal(got[3], np.clip(xs[3][0].astype(int) - 5 + 5, -128, 127))


def _never_assigned(b):
    h, v = b.tensor("h", (), "resource"), _io(b, "v", (1, 4), "int8")
    b.op("VAR_HANDLE", [], [h], shared_name="ghost")
    b.op("READ_VARIABLE", [h], [v])
    return [], [v]


def _dtype_change(b):
    h, x = b.tensor("h", (), "resource"), _io(b, "x", (1, 4), "int8")
    w = b.tensor("w", (1, 4), "int16", scale=0.25)
    b.op("CALL_ONCE", [], [], init_subgraph_index=1)
    b.op("VAR_HANDLE", [], [h], shared_name="acc")
    b.op("CAST", [x], [w], in_type="int8", out_type="int16")
    b.op("ASSIGN_VARIABLE", [h, w], [])
    _init(b, [("acc", [[1, 2, 3, 4]])], "int8")
    return [x], [x]


def _init_computes(b):
    h, x = b.tensor("h", (), "resource"), _io(b, "x", (1, 4), "int8")
    b.op("CALL_ONCE", [], [], init_subgraph_index=1)
    b.op("VAR_HANDLE", [], [h], shared_name="acc")
    b.op("ASSIGN_VARIABLE", [h, x], [])
    b.add_subgraph("init")
    h1, y = b.tensor("h", (), "resource"), _io(b, "y", (1, 4), "int8")
    c = b.const("c", np.ones((1, 4), np.int8), **Q)
    b.op("VAR_HANDLE", [], [h1], shared_name="acc")
    b.op("ADD", [c, c], [y])
    b.op("ASSIGN_VARIABLE", [h1, y], [])
    b.select(0)
    return [x], [x]


def _null_container_first(b):
    h1, h2, x = b.tensor("h1", (), "resource"), b.tensor("h2", (), "resource"), _io(b, "x", (1, 4), "int8")
    b.op("VAR_HANDLE", [], [h1], shared_name="a")
    b.op("VAR_HANDLE", [], [h2], container="c", shared_name="b")
    b.op("ASSIGN_VARIABLE", [h1, x], [])
    b.op("ASSIGN_VARIABLE", [h2, x], [])
    return [x], [x]


@pytest.mark.parametrize("build,message", [
    (_never_assigned, "READ_VARIABLE (operator 1, 'v'): variable 'ghost' is read but never assigned"),
    (_dtype_change, "ASSIGN_VARIABLE (operator 1 of subgraph 1, 'op1'): tensor 'acc_init' is int8 [1, 4] but "
                    "variable 'acc' is int16 [1, 4]"),
    (_null_container_first, "VAR_HANDLE (operator 1, 'h2'): a container after a variable without one"),
    (_init_computes, "CALL_ONCE (operator 0, 'op0'): its init subgraph 1 runs ADD (operator 1 of subgraph 1"),
])
def test_unsupported_variables_are_one_line_errors(build, message, tmp_path):
    b = ModelBuilder()
    ins, outs = build(b)
    b.inputs(ins)
    b.outputs(outs)
    (tmp_path / "m.tflite").write_bytes(b.build())
    with pytest.raises(MicrocError) as e:
        generate(load_model(tmp_path / "m.tflite"), "m")
    assert message in str(e.value) and "\n" not in str(e.value), str(e.value)


def test_counter_on_the_m4_under_qemu(tmp_path):
    """The runner protocol end to end: RESET, then the samples in sequence, against TFLM run the same way."""
    from microc import api
    for tool in ("arm-none-eabi-gcc", "qemu-system-arm"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is not installed (scripts/setup.sh installs it)")
    (tmp_path / "counter.tflite").write_bytes(counter("int8"))
    report = api.deploy(tmp_path / "counter.tflite", "mps2-an386", tmp_path / "project", samples=6, verify=True)
    assert report.match is True and len(report.samples) == 8  # 6 random, then all 127 and all -128
    assert report.metadata["state_bytes"] == 32


def test_first_divergent_layer_with_variables(tmp_path):
    """The layer-by-layer search runs the IR on TFLM with its variables written back (microc/export/
    variables.py) and runs the layers that only assign: CALL_ONCE's constant edited by hand, the first
    layer that differs is the READ_VARIABLE after it (CALL_ONCE writes no arena output to compare)."""
    from test_first_mismatch import alter_weight, deploy, microc
    (tmp_path / "counter.tflite").write_bytes(counter("int8"))
    project = tmp_path / "project"
    clean = deploy(tmp_path / "counter.tflite", "host", project)
    assert clean["match"] is True and clean["first_mismatch"] is None
    assert alter_weight(project, 0, "77") == "10"
    assert microc("build", project).returncode == 0
    res = microc("run", project, "--verify", "--json")
    m = json.loads(res.stdout)["first_mismatch"]
    assert res.returncode == 1 and (m["layer"], m["op"], m["tensor"]) == (1, "READ_VARIABLE", "v")
    assert (m["differing"], m["first_index"], m["max_abs_diff"]) == (1, 0, 67)
