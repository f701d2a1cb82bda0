"""`bindbot replay` on the synthetic upstream: each sampled commit pinned and generated in its
own scratch crate, failures recorded as rows (a shim that does not compile, headers that do
not parse), the project's crate untouched."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bindbot.upstream.lock import read_lock
from tests.conftest import Cli
from tests.fixtures.models import write_golden
from tests.fixtures.synthetic import SHIM_BREAKS_PARENT, SyntheticUpstream
from tests.integration.test_crate_synthetic import _require


def _rows(stdout: str) -> list[list[str]]:
    lines = [line for line in stdout.splitlines() if line.startswith("| `")]
    return [[cell.strip() for cell in line.strip("|").split(" | ")] for line in lines]


def _scratch(cli: Cli, sha: str) -> Path:
    cache = Path(cli.env["BINDBOT_CACHE"])
    return cache / "replay" / sha[:12] / "rust_crate"


def test_replay_records_a_shim_that_does_not_compile(
    cli: Cli, synthetic: SyntheticUpstream, tmp_path: Path
) -> None:
    out = tmp_path / "replay"
    # shim-breaks branches off SHIM_BREAKS_PARENT: its first-parent line is base,
    # param_added_default, shim_breaks, so a sample of 3 takes all of it.
    args = ("replay", "--offline", "--sample", "3", "--from", "2021-04-01")
    result = cli(*args, "--to", "shim-breaks", "--build", "0", "--out", str(out))
    assert result.code == 0, result.err
    base, parent = synthetic.commits["base"], synthetic.commits[SHIM_BREAKS_PARENT]
    rows = _rows(result.out)
    assert [r[0] for r in rows] == [f"`{s[:12]}`" for s in (base, parent, synthetic.shim_breaks)]
    assert rows[0][2:5] == ["ok", "ok (3 ops)", "—"]
    assert rows[1][2:5] == ["ok", "ok (3 ops)", "—"]
    assert rows[2][2:5] == ["ok", "failed", "—"]
    assert "tflm_shim.cc" in rows[2][6] and "does not compile" in rows[2][6]
    assert "generated: 2 of 3 (67%)" in result.out
    assert "built and passed host tests: 0 of 0" in result.out

    data = json.loads((out / "replay.json").read_text())
    assert data["summary"] == {"sampled": 3, "generated": 2, "built": 0, "passed": 0}
    assert [r["sha"] for r in data["rows"]] == [base, parent, synthetic.shim_breaks]
    assert "BytesRequiredForTensor" in data["rows"][2]["note"]
    assert data["end"] == synthetic.shim_breaks and data["window"] == 3
    md = (out / "replay.md").read_text()
    assert "generated: 2 of 3 (67%)" in md and f"`{synthetic.shim_breaks[:12]}`" in md

    # Each commit has its own scratch crate pinned at it; the refused one has only its lock.
    for sha in (base, parent):
        crate = _scratch(cli, sha)
        assert read_lock(crate / "bindbot.lock").commit == sha
        assert sha.encode() in (crate / "tflm-sys" / "shim" / "tflm_shim.cc").read_bytes()
    refused = _scratch(cli, synthetic.shim_breaks)
    assert [p.name for p in refused.iterdir()] == ["bindbot.lock"]
    # The project's own crate is never touched.
    assert not (cli.project / "rust_crate").exists()

    # A second run starts each scratch crate afresh.
    leftover = _scratch(cli, base) / "leftover.txt"
    leftover.write_text("from an earlier run")
    again = cli(*args, "--to", "shim-breaks", "--build", "0", "--out", str(out))
    assert again.code == 0, again.err
    assert not leftover.exists()
    assert _rows(again.out)[2][2:5] == rows[2][2:5]


def test_replay_records_headers_that_do_not_parse(
    cli: Cli, synthetic: SyntheticUpstream, tmp_path: Path
) -> None:
    args = ("replay", "--offline", "--sample", "5", "--from", "2021-04-01", "--to", "broken")
    result = cli(*args, "--build", "0", "--out", str(tmp_path / "r"))
    assert result.code == 0, result.err
    rows = _rows(result.out)
    assert [r[0] for r in rows] == [
        f"`{synthetic.commits['base'][:12]}`",
        f"`{synthetic.broken[:12]}`",
    ]
    assert rows[1][2:4] == ["failed", "—"]
    assert "micro_interpreter.h" in rows[1][6]
    assert "generated: 1 of 2 (50%)" in result.out


def test_replay_samples_from_the_date_on(
    cli: Cli, synthetic: SyntheticUpstream, tmp_path: Path
) -> None:
    # Steps are 30 days apart from 2021-04-01: the first on or after 2021-05-15 is the third
    # (2021-05-31), so the window up to the fourth holds two commits.
    end = synthetic.commits["param_removed"]
    args = ("replay", "--offline", "--from", "2021-05-15", "--to", end)
    result = cli(*args, "--sample", "4", "--build", "0", "--out", str(tmp_path / "r"))
    assert result.code == 0, result.err
    data = json.loads((tmp_path / "r" / "replay.json").read_text())
    assert data["window"] == 2 and data["since"] == "2021-05-15"
    steps = ("param_added_required", "param_removed")
    assert [r["sha"] for r in data["rows"]] == [synthetic.commits[s] for s in steps]
    # One commit: the newest, the one the bot would pin today.
    one = cli(*args, "--sample", "1", "--build", "0", "--out", str(tmp_path / "r"))
    assert _rows(one.out)[0][0] == f"`{synthetic.commits['param_removed'][:12]}`"


@pytest.mark.parametrize(
    ("args", "code", "words"),
    [
        (("--sample", "0", "--from", "2021-04-01"), 64, "--sample 0"),
        (("--sample", "2", "--from", "April"), 64, "is not a date"),
        (("--sample", "2", "--from", "2021-04-01", "--build", "-1"), 64, "--build -1"),
        (("--sample", "2", "--from", "2099-01-01"), 67, "dated 2099-01-01 or later"),
        (("--sample", "2", "--from", "2021-04-01", "--to", "no-such-ref"), 67, "no-such-ref"),
    ],
)
def test_replay_refuses_bad_arguments(
    cli: Cli, args: tuple[str, ...], code: int, words: str
) -> None:
    result = cli("replay", "--offline", *args)
    assert result.code == code, result.err
    assert words in result.err and "(fix: " in result.err
    assert result.out == ""


@pytest.mark.slow
def test_replay_builds_and_host_tests_the_generated_commits(
    cli: Cli, synthetic: SyntheticUpstream, tmp_path: Path
) -> None:
    for tool in ("cargo", "bindgen"):
        _require(tool)
    out = tmp_path / "replay"
    golden = write_golden(tmp_path / "golden")
    result = cli(
        "replay",
        "--offline",
        *("--sample", "3", "--from", "2021-04-01", "--to", "shim-breaks"),
        *("--build", "3", "--out", str(out)),
        BINDBOT_GOLDEN=str(golden),
    )
    assert result.code == 0, result.err
    rows = _rows(result.out)
    # Only the two commits that generated are built; the refused one is not.
    assert [r[4] for r in rows] == ["passed", "passed", "—"]
    assert "built and passed host tests: 2 of 2" in result.out
    for sha in (synthetic.commits["base"], synthetic.commits[SHIM_BREAKS_PARENT]):
        report = json.loads((out / f"verify-{sha[:12]}" / "verify.json").read_text())
        assert report["commit"] == sha
