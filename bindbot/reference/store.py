"""Reference folders in the cache, one per pin and content.

`<cache>/reference/<commit>-<digest>/` where the digest covers the runner's source, the
rendered operator header and this format's version: the same pin and the same bindbot
give the same folder, built once. A folder is complete only with `reference.json`; it is
made in a staging folder and renamed, so an interrupted build leaves nothing behind.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from bindbot.fsutil import staged_dir, write_atomic
from bindbot.reference.build import RUNNER_SOURCE, build_runner
from bindbot.reference.cases import Case, read_manifest, write_manifest
from bindbot.reference.collect import INTEGRATION_TOLERANCE, Reference, collect, groups
from bindbot.reference.crosscheck import CrossCheck, run_crosscheck
from bindbot.runner import Runner

#: Bump when the folder's layout or the way inputs are derived changes.
FORMAT = 3


@dataclass(frozen=True)
class ReferenceSet:
    root: Path
    commit: str
    cases: tuple[Case, ...]
    skipped: dict[str, str]
    disagreements: dict[str, str]

    def counts(self) -> dict[str, int]:
        return {group: len(found) for group, found in groups(list(self.cases))}

    def summary(self) -> str:
        counts = ", ".join(f"{n} {g}" for g, n in self.counts().items())
        return f"{len(self.cases)} reference cases ({counts}) at {self.root}"


def reference_dir(cache: Path, commit: str, ops_header: str) -> Path:
    runner_text = (RUNNER_SOURCE / "runner.cc").read_bytes()
    digest = hashlib.sha256(
        runner_text + b"\0" + ops_header.encode() + b"\0" + str(FORMAT).encode()
    ).hexdigest()[:12]
    return cache / "reference" / "data" / f"{commit[:12]}-{digest}"


def load(root: Path) -> ReferenceSet:
    meta = json.loads((root / "reference.json").read_text(encoding="utf-8"))
    return ReferenceSet(
        root,
        meta["commit"],
        tuple(read_manifest(root / "cases.tsv")),
        meta["skipped"],
        meta["runner_vs_upstream_golden"],
    )


def ensure_reference(
    runner: Runner, sources: Path, commit: str, ops_header: str, cache: Path, commit_date: str
) -> ReferenceSet:
    """The reference folder for `commit` (sources exported under `sources`), built once."""
    final = reference_dir(cache, commit, ops_header)
    if (final / "reference.json").is_file():
        return load(final)
    exe = build_runner(runner, sources, commit, ops_header, cache / "reference" / "build")
    with staged_dir(final) as tmp:
        ref = Reference(runner, exe, sources / "tflm", tmp)
        collect(ref)
        write_manifest(tmp / "cases.tsv", ref.cases)
        checked = run_crosscheck(runner, tmp)
        meta = {
            "commit": commit,
            "format": FORMAT,
            "cases": len(ref.cases),
            "groups": {g: len(c) for g, c in groups(ref.cases)},
            "integration_tolerance": INTEGRATION_TOLERANCE,
            "skipped": dict(sorted(ref.skipped.items())),
            "runner_vs_upstream_golden": dict(sorted(ref.disagreements.items())),
            "arena_used_bytes_host": dict(sorted(ref.arena.items())),
            "python_interpreter": None
            if checked is None
            else {
                "version": checked.version,
                "built": checked.built,
                "days_after_pin": checked.days_from(commit_date),
                "cases_equal": checked.equal,
                "differences": dict(sorted(checked.differences.items())),
            },
        }
        write_atomic(tmp / "reference.json", json.dumps(meta, indent=2, sort_keys=True) + "\n")
        write_atomic(tmp / "reference.md", markdown(commit, ref, checked, commit_date))
    return load(final)


def markdown(commit: str, ref: Reference, checked: CrossCheck | None, commit_date: str) -> str:
    lines = [
        f"# Reference for tflite-micro `{commit[:12]}`",
        "",
        "Made by `bindbot reference` from the pinned tree alone. Expected outputs come from",
        "upstream's own golden data where the tree has it (per-op integration tests, compared",
        f"within ±{INTEGRATION_TOLERANCE} as upstream's test template does), else from the",
        "reference runner: TFLM's C++ API built from the same sources with upstream's Makefile",
        "flags (no shim, no Rust), compared byte for byte (float32 as numbers, exactly).",
        "",
        "| group | cases | expected outputs from |",
        "|---|---|---|",
    ]
    for group, found in groups(ref.cases):
        sources = sorted({c.source for c in found})
        lines.append(f"| {group} | {len(found)} | {'; '.join(sources)} |")
    lines += [
        "",
        f"The runner agrees with upstream's golden data on "
        f"{sum(1 for c in ref.cases if c.name.startswith('integration/')) - len(ref.disagreements)}"
        f" of {sum(1 for c in ref.cases if c.name.startswith('integration/'))} integration tests.",
    ]
    if ref.disagreements:
        lines += ["", "| integration test | runner vs upstream golden |", "|---|---|"]
        lines += [f"| {k} | {v} |" for k, v in sorted(ref.disagreements.items())]
    if checked is None:
        lines += [
            "",
            "The official Python interpreter (PyPI `tflite-micro`) is not installed: "
            "no cross-check.",
        ]
    else:
        days = checked.days_from(commit_date)
        apart = (
            f"{abs(days)} days {'after' if days >= 0 else 'before'}"
            if days is not None
            else "apart from"
        )
        lines += [
            "",
            f"Cross-check with the official Python interpreter `tflite-micro=={checked.version}` "
            f"(built from upstream's main of {checked.built or 'unknown date'}, {apart} the pin): "
            f"{checked.equal} of {len(ref.cases)} cases give the expected outputs within "
            "their tolerance.",
        ]
        if checked.differences:
            lines += ["", "| case | Python interpreter |", "|---|---|"]
            lines += [
                f"| {k} | {v.replace('|', '/')} |" for k, v in sorted(checked.differences.items())
            ]
    if ref.skipped:
        lines += ["", "| skipped | why |", "|---|---|"]
        lines += [f"| {k} | {v.replace('|', '/')} |" for k, v in sorted(ref.skipped.items())]
    return "\n".join(lines) + "\n"
