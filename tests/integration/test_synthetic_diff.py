"""`bindbot diff` over every kind of change the synthetic upstream reproduces.

Each step is diffed against the one before it. The assertions name the change each step
must produce; the golden files pin the whole report text (BINDBOT_UPDATE_GOLDEN=1 rewrites).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import UPDATE_GOLDEN, Cli
from tests.fixtures.synthetic import STEP_NAMES, SyntheticUpstream

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "synthetic"

# step -> (a change code it must report, that change's level, expected exit status)
EXPECTED: dict[str, tuple[str | None, str | None, int]] = {
    "param_added_default": ("param_added_default", "additive", 1),
    "param_added_required": ("param_added", "breaking", 2),
    "param_removed": ("param_removed", "breaking", 2),
    "method_removed": ("method_removed", "breaking", 2),
    "method_renamed": ("method_renamed", "breaking", 2),
    "enum_value_added": ("enum_value_added", "additive", 1),
    "enum_value_removed": ("enum_value_removed", "breaking", 2),
    "field_type_changed": ("field_type_changed", "breaking", 2),
    "class_deleted": ("entity_removed", "breaking", 2),
    "header_moved_forwarding": ("moved_forwarding", "additive", 1),
    "header_moved_no_forwarding": ("moved", "needs-review", 1),
    "op_added": ("method_added", "additive", 1),
    "non_api": (None, None, 0),
    "dep_bumped": (None, None, 0),
    "debug_log_changed": ("signature_changed", "breaking", 2),
}


def _normalise(text: str, up: SyntheticUpstream) -> str:
    return text.replace(str(up.path), "<upstream>")


def _check_golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if UPDATE_GOLDEN:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        return
    assert path.is_file(), f"missing golden {path}; run with BINDBOT_UPDATE_GOLDEN=1"
    assert text == path.read_text(), f"{name} differs; BINDBOT_UPDATE_GOLDEN=1 to accept"


def test_every_step_has_an_expectation() -> None:
    assert set(STEP_NAMES) - {"base"} == set(EXPECTED)


@pytest.mark.parametrize("step", list(EXPECTED))
def test_step_report(cli: Cli, synthetic: SyntheticUpstream, step: str) -> None:
    names = list(synthetic.commits)
    old = synthetic.commits[names[names.index(step) - 1]]
    new = synthetic.commits[step]
    code, level, status = EXPECTED[step]

    result = cli("diff", "--offline", old, new, "--format", "json")
    assert result.code == status, result.err
    report = json.loads(result.out)
    codes = {(c["code"], c["level"]) for c in report["changes"]}
    if code is None:
        assert report["changes"] == []
        assert report["old"]["model"] == report["new"]["model"]
    else:
        assert (code, level) in codes, codes
    if step == "header_moved_forwarding":
        assert all(c["level"] != "breaking" for c in report["changes"])
        assert all(c["group"] == "moved" for c in report["changes"])
    _check_golden(f"{step}.json", _normalise(result.out, synthetic))

    md = cli("diff", "--offline", old, new)
    assert md.code == status
    _check_golden(f"{step}.md", _normalise(md.out, synthetic))


def test_specific_texts(cli: Cli, synthetic: SyntheticUpstream) -> None:
    """Spot checks of what a maintainer reads, beyond codes."""
    c = synthetic.commits
    removed = json.loads(
        cli(
            "diff", "--offline", c["param_added_required"], c["param_removed"], "--format", "json"
        ).out
    )
    texts = [ch["change"] for ch in removed["changes"]]
    assert any("error_reporter" in t for t in texts)
    # The shim never passed the error reporter: the safe crate is untouched.
    assert removed["semver"]["impact"] == "none"

    renamed = json.loads(
        cli("diff", "--offline", c["method_removed"], c["method_renamed"], "--format", "json").out
    )
    change = next(ch for ch in renamed["changes"] if ch["code"] == "method_renamed")
    assert "inputs_size" in change["old"] and "num_inputs" in change["new"]
    assert "tflm::MicroInterpreter::inputs_len" in change["rust_items"]

    op = json.loads(
        cli(
            "diff", "--offline", c["header_moved_no_forwarding"], c["op_added"], "--format", "json"
        ).out
    )
    added = next(ch for ch in op["changes"] if ch["code"] == "method_added")
    assert "tflm::OpResolver::add_softmax" in added["rust_items"]
    assert op["semver"]["bump"] == "minor" and op["semver"]["bump_0x"] == "patch"

    deleted = json.loads(
        cli(
            "diff", "--offline", c["field_type_changed"], c["class_deleted"], "--format", "json"
        ).out
    )
    gone = next(ch for ch in deleted["changes"] if ch["code"] == "entity_removed")
    assert "tflite::MicroMutableOpResolver" in gone["fix"]  # upstream's replacement


def test_static_memory_define_is_honoured(cli: Cli, synthetic: SyntheticUpstream) -> None:
    model = json.loads(cli("api", "--offline", synthetic.commits["base"]).out)
    tensor = next(e for e in model["entities"] if e["name"] == "TfLiteTensor")
    names = [f["name"] for f in tensor["fields"]]
    assert "name" not in names and "bytes" in names  # the TF_LITE_STATIC_MEMORY branch
    size_t = next(
        p
        for e in model["entities"]
        if e["name"] == "tflite::MicroInterpreter"
        for ctor in e["constructors"]
        for p in ctor["params"]
        if p["name"] == "tensor_arena_size"
    )
    assert size_t["canonical"] == "unsigned long"  # not int: builtin headers were found


def test_model_json_is_byte_identical_across_runs(
    cli: Cli, synthetic: SyntheticUpstream, tmp_path: Path
) -> None:
    first = cli("api", "--offline", synthetic.commits["op_added"]).out
    second = cli(
        "api", "--offline", synthetic.commits["op_added"], BINDBOT_CACHE=str(tmp_path / "cold")
    ).out
    assert first == second
    assert json.loads(first)["entities"] == sorted(
        json.loads(first)["entities"], key=lambda e: (e["name"], e["kind"])
    )
