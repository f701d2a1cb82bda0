"""Structural comparison of two API models: pure, no policy.

Produces `RawChange`s, each a small fact with a code ("param_removed", "enum_value_added"...).
Deciding what a change means for users (level, Rust impact, advice) is `classify`'s job.
Identity follows the symbol's qualified name, never its header, so a header move is a
`moved` fact rather than a removal plus an addition.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol

from bindbot.api.model import (
    ApiModel,
    ConstantEntity,
    Entity,
    EnumEntity,
    Function,
    FunctionEntity,
    Param,
    RecordEntity,
    TypedefEntity,
)


@dataclass(frozen=True)
class RawChange:
    """One structural difference between two models."""

    code: str
    entity: str  # qualified name of the top-level entity
    entity_kind: str  # function / record / enum / typedef / constant
    member: str  # member name ("" for the entity itself)
    member_kind: str  # constructor / method / overload / field / value / param / ""
    header: str  # where it is declared now (or was, if removed)
    old: str | None = None
    new: str | None = None
    context: str = ""  # the declaration the member belongs to, for reports


def compare(old: ApiModel, new: ApiModel) -> list[RawChange]:
    """Every difference between `old` and `new`, in a deterministic order."""
    out: list[RawChange] = []
    old_names = {e.name for e in old.entities}
    new_names = {e.name for e in new.entities}
    for name in sorted(old_names | new_names):
        before, after = old.get(name), new.get(name)
        if before is None and after is not None:
            out.append(_entity_change("entity_added", after, new=_describe(after)))
        elif after is None and before is not None:
            out.append(_entity_change("entity_removed", before, old=_describe(before)))
        elif before is not None and after is not None:
            out.extend(_compare_entity(old, new, before, after))
    return out


def _entity_change(
    code: str, entity: Entity, old: str | None = None, new: str | None = None
) -> RawChange:
    return RawChange(code, entity.name, _kind(entity), "", "", entity.header, old, new)


def _kind(entity: Entity) -> str:
    if isinstance(entity, RecordEntity):
        return "class template" if entity.template_params else entity.record
    return entity.kind


def _describe(entity: Entity) -> str:
    if isinstance(entity, FunctionEntity):
        return "; ".join(f.display() for f in entity.overloads)
    if isinstance(entity, RecordEntity):
        prefix = (
            f"template <{', '.join(entity.template_params)}> " if entity.template_params else ""
        )
        return f"{prefix}{entity.record} {entity.name}"
    if isinstance(entity, EnumEntity):
        return f"enum {entity.name} ({len(entity.values)} values)"
    if isinstance(entity, TypedefEntity):
        return f"typedef {entity.type} {entity.name}"
    return f"{entity.type} {entity.name} = {entity.value}"


def _compare_entity(
    old_model: ApiModel, new_model: ApiModel, old: Entity, new: Entity
) -> Iterator[RawChange]:
    if old.header != new.header:
        forwarded = new_model.header(old.header) is not None and new_model.reaches(
            old.header, new.header
        )
        code = "moved_forwarding" if forwarded else "moved"
        yield _entity_change(code, new, old=old.header, new=new.header)
    if type(old) is not type(new):
        yield _entity_change("kind_changed", new, old=_describe(old), new=_describe(new))
        return
    if isinstance(old, FunctionEntity) and isinstance(new, FunctionEntity):
        yield from _compare_overloads(new, "overload", old.overloads, new.overloads, new.name)
    elif isinstance(old, RecordEntity) and isinstance(new, RecordEntity):
        yield from _compare_records(old, new)
    elif isinstance(old, EnumEntity) and isinstance(new, EnumEntity):
        yield from _compare_enums(old, new)
    elif isinstance(old, TypedefEntity) and isinstance(new, TypedefEntity):
        if old.canonical != new.canonical:
            yield _entity_change("typedef_changed", new, old=old.type, new=new.type)
    elif (
        isinstance(old, ConstantEntity)
        and isinstance(new, ConstantEntity)
        and (old.type, old.value) != (new.type, new.value)
    ):
        yield _entity_change("constant_changed", new, old=old.value, new=new.value)


def _compare_records(old: RecordEntity, new: RecordEntity) -> Iterator[RawChange]:
    def rc(code: str, member: str, kind: str, o: str | None, n: str | None) -> RawChange:
        return RawChange(code, new.name, _kind(new), member, kind, new.header, o, n)

    if old.template_params != new.template_params:
        yield rc(
            "template_changed",
            "",
            "",
            ", ".join(old.template_params),
            ", ".join(new.template_params),
        )
    for base in sorted(set(old.bases) - set(new.bases)):
        yield rc("base_removed", base, "base", base, None)
    for base in sorted(set(new.bases) - set(old.bases)):
        yield rc("base_added", base, "base", None, base)
    for flag in sorted(set(new.flags) - set(old.flags)):
        yield rc(f"record_flag_added:{flag}", "", "", None, flag)
    for flag in sorted(set(old.flags) - set(new.flags)):
        yield rc(f"record_flag_removed:{flag}", "", "", flag, None)

    old_fields = {f.name: f for f in old.fields}
    new_fields = {f.name: f for f in new.fields}
    for name in [f.name for f in old.fields if f.name not in new_fields]:
        yield rc("field_removed", name, "field", old_fields[name].type, None)
    for name in [f.name for f in new.fields if f.name not in old_fields]:
        yield rc("field_added", name, "field", None, new_fields[name].type)
    layout_moved = False
    for name in [f.name for f in new.fields if f.name in old_fields]:
        a, b = old_fields[name], new_fields[name]
        if a.canonical != b.canonical:
            yield rc("field_type_changed", name, "field", a.type, b.type)
        elif a.offset_bits != b.offset_bits:
            layout_moved = True
    if layout_moved or (old.size != new.size and old.size is not None and new.size is not None):
        yield rc("layout_changed", "", "", f"{old.size} bytes", f"{new.size} bytes")

    short = new.name.rsplit("::", 1)[-1]
    yield from _compare_overloads(new, "constructor", old.constructors, new.constructors, short)
    old_methods: dict[str, list[Function]] = {}
    new_methods: dict[str, list[Function]] = {}
    for f in old.methods:
        old_methods.setdefault(f.name, []).append(f)
    for f in new.methods:
        new_methods.setdefault(f.name, []).append(f)
    removed = sorted(set(old_methods) - set(new_methods))
    added = sorted(set(new_methods) - set(old_methods))
    renamed: dict[str, str] = {}
    for gone in removed:
        for fresh in added:
            if fresh not in renamed.values() and _same_shape(old_methods[gone], new_methods[fresh]):
                renamed[gone] = fresh
                break
    for gone, fresh in renamed.items():
        yield rc(
            "method_renamed",
            gone,
            "method",
            old_methods[gone][0].display(),
            new_methods[fresh][0].display(),
        )
    for name in removed:
        if name not in renamed:
            for f in old_methods[name]:
                yield rc("method_removed", name, "method", f.display(), None)
    for name in added:
        if name not in renamed.values():
            for f in new_methods[name]:
                yield rc("method_added", name, "method", None, f.display())
    for name in sorted(set(old_methods) & set(new_methods)):
        yield from _compare_overloads(new, "method", old_methods[name], new_methods[name], name)


def _same_shape(a: Sequence[Function], b: Sequence[Function]) -> bool:
    def shape(fs: Sequence[Function]) -> list[tuple[object, ...]]:
        return sorted((tuple(p.canonical for p in f.params), f.return_type, f.flags) for f in fs)

    return shape(a) == shape(b)


def _compare_overloads(
    owner: Entity,
    kind: str,
    old: Sequence[Function],
    new: Sequence[Function],
    member: str,
) -> Iterator[RawChange]:
    """Match overloads by exact signature, then pair the rest by parameter-name overlap."""
    old_by_sig = {f.signature(): f for f in old}
    new_by_sig = {f.signature(): f for f in new}
    pairs = [(old_by_sig[s], new_by_sig[s]) for s in sorted(set(old_by_sig) & set(new_by_sig))]
    rest_old = [old_by_sig[s] for s in sorted(set(old_by_sig) - set(new_by_sig))]
    rest_new = [new_by_sig[s] for s in sorted(set(new_by_sig) - set(old_by_sig))]
    while rest_old and rest_new:
        best = max(
            ((a, b) for a in rest_old for b in rest_new),
            key=lambda ab: (_similarity(ab[0], ab[1]), -abs(len(ab[0].params) - len(ab[1].params))),
        )
        if _similarity(*best) == 0 and len(old) > 1 and len(new) > 1:
            break
        pairs.append(best)
        rest_old.remove(best[0])
        rest_new.remove(best[1])

    def rc(
        code: str, context: str, o: str | None, n: str | None, member_: str = member
    ) -> RawChange:
        return RawChange(code, owner.name, _kind(owner), member_, kind, owner.header, o, n, context)

    for f in rest_old:
        yield rc(f"{kind}_removed", f.display(), f.display(), None)
    for f in rest_new:
        yield rc(f"{kind}_added", f.display(), None, f.display())
    for a, b in pairs:
        yield from _compare_function(a, b, rc)


def _similarity(a: Function, b: Function) -> int:
    names_a = {p.name for p in a.params}
    names_b = {p.name for p in b.params}
    types_a = {p.canonical for p in a.params}
    types_b = {p.canonical for p in b.params}
    return 2 * len(names_a & names_b) + len(types_a & types_b) + (a.name == b.name)


def _compare_function(a: Function, b: Function, rc: _Maker) -> Iterator[RawChange]:
    ctx = b.display()
    if a.return_canonical != b.return_canonical:
        code = "return_type_changed"
        if _same_spelling(a.return_type, b.return_type):
            code = "return_type_retargeted"
        yield rc(code, ctx, a.return_type, b.return_type)
    old_params = {p.name: p for p in a.params}
    new_params = {p.name: p for p in b.params}
    disjoint = bool(a.params) and bool(b.params) and not (set(old_params) & set(new_params))
    if disjoint and len(a.params) != len(b.params):
        # Nothing survived: one "signature changed" reads better than N removals/additions.
        yield rc("signature_changed", ctx, a.display(), b.display())
    elif disjoint:
        # Every parameter was renamed: compare by position instead of by name.
        for pa, pb in zip(a.params, b.params, strict=True):
            if pa.canonical != pb.canonical:
                yield rc(_type_code(pa, pb), ctx, _param_text(pa), _param_text(pb))
    else:
        for p in a.params:
            if p.name not in new_params:
                text = f"{p.type} {p.name}".strip() + (f" = {p.default}" if p.default else "")
                yield rc("param_removed", ctx, text, None)
        for p in b.params:
            if p.name not in old_params:
                code = "param_added_default" if p.default is not None else "param_added"
                text = f"{p.type} {p.name}".strip() + (f" = {p.default}" if p.default else "")
                yield rc(code, ctx, None, text)
        for p in b.params:
            q = old_params.get(p.name)
            if q is None:
                continue
            if q.canonical != p.canonical:
                yield rc(_type_code(q, p), ctx, _param_text(q), _param_text(p))
            elif q.default != p.default:
                code = (
                    "default_removed"
                    if p.default is None
                    else ("default_added" if q.default is None else "default_changed")
                )
                yield rc(code, ctx, q.default, p.default)
    for flag in sorted(set(b.flags) - set(a.flags)):
        yield rc(f"flag_added:{flag}", ctx, None, b.deprecation if flag == "deprecated" else flag)
    for flag in sorted(set(a.flags) - set(b.flags)):
        yield rc(f"flag_removed:{flag}", ctx, flag, None)


def _same_spelling(a: str, b: str) -> bool:
    """`flatbuffers::X` and `::flatbuffers::X` name the same thing in source."""

    def norm(text: str) -> str:
        return "".join(text.split()).replace("<::", "<").replace(",::", ",").lstrip(":")

    return norm(a) == norm(b)


def _type_code(a: Param, b: Param) -> str:
    # Same source spelling, new canonical type: a typedef was pointed elsewhere (flatbuffers
    # made FlatBufferBuilder an alias of a template). Source still compiles; review it.
    return "param_type_retargeted" if _same_spelling(a.type, b.type) else "param_type_changed"


def _param_text(p: Param) -> str:
    return f"{p.type} {p.name}".strip() + (f" = {p.default}" if p.default is not None else "")


class _Maker(Protocol):
    """Type of the change-constructor closures above (for mypy)."""

    def __call__(
        self, code: str, context: str, o: str | None, n: str | None, member_: str = ...
    ) -> RawChange: ...


def _compare_enums(old: EnumEntity, new: EnumEntity) -> Iterator[RawChange]:
    def rc(code: str, member: str, o: str | None, n: str | None) -> RawChange:
        return RawChange(code, new.name, "enum", member, "value", new.header, o, n)

    if old.underlying != new.underlying:
        yield rc("enum_type_changed", "", old.underlying, new.underlying)
    before = {v.name: v.value for v in old.values}
    after = {v.name: v.value for v in new.values}
    for v in old.values:
        if v.name not in after:
            yield rc("enum_value_removed", v.name, str(v.value), None)
    for v in new.values:
        if v.name not in before:
            yield rc("enum_value_added", v.name, None, str(v.value))
        elif before[v.name] != v.value:
            yield rc("enum_value_changed", v.name, str(before[v.name]), str(v.value))
