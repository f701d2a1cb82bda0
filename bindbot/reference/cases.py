"""Reference cases: a model, its input files and the outputs it must give.

The manifest (`cases.tsv`) is what the crate's `tests/reference.rs` and the firmware read,
so it is plain text a `no_std` build script can parse: one case a line,

    name <TAB> model <TAB> tolerance <TAB> inputs <TAB> outputs <TAB> source

with `inputs` and `outputs` comma-separated `dtype:path` items (paths relative to the
manifest's folder). Every input file holds a whole number of copies of its tensor, the
same number for every input; each copy is one Invoke of an interpreter kept across them,
and each output file holds every Invoke's output in order. `tolerance` is the largest
allowed difference per element: 0 for integers means byte-identical, and float32 outputs
are compared as numbers.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

from bindbot.errors import ConfigError
from bindbot.fsutil import write_atomic

HEADER = "# name\tmodel\ttolerance\tinputs\toutputs\tsource\n"

#: Element formats by dtype name (little-endian, as TFLM stores tensors).
FORMATS = {
    "int8": "b",
    "uint8": "B",
    "int16": "h",
    "uint16": "H",
    "int32": "i",
    "uint32": "I",
    "int64": "q",
    "float32": "f",
    "bool": "B",
}
#: TfLiteType codes (`tensorflow/lite/core/c/c_api_types.h`) of the types above.
TFLITE_TYPES = {
    1: "float32",
    2: "int32",
    3: "uint8",
    4: "int64",
    6: "bool",
    7: "int16",
    9: "int8",
    16: "uint32",
    17: "uint16",
}


@dataclass(frozen=True)
class Tensor:
    dtype: str
    path: str  # relative to the manifest's folder

    def __str__(self) -> str:
        return f"{self.dtype}:{self.path}"

    @classmethod
    def parse(cls, text: str) -> Tensor:
        dtype, _, path = text.partition(":")
        if dtype not in FORMATS or not path:
            raise ValueError(f"bad tensor item {text!r}")
        return cls(dtype, path)


@dataclass(frozen=True)
class Case:
    name: str  # e.g. integration/seanet/add/add0, examples/hello_world/int8
    model: str
    tolerance: float
    inputs: tuple[Tensor, ...]
    outputs: tuple[Tensor, ...]
    source: str  # where the expected outputs come from: "upstream golden", "reference runner"

    def line(self) -> str:
        tol = f"{self.tolerance:g}"
        ins = ",".join(map(str, self.inputs))
        outs = ",".join(map(str, self.outputs))
        return f"{self.name}\t{self.model}\t{tol}\t{ins}\t{outs}\t{self.source}\n"


def write_manifest(path: Path, cases: list[Case]) -> None:
    write_atomic(path, HEADER + "".join(c.line() for c in sorted(cases, key=lambda c: c.name)))


def read_manifest(path: Path) -> list[Case]:
    cases = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line or line.startswith("#"):
            continue
        try:
            name, model, tol, ins, outs, source = line.split("\t")
            cases.append(
                Case(
                    name,
                    model,
                    float(tol),
                    tuple(Tensor.parse(t) for t in ins.split(",") if t),
                    tuple(Tensor.parse(t) for t in outs.split(",") if t),
                    source,
                )
            )
        except ValueError as exc:
            raise ConfigError(
                f"{path}:{number}: not a reference case line ({exc})",
                "rebuild the reference folder with `bindbot reference`",
            ) from exc
    return cases


def values(dtype: str, data: bytes) -> list[float]:
    fmt = FORMATS[dtype]
    count = len(data) // struct.calcsize(fmt)
    return list(struct.unpack(f"<{count}{fmt}", data[: count * struct.calcsize(fmt)]))


def pack(dtype: str, numbers: list[float] | list[int]) -> bytes:
    return struct.pack(f"<{len(numbers)}{FORMATS[dtype]}", *numbers)


@dataclass(frozen=True)
class Difference:
    index: int
    expected: float
    actual: float

    def __str__(self) -> str:
        return f"element {self.index}: expected {self.expected:g}, got {self.actual:g}"


def first_difference(dtype: str, expected: bytes, actual: bytes, tolerance: float) -> str | None:
    """None when `actual` matches `expected` within `tolerance`, else what differs first."""
    if len(expected) != len(actual):
        return f"{len(actual)} bytes where {len(expected)} were expected"
    if tolerance == 0 and dtype != "float32" and expected == actual:
        return None
    for index, (e, a) in enumerate(
        zip(values(dtype, expected), values(dtype, actual), strict=True)
    ):
        if e != e and a != a:  # both NaN
            continue
        if abs(a - e) > tolerance or (a != a) != (e != e):
            return str(Difference(index, e, a))
    return None
