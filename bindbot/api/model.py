"""The typed API model: what the public TFLM headers declare, independent of libclang.

Frozen dataclasses with a deterministic JSON form. Collections whose order carries meaning
(parameters, fields, enum values) keep declaration order; every other collection is sorted,
so the same headers always give the same bytes, and the model's hash identifies the API.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

#: Bump when the extractor or the model's shape changes: it invalidates every cache entry.
SCHEMA_VERSION = 2

RecordKind = Literal["class", "struct", "union"]


@dataclass(frozen=True)
class Param:
    """One function parameter; `default` is the source text after `=`, if any."""

    name: str
    type: str
    canonical: str
    default: str | None = None


@dataclass(frozen=True)
class Function:
    """A free function, method or constructor (one overload)."""

    name: str
    params: tuple[Param, ...]
    return_type: str  # "" for constructors
    #: sorted subset of: const, static, virtual, pure, deleted, defaulted, explicit,
    #: variadic, template, c_linkage, deprecated
    flags: tuple[str, ...] = ()
    deprecation: str | None = None
    return_canonical: str = ""

    def signature(self) -> str:
        """Name and parameter types: what tells overloads apart."""
        params = ", ".join(p.type for p in self.params)
        if "variadic" in self.flags:
            params = f"{params}, ..." if params else "..."
        const = " const" if "const" in self.flags else ""
        return f"{self.name}({params}){const}"

    def display(self) -> str:
        """A C++-like one-line declaration for reports."""
        params = ", ".join(
            f"{p.type} {p.name}".rstrip() + (f" = {p.default}" if p.default is not None else "")
            for p in self.params
        )
        if "variadic" in self.flags:
            params = f"{params}, ..." if params else "..."
        ret = f"{self.return_type} " if self.return_type else ""
        const = " const" if "const" in self.flags else ""
        return f"{ret}{self.name}({params}){const}"


@dataclass(frozen=True)
class FieldDecl:
    """A public data member; `offset_bits` is the host (x86_64) layout, None if unknown."""

    name: str
    type: str
    canonical: str
    offset_bits: int | None = None


@dataclass(frozen=True)
class EnumValue:
    name: str
    value: int


@dataclass(frozen=True)
class FunctionEntity:
    """A free function and its overloads, identified by qualified name."""

    name: str
    header: str
    overloads: tuple[Function, ...]
    kind: Literal["function"] = "function"


@dataclass(frozen=True)
class RecordEntity:
    """A class, struct or union (or class template) with its public members."""

    name: str
    header: str
    record: RecordKind
    template_params: tuple[str, ...] = ()
    bases: tuple[str, ...] = ()
    fields: tuple[FieldDecl, ...] = ()
    constructors: tuple[Function, ...] = ()
    methods: tuple[Function, ...] = ()
    size: int | None = None
    align: int | None = None
    flags: tuple[str, ...] = ()  # abstract, deprecated, opaque
    kind: Literal["record"] = "record"


@dataclass(frozen=True)
class EnumEntity:
    name: str
    header: str
    underlying: str
    values: tuple[EnumValue, ...]
    scoped: bool = False
    kind: Literal["enum"] = "enum"


@dataclass(frozen=True)
class TypedefEntity:
    name: str
    header: str
    type: str
    canonical: str
    kind: Literal["typedef"] = "typedef"


@dataclass(frozen=True)
class ConstantEntity:
    """A named constant: an unnamed-enum member or a `const`/`constexpr` variable."""

    name: str
    header: str
    type: str
    value: str
    kind: Literal["constant"] = "constant"


Entity = FunctionEntity | RecordEntity | EnumEntity | TypedefEntity | ConstantEntity


@dataclass(frozen=True)
class Header:
    """An upstream header the parse saw, with its direct upstream includes."""

    path: str
    includes: tuple[str, ...]
    api: bool  # a header whose declarations are part of the API


@dataclass(frozen=True)
class ApiModel:
    entities: tuple[Entity, ...]
    headers: tuple[Header, ...]
    #: declarations libclang could not type: flagged here, never emitted as entities
    invalid: tuple[str, ...] = ()
    defines: tuple[str, ...] = ()
    schema: int = SCHEMA_VERSION
    _index: Mapping[str, Entity] = field(default_factory=dict, compare=False, repr=False)

    @staticmethod
    def build(
        entities: Iterable[Entity],
        headers: Iterable[Header],
        invalid: Iterable[str] = (),
        defines: Iterable[str] = (),
    ) -> ApiModel:
        """The canonical (sorted) form: build every model through here."""
        ents = tuple(sorted(entities, key=lambda e: (e.name, e.kind)))
        return ApiModel(
            entities=ents,
            headers=tuple(sorted(headers, key=lambda h: h.path)),
            invalid=tuple(sorted(set(invalid))),
            defines=tuple(sorted(defines)),
            _index={e.name: e for e in ents},
        )

    def get(self, name: str) -> Entity | None:
        return self._index.get(name)

    def header(self, path: str) -> Header | None:
        for header in self.headers:
            if header.path == path:
                return header
        return None

    def reaches(self, start: str, target: str) -> bool:
        """True when header `start` includes `target`, directly or transitively."""
        graph = {h.path: h.includes for h in self.headers}
        seen: set[str] = set()
        todo = [start]
        while todo:
            current = todo.pop()
            if current == target:
                return True
            if current in seen:
                continue
            seen.add(current)
            todo.extend(graph.get(current, ()))
        return False

    # -- JSON ---------------------------------------------------------------------------
    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True, indent=1, ensure_ascii=False) + "\n"

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": self.schema,
            "defines": list(self.defines),
            "headers": [_plain(h) for h in self.headers],
            "invalid": list(self.invalid),
            "entities": [_plain(e) for e in self.entities],
        }

    def digest(self) -> str:
        """The API's identity: sha256 of the canonical JSON."""
        return "sha256:" + hashlib.sha256(self.to_json().encode()).hexdigest()

    @staticmethod
    def from_json(text: str) -> ApiModel:
        data = json.loads(text)
        if data.get("schema") != SCHEMA_VERSION:
            raise ValueError(f"model schema {data.get('schema')} != {SCHEMA_VERSION}")
        return ApiModel.build(
            entities=[_entity(e) for e in data["entities"]],
            headers=[Header(h["path"], tuple(h["includes"]), h["api"]) for h in data["headers"]],
            invalid=data["invalid"],
            defines=data["defines"],
        )


def _plain(obj: Any) -> Any:
    if isinstance(obj, tuple):
        return [_plain(x) for x in obj]
    if hasattr(obj, "__dataclass_fields__"):
        return {
            k: _plain(getattr(obj, k)) for k in obj.__dataclass_fields__ if not k.startswith("_")
        }
    return obj


def _function(d: Mapping[str, Any]) -> Function:
    return Function(
        name=d["name"],
        params=tuple(Param(**p) for p in d["params"]),
        return_type=d["return_type"],
        return_canonical=d["return_canonical"],
        flags=tuple(d["flags"]),
        deprecation=d["deprecation"],
    )


def _entity(d: Mapping[str, Any]) -> Entity:
    kind = d["kind"]
    if kind == "function":
        return FunctionEntity(d["name"], d["header"], tuple(_function(f) for f in d["overloads"]))
    if kind == "record":
        return RecordEntity(
            name=d["name"],
            header=d["header"],
            record=d["record"],
            template_params=tuple(d["template_params"]),
            bases=tuple(d["bases"]),
            fields=tuple(FieldDecl(**f) for f in d["fields"]),
            constructors=tuple(_function(f) for f in d["constructors"]),
            methods=tuple(_function(f) for f in d["methods"]),
            size=d["size"],
            align=d["align"],
            flags=tuple(d["flags"]),
        )
    if kind == "enum":
        values = tuple(EnumValue(v["name"], v["value"]) for v in d["values"])
        return EnumEntity(d["name"], d["header"], d["underlying"], values, d["scoped"])
    if kind == "typedef":
        return TypedefEntity(d["name"], d["header"], d["type"], d["canonical"])
    if kind == "constant":
        return ConstantEntity(d["name"], d["header"], d["type"], d["value"])
    raise ValueError(f"unknown entity kind {kind!r}")
