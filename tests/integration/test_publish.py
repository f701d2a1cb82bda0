"""Publishing against a real registry (cargo-http-registry started by a fixture), with two
tiny crates of the real pair's shape: `tflm-sys`, and `tflm` depending on it by path and
version, in one workspace whose version carries the upstream pin as build metadata.

First run publishes both; a second run skips both without calling cargo; a run that loses
the registry after tflm-sys is finished by the next; no token, the size limit (a real 413),
a version another pin took, a stale package and cargo's failure answers are clear errors;
the token never appears anywhere but cargo's environment.
"""

from __future__ import annotations

import functools
import http.server
import os
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from bindbot.errors import PackageError, RegistryError
from bindbot.package.crate import CrateFile, Package
from bindbot.package.publish import (
    ATTEMPTS,
    Registry,
    check_package,
    index_path,
    publish,
)
from bindbot.runner import Completed, InterceptingRunner, RecordingRunner
from bindbot.upstream.lock import Lock, write_lock
from tests.fixtures.cargo_registry import CargoRegistry, cargo_registry  # noqa: F401

TOKEN = "cio_SuperSecretRegistryToken_0123456789"
COMMIT = "1234567890abcdef1234567890abcdef12345678"


def make_crate(root: Path, *, core: str = "0.1.0", commit: str = COMMIT, blob: int = 0) -> Path:
    """A workspace like rust_crate/: bindbot.lock, tflm-sys, and tflm using it by path."""
    (root / "tflm-sys" / "src").mkdir(parents=True)
    (root / "tflm" / "src").mkdir(parents=True)
    (root / "Cargo.toml").write_text(
        '[workspace]\nmembers = ["tflm-sys", "tflm"]\nresolver = "2"\n\n'
        f'[workspace.package]\nversion = "{core}+tflm.{commit[:12]}"\nedition = "2021"\n'
        'license = "Apache-2.0"\n'
    )
    include = ', "blob.bin"' if blob else ""
    (root / "tflm-sys" / "Cargo.toml").write_text(
        '[package]\nname = "tflm-sys"\ndescription = "raw"\nversion.workspace = true\n'
        'edition.workspace = true\nlicense.workspace = true\nlinks = "tflm"\n'
        'build = "build.rs"\n'
        f'include = ["Cargo.toml", "build.rs", "src/**", "vendor/**"{include}]\n'
    )
    (root / "tflm-sys" / "build.rs").write_text("fn main() {}\n")
    (root / "tflm-sys" / "src" / "lib.rs").write_text("pub fn answer() -> u32 { 42 }\n")
    if blob:
        (root / "tflm-sys" / "blob.bin").write_bytes(os.urandom(blob))
    (root / "tflm" / "Cargo.toml").write_text(
        '[package]\nname = "tflm"\ndescription = "safe"\nversion.workspace = true\n'
        "edition.workspace = true\nlicense.workspace = true\n\n[dependencies]\n"
        f'tflm-sys = {{ path = "../tflm-sys", version = "={core}", default-features = false }}\n'
    )
    (root / "tflm" / "src" / "lib.rs").write_text("pub fn answer() -> u32 { tflm_sys::answer() }\n")
    lock = Lock(
        upstream_url="https://github.com/tensorflow/tflite-micro.git",
        branch="main",
        commit=commit,
        commit_date="2026-01-01T00:00:00Z",
        api_model_hash="sha256:0",
        deps=(),
        crate_version=core,
    )
    write_lock(root / "bindbot.lock", lock)
    return root


def make_package(crate_dir: Path, staging: Path, commit: str = COMMIT) -> Package:
    """What `bindbot package` hands over: a staging copy with vendored files, and the crates."""
    shutil.copytree(crate_dir, staging)
    vendor = staging / "tflm-sys" / "vendor"
    vendor.mkdir()
    (vendor / "MANIFEST.txt").write_text("vendored\n")
    version = (crate_dir / "Cargo.toml").read_text().split('version = "')[1].split('"')[0]
    crates = tuple(
        CrateFile(name, version, staging / f"{name}-{version}.crate", 0, 0, "")
        for name in ("tflm-sys", "tflm")
    )
    return Package(commit, staging, crates, 1, 9)


@pytest.fixture
def cargo_env(tmp_path: Path) -> dict[str, str]:
    """cargo's environment: a private CARGO_HOME, and no registry settings from outside."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("CARGO_REGISTRIES_", "CARGO_REGISTRY_", "CARGO_HOME"))
    }
    env["CARGO_HOME"] = str(tmp_path / "cargo-home")
    env["CARGO_NET_OFFLINE"] = "false"
    return env


@pytest.fixture
def crate(tmp_path: Path) -> tuple[Path, Package]:
    crate_dir = make_crate(tmp_path / "crate")
    return crate_dir, make_package(crate_dir, tmp_path / "cache" / "package" / COMMIT)


def _registry(reg: CargoRegistry) -> Registry:
    return Registry(reg.name, reg.index)


def _publish_calls(runner: InterceptingRunner) -> list[str]:
    return [argv[argv.index("-p") + 1] for argv in runner.calls if argv[:2] == ("cargo", "publish")]


def _to_registry(runner, package, server, crate_dir, cargo_env, progress, **kw):
    """`publish` of the test package to the real registry server, as the command does."""
    return publish(
        runner,
        package,
        _registry(server),
        TOKEN,
        progress=progress,
        crate_dir=crate_dir,
        env=cargo_env,
        **kw,
    )


def test_publishes_both_then_skips_both(cargo_registry, crate, cargo_env) -> None:  # noqa: F811
    crate_dir, package = crate
    messages: list[str] = []
    runner = InterceptingRunner()
    first = _to_registry(runner, package, cargo_registry, crate_dir, cargo_env, messages.append)
    version = package.crates[0].version
    assert first.published == ("tflm-sys", "tflm") and first.skipped == ()
    assert _publish_calls(runner) == ["tflm-sys", "tflm"]
    assert cargo_registry.versions("tflm-sys") == [version]
    assert cargo_registry.versions("tflm") == [version]
    # tflm's index entry names its dependency in the same registry (registry = null), not
    # crates.io: the publish copy named the registry on the path dependency.
    entry = (cargo_registry.root / index_path("tflm")).read_text()
    assert '"registry":null' in entry and '"name":"tflm-sys"' in entry
    # The staged package itself was not edited.
    assert "registry" not in (package.staging / "tflm" / "Cargo.toml").read_text()

    again_runner = InterceptingRunner()
    again = publish(
        again_runner,
        package,
        _registry(cargo_registry),
        TOKEN,
        progress=messages.append,
        crate_dir=crate_dir,
        env=cargo_env,
    )
    assert again.published == () and again.skipped == ("tflm-sys", "tflm")
    assert all("already published" in o.message for o in again.outcomes)
    assert again_runner.calls == []
    assert cargo_registry.versions("tflm") == [version]


def test_a_run_that_failed_after_tflm_sys_is_finished_by_the_next(
    cargo_registry,  # noqa: F811
    crate,
    cargo_env,
    capfd,
) -> None:
    crate_dir, package = crate
    stopped: list[str] = []

    def stop_before_tflm(argv: tuple[str, ...]) -> Completed | None:
        is_tflm = argv[:2] == ("cargo", "publish") and argv[argv.index("-p") + 1] == "tflm"
        if is_tflm and not stopped:
            cargo_registry.stop()  # the registry goes away between the two uploads
            stopped.append("yes")
        return None  # run the real cargo

    runner = InterceptingRunner(answer=stop_before_tflm)
    slept: list[float] = []
    messages: list[str] = []
    with pytest.raises(RegistryError) as err:
        _to_registry(
            runner,
            package,
            cargo_registry,
            crate_dir,
            cargo_env,
            messages.append,
            sleep=slept.append,
        )
    assert "stayed unavailable" in err.value.problem and "tflm " in err.value.problem
    assert _publish_calls(runner) == ["tflm-sys"] + ["tflm"] * ATTEMPTS
    assert slept == [2.0, 4.0]  # bounded backoff, three tries in all
    assert cargo_registry.versions("tflm-sys") == [package.crates[0].version]
    assert cargo_registry.versions("tflm") == []

    cargo_registry.start()
    rerun = InterceptingRunner()
    result = publish(
        rerun,
        package,
        _registry(cargo_registry),
        TOKEN,
        progress=messages.append,
        crate_dir=crate_dir,
        env=cargo_env,
    )
    assert result.skipped == ("tflm-sys",) and result.published == ("tflm",)
    assert _publish_calls(rerun) == ["tflm"]
    assert cargo_registry.versions("tflm") == [package.crates[1].version]

    # The token went to cargo through its environment variable only.
    for argv, env in zip(runner.calls + rerun.calls, runner.envs + rerun.envs, strict=True):
        assert not any(TOKEN in a for a in argv)
        assert env["CARGO_REGISTRIES_LOCAL_TOKEN"] == TOKEN
    captured = capfd.readouterr()
    everything = "\n".join([*messages, err.value.one_line(), captured.out, captured.err])
    assert TOKEN not in everything


def test_missing_token_names_the_variable_and_publishes_nothing(
    cargo_registry,  # noqa: F811
    crate,
    cargo_env,
) -> None:
    crate_dir, package = crate
    runner = InterceptingRunner()
    with pytest.raises(RegistryError) as err:
        publish(
            runner,
            package,
            _registry(cargo_registry),
            None,
            progress=lambda _: None,
            crate_dir=crate_dir,
            env={**cargo_env, "CARGO_REGISTRY_TOKEN": "crates-io-token-not-for-local"},
        )
    assert "CARGO_REGISTRIES_LOCAL_TOKEN" in err.value.fix
    assert err.value.exit_code == 82
    assert runner.calls == [] and cargo_registry.versions("tflm-sys") == []
    assert Registry().token_variable == "CARGO_REGISTRY_TOKEN"


def test_other_tokens_in_the_environment_do_not_reach_cargo(
    cargo_registry,  # noqa: F811
    crate,
    cargo_env,
) -> None:
    crate_dir, package = crate
    runner = InterceptingRunner()
    env = {**cargo_env, "CARGO_REGISTRY_TOKEN": "crates-io-secret", "CARGO_REGISTRIES_X_TOKEN": "x"}
    publish(
        runner,
        package,
        _registry(cargo_registry),
        TOKEN,
        progress=lambda _: None,
        crate_dir=crate_dir,
        env=env,
    )
    for seen in runner.envs:
        tokens = {k for k in seen if k.endswith("_TOKEN") and k.startswith("CARGO_REGISTR")}
        assert tokens == {"CARGO_REGISTRIES_LOCAL_TOKEN"}


def test_over_the_size_limit_is_a_registry_error(
    cargo_registry,  # noqa: F811
    tmp_path,
    cargo_env,
) -> None:
    # cargo-http-registry takes 20 MiB per upload; random bytes do not compress.
    crate_dir = make_crate(tmp_path / "big", blob=21 * 1024 * 1024)
    package = make_package(crate_dir, tmp_path / "cache" / "big")
    with pytest.raises(RegistryError) as err:
        publish(
            InterceptingRunner(),
            package,
            _registry(cargo_registry),
            TOKEN,
            progress=lambda _: None,
            crate_dir=crate_dir,
            env=cargo_env,
            sleep=lambda _: pytest.fail("a size limit is not retried"),
        )
    assert "size limit" in err.value.problem and "too large" in err.value.problem
    assert cargo_registry.versions("tflm-sys") == []


def test_a_version_another_pin_took_is_an_error(
    cargo_registry,  # noqa: F811
    crate,
    tmp_path,
    cargo_env,
) -> None:
    _, package = crate
    publish(
        InterceptingRunner(),
        package,
        _registry(cargo_registry),
        TOKEN,
        progress=lambda _: None,
        env=cargo_env,
    )
    other_commit = "abcdef012345" + COMMIT[12:]
    other_dir = make_crate(tmp_path / "other", commit=other_commit)
    other = make_package(other_dir, tmp_path / "cache" / "other", other_commit)
    runner = InterceptingRunner()
    with pytest.raises(RegistryError) as err:
        publish(
            runner,
            other,
            _registry(cargo_registry),
            TOKEN,
            progress=lambda _: None,
            crate_dir=other_dir,
            env=cargo_env,
        )
    assert "another upstream pin" in err.value.problem and "bump crate.version" in err.value.fix
    assert runner.calls == []


def test_a_stale_package_is_refused_before_anything_is_published(crate) -> None:
    crate_dir, package = crate
    check_package(package, crate_dir)  # fresh
    (crate_dir / "tflm" / "src" / "lib.rs").write_text("pub fn changed() {}\n")
    with pytest.raises(PackageError, match=r"stale package: tflm/src/lib.rs"):
        check_package(package, crate_dir)
    make = crate_dir / "bindbot.lock"
    make.write_text(make.read_text().replace(COMMIT, "f" * 40))
    runner = RecordingRunner()
    with pytest.raises(PackageError, match="pins ffffffffffff") as err:
        publish(
            runner,
            package,
            Registry("local", f"file://{crate_dir}/no-index"),
            TOKEN,
            progress=lambda _: None,
            crate_dir=crate_dir,
        )
    assert err.value.exit_code == 81 and runner.calls == []


@pytest.fixture
def sparse_index(cargo_registry) -> Iterator[str]:  # noqa: F811
    """The registry's index folder served over HTTP: a sparse index with the same files."""

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

    handler = functools.partial(Quiet, directory=str(cargo_registry.root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"sparse+http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        thread.join(timeout=5)


def test_sparse_index_lookup(cargo_registry, sparse_index, crate, cargo_env) -> None:  # noqa: F811
    _, package = crate
    sparse = Registry("local", sparse_index)
    assert sparse.published("tflm-sys") == {}
    publish(
        InterceptingRunner(),
        package,
        _registry(cargo_registry),
        TOKEN,
        progress=lambda _: None,
        env=cargo_env,
    )
    found = sparse.published("tflm-sys")
    assert (
        list(found) == [package.crates[0].version] and not found[package.crates[0].version].yanked
    )
    assert sparse.published("no-such-crate") == {}


def test_index_layout_and_registry_settings() -> None:
    assert index_path("a") == "1/a"
    assert index_path("ab") == "2/ab"
    assert index_path("abc") == "3/a/abc"
    assert index_path("tflm-sys") == "tf/lm/tflm-sys"
    assert index_path("TFLM") == "tf/lm/tflm"
    assert Registry("my-reg", "file:///x").token_variable == "CARGO_REGISTRIES_MY_REG_TOKEN"
    assert Registry("my-reg", "file:///x").cargo_env() == {
        "CARGO_REGISTRIES_MY_REG_INDEX": "file:///x"
    }
    from bindbot.errors import ConfigError

    with pytest.raises(ConfigError):
        Registry("crates-io", "sparse+https://example.invalid/")
    with pytest.raises(ConfigError):
        Registry("local", "https://github.com/rust-lang/crates.io-index")


# -- cargo's failure answers (canned: the exact texts cargo prints) ----------------------------
def _canned(*answers: tuple[int, str]) -> tuple[RecordingRunner, list[float]]:
    queue = list(answers)
    runner = RecordingRunner()
    runner.answer = lambda argv: Completed(argv, *_pop(queue))
    return runner, []


def _pop(queue: list[tuple[int, str]]) -> tuple[int, str, str]:
    code, err = queue.pop(0)
    return code, "", err


_503 = (
    "error: failed to publish tflm v0.1.0 to registry at https://crates.io\n\nCaused by:\n"
    "  failed to get a 200 OK response, got 503\n  headers:\n  \tHTTP/2 503\n  \n  body:\n"
    "  Service Unavailable\n"
)
_403 = (
    "error: failed to publish to registry at https://crates.io\n\nCaused by:\n"
    "  the remote server responded with an error (status 403 Forbidden): this token does not "
    f"have the required permissions to perform this action (token {TOKEN})\n"
)


def _publish_to_empty(runner, package, slept, tmp_path):
    """Publish with canned cargo answers to a registry whose index has nothing yet."""
    empty = tmp_path / "empty-index"
    empty.mkdir()
    return publish(
        runner,
        package,
        Registry("local", f"file://{empty}"),
        TOKEN,
        progress=lambda _: None,
        sleep=slept.append,
    )


def test_5xx_is_retried_then_an_error(crate, tmp_path) -> None:
    _, package = crate
    runner, slept = _canned(*[(101, _503)] * ATTEMPTS)
    with pytest.raises(RegistryError) as err:
        _publish_to_empty(runner, package, slept, tmp_path)
    assert "stayed unavailable" in err.value.problem and "503" in err.value.problem
    assert len(runner.calls) == ATTEMPTS and slept == [2.0, 4.0]


def test_5xx_then_success_publishes(crate, tmp_path) -> None:
    _, package = crate
    runner, slept = _canned((101, _503), (0, ""), (0, ""))
    result = _publish_to_empty(runner, package, slept, tmp_path)
    assert result.published == ("tflm-sys", "tflm") and slept == [2.0]


def test_4xx_is_the_registrys_message_redacted_and_not_retried(crate, tmp_path) -> None:
    _, package = crate
    runner, slept = _canned((101, _403))
    with pytest.raises(RegistryError) as err:
        _publish_to_empty(runner, package, slept, tmp_path)
    line = err.value.one_line()
    assert "(403)" in line and "required permissions" in line
    assert TOKEN not in line and "***" in line
    assert len(runner.calls) == 1 and slept == []


def test_already_exists_is_skipped(crate, tmp_path) -> None:
    _, package = crate
    exists = "error: crate tflm-sys@0.1.0+tflm.1234567890ab already exists on `local` index\n"
    runner, _ = _canned((101, exists), (0, ""))
    empty = tmp_path / "empty-index"
    empty.mkdir()
    result = publish(
        runner,
        package,
        Registry("local", f"file://{empty}"),
        TOKEN,
        progress=lambda _: None,
    )
    assert result.skipped == ("tflm-sys",) and result.published == ("tflm",)


# -- `bindbot publish` -------------------------------------------------------------------------
def _git(cwd: Path, *args: str) -> str:
    import subprocess

    done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=True)
    return done.stdout.strip()


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A project repository with the crate (and its changelog) committed on main."""
    work = tmp_path / "project"
    crate_dir = make_crate(work / "rust_crate")
    (crate_dir / "CHANGELOG.md").write_text(
        "# Changelog\n\n## [0.1.0] - 2026-01-01\n\n### Added\n\n- the first bindings\n"
    )
    _git(work, "init", "-q", "-b", "main")
    _git(work, "add", ".")
    _git(work, "-c", "user.name=t", "-c", "user.email=t@example.invalid", "commit", "-qm", "c")
    return work


def test_bindbot_publish_then_a_second_run_is_a_no_op(
    cargo_registry,  # noqa: F811
    project,
    cargo_env,
    tmp_path,
    monkeypatch,
    capsys,
) -> None:
    from bindbot import pipeline
    from bindbot.cli import main

    packaged: list[Path] = []

    def fake_package(ctx: pipeline.Context, out_dir: Path, *, verify: bool = True) -> Package:
        staging = tmp_path / "cache" / f"package-{len(packaged)}"
        packaged.append(staging)
        return make_package(ctx.config.crate_dir, staging)

    monkeypatch.setattr(pipeline, "package", fake_package)
    for key in [k for k in os.environ if k.startswith(("BINDBOT_", "CARGO_"))]:
        monkeypatch.delenv(key)
    for key, value in cargo_env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("BINDBOT_REGISTRY", "local")
    monkeypatch.setenv("BINDBOT_REGISTRY_INDEX", cargo_registry.index)
    monkeypatch.setenv("BINDBOT_FORGE_DIR", str(tmp_path / "forge"))
    monkeypatch.setenv("BINDBOT_CACHE", str(tmp_path / "cache"))
    monkeypatch.chdir(project)

    # No token: nothing is packaged or published, and the error names the variable.
    assert main(["publish"]) == 82
    err = capsys.readouterr().err
    assert "CARGO_REGISTRIES_LOCAL_TOKEN" in err and packaged == []

    monkeypatch.setenv("CARGO_REGISTRIES_LOCAL_TOKEN", TOKEN)
    assert main(["publish"]) == 0
    first = capsys.readouterr()
    version = "0.1.0+tflm.1234567890ab"
    assert f"tflm-sys {version}: published to local" in first.out
    assert f"tflm {version}: published to local" in first.out
    assert "created release v0.1.0" in first.out
    notes = (tmp_path / "forge" / "release-v0.1.0.md").read_text()
    assert "- the first bindings" in notes and "tflite-micro `1234567890ab" in notes
    assert _git(project, "rev-parse", "HEAD") in notes
    assert cargo_registry.versions("tflm") == [version]

    assert main(["publish"]) == 0
    second = capsys.readouterr()
    assert second.out.count("already published") == 2
    assert "release v0.1.0 exists" in second.out
    assert len(packaged) == 1  # nothing to publish: nothing packaged
    assert TOKEN not in first.out + first.err + second.out + second.err


def test_bindbot_publish_refuses_a_stale_package(
    cargo_registry,  # noqa: F811
    project,
    cargo_env,
    tmp_path,
    monkeypatch,
    capsys,
) -> None:
    from bindbot import pipeline
    from bindbot.cli import main

    def stale_package(ctx: pipeline.Context, out_dir: Path, *, verify: bool = True) -> Package:
        return make_package(ctx.config.crate_dir, tmp_path / "stale", "f" * 40)

    monkeypatch.setattr(pipeline, "package", stale_package)
    for key in [k for k in os.environ if k.startswith(("BINDBOT_", "CARGO_"))]:
        monkeypatch.delenv(key)
    for key, value in cargo_env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("CARGO_REGISTRIES_LOCAL_TOKEN", TOKEN)
    monkeypatch.setenv("BINDBOT_CACHE", str(tmp_path / "cache"))
    monkeypatch.chdir(project)
    code = main(["publish", "--registry", "local", "--index", cargo_registry.index, "--no-release"])
    err = capsys.readouterr().err
    assert code == 81, err
    assert "was made for ffffffffffff" in err
    assert cargo_registry.versions("tflm-sys") == []
