"""API models per upstream commit, cached by the content of the headers that were parsed.

A cache key is the hash of: the model schema, the parse settings, the pinned dependencies
the parse reads, and the blob id of every upstream file the parse read (its include closure,
which libclang reports). Commits that change no such file share one entry, so a history over
thousands of commits parses only the few hundred states the API actually went through, and
a second run parses nothing. Entries are written atomically and only after a clean parse.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pygit2

from bindbot.api.extract import (
    EXTRACTOR_VERSION,
    Extractor,
    ParseSetup,
    find_resource_dir,
    libclang_version,
)
from bindbot.api.model import SCHEMA_VERSION, ApiModel
from bindbot.api.surface import API_HEADERS, is_header
from bindbot.config import Config
from bindbot.fsutil import write_atomic
from bindbot.runner import Runner
from bindbot.upstream.deps import DOWNLOADS_INC, MAKE_DIR, DependencyStore, Pin, read_pins
from bindbot.upstream.repo import Upstream

#: The dependencies whose headers the API headers include (schema_generated.h needs
#: flatbuffers; the op resolver's kernel headers need gemmlowp's fixedpoint).
PARSE_DEPS = ("flatbuffers", "gemmlowp")

#: Upstream files that decide the dependency pins: a change there can change the parse.
PIN_FILES = (DOWNLOADS_INC, f"{MAKE_DIR}/flatbuffers_download.sh", f"{MAKE_DIR}/flatbuffers.patch")


@dataclass(frozen=True)
class Snapshot:
    """The API model of one commit, and the cache key it is stored under."""

    model: ApiModel
    key: str
    parsed: bool  # False when served from the cache


class ModelStore:
    """Produces `ApiModel`s for commits of one upstream, through the cache."""

    def __init__(
        self, config: Config, upstream: Upstream, deps: DependencyStore, runner: Runner
    ) -> None:
        self.config = config
        self.upstream = upstream
        self.deps = deps
        self.runner = runner
        self.root = config.cache_dir / "api" / f"v{SCHEMA_VERSION}"
        self._extractor: Extractor | None = None
        self._setup_id: str | None = None
        self._export_dir: Path | None = None
        self._exported: pygit2.Commit | None = None
        self._deplists: list[tuple[str, ...]] | None = None

    # -- public ---------------------------------------------------------------------------
    def model_at(self, commit: pygit2.Commit) -> Snapshot:
        # The memo lives under the setup's hash: a new extractor, libclang or define set
        # must never follow an old memo to a model it would not produce.
        setup = hashlib.sha256(self._setup_identity().encode()).hexdigest()[:16]
        memo = self.root / "commits" / setup / str(commit.id)
        if memo.is_file():
            key = memo.read_text(encoding="utf-8").strip()
            model = self._load(key)
            if model is not None:
                return Snapshot(model, key, parsed=False)
        pins = self._parse_pins(commit)
        for deplist in self._known_deplists():
            key = self._key(commit, pins, deplist)
            model = self._load(key)
            if model is not None:
                write_atomic(memo, key + "\n")
                return Snapshot(model, key, parsed=False)
        model, deplist = self._parse(commit, pins)
        key = self._key(commit, pins, deplist)
        write_atomic(self.root / "models" / f"{key}.json", model.to_json())
        self._remember(deplist)
        write_atomic(memo, key + "\n")
        return Snapshot(model, key, parsed=True)

    def content_ids(self, commit: pygit2.Commit) -> tuple[str, ...]:
        """A cheap fingerprint of everything the newest parse read: equal ids, equal model."""
        paths = sorted(set(API_HEADERS) | set(PIN_FILES) | set(self._latest_deplist()))
        return self.upstream.blob_ids(commit, paths)

    def close(self) -> None:
        if self._export_dir is not None:
            shutil.rmtree(self._export_dir, ignore_errors=True)
            self._export_dir = None

    # -- keys -----------------------------------------------------------------------------
    def _parse_pins(self, commit: pygit2.Commit) -> tuple[Pin, ...]:
        return tuple(p for p in read_pins(self.upstream, commit) if p.name in PARSE_DEPS)

    def _key(self, commit: pygit2.Commit, pins: tuple[Pin, ...], deplist: tuple[str, ...]) -> str:
        files = sorted(set(deplist) | set(API_HEADERS))
        payload = {
            "schema": SCHEMA_VERSION,
            "setup": self._setup_identity(),
            "pins": [f"{p.name}@{p.cache_key}" for p in pins],
            "files": dict(zip(files, self.upstream.blob_ids(commit, files), strict=True)),
        }
        raw = json.dumps(payload, sort_keys=True).encode()
        return hashlib.sha256(raw).hexdigest()

    def _setup_identity(self) -> str:
        if self._setup_id is None:
            resource = find_resource_dir(self.config.clang_resource_dir, self.runner)
            self._setup_id = json.dumps(
                # The header list is part of the setup: the per-commit memo must not hand
                # back a model parsed from fewer headers than the surface names now.
                [
                    EXTRACTOR_VERSION,
                    libclang_version(),
                    str(resource),
                    list(self.config.defines),
                    sorted(API_HEADERS),
                ]
            )
        return self._setup_id

    # -- dependency lists ----------------------------------------------------------------
    def _deplist_file(self) -> Path:
        return self.root / "deplists.json"

    def _known_deplists(self) -> list[tuple[str, ...]]:
        if self._deplists is None:
            try:
                data = json.loads(self._deplist_file().read_text(encoding="utf-8"))
                self._deplists = [tuple(d) for d in data]
            except FileNotFoundError:
                self._deplists = []
            except (ValueError, TypeError):
                self._deplists = []  # a damaged index only costs re-parses, never wrong models
        return self._deplists

    def _latest_deplist(self) -> tuple[str, ...]:
        lists = self._known_deplists()
        return lists[0] if lists else ()

    def _remember(self, deplist: tuple[str, ...]) -> None:
        lists = [d for d in self._known_deplists() if d != deplist]
        lists.insert(0, deplist)
        self._deplists = lists[:64]
        write_atomic(self._deplist_file(), json.dumps([list(d) for d in self._deplists]) + "\n")

    # -- parsing --------------------------------------------------------------------------
    def _load(self, key: str) -> ApiModel | None:
        path = self.root / "models" / f"{key}.json"
        try:
            return ApiModel.from_json(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (ValueError, KeyError, TypeError):
            path.unlink(missing_ok=True)  # damaged entry: parse again rather than trust it
            return None

    def _parse(
        self, commit: pygit2.Commit, pins: tuple[Pin, ...]
    ) -> tuple[ApiModel, tuple[str, ...]]:
        include_dirs = tuple(
            self.deps.materialise(pin, self.upstream, commit).include_dir for pin in pins
        )
        setup = ParseSetup(
            include_dirs=include_dirs,
            resource_dir=find_resource_dir(self.config.clang_resource_dir, self.runner),
            defines=self.config.defines,
        )
        if self._extractor is None or self._extractor.setup != setup:
            self._extractor = Extractor(setup)
        root = self._export(commit)
        present = [h for h in API_HEADERS if (root / h).is_file()]
        return self._extractor.extract(root, present)

    def _export(self, commit: pygit2.Commit) -> Path:
        """Keep one exported header tree and move it commit to commit by tree diffs."""
        if self._export_dir is None:
            scratch = self.config.cache_dir / "scratch"
            scratch.mkdir(parents=True, exist_ok=True)
            self._export_dir = Path(tempfile.mkdtemp(prefix="headers-", dir=scratch))
        if self._exported is None:
            self.upstream.export(commit, self._export_dir, is_header)
        elif self._exported.id != commit.id:
            self.upstream.update_export(self._exported, commit, self._export_dir, is_header)
        self._exported = commit
        return self._export_dir
