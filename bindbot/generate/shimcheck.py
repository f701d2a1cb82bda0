"""Proves the generated shim compiles against the pinned headers before anything is written.

The shim calls C++ that the API model may not see change (a parameter dropped from a
function it calls, a type that is `long` on Cortex-M and `int` on the host); without this a
pin could generate a crate that does not build while `generate` exits 0. A syntax-only
compile of each shim source takes seconds: with the host's C++ compiler always, and with
`arm-none-eabi-g++` too when it is installed, as 32-bit targets spell `int32_t` as `long`.
The flags are the ones tflm-sys's build script uses (templates/files/tflm-sys/build.rs).
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from bindbot.errors import GenerationError, ToolMissingError
from bindbot.runner import Runner

#: Include folders of the pinned tree, as the build script lists them.
INCLUDE_DIRS = ("tflm", "deps/flatbuffers/include", "deps/gemmlowp", "deps/kissfft", "deps/ruy")
FLAGS = (
    "-fsyntax-only",
    "-std=c++17",
    "-fno-rtti",
    "-fno-exceptions",
    "-fno-threadsafe-statics",
    "-fno-short-enums",
    "-DTF_LITE_STATIC_MEMORY",
    "-w",
)
#: The bare-metal runtime is compiled for Cortex-M only.
BARE_METAL_ONLY = "tflm_runtime.cc"
#: (compiler, its extra flags, whether it must exist).
COMPILERS = (
    ("c++", (), True),
    ("arm-none-eabi-g++", ("-mthumb", "-mcpu=cortex-m3", "-DTFLM_SHIM_BARE_METAL"), False),
)
_DIAGNOSTIC = re.compile(
    r"^(?P<file>[^:\s]+):(?P<line>\d+):(?:\d+:)? (?:fatal )?error: (?P<what>.*)$"
)


def check_shim(
    runner: Runner,
    shim: dict[str, str],
    tree: Path,
    defines: Sequence[str],
    commit: str,
) -> None:
    """Compile every shim source (`shim` maps file names to text) syntax-only against `tree`.

    Raises GenerationError naming the file, line and the compiler's message for the first
    source that does not compile.
    """
    with tempfile.TemporaryDirectory(prefix="bindbot-shim-") as tmp:
        folder = Path(tmp)
        for name, text in shim.items():
            (folder / name).write_text(text, encoding="utf-8")
        includes = [f"-I{folder}", *(f"-I{tree / d}" for d in INCLUDE_DIRS)]
        redirect = folder / "tflm_redirect.h"
        if redirect.is_file():
            includes += ["-include", str(redirect)]
        sources = sorted(n for n in shim if n.endswith(".cc"))
        jobs: list[tuple[str, str, list[str]]] = []
        for compiler, extra, required in COMPILERS:
            if shutil.which(compiler) is None:
                if required:
                    raise ToolMissingError(
                        f"{compiler} is needed to prove the generated shim compiles",
                        "install a C++17 compiler (apt-get install g++)",
                    )
                continue
            bare_metal = "-DTFLM_SHIM_BARE_METAL" in extra
            for name in sources:
                if name == BARE_METAL_ONLY and not bare_metal:
                    continue
                args = [compiler, *FLAGS, *extra, *includes, *(f"-D{d}" for d in defines)]
                jobs.append((name, compiler, [*args, str(folder / name)]))
        # Each compile is one process: run them side by side, report the first in order.
        with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
            results = list(pool.map(lambda job: runner(job[2]), jobs))
        for (name, compiler, _), result in zip(jobs, results, strict=True):
            if result.returncode != 0:
                raise _failure(name, compiler, commit, result.stderr + result.stdout)


def _failure(name: str, compiler: str, commit: str, output: str) -> GenerationError:
    """The first compiler error, with the shim file and line it is in."""
    first = next(
        (m for m in map(_DIAGNOSTIC.match, output.splitlines()) if m is not None),
        None,
    )
    where = (
        f"{Path(first['file']).name}:{first['line']}: {first['what']}"
        if first is not None
        else (output.strip().splitlines() or ["no output"])[-1]
    )
    return GenerationError(
        f"the generated shim {name} does not compile against tflite-micro {commit[:12]} "
        f"({compiler}): {where}",
        "the upstream API the shim calls changed: update the shim template "
        "(templates/shim/) or the plan that selects its code (bindbot/generate/plan.py)",
    )
