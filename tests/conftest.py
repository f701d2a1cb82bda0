"""Shared fixtures: the synthetic upstream (built once per session) and a CLI runner."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from bindbot.cli import main
from tests.fixtures.synthetic import SyntheticUpstream, build_synthetic_upstream

#: Set to 1 to rewrite golden files from the current output instead of comparing.
UPDATE_GOLDEN = os.environ.get("BINDBOT_UPDATE_GOLDEN") == "1"


@pytest.fixture(scope="session")
def synthetic(tmp_path_factory: pytest.TempPathFactory) -> SyntheticUpstream:
    return build_synthetic_upstream(tmp_path_factory.mktemp("synthetic"))


@dataclass
class Result:
    code: int
    out: str
    err: str


@dataclass
class Cli:
    """Runs `bindbot` in-process against the synthetic upstream with a private cache."""

    project: Path
    env: dict[str, str]
    capsys: pytest.CaptureFixture[str]
    monkeypatch: pytest.MonkeyPatch

    def __call__(self, *args: str, **extra_env: str) -> Result:
        with self.monkeypatch.context() as mp:
            for key in list(os.environ):
                if key.startswith("BINDBOT_"):
                    mp.delenv(key)
            for key, value in {**self.env, **extra_env}.items():
                mp.setenv(key, value)
            mp.chdir(self.project)
            self.capsys.readouterr()
            code = main(list(args))
            captured = self.capsys.readouterr()
        return Result(code, captured.out, captured.err)


def synthetic_env(up: SyntheticUpstream, cache: Path) -> dict[str, str]:
    env = {"BINDBOT_UPSTREAM": str(up.path), "BINDBOT_CACHE": str(cache)}
    for name, path in up.deps.items():
        env[f"BINDBOT_DEP_{name.upper()}"] = str(path)
    return env


@pytest.fixture(scope="session")
def shared_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One cache for tests that only read: parses happen once per session."""
    return tmp_path_factory.mktemp("cache")


@pytest.fixture
def cli(
    synthetic: SyntheticUpstream,
    shared_cache: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Cli]:
    project = tmp_path / "project"
    project.mkdir()
    yield Cli(project, synthetic_env(synthetic, shared_cache), capsys, monkeypatch)
