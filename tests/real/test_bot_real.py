"""`bindbot run` on the real upstream: a project repository whose crate is pinned at a 2024
commit, moved toward the branch head. Fast: the decisions made before anything is built.
Slow: a dry run that regenerates, verifies on the host and writes the pull request."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from bindbot import pipeline
from bindbot.forge.propose import read_marker
from tests.fixtures.project import REPO, bindbot, project_at

GOLDEN = REPO.parent / "shared" / "golden"
#: "Adds GetCurrentOperatorIndex to micro_interpreter (#2605)", 2024-06-24.
PIN_2024 = "dc4dcb7433c14897c5668d1b46b4c773b91f4ed1"


def _bindbot(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return bindbot(project, *args, env={"BINDBOT_GOLDEN": str(GOLDEN)})


@pytest.fixture(scope="module")
def pinned_2024(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return project_at(tmp_path_factory.mktemp("bot-2024"), PIN_2024)


def test_plan_from_2024_proposes_the_head(pinned_2024: Path, real: pipeline.Context) -> None:
    head = real.upstream().head()
    done = _bindbot(pinned_2024, "run", "--offline", "--plan")
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[:2] == ["action=propose", f"head={head.id}"]
    assert not (pinned_2024 / "bindbot-out" / "run").exists()  # nothing was built


def test_no_api_change_is_a_quick_no(real: pipeline.Context, tmp_path: Path) -> None:
    """Find the newest pair of adjacent commits with the same API, pin the older one."""
    upstream = real.upstream()
    store = real.models()
    commit = upstream.head()
    for _ in range(40):
        parent = commit.parents[0]
        store.model_at(parent)
        if store.content_ids(parent) == store.content_ids(commit):
            break
        commit = parent
    else:
        pytest.skip("no API-neutral commit among the newest 40")
    project = project_at(tmp_path, str(parent.id))
    done = _bindbot(project, "run", "--offline", "--dry-run", "--to", str(commit.id))
    assert done.returncode == 0, done.stderr
    assert "none touches the API" in done.stderr
    assert not (project / "bindbot-out").exists()


@pytest.mark.slow
@pytest.mark.skipif(not GOLDEN.is_dir(), reason=f"no golden fixtures at {GOLDEN}")
def test_dry_run_from_2024_writes_a_green_proposal(
    pinned_2024: Path, real: pipeline.Context
) -> None:
    head = real.upstream().head()
    done = _bindbot(pinned_2024, "run", "--offline", "--dry-run", "--targets", "host")
    assert done.returncode == 0, done.stderr
    folder = pinned_2024 / "bindbot-out" / "proposal"
    body = (folder / "pull-1.md").read_text()
    assert (read_marker(body) or {}).get("upstream") == str(head.id)
    assert "## API changes" in body and "| host |" in body and "**FAIL**" not in body
    assert "https://github.com/tensorflow/tflite-micro/commit/" in body
    again = _bindbot(pinned_2024, "run", "--offline", "--dry-run", "--targets", "host")
    assert again.returncode == 0 and "no change: pull request #1" in again.stderr
