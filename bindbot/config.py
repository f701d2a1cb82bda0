"""Typed, frozen configuration, resolved once per run and printable with each value's origin.

Precedence, lowest first: built-in defaults, `[tool.bindbot]` in the project's
pyproject.toml, a `bindbot.toml` file (or the one `--config` names), `BINDBOT_*` environment
variables, command-line options. Every stage receives the resolved `Config`; nothing reads
the environment later, so a run is reproducible from what `bindbot config` prints.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from bindbot.errors import ConfigError

OFFICIAL_UPSTREAM = "https://github.com/tensorflow/tflite-micro.git"

#: Third-party code that tflite-micro pins per commit (the `BINDBOT_DEP_<NAME>` names).
KNOWN_DEPS = ("flatbuffers", "gemmlowp", "ruy", "kissfft")


def default_cache_dir() -> Path:
    """XDG cache location, so mirrors and parsed models survive across runs and checkouts."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "bindbot"


@dataclass(frozen=True)
class Config:
    """Everything a run needs to know, after all sources are merged."""

    project_dir: Path
    upstream: str = OFFICIAL_UPSTREAM
    branch: str = "main"
    cache_dir: Path = field(default_factory=default_cache_dir)
    crate_dir: Path = Path("rust_crate")
    out_dir: Path = Path("bindbot-out")
    #: dependency name -> URL or path of its git repository; empty means "download archives".
    deps: tuple[tuple[str, str], ...] = ()
    #: clang's builtin headers (stddef.h...); None means "detect".
    clang_resource_dir: Path | None = None
    #: Models, inputs and the official interpreter's outputs (models/, inputs/, outputs/),
    #: what `bindbot verify` compares the crate against.
    golden_dir: Path | None = None
    #: The defines the library is built with: they change the public structs' layout.
    defines: tuple[str, ...] = ("TF_LITE_STATIC_MEMORY",)
    #: Where `bindbot run` proposes: "local" (a folder, acts on nothing remote) or "github".
    forge: str = "local"
    #: OWNER/NAME of the project on GitHub (GitHub Actions sets GITHUB_REPOSITORY).
    forge_repository: str = ""
    forge_api: str = "https://api.github.com"
    #: The git remote the bot pushes to; empty means https://github.com/<forge_repository>.git.
    forge_remote: str = ""
    #: The local forge's folder; None means <out_dir>/proposal.
    forge_dir: Path | None = None
    #: The one branch the bot owns, and the branch its pull requests target.
    pr_branch: str = "bindbot/tflite-micro"
    base_branch: str = "main"
    #: Move the pin (after verification) when upstream changed but its API did not.
    bump_without_api_change: bool = False
    #: What `bindbot run` verifies before proposing (see `bindbot verify --targets`).
    verify_targets: str = "all"
    #: Where each value came from: field name -> "default" / a file / "env NAME" / "cli".
    origins: tuple[tuple[str, str], ...] = ()

    @property
    def lock_path(self) -> Path:
        """The lock file pins the crate to one upstream commit and its dependencies."""
        return self.crate_dir / "bindbot.lock"

    def dep_source(self, name: str) -> str | None:
        """The git repository the user named for dependency `name`, if any."""
        return dict(self.deps).get(name)

    def as_table(self) -> dict[str, Any]:
        """A plain, printable view (what `bindbot config` shows)."""
        out: dict[str, Any] = {}
        for f in fields(self):
            if f.name == "origins":
                continue
            value = getattr(self, f.name)
            if isinstance(value, Path):
                value = str(value)
            elif f.name == "deps":
                value = dict(value)
            elif isinstance(value, tuple):
                value = list(value)
            elif value is None:
                value = "(detect)"
            out[f.name] = value
        return out


_PATH_KEYS = {"cache_dir", "crate_dir", "out_dir", "clang_resource_dir", "golden_dir", "forge_dir"}
_STR_KEYS = {"upstream", "branch", "forge", "pr_branch", "base_branch", "verify_targets"}
_OPTIONAL_STR_KEYS = {"forge_repository", "forge_api", "forge_remote"}
_BOOL_KEYS = {"bump_without_api_change"}
_CHOICES = {"forge": ("local", "github")}
_LIST_KEYS = {"defines"}


def _coerce(key: str, value: Any, origin: str, base: Path) -> Any:
    """Check a raw value's type and anchor relative paths at the file that set them."""
    if key in _PATH_KEYS:
        if not isinstance(value, str):
            raise ConfigError(f"{origin}: '{key}' must be a string path", f'set {key} = "DIR"')
        path = Path(os.path.expanduser(value))
        return path if path.is_absolute() else (base / path)
    if key in _OPTIONAL_STR_KEYS:
        if not isinstance(value, str):
            raise ConfigError(f"{origin}: '{key}' must be a string", f"fix {key}")
        return value
    if key in _BOOL_KEYS:
        if isinstance(value, str) and value.lower() in ("1", "true", "yes", "0", "false", "no"):
            return value.lower() in ("1", "true", "yes")
        if not isinstance(value, bool):
            raise ConfigError(f"{origin}: '{key}' must be true or false", f"fix {key}")
        return value
    if key in _CHOICES and value not in _CHOICES[key]:
        raise ConfigError(
            f"{origin}: '{key}' is {value!r}", f"use one of {', '.join(_CHOICES[key])}"
        )
    if key in _STR_KEYS:
        if not isinstance(value, str) or not value:
            raise ConfigError(f"{origin}: '{key}' must be a non-empty string", f"fix {key}")
        if key == "upstream" and "://" not in value and not value.startswith("git@"):
            path = Path(os.path.expanduser(value))
            return str(path if path.is_absolute() else (base / path).resolve())
        return value
    if key in _LIST_KEYS:
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ConfigError(f"{origin}: '{key}' must be a list of strings", f"fix {key}")
        return tuple(value)
    raise ConfigError(
        f"{origin}: unknown setting '{key}'",
        "remove it; `bindbot config` lists the settings",
    )


def _dep_value(name: str, value: Any, origin: str, base: Path) -> str:
    if not isinstance(value, str) or not value:
        raise ConfigError(f"{origin}: deps.{name} must be a URL or path", f"fix deps.{name}")
    if "://" in value or value.startswith("git@"):
        return value
    path = Path(os.path.expanduser(value))
    return str(path if path.is_absolute() else (base / path).resolve())


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}", f"correct {path}") from exc
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}", f"check {path}") from exc


def resolve(
    project_dir: Path,
    *,
    config_file: Path | None = None,
    environ: Mapping[str, str] | None = None,
    cli: Mapping[str, Any] | None = None,
) -> Config:
    """Merge every source into one frozen `Config`."""
    project_dir = project_dir.resolve()
    env = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    origins: dict[str, str] = {}
    deps: dict[str, str] = {}

    layers: list[tuple[str, Path, dict[str, Any]]] = []
    pyproject = project_dir / "pyproject.toml"
    if pyproject.is_file():
        tool = _read_toml(pyproject).get("tool", {}).get("bindbot", {})
        layers.append((str(pyproject), project_dir, tool))
    own = config_file or (project_dir / "bindbot.toml")
    if config_file is not None and not config_file.is_file():
        raise ConfigError(f"config file {config_file} does not exist", "check the --config path")
    if own.is_file():
        layers.append((str(own), own.parent.resolve(), _read_toml(own)))

    for origin, base, table in layers:
        for key, value in table.items():
            if key == "deps":
                if not isinstance(value, dict):
                    raise ConfigError(f"{origin}: 'deps' must be a table", "use [deps] name = URL")
                for name, source in value.items():
                    deps[name.lower()] = _dep_value(name, source, origin, base)
                    origins[f"deps.{name.lower()}"] = origin
                continue
            values[key] = _coerce(key, value, origin, base)
            origins[key] = origin

    env_keys = {
        "BINDBOT_UPSTREAM": "upstream",
        "BINDBOT_BRANCH": "branch",
        "BINDBOT_CACHE": "cache_dir",
        "BINDBOT_CRATE_DIR": "crate_dir",
        "BINDBOT_OUT": "out_dir",
        "BINDBOT_CLANG_RESOURCE_DIR": "clang_resource_dir",
        "BINDBOT_GOLDEN": "golden_dir",
        "BINDBOT_FORGE": "forge",
        "BINDBOT_FORGE_REPOSITORY": "forge_repository",
        "BINDBOT_FORGE_API": "forge_api",
        "BINDBOT_FORGE_REMOTE": "forge_remote",
        "BINDBOT_FORGE_DIR": "forge_dir",
        "BINDBOT_PR_BRANCH": "pr_branch",
        "BINDBOT_BASE_BRANCH": "base_branch",
        "BINDBOT_BUMP_WITHOUT_API_CHANGE": "bump_without_api_change",
        "BINDBOT_VERIFY_TARGETS": "verify_targets",
    }
    # GitHub Actions' own variables, below bindbot's in precedence.
    github_keys = {"GITHUB_REPOSITORY": "forge_repository", "GITHUB_API_URL": "forge_api"}
    cwd = Path.cwd()
    for var, key in github_keys.items():
        if env.get(var) and not env.get(f"BINDBOT_{key.upper()}"):
            values[key] = _coerce(key, env[var], f"env {var}", cwd)
            origins[key] = f"env {var}"
    for var, key in env_keys.items():
        if env.get(var):
            values[key] = _coerce(key, env[var], f"env {var}", cwd)
            origins[key] = f"env {var}"
    for var, value in sorted(env.items()):
        if var.startswith("BINDBOT_DEP_") and value:
            name = var.removeprefix("BINDBOT_DEP_").lower()
            deps[name] = _dep_value(name, value, f"env {var}", cwd)
            origins[f"deps.{name}"] = f"env {var}"

    for key, value in (cli or {}).items():
        if value is None:
            continue
        if key == "deps":
            for name, source in value.items():
                deps[name.lower()] = _dep_value(name, source, "cli", cwd)
                origins[f"deps.{name.lower()}"] = "cli"
            continue
        values[key] = _coerce(key, value, "command line", cwd)
        origins[key] = "cli"

    for key in ("crate_dir", "out_dir"):
        if key not in values:
            values[key] = project_dir / getattr(Config, key)
    for f in fields(Config):
        if f.name not in ("project_dir", "origins"):
            origins.setdefault(f.name, "default")
    return Config(
        project_dir=project_dir,
        deps=tuple(sorted(deps.items())),
        origins=tuple(sorted(origins.items())),
        **values,
    )
