"""`bindbot verify` on the synthetic upstream: host tests, then the M4F build and its
firmware on QEMU's M4F and M7 boards (CI's cross-compilation check). Slow; CI sets
BINDBOT_REQUIRE_TOOLS so a missing cross toolchain fails instead of skipping."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from bindbot import errors
from bindbot.verify.matrix import Report, Size, Step
from tests.conftest import synthetic_env
from tests.fixtures.models import write_golden
from tests.fixtures.project import synthetic_project
from tests.fixtures.synthetic import SyntheticUpstream
from tests.integration.test_crate_synthetic import STEP, _require

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def project(synthetic: SyntheticUpstream, tmp_path_factory: pytest.TempPathFactory):
    for tool in ("cargo", "bindgen", "arm-none-eabi-gcc", "qemu-system-arm"):
        _require(tool)
    root = tmp_path_factory.mktemp("verify")
    project, env = synthetic_project(
        root,
        synthetic_env(synthetic, root / "cache"),
        synthetic.commits[STEP],
        write_golden(root / "golden"),
    )
    return project, env, root


def _verify(project: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bindbot", "verify", "--offline", *args],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=3600,
    )


@pytest.mark.slow
def test_verify_host_and_m4f_on_qemu(project) -> None:
    path, env, _ = project
    result = _verify(path, env, "--targets", "host,m4f")
    assert result.returncode == 0, result.stderr[-4000:]
    report = Report.from_json((path / "bindbot-out/verify/verify.json").read_text())
    steps = {(s.target, s.step): s for s in report.steps}
    assert steps["host", "test"].ok
    for core in ("qemu M4F (mps2-an386)", "qemu M7 (mps2-an500)"):
        detail = steps["m4f", core].detail
        assert "hello_world int8: 12 of 12 outputs equal to golden" in detail, detail
    (size,) = report.sizes
    assert size.target == "m4f" and size.flash > 10_000 and size.arena["hello_world int8"] > 0
    assert "| m4f | qemu M4F (mps2-an386) | pass |" in result.stdout


@pytest.mark.slow
def test_wrong_output_on_the_core_fails_verify(project) -> None:
    """A golden byte the firmware does not reproduce: verify fails, naming target and step."""
    path, env, root = project
    golden = root / "golden-wrong"
    shutil.copytree(env["BINDBOT_GOLDEN"], golden)
    expected = golden / "outputs/hello_world/int8_y_int8.bin"
    data = bytearray(expected.read_bytes())
    data[0] ^= 0x40
    expected.write_bytes(bytes(data))
    result = _verify(path, {**env, "BINDBOT_GOLDEN": str(golden)}, "--targets", "m4f")
    assert result.returncode == errors.VerificationError.exit_code, result.stderr[-3000:]
    assert "m4f: qemu M4F (mps2-an386) failed: exit 1" in result.stderr
    report = json.loads((path / "bindbot-out/verify/verify.json").read_text())
    assert any("11 of 12 outputs equal" in s["detail"] for s in report["steps"])


def test_report_markdown_shows_size_deltas() -> None:
    old = Report(
        "a" * 40, [Step("m4f", "build", True, 1.0, "ok")], [Size("m4f", 1000, 500, {"m": 10})]
    )
    new = Report(
        "b" * 40, [Step("m4f", "build", True, 1.0, "ok")], [Size("m4f", 1200, 500, {"m": 8})]
    )
    text = new.to_markdown(old)
    assert "| m4f | 1200 (+200) | 500 | m 8 (-2) |" in text
    assert Report.from_json(new.to_json()) == new
