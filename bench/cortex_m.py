"""Benchmark: Cortex-M builds and firmware size, each against a baseline measured in the
same run.

1. Cold build of the TFLM library for M4F: bindbot's (tflm-sys's build.rs, empty object
   cache and target folder) against upstream's own Makefile building its `microlite`
   library for cortex_m_generic / cortex-m4+fp from the same sources (ratio, target <= 1.0).
   The Makefile runs offline on a copy of the pinned tree with the pinned dependencies
   placed where its download scripts look first (see `upstream_make`; `--cmsis` and
   `--cortex-dfp` name local clones of the two repositories cortex_m_generic needs).
2. A warm `bindbot verify --targets m4f` with nothing changed (target: under 20 s).
3. Flash of the Rust firmware (`rust_crate/firmware`) against an equivalent C++-only
   firmware: the same models, checks and semihosting, the same startup, linker script,
   flags and TFLM library, written against TFLM's C++ API (target: at most 2 KiB more).

Needs the real upstream configured (BINDBOT_UPSTREAM, BINDBOT_DEP_*), the golden folder
and the Cortex-M tools (`bindbot doctor`).

    python bench/cortex_m.py --golden ../shared/golden --cmsis CMSIS_6 --cortex-dfp DFP
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bindbot.runner import subprocess_runner  # noqa: E402
from bindbot.verify.matrix import flash_and_ram  # noqa: E402
from bindbot.verify.targets import BY_NAME, FIRMWARE_LIBS  # noqa: E402
from bindbot.verify.toolchain import route  # noqa: E402

M4F = BY_NAME["m4f"]

STARTUP_C = r"""
#include <stdint.h>

extern uint32_t __sdata, __edata, __sidata, __sbss, __ebss;
extern void (*__init_array_start[])(void);
extern void (*__init_array_end[])(void);
int main(void);

static int semihost(int op, const void* arg) {
  register int r0 __asm__("r0") = op;
  register const void* r1 __asm__("r1") = arg;
  __asm__ volatile("bkpt #0xab" : "+r"(r0) : "r"(r1) : "memory");
  return r0;
}

void sh_print(const char* s) { semihost(0x04, s); }

void sh_exit(int code) {
  uint32_t block[2] = {0x20026, (uint32_t)code};
  semihost(0x20, block);
  for (;;) {
  }
}

void Reset(void) {
#ifdef __ARM_FP
  *(volatile uint32_t*)0xE000ED88 |= 0xFu << 20;
  __asm__ volatile("dsb\n isb");
#endif
  for (uint32_t *from = &__sidata, *to = &__sdata; to < &__edata;) *to++ = *from++;
  for (uint32_t* at = &__sbss; at < &__ebss;) *at++ = 0;
  for (void (**ctor)(void) = __init_array_start; ctor < __init_array_end; ++ctor) (*ctor)();
  sh_exit(main());
}

static void Fault(void) {
  sh_print("hard fault\n");
  sh_exit(102);
}

__attribute__((section(".vector_table.exceptions"), used)) void (*const exceptions[15])(void) = {
    Reset, Fault, Fault, Fault, Fault, Fault, 0, 0, 0, 0, Fault, Fault, 0, Fault, Fault};

void __cxa_pure_virtual(void) { sh_exit(103); }
"""

MAIN_CC = r"""
#include <cstdint>
#include <cstdio>
#include <cstring>

#include "tensorflow/lite/micro/micro_interpreter.h"
#include "tensorflow/lite/micro/micro_mutable_op_resolver.h"
#include "tensorflow/lite/schema/schema_generated.h"

extern "C" void sh_print(const char* s);
#define BLOB(name) extern "C" const unsigned char name[], name##_end[];
BLOB(hello_int8) BLOB(hello_float) BLOB(keyword) BLOB(x_int8) BLOB(x_float) BLOB(y_int8)
BLOB(y_float) BLOB(yes_f) BLOB(yes_s) BLOB(no_f) BLOB(no_s) BLOB(silence_f) BLOB(silence_s)
BLOB(noise_f) BLOB(noise_s)

alignas(16) static uint8_t arena[96 * 1024];

static uint32_t Distance(float a, float b) {  // billionths, as the Rust firmware
  const float diff = a > b ? a - b : b - a;
  return diff < 4.0f ? uint32_t(diff * 1e9f) : UINT32_MAX;
}

// Like Model::from_buffer, check the flatbuffer before TFLM trusts it: a careful C++
// program does the same with an untrusted model.
static bool Verified(const unsigned char* model, const unsigned char* end) {
  flatbuffers::Verifier verifier(model, size_t(end - model));
  return tflite::VerifyModelBuffer(verifier);
}

template <typename T>
static int Hello(const char* name, const unsigned char* model, const unsigned char* model_end,
                 const unsigned char* xs,
                 const unsigned char* xs_end, const unsigned char* ys, uint32_t allowed) {
  if (!Verified(model, model_end)) return 1;
  tflite::MicroMutableOpResolver<1> resolver;
  resolver.AddFullyConnected();
  tflite::MicroInterpreter interpreter(tflite::GetModel(model), resolver, arena, sizeof(arena));
  if (interpreter.AllocateTensors() != kTfLiteOk) return 1;
  const int count = int((xs_end - xs) / sizeof(T));
  int mismatches = 0, equal = 0;
  uint32_t worst = 0;
  char line[64];
  sh_print(name);
  for (int i = 0; i < count; ++i) {
    T x, expected;
    std::memcpy(&x, xs + i * sizeof(T), sizeof(T));
    std::memcpy(&expected, ys + i * sizeof(T), sizeof(T));
    std::memcpy(interpreter.input(0)->data.data, &x, sizeof(T));
    interpreter.Invoke();
    T y;
    std::memcpy(&y, interpreter.output(0)->data.data, sizeof(T));
    unsigned char bytes[sizeof(T)];
    std::memcpy(bytes, &y, sizeof(T));
    for (unsigned b = 0; b < sizeof(T); ++b) {
      std::snprintf(line, sizeof(line), "%02x", bytes[b]);
      sh_print(line);
    }
    sh_print(" ");
    const uint32_t distance =
        sizeof(T) == 4 ? Distance(float(y), float(expected)) : (y == expected ? 0 : UINT32_MAX);
    worst = distance > worst ? distance : worst;
    equal += std::memcmp(&y, &expected, sizeof(T)) == 0;
    mismatches += distance > allowed;
  }
  std::snprintf(line, sizeof(line), "\n%s: %d of %d outputs equal to golden, arena %u bytes\n",
                name, equal, count, unsigned(interpreter.arena_used_bytes()));
  sh_print(line);
  return mismatches != 0;
}

static int Keyword() {
  if (!Verified(keyword, keyword_end)) return 1;
  tflite::MicroMutableOpResolver<4> resolver;
  resolver.AddReshape();
  resolver.AddFullyConnected();
  resolver.AddDepthwiseConv2D();
  resolver.AddSoftmax();
  tflite::MicroInterpreter interpreter(tflite::GetModel(keyword), resolver, arena, sizeof(arena));
  if (interpreter.AllocateTensors() != kTfLiteOk) return 1;
  struct Clip { const char* name; const unsigned char *features, *scores; };
  const Clip clips[] = {{"yes", yes_f, yes_s}, {"no", no_f, no_s},
                        {"silence", silence_f, silence_s}, {"noise", noise_f, noise_s}};
  int failed = 0;
  char line[64];
  for (const Clip& clip : clips) {
    TfLiteTensor* input = interpreter.input(0);
    std::memcpy(input->data.data, clip.features, input->bytes);
    interpreter.Invoke();
    TfLiteTensor* output = interpreter.output(0);
    sh_print("micro_speech ");
    sh_print(clip.name);
    sh_print(": scores");
    for (size_t i = 0; i < output->bytes; ++i) {
      std::snprintf(line, sizeof(line), " %d", output->data.int8[i]);
      sh_print(line);
    }
    const bool equal = std::memcmp(output->data.data, clip.scores, output->bytes) == 0;
    sh_print(equal ? "; equal to golden\n" : "; DIFFERENT\n");
    failed += !equal;
  }
  return failed;
}

int main() {
  int failed = Hello<int8_t>("hello_world int8", hello_int8, hello_int8_end, x_int8,
                             x_int8_end, y_int8, 0);
  failed += Hello<float>("hello_world float", hello_float, hello_float_end, x_float,
                         x_float_end, y_float, 2000);
  failed += Keyword();
  sh_print(failed == 0 ? "PASS\n" : "FAIL\n");
  return failed;
}
"""

BLOBS = {
    "hello_int8": "models/hello_world_int8.tflite",
    "hello_float": "models/hello_world_float.tflite",
    "keyword": "models/micro_speech_quantized.tflite",
    "x_int8": "inputs/hello_world/x_int8.bin",
    "x_float": "inputs/hello_world/x_float32.bin",
    "y_int8": "outputs/hello_world/int8_y_int8.bin",
    "y_float": "outputs/hello_world/float_y_float32.bin",
    **{
        f"{clip}_{kind[0]}": f"outputs/micro_speech/{clip}_1000ms_{kind}_int8.bin"
        for clip in ("yes", "no", "silence", "noise")
        for kind in ("features", "scores")
    },
}


def run(args: list[str], **kwargs: object) -> tuple[float, subprocess.CompletedProcess[str]]:
    start = time.monotonic()
    done = subprocess.run(args, capture_output=True, text=True, check=False, **kwargs)  # type: ignore[call-overload]
    return time.monotonic() - start, done


def must(done: subprocess.CompletedProcess[str], what: str) -> None:
    if done.returncode != 0:
        sys.exit(f"{what} failed:\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}")


def bindbot_cold_build(crate: Path, cache: Path, work: Path) -> float:
    how = route(subprocess_runner, M4F)
    env = {
        **os.environ,
        **dict(how.env),
        "BINDBOT_CACHE": str(cache),
        "CARGO_TARGET_DIR": str(work / "target"),
        "TFLM_SYS_OBJECT_CACHE": str(work / "objects"),
    }
    # Rust's core and the cc crate first, so that only the library build is timed.
    must(
        run(
            [how.cargo, "build", "--release", "-p", "tflm-sys", *how.cargo_args],
            cwd=crate,
            env={**env, "TFLM_SYS_DOCS_ONLY": "1"},
        )[1],
        "warm-up",
    )
    seconds, done = run(
        [how.cargo, "build", "--release", "-p", "tflm-sys", *how.cargo_args], cwd=crate, env=env
    )
    must(done, "bindbot's build")
    return seconds


def _archive(repo: str, commit: str, dest: Path) -> None:
    dest.mkdir(parents=True, exist_ok=True)
    archive = subprocess.run(
        ["git", "-C", repo, "archive", commit], capture_output=True, check=True
    )
    subprocess.run(["tar", "-x", "-C", str(dest)], input=archive.stdout, check=True)


def upstream_make(commit: str, cache: Path, cmsis: str, cortex_dfp: str, work: Path) -> float:
    """Upstream's Makefile building `microlite` for cortex_m_generic / cortex-m4+fp, offline.

    Its download scripts skip any dependency already in downloads/: the pinned, patched
    dependencies bindbot prepared go there, pigweed (not part of the library) is an empty
    folder, and CMSIS with Cortex_DFP (cortex_m_generic's device headers) come from the
    local repositories given, at the commits upstream's cmsis_download.sh pins. The tree
    is a `git archive` of the pinned commit, so the scripts keep their execute bits.
    """
    upstream = os.environ["BINDBOT_UPSTREAM"]
    tree = work / "tflm"
    _archive(upstream, commit, tree)
    downloads = tree / "tensorflow/lite/micro/tools/make/downloads"
    for name in ("flatbuffers", "gemmlowp", "kissfft", "ruy"):
        shutil.copytree(cache / "src" / commit / "deps" / name, downloads / name, symlinks=False)
    (downloads / "pigweed").mkdir()
    script = (tree / "tensorflow/lite/micro/tools/make/ext_libs/cmsis_download.sh").read_text()
    cmsis_commit, dfp_commit = re.findall(r'ZIP_PREFIX="([0-9a-f]{40})"', script)[:2]
    _archive(cmsis, cmsis_commit, downloads / "cmsis")
    _archive(cortex_dfp, dfp_commit, downloads / "cmsis" / "Cortex_DFP")
    make = [
        "make",
        "-j2",
        "-f",
        "tensorflow/lite/micro/tools/make/Makefile",
        "TARGET=cortex_m_generic",
        "TARGET_ARCH=cortex-m4+fp",
        "TARGET_TOOLCHAIN_ROOT=/usr/bin/",
        "microlite",
    ]
    seconds, done = run(make, cwd=tree)
    must(done, "upstream's Makefile")
    return seconds


def warm_verify(golden: Path) -> float:
    cmd = [
        sys.executable,
        "-m",
        "bindbot",
        "verify",
        "--offline",
        "--targets",
        "m4f",
        "--golden",
        str(golden),
        "--out",
        str(Path(tempfile.gettempdir()) / "bench-verify"),
    ]
    must(run(cmd, cwd=ROOT)[1], "verify (first)")
    seconds, done = run(cmd, cwd=ROOT)
    must(done, "verify (warm)")
    return seconds


def cpp_firmware(golden: Path, cache: Path, crate: Path, work: Path) -> Path:
    """The C++-only firmware, linked like the Rust one (same library, script, flags)."""
    target = cache / "verify-target" / M4F.triple / "firmware"
    library = next(target.glob("build/tflm-sys-*/out/libtflm.a"))
    script = next(target.glob("build/tflm-firmware-*/out/link.x"))
    commit = re.search(r'^commit = "([0-9a-f]{40})"', (crate / "bindbot.lock").read_text(), re.M)
    assert commit, "no commit in bindbot.lock"
    tree = cache / "src" / commit[1]
    work.mkdir(parents=True, exist_ok=True)
    (work / "startup.c").write_text(STARTUP_C)
    (work / "main.cc").write_text(MAIN_CC)
    blobs = ['.section .rodata.blobs, "a"']
    for name, rel in BLOBS.items():
        blobs += [
            ".balign 16",
            f".global {name}",
            f"{name}:",
            f'.incbin "{golden / rel}"',
            f".global {name}_end",
            f"{name}_end:",
        ]
    (work / "blobs.S").write_text("\n".join(blobs) + "\n")
    includes = [
        f"-I{tree / 'tflm'}",
        f"-I{tree / 'deps/flatbuffers/include'}",
        f"-I{tree / 'deps/gemmlowp'}",
    ]
    common = [
        *M4F.cflags,
        "-Os",
        "-ffunction-sections",
        "-fdata-sections",
        "-DTF_LITE_STATIC_MEMORY",
    ]
    elf = work / "cpp-firmware.elf"
    must(
        run(["arm-none-eabi-gcc", *common, "-c", "startup.c", "-o", "startup.o"], cwd=work)[1],
        "startup.c",
    )
    must(
        run(["arm-none-eabi-gcc", *M4F.cflags, "-c", "blobs.S", "-o", "blobs.o"], cwd=work)[1],
        "blobs.S",
    )
    must(
        run(
            [
                "arm-none-eabi-g++",
                *common,
                "-std=c++17",
                "-fno-rtti",
                "-fno-exceptions",
                "-fno-threadsafe-statics",
                *includes,
                "-c",
                "main.cc",
                "-o",
                "main.o",
            ],
            cwd=work,
        )[1],
        "main.cc",
    )
    must(
        run(
            [
                "arm-none-eabi-g++",
                *M4F.cflags,
                "main.o",
                "startup.o",
                "blobs.o",
                str(library),
                f"-T{script}",
                "-nostartfiles",
                "-Wl,--gc-sections",
                "-Wl,--start-group",
                *FIRMWARE_LIBS,
                "-Wl,--end-group",
                "-o",
                str(elf),
            ],
            cwd=work,
        )[1],
        "link",
    )
    return elf


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--crate", type=Path, default=ROOT / "rust_crate")
    parser.add_argument("--golden", type=Path, default=ROOT.parent / "shared" / "golden")
    parser.add_argument("--cmsis", help="git repository of ARM-software/CMSIS_6 (the Makefile)")
    parser.add_argument("--cortex-dfp", help="git repository of ARM-software/Cortex_DFP")
    parser.add_argument("--skip-make", action="store_true", help="skip the cold build race")
    args = parser.parse_args()
    cache = Path(os.environ.get("BINDBOT_CACHE", Path.home() / ".cache" / "bindbot"))
    golden = args.golden.resolve()

    with tempfile.TemporaryDirectory(prefix="bindbot-bench-m-") as tmp:
        work = Path(tmp)
        if not args.skip_make:
            ours = bindbot_cold_build(args.crate, cache, work / "ours")
            print(f"cold M4F library, bindbot:  {ours:7.1f} s")
            if args.cmsis and args.cortex_dfp:
                commit = re.search(
                    r'^commit = "([0-9a-f]{40})"', (args.crate / "bindbot.lock").read_text(), re.M
                )
                assert commit, "no commit in bindbot.lock"
                theirs = upstream_make(commit[1], cache, args.cmsis, args.cortex_dfp, work / "make")
                print(f"cold M4F library, Makefile: {theirs:7.1f} s")
                print(f"ratio bindbot/Makefile:     {ours / theirs:7.3f}  (target <= 1.0)")
        warm = warm_verify(golden)
        print(f"warm no-change verify m4f:  {warm:7.1f} s  (target < 20 s)")

        rust_elf = cache / "verify-target" / M4F.triple / "firmware" / "tflm-firmware"
        cpp_elf = cpp_firmware(golden, cache, args.crate, work / "cpp")
        qemu = [
            "qemu-system-arm",
            "-machine",
            "mps2-an386",
            "-nographic",
            "-semihosting-config",
            "enable=on,target=native",
            "-kernel",
            str(cpp_elf),
        ]
        _, ran = run(qemu, timeout=600)
        print(f"C++ firmware on QEMU M4F: exit {ran.returncode}")
        if ran.returncode != 0:
            print(ran.stdout + ran.stderr)
        rust = flash_and_ram(subprocess_runner, rust_elf)
        cpp = flash_and_ram(subprocess_runner, cpp_elf)
        assert rust and cpp
        print(f"flash, Rust firmware:       {rust[0]:7d} bytes")
        print(f"flash, C++ firmware:        {cpp[0]:7d} bytes")
        print(f"flash overhead:             {rust[0] - cpp[0]:7d} bytes  (target <= 2048)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
