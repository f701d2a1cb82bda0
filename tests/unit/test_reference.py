"""The reference's pure parts: the case manifest, tolerances, test-data decoding, and the
verdict lines verify reads from the host tests and the firmware."""

from __future__ import annotations

import struct
import wave
from pathlib import Path

import pytest

from bindbot.errors import ConfigError
from bindbot.reference.cases import (
    Case,
    Tensor,
    first_difference,
    pack,
    read_manifest,
    write_manifest,
)
from bindbot.reference.collect import FRAME, STRIDE, RunnerFailed, _bmp_gray, _pcm16
from bindbot.verify.matrix import case_verdicts, firmware_cases, reference_summary


def test_manifest_round_trips_and_sorts(tmp_path: Path) -> None:
    cases = [
        Case(
            "integration/a/b0",
            "cases/b0.tflite",
            1,
            (Tensor("int16", "i0"), Tensor("int16", "i1")),
            (Tensor("int16", "g"),),
            "upstream golden",
        ),
        Case(
            "examples/x",
            "models/x.tflite",
            0,
            (Tensor("int8", "x"),),
            (Tensor("int8", "y"),),
            "reference runner",
        ),
    ]
    path = tmp_path / "cases.tsv"
    write_manifest(path, cases)
    assert [c.name for c in read_manifest(path)] == ["examples/x", "integration/a/b0"]
    assert read_manifest(path)[1] == cases[0]
    assert path.read_text().splitlines()[0].startswith("# name\tmodel")


def test_corrupted_manifest_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "cases.tsv"
    path.write_text("examples/x\tmodels/x.tflite\t0\tint99:x\tint8:y\tsrc\n")
    with pytest.raises(ConfigError, match=r"cases\.tsv:1"):
        read_manifest(path)


def test_tolerance_is_per_element_and_floats_compare_as_numbers() -> None:
    a = pack("int16", [100, -5, 7])
    assert first_difference("int16", a, pack("int16", [101, -6, 7]), 1) is None
    assert (
        first_difference("int16", a, pack("int16", [102, -5, 7]), 1)
        == "element 0: expected 100, got 102"
    )
    assert (
        first_difference("int8", pack("int8", [1]), pack("int8", [1, 2]), 0)
        == "2 bytes where 1 were expected"
    )
    nan = float("nan")
    assert (
        first_difference("float32", pack("float32", [nan, 0.0]), pack("float32", [nan, -0.0]), 0)
        is None
    )
    assert (
        first_difference("float32", pack("float32", [1.0]), pack("float32", [nan]), 0) is not None
    )


def test_wav_samples_and_frames(tmp_path: Path) -> None:
    path = tmp_path / "clip.wav"
    samples = list(range(-800, 800))
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes(struct.pack(f"<{len(samples)}h", *samples))
    assert _pcm16(path) == struct.pack(f"<{len(samples)}h", *samples)
    # 1600 samples: windows of 480 every 320 -> 4 frames, as micro_speech feeds them.
    assert len(range(0, len(samples) - FRAME + 1, STRIDE)) == 4


def _bmp(width: int, rows: list[bytes], top_down: bool = False) -> bytes:
    stride = (width + 3) // 4 * 4
    pixels = b"".join(r + b"\0" * (stride - width) for r in (rows if top_down else reversed(rows)))
    offset = 14 + 40 + 256 * 4
    height = -len(rows) if top_down else len(rows)
    header = b"BM" + struct.pack("<IHHI", offset + len(pixels), 0, 0, offset)
    info = struct.pack("<IiiHHIIiiII", 40, width, height, 1, 8, 0, len(pixels), 0, 0, 256, 0)
    return header + info + bytes(1024) + pixels


def test_bmp_rows_come_top_first_either_way(tmp_path: Path) -> None:
    rows = [bytes([1, 2, 3]), bytes([4, 5, 6])]
    for top_down in (False, True):
        path = tmp_path / f"{top_down}.bmp"
        path.write_bytes(_bmp(3, rows, top_down))
        assert _bmp_gray(path) == b"\x01\x02\x03\x04\x05\x06"
    path.write_bytes(b"GIF89a")
    with pytest.raises(RunnerFailed, match="not a BMP"):
        _bmp_gray(path)


def test_host_summary_and_firmware_verdicts(tmp_path: Path) -> None:
    summary = tmp_path / "s.tsv"
    summary.write_text("a\tok\t\nb\tFAIL\toutput 0, element 3: expected 1, got 2\n")
    assert reference_summary(summary) == {
        "a": (True, ""),
        "b": (False, "output 0, element 3: expected 1, got 2"),
    }
    assert reference_summary(tmp_path / "missing") == {}
    text = (
        "case integration/seanet/add/add0: ok\n"
        "case examples/hello_world/float: largest float difference 120e-9 relative: ok\n"
        "case other/x: output 0 element 7; DIFFERENT\n"
        "reference: 2 of 3 cases match (shard 1 of 2)\n"
    )
    assert case_verdicts(text) == [
        (True, "integration/seanet/add/add0"),
        (True, "examples/hello_world/float"),
        (False, "other/x: output 0 element 7"),
    ]


def test_firmware_example_lines_count_as_cases() -> None:
    lines = [
        "hello_world int8: 12 of 12 outputs equal to golden, largest difference 0e-9 "
        "(allowed 0e-9), arena 1184 bytes",
        "micro_speech yes_1000ms: scores 127 -128; equal to golden",
        "micro_speech no_1000ms: scores 1 2; DIFFERENT",
        "hello_world float: 10 of 12 outputs equal to golden, largest difference 3000e-9 "
        "(allowed 2000e-9)",
    ]
    assert firmware_cases(lines) == (4, 2)
