"""The shim's arena guard on every era of the real upstream's allocator API: what the plan
picks at a pin of each era (the shim compiles at each: `bindbot replay` and
tests/real/test_known_events.py generate there)."""

from __future__ import annotations

import pytest

from bindbot import pipeline
from bindbot.generate.plan import plan

ERAS = [
    # (commit, date, class, API, planner passed to MicroAllocator::Create)
    ("a37043ff7a42", "2021-04", "SimpleMemoryAllocator", "head_tail", False),
    ("c84f8c2e9846", "2021-11", "SimpleMemoryAllocator", "head_tail", True),
    ("419a97eb9c9f", "2022-06", "SimpleMemoryAllocator", "buffer", True),
    ("95761fcfd03f", "2022-09", "SingleArenaBufferAllocator", "buffer", True),
    ("90b983c2b3f1", "2026-08", "SingleArenaBufferAllocator", "buffer", True),
]


@pytest.mark.parametrize(("ref", "date", "cls", "api", "planner"), ERAS)
def test_every_allocator_era_gets_the_guard(
    real: pipeline.Context, ref: str, date: str, cls: str, api: str, planner: bool
) -> None:
    commit = real.upstream().resolve(ref)
    found = plan(real.models().model_at(commit).model, str(commit.id))
    assert found.arena_guard, f"{ref} ({date}): no arena guard"
    assert (found.arena_class, found.arena_api, found.arena_planner) == (cls, api, planner)
    assert found.arena_header.endswith(
        "simple_memory_allocator.h"
        if cls.startswith("Simple")
        else "single_arena_buffer_allocator.h"
    )
