"""Known events of the real upstream must be reported as what they were."""

from __future__ import annotations

from pathlib import Path

import pytest

from bindbot import pipeline
from bindbot.diff.classify import Change
from bindbot.upstream.deps import read_pins


def _diff(ctx: pipeline.Context, sha: str) -> list[Change]:
    return list(pipeline.diff(ctx, f"{sha}~1", sha).changes)


def test_error_reporter_constructors_removed_2022(real: pipeline.Context) -> None:
    # 21bd77c62 "Remove TFLM Framework support to using ErrorReporter" (2022-10-19)
    changes = _diff(real, "21bd77c62")
    ctors = [
        c
        for c in changes
        if c.entity == "tflite::MicroInterpreter" and c.code == "constructor_removed"
    ]
    assert len(ctors) == 2
    assert all("ErrorReporter" in (c.old or "") and c.level == "breaking" for c in ctors)
    assert all(c.crate_impact == "none" for c in ctors)  # the shim's constructor survives


def test_error_reporter_free_constructors_added_2022(real: pipeline.Context) -> None:
    # 95761fcfd "TFLite Micro framework changes to support log refactor" (2022-09-19)
    changes = _diff(real, "95761fcfd")
    added = [
        c
        for c in changes
        if c.entity == "tflite::MicroInterpreter" and c.code == "constructor_added"
    ]
    assert added and all("ErrorReporter" not in (c.new or "") for c in added)


def test_all_ops_resolver_deleted_2023(real: pipeline.Context) -> None:
    # e344f4b6b "Regenerates Integration_Test and depricates AllOpsResolver" (2023-05-15)
    changes = _diff(real, "e344f4b6b")
    gone = [c for c in changes if c.entity == "tflite::AllOpsResolver"]
    assert [(c.code, c.level) for c in gone] == [("entity_removed", "breaking")]
    assert "tflite::MicroMutableOpResolver" in gone[0].fix


def test_debug_log_signature_change_2023(real: pipeline.Context) -> None:
    # ef0a7b025 "DebugLog changes" (2023-07-06)
    changes = _diff(real, "ef0a7b025")
    debug = [c for c in changes if c.entity == "DebugLog"]
    assert [c.code for c in debug] == ["signature_changed"]
    assert "const char * s" in (debug[0].old or "")
    assert "va_list" in (debug[0].new or "")


def test_micro_error_reporter_gives_way_to_micro_printf(real: pipeline.Context) -> None:
    # 2aa7f3ae1 "Introduce tflite_bridge to hide MicroErrorReporter" (2022-11-18)
    changes = _diff(real, "2aa7f3ae1")
    gone = [c for c in changes if c.entity == "tflite::MicroErrorReporter"]
    assert gone and gone[0].code == "entity_removed"
    assert "`MicroPrintf`" in gone[0].fix


def test_common_h_move_is_a_move_with_forwarding(real: pipeline.Context) -> None:
    # e7bde952c "Fix the TF --> TFLM sync" (2022-11-17): lite/c/common.h -> lite/core/c/common.h
    changes = _diff(real, "e7bde952c")
    tensor = [c for c in changes if c.entity == "TfLiteTensor"]
    assert [c.code for c in tensor] == ["moved_forwarding"]
    assert tensor[0].old == "tensorflow/lite/c/common.h"
    assert tensor[0].new == "tensorflow/lite/core/c/common.h"
    assert not [c for c in changes if c.level == "breaking"]


@pytest.mark.parametrize(
    ("sha", "method"), [("ef382bdaa", "AddReduceAll"), ("62cbc8e3e", "AddDynamicUpdateSlice")]
)
def test_ops_added_are_additive(real: pipeline.Context, sha: str, method: str) -> None:
    changes = _diff(real, sha)
    added = [c for c in changes if c.member == method]
    assert [(c.code, c.level, c.crate_impact) for c in added] == [
        ("method_added", "additive", "additive")
    ]


def test_custom_registrations_for_builtins_are_compatible(real: pipeline.Context) -> None:
    # 55a3cbeb1 (2025-08-19): every Add* method gained a defaulted registration parameter.
    changes = _diff(real, "55a3cbeb1")
    resolver = [c for c in changes if c.entity == "tflite::MicroMutableOpResolver"]
    assert len(resolver) > 50
    assert not [c for c in resolver if c.level == "breaking"], [
        c.change for c in resolver if c.level == "breaking"
    ][:3]


def test_pins_at_head(real: pipeline.Context) -> None:
    up = real.upstream()
    pins = {p.name: p for p in read_pins(up, up.resolve("90b983c2"))}
    assert pins["flatbuffers"].ref == "v25.9.23"
    assert pins["gemmlowp"].ref == "719139ce755a0f31cbf1c37f7f98adcc7fc9f425"
    assert pins["kissfft"].ref == "v130"


@pytest.mark.slow
def test_history_of_a_year_then_warm(real: pipeline.Context, tmp_path: Path) -> None:
    timeline, _ = pipeline.history(real, "e344f4b6b~1", "1c133471c", tmp_path / "h")
    assert timeline.failures == ()
    subjects = [e.commit.sha[:9] for e in timeline.entries]
    assert "e344f4b6b" in subjects and "ef0a7b025" in subjects
    again, _ = pipeline.history(real, "e344f4b6b~1", "1c133471c", tmp_path / "h")
    assert again.parsed == 0 and again.entries == timeline.entries
