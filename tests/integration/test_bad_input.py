"""Bad input: one line naming the problem and the fix, a distinct exit status, nothing
half-written (no cache entry, no lock file)."""

from __future__ import annotations

from pathlib import Path

import pygit2

from bindbot import errors
from bindbot.api.model import SCHEMA_VERSION
from bindbot.upstream.lock import read_lock
from tests.conftest import Cli, synthetic_env
from tests.fixtures.synthetic import SHIM_BREAKS_PARENT, SyntheticUpstream


def _one_line_error(result_err: str) -> str:
    lines = [line for line in result_err.splitlines() if line.startswith("bindbot: error:")]
    assert len(lines) == 1, result_err
    assert "(fix: " in lines[0]
    return lines[0]


def test_unknown_ref(cli: Cli, synthetic: SyntheticUpstream) -> None:
    result = cli("diff", "--offline", "no-such-branch", synthetic.commits["base"])
    assert result.code == errors.UnknownRefError.exit_code
    assert "no-such-branch" in _one_line_error(result.err)


def test_short_sha_and_branch_resolve(cli: Cli, synthetic: SyntheticUpstream) -> None:
    short = synthetic.commits["op_added"][:8]
    result = cli("resolve", "--offline", short)
    assert result.code == 0 and result.out.startswith(synthetic.commits["op_added"])
    head = cli("resolve", "--offline", "main")
    assert head.out.startswith(list(synthetic.commits.values())[-1])


def test_upstream_that_is_not_a_repository(cli: Cli, tmp_path: Path) -> None:
    plain = tmp_path / "plain"
    plain.mkdir()
    result = cli("sync", BINDBOT_UPSTREAM=str(plain))
    assert result.code == errors.NotARepositoryError.exit_code
    assert "not a git repository" in _one_line_error(result.err)
    missing = cli("sync", BINDBOT_UPSTREAM=str(tmp_path / "nowhere"))
    assert missing.code == errors.NotARepositoryError.exit_code
    assert "does not exist" in _one_line_error(missing.err)


def test_dependency_pin_that_cannot_be_materialised(
    cli: Cli, synthetic: SyntheticUpstream, tmp_path: Path
) -> None:
    cache = tmp_path / "cache"
    # gemmlowp's repository has no flatbuffers tag v2.0.0.
    result = cli(
        "api",
        "--offline",
        synthetic.commits["base"],
        BINDBOT_CACHE=str(cache),
        BINDBOT_DEP_FLATBUFFERS=str(synthetic.deps["gemmlowp"]),
    )
    assert result.code == errors.DependencyError.exit_code
    line = _one_line_error(result.err)
    assert "v2.0.0" in line and "BINDBOT_DEP_FLATBUFFERS" in line
    assert not (cache / "deps" / "flatbuffers").exists() or not any(
        (cache / "deps" / "flatbuffers").iterdir()
    )
    assert not (cache / "api" / f"v{SCHEMA_VERSION}" / "models").exists()


def test_headers_that_fail_to_parse(cli: Cli, synthetic: SyntheticUpstream, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    result = cli(
        "diff", "--offline", synthetic.commits["base"], synthetic.broken, BINDBOT_CACHE=str(cache)
    )
    assert result.code == errors.HeaderParseError.exit_code
    assert "micro_interpreter.h" in _one_line_error(result.err)
    # The good commit was cached; the broken one left no entry behind.
    api = cache / "api" / f"v{SCHEMA_VERSION}"
    assert not list((api / "commits").glob(f"*/{synthetic.broken}"))
    models = list((api / "models").iterdir())
    assert len(models) == 1


def test_failed_lock_leaves_no_lock(cli: Cli, synthetic: SyntheticUpstream) -> None:
    result = cli("lock", "--offline", synthetic.broken)
    assert result.code == errors.HeaderParseError.exit_code
    assert not (cli.project / "rust_crate" / "bindbot.lock").exists()


def test_corrupted_lock_is_reported_and_kept(cli: Cli) -> None:
    lock = cli.project / "rust_crate" / "bindbot.lock"
    lock.parent.mkdir(parents=True)
    lock.write_text("version = 1\n[upstream\n")
    result = cli("run", "--offline", "--report-only")
    assert result.code == errors.LockError.exit_code
    assert "corrupted" in _one_line_error(result.err)
    assert lock.read_text() == "version = 1\n[upstream\n"


def test_usage_error_has_its_own_status(cli: Cli) -> None:
    result = cli("diff", "--offline", "only-one-ref")
    assert result.code == errors.UsageError.exit_code
    assert result.code != 2  # 2 means "breaking change" for diff
    bad_dep = cli("sync", "--dep", "flatbuffers")
    assert bad_dep.code == errors.UsageError.exit_code


def test_force_pushed_upstream_is_detected(
    cli: Cli, synthetic: SyntheticUpstream, tmp_path: Path
) -> None:
    """Upstream main rewritten under the pin: `run` stops instead of reporting silently."""
    remote = tmp_path / "remote.git"
    repo = pygit2.clone_repository(str(synthetic.path), str(remote), bare=True)
    env = synthetic_env(synthetic, tmp_path / "cache")
    env["BINDBOT_UPSTREAM"] = str(remote)
    assert cli("lock", **env).code == 0
    lock = cli.project / "rust_crate" / "bindbot.lock"
    before = lock.read_text()
    assert read_lock(lock).commit == list(synthetic.commits.values())[-1]

    # Force-push: main now ends in a new commit on top of an older one.
    base = repo[synthetic.commits["op_added"]]
    sig = pygit2.Signature("x", "x@example.invalid", 1700000000, 0)
    rewritten = repo.create_commit(None, sig, sig, "rewritten", base.tree.id, [base.id])
    repo.references["refs/heads/main"].set_target(rewritten)

    result = cli("run", "--report-only", **env)
    assert result.code == errors.LockError.exit_code
    assert "force-pushed" in _one_line_error(result.err)
    assert lock.read_text() == before

    accepted = cli("run", "--report-only", "--allow-rewritten-history", **env)
    assert accepted.code in (0, 1, 2), accepted.err
    assert lock.read_text() == before  # reporting never moves the pin by itself


def test_a_shim_that_would_not_compile_is_refused_before_writing(
    cli: Cli, synthetic: SyntheticUpstream
) -> None:
    # A good pin first: its crate is what must survive the refused one.
    assert cli("lock", "--offline", synthetic.commits[SHIM_BREAKS_PARENT]).code == 0
    assert cli("generate", "--offline").code == 0
    crate = cli.project / "rust_crate"
    before = {p: p.read_bytes() for p in sorted(crate.rglob("*")) if p.is_file()}
    # The API report sees the change (memory_helpers.h is part of the modelled API because
    # the shim calls into it), and generate refuses the pin rather than write a crate that
    # does not build.
    diff = cli("diff", "--offline", synthetic.commits[SHIM_BREAKS_PARENT], synthetic.shim_breaks)
    assert diff.code == 2, diff.out + diff.err
    assert "BytesRequiredForTensor" in diff.out
    assert "the shim must follow" in diff.out
    assert cli("lock", "--offline", synthetic.shim_breaks).code == 0
    before = {**before, crate / "bindbot.lock": (crate / "bindbot.lock").read_bytes()}
    result = cli("generate", "--offline")
    assert result.code == errors.GenerationError.exit_code
    line = _one_line_error(result.err)
    assert "tflm_shim.cc" in line and "BytesRequiredForTensor" in line
    after = {p: p.read_bytes() for p in sorted(crate.rglob("*")) if p.is_file()}
    assert after == before, "a refused generate wrote files"
