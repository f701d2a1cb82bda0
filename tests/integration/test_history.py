"""`bindbot history` on the synthetic upstream: timeline, chart, and a warm second run."""

from __future__ import annotations

import io
import json
from pathlib import Path

from bindbot import pipeline
from bindbot.config import resolve
from bindbot.log import Progress
from bindbot.runner import subprocess_runner
from tests.conftest import Cli, synthetic_env
from tests.fixtures.synthetic import SyntheticUpstream


def _context(synthetic: SyntheticUpstream, cache: Path, project: Path) -> pipeline.Context:
    config = resolve(project, environ=synthetic_env(synthetic, cache))
    return pipeline.Context(config, subprocess_runner, fetch=False)


def test_history_then_warm_cache(synthetic: SyntheticUpstream, tmp_path: Path) -> None:
    cache, out = tmp_path / "cache", tmp_path / "out"
    ctx = _context(synthetic, cache, tmp_path)
    cold, paths = pipeline.history(ctx, None, "main", out)
    ctx.close()
    names = {p.name for p in paths}
    assert names == {"history.md", "history.json", "history.png", "history.svg"}
    assert (out / "history.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    svg = (out / "history.svg").read_text()
    md = (out / "history.md").read_text()

    # Every API-changing step is one timeline entry; the two non-API steps are not.
    subjects = [e.commit.subject.split(":")[0] for e in cold.entries]
    assert subjects == [
        s for s in list(synthetic.commits)[1:] if s not in ("non_api", "dep_bumped")
    ]
    assert cold.failures == ()
    assert cold.parsed >= 10

    ctx = _context(synthetic, cache, tmp_path)
    warm, _ = pipeline.history(ctx, None, "main", out)
    ctx.close()
    assert warm.parsed == 0  # served from the cache
    assert warm.entries == cold.entries
    assert (out / "history.svg").read_text() == svg  # chart bytes are stable
    assert (out / "history.md").read_text() == md

    data = json.loads((out / "history.json").read_text())
    assert data["api_commits"] == len(cold.entries)
    assert sum(m["breaking"] for m in data["monthly"]) == sum(
        e["summary"]["breaking"] for e in data["entries"]
    )


def test_history_records_unparseable_commits(synthetic: SyntheticUpstream, tmp_path: Path) -> None:
    ctx = _context(synthetic, tmp_path / "cache", tmp_path)
    timeline, _ = pipeline.history(ctx, synthetic.commits["base"], "broken", tmp_path / "out")
    ctx.close()
    assert [f.commit.sha for f in timeline.failures] == [synthetic.broken]
    assert "micro_interpreter.h" in timeline.failures[0].error


def test_history_cli_prints_outputs(cli: Cli, synthetic: SyntheticUpstream, tmp_path: Path) -> None:
    result = cli(
        "history",
        "--offline",
        "--from",
        synthetic.commits["class_deleted"],
        "--to",
        synthetic.commits["op_added"],
        "--out",
        str(tmp_path / "h"),
    )
    assert result.code == 0, result.err
    assert "4 commits, 3 API changes" in result.err
    assert str(tmp_path / "h" / "history.md") in result.out


def test_progress_is_quiet_without_a_tty() -> None:
    stream = io.StringIO()
    progress = Progress("history", 3, stream=stream)
    for _ in range(3):
        progress.advance()
    progress.close()
    assert stream.getvalue() == ""
    live = io.StringIO()
    shown = Progress("history", 2, stream=live, force=True)
    shown.advance()
    shown.advance()
    shown.close()
    assert "history: 2/2" in live.getvalue()
