"""CHANGELOG.md sections from API-change reports (the synthetic golden reports, and made-up
repetitive ones), and their insertion: at the top, in place of the same version, always the
same bytes."""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path

import pytest

from bindbot.diff.classify import Change
from bindbot.diff.report import DiffReport
from bindbot.package.changelog import (
    PREAMBLE,
    category,
    changelog_section,
    read_section,
    update_changelog,
)
from bindbot.upstream.repo import CommitInfo

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "synthetic"
OLD = CommitInfo("a" * 40, "2026-01-02T03:04:05Z", "old")
NEW = CommitInfo("b" * 40, "2026-02-03T04:05:06Z", "new")


def golden(name: str) -> DiffReport:
    data = json.loads((GOLDEN / f"{name}.json").read_text())
    changes = tuple(Change(**{**c, "rust_items": tuple(c["rust_items"])}) for c in data["changes"])
    return DiffReport("https://github.com/tensorflow/tflite-micro.git", OLD, NEW, "m", "n", changes)


def section(report: DiffReport, version: str = "0.2.0") -> str:
    return changelog_section(version, "2026-02-03", OLD, NEW, report)


def test_a_breaking_removal_is_called_out_with_its_rust_effect() -> None:
    text = section(golden("enum_value_removed"))
    assert text.startswith("## [0.2.0] - 2026-02-03\n\n")
    # The upstream range with commit links and a compare link.
    base = "https://github.com/tensorflow/tflite-micro"
    assert f"[`aaaaaaaaaa`]({base}/commit/{'a' * 40}) (2026-01-02)" in text
    assert f"[`bbbbbbbbbb`]({base}/commit/{'b' * 40}) (2026-02-03)" in text
    assert f"[compare]({base}/compare/{'a' * 40}...{'b' * 40})" in text
    assert "**1 breaking change to the Rust API** (see *Removed*)" in text
    removed = text.split("### Removed\n\n", 1)[1]
    assert removed.startswith("- **Breaking:** `TfLiteType::kTfLiteUInt8` enum value removed")
    assert "Rust: `tflm::TensorType::UInt8`, `tflm_sys::TfLiteType_kTfLiteUInt8`" in removed
    assert "### Added" not in text


def test_categories_follow_keep_a_changelog() -> None:
    added = golden("enum_value_added").changes[0]
    assert category(added) == "Added"
    assert category(dataclasses.replace(added, group="removed")) == "Removed"
    assert category(dataclasses.replace(added, group="moved")) == "Changed"
    deprecated = dataclasses.replace(added, group="changed", code="flag_added:deprecated")
    assert category(deprecated) == "Deprecated"
    undeprecated = dataclasses.replace(added, group="changed", code="flag_removed:deprecated")
    assert category(undeprecated) == "Changed"
    text = section(DiffReport("u", OLD, NEW, "m", "n", (deprecated, added)))
    assert text.index("### Added") < text.index("### Deprecated")


def test_unbound_upstream_changes_are_summarised_not_listed() -> None:
    text = section(golden("class_deleted"))
    assert "### Removed" in text
    assert "1 upstream C++ API change (removed) that no Rust item binds: " in text
    assert "`tflite::AllOpsResolver`" in text
    assert "Breaking" not in text  # the crate binds nothing of it


def test_repetitive_rows_are_grouped_with_a_count() -> None:
    base = golden("enum_value_added").changes
    value = next(c for c in base if c.entity == "TfLiteType")
    many = tuple(
        dataclasses.replace(
            value,
            member=f"kTfLiteNew{i:02}",
            change=f"`TfLiteType::kTfLiteNew{i:02}` enum value added: `{20 + i}`",
            rust_items=(f"tflm::TensorType::New{i:02}",),
        )
        for i in range(40)
    )
    text = section(DiffReport("u", OLD, NEW, "m", "n", many))
    added = [ln for ln in text.splitlines() if ln.startswith("- ")]
    assert len(added) == 1
    assert added[0].startswith("- 40 enum values added in `TfLiteType`: `kTfLiteNew00`, ")
    assert "and 36 more" in added[0] and "Rust: new `tflm::TensorType::New00`" in added[0]
    # Two alike rows stay separate lines.
    two = section(DiffReport("u", OLD, NEW, "m", "n", many[:2]))
    assert len([ln for ln in two.splitlines() if ln.startswith("- ")]) == 2


def test_breaking_entries_come_first_in_their_category() -> None:
    changes = golden("method_removed").changes + golden("param_added_default").changes
    changes += golden("header_moved_forwarding").changes
    text = section(DiffReport("u", OLD, NEW, "m", "n", changes))
    changed = text.split("### Changed\n\n", 1)[1].split("\n### ", 1)[0]
    lines = [ln for ln in changed.splitlines() if ln]
    assert all(not ln.startswith("- **Breaking") for ln in lines)  # none breaking here
    assert "parameter added with a default" in changed
    # Rows of one kind across entities merge too, with the effect they share.
    assert "- 10 declarations moved (old headers forward): `TfLiteContext`, " in changed
    assert "and 6 more. Rust: none for Rust users" in changed
    removed = text.split("### Removed\n\n", 1)[1]
    assert removed.startswith("- **Breaking:** `tflite::MicroInterpreter::arena_used_bytes`")


def test_no_api_change_still_says_what_moved() -> None:
    text = section(DiffReport("/src/tflite-micro", OLD, NEW, "m", "m", ()))
    assert "### Changed\n\n- tflite-micro moves to `bbbbbbbbbb`: no API change" in text
    # A local path upstream links the official repository.
    assert "https://github.com/tensorflow/tflite-micro/commit/" in text
    assert "Breaking" not in text and "breaking" not in text


def test_sections_are_deterministic() -> None:
    report = golden("method_renamed")
    assert section(report) == section(report)


def test_update_inserts_at_the_top_and_replaces_the_same_version() -> None:
    first = update_changelog(None, section(golden("class_deleted"), "0.2.0"), "0.2.0")
    assert first.startswith(PREAMBLE) and "Keep a Changelog" in first
    assert "https://keepachangelog.com/en/1.1.0/" in first
    second = update_changelog(first, section(golden("enum_value_added"), "0.3.0"), "0.3.0")
    assert re.findall(r"^## \[(.+?)\]", second, re.M) == ["0.3.0", "0.2.0"]
    # The pull request is updated in place: the same version's section is replaced.
    redo = section(golden("method_removed"), "0.3.0")
    third = update_changelog(second, redo, "0.3.0")
    assert re.findall(r"^## \[(.+?)\]", third, re.M) == ["0.3.0", "0.2.0"]
    assert read_section(third, "0.3.0") == redo.split("\n", 1)[1].strip("\n") + "\n"
    assert "kTfLiteInt4" not in third  # the old 0.3.0 text is gone
    assert read_section(third, "0.2.0") == read_section(first, "0.2.0")
    # Applying the same update again changes nothing.
    assert update_changelog(third, redo, "0.3.0") == third
    assert read_section(third, "9.9.9") is None


def test_a_hand_kept_unreleased_section_stays_on_top() -> None:
    existing = (
        "# Changelog\n\nOur notes.\n\n## [Unreleased]\n\n- docs\n\n## [0.1.0] - 2026-01-01\n\n"
        "- first\n"
    )
    text = update_changelog(existing, section(golden("class_deleted"), "0.2.0"), "0.2.0")
    assert re.findall(r"^## \[(.+?)\]", text, re.M) == ["Unreleased", "0.2.0", "0.1.0"]
    assert text.startswith("# Changelog\n\nOur notes.\n\n## [Unreleased]")
    assert text.endswith("- first\n")


@pytest.mark.parametrize("name", sorted(p.stem for p in GOLDEN.glob("*.json")))
def test_every_golden_report_makes_a_well_formed_section(name: str) -> None:
    text = section(golden(name))
    assert text.endswith("\n") and not text.endswith("\n\n")
    headings = re.findall(r"^### (\w+)", text, re.M)
    assert headings == sorted(headings, key=["Added", "Changed", "Deprecated", "Removed"].index)
    assert headings, "every section says something changed"
    assert "\n\n\n" not in text
