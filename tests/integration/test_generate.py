"""`bindbot generate` on the synthetic upstream: golden output, determinism, --check, and
refusals that write nothing."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bindbot import errors
from bindbot.api.model import ApiModel, EnumEntity, RecordEntity
from bindbot.api.rust_names import binding_for
from bindbot.runner import Completed, Runner, subprocess_runner
from tests.conftest import UPDATE_GOLDEN, Cli
from tests.fixtures.synthetic import SyntheticUpstream

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "crate"


def _snapshot(crate: Path) -> dict[str, bytes]:
    return {
        p.relative_to(crate).as_posix(): p.read_bytes()
        for p in sorted(crate.rglob("*"))
        if p.is_file()
    }


def _pin(cli: Cli, synthetic: SyntheticUpstream, step: str) -> None:
    result = cli("lock", "--offline", synthetic.commits[step])
    assert result.code == 0, result.err


def test_generate_is_golden_and_deterministic(cli: Cli, synthetic: SyntheticUpstream) -> None:
    _pin(cli, synthetic, "param_added_default")
    crate = cli.project / "rust_crate"
    first = cli("generate", "--offline")
    assert first.code == 0, first.err
    files = _snapshot(crate)
    assert {
        "tflm-sys/src/bindings.rs",
        "tflm-sys/shim/tflm_shim.cc",
        "tflm/src/lib.rs",
        "tflm/src/ops.rs",
        "Cargo.toml",
        "tflm-sys/build.rs",
    } <= set(files)
    sha = synthetic.commits["param_added_default"]
    for name, data in files.items():
        if name != "bindbot.lock":
            assert sha.encode() in data[:400], f"{name} has no stamp"
            assert b"/tmp/" not in data, f"{name} leaks a local path"

    again = cli("generate", "--offline")
    assert again.code == 0 and "nothing changed" in again.err
    assert _snapshot(crate) == files

    for name, data in files.items():
        if name == "bindbot.lock":
            continue
        golden = GOLDEN / name
        if UPDATE_GOLDEN:
            golden.parent.mkdir(parents=True, exist_ok=True)
            golden.write_bytes(data)
        else:
            assert golden.is_file(), f"missing golden {golden}; BINDBOT_UPDATE_GOLDEN=1"
            assert data == golden.read_bytes(), f"{name} differs; BINDBOT_UPDATE_GOLDEN=1"


def test_shim_follows_the_model(cli: Cli, synthetic: SyntheticUpstream) -> None:
    _pin(cli, synthetic, "param_added_default")
    assert cli("generate", "--offline").code == 0
    shim = (cli.project / "rust_crate/tflm-sys/shim/tflm_shim.cc").read_text()
    # The 2021-style constructor needs an ErrorReporter: the shim supplies a static one.
    assert "tflm_error_reporter()" in shim
    for method in ("AddAdd", "AddConv2D", "AddFullyConnected"):
        assert f"r.{method}();" in shim
    ops = (cli.project / "rust_crate/tflm/src/ops.rs").read_text()
    assert "pub fn add_conv_2d(&mut self)" in ops


def test_check_detects_stale_output(cli: Cli, synthetic: SyntheticUpstream) -> None:
    _pin(cli, synthetic, "param_added_default")
    assert cli("generate", "--offline").code == 0
    assert cli("generate", "--offline", "--check").code == 0
    lib = cli.project / "rust_crate/tflm/src/lib.rs"
    lib.write_text(lib.read_text() + "// hand edit\n")
    stale = cli("generate", "--offline", "--check")
    assert stale.code == errors.StaleOutputError.exit_code
    assert "tflm/src/lib.rs" in stale.err and "bindbot generate" in stale.err


def test_inexpressible_change_writes_nothing(cli: Cli, synthetic: SyntheticUpstream) -> None:
    _pin(cli, synthetic, "param_added_default")
    assert cli("generate", "--offline").code == 0
    crate = cli.project / "rust_crate"
    before = _snapshot(crate)
    _pin(cli, synthetic, "param_added_required")
    lock_after_pin = (crate / "bindbot.lock").read_bytes()
    result = cli("generate", "--offline")
    assert result.code == errors.GenerationError.exit_code
    assert "AllocateTensors" in result.err and "templates/shim" in result.err
    after = _snapshot(crate)
    assert after.pop("bindbot.lock") == lock_after_pin
    before.pop("bindbot.lock")
    assert after == before


def test_bindgen_failure_leaves_the_crate(
    cli: Cli, synthetic: SyntheticUpstream, monkeypatch: pytest.MonkeyPatch
) -> None:
    _pin(cli, synthetic, "base")
    crate = cli.project / "rust_crate"
    before = _snapshot(crate)

    def failing(args, **kwargs) -> Completed:  # type: ignore[no-untyped-def]
        if args[0] == "bindgen":
            return Completed(tuple(args), 1, "", "error: fatal: simulated")
        return subprocess_runner(args, **kwargs)

    from bindbot import cli as cli_module

    runner: Runner = failing
    monkeypatch.setattr(cli_module, "subprocess_runner", runner)
    with monkeypatch.context() as mp:
        mp.chdir(cli.project)
        for key, value in cli.env.items():
            mp.setenv(key, value)
        code = cli_module.main(["generate", "--offline"], runner=runner)
    assert code == errors.ToolFailedError.exit_code
    assert _snapshot(crate) == before


def _defines(text: str, name: str) -> bool:
    return (
        re.search(rf"\b(fn|type|struct|const|union|enum|static)\s+{re.escape(name)}\b", text)
        is not None
    )


def test_every_rust_item_the_report_names_exists(cli: Cli, synthetic: SyntheticUpstream) -> None:
    """rust_names.py is the contract between reports and templates: hold it to the crate."""
    _pin(cli, synthetic, "param_added_default")
    assert cli("generate", "--offline").code == 0
    crate = cli.project / "rust_crate"
    safe = "\n".join(p.read_text() for p in (crate / "tflm" / "src").glob("*.rs"))
    raw = (crate / "tflm-sys" / "src" / "bindings.rs").read_text()
    model = ApiModel.from_json(
        cli("api", "--offline", synthetic.commits["param_added_default"]).out
    )
    members: list[tuple[str, str, str, str, str]] = []
    for e in model.entities:
        members.append((e.name, "", "", e.header, e.kind))
        if isinstance(e, RecordEntity):
            members += [(e.name, m.name, "method", e.header, e.kind) for m in e.methods]
            members += [(e.name, "", "constructor", e.header, e.kind) for _ in e.constructors]
            members += [(e.name, f.name, "field", e.header, e.kind) for f in e.fields]
        if isinstance(e, EnumEntity):
            members += [(e.name, v.name, "value", e.header, e.kind) for v in e.values]
    named = 0
    for entity, member, kind, header, entity_kind in members:
        binding = binding_for(entity, member, kind, header, entity_kind)
        for item in binding.items if binding else ():
            named += 1
            crate_name, *path = item.split("::")
            if crate_name == "tflm_sys":
                assert _defines(raw, path[0]), f"{entity} {member}: {item} not in bindings.rs"
            elif len(path) == 1:
                assert _defines(safe, path[0]), f"{entity} {member}: {item} missing"
            else:
                owner, leaf = path
                assert _defines(safe, owner), f"{entity} {member}: {owner} missing"
                assert _defines(safe, leaf) or re.search(rf"\b{leaf},", safe), (
                    f"{entity} {member}: {item} missing"
                )
    assert named > 20
