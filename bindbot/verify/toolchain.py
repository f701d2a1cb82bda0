"""How to get Rust's core library for a bare-metal target: detected, never configured.

Two routes work. rustup's prebuilt library (`rustup target add <triple>`, what GitHub's
runners use) is preferred when the rustc on PATH has it. Otherwise cargo's build-std
compiles core and alloc from source; that needs a rustc whose sysroot carries the
matching sources, which Debian's rustc-web + rust-web-src provide at /usr/bin/rustc (a
rustup toolchain without rust-src also works, with `rustup component add rust-src`).
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from bindbot.errors import ToolMissingError
from bindbot.runner import Runner
from bindbot.verify.targets import Target

#: Where Debian's rustc-web lives; rustup's rustc usually comes first on PATH.
DEBIAN_RUSTC = Path("/usr/bin/rustc")
DEBIAN_CARGO = Path("/usr/bin/cargo")


@dataclass(frozen=True)
class RustRoute:
    """The cargo invocation that builds for one target."""

    kind: str  # "prebuilt" (rustup target) or "build-std"
    cargo: str
    env: tuple[tuple[str, str], ...]
    cargo_args: tuple[str, ...]

    def describe(self) -> str:
        rustc = dict(self.env).get("RUSTC", "rustc")
        return f"{self.kind} ({rustc})"


def _sysroot(runner: Runner, rustc: str) -> Path | None:
    result = runner([rustc, "--print", "sysroot"])
    return Path(result.stdout.strip()) if result.returncode == 0 and result.stdout.strip() else None


def _target_env(target: Target) -> tuple[tuple[str, str], ...]:
    """Linker and CPU per target, as environment: cargo's config files cannot name a triple
    with a dot in it (thumbv8m.main-...), its environment variables can."""
    key = target.triple.upper().replace("-", "_").replace(".", "_")
    return (
        (f"CARGO_TARGET_{key}_LINKER", "arm-none-eabi-gcc"),
        (f"CARGO_TARGET_{key}_RUSTFLAGS", f"-C target-cpu={target.rust_cpu}"),
    )


def route(runner: Runner, target: Target) -> RustRoute:
    """The first route that can build for `target`, or a ToolMissingError with the fix."""
    if target.is_host:
        return RustRoute("host", "cargo", (), ())
    rustc = shutil.which("rustc")
    cargo = shutil.which("cargo") or "cargo"
    if rustc is not None:
        sysroot = _sysroot(runner, rustc)
        if sysroot is not None and (sysroot / "lib/rustlib" / target.triple / "lib").is_dir():
            return RustRoute("prebuilt", cargo, _target_env(target), ("--target", target.triple))
    candidates = [c for c in (rustc, str(DEBIAN_RUSTC)) if c and Path(c).exists()]
    for candidate in dict.fromkeys(candidates):
        sysroot = _sysroot(runner, candidate)
        if sysroot is not None and (sysroot / "lib/rustlib/src/rust/library/core").is_dir():
            # build-std must use the cargo of the same release as the sources it compiles.
            same_cargo = str(DEBIAN_CARGO) if candidate == str(DEBIAN_RUSTC) else cargo
            env = (("RUSTC", candidate), ("RUSTC_BOOTSTRAP", "1"), *_target_env(target))
            args = ("--target", target.triple, "-Zbuild-std=core,alloc")
            return RustRoute("build-std", same_cargo, env, args)
    raise ToolMissingError(
        f"no Rust core library for {target.triple}",
        f"rustup target add {target.triple}, or apt-get install rustc-web cargo-web "
        "rust-web-src (bindbot then builds core with -Zbuild-std)",
    )
