"""The project's own git repository: read the base branch's crate, commit a regenerated one.

Everything goes through git plumbing with a private index (`GIT_INDEX_FILE`), so a run
never touches the user's work tree, index or checked-out branch: the base commit's crate is
exported to a staging folder, regenerated there, and committed on top of the base commit.
"""

from __future__ import annotations

import os
import tarfile
import tempfile
from pathlib import Path

from bindbot.errors import ConfigError, ToolFailedError
from bindbot.forge import Commit
from bindbot.runner import Runner

#: The bot commits as itself; GitHub shows it as the GitHub Actions bot when pushed from CI.
AUTHOR = ("bindbot", "41898282+github-actions[bot]@users.noreply.github.com")


class ProjectRepo:
    """A git work tree holding the generated crate."""

    def __init__(self, runner: Runner, root: Path) -> None:
        self.runner = runner
        self.root = root

    @classmethod
    def discover(cls, runner: Runner, inside: Path) -> ProjectRepo:
        result = runner(["git", "rev-parse", "--show-toplevel"], cwd=inside)
        if result.returncode != 0:
            raise ConfigError(
                f"{inside} is not inside a git repository: the bot commits the crate there",
                "run from a clone of the project, or use `bindbot run --report-only`",
            )
        return cls(runner, Path(result.stdout.strip()))

    def _git(self, *args: str, env: dict[str, str] | None = None, stdin: str | None = None) -> str:
        result = self.runner(["git", *args], cwd=self.root, env=env, stdin=stdin)
        if result.returncode != 0:
            raise ToolFailedError(
                f"git {' '.join(args[:3])} failed: {result.stderr.strip()[:300]}",
                f"check the repository at {self.root}",
            )
        return result.stdout

    def resolve(self, ref: str) -> str:
        """The commit `ref` names: a local branch, else the remote-tracking one."""
        for candidate in (ref, f"origin/{ref}"):
            result = self.runner(
                ["git", "rev-parse", "--verify", "--quiet", f"{candidate}^{{commit}}"],
                cwd=self.root,
            )
            if result.returncode == 0:
                return result.stdout.strip()
        raise ConfigError(
            f"the base branch {ref!r} is not in {self.root}",
            "fetch it (`git fetch origin REF`) or set base_branch",
        )

    def relative(self, path: Path) -> str:
        try:
            return path.resolve().relative_to(self.root.resolve()).as_posix()
        except ValueError:
            raise ConfigError(
                f"the crate {path} is outside the repository {self.root}",
                "set crate_dir to a folder of the repository the bot commits to",
            ) from None

    def export(self, commit: str, subdir: str, dest_root: Path) -> Path:
        """Write `subdir` as committed in `commit` under `dest_root`; returns dest_root/subdir."""
        result = self.runner(
            ["git", "ls-tree", "-r", "-z", "--name-only", commit, "--", subdir], cwd=self.root
        )
        if result.returncode != 0 or not result.stdout:
            raise ConfigError(
                f"{subdir}/ is not committed at {commit[:10]}",
                "commit the generated crate first (`bindbot generate`, then git commit)",
            )
        dest_root.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix="bindbot-archive-") as tmp:
            tar_path = Path(tmp) / "crate.tar"
            self._git("archive", "--format=tar", "-o", str(tar_path), commit, "--", subdir)
            with tarfile.open(tar_path) as tar:
                tar.extractall(dest_root, filter="data")
        return dest_root / subdir

    def commit_dir(self, base: str, subdir: str, stage_root: Path, message: str) -> str:
        """A commit on top of `base` whose `subdir` is `stage_root/subdir`, nothing else changed."""
        with tempfile.TemporaryDirectory(prefix="bindbot-index-") as tmp:
            env = {
                **os.environ,
                "GIT_INDEX_FILE": str(Path(tmp) / "index"),
                "GIT_AUTHOR_NAME": AUTHOR[0],
                "GIT_AUTHOR_EMAIL": AUTHOR[1],
                "GIT_COMMITTER_NAME": AUTHOR[0],
                "GIT_COMMITTER_EMAIL": AUTHOR[1],
            }
            self._git("read-tree", base, env=env)
            self._git("rm", "-r", "-q", "--cached", "--ignore-unmatch", "--", subdir, env=env)
            self._git(f"--work-tree={stage_root}", "add", "-A", "-f", "--", subdir, env=env)
            tree = self._git("write-tree", env=env).strip()
            return self._git(
                "commit-tree", tree, "-p", base, "-F", "-", env=env, stdin=message
            ).strip()

    def tree_of(self, commit: str) -> str:
        return self._git("rev-parse", f"{commit}^{{tree}}").strip()

    def patch(self, commit: str) -> str:
        return self._git("format-patch", "-1", "--stdout", "--no-signature", commit)

    def set_branch(self, branch: str, sha: str) -> None:
        self._git("update-ref", f"refs/heads/{branch}", sha)

    def make_commit(
        self, base: str, subdir: str, stage_root: Path, message: str, branch: str, base_branch: str
    ) -> Commit:
        sha = self.commit_dir(base, subdir, stage_root, message)
        return Commit(sha, branch, base_branch, message, self.patch(sha))
