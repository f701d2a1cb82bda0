"""Which operator code each resolver method registers, read from the resolver header.

A model names its operators by code: a `BuiltinOperator` value, or `CUSTOM` plus a custom
name. To tell which `MicroMutableOpResolver::AddXxx` methods a model needs (and so which
ops, and which per-op features, to enable), bindbot needs the code each method registers.
Nothing but the method's body says so, and the body's shape has changed over the years:

* `return AddBuiltin(BuiltinOperator_CONV_2D, registration, ParseConv2D);` (today, with a
  defaulted `registration` parameter);
* `return AddBuiltin(BuiltinOperator_ABS, tflite::ops::micro::Register_ABS(), ParseAbs);`
  or a local `registration` variable first (2021-2022);
* `return AddCustom("SignalWindow", tflite::tflm_signal::Register_WINDOW());` for custom
  ops, whose name is the string literal.

So this module reads the text, as `bindbot.build.kernels` does for registration
functions: it finds each `TfLiteStatus AddXxx(...) { ... }` and the `AddBuiltin` /
`AddCustom` calls in its body. A method is mapped only when the body says plainly which
code it registers. One whose code is computed (`AddEthosU` calls
`AddCustom(tflite::GetString_ETHOSU(), ...)`), or whose calls disagree, is left out
rather than guessed: the caller reports it unmapped instead of enabling the wrong op.
Which methods a crate exposes (all-defaulted parameters, say) is for the caller to filter.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from bindbot.build.kernels import _METHOD, _NOISE, _method_end

#: The resolver's own registration primitives: they register whatever they are given.
_PRIMITIVES = frozenset({"AddBuiltin", "AddCustom"})
#: The prefix of every `tflite::BuiltinOperator` constant.
_BUILTIN_PREFIX = "BuiltinOperator_"
#: The enum's range markers, aliases of real operators rather than operators.
_RANGE_MARKERS = frozenset({"BuiltinOperator_MIN", "BuiltinOperator_MAX"})

# kernels._NOISE matches comments, string and character literals. Here comments are
# blanked and literals become placeholders (`"0"`, `"1"`, ...) so no brace, parenthesis or
# comma inside one is read as code, and the custom names can be read back.
#: A call of one of the primitives (also as `this->AddBuiltin(` or `tflite::...`).
_CALL = re.compile(r"\b(AddBuiltin|AddCustom)\s*\(")
#: The first argument of `AddBuiltin`: an enum constant, optionally qualified.
_BUILTIN_ARG = re.compile(r"(?:(?:::\s*)?tflite\s*::\s*)?BuiltinOperator_(\w+)")
#: The first argument of `AddCustom`: one or more (concatenated) string literals.
_CUSTOM_ARG = re.compile(r'(?:"(\d+)"\s*)+')
_PLACEHOLDER = re.compile(r'"(\d+)"')


@dataclass(frozen=True)
class OpCode:
    """An operator code as a model names it.

    `name` is the `BuiltinOperator` suffix for a builtin (`CONV_2D`) and the custom name
    for a custom op (`SignalDelay`).
    """

    kind: Literal["builtin", "custom"]
    name: str


def method_opcodes(header_text: str) -> dict[str, OpCode]:
    """For each `Add*` method of tflite::MicroMutableOpResolver defined in the header text
    (tensorflow/lite/micro/micro_mutable_op_resolver.h), the operator code it registers.

    Methods are returned sorted by name. `AddBuiltin` and `AddCustom` themselves, methods
    only declared (no body), and methods whose body does not name exactly one code by a
    constant or a string literal are left out. Overloads are kept only if they agree.
    """
    text, literals = _mask(header_text)
    found: dict[str, set[OpCode | None]] = {}
    for match in _METHOD.finditer(text):
        method = match.group(1)
        if method in _PRIMITIVES:
            continue
        body = _body(text, match.end() - 1)
        if body is None:
            continue
        found.setdefault(method, set()).add(_body_opcode(body, literals))
    mapped: dict[str, OpCode] = {}
    for method, codes in sorted(found.items()):
        code = codes.pop() if len(codes) == 1 else None
        if code is not None:
            mapped[method] = code
    return mapped


def builtin_values(enum_values: Iterable[tuple[str, int]]) -> dict[str, int]:
    """The `tflite::BuiltinOperator` constants as operator name -> value, sorted by value.

    `enum_values` are the enum's constants as written (`("BuiltinOperator_ADD", 0)`); the
    range markers `BuiltinOperator_MIN` / `_MAX` are dropped and the prefix is stripped, so
    the names match `OpCode.name` of builtins. A constant without the prefix, or one name
    given two values, raises ValueError: the input is not that enum.
    """
    values: dict[str, int] = {}
    for constant, value in enum_values:
        if constant in _RANGE_MARKERS:
            continue
        if not constant.startswith(_BUILTIN_PREFIX) or constant == _BUILTIN_PREFIX:
            raise ValueError(f"{constant!r} is not a BuiltinOperator constant")
        name = constant[len(_BUILTIN_PREFIX) :]
        if values.get(name, value) != value:
            raise ValueError(f"{constant} given two values: {values[name]} and {value}")
        values[name] = value
    return dict(sorted(values.items(), key=lambda item: (item[1], item[0])))


def _mask(text: str) -> tuple[str, list[str | None]]:
    """`text` with comments blanked and string literals replaced by `"<index>"`.

    Returns the masked text and each literal's content by index; None for a literal with
    an escape sequence, which is not read as a name (no custom op name has one).
    Character literals become `' '`. Newlines survive so positions stay on their lines.
    """
    literals: list[str | None] = []

    def replace(match: re.Match[str]) -> str:
        token = match.group(0)
        if token.startswith(("//", "/*")):
            return " " + "\n" * token.count("\n")
        if token.startswith("'"):
            return "' '"
        content = token[1:-1]
        literals.append(None if "\\" in content else content)
        return f'"{len(literals) - 1}"'

    return _NOISE.sub(replace, text), literals


def _close_paren(text: str, open_paren: int) -> int:
    """The index of the parenthesis closing the one at `open_paren` (len(text) if none)."""
    depth = 0
    for i in range(open_paren, len(text)):
        if text[i] == "(":
            depth += 1
        elif text[i] == ")":
            depth -= 1
            if depth == 0:
                return i
    return len(text)


def _body(text: str, open_paren: int) -> str | None:
    """The body (between its braces) of the method whose parameters open at `open_paren`,
    or None when it is only declared."""
    end = _method_end(text, open_paren)
    if end == 0 or end > len(text) or text[end - 1] != "}":
        return None
    start = text.find("{", _close_paren(text, open_paren), end)
    return text[start + 1 : end - 1] if start >= 0 else None


def _first_argument(body: str, open_paren: int) -> str:
    """The first argument of the call whose parenthesis is at `open_paren`, stripped."""
    depth = 0
    for i in range(open_paren + 1, len(body)):
        char = body[i]
        if char in "([{":
            depth += 1
        elif char in ")]}" and depth > 0:
            depth -= 1
        elif char in ",)" and depth == 0:
            return body[open_paren + 1 : i].strip()
    return body[open_paren + 1 :].strip()


def _call_opcode(primitive: str, argument: str, literals: list[str | None]) -> OpCode | None:
    """The code one `AddBuiltin` / `AddCustom` call registers, if its argument says."""
    if primitive == "AddBuiltin":
        builtin = _BUILTIN_ARG.fullmatch(argument)
        return OpCode("builtin", builtin.group(1)) if builtin else None
    if not _CUSTOM_ARG.fullmatch(argument):
        return None
    parts = [literals[int(index)] for index in _PLACEHOLDER.findall(argument)]
    if any(part is None for part in parts):
        return None
    name = "".join(part for part in parts if part is not None)
    return OpCode("custom", name) if name else None


def _body_opcode(body: str, literals: list[str | None]) -> OpCode | None:
    """The one code a method body registers; None if it names none, several, or one it
    computes."""
    codes = {
        _call_opcode(call.group(1), _first_argument(body, call.end() - 1), literals)
        for call in _CALL.finditer(body)
    }
    if len(codes) != 1:
        return None
    return codes.pop()
