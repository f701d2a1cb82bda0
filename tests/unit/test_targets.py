"""The target table: gcc and rustc must be told the same core and float ABI."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from bindbot.errors import ToolMissingError, UsageError
from bindbot.runner import Completed
from bindbot.verify import toolchain
from bindbot.verify.targets import BY_NAME, TARGETS, cross_targets, parse_targets


@pytest.mark.parametrize("target", cross_targets(), ids=lambda t: t.name)
def test_flags_agree_with_the_triple(target) -> None:
    flags = set(target.cflags)
    assert f"-mcpu={target.rust_cpu}" in flags and "-mthumb" in flags
    if target.hard_float:
        assert "-mfloat-abi=hard" in flags
        assert any(f.startswith("-mfpu=") for f in flags)
    else:
        assert "-mfloat-abi=soft" in flags
        assert not any(f.startswith("-mfpu=") for f in flags)
    for core in target.cores:
        assert core.memory.flash_length > 0 and core.memory.ram_length > 0


def _output(*args: str) -> str:
    return subprocess.run(args, input="", capture_output=True, text=True, check=True).stdout


@pytest.mark.skipif(shutil.which("arm-none-eabi-gcc") is None, reason="no arm-none-eabi-gcc")
@pytest.mark.parametrize("target", cross_targets(), ids=lambda t: t.name)
def test_gcc_and_rustc_use_the_same_float_abi(target) -> None:
    """gcc's predefined macros and rustc's cfg for the table's flags, compared."""
    macros = _output("arm-none-eabi-gcc", *target.cflags, "-dM", "-E", "-")
    assert ("__ARM_PCS_VFP 1" in macros) == target.hard_float
    cpu = f"target-cpu={target.rust_cpu}"
    cfg = _output("rustc", "--print", "cfg", "--target", target.triple, "-C", cpu)
    assert ('target_abi="eabihf"' in cfg) == target.hard_float
    cpus = _output("rustc", "--print", "target-cpus", "--target", target.triple)
    assert f" {target.rust_cpu} " in cpus.replace("\n", " ")


def test_parse_targets() -> None:
    assert parse_targets("all") == TARGETS
    assert [t.name for t in parse_targets("m4f,host")] == ["host", "m4f"]
    with pytest.raises(UsageError) as err:
        parse_targets("m4f,m99")
    assert "m99" in err.value.problem and "m0plus" in err.value.fix


def _sysroot_runner(sysroots: dict[str, Path]):
    def run(args, **_kwargs) -> Completed:
        return Completed(tuple(args), 0, f"{sysroots[args[0]]}\n", "")

    return run


def test_route_prefers_rustup_prebuilt(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = BY_NAME["m4f"]
    rustup = tmp_path / "rustup"
    (rustup / "lib/rustlib" / target.triple / "lib").mkdir(parents=True)
    monkeypatch.setattr(shutil, "which", lambda name: f"/fake/{name}")
    got = toolchain.route(_sysroot_runner({"/fake/rustc": rustup}), target)
    assert got.kind == "prebuilt"
    assert got.cargo_args == ("--target", target.triple)
    assert dict(got.env)["CARGO_TARGET_THUMBV7EM_NONE_EABIHF_LINKER"] == "arm-none-eabi-gcc"


def test_route_falls_back_to_build_std(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = BY_NAME["m33"]
    rustup, debian = tmp_path / "rustup", tmp_path / "debian"
    rustup.mkdir()
    (debian / "lib/rustlib/src/rust/library/core").mkdir(parents=True)
    fake_rustc = tmp_path / "rustc"
    fake_rustc.touch()
    monkeypatch.setattr(
        shutil, "which", lambda name: str(tmp_path / name) if name == "rustc" else None
    )
    monkeypatch.setattr(toolchain, "DEBIAN_RUSTC", tmp_path / "debian-rustc")
    (tmp_path / "debian-rustc").touch()
    runner = _sysroot_runner({str(fake_rustc): rustup, str(tmp_path / "debian-rustc"): debian})
    got = toolchain.route(runner, target)
    assert got.kind == "build-std"
    env = dict(got.env)
    assert env["RUSTC"] == str(tmp_path / "debian-rustc") and env["RUSTC_BOOTSTRAP"] == "1"
    assert "-Zbuild-std=core,alloc" in got.cargo_args
    # A dot in the triple: configured through the environment, which cargo accepts.
    assert env["CARGO_TARGET_THUMBV8M_MAIN_NONE_EABIHF_RUSTFLAGS"] == "-C target-cpu=cortex-m33"


def test_no_route_names_both_fixes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shutil, "which", lambda name: None)
    monkeypatch.setattr(toolchain, "DEBIAN_RUSTC", tmp_path / "missing")
    with pytest.raises(ToolMissingError) as err:
        toolchain.route(_sysroot_runner({}), BY_NAME["m3"])
    assert "rustup target add thumbv7m-none-eabi" in err.value.fix
    assert "rust-web-src" in err.value.fix
