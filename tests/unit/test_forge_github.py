"""The GitHub forge against a local server that behaves as GitHub documents, with a real bare
repository as the remote: create, update in place, no duplicate, closed-not-reopened, the
failure issue, releases (find, create with their tag, duplicate), retries, rate limits,
errors and token redaction."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from bindbot.errors import ForgeError, PullExistsError
from bindbot.forge import Commit, ReleaseExistsError
from bindbot.forge.branch import ProjectRepo
from bindbot.forge.github import ATTEMPTS, GitHub
from bindbot.forge.local import LocalForge
from bindbot.forge.propose import (
    FAILURE_LABEL,
    Proposal,
    marker,
    propose,
    report_failure,
    resolve_failures,
)
from bindbot.runner import InterceptingRunner, subprocess_runner
from tests.fixtures.github_server import FakeGitHub, Fault, serve

TOKEN = "ghs_TopSecretToken1234567890"
BRANCH = "bindbot/tflite-micro"


def _git(cwd: Path, *args: str) -> str:
    done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=True)
    return done.stdout.strip()


@pytest.fixture
def project(tmp_path: Path) -> tuple[Path, Path]:
    """A project repository with a crate on main, and a bare clone as its remote."""
    work = tmp_path / "project"
    (work / "rust_crate").mkdir(parents=True)
    (work / "rust_crate" / "bindbot.lock").write_text("commit = 'old'\n")
    (work / "README.md").write_text("project\n")
    _git(work, "init", "-q", "-b", "main")
    _git(work, "add", ".")
    _git(work, "-c", "user.name=t", "-c", "user.email=t@example.invalid", "commit", "-qm", "init")
    remote = tmp_path / "remote.git"
    _git(tmp_path, "clone", "-q", "--bare", str(work), str(remote))
    return work, remote


@pytest.fixture
def github(
    project: tuple[Path, Path],
) -> Iterator[tuple[FakeGitHub, GitHub, InterceptingRunner, list[float]]]:
    work, remote = project
    api = FakeGitHub("octo", "tflm-rs", TOKEN, remote)
    server, _ = serve(api)
    slept: list[float] = []
    runner = InterceptingRunner()
    forge = GitHub(
        "octo/tflm-rs",
        TOKEN,
        runner,
        project_dir=work,
        api_url=api.url,
        remote=str(remote),
        sleep=slept.append,
        clock=lambda: 1_000_000.0,
        timeout=2.0,
    )
    yield api, forge, runner, slept
    server.shutdown()


def _commit(work: Path, text: str) -> Commit:
    """A crate commit on top of main, made without touching the work tree."""
    repo = ProjectRepo(subprocess_runner, work)
    stage = work.parent / f"stage-{abs(hash(text))}"
    (stage / "rust_crate").mkdir(parents=True, exist_ok=True)
    (stage / "rust_crate" / "bindbot.lock").write_text(text)
    base = repo.resolve("main")
    return repo.make_commit(base, "rust_crate", stage, f"update to {text}", BRANCH, "main")


def _proposal(upstream: str, title: str = "Update tflite-micro") -> Proposal:
    state = {"upstream": upstream, "pinned": "old", "bindbot": "t"}
    return Proposal(
        BRANCH,
        "main",
        title,
        f"{marker(state)}\nbody for {upstream}\n",
        ("bindbot", "additive"),
        state,
    )


def test_create_then_unchanged_then_update_in_place(github, project) -> None:
    api, forge, _, _ = github
    work, _ = project
    status_before = _git(work, "status", "--porcelain")
    first = propose(forge, _proposal("aaa"), _commit(work, "aaa"))
    assert first.action == "created" and first.number == 1
    assert api.branch_sha(BRANCH) == first_sha(api)
    assert [x["name"] for x in api.pulls[0]["labels"]] == ["bindbot", "additive"]
    # The work tree and the checked-out branch were not touched by making the commit.
    assert _git(work, "status", "--porcelain") == status_before
    assert _git(work, "rev-parse", "--abbrev-ref", "HEAD") == "main"

    writes = len(api.writes())
    again = propose(forge, _proposal("aaa"), _commit(work, "aaa"))
    assert again.action == "unchanged" and again.number == 1
    assert len(api.writes()) == writes  # nothing pushed or patched

    moved = propose(forge, _proposal("bbb", "Update to bbb"), _commit(work, "bbb"))
    assert moved.action == "updated" and moved.number == 1
    assert len(api.pulls) == 1
    assert api.pulls[0]["title"] == "Update to bbb" and "bbb" in api.pulls[0]["body"]
    assert _git(api.remote, "show", f"{BRANCH}:rust_crate/bindbot.lock") == "bbb"


def first_sha(api: FakeGitHub) -> str | None:
    return api.pulls[0]["head"]["sha"] if api.pulls else None


def test_no_duplicate_when_github_says_one_exists(github, project) -> None:
    api, forge, _, _ = github
    work, _ = project
    commit = _commit(work, "aaa")
    forge.push(commit)
    forge.create_pull(BRANCH, "main", "t", "b", ())
    with pytest.raises(PullExistsError):
        forge.create_pull(BRANCH, "main", "t", "b", ())
    assert len(api.pulls) == 1


def test_closed_pull_request_is_not_reopened(github, project) -> None:
    api, forge, _, _ = github
    work, _ = project
    propose(forge, _proposal("aaa"), _commit(work, "aaa"))
    api.close(1)
    writes = len(api.writes())
    again = propose(forge, _proposal("aaa"), _commit(work, "aaa"))
    assert again.action == "skipped-closed" and "closed without merging" in again.message
    assert len(api.pulls) == 1 and api.pulls[0]["state"] == "closed"
    assert len(api.writes()) == writes
    # A newer upstream commit is proposed in a new pull request.
    newer = propose(forge, _proposal("ccc"), _commit(work, "ccc"))
    assert newer.action == "created" and newer.number == 2


def test_listing_follows_link_pagination(github, project) -> None:
    api, forge, _, _ = github
    work, _ = project
    forge.push(_commit(work, "old"))
    for i in range(5):
        forge.create_pull(BRANCH, "main", f"old {i}", marker({"upstream": f"u{i}"}), ())
        api.close(api.pulls[-1]["number"])
    gets = len([r for r in api.requests if r[0] == "GET"])
    found = forge.pulls(BRANCH)
    assert [p.title for p in found] == [f"old {i}" for i in reversed(range(5))]
    assert len([r for r in api.requests if r[0] == "GET"]) - gets == 3  # pages of 2, 2, 1


def test_failure_issue_is_opened_updated_and_closed(github) -> None:
    api, forge, _, _ = github
    state = {"upstream": "aaa", "failed": "m4f: qemu M4F"}
    first = report_failure(forge, "bindbot: verification failed", marker(state) + "\nlog", state)
    assert first.action == "created"
    assert [x["name"] for x in api.issues[0]["labels"]] == ["bindbot", FAILURE_LABEL]
    assert report_failure(forge, "t", marker(state), state).action == "unchanged"
    state2 = {**state, "upstream": "bbb"}
    second = report_failure(forge, "t2", marker(state2) + "\nlog", state2)
    assert second.action == "updated" and second.number == first.number
    assert len(api.issues) == 1
    closed = resolve_failures(forge, "ccc")
    assert [i.number for i in closed] == [first.number]
    assert api.issues[0]["state"] == "closed" and "passes" in api.issues[0]["body"]


def test_issue_listing_skips_pull_requests(github, project) -> None:
    _api, forge, _, _ = github
    work, _ = project
    forge.push(_commit(work, "aaa"))
    pull = forge.create_pull(BRANCH, "main", "t", "b", (FAILURE_LABEL,))
    assert pull.labels == (FAILURE_LABEL,)
    assert forge.issues(FAILURE_LABEL) == []


def test_retries_5xx_with_backoff(github) -> None:
    api, forge, _, slept = github
    api.faults = [Fault(500), Fault(502), Fault(503)]
    assert forge.pulls(BRANCH) == []
    assert slept == [1.0, 2.0, 4.0]


def test_gives_up_after_the_last_attempt(github) -> None:
    api, forge, _, slept = github
    api.faults = [Fault(502) for _ in range(ATTEMPTS)]
    with pytest.raises(ForgeError) as err:
        forge.pulls(BRANCH)
    assert "502" in err.value.problem and len(slept) == ATTEMPTS - 1


def test_retries_a_timeout(github) -> None:
    api, forge, _, slept = github
    forge.timeout = 0.3
    api.faults = [Fault(200, delay=1.0)]
    assert forge.pulls(BRANCH) == []
    assert slept == [1.0]


def test_rate_limits_wait_as_github_asks(github) -> None:
    api, forge, _, slept = github
    api.faults = [
        Fault(
            403,
            {"x-ratelimit-remaining": "0", "x-ratelimit-reset": str(1_000_000 + 10)},
            {"message": "API rate limit exceeded"},
        ),
        Fault(403, {"retry-after": "7"}, {"message": "You have exceeded a secondary rate limit"}),
        Fault(429, {}, {"message": "too many"}),
    ]
    assert forge.pulls(BRANCH) == []
    assert slept == [11.0, 7.0, 60.0]


def test_a_rate_limit_far_away_is_an_error_not_a_wait(github) -> None:
    api, forge, _, slept = github
    api.faults = [
        Fault(403, {"x-ratelimit-remaining": "0", "x-ratelimit-reset": str(1_000_000 + 7200)})
    ]
    with pytest.raises(ForgeError) as err:
        forge.pulls(BRANCH)
    assert "rate limit" in err.value.problem and "after the reset" in err.value.fix
    assert slept == []


@pytest.mark.parametrize(
    ("fault", "problem", "fix"),
    [
        (
            Fault(401, body={"message": "Bad credentials"}),
            "401 Bad credentials",
            "token was rejected",
        ),
        (
            Fault(403, body={"message": "Resource not accessible by integration"}),
            "403",
            "pull-requests: write",
        ),
        (Fault(404, body={"message": "Not Found"}), "404 Not Found", "octo/tflm-rs exists"),
        (
            Fault(422, body={"message": "Validation Failed", "errors": [{"message": "bad base"}]}),
            "422 Validation Failed; bad base",
            "rejected",
        ),
    ],
)
def test_client_errors_are_clear_and_not_retried(github, fault, problem, fix) -> None:
    api, forge, _, slept = github
    api.faults = [fault]
    with pytest.raises(ForgeError) as err:
        forge.pulls(BRANCH)
    assert problem in err.value.problem and fix in err.value.fix
    assert slept == [] and len(api.requests) == 1
    assert err.value.exit_code == 79


def test_wrong_token_is_rejected_by_the_server(github, project) -> None:
    api, _, runner, _ = github
    work, _ = project
    bad = GitHub(
        "octo/tflm-rs",
        "ghs_wrong_token_000",
        runner,
        project_dir=work,
        api_url=api.url,
        sleep=lambda _: None,
    )
    with pytest.raises(ForgeError) as err:
        bad.pulls(BRANCH)
    assert "401" in err.value.problem and "ghs_wrong_token_000" not in err.value.one_line()


def test_token_never_appears_in_errors_or_commands(github, project, capsys) -> None:
    api, forge, runner, _ = github
    work, _ = project
    # A server that echoes the credentials it got (some proxies do) into an error message.
    api.faults = [Fault(422, body={"message": f"bad header Bearer {TOKEN}"})]
    with pytest.raises(ForgeError) as err:
        forge.pulls(BRANCH)
    assert TOKEN not in err.value.one_line() and "***" in err.value.one_line()

    forge.push(_commit(work, "aaa"))  # a real push through git
    broken = GitHub(
        "octo/tflm-rs",
        TOKEN,
        runner,
        project_dir=work,
        api_url=api.url,
        remote=f"http://127.0.0.1:1/x{TOKEN}.git",
        sleep=lambda _: None,
    )
    with pytest.raises(ForgeError) as push_err:
        broken.push(_commit(work, "bbb"))
    assert TOKEN not in push_err.value.one_line()
    for args, env in zip(runner.calls, runner.envs, strict=True):
        assert not any(TOKEN in a for a in args if "127.0.0.1:1" not in a)
        # The credential travels in the environment, base64-encoded, only for git.
        assert TOKEN not in " ".join(env.get(k, "") for k in env if k.startswith("GIT_CONFIG"))
    captured = capsys.readouterr()
    assert TOKEN not in captured.out + captured.err


def test_missing_token_or_repository_is_a_clear_error(project) -> None:
    work, _ = project
    with pytest.raises(ForgeError, match="no GitHub token"):
        GitHub("octo/tflm-rs", "", subprocess_runner, project_dir=work)
    with pytest.raises(ForgeError, match="OWNER/NAME"):
        GitHub("tflm-rs", TOKEN, subprocess_runner, project_dir=work)


def test_release_find_create_and_duplicate(github, project) -> None:
    api, forge, _, _ = github
    work, _ = project
    main = _git(work, "rev-parse", "main")
    assert forge.find_release("v0.2.0") is None  # GitHub's 404: no release yet
    made = forge.release("v0.2.0", "tflm 0.2.0", "## Changed\n- things\n", main)
    assert made.tag == "v0.2.0" and made.name == "tflm 0.2.0" and made.target == main
    assert made.url.endswith("/releases/tag/v0.2.0")
    # GitHub created the tag at the commit given.
    assert api.tag_sha("v0.2.0") == main
    found = forge.find_release("v0.2.0")
    assert found == made
    assert [(m, p) for m, p, _ in api.requests if m == "POST"] == [
        ("POST", "/repos/octo/tflm-rs/releases")
    ]
    with pytest.raises(ReleaseExistsError) as err:
        forge.release("v0.2.0", "again", "b", main)
    assert "422" in err.value.problem and "v0.2.0" in err.value.problem
    assert isinstance(err.value, ForgeError) and len(api.releases) == 1
    assert api.releases[0]["name"] == "tflm 0.2.0"


def test_release_at_a_commit_github_does_not_have_is_a_clear_error(github) -> None:
    api, forge, _, slept = github
    with pytest.raises(ForgeError) as err:
        forge.release("v0.3.0", "n", "b", "0" * 40)
    assert not isinstance(err.value, ReleaseExistsError)
    assert "422 Validation Failed" in err.value.problem and slept == []
    assert api.releases == [] and api.tag_sha("v0.3.0") is None


def test_releases_need_the_token(github, project) -> None:
    api, _, runner, _ = github
    work, _ = project
    anonymous = GitHub(
        "octo/tflm-rs", "ghs_not_it", runner, project_dir=work, api_url=api.url, sleep=print
    )
    with pytest.raises(ForgeError, match="401"):
        anonymous.find_release("v0.2.0")
    with pytest.raises(ForgeError, match="401"):
        anonymous.release("v0.2.0", "n", "b", "main")
    assert api.releases == []


def test_local_forge_releases(tmp_path) -> None:
    forge = LocalForge(tmp_path / "proposal")
    assert forge.find_release("v0.2.0") is None
    made = forge.release("v0.2.0", "tflm 0.2.0", "notes\n", "abc123")
    assert (tmp_path / "proposal" / "release-v0.2.0.md").read_text().endswith("notes\n")
    assert LocalForge(tmp_path / "proposal").find_release("v0.2.0") == made
    with pytest.raises(ReleaseExistsError):
        forge.release("v0.2.0", "again", "x", "abc123")
