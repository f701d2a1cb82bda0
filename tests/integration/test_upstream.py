"""The upstream mirror: clone once by URL or path, fetch incrementally, export trees."""

from __future__ import annotations

from pathlib import Path

import pygit2

from tests.conftest import Cli
from tests.fixtures.synthetic import SyntheticUpstream


def test_url_clone_then_incremental_fetch(
    cli: Cli, synthetic: SyntheticUpstream, tmp_path: Path
) -> None:
    remote = tmp_path / "remote.git"
    repo = pygit2.clone_repository(str(synthetic.path), str(remote), bare=True)
    env = {"BINDBOT_UPSTREAM": remote.as_uri(), "BINDBOT_CACHE": str(tmp_path / "cache")}
    first = cli("sync", **env)
    assert first.code == 0, first.err
    assert first.out.startswith(list(synthetic.commits.values())[-1])
    mirrors = list((tmp_path / "cache" / "upstream").iterdir())
    assert len(mirrors) == 1

    # Upstream moves on: the next sync fetches the new commit into the same mirror.
    head = repo.head.peel(pygit2.Commit)
    sig = pygit2.Signature("x", "x@example.invalid", 1800000000, 0)
    new = repo.create_commit("refs/heads/main", sig, sig, "upstream moved", head.tree.id, [head.id])
    second = cli("sync", **env)
    assert second.out.startswith(str(new))
    assert list((tmp_path / "cache" / "upstream").iterdir()) == mirrors

    offline = cli("resolve", "--offline", str(new)[:12], **env)
    assert offline.out.startswith(str(new))


def test_export_headers_or_everything(
    cli: Cli, synthetic: SyntheticUpstream, tmp_path: Path
) -> None:
    ref = synthetic.commits["non_api"]
    assert cli("export", "--offline", ref, str(tmp_path / "all")).code == 0
    assert cli("export", "--offline", "--headers-only", ref, str(tmp_path / "h")).code == 0
    everything = {
        p.relative_to(tmp_path / "all").as_posix()
        for p in (tmp_path / "all").rglob("*")
        if p.is_file()
    }
    headers = {
        p.relative_to(tmp_path / "h").as_posix() for p in (tmp_path / "h").rglob("*") if p.is_file()
    }
    assert "tensorflow/lite/micro/micro_interpreter.cc" in everything
    assert "tensorflow/lite/micro/micro_interpreter.h" in headers
    assert headers < everything
    assert all(h.endswith((".h", ".inc")) for h in headers)


def test_commits_touching_the_api(cli: Cli, synthetic: SyntheticUpstream) -> None:
    c = synthetic.commits
    result = cli("commits", "--offline", c["op_added"], c["debug_log_changed"])
    listed = [line.split()[0] for line in result.out.splitlines()]
    # non_api changes only a .cc file and README; the pin bump touches a pin file.
    assert listed == [c["dep_bumped"], c["debug_log_changed"]]
