"""Formats the generated Rust with rustfmt, as bindgen does with its own output.

Templates then only need to be readable: rustfmt's width heuristics (a call split once its
arguments pass 60 columns...) are its business, and `cargo fmt --check` on the committed
crate passes by construction. rustfmt's output for a given style edition is stable across
its releases, so generation stays deterministic.
"""

from __future__ import annotations

from collections.abc import Sequence

from bindbot.errors import ToolFailedError, ToolMissingError
from bindbot.generate.crate import GeneratedFile
from bindbot.runner import Runner

ARGS = ("rustfmt", "--edition", "2021", "--emit", "stdout", "--quiet")


def format_rust(runner: Runner, files: Sequence[GeneratedFile]) -> list[GeneratedFile]:
    out = []
    for f in files:
        if not f.path.endswith(".rs"):
            out.append(f)
            continue
        result = runner(list(ARGS), stdin=f.text)
        if result.returncode == 127:
            raise ToolMissingError(
                "rustfmt is not installed",
                "rustup component add rustfmt (or apt-get install rustfmt)",
            )
        if result.returncode != 0:
            first = (result.stderr.strip().splitlines() or ["no output"])[0]
            raise ToolFailedError(
                f"rustfmt rejected generated {f.path}: {first}",
                "a template produced invalid Rust: fix the template in templates/rust/",
            )
        out.append(GeneratedFile(f.path, result.stdout))
    return out
