from pathlib import Path

import pytest

from bindbot.errors import LockError
from bindbot.upstream.lock import Lock, LockedDep, read_lock, write_lock

SHA = "90b983c2b3f1480642e040bbd2ddb37b998f3424"


def _lock() -> Lock:
    return Lock(
        upstream_url="https://github.com/tensorflow/tflite-micro.git",
        branch="main",
        commit=SHA,
        commit_date="2026-08-20T16:47:21Z",
        api_model_hash="sha256:" + "0" * 64,
        deps=(
            LockedDep("flatbuffers", "https://x/v1.zip", "v1", "0" * 32, "p.patch", "ab"),
            LockedDep("gemmlowp", "https://x/g.zip", "abc", None, None, None),
        ),
    )


def test_round_trip_and_header(tmp_path: Path) -> None:
    path = tmp_path / "bindbot.lock"
    write_lock(path, _lock())
    text = path.read_text()
    assert text.startswith("# Written by bindbot")
    assert read_lock(path) == _lock()


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("version = 1\n[upstream\n", "corrupted"),
        ("version = 9\n", "lock version 9"),
        ("version = 1\n[upstream]\nurl='u'\n", "missing"),
        (
            "version = 1\n[upstream]\nurl='u'\nbranch='m'\ncommit='abc'\ncommit_date='d'\n"
            "[api]\nmodel_hash='h'\n",
            "not a full SHA",
        ),
    ],
)
def test_damaged_lock_names_the_recovery(tmp_path: Path, text: str, needle: str) -> None:
    path = tmp_path / "bindbot.lock"
    path.write_text(text)
    with pytest.raises(LockError) as info:
        read_lock(path)
    assert needle in info.value.problem
    assert "bindbot lock" in info.value.fix


def test_missing_lock(tmp_path: Path) -> None:
    with pytest.raises(LockError, match="does not exist"):
        read_lock(tmp_path / "bindbot.lock")
