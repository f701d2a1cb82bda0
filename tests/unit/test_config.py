from pathlib import Path

import pytest

from bindbot.config import OFFICIAL_UPSTREAM, resolve
from bindbot.errors import ConfigError


def test_defaults_point_at_the_official_upstream(tmp_path: Path) -> None:
    cfg = resolve(tmp_path, environ={})
    assert cfg.upstream == OFFICIAL_UPSTREAM
    assert cfg.crate_dir == tmp_path.resolve() / "rust_crate"
    assert cfg.lock_path == tmp_path.resolve() / "rust_crate" / "bindbot.lock"
    assert dict(cfg.origins)["upstream"] == "default"


def test_precedence_pyproject_then_file_then_env_then_cli(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(
        '[tool.bindbot]\nbranch = "from-pyproject"\nupstream = "up-py"\n'
        '[tool.bindbot.deps]\nruy = "/r"\n'
    )
    (tmp_path / "bindbot.toml").write_text('branch = "from-file"\n')
    env = {"BINDBOT_BRANCH": "from-env", "BINDBOT_DEP_FLATBUFFERS": "/fb"}
    cfg = resolve(tmp_path, environ=env)
    assert cfg.branch == "from-env"
    assert cfg.upstream == str((tmp_path / "up-py").resolve())  # relative to the file
    assert cfg.dep_source("flatbuffers") == "/fb"
    assert cfg.dep_source("ruy") == "/r"
    origins = dict(cfg.origins)
    assert origins["branch"] == "env BINDBOT_BRANCH"
    assert origins["deps.ruy"] == str(tmp_path / "pyproject.toml")
    cli = resolve(tmp_path, environ=env, cli={"branch": "from-cli", "deps": {"ruy": "/cli"}})
    assert cli.branch == "from-cli"
    assert cli.dep_source("ruy") == "/cli"


def test_config_is_frozen_and_printable(tmp_path: Path) -> None:
    cfg = resolve(tmp_path, environ={"BINDBOT_UPSTREAM": "https://example.invalid/t.git"})
    with pytest.raises(AttributeError):
        cfg.branch = "x"  # type: ignore[misc]
    table = cfg.as_table()
    assert table["upstream"] == "https://example.invalid/t.git"
    assert table["clang_resource_dir"] == "(detect)"


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("branch = [", "not valid TOML"),
        ("colour = 1", "unknown setting 'colour'"),
        ("branch = 3", "must be a non-empty string"),
        ("defines = 'X'", "must be a list"),
    ],
)
def test_bad_config_is_one_clear_error(tmp_path: Path, text: str, needle: str) -> None:
    (tmp_path / "bindbot.toml").write_text(text)
    with pytest.raises(ConfigError) as info:
        resolve(tmp_path, environ={})
    assert needle in info.value.problem
    assert info.value.fix


def test_missing_explicit_config_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        resolve(tmp_path, config_file=tmp_path / "nope.toml", environ={})
