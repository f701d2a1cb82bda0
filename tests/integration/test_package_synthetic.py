"""The crate as users get it, on the synthetic upstream: `bindbot package` writes
deterministic .crate files carrying the vendored sources and their manifest, and `bindbot
verify --targets package` publishes them to a real local registry server and builds an
application that names only a version, for the host and Cortex-M, then runs it on the host
and on QEMU's M4F. Slow (cargo, the cross toolchain, QEMU)."""

from __future__ import annotations

import gzip
import io
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from bindbot import errors
from bindbot.verify.matrix import Report
from tests.conftest import synthetic_env
from tests.fixtures.models import write_golden
from tests.fixtures.project import synthetic_project
from tests.fixtures.synthetic import SyntheticUpstream
from tests.integration.test_crate_synthetic import STEP, _require

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def project(synthetic: SyntheticUpstream, tmp_path_factory: pytest.TempPathFactory):
    for tool in ("cargo", "bindgen", "arm-none-eabi-gcc", "qemu-system-arm"):
        _require(tool)
    root = tmp_path_factory.mktemp("package")
    project, env = synthetic_project(
        root,
        synthetic_env(synthetic, root / "cache"),
        synthetic.commits[STEP],
        write_golden(root / "golden"),
    )
    # The registry server `.ci/setup` builds into the clone.
    (project / ".ci" / ".tools").mkdir(parents=True)
    (project / ".ci" / ".tools" / "bin").symlink_to(REPO / ".ci" / ".tools" / "bin")
    return project, env, root


def _bindbot(project: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bindbot", *args],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=3600,
    )


def _members(crate: Path) -> dict[str, bytes]:
    with tarfile.open(fileobj=io.BytesIO(gzip.decompress(crate.read_bytes()))) as tar:
        return {
            m.name.split("/", 1)[1]: tar.extractfile(m).read()  # type: ignore[union-attr]
            for m in tar.getmembers()
            if m.isfile()
        }


@pytest.mark.slow
def test_package_is_deterministic_and_carries_the_sources(project) -> None:
    path, env, root = project
    first = _bindbot(path, env, "package", "--offline", "--out", str(root / "one"))
    assert first.returncode == 0, first.stderr[-3000:]
    second = _bindbot(path, env, "package", "--offline", "--no-verify", "--out", str(root / "two"))
    assert second.returncode == 0, second.stderr[-3000:]
    crates = sorted((root / "one").glob("*.crate"))
    assert [c.name.split("-0.")[0] for c in crates] == ["tflm", "tflm-sys"]
    for crate in crates:
        assert crate.read_bytes() == (root / "two" / crate.name).read_bytes(), crate.name
        assert f"{crate.stat().st_size} bytes" in first.stdout
    sys_files = _members(next(c for c in crates if c.name.startswith("tflm-sys")))
    manifest = sys_files["vendor/MANIFEST.tsv"].decode()
    listed = {line.split("\t")[1] for line in manifest.splitlines() if not line.startswith("#")}
    vendored = {n.removeprefix("vendor/") for n in sys_files if n.startswith("vendor/")}
    assert listed == vendored - {"MANIFEST.tsv"}
    # The library sources, a header they include, a patched dependency and the licenses.
    assert "tflm/tensorflow/lite/micro/micro_interpreter.cc" in listed
    assert "tflm/tensorflow/lite/micro/micro_interpreter.h" in listed
    assert "tflm/LICENSE" in listed
    assert any(p.startswith("deps/flatbuffers/") for p in listed)
    assert "build.rs" in sys_files and "shim/tflm_shim.cc" in sys_files
    # Nothing of bindbot's own checkout leaks in.
    assert not any(n.startswith(("target/", "firmware/")) for n in sys_files)


@pytest.mark.slow
def test_tampered_vendored_file_is_a_build_error(project) -> None:
    _, env, root = project
    # The staged workspace is named by the pinned commit (a publish copy has a suffix).
    staged = next(p for p in (root / "cache" / "package").iterdir() if len(p.name) == 40)
    victim = staged / "tflm-sys/vendor/tflm/tensorflow/lite/micro/micro_interpreter.cc"
    victim.write_bytes(victim.read_bytes() + b"\n// edited\n")
    clean = {k: v for k, v in env.items() if not k.startswith(("BINDBOT_", "TFLM_"))}
    result = subprocess.run(
        ["cargo", "build", "-p", "tflm-sys", "--target-dir", str(root / "tamper-target")],
        cwd=staged,
        env=clean,
        capture_output=True,
        text=True,
        timeout=1800,
    )
    assert result.returncode != 0
    assert "vendor/tflm/tensorflow/lite/micro/micro_interpreter.cc differs" in result.stderr


@pytest.mark.slow
def test_verify_package_builds_a_users_application(project) -> None:
    path, env, _ = project
    result = _bindbot(path, env, "verify", "--offline", "--targets", "package")
    assert result.returncode == 0, result.stderr[-4000:] + result.stdout[-3000:]
    report = Report.from_json((path / "bindbot-out/verify/verify.json").read_text())
    steps = {s.step: s for s in report.steps if s.target == "package"}
    assert set(steps) >= {
        "package",
        "publish",
        "consumer host",
        "consumer thumbv6m-none-eabi",
        "consumer thumbv7em-none-eabihf",
        "consumer thumbv8m.main-none-eabihf",
        "qemu M4F (mps2-an386)",
    }
    assert all(s.ok for s in steps.values()), steps
    assert "12 of 12 cases equal to reference" in steps["consumer host"].detail
    assert "12 of 12 cases equal to reference" in steps["qemu M4F (mps2-an386)"].detail
    app = path.parent / "cache" / "user" / "app"
    assert not (app / "build.rs").exists()
    manifest = (app / "Cargo.toml").read_text()
    assert 'registry = "bindbot-local"' in manifest and "path =" not in manifest


@pytest.mark.slow
def test_wrong_reference_fails_the_package_row(project) -> None:
    path, env, root = project
    golden = root / "golden-wrong"
    shutil.copytree(env["BINDBOT_GOLDEN"], golden, dirs_exist_ok=True)
    expected = golden / "outputs/hello_world/int8_y_int8.bin"
    data = bytearray(expected.read_bytes())
    data[3] ^= 0x10
    expected.write_bytes(bytes(data))
    result = _bindbot(
        path, {**env, "BINDBOT_GOLDEN": str(golden)}, "verify", "--offline", "--targets", "package"
    )
    assert result.returncode == errors.VerificationError.exit_code, result.stderr[-3000:]
    assert "package: consumer host failed" in result.stderr
