"""Arena-size sweep: every arena size from 0 to what a model needs + 1 KiB, under ASan.

For each model, the size it needs is found first: doubling from 1 KiB, then a binary search
for the smallest arena for which `MicroInterpreter::new` returns Ok (each probe in a fresh
process); `arena_used_bytes()` with a 16 MiB arena is shown beside it, the difference being
what the crate keeps in the arena besides TFLM's tensors (the resolver, the interpreter).
Then EVERY size from 0 to needed + 1024 in 16-byte steps is tried: each arena is a heap
block of exactly that size (pre-filled with 0xa5, or --fill), so ASan reports any access past
its end; when `new` succeeds the inputs are filled and the model is invoked. Sizes run in
batches in one process; the harness prints one line per finished size, so when a process dies
the size it died on is known. That size is confirmed in a process of its own (a crash that happens
only after other sizes ran in the same process is reported as such), and the batch goes on
after it.

The op resolver is `OpResolver::for_model`. The needed size is checked against the crate's
own `tflm::arena::required_arena_size` (run in the info process), and every
`Error::ArenaTooSmall { needed, .. }` against it: `needed` must exceed the arena and may exceed
the real need only by the alignment TFLM applies at the arena's end (under 16 bytes). A
`KernelCheck` in `new` or `invoke` is a counted error (the shim contains TFLM's assertions),
not a crash.

Reports per model: the size needed, sizes tried, Ok and Err counts (by error), invoke results
(by error), crashes (which sizes, their signal or ASan report with top frames) and anomalies
(Ok below the needed size, Err above it, `required_arena_size` disagreeing, `needed` claims
above the real need). Exits non-zero on any crash or harness finding.

    python3 tests/fuzz/arena_sweep.py                       # golden + upstream sample
    python3 tests/fuzz/arena_sweep.py --models hello_world_int8 trained_lstm_int8
    python3 tests/fuzz/arena_sweep.py --list
"""

from __future__ import annotations

import argparse
import concurrent.futures
import sys
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.fuzz import fuzz_models as fm

# Upstream models for the sweep: LSTM, SVDF, convolutions, fully connected, elementwise.
#: TFLM aligns tail allocations from the arena's end, so an ArenaTooSmall's `needed` can
#: exceed the exact need by less than this.
ARENA_END_ALIGN = 16

UPSTREAM_SWEEP = (
    "tensorflow/lite/micro/examples/mnist_lstm/trained_lstm.tflite",
    "tensorflow/lite/micro/examples/mnist_lstm/trained_lstm_int8.tflite",
    "third_party/xtensa/examples/micro_speech_lstm/micro_speech_lstm.tflite",
    "tensorflow/lite/micro/examples/dtln/dtln_noise_suppression.tflite",
    "tensorflow/lite/micro/models/keyword_scrambled.tflite",
    "tensorflow/lite/micro/models/keyword_scrambled_8bit.tflite",
    "tensorflow/lite/micro/integration_tests/seanet/conv/conv0.tflite",
    "tensorflow/lite/micro/integration_tests/seanet/conv/conv5.tflite",
    "tensorflow/lite/micro/integration_tests/seanet/transpose_conv/transpose_conv0.tflite",
    "tensorflow/lite/micro/examples/memory_footprint/models/simple_add_model.tflite",
    "tensorflow/lite/micro/integration_tests/seanet/add/add0.tflite",
    "tensorflow/lite/micro/integration_tests/seanet/leaky_relu/leaky_relu0.tflite",
    "tensorflow/lite/micro/integration_tests/seanet/pad/pad0.tflite",
    "tensorflow/lite/micro/integration_tests/seanet/strided_slice/strided_slice0.tflite",
    "tensorflow/lite/micro/integration_tests/seanet/quantize/quantize0.tflite",
)

RUST_SWEEP = r"""
mod common;
use common::*;
use tflm::{MicroInterpreter, Model};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (mode, path) = (args[1].as_str(), &args[2]);
    let verbose = std::env::var_os("FUZZ_VERBOSE").is_some();
    install_log(verbose);
    let model_buf = Buf::from_bytes(&std::fs::read(path).unwrap());
    let model = match Model::from_buffer(model_buf.bytes()) {
        Ok(model) => model,
        Err(e) => {
            println!("error model {e:?}");
            return;
        }
    };
    let resolver = resolver_for(&model);
    if mode == "info" {
        let ops: Vec<String> = resolver.ops().map(|op| format!("{op:?}")).collect();
        println!("ops {}", ops.join(","));
        let mut scratch = Buf::new(BIG_ARENA);
        match MicroInterpreter::new(&model, &resolver, scratch.bytes_mut()) {
            Ok(interp) => println!(
                "used {} inputs {} outputs {}",
                interp.arena_used_bytes(),
                interp.inputs_len(),
                interp.outputs_len()
            ),
            Err(e) => println!("error {} {e:?}", error_kind(&e)),
        }
        drop(scratch);
        // The crate's own answer (heap arenas, in this process), beside the sweep's search.
        match tflm::arena::required_arena_size(&model, &resolver, BIG_ARENA) {
            Ok(n) => println!("required {n}"),
            Err(e) => println!("required_error {} {e:?}", error_kind(&e)),
        }
        return;
    }
    let offset: usize = args[3].parse().unwrap();
    let invoke = args[4] == "1";
    let fill = std::env::var("FUZZ_ARENA_FILL").ok().and_then(|f| f.parse::<u8>().ok());
    let fill = fill.unwrap_or(0xa5);
    let mut ignore = |_: &str, _: usize| {};
    for size in args[5..].iter().map(|s| s.parse::<usize>().unwrap()) {
        if verbose {
            eprintln!("size {size}: arena of {size} bytes at offset {offset}, invoke {invoke}");
        }
        let mut arena_buf = Buf::new(size + offset);
        arena_buf.bytes_mut().fill(fill);
        let (lo, hi) = arena_buf.span();
        let region = Region { arena: (lo + offset, hi), model: model_buf.span() };
        let arena = &mut arena_buf.bytes_mut()[offset..];
        let mut findings = Vec::new();
        let line = match MicroInterpreter::new(&model, &resolver, arena) {
            Ok(mut interp) => {
                check_used(&interp, size, &mut findings);
                let used = interp.arena_used_bytes();
                let mut ran = "skipped";
                if invoke {
                    let mut rng = Rng::for_input(size as u64, 0);
                    fill_inputs(&mut interp, &mut rng, &region, &mut findings, &mut ignore);
                    ran = match interp.invoke() {
                        Ok(()) => "ok",
                        Err(e) => {
                            check_error(&e, &mut findings);
                            error_kind(&e)
                        }
                    };
                    check_outputs(&interp, &region, &mut findings);
                }
                format!("size {size} ok used={used} invoke={ran}")
            }
            Err(e) => {
                if verbose {
                    eprintln!("size {size}: {e:?} ({e})");
                }
                check_error(&e, &mut findings);
                match e {
                    tflm::Error::ArenaTooSmall { needed, .. } => {
                        format!("size {size} err arena_too_small needed={needed}")
                    }
                    _ => format!("size {size} err {}", error_kind(&e)),
                }
            }
        };
        for f in findings {
            println!("finding {size} {f}");
        }
        println!("{line}");
    }
    println!("done");
}
"""


@dataclass
class Attempts:
    """Results of trying arena sizes on one model."""

    results: dict[int, str] = field(default_factory=dict)  # size -> "ok ..." / "err KIND"
    crashes: list[tuple[int, fm.Crash]] = field(default_factory=list)
    findings: list[tuple[int, str]] = field(default_factory=list)
    processes: int = 0

    def merge(self, other: Attempts) -> None:
        self.results.update(other.results)
        self.crashes += other.crashes
        self.findings += other.findings
        self.processes += other.processes

    def ok(self, size: int) -> bool:
        return self.results.get(size, "").startswith("ok")


@dataclass
class Report:
    model: Path
    ops: str = ""
    used: int | None = None
    needed: int | None = None
    required: int | None = None  # tflm::arena::required_arena_size, in the info process
    note: str = ""
    sweep: Attempts = field(default_factory=Attempts)
    search: Attempts = field(default_factory=Attempts)
    sizes: list[int] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def crashes(self) -> list[tuple[int, fm.Crash]]:
        """Every size that crashed, once (the sweep's report when both saw it)."""
        seen = {size: crash for size, crash in self.search.crashes}
        seen.update(dict(self.sweep.crashes))
        return sorted(seen.items(), key=lambda c: c[0])

    @property
    def findings(self) -> list[tuple[int, str]]:
        return sorted(set(self.search.findings + self.sweep.findings))


class Sweeper:
    def __init__(
        self,
        binary: Path,
        build: fm.Build,
        offset: int,
        invoke: bool,
        batch: int,
        timeout: float,
        fill: int = 0xA5,
    ) -> None:
        self.binary = binary
        self.build = build
        self.offset = offset
        self.invoke = invoke
        self.batch = batch
        self.timeout = timeout
        self.fill = fill

    def command(self, model: Path, sizes: Sequence[int], invoke: bool) -> list[str]:
        return [
            *self.build.wrapper(),
            str(self.binary),
            "try",
            str(model),
            str(self.offset),
            "1" if invoke else "0",
            *map(str, sizes),
        ]

    def run(self, model: Path, sizes: Sequence[int], invoke: bool, verbose: bool) -> fm.Outcome:
        env = self.build.run_env()
        env["FUZZ_ARENA_FILL"] = str(self.fill)
        if verbose:
            env["FUZZ_VERBOSE"] = "1"
        return fm.run(self.command(model, sizes, invoke), env, 30 + self.timeout * len(sizes))

    def info(self, model: Path, report: Report) -> None:
        """The model's operators, `arena_used_bytes` in a 16 MiB arena and what
        `required_arena_size` says, from one process."""
        env = self.build.run_env()
        out = fm.run([*self.build.wrapper(), str(self.binary), "info", str(model)], env, 600)
        if out.failed:
            report.note = "info: " + " | ".join(fm.classify(out).lines())
            return
        notes = []
        for line in out.stdout.splitlines():
            if line.startswith("ops "):
                report.ops = line[4:]
            elif line.startswith("used "):
                report.used = int(line.split()[1])
            elif line.startswith("required "):
                report.required = int(line.split()[1])
            elif line.startswith(("error", "required_error")):
                notes.append(line)
        report.note = "; ".join(notes)

    @staticmethod
    def parse(stdout: str, into: Attempts) -> bool:
        done = False
        for line in stdout.splitlines():
            if line.startswith("size "):
                _, size, rest = line.split(" ", 2)
                into.results[int(size)] = rest
            elif line.startswith("finding "):
                _, size, text = line.split(" ", 2)
                into.findings.append((int(size), text))
            elif line == "done":
                done = True
        return done

    def attempts(self, model: Path, sizes: Sequence[int], invoke: bool) -> Attempts:
        """Tries `sizes` in batches; a dying process is pinned to the size it died on."""
        got = Attempts()
        queue = list(sizes)
        while queue:
            batch, queue = queue[: self.batch], queue[self.batch :]
            outcome = self.run(model, batch, invoke, verbose=False)
            got.processes += 1
            done = self.parse(outcome.stdout, got)
            if done and not outcome.failed:
                continue
            rest = [s for s in batch if s not in got.results]
            if not rest:  # died after the last size (at exit)
                crash = fm.classify(outcome)
                crash.context = f"after sizes {batch[0]}..{batch[-1]} finished, at exit"
                got.crashes.append((batch[-1], crash))
                continue
            suspect = rest[0]
            alone = self.run(model, [suspect], invoke, verbose=True)
            got.processes += 1
            if alone.failed or not self.parse(alone.stdout, got):
                got.crashes.append((suspect, fm.classify(alone)))
            else:
                crash = fm.classify(outcome)
                crash.context = (
                    f"not alone: only in a process that first tried sizes {batch[0]}.."
                    f"{batch[batch.index(suspect) - 1]}"
                )
                got.crashes.append((suspect, crash))
            queue = rest[1:] + queue
        return got

    def needed(self, model: Path, report: Report, limit: int) -> int | None:
        """Smallest arena for which `new` returns Ok: doubling from 1 KiB, then bisection."""
        low, size = 0, 1024
        while True:
            got = self.attempts(model, [size], invoke=False)
            report.search.merge(got)
            if got.ok(size):
                break
            low = size
            size *= 2
            if size > limit:
                return None
        high = size
        while high - low > 1:
            mid = (low + high) // 2
            got = self.attempts(model, [mid], invoke=False)
            report.search.merge(got)
            if got.ok(mid):
                high = mid
            else:
                low = mid
        return high

    def sweep(self, model: Path, step: int, extra: int, limit: int) -> Report:
        started = time.monotonic()
        report = Report(model)
        self.info(model, report)
        if report.note and report.used is None and not report.ops:
            report.seconds = time.monotonic() - started
            return report
        report.needed = self.needed(model, report, limit)
        if report.needed is None:
            report.note = (report.note + f"; no arena up to {limit} bytes builds").lstrip("; ")
        top = report.needed if report.needed is not None else report.used or 64 * 1024
        report.sizes = list(range(0, top + extra + 1, step))
        report.sweep = self.attempts(model, report.sizes, invoke=self.invoke)
        report.seconds = time.monotonic() - started
        return report


def ranges(sizes: Sequence[int], step: int) -> str:
    """`[0, 16, 32, 64]` -> `0-32, 64`."""
    out: list[str] = []
    start = prev = None
    for s in sorted(sizes):
        if start is None or prev is None:
            start = prev = s
        elif s == prev + step:
            prev = s
        else:
            out.append(f"{start}" if start == prev else f"{start}-{prev}")
            start = prev = s
    if start is not None:
        out.append(f"{start}" if start == prev else f"{start}-{prev}")
    return ", ".join(out)


def print_report(r: Report, step: int, offset: int) -> int:
    """Prints one model's report; returns how many anomalies it has."""
    anomalies = 0
    name = r.model.name.split("__")[-1]
    print(f"\n== {name}  ({r.model})")
    if r.ops:
        print(f"   ops: {r.ops}")
    if r.note:
        print(f"   note: {r.note}")
    header = (
        f" (arena_used_bytes {r.used}; crate overhead {r.needed - r.used})"
        if r.needed is not None and r.used is not None
        else ""
    )
    # required_arena_size is for an arena on a 16-byte boundary; the sweep's arenas start
    # `offset` bytes past a 64-byte boundary, so TFLM's part starts `skip` bytes later.
    skip = -offset % 16
    plus = f" + {skip} bytes to the next 16-byte boundary" if skip else ""
    print(f"   needed: {r.needed}{header}; required_arena_size: {r.required}{plus}")
    if r.needed is not None and r.required is not None and r.required + skip != r.needed:
        anomalies += 1
        print(
            f"   anomaly: required_arena_size says {r.required}{plus}, the sweep's own search "
            f"{r.needed}"
        )
    results = r.sweep.results
    ok = [s for s, v in results.items() if v.startswith("ok")]
    err = Counter(v.split()[1] for v in results.values() if v.startswith("err"))
    invoke = Counter(
        v.split("invoke=")[1] for v in results.values() if v.startswith("ok") and "invoke=" in v
    )
    print(
        f"   sizes tried: {len(r.sizes)} (0..{r.sizes[-1] if r.sizes else 0} step {step}), "
        f"Ok {len(ok)}, Err {sum(err.values())}"
        + (f" ({', '.join(f'{k} {n}' for k, n in err.most_common())})" if err else "")
        + f", crashes {len(r.sweep.crashes)}; invokes {dict(invoke) or '-'}; "
        f"{r.sweep.processes + r.search.processes} processes, {r.seconds:.1f} s"
    )
    if r.needed is not None:
        early = [s for s in ok if s < r.needed]
        late = [s for s, v in results.items() if s >= r.needed and v.startswith("err")]
        if early:
            anomalies += 1
            print(f"   anomaly: Ok below the needed size at {ranges(early, step)}")
        if late:
            anomalies += 1
            print(f"   anomaly: Err at or above the needed size at {ranges(late, step)}")
        claims = {
            s: int(v.split("needed=")[1].split()[0]) for s, v in results.items() if "needed=" in v
        }
        if claims:
            over = [s for s, n in claims.items() if n >= r.needed + ARENA_END_ALIGN]
            print(
                f"   ArenaTooSmall.needed: {min(claims.values())}..{max(claims.values())} "
                f"({len(set(claims.values()))} distinct values over {len(claims)} sizes)"
            )
            if over:
                anomalies += 1
                print(
                    f"   anomaly: ArenaTooSmall claims {ARENA_END_ALIGN} or more bytes above the "
                    f"needed {r.needed} at "
                    f"{ranges(over, step)} (e.g. size {over[0]}: needed={claims[over[0]]})"
                )
    if r.search.crashes:
        print(
            f"   crashes while searching the needed size: "
            f"{', '.join(str(s) for s, _ in r.search.crashes)}"
        )
    groups: dict[tuple[str, str], list[tuple[int, fm.Crash]]] = {}
    for size, crash in r.crashes:
        groups.setdefault((crash.what, crash.frames[0] if crash.frames else ""), []).append(
            (size, crash)
        )
    for (what, _), members in groups.items():
        sizes = [s for s, _ in members]
        first = members[0][1]
        print(f"   CRASH {what} at {len(sizes)} sizes: {ranges(sizes, step)}")
        for line in first.lines():
            print(f"      {line}")
    for size, text in r.findings[:20]:
        print(f"   FINDING at size {size}: {text}")
    return anomalies


def main() -> int:
    parser = argparse.ArgumentParser(
        description=(__doc__ or "").splitlines()[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="\n".join((__doc__ or "").splitlines()[1:]),
    )
    fm.add_model_arguments(parser)
    parser.add_argument(
        "--models",
        nargs="*",
        default=None,
        help="only models whose file name contains one of these",
    )
    parser.add_argument("--list", action="store_true", help="list the models and stop")
    parser.add_argument("--step", type=int, default=16)
    parser.add_argument("--extra", type=int, default=1024, help="bytes past the needed size")
    parser.add_argument(
        "--offset", type=int, default=0, help="arena start past a 64-byte-aligned block"
    )
    parser.add_argument("--no-invoke", action="store_true", help="only build at each size")
    parser.add_argument(
        "--fill", type=lambda v: int(v, 0), default=0xA5, help="byte the arenas start filled with"
    )
    parser.add_argument("--batch", type=int, default=256, help="sizes per process")
    parser.add_argument("--jobs", type=int, default=2, help="models swept at once")
    parser.add_argument("--limit", type=int, default=64 << 20, help="largest arena searched")
    parser.add_argument(
        "--timeout", type=float, default=None, help="seconds per size (default 5, valgrind 120)"
    )
    args = parser.parse_args()
    started = time.monotonic()
    build = fm.make_build(args)
    commit = fm.pinned_commit(build.crate)
    models = fm.golden_models(args.golden)
    if args.upstream.exists():
        models += fm.export_upstream(
            args.upstream, commit, UPSTREAM_SWEEP, fm.models_dir(args, commit)
        )
    models = fm.unique(models)
    if args.models is not None:
        models = [m for m in models if any(k in m.name for k in args.models)]
    if args.list or not models:
        for m in models:
            print(m)
        return 0 if models else 2
    binary = build.harness("arena-sweep", RUST_SWEEP)
    valgrind = args.sanitizer == "valgrind"
    sweeper = Sweeper(
        binary,
        build,
        args.offset,
        not args.no_invoke,
        args.batch,
        args.timeout or (120.0 if valgrind else 5.0),
        args.fill,
    )
    print(
        f"[sweep] {len(models)} models, sanitizer {args.sanitizer}, step {args.step}",
        file=sys.stderr,
    )
    reports: list[Report] = []
    sweep_start = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        futures = [pool.submit(sweeper.sweep, m, args.step, args.extra, args.limit) for m in models]
        for future in concurrent.futures.as_completed(futures):
            r = future.result()
            print(
                f"[sweep] {r.model.name}: needed {r.needed}, {len(r.sweep.results)} sizes, "
                f"{len(r.crashes)} crashes ({time.monotonic() - started:.0f} s)",
                file=sys.stderr,
            )
            reports.append(r)
    order = {m: i for i, m in enumerate(models)}
    reports.sort(key=lambda r: order[r.model])
    anomalies = sum(print_report(r, args.step, args.offset) for r in reports)
    crashes = sum(len(r.crashes) for r in reports)
    findings = sum(len(r.findings) for r in reports)
    crashed = [r.model.name.split("__")[-1] for r in reports if r.crashes]
    print(
        f"\n{len(reports)} models, {sum(len(r.sweep.results) for r in reports)} sizes tried, "
        f"{crashes} crashes"
        + (f" in {', '.join(crashed)}" if crashed else "")
        + f", {findings} harness findings, {anomalies} anomalies; "
        f"sweep {time.monotonic() - sweep_start:.1f} s (total {time.monotonic() - started:.1f} s)"
    )
    return 1 if crashes or findings else 0


if __name__ == "__main__":
    sys.exit(main())
