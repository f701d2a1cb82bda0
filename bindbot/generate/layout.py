"""Per-target layout checks: every bound C type, as Rust sees it and as the C compiler does.

The committed bindings are generated once, on the host, but the crate is compiled for many
targets; an enum or a `long` whose width differs on a target (the trap that bit tfmicro)
would silently corrupt every call. So generation also writes a C probe listing the size,
alignment and field offsets of each bound type, and matching Rust `const` assertions. The
crate's build.rs compiles the probe with the target's C compiler (to assembly, so nothing
runs) and hands the numbers to the assertions: a mismatch fails the build for that target,
naming the type and field.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

_STRUCT = re.compile(r"^pub (struct|union) (\w+) \{\n(.*?)^\}", re.M | re.S)
_FIELD = re.compile(r"^\s+pub (\w+): ", re.M)
_ALIAS = re.compile(r"^pub type (\w+) = ([^;]+);", re.M)
#: bindgen appends `_` to C names that are Rust keywords (`type` becomes `type_`).
_KEYWORDS = frozenset(
    {
        "as",
        "async",
        "await",
        "box",
        "break",
        "const",
        "continue",
        "crate",
        "dyn",
        "else",
        "enum",
        "extern",
        "false",
        "fn",
        "for",
        "if",
        "impl",
        "in",
        "let",
        "loop",
        "match",
        "mod",
        "move",
        "mut",
        "pub",
        "ref",
        "return",
        "self",
        "static",
        "struct",
        "super",
        "trait",
        "true",
        "type",
        "unsafe",
        "use",
        "where",
        "while",
        "yield",
    }
)


#: How each language spells the three numbers.
_C = {"size": "sizeof({t})", "align": "alignof({t})", "offset": "offsetof({t}, {f})"}
_RUST = {
    "size": "core::mem::size_of::<{t}>()",
    "align": "core::mem::align_of::<{t}>()",
    "offset": "core::mem::offset_of!({t}, {f})",
}


@dataclass(frozen=True)
class Probe:
    """One number both compilers must agree on."""

    what: str  # "size", "align" or "offset"
    type_name: str
    rust_field: str = ""
    c_field: str = ""

    def c_expr(self) -> str:
        return _C[self.what].format(t=self.type_name, f=self.c_field)

    def rust_expr(self) -> str:
        return _RUST[self.what].format(t=self.type_name, f=self.rust_field)

    def label(self) -> str:
        return (
            f"{self.type_name}.{self.c_field} offset"
            if self.rust_field
            else (f"{self.type_name} {self.what}")
        )


def _c_name(rust_field: str, known: set[str] | None) -> str:
    """The C spelling of a field bindgen may have renamed: the API model knows the real
    names (TfLiteContext has a C field `impl_`, TfLiteTensor a C field `type`)."""
    stripped = rust_field[:-1]
    if known is not None:
        return rust_field if rust_field in known or stripped not in known else stripped
    return stripped if rust_field.endswith("_") and stripped in _KEYWORDS else rust_field


def probes(bindings: str, c_fields: Mapping[str, set[str]] | None = None) -> list[Probe]:
    """What to check, read from bindgen's output: public structs and unions (size, align,
    named fields' offsets) and type aliases (size, align). Opaque handles, bindgen's own
    helper types and anonymous members (all spelled with a leading `_`) are skipped.
    `c_fields` maps a struct to its C field names, from the API model."""
    out: list[Probe] = []
    opaque: set[str] = set()
    for kind, name, body in _STRUCT.findall(bindings):
        fields = [f for f in _FIELD.findall(body) if not f.startswith("_")]
        if name.startswith("_") or not fields:
            opaque.add(name)  # C only declares it: sizeof would not compile
            continue
        out += [Probe("size", name), Probe("align", name)]
        if kind == "struct":  # offset_of! on union fields is not stable Rust
            known = (c_fields or {}).get(name)
            out += [Probe("offset", name, f, _c_name(f, known)) for f in fields]
    for name, aliased in _ALIAS.findall(bindings):
        if not name.startswith("_") and aliased.strip() not in opaque:
            out += [Probe("size", name), Probe("align", name)]
    return out


def c_probe(items: list[Probe], stamp: str) -> str:
    lines = [
        f"/* {stamp} */",
        "/* Layout probe: build.rs compiles this to assembly with the target's C++ compiler,",
        "   as TFLM itself is compiled (some upstream C headers are only valid C++), and reads",
        "   tflm_layout back; src/layout.rs asserts Rust agrees. Never linked. */",
        "#include <cstddef>",
        "",
        '#include "tflm_shim.h"',
        "",
        '// extern "C": an unmangled name, and external linkage so the array is emitted.',
        'extern "C" const unsigned int tflm_layout[];',
        "const unsigned int tflm_layout[] = {",
        *(f"    {p.c_expr()}," for p in items),
        "};",
        "",
    ]
    return "\n".join(lines)


def rust_checks(items: list[Probe], stamp: str) -> str:
    lines = [
        f"// {stamp}",
        "//! Compile-time layout checks against the target's C compiler (see build.rs): if Rust",
        "//! and C disagree on a size, alignment or offset for this target, the build stops here.",
        "use crate::bindings::*;",
        "",
        'include!(concat!(env!("OUT_DIR"), "/c_layout.rs"));',
        "",
        f'const _: () = assert!(C_LAYOUT.len() == {len(items)}, "layout probe count");',
    ]
    for i, p in enumerate(items):
        lines.append(
            f"const _: () = assert!(C_LAYOUT[{i}] as usize == {p.rust_expr()}, "
            f'"{p.label()} differs between Rust and the C compiler for this target");'
        )
    return "\n".join(lines) + "\n"
