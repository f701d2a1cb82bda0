"""The API-change report between two commits: data, JSON form, and exit status."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Any

from bindbot import __version__
from bindbot.diff.classify import Change, Semver, count_levels, suggest_semver
from bindbot.upstream.repo import CommitInfo

#: `bindbot diff` exit statuses (failures use 64 and up, see errors.py).
EXIT_NO_CHANGE = 0
EXIT_COMPATIBLE = 1
EXIT_BREAKING = 2


@dataclass(frozen=True)
class DiffReport:
    upstream: str
    old: CommitInfo
    new: CommitInfo
    old_model: str  # model digests: equal digests mean no API change
    new_model: str
    changes: tuple[Change, ...]

    @property
    def semver(self) -> Semver:
        return suggest_semver(self.changes)

    def counts(self) -> dict[str, int]:
        return count_levels(self.changes)

    @property
    def exit_code(self) -> int:
        if not self.changes:
            return EXIT_NO_CHANGE
        return EXIT_BREAKING if self.counts()["breaking"] else EXIT_COMPATIBLE

    def to_dict(self) -> dict[str, Any]:
        return {
            "bindbot": __version__,
            "upstream": self.upstream,
            "old": {**asdict(self.old), "model": self.old_model},
            "new": {**asdict(self.new), "model": self.new_model},
            "summary": self.counts(),
            "semver": asdict(self.semver),
            "changes": [asdict(c) for c in self.changes],
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"
