"""`bindbot doctor`: every external tool the pipeline uses, found or missing, with the fix."""

from __future__ import annotations

import glob
import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bindbot.config import Config
from bindbot.runner import Runner

RUST_SRC = Path("/usr/lib/rustlib/src/rust/library")
CORTEX_M_TARGET = "thumbv7em-none-eabihf"


@dataclass(frozen=True)
class Check:
    name: str
    needed_for: str
    found: bool
    version: str
    hint: str
    required: bool = False  # needed by the stages this bindbot already runs


def _first_line(text: str) -> str:
    return next((line.strip() for line in text.splitlines() if line.strip()), "")


def _tool(
    runner: Runner,
    name: str,
    exe: str,
    args: list[str],
    needed_for: str,
    hint: str,
    required: bool = False,
    parse: Callable[[str], str] = _first_line,
) -> Check:
    path = shutil.which(exe)
    if path is None:
        return Check(name, needed_for, False, "", hint, required)
    result = runner([path, *args])
    text = result.stdout or result.stderr
    ok = result.returncode == 0
    return Check(name, needed_for, ok, parse(text) if ok else _first_line(text), hint, required)


def _libclang() -> Check:
    hint = "pip install libclang"
    try:
        from bindbot.api.extract import libclang_version

        version = libclang_version()
        return Check("libclang (Python)", "api", True, version, hint, True)
    except Exception as exc:  # any import or load failure means "missing"
        return Check("libclang (Python)", "api", False, str(exc)[:60], hint, True)


def _builtin_headers(config: Config) -> Check:
    hint = "apt-get install libclang-common-14-dev (or set BINDBOT_CLANG_RESOURCE_DIR)"
    if config.clang_resource_dir is not None:
        ok = (config.clang_resource_dir / "stddef.h").is_file()
        return Check("clang builtin headers", "api", ok, str(config.clang_resource_dir), hint, True)
    found = sorted(glob.glob("/usr/lib/llvm-*/lib/clang/*/include/stddef.h"))
    if found:
        return Check("clang builtin headers", "api", True, str(Path(found[-1]).parent), hint, True)
    return Check("clang builtin headers", "api", False, "", hint, True)


def _cortex_m(runner: Runner) -> Check:
    hint = (
        f"rustup target add {CORTEX_M_TARGET}, or apt-get install rustc-web cargo-web rust-web-src"
    )
    if shutil.which("rustup"):
        result = runner(["rustup", "target", "list", "--installed"])
        if result.returncode == 0 and CORTEX_M_TARGET in result.stdout:
            return Check("Cortex-M Rust", "verify", True, "rustup target", hint)
    if (RUST_SRC / "core").is_dir() and Path("/usr/bin/rustc").exists():
        return Check("Cortex-M Rust", "verify", True, f"build-std from {RUST_SRC}", hint)
    return Check("Cortex-M Rust", "verify", False, "", hint)


def checks(config: Config, runner: Runner) -> list[Check]:
    def ver(pattern: str) -> Callable[[str], str]:
        def parse(text: str) -> str:
            match = re.search(pattern, text)
            return match.group(0) if match else _first_line(text)

        return parse

    return [
        _libclang(),
        _builtin_headers(config),
        _tool(
            runner,
            "git",
            "git",
            ["--version"],
            "deps (patches)",
            "apt-get install git",
            required=True,
        ),
        _tool(
            runner,
            "bindgen",
            "bindgen",
            ["--version"],
            "generate",
            "cargo install bindgen-cli (or apt-get install bindgen)",
        ),
        _tool(runner, "cargo", "cargo", ["--version"], "generate, verify", "apt-get install cargo"),
        _tool(runner, "rustc", "rustc", ["--version"], "generate, verify", "apt-get install rustc"),
        _tool(
            runner,
            "g++",
            "g++",
            ["--version"],
            "verify (host)",
            "apt-get install g++",
            parse=ver(r"\d+\.\d+\.\d+"),
        ),
        _cortex_m(runner),
        _tool(
            runner,
            "arm-none-eabi-g++",
            "arm-none-eabi-g++",
            ["--version"],
            "verify (Cortex-M)",
            "apt-get install gcc-arm-none-eabi libnewlib-arm-none-eabi "
            "libstdc++-arm-none-eabi-newlib",
            parse=ver(r"\d+\.\d+\.\d+"),
        ),
        _tool(
            runner,
            "qemu-system-arm",
            "qemu-system-arm",
            ["--version"],
            "verify (QEMU)",
            "apt-get install qemu-system-arm",
            parse=ver(r"version \S+"),
        ),
        _registry(config),
    ]


def _registry(config: Config) -> Check:
    """The local cargo registry server verify's `package` row publishes to."""
    from bindbot.errors import ToolMissingError
    from bindbot.verify.registry import TOOL, find_tool

    try:
        path = find_tool(config.project_dir)
    except ToolMissingError as exc:
        return Check(TOOL, "verify (package)", False, "", exc.fix)
    return Check(TOOL, "verify (package)", True, path, "")
