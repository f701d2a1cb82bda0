"""`bindbot run`: sync → diff against the pin → generate → verify → propose.

The run never touches the user's work tree: it exports the base branch's crate into a
staging folder in the cache, re-pins and regenerates it there, verifies that copy, commits it
on top of the base branch with a private index, and hands the commit to a forge. Anything
that fails before the forge is called leaves no trace but the staging folder and reports.

Quick exits, before anything is built: the pin is already the upstream head; the API is the
same at both commits (unless `bump_without_api_change`); an open pull request already
proposes exactly this (its state marker matches); a maintainer closed the pull request for
this upstream commit.
"""

from __future__ import annotations

import dataclasses
import hashlib
import shutil
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from bindbot import __version__, pipeline
from bindbot.config import OFFICIAL_UPSTREAM
from bindbot.diff.classify import next_version
from bindbot.diff.report import DiffReport
from bindbot.errors import VerificationError
from bindbot.forge import Forge
from bindbot.forge.branch import ProjectRepo
from bindbot.forge.propose import (
    BOT_LABEL,
    Proposal,
    existing,
    marker,
    propose,
    report_failure,
    resolve_failures,
)
from bindbot.fsutil import exclusive, tree_digest, write_atomic
from bindbot.log import info
from bindbot.package.changelog import changelog_section, update_changelog
from bindbot.render import TEMPLATES, commit_link, render
from bindbot.upstream.lock import read_lock
from bindbot.upstream.repo import CommitInfo, commit_info
from bindbot.verify.matrix import Report, Step
from bindbot.verify.targets import Target

#: Longest lists a pull request body shows; the attached reports have everything.
MAX_COMMITS = 30
MAX_CHANGES = 60
STEP_KINDS = ("build", "test", "firmware", "qemu", "cases", "package", "publish", "consumer")


@dataclass(frozen=True)
class RunOptions:
    targets: tuple[Target, ...]
    to: str | None = None  # upstream ref to move to (default: the branch head)
    allow_rewrite: bool = False
    plan_only: bool = False  # decide and print, build nothing
    propose: bool = True  # False: stop after verification (a matrix job)
    verified: tuple[Path, ...] = ()  # verify.json files from parallel jobs
    build: bool = True  # False: targets without a verify.json fail instead of being built


@dataclass
class RunResult:
    action: str  # none, propose, created, updated, unchanged, skipped-closed, verified
    message: str
    paths: list[Path] = field(default_factory=list)
    exit_code: int = 0


def tool_digest() -> str:
    """What bindbot itself is: its version, code and templates (they shape the crate)."""
    digest = hashlib.sha256(__version__.encode())
    for root in (Path(__file__).parent, TEMPLATES):
        for path in sorted(root.rglob("*")):
            if path.is_file() and path.suffix in (".py", ".j2"):
                digest.update(path.relative_to(root).as_posix().encode())
                digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def run(ctx: pipeline.Context, forge: Forge | None, opts: RunOptions) -> RunResult:
    """The whole job; `forge` may be None only when `opts.propose` is False."""
    cfg = ctx.config
    with exclusive(cfg.cache_dir / "run.lock", "bindbot run"):
        return _run(ctx, forge, opts)


def _run(ctx: pipeline.Context, forge: Forge | None, opts: RunOptions) -> RunResult:
    cfg = ctx.config
    upstream = ctx.upstream()
    head = upstream.resolve(opts.to) if opts.to else upstream.head()
    repo = ProjectRepo.discover(ctx.runner, cfg.project_dir)
    base = repo.resolve(cfg.base_branch)
    crate_rel = repo.relative(cfg.crate_dir)

    stage_root = cfg.cache_dir / "run" / "stage"
    shutil.rmtree(stage_root, ignore_errors=True)
    stage = repo.export(base, crate_rel, stage_root)
    current = read_lock(stage / "bindbot.lock")
    pinned = pipeline.pinned_commit(
        upstream, current.commit, head, opts.allow_rewrite, cfg.upstream
    )
    old, new = commit_info(pinned), commit_info(head)
    if pinned.id == head.id:
        return RunResult("none", f"no change: {cfg.base_branch} already pins {new.short}")

    store = ctx.models()
    store.model_at(pinned)  # the include closure the fingerprint compares
    commits = upstream.first_parent_range(pinned, head)
    api_changed = store.content_ids(pinned) != store.content_ids(head)
    if not api_changed and not cfg.bump_without_api_change:
        return RunResult(
            "none",
            f"no change: {len(commits)} upstream commits since {old.short}, none touches the "
            "API (set bump_without_api_change to move the pin anyway)",
        )
    state = {"upstream": new.sha, "pinned": old.sha, "bindbot": tool_digest()}
    if forge is not None and opts.propose:
        found = existing(forge, cfg.pr_branch, state)
        if found is not None:
            return RunResult(found.action, found.message)
    if opts.plan_only:
        return RunResult("propose", f"{old.short} → {new.short}: to verify and propose")

    out = cfg.out_dir / "run"
    report = pipeline.diff(ctx, str(pinned.id), str(head.id))
    paths = pipeline.write_diff(report, out)

    staged = pipeline.Context(dataclasses.replace(cfg, crate_dir=stage), ctx.runner, fetch=False)
    try:
        # Each update is a release: the version moves as the API change calls for.
        version = next_version(current.crate_version, report.semver)
        pipeline.lock(staged, new.sha, crate_version=version)
        generated = pipeline.generate(staged)
        info(f"generated for {new.short}: {len(generated.changed)} files changed")
        _write_changelog(stage, version, old, new, report)
        verified = _verify(staged, opts, out / "verify")
    finally:
        staged.close()
    paths += [out / "verify" / "verify.json", out / "verify" / "verify.md"]

    if forge is None or not opts.propose:
        status = "passed" if verified.ok else "FAILED"
        return RunResult(
            "verified",
            f"verification {status}; not proposing (--no-propose)",
            paths,
            0 if verified.ok else VerificationError.exit_code,
        )
    link = commit_link(cfg.upstream if "://" in cfg.upstream else OFFICIAL_UPSTREAM)
    if not verified.ok:
        failed = [s for s in verified.steps if not s.ok]
        fail_state = {**state, "failed": f"{failed[0].target}: {failed[0].step}"}
        body = render(
            "forge/failure.md.j2",
            marker=marker(fail_state),
            old=old,
            new=new,
            failed=failed,
            commit_url=link,
        )
        title = f"bindbot: verification failed at tflite-micro {new.short}"
        outcome = report_failure(forge, title, body, fail_state)
        raise VerificationError(
            f"{failed[0].target}: {failed[0].step} failed; no pull request ({outcome.message})",
            f"see {out / 'verify' / 'verify.md'} and {outcome.url}",
        )

    previous = _previous_sizes(stage / "sizes.json")
    sizes = sorted(verified.sizes, key=lambda size: size.target)
    write_atomic(stage / "sizes.json", Report(new.sha, [], sizes).to_json())
    state["crate"] = tree_digest(stage)
    api_list = [commit_info(c) for c in pipeline.api_commits(ctx, str(pinned.id), str(head.id))]
    counts = report.counts()
    body = render(
        "forge/pull.md.j2",
        marker=marker(state),
        old=old,
        new=new,
        total_commits=len(commits),
        api_commits=list(reversed(api_list)),
        max_commits=MAX_COMMITS,
        compare_url=_compare(cfg.upstream, old, new),
        changes=report.changes,
        max_changes=MAX_CHANGES,
        counts=counts,
        semver=report.semver,
        verified=verified,
        matrix=Matrix(verified.steps),
        sizes=verified.sizes_markdown(previous),
        previous_sizes=previous is not None,
        package=next(
            (s.detail for s in verified.steps if s.target == "package" and s.step == "package"),
            "",
        ),
        commit_url=link,
        version=__version__,
    )
    level = next(
        (lvl for lvl in ("breaking", "needs-review", "additive") if counts[lvl]), "no-api-change"
    )
    title = f"Update tflite-micro to {new.short} ({new.date[:10]})" + (
        f": {counts['breaking']} breaking API changes" if counts["breaking"] else ""
    )
    message = (
        f"Update tflite-micro to {new.short}\n\n"
        f"Upstream {old.short}..{new.short} ({len(commits)} commits, {len(api_list)} touching "
        f"the API): {counts['breaking']} breaking, {counts['needs-review']} needs review, "
        f"{counts['additive']} additive; suggested bump {report.semver.bump}.\n"
        f"Verified on {', '.join(Matrix(verified.steps).targets)}.\n\n"
        f"Generated by bindbot {__version__}.\n"
    )
    commit = repo.make_commit(base, crate_rel, stage_root, message, cfg.pr_branch, cfg.base_branch)
    write_atomic(out / "pull-body.md", body)
    paths.append(out / "pull-body.md")
    proposed = propose(
        forge,
        Proposal(cfg.pr_branch, cfg.base_branch, title, body, (BOT_LABEL, level), state),
        commit,
    )
    for issue in resolve_failures(forge, new.sha):
        info(f"closed tracking issue #{issue.number}: verification passes again")
    return RunResult(
        proposed.action, f"{old.short} → {new.short}: {proposed.message} ({proposed.url})", paths
    )


def _write_changelog(
    stage: Path, version: str, old: CommitInfo, new: CommitInfo, report: DiffReport
) -> None:
    """The version's section in the staged crate's CHANGELOG.md, committed with the update.

    Dated with the upstream commit's date, not today's: the parallel verify jobs and a rerun
    for the same commit must write the same bytes (the crate digest covers this file).
    """
    path = stage / "CHANGELOG.md"
    existing = path.read_text(encoding="utf-8") if path.is_file() else None
    section = changelog_section(version, new.date[:10], old, new, report)
    write_atomic(path, update_changelog(existing, section, version))


def _verify(staged: pipeline.Context, opts: RunOptions, out: Path) -> Report:
    """Merge reports from parallel jobs (same commit, same crate bytes), verify the rest."""
    pinned = read_lock(staged.config.lock_path).commit
    crate = tree_digest(staged.config.crate_dir)
    merged = Report(pinned, crate=crate)
    for path in opts.verified:
        other = Report.from_json(path.read_text(encoding="utf-8"))
        if other.commit != pinned or other.crate != crate:
            raise VerificationError(
                f"{path} verified another crate ({other.commit[:10]}, {other.crate[:10]}) than "
                f"this run made ({pinned[:10]}, {crate[:10]})",
                "run every job of the workflow at the same upstream commit and bindbot version",
            )
        merged = merged.merged(other)
    done = {s.target for s in merged.steps}
    todo = [t for t in opts.targets if t.name not in done]
    if todo and not opts.build:
        # The workflow's propose job: a target whose job left no report did not pass.
        missing = [Step(t.name, "report", False, 0.0, "its job left no verify.json") for t in todo]
        merged = merged.merged(Report(pinned, missing, [], crate))
    elif todo:
        try:
            report, _ = pipeline.verify(staged, todo, out)
        except VerificationError:
            report = Report.from_json((out / "verify.json").read_text(encoding="utf-8"))
        merged = merged.merged(report)
    write_atomic(out / "verify.json", merged.to_json())
    write_atomic(out / "verify.md", merged.to_markdown())
    return merged


class Matrix:
    """Target by step kind, for the pull request body."""

    def __init__(self, steps: Sequence[Step]) -> None:
        self.steps = steps
        self.targets = list(dict.fromkeys(s.target for s in steps))
        self.kinds = [k for k in STEP_KINDS if any(s.step.startswith(k) for s in steps)]

    def cell(self, target: str, kind: str) -> str:
        found = [s for s in self.steps if s.target == target and s.step.startswith(kind)]
        if not found:
            return "n/a"

        def mark(s: Step) -> str:
            # "✅ 133/133 cases": how many models on their inputs ran and matched.
            return ("✅" if s.ok else "❌") + (f" {s.cases()}" if s.cases_run else "")

        if kind in ("qemu", "cases", "consumer"):
            return "<br>".join(f"{s.step.split()[1]} {mark(s)}" for s in found)
        if len(found) == 1:
            return mark(found[0])
        return "✅" if all(s.ok for s in found) else "❌"


def _previous_sizes(path: Path) -> Report | None:
    """The sizes the base branch's crate was proposed with (a verify report without steps)."""
    if not path.is_file():
        return None
    try:
        return Report.from_json(path.read_text(encoding="utf-8"))
    except (ValueError, KeyError, TypeError):
        info(f"warning: {path} is unreadable; sizes are shown without deltas")
        return None


def _compare(upstream: str, old: CommitInfo, new: CommitInfo) -> str:
    base = (upstream if "://" in upstream else OFFICIAL_UPSTREAM).removesuffix(".git")
    return f"{base}/compare/{old.sha}...{new.sha}"
