"""The generated crate on the real upstream: regenerate, build, run the golden models, and
rebuild after one source changes (slow: the first build compiles TFLM, ~7 min on 2 cores;
later runs reuse TFLM_SYS_OBJECT_CACHE, defaulting to <cache>/objects)."""

from __future__ import annotations

import dataclasses
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from bindbot import pipeline
from bindbot.upstream.lock import read_lock
from tests.fixtures.models import write_golden

CRATE = Path(__file__).resolve().parents[2] / "rust_crate"
GOLDEN = Path(__file__).resolve().parents[3] / "shared" / "golden"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("cargo") is None, reason="cargo is not installed"),
    pytest.mark.skipif(not GOLDEN.is_dir(), reason=f"no golden fixtures at {GOLDEN}"),
]


def _cargo(
    real: pipeline.Context, crate: Path, *args: str, golden: Path = GOLDEN
) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "BINDBOT_CACHE": str(real.config.cache_dir),
        "TFLM_SYS_OBJECT_CACHE": os.environ.get(
            "TFLM_SYS_OBJECT_CACHE", str(real.config.cache_dir / "objects")
        ),
        "TFLM_GOLDEN_DIR": str(golden),
        "TFLM_REQUIRE_GOLDEN": "1",
        "CARGO_TARGET_DIR": str(real.config.cache_dir / "target-real-tests"),
    }
    return subprocess.run(
        ["cargo", *args, "--release"],
        cwd=crate,
        env=env,
        capture_output=True,
        text=True,
        timeout=3000,
    )


def _compiled(stderr: str) -> int:
    match = re.search(r"compiled (\d+) of (\d+) files", stderr)
    assert match, stderr[-2000:]
    return int(match.group(1))


def test_committed_crate_is_what_bindbot_generates(real: pipeline.Context) -> None:
    ctx = pipeline.Context(
        dataclasses.replace(real.config, crate_dir=CRATE), real.runner, fetch=False
    )
    pipeline.generate(ctx, check_only=True)


def test_golden_models_and_one_file_rebuild(real: pipeline.Context, tmp_path: Path) -> None:
    crate = tmp_path / "crate"
    shutil.copytree(CRATE, crate, ignore=shutil.ignore_patterns("target"))
    ctx = pipeline.Context(
        dataclasses.replace(real.config, crate_dir=crate), real.runner, fetch=False
    )
    pipeline.generate(ctx)
    tests = _cargo(real, crate, "test")
    assert tests.returncode == 0, tests.stdout[-3000:] + tests.stderr[-3000:]
    assert "test result: ok. 9 passed" in tests.stdout  # the golden suite ran, not skipped
    assert "compile fail ... ok" in tests.stdout

    source = real.config.cache_dir / "src" / read_lock(ctx.config.lock_path).commit
    kernel = source / "tflm/tensorflow/lite/micro/kernels/softmax.cc"
    original = kernel.read_bytes()
    try:
        kernel.write_bytes(original + b"\n// bindbot rebuild test\n")
        changed = _cargo(real, crate, "build")
        assert changed.returncode == 0, changed.stderr[-3000:]
        assert _compiled(changed.stderr) == 1
    finally:
        kernel.write_bytes(original)
    restored = _cargo(real, crate, "build")
    assert _compiled(restored.stderr) == 0


def test_synthetic_models_agree_with_real_tflm(real: pipeline.Context, tmp_path: Path) -> None:
    """The CI test double's expected outputs are what real TFLM computes on the same models.

    tests/fixtures/models.py writes hello_world-shaped models in the real flatbuffer format
    and computes their outputs in Python; CI checks the synthetic interpreter against them.
    Here the real interpreter must agree byte for byte, or the double is not faithful.
    """
    golden = write_golden(tmp_path / "golden")
    result = _cargo(real, CRATE, "test", "--test", "golden", "hello_world", golden=golden)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "test result: ok. 2 passed" in result.stdout
