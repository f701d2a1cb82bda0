"""Mutation fuzzing of model loading: mutated example models go through
`Model::from_buffer`, `MicroInterpreter::new` and `invoke`.

Input `i` is derived from (seed, i) alone, so any input can be replayed by its index. The
inputs run in chunks, each in a fresh process; when a chunk dies, the failing index is
isolated, classified by its signal (SIGSEGV: a memory fault; SIGABRT: a TFLM assertion
stopping the program) and skipped. Stable Rust has no sanitizers, so memory errors that do
not crash are looked for with valgrind's memcheck on a share of the inputs. Exits non-zero
when anything crashed or memcheck complained, listing each finding.

    python tests/fuzz/fuzz_models.py --iterations 20000 --valgrind 2000

To keep an input for inspection, replay it alone with FUZZ_DUMP_DIR set:
`FUZZ_DUMP_DIR=/tmp rust_crate/target/release/fuzz-models INDEX 1 SEED MODELS...`.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

RUST = r"""
use tflm::{MicroInterpreter, Model, OpResolver};

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

const INTERESTING: [u32; 8] = [0, 1, 0x7f, 0x80, 0xff, 0xffff, 0x7fff_ffff, 0xffff_ffff];

fn mutate(rng: &mut Rng, base: &[u8]) -> Vec<u8> {
    let mut m = base.to_vec();
    for _ in 0..1 + rng.below(8) {
        let len = m.len();
        if len < 8 {
            break;
        }
        match rng.below(6) {
            0 => { let i = rng.below(len); m[i] ^= 1 << rng.below(8); }
            1 => { let i = rng.below(len); m[i] = rng.next() as u8; }
            2 => {
                let i = rng.below(len.saturating_sub(4)) & !3;
                let v = INTERESTING[rng.below(INTERESTING.len())];
                m[i..i + 4].copy_from_slice(&v.to_le_bytes());
            }
            3 => { let keep = rng.below(len); m.truncate(keep.max(1)); }
            4 => {
                let (a, b) = (rng.below(len), rng.below(len));
                let n = rng.below(64).min(len - a).min(len - b);
                m.copy_within(a..a + n, b);
            }
            _ => { let i = rng.below(len.saturating_sub(4)) & !3; m[i..i + 4].fill(0); }
        }
    }
    m
}

fn resolver() -> OpResolver {
    let mut r = OpResolver::new();
    r.add_fully_connected().unwrap().add_reshape().unwrap().add_softmax().unwrap();
    r.add_depthwise_conv_2d().unwrap().add_conv_2d().unwrap().add_average_pool_2d().unwrap();
    r
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let start: usize = args[1].parse().unwrap();
    let count: usize = args[2].parse().unwrap();
    let seed: u64 = args[3].parse().unwrap();
    let models: Vec<Vec<u8>> = args[4..].iter().map(|p| std::fs::read(p).unwrap()).collect();
    let resolver = resolver();
    let mut arena = vec![0u8; 160 * 1024];
    let mut words = vec![0u128; 400 * 1024 / 16];
    let (mut parsed, mut built, mut invoked) = (0usize, 0usize, 0usize);
    for i in start..start + count {
        let mut rng = Rng((seed ^ (i as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15)) | 1);
        rng.next();
        let base = &models[i % models.len()];
        let input = mutate(&mut rng, base);
        if let Some(dir) = std::env::var_os("FUZZ_DUMP_DIR") {
            // Keep the input to inspect it (replay one index with count 1).
            let path = std::path::Path::new(&dir).join(format!("input-{i}.tflite"));
            std::fs::write(path, &input).unwrap();
        }
        let bytes = words.as_mut_ptr().cast::<u8>();
        let buf = unsafe { std::slice::from_raw_parts_mut(bytes, input.len()) };
        buf.copy_from_slice(&input);
        let Ok(model) = Model::from_buffer(buf) else { continue };
        parsed += 1;
        let built_interpreter = MicroInterpreter::new(&model, &resolver, &mut arena);
        let Ok(mut interpreter) = built_interpreter else { continue };
        built += 1;
        if interpreter.invoke().is_ok() {
            invoked += 1;
        }
    }
    println!("{count} {parsed} {built} {invoked}");
}
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    root = Path(__file__).resolve().parents[2]
    parser.add_argument("--crate", type=Path, default=root / "rust_crate")
    parser.add_argument("--golden", type=Path, default=root.parent / "shared" / "golden")
    parser.add_argument("--iterations", type=int, default=20000)
    parser.add_argument("--valgrind", type=int, default=1000, help="inputs run under memcheck")
    parser.add_argument("--seed", type=int, default=20261123)
    args = parser.parse_args()
    crate = args.crate.resolve()
    models = [
        str(args.golden / "models" / f"{name}.tflite")
        for name in ("hello_world_int8", "hello_world_float", "micro_speech_quantized")
    ]
    project = Path(tempfile.mkdtemp(prefix="bindbot-fuzz-"))
    (project / "src").mkdir()
    (project / "Cargo.toml").write_text(
        '[package]\nname = "fuzz-models"\nversion = "0.0.0"\nedition = "2021"\n\n'
        f'[dependencies]\ntflm = {{ path = "{crate / "tflm"}" }}\n\n[workspace]\n'
    )
    (project / "src" / "main.rs").write_text(RUST)
    env = {**os.environ, "CARGO_TARGET_DIR": str(crate / "target")}
    subprocess.run(
        ["cargo", "build", "--release", "-q", "--manifest-path", str(project / "Cargo.toml")],
        env=env,
        check=True,
    )
    binary = str(crate / "target" / "release" / "fuzz-models")
    totals = [0, 0, 0, 0]
    findings: list[str] = []

    def run(start: int, count: int, wrapper: list[str]) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*wrapper, binary, str(start), str(count), str(args.seed), *models],
            capture_output=True,
            text=True,
        )

    def chunk(start: int, count: int) -> None:
        result = run(start, count, [])
        if result.returncode == 0:
            for k, v in enumerate(result.stdout.split()):
                totals[k] += int(v)
            return
        if count == 1:
            signal = {-11: "SIGSEGV", -6: "SIGABRT", -7: "SIGBUS"}.get(
                result.returncode, str(result.returncode)
            )
            last = [ln for ln in result.stderr.splitlines() if ln.strip()][-1:] or [""]
            findings.append(f"input {start}: {signal} {last[0][:160]}")
            totals[0] += 1
            return
        half = count // 2
        chunk(start, half)
        chunk(start + half, count - half)

    step = 500
    for start in range(0, args.iterations, step):
        chunk(start, min(step, args.iterations - start))
    print(
        f"native:   tried {totals[0]}, verified {totals[1]}, interpreters built {totals[2]}, "
        f"invoked {totals[3]}, crashes {len(findings)}"
    )
    crashing = {int(f.split()[1].rstrip(":")) for f in findings}
    checked = 0
    memcheck_errors = []
    for start in range(0, args.iterations):
        if checked >= args.valgrind:
            break
        if start in crashing or start % max(1, args.iterations // max(args.valgrind, 1)):
            continue
        result = run(start, 1, ["valgrind", "-q", "--error-exitcode=9"])
        checked += 1
        if result.returncode == 9:
            memcheck_errors.append(
                f"input {start}: "
                + " | ".join(ln for ln in result.stderr.splitlines() if "==" in ln)[:300]
            )
    print(f"valgrind: {checked} inputs under memcheck, {len(memcheck_errors)} with errors")
    for line in findings + memcheck_errors:
        print(f"  {line}")
    return 1 if findings or memcheck_errors else 0


if __name__ == "__main__":
    sys.exit(main())
