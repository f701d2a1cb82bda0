"""The only place the stages are wired together.

Each function here composes stages for one CLI command; the stages themselves take typed
inputs and know nothing of each other.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pygit2

from bindbot.api.extract import find_resource_dir
from bindbot.api.model import ApiModel, RecordEntity
from bindbot.api.store import ModelStore
from bindbot.api.surface import API_HEADERS
from bindbot.build.kernels import OpKernels
from bindbot.build.sources import library_sources
from bindbot.config import OFFICIAL_UPSTREAM, Config
from bindbot.diff.classify import diff_models
from bindbot.diff.report import DiffReport
from bindbot.diff.timeline import Timeline, build_timeline
from bindbot.errors import ConfigError, LockError, UnknownRefError, VerificationError
from bindbot.fsutil import tree_digest, write_atomic
from bindbot.generate.bindgen import run_bindgen
from bindbot.generate.crate import GeneratedFile, op_feature, op_macro, render_crate, stamp
from bindbot.generate.layout import c_probe, rust_checks
from bindbot.generate.layout import probes as layout_probes
from bindbot.generate.plan import GenPlan
from bindbot.generate.plan import plan as plan_crate
from bindbot.generate.rustfmt import format_rust
from bindbot.generate.shimcheck import check_shim
from bindbot.generate.write import check, write_all
from bindbot.log import Progress, info
from bindbot.package.crate import Package
from bindbot.reference.store import ReferenceSet
from bindbot.render import commit_link, render
from bindbot.report.chart import write_chart
from bindbot.runner import Runner
from bindbot.upstream.deps import DependencyStore, Materialised, read_pins
from bindbot.upstream.lock import Lock, read_lock, write_lock
from bindbot.upstream.repo import Upstream, commit_info, is_url
from bindbot.upstream.sourcetree import ensure_sources
from bindbot.verify.matrix import Report, Step, Verifier
from bindbot.verify.targets import Target


@dataclass
class Context:
    """Resolved config plus lazily opened stages, shared by one command."""

    config: Config
    runner: Runner
    fetch: bool = True
    _upstream: Upstream | None = field(default=None, init=False)
    _models: ModelStore | None = field(default=None, init=False)
    _deps: DependencyStore | None = field(default=None, init=False)

    def upstream(self) -> Upstream:
        if self._upstream is None:
            self._upstream = Upstream.open(
                self.config.upstream, self.config.cache_dir, self.config.branch, fetch=self.fetch
            )
            self.fetch = False  # one fetch per command is enough
        return self._upstream

    def deps(self) -> DependencyStore:
        if self._deps is None:
            self._deps = DependencyStore(self.config, self.runner)
        return self._deps

    def models(self) -> ModelStore:
        if self._models is None:
            self._models = ModelStore(self.config, self.upstream(), self.deps(), self.runner)
        return self._models

    def close(self) -> None:
        if self._models is not None:
            self._models.close()


def model(ctx: Context, ref: str) -> ApiModel:
    return ctx.models().model_at(ctx.upstream().resolve(ref)).model


def diff(ctx: Context, old_ref: str, new_ref: str) -> DiffReport:
    upstream = ctx.upstream()
    old, new = upstream.resolve(old_ref), upstream.resolve(new_ref)
    a, b = ctx.models().model_at(old), ctx.models().model_at(new)
    return DiffReport(
        upstream=ctx.config.upstream,
        old=commit_info(old),
        new=commit_info(new),
        old_model=a.model.digest(),
        new_model=b.model.digest(),
        changes=tuple(diff_models(a.model, b.model)),
    )


def render_diff(report: DiffReport, fmt: str) -> str:
    if fmt == "json":
        return report.to_json()
    return render(
        "report/diff.md.j2",
        old=report.old,
        new=report.new,
        changes=report.changes,
        counts=report.counts(),
        semver=report.semver,
        commit_url=commit_link(report.upstream),
    )


def write_diff(report: DiffReport, out_dir: Path, stem: str = "api-changes") -> list[Path]:
    paths = [out_dir / f"{stem}.md", out_dir / f"{stem}.json"]
    write_atomic(paths[0], render_diff(report, "md"))
    write_atomic(paths[1], render_diff(report, "json"))
    return paths


def history(
    ctx: Context, start: str | None, end: str, out_dir: Path
) -> tuple[Timeline, list[Path]]:
    upstream = ctx.upstream()
    new = upstream.resolve(end)
    old = upstream.resolve(start) if start else None
    commits = upstream.first_parent_range(old, new)
    if old is not None:
        commits.insert(0, old)
    else:
        # Without --from, start where the API starts: the first commits of a repository
        # (a README, a license) have nothing to parse.
        while commits and set(upstream.blob_ids(commits[0], API_HEADERS)) == {"-"}:
            commits.pop(0)
    if len(commits) < 2:
        raise UnknownRefError(
            f"no commits between {start} and {end}",
            "give an older --from than --to on the same branch",
        )
    progress = Progress("history", len(commits) - 1)
    timeline = build_timeline(ctx.models(), ctx.config.upstream, commits, progress)
    markdown = render(
        "report/history.md.j2",
        t=timeline,
        totals=timeline.totals(),
        max_lines=12,
        commit_url=commit_link(ctx.config.upstream),
    )
    paths = [out_dir / "history.md", out_dir / "history.json"]
    write_atomic(paths[0], markdown)
    write_atomic(paths[1], timeline.to_json())
    title = f"TFLM API changes per month, {timeline.start.date[:7]} to {timeline.end.date[:7]}"
    paths += write_chart(timeline.monthly(), title, out_dir / "history")
    return timeline, paths


def api_commits(ctx: Context, start: str, end: str) -> list[pygit2.Commit]:
    """Commits after `start` up to `end` that touch a file the API parse reads.

    The file set is the include closure of the newest parse (made for `end` if the cache has
    none yet), plus the API headers and the dependency pin files.
    """
    upstream = ctx.upstream()
    old, new = upstream.resolve(start), upstream.resolve(end)
    store = ctx.models()
    store.model_at(new)  # makes sure an include closure is known
    out = []
    previous = old
    for commit in upstream.first_parent_range(old, new):
        if store.content_ids(commit) != store.content_ids(previous):
            out.append(commit)
        previous = commit
    return out


def materialise_deps(ctx: Context, ref: str) -> list[Materialised]:
    upstream = ctx.upstream()
    commit = upstream.resolve(ref)
    return [ctx.deps().materialise(pin, upstream, commit) for pin in read_pins(upstream, commit)]


def make_lock(ctx: Context, commit: pygit2.Commit, crate_version: str | None = None) -> Lock:
    """A lock pinning `commit`; the crate version is kept from the current lock unless
    given (moving the pin does not by itself release anything)."""
    if crate_version is None:
        path = ctx.config.lock_path
        crate_version = read_lock(path).crate_version if path.is_file() else "0.1.0"
    upstream = ctx.upstream()
    info_ = commit_info(commit)
    snapshot = ctx.models().model_at(commit)
    # A local path is a mirror of the official repository; the lock names the canonical URL
    # so that a committed lock never carries one machine's folder layout.
    url = ctx.config.upstream if is_url(ctx.config.upstream) else OFFICIAL_UPSTREAM
    return Lock(
        upstream_url=url,
        branch=ctx.config.branch,
        commit=info_.sha,
        commit_date=info_.date,
        api_model_hash=snapshot.model.digest(),
        deps=tuple(Lock.dep_from_pin(p) for p in read_pins(upstream, commit)),
        crate_version=crate_version,
    )


def lock(ctx: Context, ref: str | None, crate_version: str | None = None) -> Lock:
    """Pin the crate at `ref` (default: the tracked branch's head). Everything is computed
    before the file is touched, so a failure leaves the old lock in place."""
    upstream = ctx.upstream()
    commit = upstream.resolve(ref) if ref else upstream.head()
    new_lock = make_lock(ctx, commit, crate_version)
    write_lock(ctx.config.lock_path, new_lock)
    return new_lock


def sources(ctx: Context, ref: str | None = None) -> Path:
    """Export the pinned (or given) commit and its dependencies for tflm-sys's build.rs."""
    upstream = ctx.upstream()
    commit = (
        upstream.resolve(ref) if ref else upstream.resolve(read_lock(ctx.config.lock_path).commit)
    )
    return ensure_sources(upstream, ctx.deps(), ctx.config.cache_dir, commit)


def package(ctx: Context, out_dir: Path, *, verify: bool = True) -> Package:
    """The .crate files of the committed crate, with the pinned sources vendored."""
    from bindbot.package.crate import package as make_package

    pinned = read_lock(ctx.config.lock_path)
    root = sources(ctx)
    cache = ctx.config.cache_dir
    env = {**os.environ, "TFLM_SYS_OBJECT_CACHE": str(cache / "objects")}
    info(f"packaging tflm-sys and tflm at tflite-micro {pinned.commit[:12]}")
    return make_package(
        ctx.runner, ctx.config.crate_dir, root, pinned, cache, out_dir, env, verify=verify
    )


def reference(ctx: Context, ref: str | None = None) -> ReferenceSet:
    """The reference the crate is verified against at the pin (or `ref`), made from the
    pinned tree by the reference runner and cached by pin and content."""
    from bindbot.reference.store import ensure_reference

    upstream = ctx.upstream()
    commit = upstream.resolve(ref or read_lock(ctx.config.lock_path).commit)
    root = ensure_sources(upstream, ctx.deps(), ctx.config.cache_dir, commit)
    gen_plan, _ = linkable_plan(
        root / "tflm",
        library_sources(root / "tflm").all(),
        plan_crate(ctx.models().model_at(commit).model, str(commit.id)),
    )
    header = render(
        "reference/runner_ops.h.j2",
        stamp=stamp(str(commit.id)),
        ops=gen_plan.ops,
        needs_error_reporter=gen_plan.needs_error_reporter,
    )
    found = ensure_reference(
        ctx.runner, root, str(commit.id), header, ctx.config.cache_dir, commit_info(commit).date
    )
    info(found.summary())
    return found


def verify_as_user(ctx: Context, out_dir: Path, golden: Path) -> list[Step]:
    """The `package` row: package, publish to a local registry, build a user's application
    from it for the host and Cortex-M, run it on the host and QEMU M4F."""
    import tomllib

    from bindbot.verify.consumer import choose_spec
    from bindbot.verify.registry import find_tool
    from bindbot.verify.userflow import UserFlow

    manifest = tomllib.loads((ctx.config.crate_dir / "tflm" / "Cargo.toml").read_text())
    ops = frozenset(
        "add_" + name.removeprefix("op-").replace("-", "_")
        for name in manifest.get("features", {})
        if name.startswith("op-")
    )
    spec = choose_spec(golden, ops)
    work = ctx.config.cache_dir / "user"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    flow = UserFlow(
        ctx.runner,
        work,
        find_tool(ctx.config.project_dir),
        spec,
        stamp(read_lock(ctx.config.lock_path).commit),
        dict(os.environ),
        progress=info,
    )
    steps, _ = flow.run(lambda: package(ctx, out_dir / "package"))
    return steps


@dataclass(frozen=True)
class GenerateResult:
    commit: str
    changed: tuple[str, ...]
    ops: int


#: Upstream's reference log hook (vfprintf to stderr); the shim provides DebugLog instead.
DEBUG_LOG_SOURCE = "tensorflow/lite/micro/debug_log.cc"


#: Where MicroMutableOpResolver's Add* methods are defined (the operator code each registers).
RESOLVER_HEADER = "tensorflow/lite/micro/micro_mutable_op_resolver.h"


def linkable_plan(
    tree: Path, sources: Sequence[str], gen_plan: GenPlan
) -> tuple[GenPlan, OpKernels]:
    """The plan without the resolver methods whose registration no library source defines
    (enabling one would not link: in 2022 AddUnidirectionalSequenceLSTM named a kernel only
    the Xtensa port had), and the library's split into per-op files."""
    from bindbot.build.kernels import op_files

    kernels = op_files(tree, sources, [op.method for op in gen_plan.ops])
    undefined = set(kernels.undefined)
    ops = tuple(
        op
        for op in gen_plan.ops
        if not undefined.intersection(kernels.registrations.get(op.method, ()))
    )
    dropped = sorted({op.method for op in gen_plan.ops} - {op.method for op in ops})
    if dropped:
        info(f"left out {', '.join(dropped)}: no library source defines their kernels")
    return dataclasses.replace(gen_plan, ops=ops), kernels


def op_features(kernels: OpKernels, gen_plan: GenPlan) -> dict[str, list[str]]:
    """Library file -> the op features that need it; files not named are always compiled."""
    by_method = {op.method: op_feature(op.rust) for op in gen_plan.ops}
    out: dict[str, list[str]] = {}
    for method, files in kernels.ops.items():
        if method not in by_method:
            continue
        for f in files:
            out.setdefault(f, []).append(by_method[method])
    return {f: sorted(set(v)) for f, v in sorted(out.items())}


def generate(ctx: Context, *, check_only: bool = False) -> GenerateResult:
    """Render the crate for the lock's commit; write it (or, with check_only, compare)."""
    from bindbot.build.opcodes import method_opcodes

    upstream = ctx.upstream()
    pinned = read_lock(ctx.config.lock_path)
    commit = upstream.resolve(pinned.commit)
    snapshot = ctx.models().model_at(commit)
    tree = ensure_sources(upstream, ctx.deps(), ctx.config.cache_dir, commit)
    library = library_sources(tree / "tflm")
    # The shim implements TFLM's platform log hook itself (its output goes to Rust).
    compiled = [f for f in library.all() if f != DEBUG_LOG_SOURCE]
    gen_plan, kernels = linkable_plan(
        tree / "tflm", compiled, plan_crate(snapshot.model, str(commit.id))
    )
    files = render_crate(
        gen_plan,
        snapshot.model,
        commit_info(commit),
        compiled,
        kernels=frozenset(f for f in compiled if library.is_kernel(f)),
        features=op_features(kernels, gen_plan),
        version=pinned.crate_version,
        opcodes=method_opcodes(
            (tree / "tflm" / RESOLVER_HEADER).read_text(encoding="utf-8", errors="replace")
        ),
    )
    # Before anything is written: a shim that does not compile against this pin is an
    # error here (exit 75), not a crate that fails to build later.
    check_shim(
        ctx.runner,
        {
            f.path.rsplit("/", 1)[1]: f.text
            for f in files
            if f.path.startswith("tflm-sys/shim/") and f.path.endswith((".cc", ".h"))
        },
        tree,
        (*ctx.config.defines, *(op_macro(op_feature(op.rust)) for op in gen_plan.ops)),
        str(commit.id),
    )
    header = next(f.text for f in files if f.path.endswith("tflm_shim.h"))
    bindings = run_bindgen(
        ctx.runner,
        header,
        [tree / "tflm"],
        ctx.config.defines,
        stamp(str(commit.id)),
        resource_dir=find_resource_dir(ctx.config.clang_resource_dir, ctx.runner),
    )
    files.append(GeneratedFile("tflm-sys/src/bindings.rs", bindings))
    c_fields = {
        e.name: {f.name for f in e.fields}
        for e in snapshot.model.entities
        if isinstance(e, RecordEntity)
    }
    layout_items = layout_probes(bindings, c_fields)
    files.append(GeneratedFile("tflm-sys/layout.cc", c_probe(layout_items, stamp(str(commit.id)))))
    files.append(
        GeneratedFile("tflm-sys/src/layout.rs", rust_checks(layout_items, stamp(str(commit.id))))
    )
    files = format_rust(ctx.runner, files)
    if check_only:
        check(ctx.config.crate_dir, files)
        return GenerateResult(str(commit.id), (), len(gen_plan.ops))
    changed = write_all(ctx.config.crate_dir, files)
    return GenerateResult(str(commit.id), tuple(changed), len(gen_plan.ops))


def pinned_commit(
    upstream: Upstream, lock_commit: str, head: pygit2.Commit, allow_rewrite: bool, where: str
) -> pygit2.Commit:
    """The lock's commit in the mirror, refusing a pin that upstream's history dropped."""
    try:
        pinned = upstream.resolve(lock_commit)
    except UnknownRefError as exc:
        raise LockError(
            f"the pinned commit {lock_commit[:10]} is not in {where} (was upstream force-pushed?)",
            "re-pin with `bindbot lock REF` after checking the upstream history",
        ) from exc
    if not upstream.contains(pinned, head):
        if not allow_rewrite:
            raise LockError(
                f"upstream was force-pushed: the pinned commit {lock_commit[:10]} is no longer "
                "in its history",
                "review the upstream rewrite, then re-pin with `bindbot lock REF` or pass "
                "--allow-rewritten-history to compare the trees anyway",
            )
        info(f"warning: pinned {lock_commit[:10]} is not an ancestor of {head.id}")
    return pinned


@dataclass(frozen=True)
class RunResult:
    report: DiffReport | None
    lock: Lock
    paths: tuple[Path, ...]
    message: str


def run(ctx: Context, *, update_lock: bool = False, allow_rewrite: bool = False) -> RunResult:
    """The main job so far: follow upstream and report the API change since the pin.

    Later stages (generate, verify, propose) hang off this same function.
    """
    upstream = ctx.upstream()
    head = upstream.head()
    path = ctx.config.lock_path
    if not path.exists():
        new_lock = lock(ctx, str(head.id))
        msg = f"no lock yet: pinned {path} at {new_lock.commit[:10]} ({new_lock.commit_date})"
        return RunResult(None, new_lock, (path,), msg)
    current = read_lock(path)
    pinned = pinned_commit(upstream, current.commit, head, allow_rewrite, ctx.config.upstream)
    if pinned.id == head.id:
        return RunResult(None, current, (), f"no change: {path} already pins {head.id}")
    report = diff(ctx, str(pinned.id), str(head.id))
    stem = f"api-changes-{report.old.short}-{report.new.short}"
    paths = write_diff(report, ctx.config.out_dir, stem)
    new_lock = current
    if update_lock:
        new_lock = lock(ctx, str(head.id))
        paths.append(path)
    counts = report.counts()
    msg = f"{report.old.short} → {report.new.short}: " + (
        "no API change"
        if not report.changes
        else f"{counts['breaking']} breaking, {counts['needs-review']} needs review, "
        f"{counts['additive']} additive; suggested bump {report.semver.bump}"
    )
    return RunResult(report, new_lock, tuple(paths), msg)


def verify(
    ctx: Context, targets: Sequence[Target], out_dir: Path, previous: Path | None = None
) -> tuple[Report, list[Path]]:
    """Build and test the generated crate on `targets`; write verify.json and verify.md.

    Raises VerificationError (after writing the report) when any step failed.
    """
    golden = ctx.config.golden_dir
    # A missing fixture fails the tests: the golden files of a folder the user gave, the
    # reference cases of the one bindbot made (where an older pin lacks an example model,
    # that model's golden test skips).
    require = {"TFLM_REQUIRE_GOLDEN": "1"}
    if golden is None:
        # The reference bindbot makes from the pin itself; BINDBOT_GOLDEN overrides it.
        golden = reference(ctx).root
        require = {"TFLM_REQUIRE_REFERENCE": "1"}
    elif not (golden / "models").is_dir():
        raise ConfigError(
            f"no golden folder with models/ at {golden}",
            "point BINDBOT_GOLDEN (or --golden) at a folder with models/, inputs/ and "
            "outputs/, or unset it to use the reference `bindbot reference` makes",
        )
    pinned = read_lock(ctx.config.lock_path)
    sources(ctx)  # build.rs reads the exported tree from the cache
    cache = ctx.config.cache_dir
    env = {
        **os.environ,
        "BINDBOT_CACHE": str(cache),
        "CARGO_TARGET_DIR": str(cache / "verify-target"),
        "TFLM_SYS_OBJECT_CACHE": str(cache / "objects"),
        **require,
    }
    verifier = Verifier(ctx.runner, ctx.config.crate_dir, golden, env, progress=info)
    # Digest before building: the bytes that were verified, not what cargo leaves behind.
    crate = tree_digest(ctx.config.crate_dir)
    report = verifier.run(targets, pinned.commit)
    report.crate = crate
    if any(t.is_package for t in targets):
        report.steps += verify_as_user(ctx, out_dir, golden)
    before_path = previous or out_dir / "verify.json"
    before = None
    if before_path.is_file():
        found = Report.from_json(before_path.read_text())
        before = found if found.commit != report.commit or previous else None
    paths = [out_dir / "verify.json", out_dir / "verify.md"]
    write_atomic(paths[0], report.to_json())
    write_atomic(paths[1], report.to_markdown(before))
    if not report.ok:
        failed = next(s for s in report.steps if not s.ok)
        raise VerificationError(
            f"{failed.target}: {failed.step} failed: {(failed.detail.splitlines() or [''])[0]}",
            f"see {paths[1]} for every target and step",
        )
    return report, paths


from typing import TYPE_CHECKING  # noqa: E402 (kept with the one function that needs it)

if TYPE_CHECKING:  # bindbot.replay drives this module: imported at run time in replay()
    from bindbot.replay import ReplayResult


def replay(
    ctx: Context,
    sample: int,
    since: str,
    end: str | None,
    builds: int,
    out_dir: Path,
    *,
    build_before: int = 1,
) -> tuple[ReplayResult, list[Path]]:
    """Regenerate a sample of upstream's history with today's templates (each commit in its
    own scratch crate in the cache), build a few, and write replay.md and replay.json."""
    from bindbot.replay import run as run_replay

    result = run_replay(ctx, sample, since, end, builds, out_dir, build_before=build_before)
    paths = [out_dir / "replay.md", out_dir / "replay.json"]
    write_atomic(paths[0], result.to_markdown())
    write_atomic(paths[1], result.to_json())
    return result, paths
