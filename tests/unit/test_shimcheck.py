"""The shim compile proof: real compilers on a tiny tree, so a broken shim is refused."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from bindbot.errors import GenerationError
from bindbot.generate import shimcheck
from bindbot.generate.shimcheck import check_shim
from bindbot.runner import subprocess_runner

HEADER = """#pragma once
#include <stdint.h>
struct TfLiteIntArray { int size; int data[4]; };
int BytesRequired(const TfLiteIntArray* dims, int* bytes);
"""


def _tree(tmp_path: Path) -> Path:
    (tmp_path / "tflm" / "tensorflow").mkdir(parents=True)
    (tmp_path / "tflm" / "tensorflow" / "api.h").write_text(HEADER)
    return tmp_path


def _shim(body: str) -> dict[str, str]:
    return {
        "tflm_shim.h": "#pragma once\n",
        "tflm_shim.cc": f'#include "tflm_shim.h"\n#include "tensorflow/api.h"\n{body}\n',
    }


@pytest.mark.skipif(shutil.which("c++") is None, reason="needs a C++ compiler")
def test_a_shim_that_compiles_passes(tmp_path: Path) -> None:
    body = "int f(const TfLiteIntArray* d) { int b; return BytesRequired(d, &b); }"
    check_shim(subprocess_runner, _shim(body), _tree(tmp_path), ("TFLM_OP_ADD",), "a" * 40)


@pytest.mark.skipif(shutil.which("c++") is None, reason="needs a C++ compiler")
def test_a_call_with_the_old_signature_is_refused_naming_it(tmp_path: Path) -> None:
    # As the shim called BytesRequiredForTensor with the ErrorReporter* it lost in 2022.
    body = "int f(const TfLiteIntArray* d) { int b; return BytesRequired(d, &b, nullptr); }"
    with pytest.raises(GenerationError) as raised:
        check_shim(subprocess_runner, _shim(body), _tree(tmp_path), (), "b" * 40)
    assert raised.value.exit_code == 75
    assert "tflm_shim.cc:3:" in raised.value.problem
    assert "BytesRequired" in raised.value.problem
    assert "bbbbbbbbbbbb" in raised.value.problem


@pytest.mark.skipif(shutil.which("arm-none-eabi-g++") is None, reason="needs arm-none-eabi-g++")
def test_a_type_only_32_bit_targets_reject_is_refused(tmp_path: Path) -> None:
    # int32_t is `int` on the host and `long` on arm-none-eabi: the host alone accepts this.
    body = "const int32_t* f(const TfLiteIntArray* d) { return d->data; }"
    with pytest.raises(GenerationError) as raised:
        check_shim(subprocess_runner, _shim(body), _tree(tmp_path), (), "c" * 40)
    assert "arm-none-eabi-g++" in raised.value.problem


def test_the_check_uses_the_build_scripts_includes_and_language_flags() -> None:
    # The proof must compile as tflm-sys's build script does, or it proves the wrong thing.
    build_rs = (Path(__file__).parents[2] / "templates/files/tflm-sys/build.rs").read_text()

    def array(name: str) -> list[str]:
        match = re.search(rf"const {name}: [^=]+= &?\[(.*?)\];", build_rs, re.S)
        assert match, name
        return re.findall(r'"([^"]+)"', match.group(1))

    assert array("INCLUDE_DIRS") == list(shimcheck.INCLUDE_DIRS)
    for flag in array("CXX_FLAGS") + array("ENUM_FLAGS") + ["-DTF_LITE_STATIC_MEMORY"]:
        assert flag in shimcheck.FLAGS, flag
