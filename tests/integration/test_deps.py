"""Third-party pins: read from upstream's own scripts, materialised from a git repository or
from an archive URL (served here by a local HTTP server) with the MD5 verified."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from bindbot.config import resolve
from bindbot.errors import DependencyError
from bindbot.runner import subprocess_runner
from bindbot.upstream.deps import DependencyStore, Pin, read_pins
from bindbot.upstream.repo import Upstream
from tests.conftest import Cli
from tests.fixtures.synthetic import SyntheticUpstream, make_dependency_zip


def test_pins_follow_upstream_scripts(synthetic: SyntheticUpstream, tmp_path: Path) -> None:
    up = Upstream.open(str(synthetic.path), tmp_path, "main")
    base = {p.name: p for p in read_pins(up, up.resolve(synthetic.commits["base"]))}
    assert set(base) == {"flatbuffers", "gemmlowp", "kissfft", "ruy"}
    assert base["flatbuffers"].ref == "v2.0.0"
    assert base["flatbuffers"].declared_in.endswith("flatbuffers_download.sh")
    assert base["flatbuffers"].patch == "tensorflow/lite/micro/tools/make/flatbuffers.patch"
    assert base["kissfft"].patch == "third_party/kissfft/kissfft.patch"
    assert len(base["gemmlowp"].ref) == 40
    bumped = {p.name: p for p in read_pins(up, up.resolve(synthetic.commits["dep_bumped"]))}
    assert bumped["flatbuffers"].ref == "v2.0.6"


def test_materialise_from_git_applies_the_patch(cli: Cli, synthetic: SyntheticUpstream) -> None:
    result = cli("deps", "--offline", "--materialise", synthetic.commits["base"])
    assert result.code == 0, result.err
    roots = {line.split()[0]: Path(line.split()[-1]) for line in result.out.splitlines()}
    assert set(roots) == {"flatbuffers", "gemmlowp", "kissfft", "ruy"}
    for root in roots.values():
        assert (root / ".bindbot-pin.json").is_file()
    patched = (roots["flatbuffers"] / "include" / "flatbuffers" / "base.h").read_text()
    pristine = make_dependency_zip(synthetic.deps["flatbuffers"], "v2.0.0")
    assert patched.encode() not in pristine  # the patch changed the file


class _Server(ThreadingHTTPServer):
    files: dict[str, bytes]


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        data = self.server.files.get(self.path)  # type: ignore[attr-defined]
        self.send_response(200 if data is not None else 404)
        self.end_headers()
        if data is not None:
            self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def archive_server(synthetic: SyntheticUpstream) -> Iterator[tuple[str, bytes]]:
    data = make_dependency_zip(synthetic.deps["kissfft"], "v130")
    server = _Server(("127.0.0.1", 0), _Handler)
    server.files = {"/kissfft/archive/refs/tags/v130.zip": data}
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}", data
    server.shutdown()


def _pin(url: str, md5: str) -> Pin:
    return Pin("kissfft", url, "v130", md5, None, None, "test")


def test_archive_download_verifies_md5(
    archive_server: tuple[str, bytes], synthetic: SyntheticUpstream, tmp_path: Path
) -> None:
    base, data = archive_server
    url = f"{base}/kissfft/archive/refs/tags/v130.zip"
    config = resolve(tmp_path, environ={"BINDBOT_CACHE": str(tmp_path / "cache")})
    store = DependencyStore(config, subprocess_runner)
    up = Upstream.open(str(synthetic.path), tmp_path / "cache", "main")
    commit = up.head()

    bad = _pin(url, "0" * 32)
    with pytest.raises(DependencyError, match="does not match the MD5"):
        store.materialise(bad, up, commit)
    assert not store.path_for(bad).exists()  # nothing half-written

    good = _pin(url, hashlib.md5(data).hexdigest())
    done = store.materialise(good, up, commit)
    assert (done.root / "kiss_fft.h").is_file()

    missing = _pin(f"{base}/kissfft/archive/refs/tags/v999.zip", "0" * 32)
    missing = Pin("kissfft", missing.url, "v999", None, None, None, "test")
    with pytest.raises(DependencyError, match="HTTP 404"):
        store.materialise(missing, up, commit)
