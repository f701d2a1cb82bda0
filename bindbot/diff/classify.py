"""Policy: what each structural change means for C++ users and for the generated crate.

Every `RawChange` becomes a `Change` with
- a level for the C++ API: breaking (existing callers stop compiling or misbehave),
  needs-review (compiles, but semantics, layout or deprecation need a look), additive;
- the Rust items it touches and the crate impact (breaking / additive / none), which is
  what the suggested semver bump is computed from: a breaking C++ change that the shim
  absorbs (a dropped `ErrorReporter*`) leaves the safe crate's API unchanged;
- change, effect and fix sentences for the report.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from bindbot.api.model import ApiModel, RecordEntity
from bindbot.api.rust_names import (
    INTERPRETER_CTOR_PARAMS,
    SHIM_MODEL_CHECK_CALLS,
    Binding,
    binding_for,
)
from bindbot.api.surface import REPLACEMENTS
from bindbot.diff.compare import RawChange, compare

Level = Literal["breaking", "needs-review", "additive"]
Impact = Literal["breaking", "additive", "none"]
Group = Literal["removed", "changed", "added", "moved"]

LEVEL_ORDER: dict[str, int] = {"additive": 0, "needs-review": 1, "breaking": 2}
IMPACT_ORDER: dict[str, int] = {"none": 0, "additive": 1, "breaking": 2}


@dataclass(frozen=True)
class Change:
    group: Group
    level: Level
    code: str
    entity: str
    member: str
    member_kind: str
    header: str
    change: str
    effect: str
    fix: str
    rust_items: tuple[str, ...]
    crate_impact: Impact
    old: str | None = None
    new: str | None = None


@dataclass(frozen=True)
class Rule:
    group: Group
    level: Level
    verb: str  # how the change reads: "{what} removed"


_RULES: dict[str, Rule] = {
    "entity_removed": Rule("removed", "breaking", "removed"),
    "entity_added": Rule("added", "additive", "added"),
    "moved_forwarding": Rule("moved", "additive", "moved; the old header forwards to the new one"),
    "moved": Rule("moved", "needs-review", "moved; the old header is gone"),
    "kind_changed": Rule("changed", "breaking", "changed kind"),
    "typedef_changed": Rule("changed", "breaking", "now aliases another type"),
    "constant_changed": Rule("changed", "needs-review", "changed value"),
    "template_changed": Rule("changed", "breaking", "changed template parameters"),
    "base_removed": Rule("changed", "breaking", "no longer derives from"),
    "base_added": Rule("changed", "additive", "now also derives from"),
    "field_removed": Rule("removed", "breaking", "field removed"),
    "field_added": Rule("added", "needs-review", "field added (layout changes)"),
    "field_type_changed": Rule("changed", "breaking", "field type changed"),
    "layout_changed": Rule("changed", "needs-review", "layout changed"),
    "constructor_removed": Rule("removed", "breaking", "constructor removed"),
    "constructor_added": Rule("added", "additive", "constructor added"),
    "overload_removed": Rule("removed", "breaking", "overload removed"),
    "overload_added": Rule("added", "additive", "overload added"),
    "method_removed": Rule("removed", "breaking", "method removed"),
    "method_added": Rule("added", "additive", "method added"),
    "method_renamed": Rule("changed", "breaking", "method renamed"),
    "return_type_changed": Rule("changed", "breaking", "return type changed"),
    "return_type_retargeted": Rule("changed", "needs-review", "return type's alias retargeted"),
    "param_type_retargeted": Rule("changed", "needs-review", "parameter type's alias retargeted"),
    "signature_changed": Rule("changed", "breaking", "signature changed"),
    "param_removed": Rule("changed", "breaking", "parameter removed"),
    "param_added": Rule("changed", "breaking", "required parameter added"),
    "param_added_default": Rule("changed", "additive", "parameter added with a default"),
    "param_type_changed": Rule("changed", "breaking", "parameter type changed"),
    "default_removed": Rule("changed", "breaking", "default argument removed"),
    "default_added": Rule("changed", "additive", "default argument added"),
    "default_changed": Rule("changed", "needs-review", "default argument changed"),
    "enum_value_removed": Rule("removed", "breaking", "enum value removed"),
    "enum_value_added": Rule("added", "additive", "enum value added"),
    "enum_value_changed": Rule("changed", "breaking", "enum value renumbered"),
    "enum_type_changed": Rule("changed", "breaking", "underlying type changed"),
}

_FLAG_RULES: dict[str, tuple[Level, Level]] = {
    # flag: (level when added, level when removed)
    "deprecated": ("needs-review", "additive"),
    "deleted": ("breaking", "additive"),
    "const": ("additive", "breaking"),
    "static": ("breaking", "breaking"),
    "virtual": ("needs-review", "needs-review"),
    "pure": ("breaking", "additive"),
    "explicit": ("breaking", "additive"),
    "abstract": ("breaking", "additive"),
    "opaque": ("breaking", "additive"),
    "variadic": ("breaking", "breaking"),
}


def _rule(raw: RawChange) -> Rule:
    if raw.code in _RULES:
        rule = _RULES[raw.code]
        if raw.code == "enum_value_changed" and _is_sentinel(raw.member):
            # `BuiltinOperator_MAX` follows the newest op: moving it is how ops get added.
            return Rule("changed", "additive", "range sentinel moved")
        return rule
    kind, _, flag = raw.code.partition(":")
    added = kind.endswith("_added")
    levels = _FLAG_RULES.get(flag, ("needs-review", "needs-review"))
    level = levels[0] if added else levels[1]
    verb = f"now {flag}" if added else f"no longer {flag}"
    return Rule("changed", level, verb)


def _is_sentinel(name: str) -> bool:
    """Range and count markers (`BuiltinOperator_MAX`, `kTfLiteMaxExternalContexts`) move
    whenever a value is inserted before them; that is how enums grow, not a break."""
    return name.endswith(("_MIN", "_MAX", "Count")) or name.startswith(("kTfLiteMax", "kMax"))


def _subject(raw: RawChange) -> str:
    if raw.member_kind == "constructor":
        return f"`{raw.entity}`"
    if raw.member_kind in ("method", "overload"):
        return f"`{raw.entity}::{raw.member}`"
    if raw.member_kind == "field":
        return f"field `{raw.entity}::{raw.member}`"
    if raw.member_kind == "value":
        return f"`{raw.entity}::{raw.member}`" if raw.member else f"enum `{raw.entity}`"
    if raw.member_kind == "base":
        return f"`{raw.entity}`"
    return f"{raw.entity_kind} `{raw.entity}`"


def _change_text(raw: RawChange, rule: Rule) -> str:
    subject = _subject(raw)
    if raw.code == "signature_changed":
        return f"{rule.verb}: `{raw.old}` → `{raw.new}`"
    if (
        raw.code.startswith("param_")
        or raw.code.startswith("default_")
        or raw.code in ("return_type_changed",)
        or raw.code.startswith("flag_")
    ):
        detail = f"`{raw.old}` → `{raw.new}`" if raw.old and raw.new else f"`{raw.old or raw.new}`"
        where = raw.context or raw.member
        return f"{rule.verb}: {detail} in `{where}`"
    if raw.old and raw.new:
        return f"{subject} {rule.verb}: `{raw.old}` → `{raw.new}`"
    if raw.old or raw.new:
        return f"{subject} {rule.verb}: `{raw.old or raw.new}`"
    return f"{subject} {rule.verb}"


def _impact(
    raw: RawChange, rule: Rule, binding: Binding | None, shim_ctor: bool
) -> tuple[Impact, str, str]:
    """Crate impact plus the effect and fix sentences."""
    if raw.code in ("moved", "moved_forwarding"):
        return (
            "none",
            "none for Rust users: the generated shim includes the header at its new path",
            "regenerate (`bindbot generate`); C++ code including the old path must follow"
            if raw.code == "moved"
            else "nothing to do; prefer the new path in C++ code",
        )
    if binding is None:
        return (
            "none",
            "none: the crate does not bind this entity",
            "C++ users of it adapt; the crate needs nothing"
            if rule.level != "additive"
            else "nothing to do",
        )
    items = ", ".join(f"`{i}`" for i in binding.items)
    if raw.member_kind == "constructor" and raw.entity == "tflite::MicroInterpreter":
        return _interpreter_ctor(raw, items, shim_ctor)
    if raw.code == "param_type_changed" and "=" in (raw.old or "") and "=" in (raw.new or ""):
        return (
            "none",
            f"none: the shim behind {items} leaves this parameter at its default",
            ("regenerate; C++ callers that pass it adapt"),
        )
    if raw.code == "param_removed" and "=" in (raw.old or ""):
        return (
            "none",
            f"none: the shim behind {items} never passed this defaulted parameter",
            ("regenerate; C++ callers that passed it drop the argument"),
        )
    if rule.level == "additive":
        if raw.code in ("enum_value_changed", "default_added", "base_added"):
            return "none", f"none: {items} unchanged", "nothing to do"
        return "additive", f"new: {items}", "regenerate to expose it"
    if binding.shim_only and raw.code in ("field_added", "layout_changed"):
        return (
            "breaking",
            f"{items} is regenerated by bindgen with the new layout; `tflm` is unaffected",
            "regenerate and commit the bindings; code that builds this struct by hand must adapt",
        )
    if binding.shim_only and raw.entity in SHIM_MODEL_CHECK_CALLS:
        return (
            "none",
            f"the shim's model checks behind {items} call it: the shim must follow, "
            "Rust signatures stay",
            "update templates/shim to the new signature; `bindbot generate` refuses the pin "
            "until the shim compiles",
        )
    if rule.level == "needs-review":
        return (
            "none",
            f"review {items}: it still compiles, but behaviour may differ",
            ("read the upstream change and adjust the safe wrapper if needed"),
        )
    return (
        "breaking",
        f"{items} change or disappear",
        "regenerate; callers of these items must adapt (see the suggested semver bump)",
    )


def _interpreter_ctor(raw: RawChange, items: str, shim_ctor: bool) -> tuple[Impact, str, str]:
    """The shim passes only the model, resolver and arena; other parameters keep defaults."""
    param = (raw.old or raw.new or "").split("=")[0].strip().split(" ")[-1].lstrip("*&")
    if not shim_ctor:
        return (
            "breaking",
            f"no constructor is left that the shim behind {items} can call "
            "(model, op resolver, arena and size, the rest defaulted)",
            "extend templates/shim for the new constructor; `bindbot generate` stops until then",
        )
    if raw.code in ("constructor_removed", "param_removed", "constructor_added"):
        return (
            "none",
            f"none: the constructor the shim behind {items} calls still exists",
            ("regenerate; C++ callers of the changed constructor adapt"),
        )
    if raw.code == "param_added":
        return (
            "breaking",
            f"the shim behind {items} cannot supply the new required `{param}`",
            "extend templates/shim to pass it, then regenerate "
            "(`bindbot generate` stops until then)",
        )
    if raw.code in ("param_added_default", "default_added"):
        return (
            "none",
            f"none: {items} keep working; the new parameter takes its default",
            ("nothing to do; expose it later if users need it"),
        )
    if raw.code == "param_removed" and param not in INTERPRETER_CTOR_PARAMS:
        return (
            "none",
            f"none: the shim behind {items} never passed `{param}`",
            ("regenerate; C++ callers drop the argument"),
        )
    return (
        "breaking",
        f"the shim behind {items} must change",
        "regenerate; if `MicroInterpreter::new` changes, bump the crate as suggested",
    )


def classify(raw: RawChange, shim_ctor: bool = True, new: ApiModel | None = None) -> Change:
    """`shim_ctor`: the new model still has a constructor the generated shim can call;
    `new`: the new model, to point removals at their upstream replacement."""
    rule = _rule(raw)
    binding = binding_for(raw.entity, raw.member, raw.member_kind, raw.header, raw.entity_kind)
    if raw.member_kind in ("field", "value") and binding is None:
        binding = binding_for(raw.entity, "", "", raw.header, raw.entity_kind)
    impact, effect, fix = _impact(raw, rule, binding, shim_ctor)
    if raw.code == "entity_removed" and raw.entity in REPLACEMENTS:
        candidates = REPLACEMENTS[raw.entity]
        present = [c for c in candidates if new is None or new.get(c) is not None]
        if present:
            fix = f"use `{present[0]}` instead (upstream's replacement); {fix}"
    return Change(
        group=rule.group,
        level=rule.level,
        code=raw.code,
        entity=raw.entity,
        member=raw.member,
        member_kind=raw.member_kind,
        header=raw.header,
        change=_change_text(raw, rule),
        effect=effect,
        fix=fix,
        rust_items=binding.items if binding else (),
        crate_impact=impact,
        old=raw.old,
        new=raw.new,
    )


@dataclass(frozen=True)
class Semver:
    """The crate's suggested bump, in Cargo's terms for 1.x and for 0.x versions."""

    impact: Impact
    bump: Literal["major", "minor", "patch"]
    bump_0x: Literal["minor", "patch"]
    reason: str


def next_version(current: str, semver: Semver) -> str:
    """The crates' next version after `current` for this change, by Cargo's rules: at 0.x
    the minor number is the breaking one."""
    major, minor, patch = (int(p) for p in current.split("."))
    bump = semver.bump if major > 0 else semver.bump_0x
    if bump == "major":
        return f"{major + 1}.0.0"
    if bump == "minor":
        return f"{major}.{minor + 1}.0"
    return f"{major}.{minor}.{patch + 1}"


def count_levels(changes: Iterable[Change]) -> dict[str, int]:
    """How many changes of each level: the summary every report shows."""
    out = dict.fromkeys(LEVEL_ORDER, 0)
    for change in changes:
        out[change.level] += 1
    return out


def suggest_semver(changes: Iterable[Change]) -> Semver:
    worst: Impact = "none"
    for change in changes:
        if IMPACT_ORDER[change.crate_impact] > IMPACT_ORDER[worst]:
            worst = change.crate_impact
    if worst == "breaking":
        return Semver(worst, "major", "minor", "a public Rust item changes or disappears")
    if worst == "additive":
        return Semver(worst, "minor", "patch", "new Rust items, nothing removed")
    return Semver(worst, "patch", "patch", "no public Rust item changes; the pin moves")


def has_shim_constructor(model: ApiModel) -> bool:
    """Whether MicroInterpreter has a constructor the shim template can call.

    That is (model, op resolver, arena pointer, arena size), optionally followed by an
    `ErrorReporter*` (before 2022; the shim passes a static one), the rest defaulted.
    """
    entity = model.get("tflite::MicroInterpreter")
    if not isinstance(entity, RecordEntity):
        return False
    wanted = ("Model", "MicroOpResolver", "char *", "")
    for ctor in entity.constructors:
        required = [p for p in ctor.params if p.default is None]
        if required and "ErrorReporter" in required[-1].canonical:
            required = required[:-1]
        if len(required) != 4:
            continue
        if all(w in p.canonical for w, p in zip(wanted, required, strict=True)):
            return True
    return False


def diff_models(old: ApiModel, new: ApiModel) -> list[Change]:
    """Compare and classify, in report order: group, then level (worst first), then name."""
    group_order = {"removed": 0, "changed": 1, "added": 2, "moved": 3}
    shim_ctor = has_shim_constructor(new)
    changes = [classify(raw, shim_ctor, new) for raw in compare(old, new)]
    return sorted(
        changes,
        key=lambda c: (group_order[c.group], -LEVEL_ORDER[c.level], c.entity, c.member, c.change),
    )
