from pathlib import Path

from bindbot import doctor
from bindbot.config import resolve
from bindbot.runner import Completed, RecordingRunner


def test_doctor_reports_versions_and_hints(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(doctor.shutil, "which", lambda exe: None if "qemu" in exe else f"/x/{exe}")
    runner = RecordingRunner(
        answers={
            "/x/git --version": Completed((), 0, "git version 2.39.5\n", ""),
            "/x/arm-none-eabi-g++ --version": Completed((), 0, "arm-none-eabi-g++ 12.2.1\n", ""),
            "/x/cargo --version": Completed((), 1, "", "cargo: broken install\n"),
        }
    )
    checks = {c.name: c for c in doctor.checks(resolve(tmp_path, environ={}), runner)}
    assert checks["git"].found and checks["git"].version == "git version 2.39.5"
    assert checks["arm-none-eabi-g++"].version == "12.2.1"
    assert not checks["cargo"].found and "broken" in checks["cargo"].version
    qemu = checks["qemu-system-arm"]
    assert not qemu.found and qemu.hint == "apt-get install qemu-system-arm"
    assert ("/x/git", "--version") in runner.calls
