"""How fast `bindbot run` says "nothing to do" on the real upstream (target: under 10 s
after the fetch), against `bindbot sync --offline` (opening the mirror and reading the head)
measured in the same run as the baseline.

Two quick paths, each in a project repository made here:
- no API change: the crate is pinned at the newest commit whose successor leaves every file
  the API parse reads unchanged, and the run goes to that successor;
- already proposed: a dry run from that pin to the head has opened pull request #1 in the
  local forge, and the same run again finds it.

Needs BINDBOT_UPSTREAM, BINDBOT_DEP_FLATBUFFERS and BINDBOT_DEP_GEMMLOWP (and a warm
BINDBOT_CACHE for the parsed models, as the workflow's cache provides); the second path also
needs BINDBOT_GOLDEN, and builds the host crate once (not timed).
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bindbot import pipeline  # noqa: E402
from bindbot.config import resolve  # noqa: E402
from bindbot.runner import subprocess_runner  # noqa: E402
from tests.fixtures.project import bindbot, project_at  # noqa: E402

REPEAT = 3


def timed(project: Path, *args: str) -> tuple[float, subprocess.CompletedProcess[str]]:
    start = time.monotonic()
    done = bindbot(project, *args)
    return time.monotonic() - start, done


def median(project: Path, *args: str, expect: str) -> float:
    times = []
    for _ in range(REPEAT):
        took, done = timed(project, *args)
        if done.returncode != 0 or expect not in done.stderr:
            raise SystemExit(f"unexpected: {done.stderr}")
        times.append(took)
    return statistics.median(times)


def main() -> int:
    missing = [v for v in ("BINDBOT_UPSTREAM", "BINDBOT_DEP_FLATBUFFERS") if v not in os.environ]
    if missing:
        print(f"set {', '.join(missing)} to a real tflite-micro mirror and its dependencies")
        return 2
    with tempfile.TemporaryDirectory(prefix="bindbot-bench-run-") as tmp:
        root = Path(tmp)
        ctx = pipeline.Context(resolve(root, environ=os.environ), subprocess_runner, fetch=False)
        commit = ctx.upstream().head()
        store = ctx.models()
        while True:
            parent = commit.parents[0]
            store.model_at(parent)
            if store.content_ids(parent) == store.content_ids(commit):
                break
            commit = parent
        ctx.close()
        project = project_at(root, str(parent.id))
        base = median(project, "sync", "--offline", expect="")
        quiet = median(
            project,
            "run",
            "--offline",
            "--dry-run",
            "--to",
            str(commit.id),
            expect="none touches the API",
        )
        print(f"bindbot sync --offline (baseline):      {base:6.2f} s")
        print(
            f"run, no API change ({str(parent.id)[:10]}..{str(commit.id)[:10]}): {quiet:6.2f} s"
            f"  ratio {quiet / base:5.2f}  (target < 10 s)"
        )
        if os.environ.get("BINDBOT_GOLDEN"):
            _, first = timed(project, "run", "--offline", "--dry-run", "--targets", "host")
            if first.returncode != 0:
                raise SystemExit(first.stderr)
            again = median(
                project,
                "run",
                "--offline",
                "--dry-run",
                "--targets",
                "host",
                expect="already proposes",
            )
            print(
                f"run, already proposed (to the head):    {again:6.2f} s"
                f"  ratio {again / base:5.2f}  (target < 10 s)"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
