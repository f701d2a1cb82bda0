"""`bindbot reference` on the real upstream at the crate's pin: the runner is built from the
pinned sources (slow the first time: the TFLM library, ~5 min on 2 cores; its objects are
cached per pin), then every example model, per-op integration test and other model runs."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import pytest

from bindbot import pipeline
from bindbot.reference.collect import INTEGRATION
from bindbot.upstream.lock import read_lock

CRATE = Path(__file__).resolve().parents[2] / "rust_crate"
GOLDEN = Path(__file__).resolve().parents[3] / "shared" / "golden"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("g++") is None, reason="g++ is not installed"),
]


@pytest.fixture(scope="module")
def made(real: pipeline.Context) -> pipeline.ReferenceSet:
    ctx = pipeline.Context(
        dataclasses.replace(real.config, crate_dir=CRATE), real.runner, fetch=False
    )
    return pipeline.reference(ctx)


def test_every_integration_test_of_the_pin_is_a_case(real: pipeline.Context, made) -> None:
    upstream = real.upstream()
    commit = upstream.resolve(read_lock(CRATE / "bindbot.lock").commit)
    tree = commit.tree / INTEGRATION
    models: list[str] = []

    def walk(node, prefix: str) -> None:
        for entry in node:
            if entry.type_str == "tree":
                walk(entry, f"{prefix}{entry.name}/")
            elif entry.name.endswith(".tflite"):
                models.append(f"integration/{prefix}{entry.name.removesuffix('.tflite')}")

    walk(tree, "")
    names = {c.name for c in made.cases}
    assert models and set(models) <= names, sorted(set(models) - names)[:5]
    # The runner reproduces upstream's own golden data within upstream's tolerance.
    assert made.disagreements == {}
    assert made.counts()["examples"] >= 20


@pytest.mark.skipif(not GOLDEN.is_dir(), reason=f"no golden fixtures at {GOLDEN}")
def test_example_data_equals_the_official_interpreters(made) -> None:
    """`../shared/golden` was made with the official Python interpreter at 90b983c2; the
    reference derives the same inputs from the tree and the runner computes the same
    outputs, byte for byte."""
    if made.commit != "90b983c2b3f1480642e040bbd2ddb37b998f3424":
        pytest.skip(f"the golden folder is for 90b983c2, the pin is {made.commit[:12]}")
    files = [p.relative_to(GOLDEN) for p in GOLDEN.rglob("*") if p.is_file()]
    files = [f for f in files if f.parts[0] in ("models", "inputs", "outputs")]
    assert len(files) >= 30
    different = [f for f in files if (made.root / f).read_bytes() != (GOLDEN / f).read_bytes()]
    assert different == []
