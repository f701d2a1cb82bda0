"""The crate as its users get it: `.crate` files of `tflm-sys` and `tflm` for the pin.

A staging copy of the generated workspace gets `tflm-sys/vendor/` (the vendored sources and
their manifest); `cargo package` then writes and, unless told not to, verifies both
packages by building them from the packed files alone, the way a user's cargo will. Every
staged file gets the same modification time, so two runs give identical bytes. Nothing
vendored ever reaches the repository: the staging folder lives in the cache.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import shutil
import tarfile
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from bindbot.errors import PackageError
from bindbot.fsutil import staged_dir, tree_digest, write_atomic
from bindbot.package.vendor import MANIFEST_NAME, VendorSet, manifest_text, vendor_set
from bindbot.runner import Runner
from bindbot.upstream.lock import Lock

#: crates.io refuses larger uploads.
SIZE_LIMIT = 10 * 1024 * 1024
#: The packages users depend on, in publishing order (tflm depends on tflm-sys).
PACKAGES = ("tflm-sys", "tflm")
#: Staged files' modification time (2000-01-01): fixed, so the tarballs are reproducible.
FIXED_MTIME = 946684800
#: Environment that would make the packaged build find sources other than its own.
_FOREIGN_ENV = ("TFLM_SYS_SOURCE_DIR", "BINDBOT_CACHE", "TFLM_SYS_DOCS_ONLY", "DOCS_RS")


@dataclass(frozen=True)
class CrateFile:
    name: str  # tflm-sys
    version: str
    path: Path  # the .crate
    size: int
    files: int
    sha256: str


@dataclass(frozen=True)
class Package:
    commit: str
    staging: Path  # the workspace the .crate files were made from (publish uses it)
    crates: tuple[CrateFile, ...]
    vendored: int  # files under tflm-sys/vendor
    vendored_bytes: int

    def summary(self) -> str:
        parts = [f"{c.path.name} {c.size / 1024:.0f} KiB, {c.files} files" for c in self.crates]
        return "; ".join(parts) + f" ({self.vendored} vendored files)"


def crate_texts(crate_dir: Path) -> list[bytes]:
    """The crate's own C++ files whose includes the vendor scan must follow."""
    sys_dir = crate_dir / "tflm-sys"
    paths = [*sorted((sys_dir / "shim").glob("*")), sys_dir / "layout.cc"]
    return [p.read_bytes() for p in paths if p.is_file()]


def listed_sources(crate_dir: Path) -> list[str]:
    """The library files tflm-sys compiles (tflm-sources.txt: first word of each line)."""
    text = (crate_dir / "tflm-sys" / "tflm-sources.txt").read_text(encoding="utf-8")
    return [ln.split()[0] for ln in text.splitlines() if ln.strip() and not ln.startswith("#")]


def stage(crate_dir: Path, source_root: Path, lock: Lock, staging: Path) -> VendorSet:
    """Copy the workspace to `staging` and vendor the sources into its tflm-sys."""
    vendor = vendor_set(source_root, listed_sources(crate_dir), crate_texts(crate_dir))
    shutil.copytree(
        crate_dir,
        staging,
        ignore=shutil.ignore_patterns("target", ".bindbot-*"),
        dirs_exist_ok=True,
    )
    root = staging / "tflm-sys" / "vendor"
    for f in vendor.files:
        dest = root / f.path
        dest.parent.mkdir(parents=True, exist_ok=True)
        # Copy the bytes, not the cache's symlinks: the package must hold real files.
        dest.write_bytes((source_root / f.path).read_bytes())
    (root / MANIFEST_NAME).write_text(manifest_text(vendor, lock), encoding="utf-8")
    for path in staging.rglob("*"):
        os.utime(path, (FIXED_MTIME, FIXED_MTIME), follow_symlinks=False)
    return vendor


def _crate_version(staging: Path, name: str) -> str:
    data = tomllib.loads((staging / "Cargo.toml").read_text(encoding="utf-8"))
    member = tomllib.loads((staging / name / "Cargo.toml").read_text(encoding="utf-8"))
    version = member["package"]["version"]
    if isinstance(version, dict):
        version = data["workspace"]["package"]["version"]
    return str(version)


def _describe(path: Path) -> tuple[int, str]:
    raw = path.read_bytes()
    with tarfile.open(fileobj=io.BytesIO(gzip.decompress(raw))) as tar:
        count = sum(1 for m in tar.getmembers() if m.isfile())
    return count, hashlib.sha256(raw).hexdigest()


def cargo_env(base: Mapping[str, str]) -> dict[str, str]:
    """The environment for building the package: nothing that points it at other sources."""
    return {k: v for k, v in base.items() if k not in _FOREIGN_ENV}


def package(
    runner: Runner,
    crate_dir: Path,
    source_root: Path,
    lock: Lock,
    cache_dir: Path,
    out_dir: Path,
    env: Mapping[str, str],
    *,
    verify: bool = True,
) -> Package:
    """Stage, vendor and `cargo package` both crates; copy the .crate files to `out_dir`.

    Raises PackageError when cargo fails or a package is over the size limit; `out_dir` is
    then untouched.
    """
    final = cache_dir / "package" / lock.commit
    with staged_dir(final) as staging:
        vendor = stage(crate_dir, source_root, lock, staging)
    # cargo keeps the crates it unpacks from its local overlay registry under
    # ~/.cargo/registry/src/<hash of the overlay's path>, and never unpacks the same
    # name and version there again: a second package of the same version with other bytes
    # (another bindbot, a regenerated crate) would verify `tflm` against the first run's
    # `tflm-sys`. A target folder per staged content gives every package its own overlay;
    # compiled TFLM objects come from the shared object cache anyway.
    target_dir = cache_dir / "package-target" / tree_digest(final)[:16]
    args = ["cargo", "package", "--allow-dirty", "--target-dir", str(target_dir)]
    for name in PACKAGES:
        args += ["-p", name]
    if not verify:
        args.append("--no-verify")
    result = runner(args, cwd=final, env=cargo_env(env), timeout=7200)
    if result.returncode != 0:
        lines = [ln for ln in (result.stderr or "").splitlines() if "error" in ln.lower()] or (
            result.stderr or ""
        ).splitlines()[-12:]
        raise PackageError(
            "cargo package failed: " + " / ".join(lines[:6]),
            f"the packaged crate does not build on its own; reproduce with `cargo package` "
            f"in {final}",
        )
    crates = []
    for name in PACKAGES:
        version = _crate_version(final, name)
        built = target_dir / "package" / f"{name}-{version}.crate"
        if not built.is_file():
            raise PackageError(
                f"cargo package wrote no {built.name}", "check the crate's package metadata"
            )
        size = built.stat().st_size
        if size > SIZE_LIMIT:
            raise PackageError(
                f"{built.name} is {size / 1e6:.1f} MB, over the registry's 10 MB limit",
                "vendor fewer files (check tflm-sources.txt and the include scan)",
            )
        files, digest = _describe(built)
        dest = out_dir / built.name
        write_atomic(dest, built.read_bytes())
        crates.append(CrateFile(name, version, dest, size, files, digest))
    return Package(lock.commit, final, tuple(crates), len(vendor.files), vendor.total_bytes)


def read_versions(staging: Path, names: Sequence[str] = PACKAGES) -> dict[str, str]:
    return {name: _crate_version(staging, name) for name in names}
