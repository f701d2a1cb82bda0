"""Writes the generated crate all-or-nothing, or checks that the committed one is current."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path

from bindbot.errors import StaleOutputError
from bindbot.generate.crate import GeneratedFile


def stale_files(crate_dir: Path, files: Sequence[GeneratedFile]) -> list[str]:
    """Generated files whose committed bytes differ (or that are missing)."""
    out = []
    for f in files:
        path = crate_dir / f.path
        if not path.is_file() or path.read_bytes() != f.text.encode("utf-8"):
            out.append(f.path)
    return out


def check(crate_dir: Path, files: Sequence[GeneratedFile]) -> None:
    stale = stale_files(crate_dir, files)
    if stale:
        shown = ", ".join(stale[:6]) + (f" and {len(stale) - 6} more" if len(stale) > 6 else "")
        raise StaleOutputError(
            f"the committed crate is stale: {shown} differ from what bindbot generates",
            "run `bindbot generate` and commit the result",
        )


def write_all(crate_dir: Path, files: Sequence[GeneratedFile]) -> list[str]:
    """Stage every file first; only when all are staged, move them into place.

    A failure while rendering or staging leaves the crate untouched. Returns what changed.
    """
    crate_dir.mkdir(parents=True, exist_ok=True)
    changed = stale_files(crate_dir, files)
    if not changed:
        return []
    staging = Path(tempfile.mkdtemp(prefix=".bindbot-generate-", dir=crate_dir))
    try:
        for f in files:
            if f.path in changed:
                target = staging / f.path
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(f.text.encode("utf-8"))
        for rel in changed:
            final = crate_dir / rel
            final.parent.mkdir(parents=True, exist_ok=True)
            os.replace(staging / rel, final)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return changed
