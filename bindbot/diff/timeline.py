"""The API timeline: every commit in a range whose public API differs from its parent's.

Commits whose parsed files are byte-identical to the previous commit's are skipped without
a parse (their model is the same by construction); the rest go through the model cache.
A commit whose headers cannot be parsed is recorded as a failure and the walk goes on:
one broken upstream commit must not hide two thousand good ones.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import pygit2

from bindbot import __version__
from bindbot.api.store import ModelStore, Snapshot
from bindbot.diff.classify import Change, count_levels, diff_models
from bindbot.errors import DependencyError, HeaderParseError
from bindbot.log import Progress
from bindbot.upstream.repo import CommitInfo, commit_info


@dataclass(frozen=True)
class Entry:
    commit: CommitInfo
    changes: tuple[Change, ...]

    def counts(self) -> dict[str, int]:
        return count_levels(self.changes)


@dataclass(frozen=True)
class Failure:
    commit: CommitInfo
    error: str


@dataclass(frozen=True)
class Timeline:
    upstream: str
    start: CommitInfo
    end: CommitInfo
    examined: int  # commits walked
    parsed: int  # commits that needed libclang (0 on a warm cache)
    entries: tuple[Entry, ...]
    failures: tuple[Failure, ...]

    def monthly(self) -> list[tuple[str, dict[str, int]]]:
        """Changes per calendar month, by level: the chart's data."""
        by_month: dict[str, list[Change]] = {}
        for entry in self.entries:
            by_month.setdefault(entry.commit.date[:7], []).extend(entry.changes)
        return [(month, count_levels(changes)) for month, changes in sorted(by_month.items())]

    def totals(self) -> dict[str, int]:
        return count_levels(c for entry in self.entries for c in entry.changes)

    def to_json(self) -> str:
        data = {
            "bindbot": __version__,
            "upstream": self.upstream,
            "start": asdict(self.start),
            "end": asdict(self.end),
            "examined": self.examined,
            "api_commits": len(self.entries),
            "entries": [
                {
                    "commit": asdict(e.commit),
                    "summary": e.counts(),
                    "changes": [asdict(c) for c in e.changes],
                }
                for e in self.entries
            ],
            "failures": [asdict(f) for f in self.failures],
            "monthly": [{"month": m, **counts} for m, counts in self.monthly()],
        }
        return json.dumps(data, indent=1, sort_keys=True, ensure_ascii=False) + "\n"


def build_timeline(
    store: ModelStore, upstream: str, commits: Sequence[pygit2.Commit], progress: Progress
) -> Timeline:
    """Walk `commits` (oldest first; the first is the baseline) and diff each API change."""
    base = commits[0]
    prev_commit = base
    prev: Snapshot = store.model_at(base)
    parsed = int(prev.parsed)
    entries: list[Entry] = []
    failures: list[Failure] = []
    for commit in commits[1:]:
        progress.advance(str(commit.id)[:10])
        if store.content_ids(commit) == store.content_ids(prev_commit):
            prev_commit = commit
            continue
        try:
            snap = store.model_at(commit)
        except (HeaderParseError, DependencyError) as exc:
            failures.append(Failure(commit_info(commit), exc.problem))
            continue
        parsed += int(snap.parsed)
        prev_commit = commit
        if snap.key == prev.key or snap.model.digest() == prev.model.digest():
            prev = snap
            continue
        changes = diff_models(prev.model, snap.model)
        prev = snap
        if changes:
            entries.append(Entry(commit_info(commit), tuple(changes)))
    progress.close()
    return Timeline(
        upstream=upstream,
        start=commit_info(base),
        end=commit_info(commits[-1]),
        examined=len(commits),
        parsed=parsed,
        entries=tuple(entries),
        failures=tuple(failures),
    )
