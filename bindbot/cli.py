"""Command line: parse arguments, resolve the config once, call the pipeline, map errors.

Exit statuses: `diff` and `run --report-only` use 0 (no API change), 1 (compatible change),
2 (breaking change); `run` uses 0 when it did its job (proposed, updated, or found nothing
to do); every failure has its own status from 64 up (see `bindbot.errors`).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

import tomli_w

from bindbot import __version__, doctor, pipeline
from bindbot.config import Config, resolve
from bindbot.errors import EXIT_CODES, BindbotError, UsageError
from bindbot.forge import Forge
from bindbot.fsutil import write_atomic
from bindbot.log import info
from bindbot.runner import Runner, subprocess_runner


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise UsageError(message, f"see `{self.prog} --help`")


def _common() -> _Parser:
    p = _Parser(add_help=False)
    g = p.add_argument_group("where things are (override config and environment)")
    g.add_argument("--upstream", help="URL or path of a tflite-micro git repository")
    g.add_argument("--branch", help="upstream branch to follow (default: main)")
    g.add_argument("--cache-dir", help="mirrors, dependencies and parsed models")
    g.add_argument("--crate-dir", help="the generated crate (holds bindbot.lock)")
    g.add_argument("--config", type=Path, help="a bindbot.toml to read")
    g.add_argument(
        "--dep",
        action="append",
        default=[],
        metavar="NAME=REPO",
        help="git repository (URL or path) for a dependency, e.g. flatbuffers=/src/flatbuffers",
    )
    g.add_argument("--offline", action="store_true", help="do not fetch the upstream mirror")
    return p


def _flag(parser: argparse.ArgumentParser, name: str, help_: str) -> None:
    parser.add_argument(name, action="store_true", help=help_)


def build_parser() -> argparse.ArgumentParser:
    common = _common()
    parser = _Parser(
        prog="bindbot",
        description="Keeps a safe Rust crate for TensorFlow Lite Micro in step with upstream.",
    )
    parser.add_argument("--version", action="version", version=f"bindbot {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    def add(name: str, help_: str) -> argparse.ArgumentParser:
        return sub.add_parser(name, help=help_, description=help_, parents=[common])

    p = add("config", "print the resolved configuration and where each value came from")
    p.add_argument("--format", choices=("toml", "json"), default="toml")
    add("doctor", "check every external tool the pipeline uses")
    add("sync", "clone or fetch the upstream mirror and print the branch head")
    p = add("resolve", "print the commit a ref names")
    p.add_argument("ref")
    p = add("commits", "list the commits in a range that touch the API headers")
    p.add_argument("old")
    p.add_argument("new")
    p = add("deps", "print (and with --materialise, fetch) the third-party pins of a commit")
    p.add_argument("ref", nargs="?", default=None)
    p.add_argument("--materialise", action="store_true")
    p = add("export", "write a commit's tree (or only its headers) to a folder")
    p.add_argument("ref")
    p.add_argument("dest", type=Path)
    p.add_argument("--headers-only", action="store_true")
    p = add("api", "print the API model of a commit as JSON")
    p.add_argument("ref")
    p.add_argument("-o", "--output", type=Path)
    p = add("diff", "report the API changes between two commits")
    p.add_argument("old")
    p.add_argument("new")
    p.add_argument("--format", choices=("md", "json"), default="md")
    p.add_argument("-o", "--output", type=Path, help="write here instead of stdout")
    p = add("history", "timeline and chart of every API change in a range")
    p.add_argument("--from", dest="start", default=None, help="first commit (default: the root)")
    p.add_argument("--to", dest="end", default=None, help="last commit (default: branch head)")
    p.add_argument("--out", type=Path, default=None, help="folder (default: <out_dir>/history)")
    p = add(
        "replay",
        "regenerate a sample of upstream's history with today's templates, build a few, and "
        "report how much of it generates and passes host tests",
    )
    p.add_argument("--sample", type=int, required=True, metavar="N", help="commits to replay")
    p.add_argument(
        "--from", dest="start", required=True, metavar="DATE", help="first day (YYYY-MM-DD)"
    )
    p.add_argument("--to", dest="end", default=None, help="last commit (default: branch head)")
    p.add_argument(
        "--build",
        type=int,
        default=3,
        metavar="K",
        help="generated commits to build and host-test (default: 3; 0 only generates)",
    )
    p.add_argument(
        "--build-before-2023",
        dest="build_before",
        type=int,
        default=1,
        metavar="B",
        help="of those, at least B dated before 2023 where the sample has them (default: 1)",
    )
    p.add_argument("--out", type=Path, default=None, help="folder (default: <out_dir>/replay)")
    add("sources", "export the pinned upstream tree and dependencies for tflm-sys's build")
    p = add("package", "write the .crate files of tflm-sys and tflm with the sources vendored")
    p.add_argument("--out", type=Path, default=None, help="folder (default: <out_dir>/package)")
    _flag(p, "--no-verify", "skip cargo's build of the packed files")
    p = add(
        "publish",
        "package the crate, publish tflm-sys and tflm to a cargo registry (skipping versions "
        "it has), and create the forge release v<version>",
    )
    p.add_argument(
        "--registry", default=None, help="cargo registry name (BINDBOT_REGISTRY; crates-io)"
    )
    p.add_argument(
        "--index",
        default=None,
        help="its index: file:// (git) or sparse+http(s):// (BINDBOT_REGISTRY_INDEX)",
    )
    p.add_argument("--out", type=Path, default=None, help="folder (default: <out_dir>/package)")
    _flag(p, "--no-verify", "skip cargo's build of the packed files")
    _flag(p, "--no-release", "publish only; do not create the forge release")
    p = add("generate", "generate rust_crate/ for the pinned upstream commit")
    _flag(p, "--check", "fail if the committed crate differs from what would be generated")
    p = add("lock", "pin rust_crate/bindbot.lock at a commit (default: branch head)")
    p.add_argument("ref", nargs="?", default=None)
    p = add(
        "reference",
        "make the reference the crate is verified against: upstream's example and per-op "
        "test models with their inputs and expected outputs, from the pinned tree",
    )
    p.add_argument("ref", nargs="?", default=None, help="commit (default: the lock's pin)")
    p = add("verify", "build and test the crate on the target matrix (host and Cortex-M)")
    p.add_argument(
        "--targets",
        default="all",
        help="comma-separated: host,m0plus,m3,m4f,m33 or all (default)",
    )
    p.add_argument("--golden", type=Path, default=None, help="models/inputs/outputs folder")
    p.add_argument("--out", type=Path, default=None, help="folder (default: <out_dir>/verify)")
    p.add_argument("--previous", type=Path, default=None, help="an earlier verify.json")
    p = add(
        "run",
        "the main job: sync, diff against the pin, generate, verify, and propose a pull request",
    )
    _flag(
        p, "--dry-run", "use the local forge: write branch, commit, PR body and patch into a folder"
    )
    p.add_argument("--to", default=None, help="upstream ref to move to (default: branch head)")
    p.add_argument("--targets", default=None, help="verify these (default: verify_targets)")
    p.add_argument("--golden", type=Path, default=None, help="models/inputs/outputs folder")
    _flag(
        p,
        "--plan",
        "decide without building; print action=none|propose and head=SHA (for workflows)",
    )
    _flag(p, "--no-propose", "stop after verification (a matrix job)")
    p.add_argument(
        "--verified",
        type=Path,
        action="append",
        default=[],
        metavar="VERIFY_JSON",
        help="a verify.json from a parallel job; its targets are not verified again",
    )
    _flag(
        p,
        "--no-build",
        "with --verified: a target without a report fails instead of being built here",
    )
    _flag(
        p,
        "--report-only",
        "only write the API-change report between the pin and upstream (no build, no PR)",
    )
    _flag(p, "--update-lock", "with --report-only: move the pin to head")
    _flag(
        p,
        "--allow-rewritten-history",
        "go on even if upstream was force-pushed and the pin is no longer in its history",
    )
    return parser


def _deps(values: Sequence[str]) -> dict[str, str]:
    out = {}
    for item in values:
        name, sep, repo = item.partition("=")
        if not sep or not name or not repo:
            raise UsageError(f"--dep {item!r} is not NAME=REPO", "e.g. --dep flatbuffers=/src/fb")
        out[name.lower()] = repo
    return out


def main(argv: Sequence[str] | None = None, runner: Runner = subprocess_runner) -> int:
    try:
        return _main(argv, runner)
    except BindbotError as exc:
        print(f"bindbot: error: {redact_secrets(exc.one_line())}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("bindbot: interrupted; outputs were left as they were", file=sys.stderr)
        return 130


def _main(argv: Sequence[str] | None, runner: Runner) -> int:
    args = build_parser().parse_args(argv)
    cli: dict[str, Any] = {
        "upstream": args.upstream,
        "branch": args.branch,
        "cache_dir": args.cache_dir,
        "crate_dir": args.crate_dir,
        "deps": _deps(args.dep),
    }
    config = resolve(Path.cwd(), config_file=args.config, cli=cli)
    ctx = pipeline.Context(config, runner, fetch=not args.offline)
    try:
        return _dispatch(args, ctx)
    finally:
        ctx.close()


def _out(text: str, path: Path | None) -> None:
    if path is None:
        sys.stdout.write(text)
    else:
        write_atomic(path, text)
        info(f"wrote {path}")


def _dispatch(args: argparse.Namespace, ctx: pipeline.Context) -> int:
    cfg = ctx.config
    cmd = args.command
    if cmd == "config":
        table = cfg.as_table()
        table["origins"] = dict(cfg.origins)
        text = (
            json.dumps(table, indent=2, sort_keys=True) + "\n"
            if args.format == "json"
            else tomli_w.dumps(table)
        )
        sys.stdout.write(text)
        return 0
    if cmd == "doctor":
        results = doctor.checks(cfg, ctx.runner)
        width = max(len(c.name) for c in results)
        for c in results:
            mark = "ok     " if c.found else "MISSING"
            tail = c.version if c.found else f"install: {c.hint}"
            print(f"{mark} {c.name:<{width}}  [{c.needed_for}] {tail}")
        missing = [c for c in results if c.required and not c.found]
        if missing:
            names = ", ".join(c.name for c in missing)
            raise_missing(names, missing[0].hint)
        return 0
    if cmd == "sync":
        up = ctx.upstream()
        head = up.info(up.head())
        print(f"{head.sha} {head.date} {head.subject}")
        return 0
    if cmd == "resolve":
        up = ctx.upstream()
        named = up.info(up.resolve(args.ref))
        print(f"{named.sha} {named.date} {named.subject}")
        return 0
    if cmd == "commits":
        for commit in pipeline.api_commits(ctx, args.old, args.new):
            found = ctx.upstream().info(commit)
            print(f"{found.sha} {found.date} {found.subject}")
        return 0
    if cmd == "deps":
        ref = args.ref or cfg.branch
        if args.materialise:
            for m in pipeline.materialise_deps(ctx, ref):
                print(f"{m.pin.name:12} {m.pin.ref:42} {m.root}")
        else:
            from bindbot.upstream.deps import read_pins

            up = ctx.upstream()
            for pin in read_pins(up, up.resolve(ref)):
                patch = f" patch={pin.patch}" if pin.patch else ""
                print(f"{pin.name:12} {pin.ref:42} md5={pin.md5}{patch} ({pin.declared_in})")
        return 0
    if cmd == "export":
        from bindbot.api.surface import is_header

        up = ctx.upstream()
        commit = up.resolve(args.ref)
        count = up.export(commit, args.dest, is_header if args.headers_only else (lambda _: True))
        info(f"exported {count} files of {str(commit.id)[:10]} to {args.dest}")
        return 0
    if cmd == "api":
        _out(pipeline.model(ctx, args.ref).to_json(), args.output)
        return 0
    if cmd == "diff":
        report = pipeline.diff(ctx, args.old, args.new)
        _out(pipeline.render_diff(report, args.format), args.output)
        return report.exit_code
    if cmd == "history":
        out = args.out or (cfg.out_dir / "history")
        timeline, paths = pipeline.history(ctx, args.start, args.end or cfg.branch, out)
        info(
            f"{timeline.examined} commits, {len(timeline.entries)} API changes, "
            f"{timeline.parsed} parsed, {len(timeline.failures)} unparseable"
        )
        for path in paths:
            print(path)
        return 0
    if cmd == "replay":
        replayed, paths = pipeline.replay(
            ctx,
            args.sample,
            args.start,
            args.end,
            args.build,
            args.out or cfg.out_dir / "replay",
            build_before=args.build_before,
        )
        sys.stdout.write(replayed.table() + "\n" + "\n".join(replayed.summary_lines()) + "\n")
        for path in paths:
            info(f"wrote {path}")
        return 0
    if cmd == "verify":
        from bindbot.verify.targets import parse_targets

        targets = parse_targets(args.targets)
        if args.golden is not None:
            ctx = pipeline.Context(
                dataclasses.replace(cfg, golden_dir=args.golden.resolve()), ctx.runner, ctx.fetch
            )
        verified, paths = pipeline.verify(
            ctx, targets, args.out or cfg.out_dir / "verify", args.previous
        )
        sys.stdout.write(verified.to_markdown())
        for path in paths:
            info(f"wrote {path}")
        return 0
    if cmd == "reference":
        made = pipeline.reference(ctx, args.ref)
        for group, count in made.counts().items():
            print(f"{group}\t{count} cases")
        for name, why in sorted(made.skipped.items()):
            print(f"skipped\t{name}\t{why}")
        for name, why in sorted(made.disagreements.items()):
            print(f"runner differs from upstream golden\t{name}\t{why}")
        print(made.root)
        return 0
    if cmd == "sources":
        print(pipeline.sources(ctx))
        return 0
    if cmd == "package":
        packed = pipeline.package(
            ctx, args.out or cfg.out_dir / "package", verify=not args.no_verify
        )
        for crate in packed.crates:
            print(f"{crate.path}\t{crate.size} bytes\t{crate.files} files\tsha256:{crate.sha256}")
        info(f"packaged tflite-micro {packed.commit[:12]}: {packed.summary()}")
        return 0
    if cmd == "publish":
        from bindbot.package.publish import registry_from, run_publish

        registry = registry_from(args.registry, args.index, os.environ)
        # The token stays in the environment: cargo gets it there, nothing prints it.
        run_publish(
            ctx,
            registry,
            os.environ.get(registry.token_variable) or None,
            out_dir=args.out or cfg.out_dir / "package",
            verify=not args.no_verify,
            forge=None if args.no_release else make_forge(cfg, ctx.runner),
        )
        return 0
    if cmd == "generate":
        generated = pipeline.generate(ctx, check_only=args.check)
        short = generated.commit[:12]
        if args.check:
            info(f"rust_crate/ is up to date with tflite-micro {short}")
        else:
            what = ", ".join(generated.changed) if generated.changed else "nothing changed"
            info(f"generated for tflite-micro {short} ({generated.ops} ops): {what}")
        return 0
    if cmd == "lock":
        lock = pipeline.lock(ctx, args.ref)
        info(f"pinned {cfg.lock_path} at {lock.commit} ({lock.commit_date})")
        return 0
    if cmd == "run" and args.report_only:
        result = pipeline.run(
            ctx, update_lock=args.update_lock, allow_rewrite=args.allow_rewritten_history
        )
        info(result.message)
        for path in result.paths:
            print(path)
        return result.report.exit_code if result.report else 0
    if cmd == "run":
        return _run(args, ctx)
    raise UsageError(f"unknown command {cmd}", "see `bindbot --help`")  # pragma: no cover


def _run(args: argparse.Namespace, ctx: pipeline.Context) -> int:
    from bindbot import bot
    from bindbot.verify.targets import parse_targets

    if args.update_lock:
        raise UsageError("--update-lock goes with --report-only", "the full run proposes the pin")
    cfg = ctx.config
    if args.golden is not None:
        cfg = dataclasses.replace(cfg, golden_dir=args.golden.resolve())
    if args.dry_run:
        cfg = dataclasses.replace(cfg, forge="local")
    ctx = pipeline.Context(cfg, ctx.runner, ctx.fetch)
    opts = bot.RunOptions(
        targets=tuple(parse_targets(args.targets or cfg.verify_targets)),
        to=args.to,
        allow_rewrite=args.allow_rewritten_history,
        plan_only=args.plan,
        propose=not args.no_propose,
        verified=tuple(args.verified),
        build=not args.no_build,
    )
    try:
        forge = None if args.no_propose else make_forge(cfg, ctx.runner)
        result = bot.run(ctx, forge, opts)
    finally:
        ctx.close()
    info(result.message)
    if args.plan:
        head = ctx.upstream().resolve(args.to) if args.to else ctx.upstream().head()
        print(f"action={'propose' if result.action == 'propose' else 'none'}")
        print(f"head={head.id}")
    for path in result.paths:
        print(path)
    return result.exit_code


def make_forge(cfg: Config, runner: Runner) -> Forge:
    """The configured forge; the GitHub token comes from the environment, never from config."""
    from bindbot.forge.branch import ProjectRepo
    from bindbot.forge.github import GitHub
    from bindbot.forge.local import LocalForge

    if cfg.forge == "local":
        try:
            repo: ProjectRepo | None = ProjectRepo.discover(runner, cfg.project_dir)
        except BindbotError:
            repo = None
        return LocalForge(cfg.forge_dir or cfg.out_dir / "proposal", repo)
    return GitHub(
        cfg.forge_repository,
        os.environ.get("BINDBOT_GITHUB_TOKEN") or os.environ.get("GITHUB_TOKEN", ""),
        runner,
        project_dir=cfg.project_dir,
        api_url=cfg.forge_api,
        remote=cfg.forge_remote or None,
    )


def redact_secrets(text: str) -> str:
    """Last line of defence: no token from the environment reaches the terminal."""
    for name in ("BINDBOT_GITHUB_TOKEN", "GITHUB_TOKEN", "GH_TOKEN"):
        secret = os.environ.get(name, "")
        if len(secret) >= 8:
            text = text.replace(secret, "***")
    return text


def raise_missing(names: str, hint: str) -> NoReturn:
    from bindbot.errors import ToolMissingError

    raise ToolMissingError(f"required tools missing: {names}", hint)


__all__ = ["EXIT_CODES", "build_parser", "main"]
