"""Which files the packaged tflm-sys vendors, and the manifest its build script checks."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from bindbot.errors import PackageError
from bindbot.package.vendor import manifest_text, read_manifest, vendor_set
from bindbot.upstream.lock import Lock, LockedDep


def _tree(root: Path) -> Path:
    files = {
        "tflm/LICENSE": "Apache",
        "tflm/tensorflow/lite/micro/a.cc": '#include "tensorflow/lite/micro/a.h"\n'
        "#include <cstdint>\n#include <flatbuffers/base.h>\n",
        "tflm/tensorflow/lite/micro/a.h": '#if defined(ARM)\n#include "arm_only.h"\n#endif\n',
        "tflm/tensorflow/lite/micro/arm_only.h": "// only some targets include me\n",
        "tflm/tensorflow/lite/micro/unused.h": "// nobody includes me\n",
        "tflm/tensorflow/lite/micro/shim_needs.h": "// the shim includes me\n",
        "deps/flatbuffers/LICENSE": "Apache",
        "deps/flatbuffers/include/flatbuffers/base.h": '#include "flatbuffers/config.h"\n',
        "deps/flatbuffers/include/flatbuffers/config.h": "\n",
        "deps/flatbuffers/docs/huge.md": "not compiled",
    }
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    return root


def _lock() -> Lock:
    dep = LockedDep("flatbuffers", "https://example.invalid/fb.zip", "v1", None, "fb.patch", None)
    return Lock("https://example.invalid/tflm.git", "main", "a" * 40, "2026-01-01", "x", (dep,))


def test_vendors_the_include_closure_and_licenses(tmp_path: Path) -> None:
    root = _tree(tmp_path)
    shim = b'#include "tensorflow/lite/micro/shim_needs.h"\n'
    found = vendor_set(root, ["tensorflow/lite/micro/a.cc"], [shim])
    assert [f.path for f in found.files] == [
        "deps/flatbuffers/LICENSE",
        "deps/flatbuffers/include/flatbuffers/base.h",
        "deps/flatbuffers/include/flatbuffers/config.h",
        "tflm/LICENSE",
        "tflm/tensorflow/lite/micro/a.cc",
        "tflm/tensorflow/lite/micro/a.h",
        # Behind an #if: still carried, so one package builds for every target.
        "tflm/tensorflow/lite/micro/arm_only.h",
        "tflm/tensorflow/lite/micro/shim_needs.h",
    ]
    base = next(f for f in found.files if f.path.endswith("base.h"))
    assert (base.project, base.upstream_path) == ("flatbuffers", "include/flatbuffers/base.h")


def test_manifest_lists_every_file_with_its_hash(tmp_path: Path) -> None:
    root = _tree(tmp_path)
    found = vendor_set(root, ["tensorflow/lite/micro/a.cc"], [])
    text = manifest_text(found, _lock())
    assert (
        "# project\tflatbuffers\thttps://example.invalid/fb.zip\tv1\tpatched with fb.patch" in text
    )
    hashes = read_manifest(text)
    assert set(hashes) == {f.path for f in found.files}
    for path, digest in hashes.items():
        assert hashlib.sha256((root / path).read_bytes()).hexdigest() == digest


def test_a_project_without_a_license_is_refused(tmp_path: Path) -> None:
    root = _tree(tmp_path)
    (root / "deps/flatbuffers/LICENSE").unlink()
    with pytest.raises(PackageError, match="no license file found for vendored project"):
        vendor_set(root, ["tensorflow/lite/micro/a.cc"], [])


def test_a_listed_source_missing_from_the_tree_is_refused(tmp_path: Path) -> None:
    root = _tree(tmp_path)
    with pytest.raises(PackageError, match="not in the source tree"):
        vendor_set(root, ["tensorflow/lite/micro/gone.cc"], [])
