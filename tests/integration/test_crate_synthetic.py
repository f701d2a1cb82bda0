"""The crate generated from the synthetic upstream builds, links and passes its own tests.

This is CI's end-to-end check of the generate stage: `bindbot generate` and `bindbot
sources` on the synthetic upstream (whose headers have a small C++ implementation, see
tests/fixtures/synthetic_runtime.py), then `cargo test` of the generated workspace with the
golden folder of tests/fixtures/models.py: hello_world float and int8 byte-identical, the
moved-interpreter test under valgrind, the compile-fail doctests, and a one-file rebuild.
Slow (cargo, a C++ compiler); CI sets BINDBOT_REQUIRE_TOOLS so a missing tool fails
instead of skipping.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import synthetic_env
from tests.fixtures.models import write_golden
from tests.fixtures.synthetic import SyntheticUpstream

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
#: The last synthetic step the templates can express (later ones add a required parameter).
STEP = "param_added_default"


def _require(tool: str) -> str:
    path = shutil.which(tool)
    if path is None:
        message = f"{tool} is not installed"
        if os.environ.get("BINDBOT_REQUIRE_TOOLS"):
            pytest.fail(f"{message}, and BINDBOT_REQUIRE_TOOLS is set")
        pytest.skip(message)
    return path


@dataclass(frozen=True)
class BuiltCrate:
    crate: Path
    golden: Path
    source: Path
    env: dict[str, str]
    test: subprocess.CompletedProcess[str]
    golden_binary: Path


def _run(args: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=1800)


def _bindbot(project: Path, env: dict[str, str], *args: str) -> str:
    result = _run([sys.executable, "-m", "bindbot", *args], project, env)
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.fixture(scope="module")
def built(synthetic: SyntheticUpstream, tmp_path_factory: pytest.TempPathFactory) -> BuiltCrate:
    _require("cargo")
    _require("bindgen")
    root = tmp_path_factory.mktemp("synthetic-crate")
    project = root / "project"
    project.mkdir()
    cache = root / "cache"
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("BINDBOT_", "TFLM_", "CARGO_TARGET_DIR"))
    }
    env.update(synthetic_env(synthetic, cache))
    env["PYTHONPATH"] = str(REPO)
    _bindbot(project, env, "lock", "--offline", synthetic.commits[STEP])
    _bindbot(project, env, "generate", "--offline")
    source = Path(_bindbot(project, env, "sources", "--offline").strip().splitlines()[-1])
    crate = project / "rust_crate"
    # The committed lock file pins the build dependency (cc) to a version known to work.
    shutil.copy(REPO / "rust_crate" / "Cargo.lock", crate / "Cargo.lock")
    golden = write_golden(root / "golden")
    env.update(
        {
            "TFLM_GOLDEN_DIR": str(golden),
            "TFLM_REQUIRE_GOLDEN": "1",
            "CARGO_TARGET_DIR": str(root / "target"),
        }
    )
    test = _run(["cargo", "test", "--release"], crate, env)
    listing = _run(
        ["cargo", "test", "--release", "--no-run", "--message-format=json", "--test", "golden"],
        crate,
        env,
    )
    binary = next(
        Path(message["executable"])
        for message in map(json.loads, listing.stdout.splitlines())
        if message.get("reason") == "compiler-artifact"
        and message.get("target", {}).get("name") == "golden"
        and message.get("executable")
    )
    return BuiltCrate(crate, golden, source, env, test, binary)


def test_generated_crate_passes_its_tests(built: BuiltCrate) -> None:
    out = built.test.stdout
    assert built.test.returncode == 0, out[-3000:] + built.test.stderr[-3000:]
    for name in (
        "hello_world_float",
        "hello_world_int8",
        "interpreter_survives_moves",
        "missing_op_is_named",
        "malformed_models_are_errors",
        "arena_too_small",
    ):
        assert f"test {name} ... ok" in out
    # The README's whole-flow example compiles; the borrow rules reject every misuse.
    assert re.search(r"test tflm/src/lib.rs - \(line \d+\) - compile \.\.\. ok", out)
    blocks = (built.crate / "tflm" / "COMPILE_FAIL.md").read_text().count("```rust,compile_fail")
    assert blocks >= 5
    assert out.count("compile fail ... ok") == blocks


def test_golden_comparison_can_fail(built: BuiltCrate, tmp_path: Path) -> None:
    """A one-byte difference from the expected output is reported, with its position."""
    golden = tmp_path / "golden"
    shutil.copytree(built.golden, golden)
    expected = golden / "outputs/hello_world/int8_y_int8.bin"
    data = bytearray(expected.read_bytes())
    data[5] ^= 1
    expected.write_bytes(bytes(data))
    env = {**built.env, "TFLM_GOLDEN_DIR": str(golden)}
    result = _run([str(built.golden_binary), "hello_world_int8"], built.crate, env)
    assert result.returncode != 0
    assert "first difference at byte Some(5)" in result.stdout + result.stderr


def test_moved_interpreter_and_malformed_models_under_valgrind(built: BuiltCrate) -> None:
    valgrind = _require("valgrind")
    result = _run(
        [valgrind, "-q", "--error-exitcode=99", str(built.golden_binary), "--test-threads=1"],
        built.crate,
        built.env,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "test interpreter_survives_moves ... ok" in result.stdout


def _compiled(stderr: str) -> tuple[int, int]:
    match = re.search(r"compiled (\d+) of (\d+) files", stderr)
    assert match, stderr[-2000:]
    return int(match.group(1)), int(match.group(2))


def _listed(crate: Path) -> int:
    """Library files in tflm-sources.txt, plus the shim's own files a host build compiles
    (all but the bare-metal runtime)."""
    text = (crate / "tflm-sys" / "tflm-sources.txt").read_text()
    shim = [p for p in (crate / "tflm-sys" / "shim").glob("*.cc") if p.name != "tflm_runtime.cc"]
    return len(shim) + sum(1 for ln in text.splitlines() if ln.strip() and not ln.startswith("#"))


def test_one_changed_source_recompiles_one_file(built: BuiltCrate) -> None:
    total_files = _listed(built.crate)
    assert total_files >= 10
    kernel = built.source / "tflm/tensorflow/lite/micro/kernels/add.cc"
    original = kernel.read_bytes()
    try:
        kernel.write_bytes(original + b"\n// bindbot rebuild test\n")
        changed = _run(["cargo", "build", "--release"], built.crate, built.env)
        assert changed.returncode == 0, changed.stderr[-3000:]
        compiled, total = _compiled(changed.stderr)
        assert (compiled, total) == (1, total_files)
    finally:
        kernel.write_bytes(original)
    restored = _run(["cargo", "build", "--release"], built.crate, built.env)
    assert _compiled(restored.stderr) == (0, total_files)


def test_per_op_features_compile_only_their_kernels(built: BuiltCrate, tmp_path: Path) -> None:
    """With default features off and one op on, only that op's kernel joins the core."""
    listing = (built.crate / "tflm-sys" / "tflm-sources.txt").read_text().splitlines()
    gated = [ln.split()[0] for ln in listing if " op-" in ln and not ln.startswith("#")]
    assert gated, "no kernel file is gated by an op feature"
    env = {**built.env, "CARGO_TARGET_DIR": str(tmp_path / "target")}
    one = _run(
        ["cargo", "build", "-p", "tflm", "--no-default-features", "--features", "op-add"],
        built.crate,
        env,
    )
    assert one.returncode == 0, one.stderr[-3000:]
    compiled, total = _compiled(one.stderr)
    assert total == _listed(built.crate) - len(gated) + sum(
        1 for ln in listing if ln.endswith(" op-add") or " op-add " in ln
    )
    assert compiled == total
    # The resolver method of an op that is off does not exist: a clear compile error.
    src = tmp_path / "uses_fc.rs"
    src.write_text("fn main() { tflm::OpResolver::new().add_fully_connected().unwrap(); }\n")
    example = built.crate / "tflm" / "examples"
    example.mkdir(exist_ok=True)
    shutil.copy(src, example / "uses_fc.rs")
    try:
        missing = _run(
            [
                "cargo",
                "build",
                "-p",
                "tflm",
                "--example",
                "uses_fc",
                "--no-default-features",
                "--features",
                "op-add",
            ],
            built.crate,
            env,
        )
    finally:
        shutil.rmtree(example)
    assert missing.returncode != 0
    assert "add_fully_connected" in missing.stderr


#: Every bare-metal Thumb triple rustc knows (`rustc --print target-list`, *-none-eabi*).
THUMB_TRIPLES = (
    "thumbv4t-none-eabi",
    "thumbv5te-none-eabi",
    "thumbv6-none-eabi",
    "thumbv6m-none-eabi",
    "thumbv7a-none-eabi",
    "thumbv7a-none-eabihf",
    "thumbv7em-none-eabi",
    "thumbv7em-none-eabihf",
    "thumbv7m-none-eabi",
    "thumbv7r-none-eabi",
    "thumbv7r-none-eabihf",
    "thumbv8m.base-none-eabi",
    "thumbv8m.main-none-eabi",
    "thumbv8m.main-none-eabihf",
    "thumbv8r-none-eabihf",
)


def _build_std_env(built: BuiltCrate, target_dir: Path) -> dict[str, str]:
    from bindbot.verify.toolchain import DEBIAN_RUSTC

    if not (DEBIAN_RUSTC.exists() and Path("/usr/lib/rustlib/src/rust/library/core").is_dir()):
        _require("rustc-with-rust-src")  # skips, or fails under BINDBOT_REQUIRE_TOOLS
    _require("arm-none-eabi-gcc")
    return {
        **built.env,
        "RUSTC": str(DEBIAN_RUSTC),
        "RUSTC_BOOTSTRAP": "1",
        "CARGO_TARGET_DIR": str(target_dir),
    }


def test_every_thumb_triple_builds_with_agreeing_layouts(built: BuiltCrate, tmp_path: Path) -> None:
    """tflm-sys's build script (cc's flags for the triple, -fno-short-enums) and its layout
    assertions against the target's compiler hold on every Thumb triple, not only the four
    bindbot's table names. `cargo check` runs the build script and evaluates the asserts."""
    env = _build_std_env(built, tmp_path / "target")
    failed = {}
    for triple in THUMB_TRIPLES:
        result = _run(
            ["/usr/bin/cargo", "check", "-p", "tflm", "--target", triple, "-Zbuild-std=core"],
            built.crate,
            env,
        )
        if result.returncode != 0:
            failed[triple] = result.stderr[-1500:]
    assert not failed, failed


def test_other_bare_metal_targets_are_a_clear_error(built: BuiltCrate, tmp_path: Path) -> None:
    env = _build_std_env(built, tmp_path / "target")
    result = _run(
        [
            "/usr/bin/cargo",
            "check",
            "-p",
            "tflm-sys",
            "--target",
            "riscv32imac-unknown-none-elf",
            "-Zbuild-std=core",
        ],
        built.crate,
        env,
    )
    assert result.returncode != 0
    assert "target riscv32imac-unknown-none-elf is not supported" in result.stderr
    assert "thumbv*-none-eabi*" in result.stderr
