"""`bindbot replay`: how much of upstream's history today's templates regenerate and build.

A sample of commits from the tracked branch is pinned, one at a time, in a scratch crate in
the cache and generated with the templates as they are now; a few of the commits that
generated are then built and host-tested. The answer is a table and two fractions, the
evidence for "the bot survives upstream's history without a template edit".

The sampling and the rendering are pure functions (tested alone); `run` is the one part
that drives the pipeline.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pygit2

from bindbot import pipeline
from bindbot.api.surface import API_HEADERS
from bindbot.errors import BindbotError, UnknownRefError, UsageError, VerificationError
from bindbot.generate.crate import templates_digest
from bindbot.log import info
from bindbot.upstream.lock import read_lock
from bindbot.upstream.repo import commit_info

#: Builds must cover the pre-2023 API (the ErrorReporter-era interpreter, AllOpsResolver):
#: that is the history most unlike what the templates were last tuned for.
CUTOFF = "2023-01-01"

#: A note in the Markdown table is cut here; replay.json keeps it whole.
NOTE_WIDTH = 160


# -- pure: which commits ----------------------------------------------------------------


def parse_date(text: str) -> str:
    """`--from` as YYYY-MM-DD (checked, returned unchanged for string comparison)."""
    try:
        return date.fromisoformat(text).isoformat()
    except ValueError as exc:
        raise UsageError(f"--from {text!r} is not a date", "give it as YYYY-MM-DD") from exc


def spread(count: int, n: int) -> list[int]:
    """`n` indices into `count` items, evenly spaced, first and last included.

    Rounded half up in integers so the choice is the same on every machine; with
    n <= count the spacing is at least 1, so the indices are distinct. One index is the
    last item: the newest commit is the one the bot would pin today.
    """
    if count <= 0 or n <= 0:
        return []
    if n >= count:
        return list(range(count))
    if n == 1:
        return [count - 1]
    span = count - 1
    return [(2 * i * span + (n - 1)) // (2 * (n - 1)) for i in range(n)]


def window_start(dates: Sequence[str], since: str) -> int | None:
    """Index of the first commit dated on or after `since` (YYYY-MM-DD), oldest first.

    The first-parent line is in merge order and commit dates can step back a little, so
    this is the first such commit, not a bisection.
    """
    for index, when in enumerate(dates):
        if when[:10] >= since:
            return index
    return None


def choose_builds(
    dates: Sequence[str],
    generated: Sequence[bool],
    k: int,
    *,
    cutoff: str = CUTOFF,
    min_before: int = 1,
) -> list[int]:
    """Row indices of the `k` generated commits to build, evenly spread over them.

    With k >= 3, at least min(min_before, generated commits before `cutoff`) of them are
    dated before `cutoff`: pre-cutoff picks are swapped in for the oldest later picks, so
    the newest commit stays in. With fewer builds there is no room to reserve.
    """
    candidates = [i for i, ok in enumerate(generated) if ok]
    if k <= 0 or not candidates:
        return []
    picks = [candidates[j] for j in spread(len(candidates), k)]
    if k < 3:
        return picks
    before = [i for i in candidates if dates[i] < cutoff]
    need = min(min_before, len(before), len(picks))
    have = sum(1 for i in picks if dates[i] < cutoff)
    if have >= need:
        return picks
    extra = [i for i in before if i not in picks]
    add = [extra[j] for j in spread(len(extra), need - have)]
    drop = [i for i in picks if dates[i] >= cutoff][: len(add)]
    return sorted((set(picks) - set(drop)) | set(add))


# -- results ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Build:
    """The host build and cargo tests of one generated commit."""

    passed: bool
    seconds: float
    note: str = ""


@dataclass(frozen=True)
class ReplayRow:
    """One sampled commit: did its API parse, did the crate generate, did it build."""

    sha: str
    date: str
    subject: str
    parsed: bool
    generated: bool
    ops: int | None
    seconds: float
    note: str = ""
    build: Build | None = None

    @property
    def short(self) -> str:
        return self.sha[:12]


@dataclass(frozen=True)
class ReplayResult:
    upstream: str
    branch: str
    since: str
    end: str
    #: Commits in the window the sample was drawn from.
    window: int
    #: The templates the crate was generated with (see `templates_digest`).
    templates: str
    builds_requested: int
    rows: tuple[ReplayRow, ...]

    @property
    def generated(self) -> int:
        return sum(1 for r in self.rows if r.generated)

    @property
    def built(self) -> int:
        return sum(1 for r in self.rows if r.build is not None)

    @property
    def passed(self) -> int:
        return sum(1 for r in self.rows if r.build is not None and r.build.passed)

    def summary_lines(self) -> list[str]:
        sampled = len(self.rows)
        return [
            f"generated: {self.generated} of {sampled} ({percent(self.generated, sampled)})",
            f"built and passed host tests: {self.passed} of {self.built}",
        ]

    def table(self) -> str:
        lines = [
            "| commit | date | parse | generate | build + host tests | seconds | note |",
            "|---|---|---|---|---|---|---|",
        ]
        for r in self.rows:
            generate = f"ok ({r.ops} ops)" if r.generated else ("failed" if r.parsed else "—")
            build = "—" if r.build is None else ("passed" if r.build.passed else "failed")
            seconds = f"{r.seconds:.0f}"
            if r.build is not None:
                seconds += f" + {r.build.seconds:.0f}"
            note = r.build.note if r.build is not None and r.build.note else r.note
            lines.append(
                f"| `{r.short}` | {r.date[:10]} | {'ok' if r.parsed else 'failed'} | "
                f"{generate} | {build} | {seconds} | {_cell(note)} |"
            )
        return "\n".join(lines) + "\n"

    def to_markdown(self) -> str:
        head = [
            "# bindbot replay",
            "",
            f"Upstream `{self.upstream}` ({self.branch}), {len(self.rows)} of the "
            f"{self.window} first-parent commits from {self.since} to `{self.end[:12]}`, "
            f"each pinned and generated with templates `{self.templates}`; "
            f"{self.builds_requested} builds asked for. Seconds: generate (+ build and "
            "host tests).",
            "",
        ]
        # The blank line after the intro: a table cannot interrupt a Markdown paragraph.
        body = "\n".join(head) + "\n" + self.table()
        return body + "\n" + "\n".join(self.summary_lines()) + "\n"

    def to_json(self) -> str:
        data = dataclasses.asdict(self)
        data["summary"] = {
            "sampled": len(self.rows),
            "generated": self.generated,
            "built": self.built,
            "passed": self.passed,
        }
        return json.dumps(data, indent=2, sort_keys=True) + "\n"


def percent(part: int, whole: int) -> str:
    return f"{100 * part / whole:.0f}%" if whole else "n/a"


def _cell(text: str) -> str:
    """A note as one Markdown table cell: one line, no column breaks, not too wide."""
    flat = " ".join(text.split()).replace("|", "\\|")
    return flat if len(flat) <= NOTE_WIDTH else flat[: NOTE_WIDTH - 1] + "…"


def _error_note(exc: Exception) -> str:
    if isinstance(exc, BindbotError):
        return exc.one_line()
    # Not an error bindbot knows: a bug, named as one so the table does not pass it off
    # as upstream's doing.
    return f"internal error {type(exc).__name__}: {exc}"


# -- the run ----------------------------------------------------------------------------


def sample_commits(
    ctx: pipeline.Context, n: int, since: str, end: str | None
) -> tuple[list[pygit2.Commit], int]:
    """The `n` sampled commits (oldest first) and the size of the window they come from."""
    upstream = ctx.upstream()
    last = upstream.resolve(end) if end else upstream.head()
    line = upstream.first_parent_range(None, last)
    start = window_start([commit_info(c).date for c in line], since)
    if start is None:
        raise UnknownRefError(
            f"no commit on the first-parent history of {end or ctx.config.branch} is dated "
            f"{since} or later",
            "give an earlier --from, or a later --to",
        )
    # Start where the API starts, as `history` does: the repository's first commits (a
    # README, a license) have nothing to parse and would only dilute the fraction.
    while start < len(line) and set(upstream.blob_ids(line[start], API_HEADERS)) == {"-"}:
        start += 1
    window = line[start:]
    if not window:
        raise UnknownRefError(
            f"no commit from {since} to {end or ctx.config.branch} has the API headers",
            "give a later --to",
        )
    return [window[i] for i in spread(len(window), n)], len(window)


def _scratch(ctx: pipeline.Context, crate_dir: Path) -> pipeline.Context:
    config = dataclasses.replace(ctx.config, crate_dir=crate_dir)
    return pipeline.Context(config, ctx.runner, fetch=False)


def _timed(fn: Callable[[], object]) -> tuple[float, Exception | None]:
    start = time.monotonic()
    try:
        fn()
    # One commit's failure, whatever it is, is a row of the answer; it must not throw
    # away the rows of an hour-long survey. KeyboardInterrupt still stops the run.
    except Exception as exc:
        return time.monotonic() - start, exc
    return time.monotonic() - start, None


def generate_row(ctx: pipeline.Context, commit: pygit2.Commit, version: str) -> ReplayRow:
    """Pin `commit` in a fresh scratch crate and generate it there."""
    found = commit_info(commit)
    root = ctx.config.cache_dir / "replay" / found.sha[:12]
    shutil.rmtree(root, ignore_errors=True)
    crate = root / "rust_crate"
    crate.mkdir(parents=True)
    # Cargo.lock is the one input of a build that generate does not write: the project's
    # keeps the crate's dependencies at versions known to resolve (offline too).
    cargo_lock = ctx.config.crate_dir / "Cargo.lock"
    if cargo_lock.is_file():
        shutil.copy(cargo_lock, crate / "Cargo.lock")
    scratch = _scratch(ctx, crate)
    ops: list[int] = []
    try:
        parse_seconds, parse_error = _timed(lambda: scratch.models().model_at(commit))
        if parse_error is not None:
            return ReplayRow(
                found.sha,
                found.date,
                found.subject,
                False,
                False,
                None,
                parse_seconds,
                _error_note(parse_error),
            )

        def lock_and_generate() -> None:
            pipeline.lock(scratch, found.sha, crate_version=version)
            ops.append(pipeline.generate(scratch).ops)

        gen_seconds, gen_error = _timed(lock_and_generate)
    finally:
        scratch.close()
    return ReplayRow(
        found.sha,
        found.date,
        found.subject,
        True,
        gen_error is None,
        ops[0] if ops else None,
        parse_seconds + gen_seconds,
        "" if gen_error is None else _error_note(gen_error),
    )


def build_row(ctx: pipeline.Context, row: ReplayRow, out_dir: Path) -> Build:
    """Build the scratch crate of a generated row for the host and run its cargo tests."""
    from bindbot.verify.targets import parse_targets

    crate = ctx.config.cache_dir / "replay" / row.short / "rust_crate"
    scratch = _scratch(ctx, crate)
    try:
        seconds, error = _timed(
            lambda: pipeline.verify(scratch, parse_targets("host"), out_dir / f"verify-{row.short}")
        )
    finally:
        scratch.close()
    if error is None:
        return Build(True, seconds)
    if isinstance(error, VerificationError):
        return Build(False, seconds, f"host tests failed: {error.one_line()}")
    return Build(False, seconds, f"not verified: {_error_note(error)}")


def run(
    ctx: pipeline.Context,
    n: int,
    since: str,
    end: str | None,
    builds: int,
    out_dir: Path,
    *,
    build_before: int = 1,
) -> ReplayResult:
    """Sample, generate each, build `builds` of the generated ones; no file is written here
    except the scratch crates and the per-build verify reports under `out_dir`."""
    if n < 1:
        raise UsageError(f"--sample {n} samples nothing", "give --sample 1 or more")
    if builds < 0:
        raise UsageError(f"--build {builds} is negative", "give --build 0 to only generate")
    since = parse_date(since)
    commits, window = sample_commits(ctx, n, since, end)
    # Templates are read as each commit renders: the digest of a run is the one it began
    # with, and a change in between is said rather than folded into the answer.
    templates = templates_digest()
    last = commit_info(commits[-1])
    lock_path = ctx.config.lock_path
    # The scratch crates carry the project's crate version: the pin moves, the release does not.
    version = read_lock(lock_path).crate_version if lock_path.is_file() else "0.1.0"
    rows: list[ReplayRow] = []
    for index, commit in enumerate(commits, 1):
        row = generate_row(ctx, commit, version)
        outcome = f"generated ({row.ops} ops)" if row.generated else "FAILED: " + row.note
        info(f"replay {index}/{len(commits)} {row.short} {row.date[:10]}: {outcome}")
        rows.append(row)
    chosen = choose_builds(
        [r.date for r in rows], [r.generated for r in rows], builds, min_before=build_before
    )
    for count, index in enumerate(chosen, 1):
        info(f"replay build {count}/{len(chosen)}: {rows[index].short} {rows[index].date[:10]}")
        build = build_row(ctx, rows[index], out_dir)
        info(f"replay build {rows[index].short}: {'passed' if build.passed else build.note}")
        rows[index] = dataclasses.replace(rows[index], build=build)
    if templates_digest() != templates:
        info(f"warning: the templates changed during the replay (began with {templates})")
    return ReplayResult(
        upstream=ctx.config.upstream,
        branch=ctx.config.branch,
        since=since,
        end=last.sha,
        window=window,
        templates=templates,
        builds_requested=builds,
        rows=tuple(rows),
    )
