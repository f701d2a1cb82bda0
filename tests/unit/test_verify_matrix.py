"""The verify matrix with a recording runner: which commands run, and what a failure says."""

from __future__ import annotations

from pathlib import Path

import pytest

from bindbot.runner import Completed, RecordingRunner
from bindbot.verify import matrix
from bindbot.verify.targets import BY_NAME
from bindbot.verify.toolchain import RustRoute

QEMU_OK = (
    "hello_world int8:66 57 \nhello_world int8: 12 of 12 outputs equal to golden, largest "
    "difference 0e-9 (allowed 0e-9), arena 780 bytes\nmicro_speech: arena 6812 bytes\nPASS\n"
)
SIZE = (
    "section size addr\n.vector_table 64 0\n.text 1000 64\n.rodata 500 1064\n"
    ".data 8 536870912\n.bss 4096 536870920\n"
)


def _verifier(runner: RecordingRunner, tmp_path: Path) -> matrix.Verifier:
    env = {"CARGO_TARGET_DIR": str(tmp_path / "target")}
    return matrix.Verifier(runner, tmp_path / "crate", tmp_path / "golden", env)


@pytest.fixture(autouse=True)
def _prebuilt(monkeypatch: pytest.MonkeyPatch) -> None:
    how = RustRoute("prebuilt", "cargo", (), ("--target", "thumbv7em-none-eabihf"))
    monkeypatch.setattr(matrix, "route", lambda runner, target: how)


def test_m4f_builds_then_runs_each_core(tmp_path: Path) -> None:
    runner = RecordingRunner(
        {
            "cargo build": Completed((), 0, "", "warning: tflm-sys: compiled 3 of 198 files"),
            "qemu-system-arm": Completed((), 0, "", QEMU_OK),
            "arm-none-eabi-size": Completed((), 0, SIZE, ""),
        }
    )
    steps, size = _verifier(runner, tmp_path).cross(BY_NAME["m4f"])
    assert [s.step for s in steps] == [
        "build",
        "firmware",
        "qemu M4F (mps2-an386)",
        "qemu M7 (mps2-an500)",
    ]
    assert all(s.ok for s in steps)
    assert "compiled 3 of 198 C/C++ files" in steps[0].detail
    machines = [c[c.index("-machine") + 1] for c in runner.calls if c[0] == "qemu-system-arm"]
    assert machines == ["mps2-an386", "mps2-an500"]
    assert size == matrix.Size(
        "m4f", 64 + 1000 + 500 + 8, 8 + 4096, {"hello_world int8": 780, "micro_speech": 6812}
    )


def test_a_failed_build_stops_the_target_and_names_the_error(tmp_path: Path) -> None:
    error = "error[E0080]: evaluation panicked: TfLiteStatus size differs between Rust and C"
    runner = RecordingRunner({"cargo build": Completed((), 101, "", f"   Compiling x\n{error}\n")})
    steps, size = _verifier(runner, tmp_path).cross(BY_NAME["m33"])
    assert [(s.step, s.ok) for s in steps] == [("build", False)]
    assert error in steps[0].detail and size is None
    assert not any(c[0] == "qemu-system-arm" for c in runner.calls)


def test_a_core_exit_status_fails_its_step(tmp_path: Path) -> None:
    runner = RecordingRunner(
        {
            "cargo build": Completed((), 0, "", ""),
            "qemu-system-arm": Completed(
                (), 1, "", "hello_world int8: 11 of 12 outputs equal to golden\nFAIL\n"
            ),
            "arm-none-eabi-size": Completed((), 0, SIZE, ""),
        }
    )
    steps, _ = _verifier(runner, tmp_path).cross(BY_NAME["m3"])
    qemu = steps[-1]
    assert not qemu.ok and qemu.detail.startswith("exit 1: hello_world int8: 11 of 12")


def test_compiler_diagnostics_come_before_cargos_wrapping() -> None:
    # As cargo prints a failed tflm-sys build script: its own "error:" lines, the command
    # line cc reports, then the compiler's messages the build script adds.
    noise = [f"warning: unused variable {i}" for i in range(20)]
    stderr = "\n".join(
        [
            *noise,
            "error: failed to run custom build command for `tflm-sys v0.1.0`",
            "  error: tflm-sys: compiling TFLM failed: /crate/shim/tflm_shim.cc:",
            "  /crate/shim/tflm_shim.cc:917:31: error: invalid conversion from 'int*'",
            "  917 |     out->dims = tensor->dims->data;",
        ]
    )
    picked = matrix.first_errors(Completed((), 101, "", stderr)).splitlines()
    assert picked[0] == "/crate/shim/tflm_shim.cc:917:31: error: invalid conversion from 'int*'"
    assert "error: failed to run custom build command for `tflm-sys v0.1.0`" in picked
    assert not any(line.startswith("warning") for line in picked)


def test_reference_cases_run_per_image_and_core(tmp_path: Path) -> None:
    """With a reference folder (cases.tsv), each target builds one image per shard of cases
    and runs it on every core; one step per core counts the cases and names a failure."""
    (tmp_path / "golden").mkdir()
    (tmp_path / "golden" / "cases.tsv").write_text("# name\n")
    images = {
        "0": "case a: ok\ncase b: output 0 element 2; DIFFERENT\n"
        "reference: 1 of 2 cases match (shard 1 of 2)\nFAIL\n",
        "1": "case c: largest float difference 12e-9 relative: ok\n"
        "reference: 1 of 1 cases match (shard 2 of 2)\nPASS\n",
    }
    built: list[str] = []

    def answer(argv: tuple[str, ...]) -> Completed | None:
        if argv[0] == "cargo":
            built.append(runner.envs[-1].get("TFLM_FIRMWARE_CASES", "plain"))
            return Completed((), 0, "", "")
        if argv[0] == "qemu-system-arm":
            return Completed((), 0, "", images.get(built[-1], QEMU_OK))
        if argv[0] == "arm-none-eabi-size":
            return Completed((), 0, SIZE, "")
        return None

    runner = RecordingRunner()
    runner.answer = answer
    steps, size = _verifier(runner, tmp_path).cross(BY_NAME["m4f"])
    assert built == ["plain", "plain", "0", "1"]
    cases = [s for s in steps if s.step.startswith("cases")]
    assert [s.step for s in cases] == ["cases M4F (mps2-an386)", "cases M7 (mps2-an500)"]
    for step in cases:
        assert (step.ok, step.cases_run, step.cases_passed) == (False, 3, 2)
        assert step.detail == "b: output 0 element 2"
    assert size is not None and size.flash == 64 + 1000 + 500 + 8  # the plain image's

    from bindbot.bot import Matrix

    assert Matrix(steps).cell("m4f", "cases") == "M4F ❌ 2/3 cases<br>M7 ❌ 2/3 cases"
