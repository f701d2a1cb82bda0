"""Publish the packaged crates to a cargo registry, resumably and without leaking the token.

For each crate, in publishing order (tflm-sys, then tflm, which depends on it):
- its exact version already in the registry's index: skipped ("already published"), so a run
  that published tflm-sys and then failed on tflm finishes the job the next time;
- the same version with other build metadata (another upstream pin): a registry takes each
  MAJOR.MINOR.PATCH once, build metadata aside, so that is an error that asks for a bump;
- otherwise `cargo publish --no-verify --registry NAME -p CRATE` in the package's staging
  workspace (the package was verified when it was made).

The index is read where cargo reads it: a `file://` index from its git repository's HEAD (a
plain folder is read as is), a `sparse+http(s)://` index over HTTP, both with the layout
`1/`, `2/`, `3/a/`, `ab/cd/` by name length. The token reaches cargo only through its
environment variable (`CARGO_REGISTRY_TOKEN` for crates.io, `CARGO_REGISTRIES_<NAME>_TOKEN`
otherwise), never a command line, and every message leaving this module is redacted.

cargo's failures are mapped: "already exists" is checked against the index again (the same
version: skipped; another pin's: an error); a 4xx is the registry's refusal, the size limit
(413, "max upload size") its own error, and a 5xx, a timeout or a refused connection is
retried with backoff, three tries in all, before it becomes a RegistryError.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import time
import tomllib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

import requests

from bindbot import pipeline
from bindbot.errors import ConfigError, LockError, PackageError, RegistryError
from bindbot.forge import Forge, ReleaseExistsError
from bindbot.forge.branch import ProjectRepo
from bindbot.package.changelog import read_section
from bindbot.package.crate import Package, read_versions
from bindbot.runner import Runner
from bindbot.upstream.lock import read_lock

CRATES_IO = "crates-io"
CRATES_IO_INDEX = "sparse+https://index.crates.io/"
#: Tries per crate (the first and the retries) for 5xx answers, timeouts, refused connections.
ATTEMPTS = 3
#: Seconds before the first retry; doubled for each further one.
BACKOFF_S = 2.0
HTTP_TIMEOUT_S = 30.0
PUBLISH_TIMEOUT_S = 1800.0

#: curl error numbers cargo prints as `[N]` that say the registry was not reached or did
#: not answer: resolve, connect, timeout, TLS connect, empty reply, send and receive.
_TRANSIENT_CURL = {5, 6, 7, 28, 35, 52, 55, 56}
_STATUS = re.compile(r"(?:\(status (\d{3})\b|got (\d{3})\b)")
_CURL = re.compile(r"\[(\d+)\] ")
_TOKEN_VARS = re.compile(r"^CARGO_REGISTR(Y_TOKEN|IES_[A-Z0-9_]+_TOKEN)$")


def _env_key(name: str) -> str:
    return name.upper().replace("-", "_")


@dataclass(frozen=True)
class IndexEntry:
    """One line of a crate's index file."""

    name: str
    version: str
    cksum: str
    yanked: bool


@dataclass(frozen=True)
class Registry:
    """A cargo registry: its name in cargo's terms, its index, and how to read the index."""

    name: str = CRATES_IO
    index: str = CRATES_IO_INDEX
    timeout: float = HTTP_TIMEOUT_S

    def __post_init__(self) -> None:
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_-]*", self.name):
            raise ConfigError(
                f"registry name {self.name!r} is not a cargo registry name",
                "use letters, digits, '-' and '_' (e.g. crates-io, my-registry)",
            )
        if self.name == CRATES_IO and self.index.rstrip("/") != CRATES_IO_INDEX.rstrip("/"):
            raise ConfigError(
                f"crates-io's index is {CRATES_IO_INDEX}, not {self.index}",
                "give another registry a name of its own (--registry NAME --index URL)",
            )
        if not self.index.startswith(("file://", "sparse+http://", "sparse+https://")):
            raise ConfigError(
                f"registry index {self.index!r}: bindbot reads file:// (git) and "
                "sparse+http(s):// indexes",
                "use the registry's sparse index URL, or a file:// git index",
            )

    @property
    def token_variable(self) -> str:
        """The environment variable cargo takes this registry's token from."""
        if self.name == CRATES_IO:
            return "CARGO_REGISTRY_TOKEN"
        return f"CARGO_REGISTRIES_{_env_key(self.name)}_TOKEN"

    def cargo_env(self) -> dict[str, str]:
        """What makes cargo know the registry without a config file."""
        if self.name == CRATES_IO:
            return {}
        return {f"CARGO_REGISTRIES_{_env_key(self.name)}_INDEX": self.index}

    # -- the index ------------------------------------------------------------------------
    def published(self, crate: str) -> dict[str, IndexEntry]:
        """Every version of `crate` in the index (yanked ones too), by exact version."""
        text = self._read(index_path(crate))
        out: dict[str, IndexEntry] = {}
        for line in (text or "").splitlines():
            if not line.strip():
                continue
            try:
                item = json.loads(line)
                entry = IndexEntry(
                    str(item["name"]),
                    str(item["vers"]),
                    str(item.get("cksum", "")),
                    bool(item.get("yanked", False)),
                )
            except (ValueError, KeyError, TypeError) as exc:
                raise RegistryError(
                    f"{self.name}: the index entry of {crate} is not JSON ({exc})",
                    f"check the registry's index at {self.index}",
                ) from None
            out[entry.version] = entry
        return out

    def _read(self, rel: str) -> str | None:
        if self.index.startswith("file://"):
            return _read_file_index(Path(unquote(urlsplit(self.index).path)), rel, self.name)
        return self._read_sparse(rel)

    def _read_sparse(self, rel: str) -> str | None:
        url = self.index.removeprefix("sparse+").rstrip("/") + "/" + rel
        delay = BACKOFF_S
        for attempt in range(1, ATTEMPTS + 1):
            try:
                response = requests.get(
                    url, timeout=self.timeout, headers={"Cache-Control": "no-cache"}
                )
            except (requests.ConnectionError, requests.Timeout) as exc:
                problem = type(exc).__name__
            else:
                if response.status_code == 200:
                    return response.text
                if response.status_code in (404, 410, 451):
                    return None  # what the sparse protocol answers for a crate it lacks
                if response.status_code < 500:
                    raise RegistryError(
                        f"{self.name}: GET {url}: {response.status_code}",
                        "check the index URL and that it is a sparse index",
                    )
                problem = str(response.status_code)
            if attempt == ATTEMPTS:
                raise RegistryError(
                    f"{self.name}: GET {url}: {problem} after {ATTEMPTS} attempts",
                    "check that the registry's index is reachable, then run again",
                )
            time.sleep(delay)
            delay *= 2
        raise AssertionError("unreachable")  # pragma: no cover


def index_path(crate: str) -> str:
    """The path of a crate's file in a registry index (cargo's layout by name length)."""
    name = crate.lower()
    if len(name) <= 2:
        return f"{len(name)}/{name}"
    if len(name) == 3:
        return f"3/{name[0]}/{name}"
    return f"{name[:2]}/{name[2:4]}/{name}"


def _read_file_index(root: Path, rel: str, registry: str) -> str | None:
    """The file at `rel` in the index's git HEAD (what cargo fetches), or in a plain folder."""
    import pygit2

    if not root.is_dir():
        raise RegistryError(
            f"{registry}: the index folder {root} does not exist",
            "check the index URL (file:///path/to/the/index)",
        )
    try:
        # NO_SEARCH: the index is this folder's repository, never one of its parents.
        repo = pygit2.Repository(str(root), pygit2.enums.RepositoryOpenFlag.NO_SEARCH)
    except pygit2.GitError:
        path = root / rel
        return path.read_text(encoding="utf-8") if path.is_file() else None
    if repo.head_is_unborn:
        return None
    tree = repo.head.peel(pygit2.Commit).tree
    try:
        blob = tree[rel]
    except KeyError:
        return None
    if not isinstance(blob, pygit2.Blob):
        return None
    data: bytes = blob.data
    return data.decode("utf-8")


def _core(version: str) -> str:
    """A version without its build metadata (`0.2.0+tflm.abc` -> `0.2.0`)."""
    return version.split("+", 1)[0]


# -- results --------------------------------------------------------------------------------
@dataclass(frozen=True)
class CrateOutcome:
    name: str
    version: str
    action: str  # "published" or "skipped"
    message: str


@dataclass(frozen=True)
class PublishResult:
    registry: str
    outcomes: tuple[CrateOutcome, ...]

    @property
    def published(self) -> tuple[str, ...]:
        return tuple(o.name for o in self.outcomes if o.action == "published")

    @property
    def skipped(self) -> tuple[str, ...]:
        return tuple(o.name for o in self.outcomes if o.action == "skipped")


def redact(text: str, token: str | None) -> str:
    if token:
        text = text.replace(token, "***")
    return text


# -- the package matches the crate ------------------------------------------------------------
def _skipped_path(rel: Path) -> bool:
    return any(p == "target" or p.startswith(".bindbot-") for p in rel.parts)


def _files(root: Path, *, staged: bool) -> dict[str, Path]:
    out = {}
    for path in root.rglob("*"):
        rel = path.relative_to(root)
        if not path.is_file() or _skipped_path(rel) or rel.as_posix() == "Cargo.lock":
            continue
        if staged and rel.parts[:2] == ("tflm-sys", "vendor"):
            continue  # the vendored sources: what packaging adds
        out[rel.as_posix()] = path
    return out


def check_package(package: Package, crate_dir: Path | None = None) -> None:
    """PackageError unless `package` is what the crate (and its lock) say now.

    The staging workspace must pin the package's commit and carry the crates' versions;
    with `crate_dir`, its lock, versions and files (the vendored sources aside) must match.
    """
    fix = "package again: `bindbot publish` packages the committed crate itself"
    try:
        staged_lock = read_lock(package.staging / "bindbot.lock")
    except LockError as exc:
        raise PackageError(f"the staged package has no usable lock: {exc.problem}", fix) from None
    if staged_lock.commit != package.commit:
        raise PackageError(
            f"the staged package pins tflite-micro {staged_lock.commit[:12]}, "
            f"but was made for {package.commit[:12]}",
            fix,
        )
    staged_versions = read_versions(package.staging, [c.name for c in package.crates])
    for crate in package.crates:
        if staged_versions[crate.name] != crate.version:
            raise PackageError(
                f"{crate.name}: the staged workspace is version {staged_versions[crate.name]}, "
                f"the package {crate.version}",
                fix,
            )
    if crate_dir is None:
        return
    lock = read_lock(crate_dir / "bindbot.lock")
    if lock.commit != package.commit:
        raise PackageError(
            f"stale package: it was made at tflite-micro {package.commit[:12]}, but "
            f"{crate_dir / 'bindbot.lock'} pins {lock.commit[:12]}",
            fix,
        )
    versions = read_versions(crate_dir, [c.name for c in package.crates])
    for crate in package.crates:
        if versions[crate.name] != crate.version:
            raise PackageError(
                f"stale package: {crate.name} {crate.version}, but the crate is now "
                f"{versions[crate.name]}",
                fix,
            )
    mine, staged = _files(crate_dir, staged=False), _files(package.staging, staged=True)
    differ = sorted(
        rel
        for rel in mine.keys() | staged.keys()
        if rel not in mine
        or rel not in staged
        or mine[rel].read_bytes() != staged[rel].read_bytes()
    )
    if differ:
        shown = ", ".join(differ[:5]) + (f" and {len(differ) - 5} more" if len(differ) > 5 else "")
        raise PackageError(f"stale package: {shown} differ from {crate_dir}", fix)


# -- publishing ---------------------------------------------------------------------------------
def _registry_workspace(package: Package, registry: Registry) -> Path:
    """The workspace cargo publishes from.

    For crates.io, the staging folder itself. For another registry, a copy whose path
    dependencies between the packaged crates name that registry: cargo takes a path
    dependency without `registry` for a crates.io one when it publishes, so tflm would
    point its users at a tflm-sys on crates.io.
    """
    if registry.name == CRATES_IO:
        return package.staging
    dest = package.staging.parent / f"{package.staging.name}.publish-{registry.name}"
    shutil.rmtree(dest, ignore_errors=True)
    shutil.copytree(package.staging, dest, symlinks=True, ignore=shutil.ignore_patterns("target"))
    names = [c.name for c in package.crates]
    for name in names:
        manifest = dest / name / "Cargo.toml"
        text = manifest.read_text(encoding="utf-8")
        new = _name_registry(text, [n for n in names if n != name], registry.name)
        if new != text:
            manifest.write_text(new, encoding="utf-8")
            _check_registry_deps(manifest, names, registry.name)
    return dest


def _name_registry(text: str, deps: Iterable[str], registry: str) -> str:
    """Add `registry = "NAME"` to the path dependencies on `deps` in a manifest's text."""
    for dep in deps:
        inline = re.compile(
            rf'^(\s*"?{re.escape(dep)}"?\s*=\s*\{{)(?![^}}\n]*\bregistry\s*=)([^}}\n]*\bpath\s*=)',
            re.M,
        )
        text = inline.sub(rf'\1 registry = "{registry}",\2', text)
        table = re.compile(
            rf"^(\[(?:[\w.'\"-]*\.)?(?:dependencies|build-dependencies)\.{re.escape(dep)}\]\s*\n)",
            re.M,
        )
        text = table.sub(rf'\1registry = "{registry}"\n', text)
    return text


def _check_registry_deps(manifest: Path, names: Sequence[str], registry: str) -> None:
    data = tomllib.loads(manifest.read_text(encoding="utf-8"))
    for key in ("dependencies", "build-dependencies"):
        for dep, spec in (data.get(key) or {}).items():
            if (
                dep in names
                and isinstance(spec, dict)
                and "path" in spec
                and spec.get("registry") != registry
            ):
                raise PackageError(
                    f"{manifest}: the path dependency {dep} does not name registry {registry}",
                    "write it as an inline table: { path = ..., version = ... }",
                )


def _failure_kind(output: str) -> tuple[str, int | None]:
    """What a failed `cargo publish` says: exists, size, refused, transient, or other."""
    low = output.lower()
    found = _STATUS.search(output)
    status = int(next(g for g in found.groups() if g)) if found else None
    if "already exists" in low or "already uploaded" in low:
        return "exists", status
    if status == 413 or "max upload size" in low or "too large" in low:
        return "size", status
    if status is not None and status >= 500:
        return "transient", status
    if status is not None and 400 <= status < 500:
        return "refused", status
    curl = _CURL.search(output)
    if curl and int(curl.group(1)) in _TRANSIENT_CURL:
        return "transient", None
    if "timed out" in low or "connection reset" in low or "connection refused" in low:
        return "transient", None
    if "responded with an error" in low:
        return "refused", status  # a registry that answers errors with 200 and a JSON list
    return "other", status


def _server_message(output: str) -> str:
    """The part of cargo's output that carries the registry's own words."""
    lines = [ln.strip() for ln in output.splitlines() if ln.strip()]
    for i, line in enumerate(lines):
        if "responded with an error" in line:
            return line.split(":", 1)[1].strip() if ":" in line else line
        if line.startswith("body:") and i + 1 < len(lines):
            return " ".join(lines[i + 1 : i + 3])
    errors = [i for i, ln in enumerate(lines) if ln.startswith(("error", "Caused by"))]
    tail = lines[errors[-1] :] if errors else lines[-4:]
    return " / ".join(ln for ln in tail[:4] if ln != "Caused by:")


def publish(
    runner: Runner,
    package: Package,
    registry: Registry,
    token: str | None,
    *,
    progress: Callable[[str], None],
    crate_dir: Path | None = None,
    env: Mapping[str, str] | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> PublishResult:
    """Publish `package`'s crates in order, skipping versions the registry already has.

    `crate_dir`, when given, is the committed crate the package must match (PackageError
    otherwise). Raises RegistryError for a missing token (naming the variable to set), a
    refused upload, the size limit, a version another pin took, or a registry that stayed
    unavailable; a crate published before the failure stays published, and the next run
    skips it.
    """
    check_package(package, crate_dir)
    base = dict(os.environ if env is None else env)
    state = {c.name: state_of(registry, c.name, c.version) for c in package.crates}
    todo = [c for c in package.crates if state[c.name] is None]
    if todo and not token:
        raise RegistryError(
            f"no token for registry {registry.name} ({', '.join(c.name for c in todo)} to publish)",
            f"set {registry.token_variable} to a token with publish rights",
        )
    workspace = _registry_workspace(package, registry) if todo else package.staging
    # Only this registry's token, and only in the environment.
    cargo_env = {k: v for k, v in base.items() if not _TOKEN_VARS.match(k)}
    cargo_env.update(registry.cargo_env())
    if token:
        cargo_env[registry.token_variable] = token
    outcomes = []
    for crate in package.crates:
        seen = state[crate.name]
        if seen is not None:
            progress(redact(f"{crate.name} {crate.version}: {seen}", token))
            outcomes.append(CrateOutcome(crate.name, crate.version, "skipped", seen))
            continue
        outcome = _publish_one(
            runner,
            workspace,
            registry,
            crate.name,
            crate.version,
            cargo_env,
            token,
            progress,
            sleep,
        )
        progress(redact(f"{crate.name} {crate.version}: {outcome.message}", token))
        outcomes.append(outcome)
    return PublishResult(registry.name, tuple(outcomes))


def state_of(registry: Registry, name: str, version: str) -> str | None:
    """Why `name` `version` needs no publishing (the index has this exact version), or None
    (no version of this MAJOR.MINOR.PATCH yet); RegistryError when another pin's build of
    the same MAJOR.MINOR.PATCH is there."""
    versions = registry.published(name)
    if version in versions:
        yanked = " (yanked)" if versions[version].yanked else ""
        return f"already published in {registry.name}{yanked}"
    taken = sorted(v for v in versions if _core(v) == _core(version))
    if taken:
        raise RegistryError(
            f"{name} {_core(version)} is already in {registry.name} as {taken[0]} (another "
            f"upstream pin); a registry takes each version once, build metadata aside",
            "bump crate.version in bindbot.lock (`bindbot run` does with each update) and "
            "regenerate the crate",
        )
    return None


def _publish_one(
    runner: Runner,
    workspace: Path,
    registry: Registry,
    name: str,
    version: str,
    env: dict[str, str],
    token: str | None,
    progress: Callable[[str], None],
    sleep: Callable[[float], None],
) -> CrateOutcome:
    args = [
        "cargo",
        "publish",
        "--no-verify",
        "--allow-dirty",
        "--registry",
        registry.name,
        "-p",
        name,
        "--target-dir",
        str(workspace.parent / "publish-target"),
    ]
    delay = BACKOFF_S
    for attempt in range(1, ATTEMPTS + 1):
        progress(f"publishing {name} {version} to {registry.name}")
        result = runner(args, cwd=workspace, env=env, timeout=PUBLISH_TIMEOUT_S)
        if result.returncode == 0:
            return CrateOutcome(name, version, "published", f"published to {registry.name}")
        output = redact((result.stderr or "") + "\n" + (result.stdout or ""), token)
        kind, status = ("transient", None) if result.returncode == 124 else _failure_kind(output)
        message = redact(_server_message(output), token)
        if kind == "exists" or kind == "transient":
            # The upload may have gone through before the error (or another run was first).
            seen = state_of(registry, name, version)
            if seen is not None:
                return CrateOutcome(name, version, "skipped", seen)
            if kind == "exists":
                return CrateOutcome(
                    name,
                    version,
                    "skipped",
                    f"already published in {registry.name} "
                    "(the registry says so; its index has not caught up yet)",
                )
        if kind == "size":
            raise RegistryError(
                f"{registry.name} refused {name} {version}: over its size limit ({message})",
                "vendor fewer files (crates.io takes 10 MB per .crate)",
            )
        if kind == "refused":
            code = f" ({status})" if status else ""
            raise RegistryError(
                f"{registry.name} refused {name} {version}{code}: {message}",
                f"check the token in {registry.token_variable} (publish rights for {name}) "
                "and the registry's message",
            )
        if kind == "other":
            raise RegistryError(
                f"cargo publish of {name} {version} to {registry.name} failed: {message}",
                f"reproduce with `cargo publish --no-verify --registry {registry.name} -p "
                f"{name}` in {workspace}",
            )
        if status is not None:
            message = f"{status} {message}"
        if attempt == ATTEMPTS:
            raise RegistryError(
                f"{registry.name} stayed unavailable for {name} {version} after {ATTEMPTS} "
                f"attempts: {message}",
                "check the registry's status, then run again (published crates are skipped)",
            )
        progress(f"{name}: registry unavailable ({message[:120]}), retrying in {delay:.0f} s")
        sleep(delay)
        delay *= 2
    raise AssertionError("unreachable")  # pragma: no cover


def describe(result: PublishResult) -> list[str]:
    """One line per crate, for the CLI."""
    return [f"{o.name} {o.version}: {o.message}" for o in result.outcomes]


# -- `bindbot publish` ------------------------------------------------------------------------
def registry_from(name: str | None, index: str | None, env: Mapping[str, str]) -> Registry:
    """The registry the command line and environment name (default: crates.io).

    Name: `--registry`, else BINDBOT_REGISTRY, else crates-io. Index: `--index`, else
    BINDBOT_REGISTRY_INDEX, else cargo's own CARGO_REGISTRIES_<NAME>_INDEX, else crates.io's
    sparse index for crates-io.
    """
    name = name or env.get("BINDBOT_REGISTRY") or CRATES_IO
    index = (
        index
        or env.get("BINDBOT_REGISTRY_INDEX")
        or env.get(f"CARGO_REGISTRIES_{_env_key(name)}_INDEX")
        or (CRATES_IO_INDEX if name == CRATES_IO else "")
    )
    if not index:
        raise ConfigError(
            f"no index URL for registry {name}",
            "give --index URL (or set BINDBOT_REGISTRY_INDEX), e.g. "
            "sparse+https://my-registry.example/index/",
        )
    return Registry(name, index)


def release_tag(crate_version: str) -> str:
    return f"v{crate_version}"


def run_publish(
    ctx: pipeline.Context,
    registry: Registry,
    token: str | None,
    *,
    out_dir: Path,
    verify: bool,
    forge: Forge | None,
    echo: Callable[[str], None] = print,
) -> None:
    """`bindbot publish`: package and publish what is not in the registry yet, then create
    the forge release `v<crate_version>` if it is missing (`forge` None: no release).

    A second run does nothing: both crates are "already published" (nothing is packaged)
    and the "release exists".
    """
    from bindbot.log import info

    cfg = ctx.config
    lock = read_lock(cfg.lock_path)
    versions = read_versions(cfg.crate_dir)
    states = {name: state_of(registry, name, v) for name, v in versions.items()}
    todo = [name for name, seen in states.items() if seen is None]
    if todo and not token:
        raise RegistryError(
            f"no token for registry {registry.name} ({', '.join(todo)} to publish)",
            f"set {registry.token_variable} to a token with publish rights",
        )
    if todo:
        made = pipeline.package(ctx, out_dir, verify=verify)
        info(f"packaged tflite-micro {made.commit[:12]}: {made.summary()}")
        result = publish(
            ctx.runner,
            made,
            registry,
            token,
            progress=lambda m: info(redact(m, token)),
            crate_dir=cfg.crate_dir,
        )
        lines = describe(result)
    else:
        lines = [f"{name} {versions[name]}: {states[name]}" for name in versions]
    for line in lines:
        echo(redact(line, token))
    if forge is None:
        return
    tag = release_tag(lock.crate_version)
    found = forge.find_release(tag)
    if found is not None:
        echo(f"release {tag} exists: {found.url}")
        return
    changelog = cfg.crate_dir / "CHANGELOG.md"
    notes = (
        read_section(changelog.read_text(encoding="utf-8"), lock.crate_version)
        if changelog.is_file()
        else None
    )
    body = (notes or f"No changelog section for {lock.crate_version}.\n") + (
        f"\nBuilt from tflite-micro `{lock.commit}` ({lock.commit_date[:10]}); published to "
        f"{registry.name} as " + ", ".join(f"`{name} {v}`" for name, v in versions.items()) + ".\n"
    )
    target = ProjectRepo.discover(ctx.runner, cfg.project_dir).resolve("HEAD")
    name = f"tflm {lock.crate_version} (tflite-micro {lock.commit[:12]})"
    try:
        made_release = forge.release(tag, name, body, target)
    except ReleaseExistsError:
        echo(f"release {tag} exists")  # another run made it since we looked
        return
    echo(f"created release {tag}: {made_release.url}")
