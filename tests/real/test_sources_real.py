"""The library source list on real upstream trees (counts measured against the Makefile's
`list_library_sources`: 202 at 90b983c2, of which 5 are test-only helpers)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from bindbot.build.sources import library_sources, upstream_list


def _export(commit: str, dest: Path) -> Path:
    repo = os.environ["BINDBOT_UPSTREAM"]
    archive = subprocess.run(
        ["git", f"--git-dir={repo}", "archive", commit, "tensorflow", "signal"],
        check=True,
        capture_output=True,
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(dest)], input=archive, check=True)
    return dest


def test_head_list_matches_upstream(tmp_path: Path) -> None:
    tree = _export("90b983c2b3f1480642e040bbd2ddb37b998f3424", tmp_path)
    assert len(upstream_list(tree)) == 202
    sources = library_sources(tree).all()
    assert len(sources) == 197
    assert "tensorflow/lite/micro/micro_interpreter.cc" in sources
    assert "signal/src/kiss_fft_wrappers/kiss_fft_int16.cc" in sources
    assert not [s for s in sources if s.endswith("_test.cc")]
