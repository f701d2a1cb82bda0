"""The target matrix: one table for every place that needs a target's facts.

The generated build.rs takes its C/C++ flags from here and the firmware its memory map, so
gcc and rustc cannot drift apart: a hard-float Rust target gets `-mfloat-abi=hard` and the
FPU its Rust target enables, a soft-float one `-mfloat-abi=soft` (mixing them links, then
corrupts every float argument). tests/unit/test_targets.py holds the table to those rules.
"""

from __future__ import annotations

from dataclasses import dataclass

from bindbot.errors import UsageError


@dataclass(frozen=True)
class Memory:
    """Where the firmware's code and data go on one QEMU board."""

    flash_origin: int
    flash_length: int
    ram_origin: int
    ram_length: int


@dataclass(frozen=True)
class Core:
    """A QEMU machine that runs a target's firmware."""

    name: str  # as users say it: "M4F"
    cpu: str  # gcc's -mcpu of the core itself (M7 runs the M4F build)
    machine: str  # qemu-system-arm -machine
    memory: Memory


@dataclass(frozen=True)
class Target:
    name: str  # bindbot's short name: --targets m4f
    triple: str  # Rust's target triple
    cflags: tuple[str, ...]  # cpu, instruction set, float ABI, FPU: for gcc and g++
    rust_cpu: str  # rustc -C target-cpu, the same core gcc is told about
    cores: tuple[Core, ...] = ()  # QEMU machines that run this build's firmware

    @property
    def is_host(self) -> bool:
        return self.name == "host"

    @property
    def is_package(self) -> bool:
        """The `package` row: the crate packaged, published and used as a user would."""
        return self.name == "package"

    @property
    def hard_float(self) -> bool:
        return self.triple.endswith("eabihf")


# arm-none-eabi-gcc sizes an enum by its values (one byte for TfLiteStatus) while bindgen's
# bindings, like the host, give every C enum an int: the layout checks caught exactly this
# on every Cortex-M target (it is the trap that bit tfmicro). Int-sized enums everywhere.
ENUMS = ("-fno-short-enums",)

# What TFLM's C and C++ need at link time on bare metal: newlib-nano (memcpy, vsnprintf,
# qsort...), libm (expf, logf...), libgcc, and libstdc++ only where a class lacks TFLM's
# TF_LITE_REMOVE_VIRTUAL_DELETE (archives add only what is referenced). System calls are
# stubs: firmware prints by semihosting.
FIRMWARE_LIBS = ("-lstdc++_nano", "-lc_nano", "-lm", "-lgcc", "-lnosys")

# mps2 boards: 4 MiB of code memory at 0 and 4 MiB of data memory at 0x2000_0000.
MPS2 = Memory(0x0000_0000, 4 << 20, 0x2000_0000, 4 << 20)
# mps2-an505 (Cortex-M33): code at 0x1000_0000, 2 MiB of SRAM at 0x3800_0000 (secure aliases).
MPS2_AN505 = Memory(0x1000_0000, 4 << 20, 0x3800_0000, 2 << 20)

TARGETS: tuple[Target, ...] = (
    Target("host", "", (), ""),
    Target(
        "m0plus",
        "thumbv6m-none-eabi",
        ("-mcpu=cortex-m0plus", "-mthumb", "-mfloat-abi=soft", *ENUMS),
        "cortex-m0plus",
    ),
    Target(
        "m3",
        "thumbv7m-none-eabi",
        ("-mcpu=cortex-m3", "-mthumb", "-mfloat-abi=soft", *ENUMS),
        "cortex-m3",
        (Core("M3", "cortex-m3", "mps2-an385", MPS2),),
    ),
    Target(
        "m4f",
        "thumbv7em-none-eabihf",
        ("-mcpu=cortex-m4", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv4-sp-d16", *ENUMS),
        "cortex-m4",
        (
            Core("M4F", "cortex-m4", "mps2-an386", MPS2),
            # The M7 executes every M4F instruction; its double-precision FPU is unused.
            Core("M7", "cortex-m7", "mps2-an500", MPS2),
        ),
    ),
    Target(
        "m33",
        "thumbv8m.main-none-eabihf",
        ("-mcpu=cortex-m33", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv5-sp-d16", *ENUMS),
        "cortex-m33",
        (Core("M33", "cortex-m33", "mps2-an505", MPS2_AN505),),
    ),
    # Not a compiler target: the .crate files, a local registry and an application that
    # depends on them, built for the host and three Cortex-M triples and run on QEMU.
    Target("package", "", (), ""),
)

BY_NAME = {t.name: t for t in TARGETS}


def cross_targets() -> tuple[Target, ...]:
    return tuple(t for t in TARGETS if not t.is_host and not t.is_package)


def parse_targets(text: str) -> tuple[Target, ...]:
    """`--targets host,m4f` (or `all`) to table rows, in table order."""
    names = {n.strip() for n in text.split(",") if n.strip()}
    if names == {"all"}:
        return TARGETS
    unknown = sorted(names - set(BY_NAME))
    if unknown:
        raise UsageError(
            f"unknown target {', '.join(unknown)}",
            f"choose from {', '.join(BY_NAME)} or all, e.g. --targets host,m4f,package",
        )
    return tuple(t for t in TARGETS if t.name in names)
