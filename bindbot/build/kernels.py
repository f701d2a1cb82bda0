"""Which library files each op needs, read from the tree, for the crate's per-op features.

`tflm-sys` gives every `MicroMutableOpResolver::AddXxx` method a cargo feature; `build.rs`
compiles the always-needed files plus the files of the enabled ops. This module decides,
for one upstream tree, which files those are, in three steps that only read text:

1. Method -> registration functions, from the resolver header: the default argument
   (`registration = Register_CONV_2D()`) or the body (`AddBuiltin(..., Register_X(), ...)`,
   `AddCustom("SignalWindow", tflite::tflm_signal::Register_WINDOW())`, and older forms
   such as `tflite::ops::micro::Register_X()`).
2. Registration function -> file, from its definition in the kernel sources
   (`TFLMRegistration Register_X() {`, `TFLMRegistration* Register_X() {`, or the older
   `TfLiteRegistration ...`).
3. File -> files it needs: every kernel-folder file is scanned for the external names it
   defines (functions, variables, classes it implements methods of) and the names it and
   the bodies of the headers it includes use. An op pulls in the closure of its files
   under "uses a name another file defines". The same relation decides which helpers
   (`*_common.cc`, `lstm_eval.cc`, `signal/src/*`) belong to ops and which are needed by
   the core, so a model with four ops compiles a few dozen files, not the whole library.

Every step errs towards compiling more: a name that merely looks used pulls a file in, a
helper that nothing seems to use is compiled always, and a file whose registrations no
resolver method reaches is compiled always. What text cannot show (a file needing a file
it never names) needs a check of the mapping against compiled objects' symbols; at the
pinned tree that check finds every op's files, with the always-compiled ones, closed.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from bindbot.api.rust_names import snake
from bindbot.build.sources import KERNEL_DIRS

#: The header whose inline `AddXxx` methods name the registration functions.
RESOLVER_HEADER = "tensorflow/lite/micro/micro_mutable_op_resolver.h"

#: A resolver method: `TfLiteStatus AddConv2D(` (its parameters and body follow).
_METHOD = re.compile(r"\bTfLiteStatus\s+(Add\w+)\s*\(")
#: A call of (or reference to) a registration function, however namespace-qualified.
_REGISTER_CALL = re.compile(r"\b(Register_\w+)\s*\(")
#: The definition of a registration function: return type, optional pointer, optional
#: qualification, parameters, then the body. Declarations end in `;` and do not match.
_REGISTER_DEF = re.compile(
    r"\b(?:TFLMRegistration|TfLiteRegistration(?:_V1)?)\s*\*?\s*"
    r"(?:\w+\s*::\s*)*(Register_\w+)\s*\([^()]*\)\s*\{"
)
#: Comments, string and character literals: removed (literals kept as `""`) before any
#: scan, so a name in a comment or a message never counts as a use.
_NOISE = re.compile(
    r"//[^\n]*|/\*.*?\*/|\"(?:\\.|[^\"\\\n])*\"|'(?:\\.|[^'\\\n])*'",
    re.DOTALL,
)
#: What follows a method's parameters up to its body or `;` (`const`, `override`, ...).
_UNTIL_BODY = re.compile(r"[^{;]*")
_TOKEN = re.compile(r'""|[A-Za-z_]\w*|\d[\w.]*|::|\S')
_IDENT = re.compile(r"[A-Za-z_]\w*")
#: `#include "path"`: its quotes are rewritten to `<@path@>` before literals are stripped.
_QUOTED_INCLUDE = re.compile(r'^(\s*#\s*include\s*)"([^"\n]+)"', re.MULTILINE)
_INCLUDE = re.compile(r"^\s*#\s*include\s*<@(.+?)@>")
#: Marks, in the token stream, where a source file (`kiss_fft.c`) is textually included.
_SOURCE_INCLUDE = "#include-source"
#: What the mark becomes in the token stream: one identifier no source uses.
_SOURCE_MARK = "__bindbot_included_source__"

_OPEN = frozenset("([<")
_CLOSE = frozenset(")]>")
_TYPE_KEYWORDS = frozenset({"class", "struct", "union", "enum"})
#: Words that precede a parenthesis without being the name of what is defined.
_NOT_NAMES = frozenset(
    {"__attribute__", "alignas", "decltype", "noexcept", "sizeof", "operator", "throw"}
)
#: Statements at namespace scope that define no symbol even when they end in `;`.
_NOT_DEFINITIONS = frozenset(
    {"using", "typedef", "extern", "friend", "static_assert", "namespace", "return"}
)


@dataclass(frozen=True)
class OpKernels:
    """The files one tree's library splits into: always compiled, and gated per op.

    `ops` maps each resolver method (`AddConv2D`) to the files only enabled ops need, in
    sorted order; a file several ops need (`comparisons.cc` for `AddEqual`, `AddLess`, ...;
    `conv_common.cc` for several convolutions) is listed under each. `always` holds the
    core and every kernel file the core or an unmapped registration needs.
    """

    ops: Mapping[str, tuple[str, ...]]
    always: tuple[str, ...]
    #: Method -> the registration functions its header text names.
    registrations: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    #: Registration functions the sources define but no method names (variants such as
    #: `Register_IRFFT_INT16` next to a mapped `Register_IRFFT`, or an op the resolver lacks).
    unmapped: tuple[str, ...] = ()
    #: Registration functions a method names but no library source defines (enabling that
    #: method would not link).
    undefined: tuple[str, ...] = ()

    def files(self, methods: Iterable[str]) -> tuple[str, ...]:
        """The sorted files to compile when exactly `methods` are enabled."""
        chosen = set(self.always)
        for method in methods:
            chosen.update(self.ops[method])
        return tuple(sorted(chosen))

    def gated(self) -> tuple[str, ...]:
        """Every file some op gates (compiled only when one of its ops is enabled)."""
        return tuple(sorted({f for files in self.ops.values() for f in files}))


def feature_name(method: str) -> str:
    """The cargo feature for a resolver method: `AddConv2D` -> `op-conv-2d`.

    It is the safe crate's method name (`add_conv_2d`, from `snake`) without `add_`, so
    a user can tell a feature's method from its name.
    """
    name = snake(method)
    if name.startswith("add_"):
        name = name[len("add_") :]
    return "op-" + name.replace("_", "-")


def method_registrations(header_text: str) -> dict[str, tuple[str, ...]]:
    """Resolver method -> the registration functions named in its parameters or body."""
    text = _strip_noise(header_text)
    found: dict[str, set[str]] = {}
    for match in _METHOD.finditer(text):
        end = _method_end(text, match.end() - 1)
        names = {m.group(1) for m in _REGISTER_CALL.finditer(text, match.end(), end)}
        # Overloads (none today) would add to, not replace, the method's set.
        found.setdefault(match.group(1), set()).update(names)
    return {method: tuple(sorted(names)) for method, names in sorted(found.items())}


def registration_definitions(text: str) -> set[str]:
    """The registration functions a source file defines (not merely declares)."""
    return {m.group(1) for m in _REGISTER_DEF.finditer(_strip_noise(text))}


def op_files(tree: Path, sources: Sequence[str], add_methods: Sequence[str]) -> OpKernels:
    """Split the library `sources` (paths relative to `tree`) into always-compiled and per-op.

    `add_methods` are the resolver methods the crate exposes; a method the header does not
    have, or that names no registration (`AddCustom`), gates no file.
    """
    sources = sorted(set(sources))
    header = tree / RESOLVER_HEADER
    by_method = method_registrations(header.read_text(errors="replace"))
    registrations = {m: by_method.get(m, ()) for m in sorted(set(add_methods))}

    scanner = _Scanner(tree, by_method)
    kernel_files = [s for s in sources if os.path.dirname(s) in KERNEL_DIRS]
    core_files = [s for s in sources if os.path.dirname(s) not in KERNEL_DIRS]
    facts = {path: scanner.file(path) for path in kernel_files}
    core_facts = [scanner.file(path) for path in core_files]

    # Where each registration function lives. Several files can define one name only
    # under exclusive #if branches; the op then needs all of them. One defined in a core
    # file is defined (that file is compiled always) but gates nothing.
    defined_in: dict[str, set[str]] = {}
    for path, fact in facts.items():
        for name in fact.registrations:
            defined_in.setdefault(name, set()).add(path)
    in_core = set().union(*(fact.registrations for fact in core_facts))
    named = {name for names in registrations.values() for name in names}
    unmapped = sorted(set(defined_in) - named)
    undefined = sorted(named - set(defined_in) - in_core)

    # Name -> (scope, file) of its external definitions. A class qualifier (`Foo::Bar`)
    # counts as a name too, unless it is a namespace somewhere (`tflite::micro::Bar`).
    namespaces = scanner.namespaces()
    providers: dict[str, list[tuple[_Scope, tuple[str, ...], str]]] = {}
    for path, fact in facts.items():
        for define in sorted(fact.defines):
            name, scope, qualifiers = define
            if name in namespaces and define not in fact.wrappers:
                continue
            classes = tuple(q for q in qualifiers if q not in namespaces)
            providers.setdefault(name, []).append((scope + qualifiers, classes, path))

    def users(fact: _FileFacts, path: str = "") -> set[str]:
        """The kernel files defining a name `fact` uses. `q::name` matches a definition
        with `q` in its scope; a plain name matches anywhere, except one the file defines
        itself and a member (`Setup`) of a class the file never names."""
        found: set[str] = set()
        mentioned = {name for name, _ in fact.uses}
        for name, qualifier in fact.uses:
            if qualifier is None and name in fact.local:
                continue
            for scope, classes, where in providers.get(name, ()):
                if qualifier is not None:
                    hit = qualifier in scope
                else:
                    hit = not classes or any(c in mentioned for c in classes)
                if hit:
                    found.add(where)
        found.discard(path)
        return found

    edges = {path: users(fact, path) for path, fact in facts.items()}

    seeds = {
        m: {p for name in names for p in defined_in.get(name, ())}
        for m, names in registrations.items()
    }
    # A file that defines registrations but none a method names: nobody could enable it,
    # so it is compiled always rather than never (it may be reached from C++ directly).
    orphans = {
        p for p, fact in facts.items() if fact.registrations and not fact.registrations & named
    }
    reached = {m: _closure(files, edges) for m, files in seeds.items()}
    reachable: set[str] = set().union(*reached.values())
    # Roots of the always-compiled set: what the core uses, orphan kernels, and helpers
    # no op reaches (their users are invisible to the scan, so keep them).
    roots: set[str] = set().union(*(users(fact) for fact in core_facts))
    roots |= orphans | (set(kernel_files) - reachable)
    always_kernels = _closure(roots, edges)

    ops = {m: tuple(sorted(files - always_kernels)) for m, files in reached.items()}
    return OpKernels(
        ops=ops,
        always=tuple(sorted(set(core_files) | always_kernels)),
        registrations=registrations,
        unmapped=tuple(unmapped),
        undefined=tuple(undefined),
    )


def _closure(start: Iterable[str], edges: Mapping[str, set[str]]) -> set[str]:
    seen = set(start)
    todo = list(seen)
    while todo:
        for nxt in edges.get(todo.pop(), ()):
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return seen


def _strip_noise(text: str) -> str:
    def keep(match: re.Match[str]) -> str:
        token = match.group(0)
        if token.startswith(("//", "/*")):
            # Newlines survive so preprocessor lines stay lines.
            return " " + "\n" * token.count("\n")
        return '""'

    return _NOISE.sub(keep, text)


def _method_end(text: str, open_paren: int) -> int:
    """Where a method that starts at `open_paren` ends: after its body, or after `;`."""
    depth = 0
    i = open_paren
    while i < len(text):
        if text[i] == "(":
            depth += 1
        elif text[i] == ")":
            depth -= 1
            if depth == 0:
                break
        i += 1
    rest = _UNTIL_BODY.match(text, i + 1)
    i = rest.end() if rest else i + 1
    if i >= len(text) or text[i] == ";":
        return i
    depth = 0
    while i < len(text):
        if text[i] == "{":
            depth += 1
        elif text[i] == "}":
            depth -= 1
            if depth == 0:
                return i + 1
        i += 1
    return i


#: A scope: the named namespaces (and classes, for members defined out of line) around a name.
_Scope = tuple[str, ...]
#: A definition: the name, its namespaces, and the qualifiers written before it (the
#: classes of a member defined out of line, `DecodeState::Create...`).
_Define = tuple[str, _Scope, tuple[str, ...]]
#: A use: the name and the qualifier written before it (`tflm_signal` in
#: `tflm_signal::CircularBufferInit`), or None.
_Use = tuple[str, str | None]


@dataclass(frozen=True)
class _FileFacts:
    #: Names with external linkage the file defines: functions, variables, the classes
    #: whose members it defines, and namespaces it wraps an included source file in.
    defines: frozenset[_Define]
    #: Those namespaces (`kiss_fft_fixed16`): names a caller reaches the hidden source by.
    wrappers: frozenset[_Define]
    #: Every name the file defines, whatever its linkage: a plain use of one is its own.
    local: frozenset[str]
    #: Names it uses, with those used by the bodies in the headers it includes.
    uses: frozenset[_Use]
    registrations: frozenset[str]


@dataclass(frozen=True)
class _Parsed:
    defines: frozenset[_Define]
    #: `const` variables: external only where an `extern` declaration is in sight.
    consts: frozenset[_Define]
    externs: frozenset[str]
    wrappers: frozenset[_Define]
    local: frozenset[str]
    #: Every name of the file (what a source file uses) ...
    uses: frozenset[_Use]
    #: ... and those in each body or macro, by what it belongs to (a function, class,
    #: variable or macro name; None if unknown). What a header gives a file including
    #: it: the bodies of the names the file uses (a declaration needs nothing, nor an
    #: inline function nobody calls).
    body_uses: Mapping[str | None, frozenset[_Use]]
    includes: tuple[str, ...]
    sources_included: tuple[str, ...]
    namespaces: frozenset[str]


class _Scanner:
    """Reads and caches the facts of files and the headers they include."""

    def __init__(self, tree: Path, by_method: Mapping[str, tuple[str, ...]]) -> None:
        self.tree = tree
        self.by_method = by_method
        self._parsed: dict[str, _Parsed] = {}

    def namespaces(self) -> frozenset[str]:
        """Every namespace name of the files parsed so far."""
        return frozenset().union(*(p.namespaces for p in self._parsed.values()))

    def file(self, path: str) -> _FileFacts:
        parsed = self._parse(path)
        headers = self._headers(parsed)
        bodies: dict[str | None, set[_Use]] = {}
        for header in headers:
            for owner, owned in header.body_uses.items():
                bodies.setdefault(owner, set()).update(owned)
        uses = set(parsed.uses) | bodies.pop(None, set())
        # Inline bodies the file reaches, and those they reach in turn.
        names = {name for name, _ in uses}
        todo = [owner for owner in bodies if owner in names]
        while todo:
            for name, qualifier in bodies.pop(todo.pop(), ()):
                uses.add((name, qualifier))
                if name not in names:
                    names.add(name)
                    if name in bodies:
                        todo.append(name)
        # The resolver's methods are templates, instantiated only where called: a file
        # that calls `AddConv2D` uses `Register_CONV_2D`; including the header does not.
        for name, _ in list(uses):
            uses.update((reg, None) for reg in self.by_method.get(name, ()))
        externs = set(parsed.externs).union(*(h.externs for h in headers))
        defines = set(parsed.defines) | {c for c in parsed.consts if c[0] in externs}
        for included in parsed.sources_included:
            defines |= self._parse(included).defines
        text = _strip_noise(self._read(path))
        return _FileFacts(
            defines=frozenset(defines | parsed.wrappers),
            wrappers=parsed.wrappers,
            local=parsed.local,
            uses=frozenset(uses),
            registrations=frozenset(registration_definitions(text)),
        )

    def _headers(self, parsed: _Parsed) -> list[_Parsed]:
        """The headers `parsed` includes, transitively (the resolver's excepted)."""
        seen: set[str] = set()
        todo = list(parsed.includes)
        found: list[_Parsed] = []
        while todo:
            header = todo.pop()
            if header in seen or header == RESOLVER_HEADER:
                continue
            seen.add(header)
            facts = self._parse(header)
            found.append(facts)
            todo.extend(facts.includes)
        return found

    def _read(self, path: str) -> str:
        return (self.tree / path).read_text(errors="replace")

    def _resolve(self, include: str, including: str) -> str | None:
        for candidate in (include, os.path.join(os.path.dirname(including), include)):
            normal = os.path.normpath(candidate)
            if (self.tree / normal).is_file():
                return Path(normal).as_posix()
        return None  # a dependency's header (flatbuffers, kissfft, ...): not library code

    def _parse(self, path: str) -> _Parsed:
        if path not in self._parsed:
            self._parsed[path] = _parse(self._read(path), path, self)
        return self._parsed[path]


def _parse(text: str, path: str, scanner: _Scanner) -> _Parsed:
    """Tokenise `text` and walk its namespace-level statements for definitions."""
    text = _strip_noise(_QUOTED_INCLUDE.sub(r"\1<@\2@>", text))
    includes: list[str] = []
    sources_included: list[str] = []
    macros: dict[str | None, set[_Use]] = {}
    code_lines: list[str] = []
    lines = text.split("\n")
    i = 0
    while i < len(lines):
        line = lines[i]
        i += 1
        if not line.lstrip().startswith("#"):
            code_lines.append(line)
            continue
        directive = line  # with its continuation lines
        while directive.endswith("\\") and i < len(lines):
            directive = directive[:-1] + " " + lines[i]
            i += 1
        include = _INCLUDE.match(directive)
        if include and include.group(1).endswith((".c", ".cc")):
            # A textually included source (`kiss_fft.c`): mark the spot, so the walk
            # knows the namespace that wraps it; read it too when the tree has it.
            code_lines.append(_SOURCE_INCLUDE)
            resolved = scanner._resolve(include.group(1), path)
            if resolved is not None:
                sources_included.append(resolved)
        elif include:
            resolved = scanner._resolve(include.group(1), path)
            if resolved is not None:
                includes.append(resolved)
        elif re.match(r"\s*#\s*define\b", directive):
            words = _TOKEN.findall(directive)
            macros.setdefault(words[2] if len(words) > 2 else None, set()).update(_uses(words[3:]))
    tokens = _TOKEN.findall("\n".join(code_lines).replace(_SOURCE_INCLUDE, f" {_SOURCE_MARK} "))
    walk = _Walk(tokens)
    bodies = {owner: set(owned) for owner, owned in walk.body_uses.items()}
    for owner, owned in macros.items():
        bodies.setdefault(owner, set()).update(owned)
    macro_uses = set().union(*macros.values())
    return _Parsed(
        defines=frozenset(walk.defines),
        consts=frozenset(walk.consts),
        externs=frozenset(walk.externs),
        wrappers=frozenset(walk.wrappers),
        local=frozenset(walk.local),
        uses=frozenset(_uses(tokens) | macro_uses),
        body_uses={owner: frozenset(owned) for owner, owned in bodies.items()},
        includes=tuple(includes),
        sources_included=tuple(sources_included),
        namespaces=frozenset(walk.namespaces),
    )


def _qualifier(tokens: Sequence[str], i: int) -> str | None:
    """`q` when `tokens[i]` is written `q::name`."""
    if i >= 2 and tokens[i - 1] == "::" and _IDENT.fullmatch(tokens[i - 2]):
        return tokens[i - 2]
    return None


def _uses(tokens: Sequence[str]) -> set[_Use]:
    return {(tok, _qualifier(tokens, i)) for i, tok in enumerate(tokens) if _IDENT.fullmatch(tok)}


class _Walk:
    """One pass over a file's tokens: namespace scopes are walked into, other braces
    (function and class bodies, initialisers) are skipped, their names kept as uses.

    This is not a C++ parser; it reads the shapes TFLM's sources use at namespace scope.
    A wrong guess adds a name (a file compiled needlessly) far more often than it drops
    one, and the symbol check on the real tree catches the drops.
    """

    def __init__(self, tokens: Sequence[str]) -> None:
        self.defines: set[_Define] = set()
        self.consts: set[_Define] = set()
        self.externs: set[str] = set()
        self.wrappers: set[_Define] = set()
        self.local: set[str] = set()
        self.namespaces: set[str] = set()
        self.body_uses: dict[str | None, set[_Use]] = {}
        owner: str | None = None
        # One entry per open brace: ("ns", names) (`namespace a::b {` opens a and b),
        # ("anon", ()) or ("extern", ()) for `extern "C" {`.
        self.scopes: list[tuple[str, tuple[str, ...]]] = []
        statement: list[str] = []
        opaque = 0
        for i, tok in enumerate(tokens):
            if opaque:
                if tok == "{":
                    opaque += 1
                elif tok == "}":
                    opaque -= 1
                elif _IDENT.fullmatch(tok):
                    self.body_uses.setdefault(owner, set()).add((tok, _qualifier(tokens, i)))
                continue
            if tok == _SOURCE_MARK:
                # `namespace kiss_fft_fixed16 { #include "kiss_fft.c" }`: callers reach
                # what the source defines through the namespace's name.
                scope = self.scope()
                if scope and not self.hidden():
                    self.wrappers.add((scope[-1], scope[:-1], ()))
                statement = []
            elif tok == ";":
                self._statement(statement)
                statement = []
            elif tok == "{":
                if statement[:1] == ["namespace"] or statement[:2] == ["inline", "namespace"]:
                    names = [t for t in statement if _IDENT.fullmatch(t)]
                    names = [n for n in names if n not in ("inline", "namespace")]
                    self.namespaces.update(names)
                    self.scopes.append(("ns", tuple(names)) if names else ("anon", ()))
                elif statement == ["extern", '""']:
                    self.scopes.append(("extern", ()))
                else:
                    owner = self._definition(statement)
                    opaque = 1
                statement = []
            elif tok == "}":
                if self.scopes:
                    self.scopes.pop()
                statement = []
            else:
                statement.append(tok)

    def scope(self) -> _Scope:
        return tuple(name for kind, names in self.scopes if kind == "ns" for name in names)

    def hidden(self) -> bool:
        return any(kind == "anon" for kind, _ in self.scopes)

    def _record(self, statement: Sequence[str], at: int, kind: str) -> str | None:
        """Record the name ending at `at`, as `kind`: "extern" (an exported definition),
        "const" (exported only if declared extern) or "local"; classes qualifying it
        (`Foo::Bar`) are implemented here, so they are defined (and exported) too.
        Returns the name (None if there is none)."""
        if at < 0 or not _IDENT.fullmatch(statement[at]) or statement[at] in _NOT_NAMES:
            return None
        name = statement[at]
        qualifiers: list[str] = []
        while at >= 2 and statement[at - 1] == "::" and _IDENT.fullmatch(statement[at - 2]):
            at -= 2
            qualifiers.insert(0, statement[at])
        self.local.add(name)
        if kind == "local" or self.hidden():
            return name
        scope = self.scope()
        target = self.consts if kind == "const" else self.defines
        target.add((name, scope, tuple(qualifiers)))
        for j, qualifier in enumerate(qualifiers):
            self.defines.add((qualifier, scope, tuple(qualifiers[:j])))
        return name

    def _linkage(self, statement: Sequence[str], variable: bool) -> str:
        """ "extern", "const" or "local" for a definition at namespace scope."""
        words = set(statement)
        if words & {"static", "inline", "constexpr"}:
            return "local"  # internal, or (inline) defined again in every user
        if statement[:2] == ["template", "<"] and statement[2:3] != [">"]:
            return "local"  # a template: instantiated by its users, not exported
        if variable and "const" in words and "extern" not in words:
            return "const"
        return "extern"

    def _definition(self, statement: list[str]) -> str | None:
        """A statement followed by `{`: a function, a class, or a braced variable.
        Returns the name the body belongs to (None if unknown)."""
        if not statement:
            return None
        if statement[:2] == ["extern", '""']:
            statement = statement[2:]
        first = _first_of(statement, {"(", "="} | _TYPE_KEYWORDS)
        if first is not None and statement[first] in _TYPE_KEYWORDS:
            # A class body: its inline members are no symbols of their own, and what
            # they use is needed where the class is.
            names = [t for t in statement[first + 1 :] if _IDENT.fullmatch(t)]
            names = [n for n in names if n not in _TYPE_KEYWORDS and n not in _NOT_NAMES]
            return names[0] if names else None
        if first is not None and statement[first] == "=":
            at = _name_before(statement, first)
            return self._record(statement, at, self._linkage(statement, True))
        if first is None:  # `Type name{...}`
            return self._record(statement, len(statement) - 1, self._linkage(statement, True))
        return self._record(statement, _function_name(statement), self._linkage(statement, False))

    def _statement(self, statement: list[str]) -> None:
        """A statement ended by `;`: a variable definition, an explicit instantiation, or
        an `extern` declaration (which makes a `const` variable of that name external)."""
        if not statement:
            return
        if statement[0] == "extern" and statement[1:2] != ['""']:
            first = _first_of(statement, {"(", "="})
            if first is None or statement[first] == "=":
                end = first if first is not None else len(statement)
                at = _name_before(statement, end)
                if at >= 0 and _IDENT.fullmatch(statement[at]):
                    self.externs.add(statement[at])
            return
        if statement[0] == "template":
            if statement[1:2] != ["<"]:  # `template void Foo<int>(...);` defines Foo<int>
                self._record(statement, _function_name(statement), "extern")
            return
        if statement[0] in _NOT_DEFINITIONS or _TYPE_KEYWORDS & set(statement):
            return
        first = _first_of(statement, {"(", "="})
        if first is not None and statement[first] == "(":
            return  # a function declaration (or a rare constructor-style variable)
        end = first if first is not None else len(statement)
        self._record(statement, _name_before(statement, end), self._linkage(statement, True))


def _first_of(statement: Sequence[str], wanted: set[str]) -> int | None:
    """Index of the first token of `wanted` outside brackets, or None."""
    depth = 0
    for i, tok in enumerate(statement):
        if tok in wanted and depth == 0:
            return i
        if tok in _OPEN:
            depth += 1
        elif tok in _CLOSE:
            depth = max(0, depth - 1)
    return None


def _name_before(statement: Sequence[str], end: int) -> int:
    """The identifier before `end`, skipping array bounds: `const int kTable[4] =`."""
    i = end - 1
    while i >= 0 and statement[i] == "]":
        i = _before_group(statement, i, "[", "]")
    return i


def _before_group(statement: Sequence[str], i: int, opening: str, closing: str) -> int:
    """The index before the bracketed group that ends at `statement[i]` (a `closing`)."""
    depth = 0
    while i >= 0:
        if statement[i] == closing:
            depth += 1
        elif statement[i] == opening:
            depth -= 1
            if depth == 0:
                break
        i -= 1
    return i - 1


def _function_name(statement: Sequence[str]) -> int:
    """Index of the defined function's name: before its parameter list.

    The parameter list is the last top-level parenthesis group, once a constructor's
    initialiser list (after a lone `:`) is cut off; `Foo<int>(` names `Foo`.
    """
    depth = 0
    last_open = -1
    for i, tok in enumerate(statement):
        if tok == "(":
            if depth == 0:
                last_open = i
            depth += 1
        elif tok == ")":
            depth -= 1
        elif tok == ":" and depth == 0 and last_open >= 0:
            break  # `Foo::Foo(int x) : x_(x)` ends at the parameters
    i = last_open - 1
    if i >= 0 and statement[i] == ">":
        i = _before_group(statement, i, "<", ">")
    return i
