"""libclang extraction: parses the API headers of one upstream tree into an `ApiModel`.

This is the only module that imports clang.cindex. It parses one translation unit that
includes every API header present, with the library's own defines, the pinned dependencies
on the include path and clang's builtin headers (without them `size_t` silently becomes
`int`). Function bodies are skipped: they cost most of the parse time and are not API.
"""

from __future__ import annotations

import glob
import os
import re
import shutil
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import clang.cindex as ci

from bindbot.api.model import (
    ApiModel,
    ConstantEntity,
    Entity,
    EnumEntity,
    EnumValue,
    FieldDecl,
    Function,
    FunctionEntity,
    Header,
    Param,
    RecordEntity,
    TypedefEntity,
)
from bindbot.api.surface import (
    API_HEADERS,
    PRIVATE_NAMESPACE_PARTS,
    SCHEMA_HEADER,
    SCHEMA_NAMES,
    is_c_api_header,
)
from bindbot.errors import HeaderParseError, ToolMissingError
from bindbot.runner import Runner

#: Bump whenever extraction output can change for the same headers: it is part of every
#: cache key, so models made by an older extractor are never served as current.
EXTRACTOR_VERSION = 5

K = ci.CursorKind
_CONTAINERS = {K.NAMESPACE, K.LINKAGE_SPEC, K.UNEXPOSED_DECL}
_RECORDS = {K.CLASS_DECL: "class", K.STRUCT_DECL: "struct", K.UNION_DECL: "union"}
_FUNCTIONS = {K.FUNCTION_DECL, K.FUNCTION_TEMPLATE}
_METHODS = {K.CXX_METHOD, K.FUNCTION_TEMPLATE}
_UNNAMED = re.compile(r"\((unnamed|anonymous) (struct|union|enum|class) at [^)]*\)")
_DEPRECATED_MSG = re.compile(r'deprecated\s*\(\s*"((?:[^"\\]|\\.)*)"')


@dataclass(frozen=True)
class ParseSetup:
    """Everything besides the upstream tree that a parse depends on."""

    include_dirs: tuple[Path, ...]  # pinned dependencies, in TFLM's -I order
    resource_dir: Path  # clang's builtin headers
    defines: tuple[str, ...]

    def args(self, root: Path) -> list[str]:
        out = ["-x", "c++", "-std=c++17", f"-I{root}"]
        out += [f"-D{d}" for d in self.defines]
        out += [f"-I{d}" for d in self.include_dirs]
        out += ["-isystem", str(self.resource_dir)]
        return out


def find_resource_dir(configured: Path | None, runner: Runner) -> Path:
    """Locate clang's builtin include folder (stddef.h, stdarg.h...)."""
    if configured is not None:
        if (configured / "stddef.h").is_file():
            return configured
        raise ToolMissingError(
            f"clang_resource_dir {configured} has no stddef.h",
            "point it at clang's include folder, e.g. /usr/lib/llvm-14/lib/clang/14.0.6/include",
        )
    candidates = sorted(
        glob.glob("/usr/lib/llvm-*/lib/clang/*/include/stddef.h")
        + glob.glob("/usr/lib/clang/*/include/stddef.h"),
        key=_version_key,
    )
    if candidates:
        return Path(candidates[-1]).parent
    if shutil.which("clang"):
        result = runner(["clang", "-print-resource-dir"])
        path = Path(result.stdout.strip()) / "include"
        if result.returncode == 0 and (path / "stddef.h").is_file():
            return path
    raise ToolMissingError(
        "no builtin include folder for libclang (without one, size_t parses as int)",
        "install Debian's libclang-common-14-dev, or set BINDBOT_CLANG_RESOURCE_DIR",
    )


def _version_key(path: str) -> tuple[int, ...]:
    return tuple(int(n) for n in re.findall(r"\d+", path))


class Extractor:
    """Turns an exported upstream tree into an `ApiModel`."""

    def __init__(self, setup: ParseSetup) -> None:
        self.setup = setup
        self.index = ci.Index.create()

    def extract(self, root: Path, present: Iterable[str]) -> tuple[ApiModel, tuple[str, ...]]:
        """Parse the API headers in `present` under `root`.

        Returns the model and the upstream files the parse read (the cache's dependency
        list). Raises `HeaderParseError` on any error diagnostic: a half-understood header
        would turn into invented API changes.
        """
        roots = [h for h in API_HEADERS if h in set(present)]
        if not roots:
            raise HeaderParseError(
                f"none of the API headers exist under {root}",
                "check that the upstream is a tflite-micro repository",
            )
        source = "".join(f'#include "{h}"\n' for h in roots)
        try:
            tu = self.index.parse(
                "bindbot_api.cc",
                args=self.setup.args(root),
                unsaved_files=[("bindbot_api.cc", source)],
                options=ci.TranslationUnit.PARSE_SKIP_FUNCTION_BODIES,
            )
        except ci.TranslationUnitLoadError as exc:
            raise HeaderParseError(
                f"libclang could not parse {root}: {exc}", "see the logs"
            ) from exc
        walker = _Walker(root, set(roots))
        headers = walker.headers(tu)
        walker.api_files = {h.path for h in headers if h.api}
        walker.walk(tu.cursor, "")
        errors = [d for d in tu.diagnostics if d.severity >= ci.Diagnostic.Error]
        if errors:
            first = errors[0]
            where = _rel(root, first.location.file.name) if first.location.file else "?"
            flagged = sorted(set(walker.invalid))
            invalid = f"; invalid API declarations: {', '.join(flagged[:5])}" if flagged else ""
            raise HeaderParseError(
                f"{len(errors)} error(s) parsing the API headers; first: "
                f"{where}:{first.location.line}: {first.spelling}{invalid}",
                "check the dependency pins (`bindbot deps REF`) and BINDBOT_DEP_<NAME>; "
                "if upstream itself is broken at this commit, pick another",
            )
        model = ApiModel.build(walker.entities(), headers, walker.invalid, self.setup.defines)
        return model, walker.read_files


def _rel(root: Path, name: str) -> str:
    try:
        return Path(name).resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return name


class _Walker:
    def __init__(self, root: Path, roots: set[str]) -> None:
        self.root = str(root.resolve()) + os.sep
        self.roots = roots
        self.api_files: set[str] = set()
        self.read_files: tuple[str, ...] = ()
        self.invalid: list[str] = []
        self._entities: dict[str, Entity] = {}
        self._functions: dict[str, tuple[str, list[Function]]] = {}
        self._file_cache: dict[str, str | None] = {}

    # -- headers -------------------------------------------------------------------------
    def headers(self, tu: ci.TranslationUnit) -> list[Header]:
        graph: dict[str, set[str]] = {}
        for inc in tu.get_includes():
            target = self._upstream_path(inc.include.name)
            if target is None:
                continue
            graph.setdefault(target, set())
            source = self._upstream_path(inc.source.name) if inc.source else None
            if source is not None:
                graph.setdefault(source, set()).add(target)
        self.read_files = tuple(sorted(graph))
        declares = self._declaring_files(tu)
        api: set[str] = set()
        for path in self.roots:
            api.add(path)
            # A root that declares nothing itself is a forwarding header: its targets are
            # the API now (this is how c/common.h -> core/c/common.h stays modelled).
            if path not in declares:
                api.update(graph.get(path, ()))
        # TFLM's C types keep moving between C-API folders (TfLiteType now lives in
        # compiler/mlir/lite/core/c/tflite_types.h): every `c/` header an API header
        # includes, directly or not, is API too.
        todo, seen = list(api), set(api)
        while todo:
            for child in graph.get(todo.pop(), ()):
                if child not in seen:
                    seen.add(child)
                    todo.append(child)
                    if is_c_api_header(child):
                        api.add(child)
        return [Header(p, tuple(sorted(graph[p])), p in api) for p in graph]

    def _declaring_files(self, tu: ci.TranslationUnit) -> set[str]:
        out: set[str] = set()

        def visit(cursor: ci.Cursor) -> None:
            for child in cursor.get_children():
                path = self._path(child)
                if path is None:
                    continue
                if child.kind in _CONTAINERS:
                    visit(child)
                elif child.kind.is_declaration():
                    out.add(path)

        visit(tu.cursor)
        return out

    def _upstream_path(self, name: str) -> str | None:
        if name not in self._file_cache:
            full = os.path.realpath(name)
            self._file_cache[name] = (
                full[len(self.root) :].replace(os.sep, "/") if full.startswith(self.root) else None
            )
        return self._file_cache[name]

    def _path(self, cursor: ci.Cursor) -> str | None:
        f = cursor.location.file
        return self._upstream_path(f.name) if f is not None else None

    # -- declarations --------------------------------------------------------------------
    def walk(self, cursor: ci.Cursor, scope: str) -> None:
        for child in cursor.get_children():
            kind = child.kind
            if kind in _CONTAINERS:
                name = child.spelling
                if kind == K.NAMESPACE:
                    if not name or name in PRIVATE_NAMESPACE_PARTS or "internal" in name:
                        continue
                    self.walk(child, f"{scope}{name}::")
                elif self._path(child) is not None:
                    self.walk(child, scope)
                continue
            path = self._path(child)
            if path is None or path not in self.api_files:
                continue
            qual = f"{scope}{child.spelling}"
            if path == SCHEMA_HEADER and qual not in SCHEMA_NAMES:
                continue
            self._declaration(child, scope, qual, path)

    def _declaration(self, c: ci.Cursor, scope: str, qual: str, path: str) -> None:
        kind = c.kind
        if kind in _RECORDS or kind == K.CLASS_TEMPLATE:
            if c.spelling and not c.is_anonymous():
                self._record(c, qual, path)
        elif kind == K.ENUM_DECL:
            self._enum(c, scope, qual, path)
        elif kind in _FUNCTIONS:
            func = self._function(c)
            if func is not None:
                entry = self._functions.setdefault(qual, (path, []))
                if func.signature() not in {f.signature() for f in entry[1]}:
                    entry[1].append(func)
        elif kind in (K.TYPEDEF_DECL, K.TYPE_ALIAS_DECL):
            self._typedef(c, qual, path)
        elif kind == K.VAR_DECL and c.type.is_const_qualified():
            self._entities[qual] = ConstantEntity(qual, path, _spell(c.type), _initializer(c))

    def _record(self, c: ci.Cursor, qual: str, path: str) -> None:
        existing = self._entities.get(qual)
        if not c.is_definition():
            if existing is None:
                # Declared but never defined here: an opaque handle type.
                record = _RECORDS.get(c.kind, "class")
                self._entities[qual] = RecordEntity(qual, path, record, flags=("opaque",))  # type: ignore[arg-type]
            return
        if isinstance(existing, RecordEntity) and "opaque" not in existing.flags:
            return
        template_params: list[str] = []
        bases: list[str] = []
        fields: list[FieldDecl] = []
        ctors: dict[str, Function] = {}
        methods: dict[str, Function] = {}
        is_struct = c.kind in (K.STRUCT_DECL, K.UNION_DECL)
        record = _RECORDS.get(c.kind) or ("struct" if _template_keyword(c) == "struct" else "class")
        for child in c.get_children():
            k = child.kind
            if k == K.TEMPLATE_TYPE_PARAMETER:
                template_params.append(f"typename {child.spelling}")
            elif k == K.TEMPLATE_NON_TYPE_PARAMETER:
                template_params.append(f"{_spell(child.type)} {child.spelling}")
            elif k == K.CXX_BASE_SPECIFIER:
                if child.access_specifier == ci.AccessSpecifier.PUBLIC or (
                    is_struct and child.access_specifier == ci.AccessSpecifier.INVALID
                ):
                    bases.append(_spell(child.type))
            elif child.access_specifier != ci.AccessSpecifier.PUBLIC:
                continue
            elif k == K.FIELD_DECL:
                if child.type.kind == ci.TypeKind.INVALID:
                    self.invalid.append(f"{qual}::{child.spelling}")
                    continue
                offset = child.get_field_offsetof() if not template_params else -1
                fields.append(
                    FieldDecl(
                        child.spelling,
                        _spell(child.type),
                        _spell(child.type.get_canonical()),
                        offset if offset is not None and offset >= 0 else None,
                    )
                )
            elif k == K.CONSTRUCTOR:
                func = self._function(child, f"{qual}::")
                if func is not None:
                    ctors[func.signature()] = func
            elif k in _METHODS:
                func = self._function(child, f"{qual}::")
                if func is not None and not child.spelling.startswith("operator"):
                    methods[func.signature()] = func
        flags = []
        if c.kind != K.CLASS_TEMPLATE and c.is_abstract_record():
            flags.append("abstract")
        if c.availability == ci.AvailabilityKind.DEPRECATED:
            flags.append("deprecated")
        size = c.type.get_size() if c.kind != K.CLASS_TEMPLATE else -1
        align = c.type.get_align() if c.kind != K.CLASS_TEMPLATE else -1
        self._entities[qual] = RecordEntity(
            name=qual,
            header=path,
            record=record,  # type: ignore[arg-type]
            template_params=tuple(template_params),
            bases=tuple(bases),
            fields=tuple(fields),
            constructors=tuple(ctors[k] for k in sorted(ctors)),
            methods=tuple(methods[k] for k in sorted(methods)),
            size=size if size >= 0 else None,
            align=align if align >= 0 else None,
            flags=tuple(sorted(flags)),
        )

    def _enum(self, c: ci.Cursor, scope: str, qual: str, path: str) -> None:
        values = tuple(
            EnumValue(v.spelling, v.enum_value)
            for v in c.get_children()
            if v.kind == K.ENUM_CONSTANT_DECL
        )
        if c.is_anonymous() or not c.spelling or "(unnamed" in c.spelling:
            # An unnamed enum is a bag of constants: each one is its own API entity.
            for v in values:
                name = f"{scope}{v.name}"
                self._entities[name] = ConstantEntity(name, path, "enum", str(v.value))
            return
        if not c.is_definition():
            return
        self._entities[qual] = EnumEntity(
            qual, path, c.enum_type.get_canonical().spelling, values, c.is_scoped_enum()
        )

    def _typedef(self, c: ci.Cursor, qual: str, path: str) -> None:
        underlying = c.underlying_typedef_type
        decl = underlying.get_declaration()
        # `typedef struct X {...} X;` is C's way of naming X: the record is the entity.
        if decl.kind != K.NO_DECL_FOUND and decl.spelling == c.spelling:
            return
        if underlying.kind == ci.TypeKind.INVALID:
            self.invalid.append(qual)
            return
        self._entities[qual] = TypedefEntity(
            qual, path, _spell(underlying), _spell(underlying.get_canonical())
        )

    def _function(self, c: ci.Cursor, prefix: str = "") -> Function | None:
        if c.kind == K.FUNCTION_TEMPLATE:
            params_c = [a for a in c.get_children() if a.kind == K.PARM_DECL]
        else:
            params_c = list(c.get_arguments() or [])
        params = []
        for p in params_c:
            if p.type.kind == ci.TypeKind.INVALID:
                self.invalid.append(f"{prefix}{c.spelling}")
                return None
            params.append(
                Param(p.spelling, _spell(p.type), _spell(p.type.get_canonical()), _default(p))
            )
        result = c.result_type
        if c.kind != K.CONSTRUCTOR and result.kind == ci.TypeKind.INVALID:
            self.invalid.append(f"{prefix}{c.spelling}")
            return None
        flags = []
        if c.kind in (K.CXX_METHOD, K.CONSTRUCTOR, K.FUNCTION_TEMPLATE):
            checks = (
                ("const", c.is_const_method),
                ("static", c.is_static_method),
                ("virtual", c.is_virtual_method),
                ("pure", c.is_pure_virtual_method),
                ("deleted", c.is_deleted_method),
                ("defaulted", c.is_default_method),
            )
            flags += [name for name, check in checks if _safe(check)]
        if c.kind == K.CONSTRUCTOR and _safe(c.is_explicit_method):
            flags.append("explicit")
        if c.kind == K.FUNCTION_TEMPLATE:
            flags.append("template")
        if c.type.kind == ci.TypeKind.FUNCTIONPROTO and c.type.is_function_variadic():
            flags.append("variadic")
        # extern "C" functions have no mangling: the symbol is the plain name.
        if (
            c.kind == K.FUNCTION_DECL
            and c.semantic_parent.kind == K.TRANSLATION_UNIT
            and c.mangled_name == c.spelling
        ):
            flags.append("c_linkage")
        deprecation = None
        if c.availability == ci.AvailabilityKind.DEPRECATED:
            flags.append("deprecated")
            deprecation = _deprecation_message(c)
        return Function(
            name=c.spelling,
            params=tuple(params),
            return_type="" if c.kind == K.CONSTRUCTOR else _spell(result),
            return_canonical="" if c.kind == K.CONSTRUCTOR else _spell(result.get_canonical()),
            flags=tuple(sorted(flags)),
            deprecation=deprecation,
        )

    def entities(self) -> list[Entity]:
        out = list(self._entities.values())
        for name, (path, funcs) in self._functions.items():
            out.append(FunctionEntity(name, path, tuple(sorted(funcs, key=Function.signature))))
        return out


def _spell(t: ci.Type) -> str:
    """A type's spelling without the file, line and column clang puts in unnamed types:
    those would tie the model to where the tree was exported and to unrelated edits."""
    return _UNNAMED.sub(r"(unnamed \2)", t.spelling)


def _safe(check: object) -> bool:
    try:
        return bool(check())  # type: ignore[operator]
    except (AttributeError, ci.LibclangError):
        return False


def _template_keyword(c: ci.Cursor) -> str:
    for token in c.get_tokens():
        if token.spelling in ("class", "struct") and token.kind == ci.TokenKind.KEYWORD:
            return str(token.spelling)
    return "class"


def _tokens(c: ci.Cursor) -> Sequence[str]:
    return [t.spelling for t in c.get_tokens()]


def _default(p: ci.Cursor) -> str | None:
    """The default argument's source text: libclang exposes it only as tokens."""
    tokens = _tokens(p)
    depth = 0
    for i, tok in enumerate(tokens):
        if tok in "([{<":
            depth += 1
        elif tok in ")]}>":
            depth -= 1
        elif tok == "=" and depth == 0:
            return " ".join(tokens[i + 1 :]) or None
    return None


def _initializer(c: ci.Cursor) -> str:
    tokens = _tokens(c)
    if "=" in tokens:
        return " ".join(tokens[tokens.index("=") + 1 :]).rstrip(";").strip()
    return ""


def _deprecation_message(c: ci.Cursor) -> str | None:
    # `[[deprecated("...")]]` precedes the declaration: its text is in the attribute child.
    parts = [" ".join(_tokens(a)) for a in c.get_children() if a.kind.is_attribute()]
    text = " ".join([*parts, *_tokens(c)])
    match = _DEPRECATED_MSG.search(text.replace('" "', ""))
    return match.group(1) if match else None


def libclang_version() -> str:
    """libclang's own version string; part of every cache key (parses differ across versions)."""
    func = ci.conf.lib.clang_getClangVersion
    func.restype = ci._CXString
    func.errcheck = ci._CXString.from_result
    return str(func())


def libclang_dir() -> Path:
    """The folder of the libclang library bindbot parses with (bindgen can reuse it)."""
    lib = ci.conf.lib  # loads the library if it is not loaded yet
    return Path(lib._name).resolve().parent
