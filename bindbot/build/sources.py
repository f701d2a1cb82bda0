"""Which files upstream compiles into the TFLM library, read from the tree itself.

The rules are those of upstream's Makefile target `list_library_sources` (202 files at
90b983c2): the micro core and its allocator, planner and bridge folders; every C/C++ file
of `tensorflow/` outside `lite/micro` and `lite/experimental`, except `lite/array.cc`; the
reference kernels and the signal library. Tests, generated flexbuffers test data and
the five helpers that exist only for upstream's own tests are left out. The core follows
the Makefile's own wildcards; the kernels come from its explicit lists
(`MICROLITE_CC_KERNEL_SRCS` and `MICROLITE_CC_SIGNAL_KERNEL_SRCS`, in `sources.inc` or, before
2023, the Makefile itself), read from the tree at each pin: in 2021 the kernels folder held
files the Makefile did not compile (`depth_to_space.cc` needed TFLite's optimized ops). A
tree without such a list gets every kernel file in the kernel folders.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

#: Folders whose top-level .cc files are the interpreter core.
CORE_DIRS = (
    "tensorflow/lite/micro",
    "tensorflow/lite/micro/arena_allocator",
    "tensorflow/lite/micro/memory_planner",
    "tensorflow/lite/micro/tflite_bridge",
)
#: Folders whose top-level .cc files are kernels (compiled -O2 by the Makefile).
KERNEL_DIRS = (
    "tensorflow/lite/micro/kernels",
    "signal/micro/kernels",
    "signal/src",
    "signal/src/kiss_fft_wrappers",
)
#: Sub-trees of tensorflow/ the walk skips (their own rules above, or not library code).
SKIPPED_TREES = ("tensorflow/lite/micro", "tensorflow/lite/experimental")
EXCLUDED_FILES = frozenset({"tensorflow/lite/array.cc"})
EXCLUDED_SUFFIXES = ("_test.cc", "_flexbuffers_generated_data.cc", "conv_test_common.cc")
#: In upstream's list, but only its tests use them: fakes, mocks and test model builders.
TEST_ONLY = frozenset(
    {
        "tensorflow/lite/micro/fake_micro_context.cc",
        "tensorflow/lite/micro/kernels/kernel_runner.cc",
        "tensorflow/lite/micro/mock_micro_graph.cc",
        "tensorflow/lite/micro/test_helper_custom_ops.cc",
        "tensorflow/lite/micro/test_helpers.cc",
    }
)


@dataclass(frozen=True)
class LibrarySources:
    cc: tuple[str, ...]
    c: tuple[str, ...]

    def all(self) -> tuple[str, ...]:
        return tuple(sorted(self.cc + self.c))

    def is_kernel(self, path: str) -> bool:
        """Kernels get -O2, the rest -Os, as in upstream's Makefile."""
        return os.path.dirname(path) in KERNEL_DIRS


def _top_level(tree: Path, folder: str, suffixes: tuple[str, ...]) -> set[str]:
    base = tree / folder
    if not base.is_dir():
        return set()
    return {
        f"{folder}/{p.name}" for p in base.iterdir() if p.is_file() and p.name.endswith(suffixes)
    }


#: Where upstream's Makefile keeps its kernel lists (every one that exists is read: the
#: main list moved to sources.inc in 2023, the kiss_fft wrappers are added by another file).
MAKEFILES = (
    "tensorflow/lite/micro/tools/make/Makefile",
    "tensorflow/lite/micro/tools/make/sources.inc",
    "tensorflow/lite/micro/tools/make/additional_kernels.inc",
)
_LIST = re.compile(
    r"^(?:MICROLITE_CC_KERNEL_SRCS|MICROLITE_CC_SIGNAL_KERNEL_SRCS)\s*[:+]?=\s*\\\n"
    r"((?:.*\\\n)*.*)$",
    re.M,
)


def makefile_kernels(tree: Path) -> set[str] | None:
    """The kernel sources upstream's Makefile lists by name, or None without such a list."""
    names: set[str] | None = None
    for rel in MAKEFILES:
        path = tree / rel
        if not path.is_file():
            continue
        for body in _LIST.findall(path.read_text(encoding="utf-8", errors="replace")):
            names = names or set()
            for item in body.replace("\\\n", " ").split():
                item = item.replace("$(TENSORFLOW_ROOT)", "")
                if item.endswith((".cc", ".c")) and "$(" not in item:
                    names.add(item)
    return names


def upstream_list(tree: Path) -> set[str]:
    """What `make list_library_sources` prints for this tree."""
    found: set[str] = set()
    for folder in CORE_DIRS:
        found |= _top_level(tree, folder, (".cc",))
    kernels: set[str] = set()
    for folder in KERNEL_DIRS:
        kernels |= _top_level(tree, folder, (".cc",))
    listed = makefile_kernels(tree)
    found |= kernels if listed is None else kernels & listed
    root = tree / "tensorflow"
    for dirpath, dirnames, filenames in os.walk(root):
        rel = Path(dirpath).relative_to(tree).as_posix()
        if rel.startswith(SKIPPED_TREES):
            dirnames[:] = []
            continue
        dirnames.sort()
        found |= {f"{rel}/{n}" for n in filenames if n.endswith((".cc", ".c"))}
    return {f for f in found - EXCLUDED_FILES if not f.endswith(EXCLUDED_SUFFIXES)}


def library_sources(tree: Path) -> LibrarySources:
    """The files to compile for the library: upstream's list minus its test-only helpers.

    `kiss_fft.c` never appears: the kiss_fft_wrappers include it, as upstream intends.
    """
    files = sorted(upstream_list(tree) - TEST_ONLY)
    return LibrarySources(
        cc=tuple(f for f in files if f.endswith(".cc")),
        c=tuple(f for f in files if f.endswith(".c")),
    )
