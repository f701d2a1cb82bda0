"""Find-or-update, over any `Forge`: one pull request per branch, one tracking issue.

The state marker is a hidden HTML comment at the top of every body bindbot writes. It records
what the body was made from (upstream commit, pinned commit, bindbot's own digest), so a run
can tell "nothing new" without comparing prose, and a pull request a maintainer closed for an
upstream commit is recognised (and not reopened) when the bot meets that commit again.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from bindbot.errors import PullExistsError
from bindbot.forge import Commit, Forge, Issue, Pull

_MARKER = re.compile(r"<!-- bindbot-state (\{.*?\}) -->")
#: The label every bindbot pull request carries, besides its level.
BOT_LABEL = "bindbot"
FAILURE_LABEL = "bindbot-failure"


def marker(state: dict[str, str]) -> str:
    return f"<!-- bindbot-state {json.dumps(state, sort_keys=True)} -->"


def read_marker(body: str) -> dict[str, Any] | None:
    found = _MARKER.search(body or "")
    if not found:
        return None
    try:
        data = json.loads(found.group(1))
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


@dataclass(frozen=True)
class Proposal:
    """What one run wants the pull request to say."""

    branch: str
    base: str
    title: str
    body: str  # starts with the marker
    labels: tuple[str, ...]
    state: dict[str, str]  # the marker's content


@dataclass(frozen=True)
class Outcome:
    action: str  # created, updated, unchanged, skipped-closed
    number: int | None
    url: str
    message: str


#: What a marker must match for "nothing new": before building, the inputs (upstream, pin,
#: bindbot itself); after building, the result (a new bindbot that makes the same crate
#: bytes changes nothing either).
INPUTS = ("upstream", "pinned", "bindbot")
RESULT = ("upstream", "pinned", "crate")


def existing(
    forge: Forge, branch: str, state: dict[str, str], keys: tuple[str, ...] = INPUTS
) -> Outcome | None:
    """The outcome without doing anything, when a pull request already covers `state`
    (compared on `keys`).

    Called before building: an open pull request with the same marker means "nothing new",
    a closed-unmerged one for the same upstream commit means "the maintainer said no".
    """
    pulls = forge.pulls(branch)
    for pull in pulls:
        seen = read_marker(pull.body) or {}
        if pull.state == "open" and all(seen.get(k) == state.get(k) for k in keys):
            return Outcome(
                "unchanged",
                pull.number,
                pull.url,
                f"no change: pull request #{pull.number} already proposes "
                f"tflite-micro {state['upstream'][:10]}",
            )
    for pull in pulls:
        seen = read_marker(pull.body) or {}
        if pull.state == "closed" and not pull.merged and seen.get("upstream") == state["upstream"]:
            return Outcome(
                "skipped-closed",
                pull.number,
                pull.url,
                f"pull request #{pull.number} for tflite-micro "
                f"{state['upstream'][:10]} was closed without merging; not "
                "reopening it (the next upstream commit gets a new one)",
            )
    return None


def propose(forge: Forge, proposal: Proposal, commit: Commit) -> Outcome:
    """Push the branch and open the pull request, or update the open one in place."""
    already = existing(forge, proposal.branch, proposal.state, RESULT)
    if already is not None:
        return already
    forge.push(commit)
    open_pull = _open(forge, proposal.branch)
    if open_pull is None:
        try:
            pull = forge.create_pull(
                proposal.branch, proposal.base, proposal.title, proposal.body, proposal.labels
            )
            return Outcome("created", pull.number, pull.url, f"opened pull request #{pull.number}")
        except PullExistsError:
            # Another run opened it between our listing and our request: update that one.
            open_pull = _open(forge, proposal.branch)
            if open_pull is None:
                raise
    pull = forge.update_pull(open_pull.number, proposal.title, proposal.body, proposal.labels)
    return Outcome("updated", pull.number, pull.url, f"updated pull request #{pull.number}")


def _open(forge: Forge, branch: str) -> Pull | None:
    return next((p for p in forge.pulls(branch) if p.state == "open"), None)


def report_failure(forge: Forge, title: str, body: str, state: dict[str, str]) -> Outcome:
    """Open the tracking issue, or update the open one (skipped when nothing changed)."""
    found = forge.issues(FAILURE_LABEL)
    if found:
        issue = found[0]
        if read_marker(issue.body) == state:
            return Outcome(
                "unchanged",
                issue.number,
                issue.url,
                f"tracking issue #{issue.number} already reports this failure",
            )
        issue = forge.update_issue(issue.number, title, body)
        return Outcome(
            "updated", issue.number, issue.url, f"updated tracking issue #{issue.number}"
        )
    issue = forge.create_issue(title, body, (BOT_LABEL, FAILURE_LABEL))
    return Outcome("created", issue.number, issue.url, f"opened tracking issue #{issue.number}")


def resolve_failures(forge: Forge, upstream: str) -> list[Issue]:
    """Close open tracking issues once verification passes again."""
    closed = []
    for issue in forge.issues(FAILURE_LABEL):
        note = f"\n\n---\nVerification passes at tflite-micro `{upstream[:12]}`; closed by bindbot."
        closed.append(
            forge.update_issue(issue.number, issue.title, issue.body + note, state="closed")
        )
    return closed
