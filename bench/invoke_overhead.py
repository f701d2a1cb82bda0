"""Benchmark: instructions for one `invoke` of micro_speech through the Rust crate versus
the same call from a C++ program linked to the same TFLM library (valgrind callgrind).

Both programs load micro_speech_quantized.tflite, allocate, fill the input from the golden
`yes_1000ms` features, run one warm-up invoke, then one invoke inside a function named
`bench_invoke`; callgrind counts instructions only inside that function
(`--toggle-collect`), so loading and allocation are not part of the figure. Prints both
counts and the overhead ratio (target: at most 1.01).

Needs a built crate: `bindbot sources && (cd rust_crate && cargo build --release)`.

    python bench/invoke_overhead.py [--crate rust_crate] [--golden ../shared/golden]
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

CPP = r"""
#include <cstdio>
#include <cstring>
#include <vector>
#include "tensorflow/lite/micro/micro_interpreter.h"
#include "tensorflow/lite/micro/micro_mutable_op_resolver.h"
#include "tensorflow/lite/schema/schema_generated.h"

static std::vector<unsigned char> Read(const char* path) {
  std::vector<unsigned char> out;
  FILE* f = std::fopen(path, "rb");
  if (!f) return out;
  unsigned char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) out.insert(out.end(), buf, buf + n);
  std::fclose(f);
  return out;
}

extern "C" __attribute__((noinline)) int bench_invoke(tflite::MicroInterpreter* i) {
  return i->Invoke();
}

alignas(16) static unsigned char model_buf[64 * 1024];
alignas(16) static unsigned char arena[64 * 1024];

int main(int argc, char** argv) {
  std::vector<unsigned char> model = Read(argv[1]);
  std::vector<unsigned char> features = Read(argv[2]);
  std::memcpy(model_buf, model.data(), model.size());
  tflite::MicroMutableOpResolver<4> resolver;
  resolver.AddReshape();
  resolver.AddFullyConnected();
  resolver.AddDepthwiseConv2D();
  resolver.AddSoftmax();
  tflite::MicroInterpreter interpreter(tflite::GetModel(model_buf), resolver, arena,
                                       sizeof arena);
  if (interpreter.AllocateTensors() != kTfLiteOk) return 2;
  std::memcpy(interpreter.input(0)->data.int8, features.data(), features.size());
  interpreter.Invoke();
  if (bench_invoke(&interpreter) != kTfLiteOk) return 3;
  std::printf("%d\n", interpreter.output(0)->data.int8[2]);
  return 0;
}
"""

RUST = r"""
use tflm::{MicroInterpreter, Model, OpResolver};

#[inline(never)]
#[no_mangle]
pub extern "C" fn bench_invoke(i: &mut MicroInterpreter<'_>) -> i32 {
    match i.invoke() {
        Ok(()) => 0,
        Err(_) => 1,
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let bytes = std::fs::read(&args[1]).unwrap();
    let features = std::fs::read(&args[2]).unwrap();
    let mut words = vec![0u128; bytes.len().div_ceil(16)];
    let dst = words.as_mut_ptr().cast::<u8>();
    unsafe { std::ptr::copy_nonoverlapping(bytes.as_ptr(), dst, bytes.len()) };
    let aligned = unsafe { std::slice::from_raw_parts(words.as_ptr().cast::<u8>(), bytes.len()) };
    let model = Model::from_buffer(aligned).unwrap();
    let mut resolver = OpResolver::new();
    resolver.add_reshape().unwrap().add_fully_connected().unwrap();
    resolver.add_depthwise_conv_2d().unwrap().add_softmax().unwrap();
    let mut arena = vec![0u8; 64 * 1024];
    let mut interpreter = MicroInterpreter::new(&model, &resolver, &mut arena).unwrap();
    for (slot, b) in interpreter.input::<i8>(0).unwrap().iter_mut().zip(&features) {
        *slot = *b as i8;
    }
    interpreter.invoke().unwrap();
    assert_eq!(bench_invoke(&mut interpreter), 0);
    println!("{}", interpreter.output::<i8>(0).unwrap()[2]);
}
"""


def run(args: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, check=True, capture_output=True, text=True, **kwargs)  # type: ignore[call-overload, no-any-return]


def callgrind(binary: list[str], scratch: Path, name: str) -> int:
    out = scratch / f"callgrind.{name}"
    run(
        [
            "valgrind",
            "--tool=callgrind",
            "--toggle-collect=bench_invoke",
            f"--callgrind-out-file={out}",
            *binary,
        ]
    )
    text = out.read_text()
    match = re.search(r"^summary:\s+(\d+)", text, re.M) or re.search(
        r"^totals:\s+(\d+)", text, re.M
    )
    if match is None:
        raise SystemExit(f"no instruction total in {out}")
    return int(match.group(1))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    root = Path(__file__).resolve().parents[1]
    parser.add_argument("--crate", type=Path, default=root / "rust_crate")
    parser.add_argument("--golden", type=Path, default=root.parent / "shared" / "golden")
    args = parser.parse_args()
    crate = args.crate.resolve()
    model = args.golden / "models" / "micro_speech_quantized.tflite"
    features = args.golden / "outputs" / "micro_speech" / "yes_1000ms_features_int8.bin"

    libs = sorted(
        crate.glob("target/release/build/tflm-sys-*/out/libtflm.a"), key=lambda p: p.stat().st_mtime
    )
    if not libs:
        print("build the crate first: (cd rust_crate && cargo build --release)", file=sys.stderr)
        return 2
    lib = libs[-1]
    source_root = Path(
        lib.parent.parent.joinpath("output").read_text().split("cargo:root=")[1].splitlines()[0]
    )
    includes = [
        source_root / "tflm",
        source_root / "deps/flatbuffers/include",
        source_root / "deps/gemmlowp",
        source_root / "deps/ruy",
    ]

    scratch = Path(tempfile.mkdtemp(prefix="bindbot-bench-"))
    cpp = scratch / "bench.cc"
    cpp.write_text(CPP)
    cpp_bin = scratch / "bench_cpp"
    run(
        [
            "g++",
            "-std=c++17",
            "-O2",
            "-DTF_LITE_STATIC_MEMORY",
            "-fno-rtti",
            "-fno-exceptions",
            *[f"-I{i}" for i in includes],
            str(cpp),
            str(lib),
            "-o",
            str(cpp_bin),
            "-lm",
        ]
    )

    project = scratch / "rust"
    (project / "src").mkdir(parents=True)
    (project / "Cargo.toml").write_text(
        '[package]\nname = "bench-invoke"\nversion = "0.0.0"\nedition = "2021"\n\n'
        f'[dependencies]\ntflm = {{ path = "{crate / "tflm"}" }}\n\n[workspace]\n'
    )
    (project / "src" / "main.rs").write_text(RUST)
    env = {**os.environ, "CARGO_TARGET_DIR": str(crate / "target")}
    run(["cargo", "build", "--release", "--manifest-path", str(project / "Cargo.toml")], env=env)
    rust_bin = crate / "target" / "release" / "bench-invoke"

    same = run([str(cpp_bin), str(model), str(features)]).stdout
    assert same == run([str(rust_bin), str(model), str(features)]).stdout, "outputs differ"
    cpp_count = callgrind([str(cpp_bin), str(model), str(features)], scratch, "cpp")
    rust_count = callgrind([str(rust_bin), str(model), str(features)], scratch, "rust")
    print(f"C++  invoke: {cpp_count} instructions")
    print(f"Rust invoke: {rust_count} instructions")
    print(f"overhead ratio Rust/C++: {rust_count / cpp_count:.5f} (target <= 1.01)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
