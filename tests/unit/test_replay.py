"""`bindbot replay`'s pure parts: which commits are sampled and built, and the report."""

from __future__ import annotations

import itertools
import json

import pytest

from bindbot.errors import UsageError
from bindbot.replay import (
    Build,
    ReplayResult,
    ReplayRow,
    choose_builds,
    parse_date,
    percent,
    spread,
    window_start,
)


@pytest.mark.parametrize(
    ("count", "n", "expected"),
    [
        (10, 3, [0, 5, 9]),  # 4.5 rounds half up
        (10, 2, [0, 9]),
        (10, 1, [9]),  # one commit: the newest, the pin the bot would take today
        (5, 5, [0, 1, 2, 3, 4]),
        (3, 8, [0, 1, 2]),  # more asked than there are: all of them
        (0, 3, []),
        (7, 0, []),
        (2000, 24, None),
    ],
)
def test_spread_is_even_with_both_ends(count: int, n: int, expected: list[int] | None) -> None:
    got = spread(count, n)
    if expected is not None:
        assert got == expected
    assert got == sorted(set(got)), "indices are distinct and ascending"
    assert len(got) == min(count, n)
    if count and n >= 2:
        assert got[0] == 0 and got[-1] == count - 1
        gaps = [b - a for a, b in itertools.pairwise(got)]
        assert max(gaps) - min(gaps) <= 1, gaps


def test_spread_is_deterministic() -> None:
    assert spread(1234, 24) == spread(1234, 24)


def test_window_starts_at_the_first_commit_on_or_after_the_day() -> None:
    dates = ["2021-03-30T10:00:00Z", "2021-04-01T00:00:00Z", "2021-03-31T23:00:00Z"]
    assert window_start(dates, "2021-04-01") == 1
    assert window_start(dates, "2021-03-01") == 0
    assert window_start(dates, "2021-05-01") is None


def test_from_must_be_a_date() -> None:
    assert parse_date("2021-04-01") == "2021-04-01"
    with pytest.raises(UsageError, match="is not a date") as caught:
        parse_date("April 2021")
    assert "YYYY-MM-DD" in caught.value.one_line()


def _dates(*years: int) -> list[str]:
    return [f"{y}-06-01T00:00:00Z" for y in years]


def test_builds_spread_over_the_generated_commits_only() -> None:
    dates = _dates(2021, 2021, 2022, 2023, 2024, 2025, 2026)
    ok = [False, True, True, True, False, True, True]
    assert choose_builds(dates, ok, 3) == [1, 3, 6]
    assert choose_builds(dates, ok, 0) == []
    assert choose_builds(dates, ok, 10) == [1, 2, 3, 5, 6]
    assert choose_builds(dates, [False] * 7, 3) == []


def test_builds_keep_a_pre_2023_commit_when_there_is_one() -> None:
    # The even spread starts at the oldest generated commit; when that one is after the
    # cutoff, nothing earlier generated and nothing needs swapping.
    dates = _dates(2021, 2022, 2023, 2024, 2025)
    assert choose_builds(dates, [False, False, True, True, True], 3) == [2, 3, 4]
    # Dates that step back along the first-parent line: the oldest row is not the oldest
    # date, so the pre-cutoff commit is swapped in for the oldest later pick; the newest
    # commit stays.
    dates = _dates(2023, 2022, 2024, 2025, 2026)
    assert choose_builds(dates, [True] * 5, 3) == [1, 2, 4]
    # Asking for more pre-cutoff builds swaps more in, never past the ones that exist.
    dates = _dates(2021, 2021, 2022, 2024, 2025, 2026)
    assert choose_builds(dates, [True] * 6, 3) == [0, 3, 5]
    assert choose_builds(dates, [True] * 6, 3, min_before=2) == [0, 2, 5]
    assert choose_builds(dates, [True] * 6, 3, min_before=9) == [0, 1, 2]
    # Fewer than three builds leave no room to reserve one.
    assert choose_builds(_dates(2023, 2022, 2024), [True] * 3, 2) == [0, 2]


def _result() -> ReplayResult:
    rows = (
        ReplayRow("a" * 40, "2021-04-02T00:00:00Z", "one", True, True, 77, 12.4),
        ReplayRow(
            "b" * 40,
            "2022-01-02T00:00:00Z",
            "two",
            True,
            False,
            None,
            3.0,
            "the shim does not compile: x | y\nsecond line (fix: edit templates/shim)",
        ),
        ReplayRow("c" * 40, "2023-05-06T00:00:00Z", "three", False, False, None, 1.0, "no parse"),
        ReplayRow(
            "d" * 40,
            "2026-08-01T00:00:00Z",
            "four",
            True,
            True,
            118,
            20.0,
            build=Build(False, 400.0, "host tests failed: boom (fix: see verify.md)"),
        ),
        ReplayRow(
            "e" * 40, "2026-08-02T00:00:00Z", "five", True, True, 118, 20.0, build=Build(True, 9.6)
        ),
    )
    return ReplayResult("up", "main", "2021-04-01", "e" * 40, 900, "0123456789ab", 2, rows)


def test_fractions_count_generated_and_built() -> None:
    result = _result()
    assert (result.generated, result.built, result.passed) == (3, 2, 1)
    assert result.summary_lines() == [
        "generated: 3 of 5 (60%)",
        "built and passed host tests: 1 of 2",
    ]
    assert percent(2, 3) == "67%"
    assert percent(0, 0) == "n/a"


def test_table_has_one_row_per_commit() -> None:
    table = _result().table().splitlines()
    assert table[0] == (
        "| commit | date | parse | generate | build + host tests | seconds | note |"
    )
    assert table[2] == "| `aaaaaaaaaaaa` | 2021-04-02 | ok | ok (77 ops) | — | 12 |  |"
    # A note stays in its cell: one line, its pipes escaped.
    assert table[3] == (
        "| `bbbbbbbbbbbb` | 2022-01-02 | ok | failed | — | 3 | the shim does not compile: "
        "x \\| y second line (fix: edit templates/shim) |"
    )
    assert table[4].startswith("| `cccccccccccc` | 2023-05-06 | failed | — | — | 1 | no parse")
    assert table[5] == (
        "| `dddddddddddd` | 2026-08-01 | ok | ok (118 ops) | failed | 20 + 400 | "
        "host tests failed: boom (fix: see verify.md) |"
    )
    assert table[6].endswith("| ok (118 ops) | passed | 20 + 10 |  |")
    assert len(table) == 7


def test_long_notes_are_cut_in_markdown_but_whole_in_json() -> None:
    note = "error: " + "x" * 500
    row = ReplayRow("f" * 40, "2024-01-01T00:00:00Z", "s", True, False, None, 1.0, note)
    result = ReplayResult("up", "main", "2024-01-01", "f" * 40, 1, "t", 0, (row,))
    cell = result.table().splitlines()[2].split(" | ")[-1].removesuffix(" |")
    assert len(cell) == 160 and cell.endswith("…")
    assert json.loads(result.to_json())["rows"][0]["note"] == note


def test_markdown_and_json_carry_the_summary() -> None:
    result = _result()
    md = result.to_markdown()
    assert md.startswith("# bindbot replay\n")
    assert "templates `0123456789ab`" in md and "5 of the 900" in md
    assert "asked for. Seconds: generate (+ build and host tests).\n\n| commit |" in md
    assert md.rstrip().endswith("built and passed host tests: 1 of 2")
    data = json.loads(result.to_json())
    assert data["summary"] == {"sampled": 5, "generated": 3, "built": 2, "passed": 1}
    assert data["rows"][3]["build"] == {
        "passed": False,
        "seconds": 400.0,
        "note": "host tests failed: boom (fix: see verify.md)",
    }
    assert data["rows"][0]["build"] is None
