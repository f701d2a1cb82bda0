"""`bindbot verify`: build and test the generated crate on each target of the matrix.

Per target: the host runs the crate's whole test suite (golden models byte-identical);
a bare-metal target builds the library and the crate, then the firmware, which each QEMU
core of the target runs (its exit status is the number of failed output checks). Every
step records its time and, when it fails, the first error lines, so a red matrix says
which target, which step and why. Objects are cached by content and flags by tflm-sys's
build.rs, in one folder shared by every target.
"""

from __future__ import annotations

import json
import re
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from bindbot.errors import ToolMissingError
from bindbot.runner import Completed, Runner
from bindbot.verify.targets import Core, Target
from bindbot.verify.toolchain import RustRoute, route

QEMU_TIMEOUT_S = 600


@dataclass(frozen=True)
class Step:
    target: str
    step: str  # build, test, firmware, qemu <core>
    ok: bool
    seconds: float
    detail: str  # a summary, or the first error lines
    #: Reference cases (models on their inputs) this step ran and how many matched.
    cases_run: int = 0
    cases_passed: int = 0

    def cases(self) -> str:
        """ "131/133 cases" for a step that ran reference cases, else ""."""
        return f"{self.cases_passed}/{self.cases_run} cases" if self.cases_run else ""


@dataclass(frozen=True)
class Size:
    target: str
    flash: int  # text + rodata + data
    ram: int  # data + bss (the firmware's static arena included)
    arena: dict[str, int] = field(default_factory=dict)  # model -> arena bytes used


@dataclass
class Report:
    commit: str
    steps: list[Step] = field(default_factory=list)
    sizes: list[Size] = field(default_factory=list)
    #: Digest of the crate's files that were verified: reports from parallel jobs are merged
    #: only when they verified the same bytes.
    crate: str = ""

    @property
    def ok(self) -> bool:
        return bool(self.steps) and all(s.ok for s in self.steps)

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True) + "\n"

    def to_markdown(self, previous: Report | None = None) -> str:
        heading = f"## Verification at tflite-micro `{self.commit[:12]}`\n\n"
        sizes = self.sizes_markdown(previous)
        return heading + self.steps_markdown() + (f"\n{sizes}" if sizes else "")

    def steps_markdown(self) -> str:
        """One row per step: target, step, result, time, detail."""
        lines = [
            "| target | step | result | cases | time | detail |",
            "|---|---|---|---|---|---|",
        ]
        for s in self.steps:
            detail = s.detail.replace("|", "\\|").replace("\n", " ")[:700]
            mark = "pass" if s.ok else "**FAIL**"
            lines.append(
                f"| {s.target} | {s.step} | {mark} | {s.cases() or '-'} | {s.seconds:.1f} s "
                f"| {detail} |"
            )
        return "\n".join(lines) + "\n"

    def sizes_markdown(self, previous: Report | None = None) -> str:
        """Flash, RAM and arena per target, with the change from `previous` where it differs."""
        if not self.sizes:
            return ""
        before = {s.target: s for s in previous.sizes} if previous else {}
        lines = [
            "| target | flash (bytes) | RAM (bytes) | arena per model (bytes) |",
            "|---|---|---|---|",
        ]
        for size in self.sizes:
            old = before.get(size.target)
            arena = ", ".join(
                f"{m} {b}{_delta(b, old.arena.get(m) if old else None)}"
                for m, b in sorted(size.arena.items())
            )
            flash = f"{size.flash}{_delta(size.flash, old.flash if old else None)}"
            ram = f"{size.ram}{_delta(size.ram, old.ram if old else None)}"
            lines.append(f"| {size.target} | {flash} | {ram} | {arena} |")
        return "\n".join(lines) + "\n"

    @classmethod
    def from_json(cls, text: str) -> Report:
        data = json.loads(text)
        return cls(
            data["commit"],
            [Step(**s) for s in data.get("steps", [])],
            [Size(**s) for s in data["sizes"]],
            data.get("crate", ""),
        )

    def merged(self, other: Report) -> Report:
        """This report plus `other`'s targets (same commit and crate, other targets)."""
        mine = {s.target for s in self.steps}
        return Report(
            self.commit,
            self.steps + [s for s in other.steps if s.target not in mine],
            self.sizes + [s for s in other.sizes if s.target not in mine],
            self.crate,
        )


def _delta(new: int, old: int | None) -> str:
    return "" if old is None or old == new else f" ({new - old:+d})"


#: A compiler's or linker's own diagnostic (`file:line:col: error: ...`).
_DIAGNOSTIC = re.compile(r".*(: (fatal )?error:|undefined reference)")
#: Any other line that says something failed (cargo's, a panic, the firmware's verdict).
_FAILURE = re.compile(r"\s*(error|panicked|FAIL)")


def first_errors(result: Completed, limit: int = 8) -> str:
    """The lines that say what went wrong: the compiler's own diagnostics first, then
    cargo's and the program's failure lines, else the tail."""
    text = (result.stderr + "\n" + result.stdout).splitlines()
    diagnostics = [line.strip() for line in text if _DIAGNOSTIC.match(line)]
    failures = [line for line in text if _FAILURE.match(line) and not _DIAGNOSTIC.match(line)]
    return "\n".join((diagnostics + failures or text[-limit:])[:limit])


def case_verdicts(text: str) -> list[tuple[bool, str]]:
    """(matched, what) per `case NAME: ...` line of a reference-case image: "...: ok", or a
    reason ending in "DIFFERENT"."""
    out = []
    for line in text.splitlines():
        if line.startswith("case "):
            name, _, verdict = line.removeprefix("case ").partition(": ")
            ok = line.endswith(": ok")
            out.append((ok, name if ok else f"{name}: {verdict.removesuffix('; DIFFERENT')}"))
    return out


def reference_summary(path: Path) -> dict[str, tuple[bool, str]]:
    """What tflm's tests/reference.rs wrote: case -> (matched, why not)."""
    if not path.is_file():
        return {}
    out = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        name, _, rest = line.partition("\t")
        mark, _, detail = rest.partition("\t")
        out[name] = (mark == "ok", detail)
    return out


_WITHIN = re.compile(r"largest difference (\d+)e-9 \(allowed (\d+)e-9\)")


def firmware_cases(lines: Sequence[str]) -> tuple[int, int]:
    """(run, passed) from the firmware's verdict lines, one per model on its inputs: a
    sequence model's "... largest difference De-9 (allowed Ae-9)", else "; equal to golden"
    or "; DIFFERENT"."""
    run = passed = 0
    for line in lines:
        within = _WITHIN.search(line)
        if within:
            run += 1
            passed += int(within.group(1)) <= int(within.group(2))
        elif "equal to golden" in line or "DIFFERENT" in line:
            run += 1
            passed += "DIFFERENT" not in line
    return run, passed


def qemu_command(core: Core, elf: Path) -> list[str]:
    """Run `elf` on the core's QEMU board; semihosting carries its output and exit status."""
    return [
        "qemu-system-arm",
        "-machine",
        core.machine,
        "-nographic",
        "-semihosting-config",
        "enable=on,target=native",
        "-kernel",
        str(elf),
    ]


FLASH_SECTIONS = (".vector_table", ".text", ".rodata", ".ARM.extab", ".ARM.exidx", ".init_array")


def flash_and_ram(runner: Runner, elf: Path) -> tuple[int, int] | None:
    """Flash (code, constants and the initial values of .data) and RAM (.data + .bss)."""
    result = runner(["arm-none-eabi-size", "-A", str(elf)])
    if result.returncode != 0:
        return None
    sections = {
        m.group(1): int(m.group(2))
        for m in re.finditer(r"^(\.\S+)\s+(\d+)\s+\d+", result.stdout, re.M)
    }
    flash = sum(sections.get(s, 0) for s in FLASH_SECTIONS) + sections.get(".data", 0)
    return flash, sections.get(".data", 0) + sections.get(".bss", 0)


def _compiled(stderr: str) -> str:
    match = re.search(r"compiled (\d+) of (\d+) files", stderr)
    return f"compiled {match.group(1)} of {match.group(2)} C/C++ files" if match else ""


class FileProgress:
    """Reports tflm-sys's "files done of total" (its build script writes them to a file)
    while cargo runs: cargo itself shows nothing of a build script until it ends."""

    INTERVAL_S = 2.0
    EVERY_S = 15.0

    def __init__(self, path: Path, label: str, report: Callable[[str], None]) -> None:
        self.path, self.label, self.report = path, label, report
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self.last = ""

    def __enter__(self) -> FileProgress:
        if self.label:
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()

    def _watch(self) -> None:
        shown = 0.0
        while not self._stop.wait(self.INTERVAL_S):
            try:
                done, total, compiled = self.path.read_text().split()
            except (OSError, ValueError):
                continue  # not started yet, or read mid-write
            line = f"{self.label}: {done}/{total} C/C++ files ({compiled} compiled)"
            now = time.monotonic()
            if line != self.last and (now - shown >= self.EVERY_S or done == total):
                self.report(line)
                self.last, shown = line, now


@dataclass(frozen=True)
class Verifier:
    runner: Runner
    crate: Path
    golden: Path
    env: dict[str, str]  # BINDBOT_CACHE, CARGO_TARGET_DIR, TFLM_SYS_OBJECT_CACHE...
    progress: Callable[[str], None] = lambda _: None

    def _cargo(
        self,
        how: RustRoute,
        *args: str,
        cwd: Path | None = None,
        label: str = "",
        extra_env: dict[str, str] | None = None,
    ) -> Completed:
        with tempfile.TemporaryDirectory(prefix="bindbot-progress-") as tmp:
            progress_file = Path(tmp) / "progress"
            env = {
                **self.env,
                **dict(how.env),
                "TFLM_GOLDEN_DIR": str(self.golden),
                "TFLM_SYS_PROGRESS": str(progress_file),
                **(extra_env or {}),
            }
            with FileProgress(progress_file, label, self.progress):
                return self.runner(
                    [how.cargo, *args, *how.cargo_args],
                    cwd=cwd or self.crate,
                    env=env,
                    timeout=7200,
                )

    def _firmware(
        self, how: RustRoute, label: str, extra_env: dict[str, str] | None = None
    ) -> Completed:
        """Build the firmware image (the example checks, or with TFLM_FIRMWARE_CASES one
        image of reference cases)."""
        return self._cargo(
            how,
            "build",
            "--profile",
            "firmware",
            "-p",
            "tflm-firmware",
            label=label,
            extra_env=extra_env,
        )

    def _timed(
        self,
        target: str,
        step: str,
        fn: Callable[[], tuple[bool, str]],
        cases: Callable[[], tuple[int, int]] = lambda: (0, 0),
    ) -> Step:
        self.progress(f"{target}: {step}")
        start = time.monotonic()
        ok, detail = fn()
        done = Step(target, step, ok, round(time.monotonic() - start, 1), detail, *cases())
        self.progress(f"{target}: {step} {'ok' if ok else 'FAILED'} ({done.seconds} s)")
        return done

    def host(self) -> list[Step]:
        how = route(self.runner, Target("host", "", (), ""))
        counted: list[tuple[int, int]] = []

        def test() -> tuple[bool, str]:
            with tempfile.TemporaryDirectory(prefix="bindbot-reference-") as tmp:
                summary = Path(tmp) / "summary.tsv"
                result = self._cargo(
                    how,
                    "test",
                    "--release",
                    "--workspace",
                    "--exclude",
                    "tflm-firmware",
                    # Every test binary runs, so one failing suite does not hide the
                    # reference cases' counts or another suite's failures.
                    "--no-fail-fast",
                    label="host: test",
                    extra_env={"TFLM_REFERENCE_SUMMARY": str(summary)},
                )
                cases = reference_summary(summary)
            counted.append((len(cases), sum(1 for ok, _ in cases.values() if ok)))
            failed = [f"{name}: {why}" for name, (ok, why) in cases.items() if not ok]
            if result.returncode != 0:
                tests = re.findall(r"^test (\S+) \.\.\. FAILED$", result.stdout, re.M)
                named = [f"failed tests: {', '.join(tests)}"] if tests else []
                return False, "\n".join([*failed[:3], *named, first_errors(result)])
            passed = sum(
                int(n) for n in re.findall(r"test result: ok\. (\d+) passed", result.stdout)
            )
            ran = f"{len(cases)} reference cases matched; " if cases else ""
            return True, f"{ran}{passed} tests passed; {_compiled(result.stderr)}"

        return [self._timed("host", "test", test, lambda: counted[-1] if counted else (0, 0))]

    def cross(self, target: Target) -> tuple[list[Step], Size | None]:
        try:
            how = route(self.runner, target)
        except ToolMissingError as exc:
            return [Step(target.name, "toolchain", False, 0.0, exc.one_line())], None
        steps: list[Step] = []

        def build() -> tuple[bool, str]:
            result = self._cargo(
                how, "build", "--release", "-p", "tflm", label=f"{target.name}: build"
            )
            if result.returncode != 0:
                return False, first_errors(result)
            return True, f"{how.describe()}; {_compiled(result.stderr)}"

        steps.append(self._timed(target.name, "build", build))
        if not steps[-1].ok or not target.cores:
            return steps, None

        def firmware() -> tuple[bool, str]:
            result = self._firmware(how, f"{target.name}: firmware")
            return (True, "linked") if result.returncode == 0 else (False, first_errors(result))

        steps.append(self._timed(target.name, "firmware", firmware))
        if not steps[-1].ok:
            return steps, None
        elf = Path(self.env["CARGO_TARGET_DIR"]) / target.triple / "firmware" / "tflm-firmware"
        arena: dict[str, int] = {}
        for core in target.cores:
            step, found = self._qemu(target, core, elf)
            steps.append(step)
            arena = arena or found
        size = self._size(target, elf, arena)  # before the case images replace the ELF
        if (self.golden / "cases.tsv").is_file():
            steps += self._cases(target, how, elf)
        return steps, size

    def _cases(self, target: Target, how: RustRoute, elf: Path) -> list[Step]:
        """The reference cases on every core of `target`: one firmware image per shard of
        cases that fits the board's flash, each run on each core; one step per core."""
        results: dict[str, list[tuple[bool, str]]] = {c.name: [] for c in target.cores}
        seconds = dict.fromkeys(results, 0.0)
        shard, shards = 0, 1
        build_failure = ""
        while shard < shards:
            label = f"{target.name}: cases image {shard + 1}"
            result = self._firmware(how, label, {"TFLM_FIRMWARE_CASES": str(shard)})
            if result.returncode != 0:
                build_failure = f"cases image {shard + 1}: " + first_errors(result)
                break
            for core in target.cores:
                self.progress(f"{target.name}: cases on {core.name}, image {shard + 1}")
                start = time.monotonic()
                run = self.runner(qemu_command(core, elf), timeout=QEMU_TIMEOUT_S)
                seconds[core.name] += time.monotonic() - start
                text = run.stdout + run.stderr
                results[core.name] += case_verdicts(text)
                found = re.search(r"cases match \(shard \d+ of (\d+)\)", text)
                if found is None:
                    results[core.name].append((False, f"image {shard + 1}: " + first_errors(run)))
                else:
                    shards = int(found.group(1))
            shard += 1
        steps = []
        for core in target.cores:
            done = results[core.name]
            passed = sum(1 for ok, _ in done if ok)
            bad = [what for ok, what in done if not ok]
            ok = not bad and not build_failure and bool(done)
            detail = (
                f"{passed} of {len(done)} reference cases match in {shards} image(s)"
                if ok
                else "; ".join([build_failure, *bad][:4]).strip("; ")
            )
            steps.append(
                Step(
                    target.name,
                    f"cases {core.name} ({core.machine})",
                    ok,
                    round(seconds[core.name], 1),
                    detail,
                    len(done),
                    passed,
                )
            )
            self.progress(f"{target.name}: cases {core.name}: {passed}/{len(done)}")
        return steps

    def _qemu(self, target: Target, core: Core, elf: Path) -> tuple[Step, dict[str, int]]:
        arena: dict[str, int] = {}
        counted: list[tuple[int, int]] = []

        def run() -> tuple[bool, str]:
            result = self.runner(qemu_command(core, elf), timeout=QEMU_TIMEOUT_S)
            # QEMU sends semihosting output to stderr when stdout is not a terminal.
            text = result.stdout + result.stderr
            for name, used in re.findall(r"^(.+?): .*arena (\d+) bytes", text, re.M):
                arena[name] = int(used)
            summary = [
                line
                for line in text.splitlines()
                if "equal to golden" in line
                or "DIFFERENT" in line
                or line.startswith(("crafted ", "panic"))
            ]
            detail = "; ".join(summary) or first_errors(result)
            counted.append(firmware_cases(summary))
            if result.returncode != 0:
                return False, f"exit {result.returncode}: {detail}"
            return True, detail

        step = self._timed(
            target.name,
            f"qemu {core.name} ({core.machine})",
            run,
            lambda: counted[-1] if counted else (0, 0),
        )
        return step, arena

    def _size(self, target: Target, elf: Path, arena: dict[str, int]) -> Size | None:
        found = flash_and_ram(self.runner, elf)
        return Size(target.name, *found, arena) if found else None

    def run(self, targets: Sequence[Target], commit: str) -> Report:
        report = Report(commit)
        for target in targets:
            if target.is_package:
                continue  # pipeline.verify runs it: it needs the packaging stage
            if target.is_host:
                report.steps += self.host()
                continue
            steps, size = self.cross(target)
            report.steps += steps
            if size is not None:
                report.sizes.append(size)
        return report
