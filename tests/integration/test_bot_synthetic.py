"""`bindbot run` end to end on the synthetic upstream, in a real project repository.

The project is a git repository whose main branch holds a crate pinned at an older synthetic
commit; runs move it forward with `--to`. The crate's own test build is answered by a canned
cargo here (the same crate is really built and run by test_crate_synthetic and
test_verify_synthetic, and by the slow test at the end of this file), so these tests can
walk through every forge outcome quickly: created, unchanged, updated, closed-not-reopened,
verification failure, busy lock, interruption.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest

from bindbot import errors
from bindbot.cli import main
from bindbot.forge.propose import read_marker
from bindbot.fsutil import exclusive
from bindbot.runner import Completed, InterceptingRunner, Runner, subprocess_runner
from tests.conftest import synthetic_env
from tests.fixtures.github_server import FakeGitHub, serve
from tests.fixtures.models import write_golden
from tests.fixtures.synthetic import SyntheticUpstream
from tests.integration.test_crate_synthetic import STEP, _require

REPO = Path(__file__).resolve().parents[2]
TOKEN = "ghs_SyntheticToken0123456789"


def _git(cwd: Path, *args: str) -> str:
    done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=True)
    return done.stdout.strip()


def fake_cargo(passing: bool = True, interrupt_on: str | None = None) -> InterceptingRunner:
    """The real runner, except `cargo test`, which answers as told (and `interrupt_on`, a
    command fragment at which the run is interrupted as by Ctrl-C)."""

    def answer(args: tuple[str, ...]) -> Completed | None:
        if interrupt_on and interrupt_on in " ".join(args):
            raise KeyboardInterrupt
        if list(args[:2]) != ["cargo", "test"]:
            return None
        if passing:
            return Completed(args, 0, "test result: ok. 9 passed; 0 failed", "")
        return Completed(args, 101, "", "error[E0599]: no method named `invoke` found\n")

    return InterceptingRunner(answer)


def built(runner: InterceptingRunner) -> bool:
    return runner.ran("bindgen", "cargo")


@dataclass
class Project:
    root: Path
    env: dict[str, str]
    commits: Mapping[str, str]

    def run(self, runner: Runner, *args: str, monkeypatch: pytest.MonkeyPatch, **extra: str) -> int:
        with monkeypatch.context() as mp:
            for key in list(os.environ):
                if key.startswith(("BINDBOT_", "GITHUB_")):
                    mp.delenv(key)
            for key, value in {**self.env, **extra}.items():
                mp.setenv(key, value)
            mp.chdir(self.root)
            # `--to NAME` names a synthetic step.
            named = [self.commits.get(a, a) for a in args]
            return main(["run", "--offline", *named], runner=runner)

    def proposal(self) -> Path:
        return self.root / "bindbot-out" / "proposal"


def make_project(
    synthetic: SyntheticUpstream, root: Path, pin: str, generate: bool = True
) -> Project:
    """A project repository whose main branch holds the crate pinned at `pin`.

    Only the first two synthetic steps generate (later ones remove what the safe layer
    wraps, which generate refuses by design); `generate=False` commits just the lock.
    """
    for tool in ("bindgen", "rustfmt", "git"):
        _require(tool)
    project = root / "project"
    project.mkdir(parents=True)
    env = synthetic_env(synthetic, root / "cache")
    env["BINDBOT_GOLDEN"] = str(write_golden(root / "golden"))
    base = {k: v for k, v in os.environ.items() if not k.startswith(("BINDBOT_", "TFLM_"))}
    steps = [("lock", "--offline", synthetic.commits[pin]), ("generate", "--offline")]
    for args in steps[: 2 if generate else 1]:
        done = subprocess.run(
            ["python", "-m", "bindbot", *args],
            cwd=project,
            env={**base, **env, "PYTHONPATH": str(REPO)},
            capture_output=True,
            text=True,
        )
        assert done.returncode == 0, done.stderr
    shutil.copy(REPO / "rust_crate" / "Cargo.lock", project / "rust_crate" / "Cargo.lock")
    (project / ".gitignore").write_text("bindbot-out/\n")
    _git(project, "init", "-q", "-b", "main")
    _git(project, "add", ".")
    _git(
        project, "-c", "user.name=t", "-c", "user.email=t@example.invalid", "commit", "-qm", "crate"
    )
    return Project(project, env, synthetic.commits)


@pytest.fixture
def project(synthetic: SyntheticUpstream, tmp_path: Path) -> Project:
    return make_project(synthetic, tmp_path, "base")


@pytest.fixture
def github(project: Project, tmp_path: Path) -> Iterator[FakeGitHub]:
    remote = tmp_path / "remote.git"
    _git(tmp_path, "clone", "-q", "--bare", str(project.root), str(remote))
    api = FakeGitHub("octo", "tflm-rs", TOKEN, remote)
    server, _ = serve(api)
    project.env.update(
        BINDBOT_FORGE="github",
        GITHUB_REPOSITORY="octo/tflm-rs",
        GITHUB_API_URL=api.url,
        BINDBOT_FORGE_REMOTE=str(remote),
        GITHUB_TOKEN=TOKEN,
    )
    yield api
    server.shutdown()


def test_dry_run_writes_the_proposal_and_a_second_run_says_no_change(
    project: Project, synthetic: SyntheticUpstream, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    head_before = _git(project.root, "rev-parse", "main")
    runner = fake_cargo()
    code = project.run(
        runner, "--dry-run", "--to", STEP, "--targets", "host", monkeypatch=monkeypatch
    )
    assert code == 0, capsys.readouterr().err
    folder = project.proposal()
    body = (folder / "pull-1.md").read_text()
    assert "additive" in body or "needs review" in body.lower()
    assert "| host |" in body and "✅" in body
    state = read_marker(body)
    assert state is not None and state["upstream"] == synthetic.commits[STEP]
    patch = (folder / "change.patch").read_text()
    assert "rust_crate/bindbot.lock" in patch and synthetic.commits[STEP] in patch
    assert (folder / "branch.txt").read_text().startswith("bindbot/tflite-micro -> main")
    sha = (folder / "commit.txt").read_text().split()[0]
    assert _git(project.root, "rev-parse", "bindbot/tflite-micro") == sha
    # The user's checkout is as it was: same main, clean work tree.
    assert _git(project.root, "rev-parse", "main") == head_before
    assert _git(project.root, "status", "--porcelain") == ""
    pinned = _git(project.root, "show", "bindbot/tflite-micro:rust_crate/bindbot.lock")
    assert synthetic.commits[STEP] in pinned

    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    again = fake_cargo()
    capsys.readouterr()
    assert project.run(again, "--dry-run", "--to", STEP, monkeypatch=monkeypatch) == 0
    assert "no change: pull request #1 already proposes" in capsys.readouterr().err
    assert not built(again)
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before


def test_no_api_change_exits_before_building(
    synthetic: SyntheticUpstream, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    project = make_project(synthetic, tmp_path, "op_added", generate=False)
    runner = fake_cargo()
    assert project.run(runner, "--dry-run", "--to", "non_api", monkeypatch=monkeypatch) == 0
    assert "none touches the API" in capsys.readouterr().err
    assert not built(runner) and not project.proposal().exists()
    # Configured to move the pin anyway, the run goes on to generate; at this synthetic
    # step generation is refused (the safe layer's methods are gone), and that failure
    # leaves everything as it was.
    code = project.run(
        runner,
        "--dry-run",
        "--to",
        "non_api",
        "--targets",
        "host",
        monkeypatch=monkeypatch,
        BINDBOT_BUMP_WITHOUT_API_CHANGE="1",
    )
    assert code == errors.GenerationError.exit_code
    assert not project.proposal().exists()
    assert _git(project.root, "status", "--porcelain") == ""


def test_github_create_unchanged_update_closed(
    project: Project,
    github: FakeGitHub,
    synthetic: SyntheticUpstream,
    monkeypatch: pytest.MonkeyPatch,
    capsys,
) -> None:
    run = lambda runner, *a, **e: project.run(runner, *a, monkeypatch=monkeypatch, **e)  # noqa: E731
    assert run(fake_cargo(), "--to", STEP, "--targets", "host") == 0
    assert len(github.pulls) == 1 and github.pulls[0]["state"] == "open"
    pull = github.pulls[0]
    assert pull["head"]["ref"] == "bindbot/tflite-micro" and pull["base"]["ref"] == "main"
    labels = [x["name"] for x in pull["labels"]]
    assert "bindbot" in labels and len(labels) == 2
    assert github.branch_sha("bindbot/tflite-micro") == pull["head"]["sha"]

    writes = len(github.writes())
    quiet = fake_cargo()
    assert run(quiet, "--to", STEP, "--targets", "host") == 0
    assert len(github.writes()) == writes and not built(quiet)

    # A new bindbot that makes the same crate bytes changes nothing on GitHub...
    monkeypatch.setattr("bindbot.bot.tool_digest", lambda: "next-version")
    writes = len(github.writes())
    assert run(fake_cargo(), "--to", STEP, "--targets", "host") == 0
    assert len(github.writes()) == writes
    # ...one whose templates change the crate updates the pull request in place.
    monkeypatch.setattr("bindbot.generate.crate.templates_digest", lambda: "0123456789ab")
    assert run(fake_cargo(), "--to", STEP, "--targets", "host") == 0
    assert len(github.pulls) == 1, "updated in place, not a second pull request"
    assert read_marker(github.pulls[0]["body"])["bindbot"] == "next-version"
    assert ("PATCH", "/repos/octo/tflm-rs/pulls/1") in github.writes()
    shown = _git(github.remote, "show", "bindbot/tflite-micro:rust_crate/tflm/src/lib.rs")
    assert "templates 0123456789ab" in shown

    github.close(1)
    capsys.readouterr()
    closed = fake_cargo()
    assert run(closed, "--to", STEP, "--targets", "host") == 0
    assert "closed without merging" in capsys.readouterr().err
    assert len(github.pulls) == 1 and not built(closed)
    out = capsys.readouterr()
    assert TOKEN not in out.out + out.err


def test_failed_verification_opens_one_issue_and_no_pull_request(
    project: Project, github: FakeGitHub, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    run = lambda runner, *a: project.run(runner, *a, monkeypatch=monkeypatch)  # noqa: E731
    code = run(fake_cargo(passing=False), "--to", STEP, "--targets", "host")
    assert code == errors.VerificationError.exit_code
    err = capsys.readouterr().err
    assert "host: test failed" in err and "tracking issue #1" in err
    assert github.pulls == [] and len(github.issues) == 1
    assert "no method named `invoke`" in github.issues[0]["body"]
    assert run(fake_cargo(passing=False), "--to", STEP, "--targets", "host") == 78
    assert len(github.issues) == 1  # the same issue, left alone: nothing new to say

    assert run(fake_cargo(), "--to", STEP, "--targets", "host") == 0
    assert len(github.pulls) == 1
    assert github.issues[0]["state"] == "closed"


def test_two_runs_cannot_interleave(
    project: Project, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    with exclusive(Path(project.env["BINDBOT_CACHE"]) / "run.lock", "test"):
        code = project.run(fake_cargo(), "--dry-run", "--to", STEP, monkeypatch=monkeypatch)
    assert code == errors.BusyError.exit_code
    assert "another bindbot run is in progress" in capsys.readouterr().err


def test_interrupted_run_leaves_nothing_half_written(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    head = _git(project.root, "rev-parse", "main")
    code = project.run(
        fake_cargo(interrupt_on="commit-tree"),
        "--dry-run",
        "--to",
        STEP,
        "--targets",
        "host",
        monkeypatch=monkeypatch,
    )
    assert code == 130
    assert _git(project.root, "rev-parse", "main") == head
    assert _git(project.root, "status", "--porcelain") == ""
    assert not (project.proposal() / "state.json").exists()
    branches = _git(project.root, "branch", "--list", "bindbot/*")
    assert branches == ""
    # The next run starts cleanly and proposes.
    assert (
        project.run(
            fake_cargo(), "--dry-run", "--to", STEP, "--targets", "host", monkeypatch=monkeypatch
        )
        == 0
    )
    assert json.loads((project.proposal() / "state.json").read_text())["pulls"][0]["number"] == 1


@pytest.mark.slow
def test_dry_run_with_the_real_build(
    project: Project, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    """No canned answers: the regenerated crate is really built and its tests run."""
    _require("cargo")
    code = project.run(
        subprocess_runner, "--dry-run", "--to", STEP, "--targets", "host", monkeypatch=monkeypatch
    )
    assert code == 0, capsys.readouterr().err
    body = (project.proposal() / "pull-1.md").read_text()
    assert "tests passed" in body and "**FAIL**" not in body
