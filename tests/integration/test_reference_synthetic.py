"""`bindbot reference` on the synthetic upstream's ``with-tests`` branch (example models and
per-op integration tests shaped as tflite-micro's), and `bindbot verify` using it with no
golden folder. The C++ reference runner is compiled from the pinned (synthetic) sources."""

from __future__ import annotations

import json
import os
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import pytest

from bindbot.fsutil import tree_digest
from bindbot.reference.cases import read_manifest
from tests.conftest import synthetic_env
from tests.fixtures.models import f32, float_layers, quantize_layers, run_float, run_int8
from tests.fixtures.synthetic import SyntheticUpstream

REPO = Path(__file__).resolve().parents[2]


def _bindbot(cwd: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bindbot", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=3600,
    )


@pytest.fixture(scope="module")
def project(synthetic: SyntheticUpstream, tmp_path_factory: pytest.TempPathFactory):
    if shutil.which("g++") is None:
        pytest.skip("g++ is not installed")
    root = tmp_path_factory.mktemp("reference")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BINDBOT_", "TFLM_"))}
    env.update(synthetic_env(synthetic, root / "cache"))
    env["PYTHONPATH"] = str(REPO)
    project = root / "project"
    project.mkdir()
    done = _bindbot(project, env, "lock", "--offline", synthetic.with_tests)
    assert done.returncode == 0, done.stderr
    return project, env, root


@pytest.fixture(scope="module")
def made(project) -> Path:
    path, env, _ = project
    done = _bindbot(path, env, "reference", "--offline")
    assert done.returncode == 0, done.stderr
    return Path(done.stdout.splitlines()[-1])


def test_reference_lists_examples_integration_tests_and_other_models(made: Path) -> None:
    cases = {c.name: c for c in read_manifest(made / "cases.tsv")}
    assert sorted(cases) == [
        "examples/hello_world/float",
        "examples/hello_world/int8",
        "integration/synthetic/fully_connected/fc0",
        "integration/synthetic/fully_connected/fc1",
        "other/models/synthetic_float",
    ]
    fc1 = cases["integration/synthetic/fully_connected/fc1"]
    assert fc1.tolerance == 1 and fc1.source.startswith("upstream golden")
    assert cases["examples/hello_world/int8"].tolerance == 0
    meta = json.loads((made / "reference.json").read_text())
    # fc1's golden is one unit off the exact result: within upstream's tolerance, so the
    # runner agrees with both.
    assert meta["runner_vs_upstream_golden"] == {}
    assert meta["groups"] == {"examples": 2, "integration": 2, "other": 1}
    assert "within ±1" in (made / "reference.md").read_text()


def test_runner_outputs_equal_an_independent_computation(made: Path) -> None:
    """The C++ runner's hello_world outputs equal tests/fixtures/models.py's Python model
    of the same network, on the inputs bindbot derived (trunc(x/scale + zero point), as
    upstream's example does)."""
    layers = float_layers()
    input_quant, int8_layers = quantize_layers(layers)
    xs = struct.unpack("<12f", (made / "inputs/hello_world/x_float32.bin").read_bytes())
    ys = struct.unpack("<12f", (made / "outputs/hello_world/float_y_float32.bin").read_bytes())
    assert list(ys) == [f32(run_float(layers, x)[-1][0]) for x in xs]
    xq = struct.unpack("<12b", (made / "inputs/hello_world/x_int8.bin").read_bytes())
    assert xq[1] == int(0.5 / input_quant.scale + input_quant.zero_point)  # truncated
    yq = struct.unpack("<12b", (made / "outputs/hello_world/int8_y_int8.bin").read_bytes())
    assert list(yq) == [run_int8(input_quant, int8_layers, x) for x in xq]


def test_python_interpreter_cross_check(made: Path) -> None:
    """Where PyPI's tflite-micro is installed (CI installs it), every case is also run through
    the official Python interpreter; the synthetic models give the same outputs there."""
    checked = json.loads((made / "reference.json").read_text())["python_interpreter"]
    if checked is None:
        assert not os.environ.get("BINDBOT_REQUIRE_TOOLS"), "tflite-micro is not installed"
        pytest.skip("PyPI tflite-micro is not installed")
    assert checked["version"].startswith("0.dev") and checked["built"]
    assert (checked["cases_equal"], checked["differences"]) == (5, {})
    assert "Cross-check with the official Python interpreter" in (made / "reference.md").read_text()


def test_reference_is_cached_and_deterministic(project, made: Path) -> None:
    path, env, root = project
    again = _bindbot(path, env, "reference", "--offline")
    assert again.returncode == 0 and Path(again.stdout.splitlines()[-1]) == made
    fresh = dict(env, BINDBOT_CACHE=str(root / "cache-2"))
    other = _bindbot(path, fresh, "reference", "--offline")
    assert other.returncode == 0, other.stderr
    other_dir = Path(other.stdout.splitlines()[-1])
    assert other_dir.name == made.name
    assert tree_digest(other_dir) == tree_digest(made)


@pytest.mark.slow
def test_verify_needs_no_golden_and_names_a_differing_case(project, made: Path) -> None:
    for tool in ("cargo", "bindgen", "arm-none-eabi-gcc", "qemu-system-arm"):
        if shutil.which(tool) is None:
            assert not os.environ.get("BINDBOT_REQUIRE_TOOLS"), f"{tool} is not installed"
            pytest.skip(f"{tool} is not installed")
    path, env, root = project
    done = _bindbot(path, env, "generate", "--offline")
    assert done.returncode == 0, done.stderr
    shutil.copy(REPO / "rust_crate" / "Cargo.lock", path / "rust_crate" / "Cargo.lock")
    out = root / "verify"
    ok = _bindbot(path, env, "verify", "--offline", "--targets", "host,m4f", "--out", str(out))
    assert ok.returncode == 0, ok.stderr + ok.stdout
    steps = {s["step"]: s for s in json.loads((out / "verify.json").read_text())["steps"]}
    assert (steps["test"]["cases_run"], steps["test"]["cases_passed"]) == (5, 5), steps
    assert "| host | test | pass | 5/5 cases |" in ok.stdout
    # Every case also runs on QEMU's M4F and M7, in one firmware image.
    for core in ("cases M4F (mps2-an386)", "cases M7 (mps2-an500)"):
        assert (steps[core]["cases_run"], steps[core]["cases_passed"]) == (5, 5), steps[core]
        assert "in 1 image(s)" in steps[core]["detail"]

    # One expected byte changed in the cached reference: the host step fails, naming the
    # case and its first differing output element.
    golden = made / "outputs/hello_world/int8_y_int8.bin"
    saved = golden.read_bytes()
    golden.write_bytes(bytes([saved[0] ^ 0x40]) + saved[1:])
    try:
        bad = _bindbot(path, env, "verify", "--offline", "--targets", "host", "--out", str(out))
    finally:
        golden.write_bytes(saved)
    assert bad.returncode == 78, bad.stderr
    report = json.loads((out / "verify.json").read_text())["steps"][0]
    assert (report["cases_run"], report["cases_passed"]) == (5, 4)
    assert "examples/hello_world/int8: output 0, element 0: expected" in report["detail"]
