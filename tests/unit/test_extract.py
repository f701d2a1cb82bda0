"""The extractor on tiny hand-written trees: builtin headers, defines, invalid declarations."""

from __future__ import annotations

from pathlib import Path

import pytest

from bindbot.api.extract import Extractor, ParseSetup, find_resource_dir
from bindbot.api.model import FunctionEntity, RecordEntity
from bindbot.errors import HeaderParseError, ToolMissingError
from bindbot.runner import RecordingRunner, subprocess_runner

LOG = "tensorflow/lite/micro/micro_log.h"


def _extract(tmp_path: Path, text: str, defines: tuple[str, ...] = ()) -> Extractor:
    header = tmp_path / LOG
    header.parent.mkdir(parents=True, exist_ok=True)
    header.write_text(text)
    return Extractor(ParseSetup((), find_resource_dir(None, subprocess_runner), defines))


def test_size_t_is_not_int_and_defines_apply(tmp_path: Path) -> None:
    text = (
        "#include <stddef.h>\n"
        "namespace tflite {\n"
        "#ifdef TF_LITE_STATIC_MEMORY\nsize_t Arena(size_t n);\n#else\nint Arena(int n);\n#endif\n"
        "}\n"
    )
    model, files = _extract(tmp_path, text, ("TF_LITE_STATIC_MEMORY",)).extract(tmp_path, [LOG])
    arena = model.get("tflite::Arena")
    assert isinstance(arena, FunctionEntity)
    assert arena.overloads[0].params[0].canonical == "unsigned long"
    assert files == (LOG,)
    plain, _ = _extract(tmp_path, text).extract(tmp_path, [LOG])
    other = plain.get("tflite::Arena")
    assert isinstance(other, FunctionEntity) and other.overloads[0].return_type == "int"


def test_invalid_declarations_are_flagged_not_emitted(tmp_path: Path) -> None:
    text = "namespace tflite {\nvoid Good(int x);\nUnknownType* Bad(int x);\n}\n"
    with pytest.raises(HeaderParseError) as info:
        _extract(tmp_path, text).extract(tmp_path, [LOG])
    assert "unknown type name 'UnknownType'" in info.value.problem
    assert "micro_log.h:3" in info.value.problem


def test_private_members_and_namespaces_are_not_api(tmp_path: Path) -> None:
    text = (
        "namespace tflite {\nnamespace internal { void Hidden(); }\n"
        "class Thing {\n public:\n  Thing(const Thing&) = delete;\n  int Get() const;\n"
        '  [[deprecated("use Get")]] int Old();\n private:\n  int secret_;\n};\n}\n'
    )
    model, _ = _extract(tmp_path, text).extract(tmp_path, [LOG])
    assert model.get("tflite::internal::Hidden") is None
    thing = model.get("tflite::Thing")
    assert isinstance(thing, RecordEntity)
    assert thing.fields == ()
    assert [c.flags for c in thing.constructors] == [("deleted",)]
    methods = {m.name: m for m in thing.methods}
    assert methods["Get"].flags == ("const",)
    assert methods["Old"].flags == ("deprecated",)
    assert methods["Old"].deprecation == "use Get"


def test_missing_builtin_headers_name_the_package(tmp_path: Path) -> None:
    with pytest.raises(ToolMissingError, match=r"stddef\.h"):
        find_resource_dir(tmp_path, RecordingRunner())


def test_unnamed_types_do_not_leak_paths(tmp_path: Path) -> None:
    text = (
        "namespace tflite {\nstruct Params {\n  struct {\n    int width;\n  } padding;\n"
        "  union { int i; float f; } value;\n};\n}\n"
    )
    model, _ = _extract(tmp_path, text).extract(tmp_path, [LOG])
    params = model.get("tflite::Params")
    assert isinstance(params, RecordEntity)
    types = {f.name: (f.type, f.canonical) for f in params.fields}
    assert types["padding"] == ("struct (unnamed struct)", "tflite::Params::(unnamed struct)")
    assert str(tmp_path) not in model.to_json()
    assert "micro_log.h:" not in model.to_json()
