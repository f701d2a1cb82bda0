"""Which upstream files the packaged `tflm-sys` carries, and the manifest that lists them.

The package holds exactly what its build compiles: the library sources upstream's own
list names, every header they (and the shim) include, transitively, from the tree and the
patched dependencies, and each vendored project's license. Includes are followed by
scanning `#include` lines against the build's include path, without evaluating `#if`:
a header only some target's branch includes is still carried, so one package builds for
every target. The manifest records each file's upstream project, its path there and its
sha256; tflm-sys's build script refuses a vendored file whose bytes differ.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from bindbot.errors import PackageError
from bindbot.upstream.lock import Lock

#: The build's include path, relative to the source root (tflm-sys's build.rs uses the same).
INCLUDE_DIRS = (
    "tflm",
    "deps/flatbuffers/include",
    "deps/gemmlowp",
    "deps/kissfft",
    "deps/ruy",
)
#: Top-level files of a project that carry its license terms.
LICENSE_NAMES = re.compile(r"^(LICENSE|LICENCE|COPYING|NOTICE)(\..*)?$", re.IGNORECASE)
#: The tflite-micro project's name in the manifest (dependencies use their lock names).
UPSTREAM_PROJECT = "tflite-micro"
MANIFEST_NAME = "MANIFEST.tsv"

_INCLUDE = re.compile(rb'^[ \t]*#[ \t]*include[ \t]*([<"])([^">\n]+)[">]', re.MULTILINE)


@dataclass(frozen=True)
class VendoredFile:
    """One file of the package's `vendor/` folder."""

    path: str  # relative to vendor/, e.g. tflm/tensorflow/lite/micro/micro_log.cc
    project: str  # tflite-micro, flatbuffers, gemmlowp, kissfft, ruy
    upstream_path: str  # its path in that project's repository
    sha256: str
    size: int


@dataclass(frozen=True)
class VendorSet:
    files: tuple[VendoredFile, ...]

    @property
    def total_bytes(self) -> int:
        return sum(f.size for f in self.files)

    def projects(self) -> tuple[str, ...]:
        return tuple(sorted({f.project for f in self.files}))


def project_of(path: str) -> tuple[str, str]:
    """(project, path in its repository) for a path relative to the source root."""
    parts = path.split("/", 2)
    if parts[0] == "tflm" and len(parts) > 1:
        return UPSTREAM_PROJECT, path.split("/", 1)[1]
    if parts[0] == "deps" and len(parts) == 3:
        return parts[1], parts[2]
    raise PackageError(
        f"{path} is outside the source tree's tflm/ and deps/ folders",
        "report this as a bindbot bug: the include scan escaped the source root",
    )


def _resolve(root: Path, name: str, including: str | None) -> str | None:
    """The root-relative path `#include name` finds, or None for a system header."""
    candidates: list[str] = []
    if including is not None:
        candidates.append(os.path.dirname(including))
    candidates += INCLUDE_DIRS
    for base in candidates:
        rel = os.path.normpath(os.path.join(base, name)) if base else os.path.normpath(name)
        if rel.startswith(".."):
            continue
        # Paths stay relative to the root, through the deps/ symlinks: the package's layout
        # is the build's, not the cache's.
        if (root / rel).is_file():
            return rel
    return None


def include_closure(
    root: Path, starts: Iterable[str], extra_texts: Iterable[bytes] = ()
) -> set[str]:
    """Every root-relative file reachable from `starts` through `#include`.

    `extra_texts` are files outside the root (the crate's shim and layout probe) whose
    includes start the walk too; they are not part of the result themselves.
    """
    seen: set[str] = set()
    queue: list[tuple[str | None, bytes | None]] = [(s, None) for s in sorted(starts)]
    queue += [(None, t) for t in extra_texts]
    while queue:
        path, text = queue.pop()
        if path is not None:
            if path in seen:
                continue
            if not (root / path).is_file():
                raise PackageError(
                    f"{path} is in the library list but not in the source tree {root}",
                    "run `bindbot sources` again; the exported tree is incomplete",
                )
            seen.add(path)
            text = (root / path).read_bytes()
        assert text is not None
        for match in _INCLUDE.finditer(text):
            quoted = match.group(1) == b'"'
            name = match.group(2).decode("utf-8", "replace").strip()
            found = _resolve(root, name, path if quoted else None)
            if found is not None and found not in seen:
                queue.append((found, None))
    return seen


def license_files(root: Path, projects: Iterable[str]) -> set[str]:
    found: set[str] = set()
    for project in projects:
        base = "tflm" if project == UPSTREAM_PROJECT else f"deps/{project}"
        folder = root / base
        for entry in sorted(os.listdir(folder)):
            if LICENSE_NAMES.match(entry) and (folder / entry).is_file():
                found.add(f"{base}/{entry}")
    return found


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def vendor_set(root: Path, sources: Sequence[str], crate_texts: Sequence[bytes]) -> VendorSet:
    """The files to vendor for `sources` (tflm/-relative library files) from `root`."""
    starts = {f"tflm/{s}" for s in sources}
    closure = include_closure(root, starts, crate_texts)
    projects = {project_of(p)[0] for p in closure} | {UPSTREAM_PROJECT}
    missing = sorted(p for p in projects if not license_files(root, [p]))
    if missing:
        raise PackageError(
            f"no license file found for vendored project(s) {', '.join(missing)}",
            "check the materialised dependency in the cache (`bindbot deps --materialise`)",
        )
    everything = closure | license_files(root, projects)
    files = []
    for rel in sorted(everything):
        project, upstream_path = project_of(rel)
        full = root / rel
        files.append(VendoredFile(rel, project, upstream_path, _sha256(full), full.stat().st_size))
    return VendorSet(tuple(files))


def manifest_text(vendor: VendorSet, lock: Lock) -> str:
    """The manifest tflm-sys's build script checks: one tab-separated line per file."""
    lines = [
        "# Files vendored into tflm-sys by bindbot, checked by build.rs before compiling.",
        "# Columns: sha256, path under vendor/, project, path in the project's repository.",
        f"# project\t{UPSTREAM_PROJECT}\t{lock.upstream_url}\t{lock.commit}",
    ]
    for dep in sorted(lock.deps, key=lambda d: d.name):
        patched = f"\tpatched with {dep.patch}" if dep.patch else ""
        lines.append(f"# project\t{dep.name}\t{dep.url}\t{dep.ref}{patched}")
    for f in vendor.files:
        lines.append(f"{f.sha256}\t{f.path}\t{f.project}\t{f.upstream_path}")
    return "\n".join(lines) + "\n"


def read_manifest(text: str) -> dict[str, str]:
    """path under vendor/ -> sha256, from a manifest (the inverse of `manifest_text`)."""
    out: dict[str, str] = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        digest, path, _project, _upstream = line.split("\t")
        out[path] = digest
    return out
