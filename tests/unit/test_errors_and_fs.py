from pathlib import Path

import pytest

from bindbot import errors
from bindbot.diff.report import EXIT_BREAKING, EXIT_COMPATIBLE, EXIT_NO_CHANGE
from bindbot.fsutil import staged_dir, write_atomic


def test_every_failure_has_its_own_exit_status() -> None:
    codes = list(errors.EXIT_CODES.values())
    assert len(codes) == len(set(codes))
    assert not set(codes) & {EXIT_NO_CHANGE, EXIT_COMPATIBLE, EXIT_BREAKING, 130}
    assert all(code >= 64 for code in codes)


def test_one_line_names_problem_and_fix() -> None:
    err = errors.UnknownRefError("'nope' names no commit", "run `bindbot sync`")
    assert err.one_line() == "'nope' names no commit (fix: run `bindbot sync`)"
    assert "\n" not in err.one_line()


def test_write_atomic_replaces_whole_file(tmp_path: Path) -> None:
    target = tmp_path / "a" / "f.txt"
    write_atomic(target, "one")
    write_atomic(target, b"two")
    assert target.read_text() == "two"
    assert [p.name for p in target.parent.iterdir()] == ["f.txt"]  # no temp files left


def test_staged_dir_leaves_nothing_on_failure(tmp_path: Path) -> None:
    final = tmp_path / "entry"
    with pytest.raises(RuntimeError), staged_dir(final) as tmp:
        (tmp / "half").write_text("x")
        raise RuntimeError("interrupted")
    assert not final.exists()
    assert list(tmp_path.iterdir()) == []
    with staged_dir(final) as tmp:
        (tmp / "whole").write_text("x")
    assert (final / "whole").is_file()
