"""The crate as users get it, on the real upstream: the committed crate packaged with its
vendored sources (deterministic, under crates.io's limit, the whole library and its
licenses), and the `package` row of verify: a local registry and a user's application
built for the host and three Cortex-M triples, run on the host and QEMU M4F with the
micro_speech scores equal to the reference. Slow (cargo package compiles TFLM; the
application compiles the keyword model's 53 files per target)."""

from __future__ import annotations

import dataclasses
import gzip
import io
import shutil
import tarfile
from pathlib import Path

import pytest

from bindbot import pipeline
from bindbot.package.crate import SIZE_LIMIT
from bindbot.verify.targets import BY_NAME

CRATE = Path(__file__).resolve().parents[2] / "rust_crate"
GOLDEN = Path(__file__).resolve().parents[3] / "shared" / "golden"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("cargo") is None, reason="cargo is not installed"),
]


def _names(crate: Path) -> list[str]:
    with tarfile.open(fileobj=io.BytesIO(gzip.decompress(crate.read_bytes()))) as tar:
        return [m.name.split("/", 1)[1] for m in tar.getmembers() if m.isfile()]


def test_package_is_deterministic_complete_and_small(
    real: pipeline.Context, tmp_path: Path
) -> None:
    ctx = pipeline.Context(
        dataclasses.replace(real.config, crate_dir=CRATE), real.runner, fetch=False
    )
    first = pipeline.package(ctx, tmp_path / "one", verify=False)
    second = pipeline.package(ctx, tmp_path / "two", verify=False)
    assert [c.sha256 for c in first.crates] == [c.sha256 for c in second.crates]
    sys_crate = next(c for c in first.crates if c.name == "tflm-sys")
    assert sys_crate.size < SIZE_LIMIT
    names = _names(sys_crate.path)
    listed = [
        ln.split()[0]
        for ln in (CRATE / "tflm-sys/tflm-sources.txt").read_text().splitlines()
        if ln.strip() and not ln.startswith("#")
    ]
    assert len(listed) >= 190
    for source in listed:
        assert f"vendor/tflm/{source}" in names, source
    for license_file in (
        "tflm/LICENSE",
        "deps/flatbuffers/LICENSE",
        "deps/gemmlowp/LICENSE",
        "deps/ruy/LICENSE",
        "deps/kissfft/COPYING",
    ):
        assert f"vendor/{license_file}" in names
    assert "vendor/tflm/tensorflow/lite/schema/schema_generated.h" in names


@pytest.mark.skipif(not GOLDEN.is_dir(), reason=f"no golden fixtures at {GOLDEN}")
def test_users_application_from_a_local_registry(real: pipeline.Context, tmp_path: Path) -> None:
    out = tmp_path / "verify"
    ctx = pipeline.Context(
        dataclasses.replace(real.config, crate_dir=CRATE, golden_dir=GOLDEN),
        real.runner,
        fetch=False,
    )
    report, _ = pipeline.verify(ctx, (BY_NAME["package"],), out)
    steps = {s.step: s for s in report.steps}
    assert all(s.ok for s in steps.values()), steps
    assert "4 of 4 cases equal to reference" in steps["consumer host"].detail
    assert "4 of 4 cases equal to reference" in steps["qemu M4F (mps2-an386)"].detail
    for triple in ("thumbv6m-none-eabi", "thumbv7em-none-eabihf", "thumbv8m.main-none-eabihf"):
        assert steps[f"consumer {triple}"].ok
