"""Opt-in tests on the real tflite-micro history.

They run when BINDBOT_UPSTREAM names a tflite-micro git repository (path or URL) and
BINDBOT_DEP_FLATBUFFERS / BINDBOT_DEP_GEMMLOWP name clones of those dependencies (the
parse needs their headers); otherwise they are skipped with the reason shown by `-ra`.
BINDBOT_CACHE, if set, is reused so repeated runs are warm.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from bindbot import pipeline
from bindbot.config import resolve
from bindbot.runner import subprocess_runner

NEEDED = ("BINDBOT_UPSTREAM", "BINDBOT_DEP_FLATBUFFERS", "BINDBOT_DEP_GEMMLOWP")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    missing = [name for name in NEEDED if not os.environ.get(name)]
    for item in items:
        if "tests/real/" in str(item.fspath).replace(os.sep, "/"):
            item.add_marker(pytest.mark.real)
            if missing:
                item.add_marker(
                    pytest.mark.skip(
                        reason=f"real upstream not configured: set {', '.join(missing)}"
                    )
                )


@pytest.fixture(scope="session")
def real(tmp_path_factory: pytest.TempPathFactory) -> Iterator[pipeline.Context]:
    env = dict(os.environ)
    env.setdefault("BINDBOT_CACHE", str(tmp_path_factory.mktemp("real-cache")))
    project = tmp_path_factory.mktemp("real-project")
    ctx = pipeline.Context(resolve(Path(project), environ=env), subprocess_runner, fetch=False)
    yield ctx
    ctx.close()
