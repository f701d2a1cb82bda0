"""The per-file build progress: tflm-sys's build script writes "done total compiled" to a
file, and the verifier reports it while cargo runs."""

from __future__ import annotations

import time
from pathlib import Path

from bindbot.verify.matrix import FileProgress


def test_reports_file_counts_while_running(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(FileProgress, "INTERVAL_S", 0.01)
    monkeypatch.setattr(FileProgress, "EVERY_S", 0.0)
    path = tmp_path / "progress"
    seen: list[str] = []
    with FileProgress(path, "m4f: build", seen.append):
        time.sleep(0.05)  # no file yet: nothing reported
        path.write_text("3 198 1\n")
        time.sleep(0.1)
        path.write_text("198 198 5\n")
        time.sleep(0.1)
    assert seen[0] == "m4f: build: 3/198 C/C++ files (1 compiled)"
    assert seen[-1] == "m4f: build: 198/198 C/C++ files (5 compiled)"
    assert len(seen) == 2  # an unchanged file is not reported again


def test_silent_without_a_label(tmp_path: Path) -> None:
    seen: list[str] = []
    path = tmp_path / "progress"
    path.write_text("1 2 1\n")
    with FileProgress(path, "", seen.append):
        time.sleep(0.05)
    assert seen == []
