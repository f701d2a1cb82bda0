"""The one place bindbot starts subprocesses.

Stages receive a `Runner` instead of calling `subprocess` themselves, so tests can pass a
recording runner and assert on the exact commands without running them.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol


@dataclass(frozen=True)
class Completed:
    """What a finished command returned."""

    args: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str


class Runner(Protocol):
    """Runs a command and returns its result; never raises for a non-zero exit."""

    def __call__(
        self,
        args: Sequence[str],
        *,
        cwd: Path | None = None,
        env: Mapping[str, str] | None = None,
        stdin: str | None = None,
        timeout: float | None = None,
    ) -> Completed: ...


def subprocess_runner(
    args: Sequence[str],
    *,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    stdin: str | None = None,
    timeout: float | None = None,
) -> Completed:
    """The real runner. A missing executable becomes returncode 127, like a shell."""
    try:
        proc = subprocess.run(
            list(args),
            cwd=cwd,
            env=dict(env) if env is not None else None,
            input=stdin,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except FileNotFoundError as exc:
        return Completed(tuple(args), 127, "", str(exc))
    except subprocess.TimeoutExpired as exc:
        return Completed(tuple(args), 124, "", f"timed out after {exc.timeout} s")
    return Completed(tuple(args), proc.returncode, proc.stdout, proc.stderr)


@dataclass
class InterceptingRunner:
    """A test double around a real runner: records every call (and its environment), and
    lets `answer` reply instead of running a command (it returns None to run it)."""

    answer: Callable[[tuple[str, ...]], Completed | None] = lambda _: None
    inner: Runner = subprocess_runner
    calls: list[tuple[str, ...]] = field(default_factory=list)
    envs: list[dict[str, str]] = field(default_factory=list)

    def __call__(
        self,
        args: Sequence[str],
        *,
        cwd: Path | None = None,
        env: Mapping[str, str] | None = None,
        stdin: str | None = None,
        timeout: float | None = None,
    ) -> Completed:
        argv = tuple(args)
        self.calls.append(argv)
        self.envs.append(dict(env or {}))
        canned = self.answer(argv)
        if canned is not None:
            return canned
        return self.inner(argv, cwd=cwd, env=env, stdin=stdin, timeout=timeout)

    def ran(self, *programs: str) -> bool:
        """Whether any call started one of `programs`."""
        return any(argv and argv[0] in programs for argv in self.calls)


def _not_found(args: Sequence[str], **_: object) -> Completed:
    return Completed(tuple(args), 127, "", f"{args[0]}: not found")


class RecordingRunner(InterceptingRunner):
    """A test double that runs nothing: answers from a table of canned results keyed by
    command prefix, and "not found" (127) for anything else."""

    def __init__(self, answers: dict[str, Completed] | None = None) -> None:
        super().__init__(inner=_not_found)
        self.answers = answers or {}
        self.answer = self._lookup

    def _lookup(self, argv: tuple[str, ...]) -> Completed | None:
        key = " ".join(argv)
        return next((a for prefix, a in self.answers.items() if key.startswith(prefix)), None)
