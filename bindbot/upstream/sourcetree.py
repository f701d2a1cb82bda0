"""The pinned upstream sources on disk, where tflm-sys's build.rs looks for them.

`<cache>/src/<commit>/tflm/` holds the upstream tree at the commit and
`<cache>/src/<commit>/deps/<name>` points at each materialised (patched) dependency.
Built in a staging folder and renamed, so a build never sees half an export.
"""

from __future__ import annotations

import os
from pathlib import Path

import pygit2

from bindbot.fsutil import staged_dir
from bindbot.upstream.deps import DependencyStore, read_pins
from bindbot.upstream.repo import Upstream


def source_dir(cache_dir: Path, commit: str) -> Path:
    return cache_dir / "src" / commit


def ensure_sources(
    upstream: Upstream, deps: DependencyStore, cache_dir: Path, commit: pygit2.Commit
) -> Path:
    final = source_dir(cache_dir, str(commit.id))
    if (final / ".complete").is_file():
        return final
    pins = read_pins(upstream, commit)
    materialised = [deps.materialise(pin, upstream, commit) for pin in pins]
    with staged_dir(final) as tmp:
        upstream.export(commit, tmp / "tflm")
        (tmp / "deps").mkdir()
        for m in materialised:
            os.symlink(m.root, tmp / "deps" / m.pin.name)
        (tmp / ".complete").write_text(str(commit.id) + "\n", encoding="utf-8")
    return final
