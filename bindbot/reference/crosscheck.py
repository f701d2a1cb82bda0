"""A cross-check of the reference against the official TFLM Python interpreter (PyPI
`tflite-micro`), where it is installed.

The wheels are nightly builds of upstream's main (`0.devYYYYMMDDhhmmss`, the commit time),
so a wheel is usually built from another commit than the pin: the report says how far
apart they are, and differences are information, not failures (upstream's own tests allow
±1 on a few int16 models between builds). It runs in a child process
(`python -m bindbot.reference.crosscheck FOLDER`), so a crash inside the wheel's C++ cannot
take bindbot down with it.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from bindbot.reference.cases import first_difference, read_manifest
from bindbot.runner import Runner

#: numpy's dtype names are the manifest's.
ARENA_BYTES = 8 << 20


@dataclass(frozen=True)
class CrossCheck:
    version: str
    built: str  # the wheel's commit time, from its version
    equal: int
    differences: dict[str, str]

    def days_from(self, pin_date: str) -> int | None:
        try:
            built = datetime.strptime(self.built, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
            pin = datetime.fromisoformat(pin_date.replace("Z", "+00:00"))
        except ValueError:
            return None
        return (built - pin).days


def run_crosscheck(runner: Runner, root: Path) -> CrossCheck | None:
    """None when the wheel is not installed (or cannot run here)."""
    result = runner([sys.executable, "-m", "bindbot.reference.crosscheck", str(root)], timeout=1800)
    if result.returncode != 0:
        return None
    data = json.loads(result.stdout)
    return CrossCheck(data["version"], data["built"], data["equal"], data["differences"])


def _built(version: str) -> str:
    stamp = version.rpartition("dev")[2]
    try:
        return datetime.strptime(stamp, "%Y%m%d%H%M%S").strftime("%Y-%m-%dT%H:%M:%SZ")
    except ValueError:
        return ""


def main(folder: str) -> int:
    try:
        import importlib.metadata

        import numpy as np
        from tflite_micro import runtime

        version = importlib.metadata.version("tflite-micro")
    except Exception:  # not installed, or its native library does not load here
        return 3
    root = Path(folder)
    equal, differences = 0, {}
    for case in read_manifest(root / "cases.tsv"):
        try:
            interpreter = runtime.Interpreter.from_bytes(
                (root / case.model).read_bytes(), arena_size=ARENA_BYTES
            )
            details = interpreter.get_input_details
            data = [(root / t.path).read_bytes() for t in case.inputs]
            sizes = [
                int(np.prod(details(i)["shape"])) * np.dtype(t.dtype).itemsize
                for i, t in enumerate(case.inputs)
            ]
            outputs: list[bytes] = [b""] * len(case.outputs)
            for step in range(len(data[0]) // sizes[0]):
                for i, t in enumerate(case.inputs):
                    chunk = data[i][step * sizes[i] : (step + 1) * sizes[i]]
                    values = np.frombuffer(chunk, dtype=t.dtype).reshape(details(i)["shape"])
                    interpreter.set_input(values, i)
                interpreter.invoke()
                for k in range(len(case.outputs)):
                    outputs[k] += interpreter.get_output(k).tobytes()
        except Exception as exc:  # the wheel refuses a model: say so, go on
            differences[case.name] = f"the Python interpreter failed: {exc}"[:200]
            continue
        found = [
            first_difference(t.dtype, (root / t.path).read_bytes(), out, case.tolerance)
            for t, out in zip(case.outputs, outputs, strict=True)
        ]
        diff = next((f"output {k}: {d}" for k, d in enumerate(found) if d), None)
        if diff is None:
            equal += 1
        else:
            differences[case.name] = diff
    json.dump(
        {"version": version, "built": _built(version), "equal": equal, "differences": differences},
        sys.stdout,
        sort_keys=True,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
