"""The reference runner: TFLM's C++ API compiled from the pinned tree, linked with a small
program (`templates/reference/runner.cc`), and nothing of the crate.

Upstream's Makefile decides what is compiled (`bindbot.build.sources`) and how (its host
flags: `-Os` for the core, `-O2` for kernels, C++17 without RTTI or exceptions, its
defines). Objects are kept per commit and flags in the cache, each written under a
temporary name and renamed, so an interrupted build resumes where it stopped and never
links half an object.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from bindbot.build.sources import library_sources
from bindbot.errors import ToolFailedError, ToolMissingError
from bindbot.fsutil import write_atomic
from bindbot.log import Progress
from bindbot.package.vendor import INCLUDE_DIRS
from bindbot.runner import Runner

RUNNER_SOURCE = Path(__file__).resolve().parents[2] / "templates" / "reference"

#: upstream's Makefile, host target (COMMON_FLAGS without its warnings).
COMMON_FLAGS = (
    "-fno-unwind-tables",
    "-fno-asynchronous-unwind-tables",
    "-ffunction-sections",
    "-fdata-sections",
    "-DTF_LITE_STATIC_MEMORY",
    "-DTF_LITE_DISABLE_X86_NEON",
    "-DTF_LITE_USE_CTIME",
)
CXX_FLAGS = ("-std=c++17", "-fno-rtti", "-fno-exceptions", "-fno-threadsafe-statics")
C_FLAGS = ("-std=c17",)


@dataclass(frozen=True)
class Toolchain:
    cxx: str = "g++"
    cc: str = "gcc"

    @classmethod
    def from_env(cls) -> Toolchain:
        return cls(os.environ.get("CXX", "g++"), os.environ.get("CC", "gcc"))


def flags_for(path: str, kernel: bool) -> tuple[str, ...]:
    language = CXX_FLAGS if path.endswith(".cc") else C_FLAGS
    return ("-O2" if kernel else "-Os", *language, *COMMON_FLAGS)


def _key(*parts: str) -> str:
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:20]


def build_runner(
    runner: Runner,
    root: Path,
    commit: str,
    ops_header: str,
    cache: Path,
    tools: Toolchain | None = None,
    jobs: int | None = None,
) -> Path:
    """The runner executable for the sources under `root` (`<cache>/src/<commit>`).

    `ops_header` is the rendered `runner_ops.h` (the pin's operators and constructor).
    """
    tools = tools or Toolchain.from_env()
    if shutil.which(tools.cxx) is None:
        raise ToolMissingError(
            f"the C++ compiler {tools.cxx!r} is not installed",
            "install g++ (Debian: apt-get install g++) or set CXX",
        )
    library = library_sources(root / "tflm")
    includes = [f"-I{root / d}" for d in INCLUDE_DIRS]
    objects_dir = cache / "objects" / commit
    objects_dir.mkdir(parents=True, exist_ok=True)
    todo: list[tuple[str, Path, list[str]]] = []
    objects: list[Path] = []
    for src in library.all():
        compiler = tools.cxx if src.endswith(".cc") else tools.cc
        flags = flags_for(src, library.is_kernel(src))
        obj = objects_dir / f"{Path(src).stem}-{_key(src, compiler, *flags)}.o"
        objects.append(obj)
        if not obj.is_file():
            todo.append((src, obj, [compiler, *flags, *includes, "-c", str(root / "tflm" / src)]))
    progress = Progress("reference runner: compile", len(todo)) if todo else None

    def compile_one(item: tuple[str, Path, list[str]]) -> str | None:
        src, obj, argv = item
        tmp = obj.with_name(f".{obj.name}.{os.getpid()}.tmp")
        result = runner([*argv, "-o", str(tmp)], timeout=1800)
        if result.returncode != 0:
            tmp.unlink(missing_ok=True)
            return f"{src}: " + " ".join(result.stderr.strip().splitlines()[:6])
        os.replace(tmp, obj)
        if progress is not None:
            progress.advance(src)
        return None

    with ThreadPoolExecutor(max_workers=jobs or os.cpu_count() or 2) as pool:
        errors = [e for e in pool.map(compile_one, todo) if e]
    if progress is not None:
        progress.close()
    if errors:
        raise ToolFailedError(
            f"the reference runner's TFLM library does not compile at {commit[:12]}: {errors[0]}",
            "check the pinned sources (`bindbot sources`) and the compiler",
        )
    return _link(runner, root, commit, ops_header, cache, tools, includes, objects)


def _link(
    runner: Runner,
    root: Path,
    commit: str,
    ops_header: str,
    cache: Path,
    tools: Toolchain,
    includes: Sequence[str],
    objects: Sequence[Path],
) -> Path:
    main = (RUNNER_SOURCE / "runner.cc").read_text(encoding="utf-8")
    digest = _key(main, ops_header, tools.cxx, *(str(o) for o in objects))
    exe = cache / "bin" / f"runner-{commit[:12]}-{digest}"
    if exe.is_file():
        return exe
    work = cache / "bin" / f".{exe.name}.{os.getpid()}"
    work.mkdir(parents=True, exist_ok=True)
    try:
        write_atomic(work / "runner_ops.h", ops_header)
        write_atomic(work / "runner.cc", main)
        argv = [
            tools.cxx,
            *flags_for("runner.cc", kernel=False),
            f"-I{work}",
            *includes,
            str(work / "runner.cc"),
            *(str(o) for o in objects),
            "-lm",
            "-o",
            str(work / "runner"),
        ]
        result = runner(argv, timeout=600)
        if result.returncode != 0:
            raise ToolFailedError(
                f"the reference runner does not link at {commit[:12]}: "
                + " ".join(result.stderr.strip().splitlines()[:6]),
                "check templates/reference/runner.cc against the pinned API",
            )
        os.replace(work / "runner", exe)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return exe
