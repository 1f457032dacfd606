"""microc report: the HTML page decodes (every inline image is a PNG that PIL and matplotlib read) and its
numbers are the run's --json numbers; `--json` gives the same data; without a run it shows the static
parts and says no run was recorded."""
from __future__ import annotations

import base64
import html
import io
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from shared_models import shared_model


def microc(*args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "microc", *map(str, args)], capture_output=True, text=True,
                          timeout=900)


def n(v) -> str:
    return f"{v:,}"


def decoded_images(page: str) -> list:
    """Every inline image of the page, decoded by PIL and by matplotlib."""
    from matplotlib.image import imread
    from PIL import Image
    blobs = re.findall(r'<img alt="chart" src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)
    assert page.count("<img") == len(blobs)  # nothing that is not an inline PNG
    images = []
    for b in blobs:
        png = base64.b64decode(b, validate=True)
        assert png.startswith(b"\x89PNG\r\n\x1a\n")
        img = Image.open(io.BytesIO(png))
        img.load()
        assert img.width > 300 and img.height > 100
        assert imread(io.BytesIO(png), format="png").shape[:2] == (img.height, img.width)
        images.append(img)
    return images


def cells(page: str) -> list[str]:
    return [html.unescape(c) for c in re.findall(r"<td>(.*?)</td>", page)]


def deployed(model: Path, board: str, out: Path) -> tuple[dict, str, dict]:
    """deploy --verify --json (which writes the report), then the page and `microc report --json`."""
    res = microc("deploy", model, "--board", board, "-o", out, "--verify", "--json")
    assert res.returncode == 0, res.stderr
    assert f"report: {out / 'report.html'}" in res.stderr
    run = json.loads(res.stdout)
    rep = microc("report", out, "--json")
    assert rep.returncode == 0, rep.stderr
    return run, (out / "report.html").read_text(), json.loads(rep.stdout)


def check_page_against_run(run: dict, page: str, data: dict) -> None:
    assert data["run_recorded"] and all("the stack is not part of the image" in m for m in data["notes"])
    cell = cells(page)
    # verification: the verdict and the run's figures
    assert "MATCH</span>" in page and "MISMATCH" not in page
    assert data["verification"]["match"] is run["match"] is True
    keys = ("samples", "outputs_checked", "instructions", "cycles", "counter")
    assert [data["verification"][k] for k in keys] == [run[k] for k in keys]
    for l, r in zip(data["layers"], run["layers"]):  # every measure of every layer, not only the charted one
        assert [l[k] for k in ("instructions", "cycles", "ticks")] == [r[k] for k in ("instructions", "cycles", "ticks")]
    # layers: each run figure in the layers table, shares of the chosen measure summing to 1
    metric = data["layer_metric"]
    assert metric == ("cycles" if run.get("cycles") else "instructions" if run["instructions"] else "ticks")
    assert [l[metric] for l in data["layers"]] == [l[metric] for l in run["layers"]]
    total = sum(l[metric] for l in run["layers"])
    for l in data["layers"]:
        assert l["share"] == pytest.approx(l[metric] / total)
    layers_section = page[page.index("<h2>Layers"):page.index("<h2>Arena")]
    rows = [c for c in re.findall(r"<tr>(.*?)</tr>", layers_section) if "<td>" in c]
    assert len(rows) == len(run["layers"])
    for r, l in zip(rows, run["layers"]):
        row = cells(r)
        assert row[:2] == [str(l["index"]), l["type"]] and row[{"instructions": 4, "cycles": 5, "ticks": 6}[metric]] == \
            n(l[metric]) and row[7] == f"{100 * l[metric] / total:.1f}%"
    # memory: the build's flash and RAM, split into parts that add up
    mem = data["memory"]
    assert (mem["flash"]["total"], mem["ram"]["total"]) == (run["flash_bytes"], run["ram_bytes"])
    for kind in ("flash", "ram"):
        assert sum(mem[kind]["parts"].values()) == mem[kind]["total"]
        assert all(v >= 0 for v in mem[kind]["parts"].values())
    assert mem["flash"]["parts"]["weights"] == run["weight_bytes"]
    assert mem["ram"]["parts"]["arena"] == run["arena_bytes"]
    assert ["flash", n(run["flash_bytes"]), *map(n, mem["flash"]["parts"].values())] == \
        [c for c in cell[cell.index("flash"):][:5]]
    # arena: the peak of the bytes alive is the planner's layer-wise lower bound
    a = data["arena"]
    assert a["peak_bytes"] == a["lower_bound_bytes"] == run["lower_bound_bytes"]
    assert a["arena_bytes"] == run["arena_bytes"] and max(b["offset"] + b["bytes"] for b in a["buffers"]) \
        <= a["arena_bytes"]
    assert f"peak at step {a['peak_step']} with {n(a['peak_bytes'])} B alive" in page
    assert len(decoded_images(page)) == 3  # layers, arena, memory


@pytest.mark.parametrize("model", ["mlperf_tiny/kws_ref_model", "mlperf_tiny/vww_96_int8"])
def test_report_of_a_host_run(tmp_path, model):
    run, page, data = deployed(shared_model(model), "host", tmp_path / "p")
    check_page_against_run(run, page, data)
    assert data["layer_unit"] == "timer ticks (ns)"


@pytest.mark.skipif(shutil.which("qemu-system-arm") is None, reason="qemu-system-arm is not installed")
def test_report_of_a_qemu_run_and_of_its_first_mismatch(tmp_path):
    from test_first_mismatch import alter_weight
    project = tmp_path / "kws"
    run, page, data = deployed(shared_model("mlperf_tiny/kws_ref_model"), "mps2-an386", project)
    check_page_against_run(run, page, data)
    assert data["memory"]["ram"]["parts"]["stack"] > 0  # the linker script's .stack
    if run["counter"] == "plugin":  # QEMU's counting plugin loaded: the chart shows estimated cycles
        assert data["layer_metric"] == "cycles" and data["layer_unit"] == "estimated cycles"
        assert f"<td>counted by</td><td>plugin</td>" in page and n(run["cycles"]) in cells(page)
        assert f"<td>cycle model</td><td>{run['cpu']}</td>" in page
        for k, v in run["overhead"].items():  # the inference less its layers, as the run reported it
            assert f"<td>outside the layers: {k}</td><td>{n(v)}</td>" in page
    alter_weight(project, 3, "-128")
    assert microc("build", project).returncode == 0
    assert microc("run", project, "--verify").returncode == 1
    res = microc("report", project, "-o", tmp_path / "r.html")
    assert res.returncode == 0 and res.stdout.strip() == f"wrote {tmp_path / 'r.html'}"
    page = (tmp_path / "r.html").read_text()
    m = json.loads((project / "last_run.json").read_text())["first_mismatch"]
    assert m["layer"] == 3
    assert f"first divergent layer: layer 3 DEPTHWISE_CONV_2D (output {html.escape(m['tensor'])}): " \
           f"{n(m['differing'])} values differ" in page
    assert "MISMATCH</span>" in page and len(decoded_images(page)) == 3


def test_report_without_a_run_shows_the_static_parts(tmp_path):
    project = tmp_path / "p"
    assert microc("compile", shared_model("mlperf_tiny/kws_ref_model"), "--board", "host", "-o",
                  project).returncode == 0
    res = microc("report", project, "--json")
    assert res.returncode == 0, res.stderr
    data = json.loads(res.stdout)
    assert data["run_recorded"] is False and data["verification"] is None and data["memory"] is None
    assert data["layer_metric"] is None and len(data["layers"]) == 13
    assert any(note.startswith("no run was recorded") for note in data["notes"])
    page = (project / "report.html").read_text()
    assert "no run was recorded" in page and len(decoded_images(page)) == 1  # the arena picture


def test_report_of_a_folder_that_is_not_a_project(tmp_path):
    res = microc("report", tmp_path)
    assert res.returncode != 0 and "Traceback" not in res.stderr
    assert res.stderr.strip().splitlines() == [f"microc: error: {tmp_path} is not a microc project (no "
                                               "microc.json); create one with 'microc compile'"]
    assert not (tmp_path / "report.html").exists()
