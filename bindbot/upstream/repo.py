"""The upstream tflite-micro repository, mirrored with pygit2 in the cache.

The user's own repository (a path) or the remote (a URL) is never written to: bindbot clones
it once into `<cache>/upstream/`, fetches incrementally after that, and reads every commit
straight from git objects, so no work tree is ever checked out.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pygit2

from bindbot.errors import FetchError, NotARepositoryError, UnknownRefError
from bindbot.fsutil import staged_dir

_FETCH_REFSPECS = ["+refs/heads/*:refs/remotes/origin/*", "+refs/tags/*:refs/tags/*"]


@dataclass(frozen=True)
class CommitInfo:
    """The facts about a commit that reports and the lock file need."""

    sha: str
    date: str  # ISO 8601, UTC
    subject: str

    @property
    def short(self) -> str:
        return self.sha[:10]


def is_url(source: str) -> bool:
    """A URL (or scp-like address) is fetched; anything else is a local path."""
    return "://" in source or re.match(r"^[\w.-]+@[\w.-]+:", source) is not None


def mirror_path(cache_dir: Path, kind: str, source: str) -> Path:
    """One mirror per source: readable name plus a hash so two sources never collide."""
    tail = source.rstrip("/").rsplit("/", 1)[-1].removesuffix(".git") or "repo"
    digest = hashlib.sha256(source.encode()).hexdigest()[:10]
    return cache_dir / kind / f"{tail}-{digest}.git"


def _check_source(source: str, what: str) -> None:
    if is_url(source):
        return
    path = Path(source)
    if not path.exists():
        raise NotARepositoryError(
            f"{what} {source} does not exist",
            f"give the path of a {what} git repository (or its URL)",
        )
    if pygit2.discover_repository(str(path)) is None:
        raise NotARepositoryError(
            f"{what} {source} is not a git repository",
            f"point it at a git clone of the {what} (bare or not), or at its URL",
        )


def open_mirror(
    source: str, cache_dir: Path, kind: str, *, fetch: bool = True
) -> pygit2.Repository:
    """Clone `source` into the cache the first time, then fetch (when `fetch`) on later calls."""
    _check_source(source, kind)
    path = mirror_path(cache_dir, kind, source)
    if not (path / "HEAD").is_file():
        try:
            with staged_dir(path) as tmp:
                pygit2.clone_repository(source, str(tmp), bare=True)
                repo = pygit2.Repository(str(tmp))
                _fetch(repo, source)
        except pygit2.GitError as exc:
            raise FetchError(
                f"cannot clone {kind} from {source}: {exc}",
                "check the URL or path and your network, then run again",
            ) from exc
        return pygit2.Repository(str(path))
    repo = pygit2.Repository(str(path))
    if fetch:
        _fetch(repo, source)
    return repo


def _fetch(repo: pygit2.Repository, source: str) -> None:
    remote = repo.remotes["origin"]
    try:
        remote.fetch(_FETCH_REFSPECS, prune=pygit2.enums.FetchPrune.PRUNE)
    except pygit2.GitError as exc:
        raise FetchError(
            f"cannot fetch from {source}: {exc}",
            "check the network or the path; the cached mirror is unchanged and usable offline",
        ) from exc


class Upstream:
    """Read-only access to the mirrored tflite-micro history."""

    def __init__(self, repo: pygit2.Repository, source: str, branch: str) -> None:
        self.repo = repo
        self.source = source
        self.branch = branch

    @classmethod
    def open(cls, source: str, cache_dir: Path, branch: str, *, fetch: bool = True) -> Upstream:
        return cls(open_mirror(source, cache_dir, "upstream", fetch=fetch), source, branch)

    # -- refs -------------------------------------------------------------------------
    def resolve(self, ref: str) -> pygit2.Commit:
        """A branch, tag, full or short SHA (or `rev~N`) to the commit it names."""
        candidates = [f"refs/remotes/origin/{ref}", f"refs/tags/{ref}", ref]
        for name in candidates:
            try:
                obj = self.repo.revparse_single(name)
            except (KeyError, ValueError, pygit2.GitError) as exc:
                if "ambiguous" in str(exc):
                    raise UnknownRefError(
                        f"'{ref}' is an ambiguous short SHA in {self.source}",
                        "give more hex digits of the commit",
                    ) from exc
                continue
            try:
                commit = obj.peel(pygit2.Commit)
            except (pygit2.GitError, ValueError, TypeError):
                continue
            return commit
        raise UnknownRefError(
            f"'{ref}' names no branch, tag or commit in {self.source}",
            "check the spelling, or run `bindbot sync` to fetch newer upstream commits",
        )

    def head(self) -> pygit2.Commit:
        """The tip of the tracked branch."""
        return self.resolve(self.branch)

    def info(self, commit: pygit2.Commit) -> CommitInfo:
        return commit_info(commit)

    def contains(self, ancestor: pygit2.Commit, descendant: pygit2.Commit) -> bool:
        """True when `ancestor` is in the history of `descendant` (detects force-pushes)."""
        if ancestor.id == descendant.id:
            return True
        return bool(self.repo.descendant_of(descendant.id, ancestor.id))

    # -- history ----------------------------------------------------------------------
    def first_parent_range(
        self, old: pygit2.Commit | None, new: pygit2.Commit
    ) -> list[pygit2.Commit]:
        """Commits after `old` up to `new` on the first-parent line, oldest first.

        tflite-micro merges by squash, so the first-parent line is the sequence of states
        main went through; following side branches would diff half-finished work.
        """
        stop = old.id if old is not None else None
        out: list[pygit2.Commit] = []
        commit: pygit2.Commit | None = new
        while commit is not None and commit.id != stop:
            out.append(commit)
            commit = commit.parents[0] if commit.parents else None
        if old is not None and commit is None:
            raise UnknownRefError(
                f"{old.id} is not on the first-parent history of {new.id}",
                "give an older commit first, then the newer one",
            )
        out.reverse()
        return out

    # -- trees ------------------------------------------------------------------------
    def read(self, commit: pygit2.Commit, path: str) -> bytes | None:
        """A file's bytes at `commit`, or None when it does not exist there."""
        try:
            entry = commit.tree[path]
        except KeyError:
            return None
        obj = self.repo[entry.id]
        return obj.data if isinstance(obj, pygit2.Blob) else None

    def blob_ids(self, commit: pygit2.Commit, paths: Iterable[str]) -> tuple[str, ...]:
        """The blob id of each path ('-' when absent): the content identity of a file set."""
        tree = commit.tree
        out = []
        for path in paths:
            try:
                out.append(str(tree[path].id))
            except KeyError:
                out.append("-")
        return tuple(out)

    def export(
        self, commit: pygit2.Commit, dest: Path, select: Callable[[str], bool] = lambda _: True
    ) -> int:
        """Write the selected files of `commit` under `dest`; returns the number written."""
        count = 0
        for path, blob in self._walk(commit.tree, ""):
            if select(path):
                _write_blob(dest / path, blob)
                count += 1
        return count

    def update_export(
        self,
        old: pygit2.Commit,
        new: pygit2.Commit,
        dest: Path,
        select: Callable[[str], bool] = lambda _: True,
    ) -> int:
        """Turn an export of `old` into one of `new` by writing only what changed."""
        diff = old.tree.diff_to_tree(new.tree)
        count = 0
        for patch_delta in diff.deltas:
            old_path, new_path = patch_delta.old_file.path, patch_delta.new_file.path
            gone = patch_delta.status == pygit2.enums.DeltaStatus.DELETED or old_path != new_path
            if gone and select(old_path):
                (dest / old_path).unlink(missing_ok=True)
                count += 1
            if patch_delta.status != pygit2.enums.DeltaStatus.DELETED and select(new_path):
                blob = self.repo[patch_delta.new_file.id]
                if isinstance(blob, pygit2.Blob):
                    _write_blob(dest / new_path, blob)
                    count += 1
        return count

    def _walk(self, tree: pygit2.Tree, prefix: str) -> Iterator[tuple[str, pygit2.Blob]]:
        for entry in tree:
            if entry.filemode == pygit2.enums.FileMode.COMMIT:
                continue  # a submodule: its commit lives in another repository
            path = f"{prefix}{entry.name}"
            obj = self.repo[entry.id]
            if isinstance(obj, pygit2.Tree):
                yield from self._walk(obj, path + "/")
            elif isinstance(obj, pygit2.Blob):
                yield path, obj


def commit_info(commit: pygit2.Commit) -> CommitInfo:
    when = datetime.fromtimestamp(commit.commit_time, tz=UTC)
    subject = commit.message.split("\n", 1)[0].strip()
    return CommitInfo(str(commit.id), when.strftime("%Y-%m-%dT%H:%M:%SZ"), subject)


def _write_blob(path: Path, blob: pygit2.Blob) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".bindbot-tmp")
    tmp.write_bytes(blob.data)
    os.replace(tmp, path)
