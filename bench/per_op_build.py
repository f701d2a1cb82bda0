"""Per-op cargo features: a cold build of the `tflm` crate with only the micro_speech
keyword model's operators (RESHAPE, FULLY_CONNECTED, DEPTHWISE_CONV_2D, SOFTMAX) against
the default (every operator), measured in the same run on this machine.

Goal: the micro_speech build under 90 s on the 2-core machine. Each build gets a fresh
target folder and no object cache, so both compile everything they need from scratch
(cargo's own dependencies are fetched beforehand and not timed).

Needs the committed crate's sources exported (`bindbot sources`; BINDBOT_CACHE as for
that command). Usage: python bench/per_op_build.py [--target TRIPLE]
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bindbot.runner import subprocess_runner  # noqa: E402
from bindbot.verify.targets import TARGETS  # noqa: E402
from bindbot.verify.toolchain import route  # noqa: E402

KEYWORD_OPS = ("op-reshape", "op-fully-connected", "op-depthwise-conv-2d", "op-softmax")


def build(crate: Path, target_dir: Path, features: list[str], triple: str) -> tuple[float, str]:
    env = {k: v for k, v in os.environ.items() if k != "TFLM_SYS_OBJECT_CACHE"}
    args = ["cargo", "build", "--release", "-p", "tflm", "--target-dir", str(target_dir)]
    if triple:
        target = next(t for t in TARGETS if t.triple == triple)
        how = route(subprocess_runner, target)
        env.update(dict(how.env))
        args = [how.cargo, *args[1:], *how.cargo_args]
    if features:
        args += ["--no-default-features", "--features", ",".join(features)]
    start = time.monotonic()
    done = subprocess.run(args, cwd=crate, env=env, capture_output=True, text=True)
    took = time.monotonic() - start
    if done.returncode != 0:
        raise SystemExit(f"build failed:\n{done.stderr[-3000:]}")
    found = re.search(r"compiled (\d+) of (\d+) files", done.stderr)
    return took, f"{found.group(1)} C/C++ files" if found else "?"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--target", default="", help="a Rust triple (default: the host)")
    parser.add_argument("--crate", type=Path, default=ROOT / "rust_crate")
    args = parser.parse_args()
    subprocess.run(["cargo", "fetch", "-q"], cwd=args.crate, check=True)
    with tempfile.TemporaryDirectory(prefix="bindbot-bench-ops-") as tmp:
        subset, subset_files = build(args.crate, Path(tmp) / "ops", list(KEYWORD_OPS), args.target)
        print(f"micro_speech ops only ({', '.join(KEYWORD_OPS)}): {subset:.1f} s, {subset_files}")
        full, full_files = build(args.crate, Path(tmp) / "all", [], args.target)
        print(f"all ops (baseline): {full:.1f} s, {full_files}")
    print(f"ratio {subset / full:.3f} (goal: micro_speech under 90 s: {subset < 90})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
