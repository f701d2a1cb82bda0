"""A real cargo registry on 127.0.0.1, for proving the packaged crate as users get it.

`cargo-http-registry` (from crates.io) serves a git index and the publish API over HTTP
from a folder; bindbot starts it for `verify`'s consumer step and the tests, publishes
the packaged crates to it, and builds an application that names only a version. The
server is stopped (and waited for) when the block ends, whatever happens inside.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from bindbot.errors import RegistryError, ToolMissingError

#: How long the server may take to write its address (it builds the index repository).
START_TIMEOUT_S = 30.0
TOOL = "cargo-http-registry"
#: The registry's name in cargo configuration (`registry = "bindbot-local"`).
NAME = "bindbot-local"


def find_tool(project_dir: Path | None = None) -> str:
    """cargo-http-registry on PATH, else the copy `.ci/setup` builds into the clone."""
    found = shutil.which(TOOL)
    if found:
        return found
    if project_dir is not None:
        local = project_dir / ".ci" / ".tools" / "bin" / TOOL
        if local.is_file():
            return str(local)
    raise ToolMissingError(
        f"{TOOL} is not installed (the local registry the packaged crate is proven with)",
        f"cargo install --locked {TOOL} (or run .ci/setup, which builds it into .ci/.tools)",
    )


@dataclass(frozen=True)
class LocalRegistry:
    name: str
    root: Path
    api: str  # http://127.0.0.1:PORT

    @property
    def index(self) -> str:
        """The index URL cargo reads (a git repository in the root folder)."""
        return f"file://{self.root}"

    def cargo_env(self) -> dict[str, str]:
        """Environment that makes cargo know the registry, without a config file."""
        key = self.name.upper().replace("-", "_")
        return {f"CARGO_REGISTRIES_{key}_INDEX": self.index}


@contextlib.contextmanager
def local_registry(root: Path, tool: str, name: str = NAME) -> Iterator[LocalRegistry]:
    """Serve a registry from `root` (created if needed) for the duration of the block."""
    root.mkdir(parents=True, exist_ok=True)
    config = root / "config.json"
    # The server rewrites config.json with its new port each start: drop a stale one, so the
    # wait below cannot read an old address.
    with contextlib.suppress(FileNotFoundError):
        config.unlink()
    log = (root.parent / f"{root.name}.log").open("wb")
    proc = subprocess.Popen(
        [tool, str(root)],
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        api = ""
        while time.monotonic() < deadline and proc.poll() is None:
            with contextlib.suppress(OSError, ValueError, KeyError):
                api = str(json.loads(config.read_text())["api"])
            if api:
                break
            time.sleep(0.1)
        if not api:
            raise RegistryError(
                f"{tool} did not start (exit {proc.poll()}); see {log.name}",
                "check that 127.0.0.1 accepts connections and the folder is writable",
            )
        yield LocalRegistry(name, root, api.rstrip("/"))
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
        log.close()
