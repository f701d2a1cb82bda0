"""The crate as a user meets it: an application outside this repository, built from a
registry, run on the host and on QEMU.

`write_app` makes a new cargo project (templates/consumer/) that depends on
`tflm = "=<version>"` from a registry with default features off and only its model's
`op-*` features on, plus cortex-m-rt, panic-semihosting and cortex-m-semihosting from
crates.io on bare metal. It has no build script: the memory map goes in through a linker
search path in its own `.cargo/config.toml`, as cortex-m-rt documents. The reference
cases (model, inputs, expected outputs) are copied into its `data/` folder.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from bindbot.errors import ConfigError
from bindbot.fsutil import write_atomic
from bindbot.render import render
from bindbot.verify.targets import Memory, Target


@dataclass(frozen=True)
class Case:
    name: str
    input: bytes  # input tensor 0, little-endian
    expected: bytes  # output tensor 0, little-endian


@dataclass(frozen=True)
class Spec:
    """What the application runs: one model, the ops it needs, its reference cases."""

    title: str
    model: Path
    ops: tuple[str, ...]  # safe-crate methods: add_fully_connected
    input_type: str  # Rust element type of input 0
    output_type: str
    output_bytes: int
    arena: int
    cases: tuple[Case, ...]

    @property
    def model_size(self) -> int:
        return self.model.stat().st_size

    @property
    def features(self) -> tuple[str, ...]:
        return tuple(sorted("op-" + op.removeprefix("add_").replace("_", "-") for op in self.ops))


#: The arena holds the interpreter, the op resolver (5.6 KiB at 32 ops) and the tensors
#: (micro_speech: 6.8 KiB); on the stack, which cortex-m-rt puts at the top of RAM.
ARENA = 32 * 1024


def keyword_spec(golden: Path) -> Spec | None:
    """The micro_speech keyword model on the four reference clips' features."""
    model = golden / "models" / "micro_speech_quantized.tflite"
    if not model.is_file():
        return None
    out = golden / "outputs" / "micro_speech"
    cases = tuple(
        Case(
            clip,
            (out / f"{clip}_1000ms_features_int8.bin").read_bytes(),
            (out / f"{clip}_1000ms_scores_int8.bin").read_bytes(),
        )
        for clip in ("yes", "no", "silence", "noise")
        if (out / f"{clip}_1000ms_scores_int8.bin").is_file()
    )
    ops = ("add_depthwise_conv_2d", "add_fully_connected", "add_reshape", "add_softmax")
    return Spec("micro_speech", model, ops, "i8", "i8", 4, ARENA, cases)


def hello_world_spec(golden: Path) -> Spec | None:
    """hello_world int8 (one fully connected op): what the synthetic upstream can run."""
    model = golden / "models" / "hello_world_int8.tflite"
    x = golden / "inputs" / "hello_world" / "x_int8.bin"
    y = golden / "outputs" / "hello_world" / "int8_y_int8.bin"
    if not (model.is_file() and x.is_file() and y.is_file()):
        return None
    # One case per x value: the model maps one int8 to one int8.
    cases = tuple(
        Case(f"x{i}", bytes([a]), bytes([b]))
        for i, (a, b) in enumerate(zip(x.read_bytes(), y.read_bytes(), strict=True))
    )
    return Spec("hello_world_int8", model, ("add_fully_connected",), "i8", "i8", 1, ARENA, cases)


def choose_spec(golden: Path, available_ops: frozenset[str]) -> Spec:
    """The richest reference the pinned crate can run (its resolver has those ops)."""
    for make in (keyword_spec, hello_world_spec):
        spec = make(golden)
        if spec is not None and set(spec.ops) <= available_ops and spec.cases:
            return spec
    raise ConfigError(
        f"no reference model in {golden} that the crate's ops can run",
        "point the golden folder at one with models/micro_speech_quantized.tflite or "
        "models/hello_world_int8.tflite and their inputs/outputs",
    )


def write_app(
    dest: Path,
    spec: Spec,
    version: str,
    registry: str,
    index: str,
    boards: dict[str, Memory],
    stamp: str,
) -> Path:
    """The application project at `dest` (replaced), depending on `tflm = "=version"`."""
    if dest.exists():
        shutil.rmtree(dest)
    data = dest / "data"
    data.mkdir(parents=True)
    shutil.copyfile(spec.model, data / "model.tflite")
    for case in spec.cases:
        (data / f"{case.name}.input").write_bytes(case.input)
        (data / f"{case.name}.expected").write_bytes(case.expected)
    ctx = {
        "stamp": stamp,
        "spec": spec,
        "version": version,
        "registry": registry,
        "index": index,
        "boards": sorted(boards.items()),
    }
    write_atomic(dest / "Cargo.toml", render("consumer/Cargo.toml.j2", **ctx))
    write_atomic(dest / ".cargo" / "config.toml", render("consumer/config.toml.j2", **ctx))
    write_atomic(dest / "src" / "main.rs", render("consumer/main.rs.j2", **ctx))
    for triple, memory in boards.items():
        write_atomic(board_map(dest, triple), render("consumer/memory.x.j2", memory=memory))
    return dest


def board_map(app: Path, triple: str) -> Path:
    """The memory.x of the board a triple's build runs on (cargo's config cannot name a
    triple with a dot, so the map is chosen by copying it to the root, as a one-board
    application keeps it)."""
    return app / "boards" / triple / "memory.x"


def elf_path(app: Path, target: Target) -> Path:
    return app / "target" / target.triple / "release" / "tflm-consumer"


#: Bare-metal targets the application is built for, and the one whose build QEMU runs.
CONSUMER_TRIPLES = ("thumbv6m-none-eabi", "thumbv7em-none-eabihf", "thumbv8m.main-none-eabihf")
QEMU_TRIPLE = "thumbv7em-none-eabihf"


def user_env(base: dict[str, str]) -> dict[str, str]:
    """The environment of a user who never heard of bindbot: no BINDBOT_* or TFLM_*."""
    return {k: v for k, v in base.items() if not k.startswith(("BINDBOT_", "TFLM_"))}
