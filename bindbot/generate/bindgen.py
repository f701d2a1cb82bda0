"""Runs bindgen on the generated shim header (and through it TFLM's C headers).

Only names, types and layouts are emitted (`--no-doc-comments`): no upstream text is copied
into the committed bindings. Layout tests are left out because bindgen computes them for
the host; per-target layout checks compare against each target's C compiler instead.
"""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path

from bindbot.api.extract import libclang_dir
from bindbot.errors import ToolFailedError, ToolMissingError
from bindbot.runner import Runner

BINDGEN_ARGS = (
    "--use-core",
    "--ctypes-prefix",
    "core::ffi",
    "--no-doc-comments",
    "--no-layout-tests",
    # size_t is usize on every Rust target; bindgen 0.60 otherwise picks the host's u64.
    "--size_t-is-usize",
    "--allowlist-function",
    "tflm_.*",
    "--allowlist-type",
    "tflm_.*|TfLite.*",
    "--allowlist-var",
    "TFLM_.*|kTfLite.*",
)


def run_bindgen(
    runner: Runner,
    header_text: str,
    include_dirs: list[Path],
    defines: tuple[str, ...],
    stamp: str,
    *,
    resource_dir: Path,
) -> str:
    with tempfile.TemporaryDirectory(prefix="bindbot-bindgen-") as tmp:
        header = Path(tmp) / "tflm_shim.h"
        header.write_text(header_text, encoding="utf-8")
        args = ["bindgen", str(header), *BINDGEN_ARGS, "--", "-x", "c", "-std=c11"]
        args += [f"-D{d}" for d in defines] + [f"-I{d}" for d in include_dirs]
        args += ["-isystem", str(resource_dir)]
        # bindgen loads libclang at run time; the PyPI wheel bindbot parses with has one.
        env = {**os.environ, "LIBCLANG_PATH": str(libclang_dir())}
        result = runner(args, env=env)
    if result.returncode == 127:
        raise ToolMissingError(
            "bindgen is not installed", "apt-get install bindgen (or cargo install bindgen-cli)"
        )
    if result.returncode != 0:
        first = (result.stderr.strip().splitlines() or ["no output"])[0]
        raise ToolFailedError(f"bindgen failed: {first}", "check `bindbot doctor` and the headers")
    return f"// {stamp}\n{portable(result.stdout)}"


_STDINT = re.compile(r"^pub type __(u?)int(8|16|32|64)_t = [^;]+;$", re.M)
_LONG_ALIAS = re.compile(r"^pub type (\w+) = core::ffi::c_(u?)long;$", re.M)


def portable(bindings: str) -> str:
    """Respell the two things bindgen takes from the host that differ on 32-bit targets.

    glibc spells int64_t as `long`, which bindgen keeps as `c_long`: 32 bits on Cortex-M,
    where int64_t is `long long`. Fixed-width typedefs become Rust's fixed-width integers.
    An enum whose values need 64 bits is `unsigned long` on the host and `unsigned long
    long` on Cortex-M: 64 bits everywhere, so it becomes u64 (i64). The layout checks
    prove the result on every target.
    """
    text = _STDINT.sub(
        lambda m: f"pub type __{m[1]}int{m[2]}_t = {'u' if m[1] else 'i'}{m[2]};", bindings
    )

    def enum_width(m: re.Match[str]) -> str:
        name, unsigned = m[1], m[2]
        if re.search(rf"^pub const {re.escape(name)}_\w+: {re.escape(name)} =", text, re.M):
            return f"pub type {name} = {'u' if unsigned else 'i'}64;"
        return m[0]

    return _LONG_ALIAS.sub(enum_width, text)
