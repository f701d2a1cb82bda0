"""Third-party code pinned by each upstream commit, and its materialisation.

tflite-micro does not vendor flatbuffers, gemmlowp, ruy or kissfft: its Makefile downloads
them from archive URLs written in `third_party_downloads.inc` and in the `*_download.sh`
scripts, checks an MD5, and applies a patch. bindbot reads those same files at each commit
(so the pins can never drift from upstream's) and materialises a pin either from a git
repository the user names (`BINDBOT_DEP_<NAME>`; no network needed) or from the archive URL
with its checksum verified. Every result is cached by pin and written atomically.
"""

from __future__ import annotations

import hashlib
import io
import json
import posixpath
import re
import zipfile
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path

import pygit2
import requests

from bindbot.config import KNOWN_DEPS, Config
from bindbot.errors import BindbotError, DependencyError
from bindbot.fsutil import staged_dir
from bindbot.runner import Runner
from bindbot.upstream.repo import Upstream, is_url, open_mirror

MAKE_DIR = "tensorflow/lite/micro/tools/make"
DOWNLOADS_INC = f"{MAKE_DIR}/third_party_downloads.inc"

#: Where each dependency's headers sit inside its source tree (TFLM's own -I flags).
INCLUDE_SUBDIR: Mapping[str, str] = {
    "flatbuffers": "include",
    "gemmlowp": "",
    "ruy": "",
    "kissfft": "",
}

_MAKE_ASSIGN = re.compile(r'^\s*([A-Z][A-Z0-9_]*)\s*:?=\s*"?([^"\s]*)"?\s*$')
_SH_ASSIGN = re.compile(r'^\s*([A-Za-z_][A-Za-z0-9_]*)="?([^"]*)"?\s*$')
_SH_PATCH = re.compile(r"apply_patch_to_folder\s+\S+\s+(\S+\.patch)")
_SH_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$([A-Za-z_][A-Za-z0-9_]*)")
_ARCHIVE = re.compile(
    r"github\.com/(?P<repo>[^/]+/[^/]+)/archive/(?:refs/tags/)?(?P<ref>.+?)\.(?:zip|tar\.gz)$"
)


@dataclass(frozen=True)
class Pin:
    """One dependency as an upstream commit pins it."""

    name: str
    url: str
    ref: str  # the tag or commit SHA the archive URL names
    md5: str | None
    patch: str | None  # upstream path of the patch applied after download
    patch_sha256: str | None
    declared_in: str  # the upstream file the pin was read from

    @property
    def cache_key(self) -> str:
        suffix = f"-p{self.patch_sha256[:12]}" if self.patch_sha256 else ""
        return f"{self.ref}{suffix}"


@dataclass(frozen=True)
class Materialised:
    """A pinned dependency on disk: its source tree and the folder to put on -I."""

    pin: Pin
    root: Path

    @property
    def include_dir(self) -> Path:
        sub = INCLUDE_SUBDIR.get(self.pin.name, "")
        return self.root / sub if sub else self.root


def _ref_from_url(name: str, url: str) -> str:
    match = _ARCHIVE.search(url)
    if match is None:
        raise DependencyError(
            f"cannot tell which version of {name} the URL {url} names",
            "report this upstream layout to bindbot; pass the dependency as a git repository",
        )
    return match.group("ref")


def _parse_make(text: str) -> dict[str, str]:
    values: dict[str, str] = {}
    for line in text.splitlines():
        match = _MAKE_ASSIGN.match(line)
        # Only the first assignment counts: later ones sit in ifeq branches for other hosts.
        if match and match.group(1) not in values:
            values[match.group(1)] = match.group(2)
    return values


def _parse_shell(text: str) -> tuple[dict[str, str], list[str]]:
    values: dict[str, str] = {}
    patches: list[str] = []

    def expand(value: str) -> str:
        return _SH_VAR.sub(lambda m: values.get(m.group(1) or m.group(2), m.group(0)), value)

    for line in text.splitlines():
        stripped = line.split("#", 1)[0] if not line.lstrip().startswith("#") else ""
        match = _SH_ASSIGN.match(stripped)
        if match:
            values[match.group(1)] = expand(match.group(2))
        patch = _SH_PATCH.search(stripped)
        if patch:
            patches.append(patch.group(1))
    return values, patches


def read_pins(upstream: Upstream, commit: pygit2.Commit) -> tuple[Pin, ...]:
    """Every known dependency's pin at `commit`, read from upstream's own download files.

    The `*_download.sh` scripts win over the `.inc` for the same dependency because they
    are what the Makefile actually runs for flatbuffers and kissfft.
    """
    found: dict[str, Pin] = {}
    inc = upstream.read(commit, DOWNLOADS_INC)
    if inc is not None:
        values = _parse_make(inc.decode("utf-8", "replace"))
        for name in KNOWN_DEPS:
            url = values.get(f"{name.upper()}_URL")
            if url:
                patch = values.get(f"{name.upper()}_PATCH_PATH") or None
                found[name] = _make_pin(
                    upstream,
                    commit,
                    name,
                    url,
                    values.get(f"{name.upper()}_MD5"),
                    patch,
                    DOWNLOADS_INC,
                )
    for name in KNOWN_DEPS:
        script = f"{MAKE_DIR}/{name}_download.sh"
        text = upstream.read(commit, script)
        if text is None:
            continue
        values, patches = _parse_shell(text.decode("utf-8", "replace"))
        url = values.get(f"{name.upper()}_URL")
        if not url or "$" in url:
            continue
        patch = None
        if patches:
            # The script runs inside downloads/<name>: resolve its relative patch path.
            patch = posixpath.normpath(posixpath.join(f"{MAKE_DIR}/downloads/{name}", patches[0]))
        elif name in found:
            patch = found[name].patch
        found[name] = _make_pin(
            upstream, commit, name, url, values.get(f"{name.upper()}_MD5"), patch, script
        )
    return tuple(found[name] for name in sorted(found))


def _make_pin(
    upstream: Upstream,
    commit: pygit2.Commit,
    name: str,
    url: str,
    md5: str | None,
    patch: str | None,
    declared_in: str,
) -> Pin:
    patch_sha = None
    if patch:
        data = upstream.read(commit, patch)
        if data is None:
            raise DependencyError(
                f"{declared_in} at {str(commit.id)[:10]} names patch {patch}, which is missing",
                "pick another upstream commit; this one cannot be built as upstream intends",
            )
        patch_sha = hashlib.sha256(data).hexdigest()
    return Pin(name, url, _ref_from_url(name, url), md5 or None, patch, patch_sha, declared_in)


class DependencyStore:
    """Materialises pins into `<cache>/deps/<name>/<ref>[-p<patch>]`, once per pin."""

    def __init__(
        self, config: Config, runner: Runner, session: requests.Session | None = None
    ) -> None:
        self.config = config
        self.runner = runner
        self.session = session or requests.Session()

    def path_for(self, pin: Pin) -> Path:
        return self.config.cache_dir / "deps" / pin.name / pin.cache_key

    def materialise(self, pin: Pin, upstream: Upstream, commit: pygit2.Commit) -> Materialised:
        """The pinned source tree on disk, patched exactly as upstream's script patches it."""
        final = self.path_for(pin)
        marker = final / ".bindbot-pin.json"
        if marker.is_file():
            return Materialised(pin, final)
        try:
            with staged_dir(final) as tmp:
                source = self.config.dep_source(pin.name)
                if source is not None:
                    self._from_git(pin, source, tmp)
                else:
                    self._from_archive(pin, tmp)
                if pin.patch:
                    patch = upstream.read(commit, pin.patch)
                    assert patch is not None  # read_pins checked it exists
                    self._apply_patch(pin, patch, tmp)
                (tmp / ".bindbot-pin.json").write_text(
                    json.dumps(asdict(pin), sort_keys=True, indent=2) + "\n", encoding="utf-8"
                )
        except DependencyError:
            raise
        except BindbotError as exc:
            raise DependencyError(
                f"cannot materialise {pin.name} {pin.ref}: {exc.problem}", exc.fix
            ) from exc
        return Materialised(pin, final)

    def _from_git(self, pin: Pin, source: str, dest: Path) -> None:
        repo = open_mirror(source, self.config.cache_dir, f"dep-{pin.name}", fetch=False)
        commit = _find_ref(repo, pin.ref)
        if commit is None:
            repo = open_mirror(source, self.config.cache_dir, f"dep-{pin.name}", fetch=True)
            commit = _find_ref(repo, pin.ref)
        if commit is None:
            var = f"BINDBOT_DEP_{pin.name.upper()}"
            raise DependencyError(
                f"{pin.name} {pin.ref} (pinned in {pin.declared_in}) is not in {source}",
                f"point {var} at a clone of {pin.url.split('/archive/')[0]} that has it",
            )
        Upstream(repo, source, "").export(commit, dest)

    def _from_archive(self, pin: Pin, dest: Path) -> None:
        var = f"BINDBOT_DEP_{pin.name.upper()}"
        try:
            response = self.session.get(pin.url, timeout=60)
        except requests.RequestException as exc:
            raise DependencyError(
                f"cannot download {pin.name} from {pin.url}: {type(exc).__name__}",
                f"check the network, or set {var} to a local git clone of {pin.name}",
            ) from exc
        if response.status_code != 200:
            raise DependencyError(
                f"downloading {pin.url} answered HTTP {response.status_code}",
                f"set {var} to a local git clone of {pin.name}",
            )
        data = response.content
        if pin.md5 is not None and hashlib.md5(data).hexdigest() != pin.md5.lower():
            raise DependencyError(
                f"{pin.url} does not match the MD5 upstream pins ({pin.md5})",
                f"the archive changed or was tampered with; set {var} to a trusted clone",
            )
        _extract_zip(data, dest, pin)

    def _apply_patch(self, pin: Pin, patch: bytes, dest: Path) -> None:
        patch_file = dest.parent / f".{pin.name}-{pin.cache_key}.patch"
        patch_file.write_bytes(patch)
        try:
            # Upstream's bash_helpers.sh applies with exactly these flags. The ceiling stops
            # git from treating an enclosing repository (the cache may live in one) as ours.
            result = self.runner(
                ["git", "apply", "--ignore-space-change", "--ignore-whitespace", str(patch_file)],
                cwd=dest,
                env={"GIT_CEILING_DIRECTORIES": str(dest.parent), "PATH": _path_env()},
            )
        finally:
            patch_file.unlink(missing_ok=True)
        if result.returncode != 0:
            first = (result.stderr.strip().splitlines() or ["no output"])[0]
            raise DependencyError(
                f"upstream's {pin.patch} does not apply to {pin.name} {pin.ref}: {first}",
                "check that the dependency repository holds the pinned, unmodified version",
            )


def _path_env() -> str:
    import os

    return os.environ.get("PATH", "/usr/bin:/bin")


def _find_ref(repo: pygit2.Repository, ref: str) -> pygit2.Commit | None:
    for name in (f"refs/tags/{ref}", ref, f"refs/remotes/origin/{ref}"):
        try:
            return repo.revparse_single(name).peel(pygit2.Commit)
        except (KeyError, ValueError, pygit2.GitError):
            continue
    return None


def _extract_zip(data: bytes, dest: Path, pin: Pin) -> None:
    """Unpack a GitHub archive, dropping its single top folder (as upstream's `mv` does)."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile as exc:
        raise DependencyError(f"{pin.url} is not a zip archive", "check the pinned URL") from exc
    root = dest.resolve()
    for member in archive.infolist():
        parts = member.filename.split("/", 1)
        if len(parts) < 2 or not parts[1]:
            continue
        target = (dest / parts[1]).resolve()
        if root not in target.parents and target != root:
            raise DependencyError(
                f"{pin.url} has an unsafe path {member.filename}", "do not use it"
            )
        if member.is_dir():
            target.mkdir(parents=True, exist_ok=True)
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(archive.read(member))


def source_label(source: str | None) -> str:
    """How a dependency was obtained, for the lock file and reports."""
    if source is None:
        return "archive"
    return source if is_url(source) else "local git repository"
