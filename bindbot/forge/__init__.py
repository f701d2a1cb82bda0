"""Forges: where the bot proposes its change (a pull request) or reports a failure (an issue).

One interface, `Forge`, with a GitHub implementation over the REST API (`github.py`) and a
local dry-run one that writes everything into a folder (`local.py`). The find-or-update
logic lives once, in `propose.py`, over this interface, so both forges behave alike.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class Issue:
    """An issue (the tracking issue for a failed verification), as the forge reports it."""

    number: int
    url: str
    state: str  # "open" or "closed"
    title: str
    body: str
    labels: tuple[str, ...] = ()


@dataclass(frozen=True)
class Pull(Issue):
    """A pull request: an issue with a head branch, which can also be merged."""

    merged: bool = False


@dataclass(frozen=True)
class Commit:
    """A commit made for the pull request's branch, ready to push."""

    sha: str
    branch: str
    base: str
    message: str
    patch: str  # `git format-patch` text, for the local forge and for humans


class Forge(Protocol):
    """What the bot needs of a forge; the implementations keep no state between calls."""

    name: str

    def push(self, commit: Commit) -> None:
        """Make `commit.branch` on the remote point at `commit.sha` (the bot owns it)."""

    def pulls(self, branch: str) -> list[Pull]:
        """Every pull request (open and closed) whose head is `branch`, newest first."""

    def create_pull(
        self, branch: str, base: str, title: str, body: str, labels: tuple[str, ...]
    ) -> Pull:
        """Open a pull request; raises PullExistsError when one is open for `branch`."""

    def update_pull(self, number: int, title: str, body: str, labels: tuple[str, ...]) -> Pull:
        """Replace a pull request's title, body and labels in place."""

    def issues(self, label: str) -> list[Issue]:
        """Open issues carrying `label`, newest first."""

    def create_issue(self, title: str, body: str, labels: tuple[str, ...]) -> Issue:
        """Open an issue."""

    def update_issue(self, number: int, title: str, body: str, *, state: str = "open") -> Issue:
        """Replace an issue's title and body; `state="closed"` closes it."""
