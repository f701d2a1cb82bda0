"""The local forge: a dry run that writes what GitHub would get into a folder.

`<folder>/` holds `state.json` (the pull requests and issues opened so far, so a second run
finds its pull request and updates it, exactly as on GitHub), `branch.txt`, `commit.txt`,
`change.patch`, `pull-<n>.md` (title, labels and body of each pull request),
`issue-<n>.md`, and `release-<tag>.md` (name, target commit and notes of each release,
also listed in `state.json`). The commit is also kept as a local branch of the project
repository, so `git show bindbot/tflite-micro` works; nothing remote is touched.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

from bindbot.errors import PullExistsError
from bindbot.forge import Commit, Issue, Pull, Release, ReleaseExistsError
from bindbot.forge.branch import ProjectRepo
from bindbot.fsutil import write_atomic


class LocalForge:
    name = "local"

    def __init__(self, folder: Path, repo: ProjectRepo | None = None) -> None:
        self.folder = folder
        self.repo = repo

    # -- state ----------------------------------------------------------------------------
    def _load(self) -> dict[str, Any]:
        path = self.folder / "state.json"
        if not path.is_file():
            return {"pulls": [], "issues": [], "next": 1}
        data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        return data

    def _save(self, state: dict[str, Any]) -> None:
        write_atomic(self.folder / "state.json", json.dumps(state, indent=2, sort_keys=True))

    def _url(self, kind: str, number: int) -> str:
        return (self.folder / f"{kind}-{number}.md").resolve().as_uri()

    # -- Forge ------------------------------------------------------------------------------
    def push(self, commit: Commit) -> None:
        if self.repo is not None:
            self.repo.set_branch(commit.branch, commit.sha)
        write_atomic(self.folder / "change.patch", commit.patch)
        write_atomic(self.folder / "commit.txt", f"{commit.sha}\n\n{commit.message}")
        write_atomic(self.folder / "branch.txt", f"{commit.branch} -> {commit.base}\n")

    def pulls(self, branch: str) -> list[Pull]:
        items = [p for p in self._load()["pulls"] if p["branch"] == branch]
        return [_pull(p) for p in reversed(items)]

    def create_pull(
        self, branch: str, base: str, title: str, body: str, labels: tuple[str, ...]
    ) -> Pull:
        state = self._load()
        if any(p["branch"] == branch and p["state"] == "open" for p in state["pulls"]):
            raise PullExistsError(f"a pull request for {branch} is open", "update it instead")
        number = state["next"]
        pull = Pull(number, self._url("pull", number), "open", title, body, tuple(sorted(labels)))
        state["pulls"].append({**asdict(pull), "branch": branch})
        state["next"] = number + 1
        self._write_pull(pull)
        self._save(state)
        return pull

    def update_pull(self, number: int, title: str, body: str, labels: tuple[str, ...]) -> Pull:
        state = self._load()
        for item in state["pulls"]:
            if item["number"] == number:
                item.update(title=title, body=body, labels=sorted(labels))
                pull = _pull(item)
                self._write_pull(pull)
                self._save(state)
                return pull
        raise KeyError(number)

    def _write_pull(self, pull: Pull) -> None:
        text = f"# {pull.title}\n\nlabels: {', '.join(pull.labels)}\n\n{pull.body}"
        write_atomic(self.folder / f"pull-{pull.number}.md", text)

    def issues(self, label: str) -> list[Issue]:
        found = [i for i in self._load()["issues"] if label in i["labels"] and i["state"] == "open"]
        return [_issue(i) for i in reversed(found)]

    def create_issue(self, title: str, body: str, labels: tuple[str, ...]) -> Issue:
        state = self._load()
        number = state["next"]
        issue = Issue(
            number, self._url("issue", number), "open", title, body, tuple(sorted(labels))
        )
        state["issues"].append(asdict(issue))
        state["next"] = number + 1
        write_atomic(self.folder / f"issue-{number}.md", f"# {title}\n\n{body}")
        self._save(state)
        return issue

    def update_issue(self, number: int, title: str, body: str, *, state: str = "open") -> Issue:
        data = self._load()
        for item in data["issues"]:
            if item["number"] == number:
                item.update(title=title, body=body, state=state)
                write_atomic(self.folder / f"issue-{number}.md", f"# {title}\n\n{body}")
                self._save(data)
                return _issue(item)
        raise KeyError(number)

    def find_release(self, tag: str) -> Release | None:
        found = [r for r in self._load().get("releases", []) if r["tag"] == tag]
        return Release(**found[0]) if found else None

    def release(self, tag: str, name: str, body: str, target_sha: str) -> Release:
        state = self._load()
        releases = state.setdefault("releases", [])
        if any(r["tag"] == tag for r in releases):
            raise ReleaseExistsError(f"a release tagged {tag} exists", "nothing to do")
        path = self.folder / f"release-{_file_safe(tag)}.md"
        release = Release(tag, name, body, path.resolve().as_uri(), target_sha)
        write_atomic(path, f"# {name}\n\ntag: {tag} at {target_sha}\n\n{body}")
        releases.append(asdict(release))
        self._save(state)
        return release

    def close_pull(self, number: int, *, merged: bool = False) -> None:
        """What a maintainer does on GitHub; tests and `bindbot` dry runs use it."""
        state = self._load()
        for item in state["pulls"]:
            if item["number"] == number:
                item.update(state="closed", merged=merged)
        self._save(state)


def _pull(item: dict[str, Any]) -> Pull:
    fields = {k: v for k, v in item.items() if k != "branch"}
    return Pull(**{**fields, "labels": tuple(item["labels"])})


def _issue(item: dict[str, Any]) -> Issue:
    return Issue(**{**item, "labels": tuple(item["labels"])})


def _file_safe(tag: str) -> str:
    return "".join(c if c.isalnum() or c in "._-" else "_" for c in tag)
