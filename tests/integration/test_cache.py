"""The model cache: keyed by parsed content and by the extractor, robust to damage."""

from __future__ import annotations

from pathlib import Path

import pytest

from bindbot import pipeline
from bindbot.api import extract
from bindbot.api.model import SCHEMA_VERSION
from bindbot.config import resolve
from bindbot.runner import subprocess_runner
from tests.conftest import synthetic_env
from tests.fixtures.synthetic import SyntheticUpstream


def _ctx(synthetic: SyntheticUpstream, cache: Path) -> pipeline.Context:
    config = resolve(cache.parent, environ=synthetic_env(synthetic, cache))
    return pipeline.Context(config, subprocess_runner, fetch=False)


def test_same_headers_share_one_entry(synthetic: SyntheticUpstream, tmp_path: Path) -> None:
    ctx = _ctx(synthetic, tmp_path / "cache")
    store, up = ctx.models(), ctx.upstream()
    first = store.model_at(up.resolve(synthetic.commits["op_added"]))
    same = store.model_at(up.resolve(synthetic.commits["non_api"]))  # only a .cc changed
    ctx.close()
    assert first.parsed and not same.parsed
    assert first.key == same.key


def test_new_extractor_version_invalidates(
    synthetic: SyntheticUpstream, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = tmp_path / "cache"
    ctx = _ctx(synthetic, cache)
    old = ctx.models().model_at(ctx.upstream().resolve("main"))
    ctx.close()
    monkeypatch.setattr(extract, "EXTRACTOR_VERSION", extract.EXTRACTOR_VERSION + 1)
    monkeypatch.setattr("bindbot.api.store.EXTRACTOR_VERSION", extract.EXTRACTOR_VERSION)
    ctx = _ctx(synthetic, cache)
    new = ctx.models().model_at(ctx.upstream().resolve("main"))
    ctx.close()
    assert new.parsed and new.key != old.key


def test_damaged_entry_is_parsed_again(synthetic: SyntheticUpstream, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    ctx = _ctx(synthetic, cache)
    snap = ctx.models().model_at(ctx.upstream().resolve("main"))
    ctx.close()
    entry = cache / "api" / f"v{SCHEMA_VERSION}" / "models" / f"{snap.key}.json"
    entry.write_text('{"schema": 1, "entit')  # a torn write from some other tool
    ctx = _ctx(synthetic, cache)
    again = ctx.models().model_at(ctx.upstream().resolve("main"))
    ctx.close()
    assert again.parsed and again.model == snap.model
