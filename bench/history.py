"""Benchmark: API extraction per commit, and `bindbot history` cold versus warm.

Prints the per-commit extraction time of the cold run, the cold and warm wall times of the
same history, and the warm/cold ratio (the cache's effect), all measured in this run.
Targets on a 2-core machine: under 2 s per parsed commit cold, the full history warm under
30 s.

    python bench/history.py                    # the upstream BINDBOT_UPSTREAM names
    python bench/history.py --from A --to B    # a narrower range
    python bench/history.py --synthetic        # the test fixture (no real upstream needed)
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bindbot import pipeline
from bindbot.config import resolve
from bindbot.runner import subprocess_runner


def _run(env: dict[str, str], start: str | None, end: str, out: Path) -> tuple[float, int, int]:
    ctx = pipeline.Context(resolve(out, environ=env), subprocess_runner, fetch=False)
    began = time.perf_counter()
    try:
        timeline, _ = pipeline.history(ctx, start, end, out)
    finally:
        ctx.close()
    return time.perf_counter() - began, timeline.parsed, timeline.examined


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--from", dest="start")
    parser.add_argument("--to", dest="end", default="main")
    parser.add_argument("--synthetic", action="store_true")
    args = parser.parse_args()

    scratch = Path(tempfile.mkdtemp(prefix="bindbot-bench-"))
    env = dict(os.environ)
    if args.synthetic:
        from tests.conftest import synthetic_env
        from tests.fixtures.synthetic import build_synthetic_upstream

        env.update(synthetic_env(build_synthetic_upstream(scratch / "up"), scratch / "cache"))
    elif not env.get("BINDBOT_UPSTREAM"):
        print("set BINDBOT_UPSTREAM (and BINDBOT_DEP_*) or pass --synthetic", file=sys.stderr)
        return 2
    env["BINDBOT_CACHE"] = str(scratch / "cache")  # always cold at first

    cold, parsed, examined = _run(env, args.start, args.end, scratch / "cold")
    warm, reparsed, _ = _run(env, args.start, args.end, scratch / "warm")
    per_commit = cold / max(parsed, 1)
    print(f"commits examined:             {examined}")
    print(f"commits parsed (cold):        {parsed}")
    print(f"extraction per parsed commit: {per_commit:.2f} s (target < 2 s)")
    print(f"history cold:                 {cold:.1f} s")
    print(f"history warm:                 {warm:.1f} s (parsed {reparsed}; target < 30 s)")
    print(f"warm/cold ratio:              {warm / cold:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
