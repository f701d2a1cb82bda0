"""`rust_crate/bindbot.lock`: the upstream commit and dependency pins the crate is built from.

TOML, written atomically, with the API model's hash so a later run can tell at once whether
the pinned API is what the generated crate was made from.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import tomli_w

from bindbot import __version__
from bindbot.errors import LockError
from bindbot.fsutil import write_atomic
from bindbot.upstream.deps import Pin

LOCK_VERSION = 1
_HEADER = (
    "# Written by bindbot; do not edit by hand.\n"
    "# Move the pin with `bindbot lock REF` (or let `bindbot run` do it).\n"
)


@dataclass(frozen=True)
class LockedDep:
    name: str
    url: str
    ref: str
    md5: str | None
    patch: str | None
    patch_sha256: str | None


@dataclass(frozen=True)
class Lock:
    upstream_url: str
    branch: str
    commit: str
    commit_date: str
    api_model_hash: str
    deps: tuple[LockedDep, ...]
    bindbot_version: str = __version__
    version: int = LOCK_VERSION
    #: The crates' semver version (the upstream pin goes in the build metadata). `bindbot
    #: run` bumps it with each update, as the API change calls for.
    crate_version: str = "0.1.0"

    @staticmethod
    def dep_from_pin(pin: Pin) -> LockedDep:
        return LockedDep(pin.name, pin.url, pin.ref, pin.md5, pin.patch, pin.patch_sha256)

    def to_toml(self) -> str:
        data: dict[str, Any] = {
            "version": self.version,
            "bindbot": self.bindbot_version,
            "upstream": {
                "url": self.upstream_url,
                "branch": self.branch,
                "commit": self.commit,
                "commit_date": self.commit_date,
            },
            "api": {"model_hash": self.api_model_hash},
            "crate": {"version": self.crate_version},
            "dependency": [{k: v for k, v in vars(d).items() if v is not None} for d in self.deps],
        }
        return _HEADER + tomli_w.dumps(data)


def _semver(path: Path, text: str) -> str:
    parts = text.split(".")
    if len(parts) != 3 or not all(p.isdigit() for p in parts):
        raise LockError(
            f"{path}: crate.version '{text}' is not MAJOR.MINOR.PATCH",
            "set it to the crates' released version, e.g. 0.2.0",
        )
    return text


def write_lock(path: Path, lock: Lock) -> None:
    write_atomic(path, lock.to_toml())


def read_lock(path: Path) -> Lock:
    """Parse and validate the lock; every defect is a `LockError` that says how to recover."""
    recover = f"restore it with `git checkout -- {path}` or re-pin with `bindbot lock REF`"
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise LockError(f"{path} does not exist", "create it with `bindbot lock REF`") from exc
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise LockError(f"{path} is corrupted ({exc})", recover) from exc
    try:
        if data["version"] != LOCK_VERSION:
            raise LockError(
                f"{path} has lock version {data['version']}, this bindbot reads {LOCK_VERSION}",
                "upgrade bindbot, or re-pin with `bindbot lock REF`",
            )
        up = data["upstream"]
        commit = str(up["commit"])
        if len(commit) != 40 or any(c not in "0123456789abcdef" for c in commit):
            raise LockError(f"{path}: upstream.commit '{commit}' is not a full SHA", recover)
        deps = tuple(
            LockedDep(
                name=str(d["name"]),
                url=str(d["url"]),
                ref=str(d["ref"]),
                md5=d.get("md5"),
                patch=d.get("patch"),
                patch_sha256=d.get("patch_sha256"),
            )
            for d in data.get("dependency", [])
        )
        return Lock(
            upstream_url=str(up["url"]),
            branch=str(up["branch"]),
            commit=commit,
            commit_date=str(up["commit_date"]),
            api_model_hash=str(data["api"]["model_hash"]),
            deps=deps,
            bindbot_version=str(data.get("bindbot", "")),
            crate_version=_semver(path, str(data.get("crate", {}).get("version", "0.1.0"))),
        )
    except (KeyError, TypeError) as exc:
        raise LockError(f"{path} is missing or mistypes {exc}", recover) from exc
