"""Forges: where the bot proposes its change (a pull request) or reports a failure (an issue),
and where `bindbot publish` records a published version (a release, tagged `v<version>`).

One interface, `Forge`, with a GitHub implementation over the REST API (`github.py`) and a
local dry-run one that writes everything into a folder (`local.py`). The find-or-update
logic lives once, in `propose.py`, over this interface, so both forges behave alike.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from bindbot.errors import ForgeError


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


@dataclass(frozen=True)
class Release:
    """A release on the forge: a tag (made by the forge at `target`) with notes."""

    tag: str
    name: str
    body: str
    url: str
    target: str = ""  # the commit the tag points at, as given when it was created


class ReleaseExistsError(ForgeError):
    """A release for that tag already exists (GitHub's 422 `already_exists`)."""


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

    def find_release(self, tag: str) -> Release | None:
        """The release for `tag`, or None when there is none."""

    def release(self, tag: str, name: str, body: str, target_sha: str) -> Release:
        """Create the release (and its tag at `target_sha`, when the tag does not exist yet);
        raises ReleaseExistsError when a release for `tag` exists."""
