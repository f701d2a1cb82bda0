"""The reference a pin is verified against, made from the pinned tree alone.

- Upstream's example models (hello_world, micro_speech with its audio preprocessor over
  the test clips, person_detection) with inputs derived from their test data as upstream's
  own example tests do, and outputs from the reference runner (`build.py`). These files
  keep the layout of a golden folder (`models/`, `inputs/`, `outputs/`), which the crate's
  golden tests and the firmware read.
- Upstream's per-op integration tests (`tensorflow/lite/micro/integration_tests/**`):
  model, input CSVs and golden CSV, compared within upstream's own tolerance (its test
  template uses `TF_LITE_MICRO_EXPECT_NEAR(golden, output, 1)`).
- Every other model in the tree's examples and models folders that the runner can run,
  on deterministic pseudo-random inputs, with the runner's outputs as the reference.

Everything is listed in `cases.tsv` (`cases.py`) for the crate's generic reference test.
"""

from __future__ import annotations

import hashlib
import math
import random
import re
import shutil
import struct
import wave
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from bindbot.reference.cases import FORMATS, TFLITE_TYPES, Case, Tensor, first_difference, pack
from bindbot.runner import Runner

EXAMPLES = "tensorflow/lite/micro/examples"
MODELS = "tensorflow/lite/micro/models"
INTEGRATION = "tensorflow/lite/micro/integration_tests"
#: upstream's integration-test template: TF_LITE_MICRO_EXPECT_NEAR(golden[i], output[i], 1).
INTEGRATION_TOLERANCE = 1
#: hello_world's test inputs (the golden folder's): 0 to 2*pi.
HELLO_X = (
    0.0,
    0.5,
    1.0,
    math.pi / 2,
    2.0,
    3.0,
    math.pi,
    4.0,
    3 * math.pi / 2,
    5.0,
    6.0,
    2 * math.pi,
)
#: micro_speech feeds its preprocessor 30 ms windows (480 samples at 16 kHz) every 20 ms.
FRAME, STRIDE = 480, 320

RUNNER_SOURCE = "reference runner"
UPSTREAM_GOLDEN = f"upstream golden (within ±{INTEGRATION_TOLERANCE}, as upstream's test)"


class RunnerFailed(Exception):
    """The reference runner could not run a model (an operator it lacks, a bad file)."""


@dataclass(frozen=True)
class TensorInfo:
    type_code: int
    bytes: int
    scale: float
    zero_point: int
    dims: tuple[int, ...]

    @property
    def dtype(self) -> str | None:
        return TFLITE_TYPES.get(self.type_code)


@dataclass(frozen=True)
class ModelInfo:
    inputs: tuple[TensorInfo, ...]
    outputs: tuple[TensorInfo, ...]
    arena_used_bytes: int


@dataclass
class Reference:
    """Runs the runner and records cases; the folder `root` is being filled."""

    runner: Runner
    exe: Path
    tree: Path  # the pinned upstream tree
    root: Path
    cases: list[Case] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)  # model -> why
    arena: dict[str, int] = field(default_factory=dict)  # model -> bytes (host, 64-bit)
    disagreements: dict[str, str] = field(default_factory=dict)  # case -> runner vs golden

    def info(self, model: Path) -> ModelInfo:
        result = self.runner([str(self.exe), str(model), "info"], timeout=300)
        if result.returncode != 0:
            raise RunnerFailed(self._why(result.stderr, result.returncode))
        ins: list[TensorInfo] = []
        outs: list[TensorInfo] = []
        arena = 0
        for line in result.stdout.splitlines():
            words = line.split()
            if words and words[0] in ("input", "output"):
                t = TensorInfo(
                    int(words[3]),
                    int(words[5]),
                    float(words[7]),
                    int(words[9]),
                    tuple(int(d) for d in words[11:]),
                )
                (ins if words[0] == "input" else outs).append(t)
            elif words[:1] == ["arena_used_bytes"]:
                arena = int(words[1])
        return ModelInfo(tuple(ins), tuple(outs), arena)

    def _why(self, stderr: str, status: int) -> str:
        # The runner names the file it was given: say it relative to the folder.
        return (_last_line(stderr) or f"exit {status}").replace(f"{self.root}/", "")

    def run(self, model: Path, inputs: list[Path], outputs: list[Path]) -> None:
        for out in outputs:
            out.parent.mkdir(parents=True, exist_ok=True)
        argv = [str(self.exe), str(model), "run", *map(str, inputs), "--", *map(str, outputs)]
        result = self.runner(argv, timeout=600)
        if result.returncode != 0:
            raise RunnerFailed(self._why(result.stderr, result.returncode))

    def file(self, rel: str, data: bytes) -> str:
        path = self.root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        return rel

    def model(self, tree_path: str, rel: str) -> Path | None:
        src = self.tree / tree_path
        if not src.is_file():
            return None
        dest = self.root / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, dest)
        return dest

    def add(
        self,
        name: str,
        model: str,
        inputs: list[Tensor],
        outputs: list[Tensor],
        *,
        tolerance: float = 0,
        source: str = RUNNER_SOURCE,
    ) -> None:
        self.cases.append(Case(name, model, tolerance, tuple(inputs), tuple(outputs), source))

    def runner_case(
        self, name: str, model_rel: str, inputs: list[Tensor], dtypes: list[str], outputs: list[str]
    ) -> bool:
        """Run the runner on `inputs` and record its outputs as the expected ones."""
        model = self.root / model_rel
        try:
            self.run(model, [self.root / t.path for t in inputs], [self.root / o for o in outputs])
        except RunnerFailed as exc:
            self.skipped[name] = str(exc)
            return False
        self.add(
            name, model_rel, inputs, [Tensor(d, o) for d, o in zip(dtypes, outputs, strict=True)]
        )
        return True


def _last_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1].strip() if lines else ""


def _dtypes(info: ModelInfo, name: str) -> tuple[list[str], list[str]] | None:
    ins = [t.dtype for t in info.inputs]
    outs = [t.dtype for t in info.outputs]
    if None in ins or None in outs:
        return None
    return [d for d in ins if d], [d for d in outs if d]


def hello_world(ref: Reference) -> None:
    import numpy as np

    xs = np.array(HELLO_X, dtype=np.float32)
    x_float = ref.file("inputs/hello_world/x_float32.bin", xs.astype("<f4").tobytes())
    for variant, dtype in (("float", "float32"), ("int8", "int8")):
        rel = f"models/hello_world_{variant}.tflite"
        model = ref.model(f"{EXAMPLES}/hello_world/models/hello_world_{variant}.tflite", rel)
        if model is None and variant == "int8":
            # Before 2023 upstream had one quantized model, examples/hello_world/hello_world.tflite.
            model = ref.model(f"{EXAMPLES}/hello_world/hello_world.tflite", rel)
        if model is None:
            continue
        x = x_float
        if variant == "int8":
            try:
                q = ref.info(model).inputs[0]
            except RunnerFailed as exc:
                ref.skipped[rel] = str(exc)
                continue
            if q.dtype != "int8":
                ref.skipped[rel] = f"input type {q.dtype}, expected int8"
                model.unlink()
                continue
            # As the example does: trunc(x / scale + zero_point) in float32, clamped.
            scaled = xs / np.float32(q.scale) + np.float32(q.zero_point)
            values = np.clip(np.trunc(scaled), -128, 127).astype(np.int8)
            x = ref.file("inputs/hello_world/x_int8.bin", values.tobytes())
        ref.runner_case(
            f"examples/hello_world/{variant}",
            rel,
            [Tensor(dtype, x)],
            [dtype],
            [f"outputs/hello_world/{variant}_y_{dtype}.bin"],
        )


def _pcm16(path: Path) -> bytes:
    with wave.open(str(path), "rb") as w:
        if w.getsampwidth() != 2 or w.getnchannels() != 1:
            raise RunnerFailed(f"{path.name}: not 16-bit mono")
        return w.readframes(w.getnframes())


def micro_speech(ref: Reference) -> None:
    base = f"{EXAMPLES}/micro_speech"
    preprocessors = {
        variant: ref.model(
            f"{base}/models/audio_preprocessor_{variant}.tflite",
            f"models/audio_preprocessor_{variant}.tflite",
        )
        for variant in ("int8", "float")
    }
    keyword = ref.model(
        f"{base}/models/micro_speech_quantized.tflite", "models/micro_speech_quantized.tflite"
    )
    testdata = ref.tree / base / "testdata"
    if not testdata.is_dir():
        return
    for wav in sorted(testdata.glob("*.wav")):
        clip = wav.stem
        samples = _pcm16(wav)
        ref.file(f"inputs/micro_speech/{clip}.pcm16le", samples)
        count = len(samples) // 2
        frames = b"".join(
            samples[2 * start : 2 * (start + FRAME)]
            for start in range(0, count - FRAME + 1, STRIDE)
        )
        if not frames:
            continue
        framed = ref.file(f"cases/micro_speech/{clip}.frames.pcm16le", frames)
        for variant, model in preprocessors.items():
            if model is None:
                continue
            dtype = "int8" if variant == "int8" else "float32"
            features = f"outputs/micro_speech/{clip}_features_{dtype}.bin"
            done = ref.runner_case(
                f"examples/micro_speech/{clip}/features_{variant}",
                f"models/audio_preprocessor_{variant}.tflite",
                [Tensor("int16", framed)],
                [dtype],
                [features],
            )
            if not done or variant != "int8" or keyword is None:
                continue
            # The keyword model takes a whole second of features (49 frames of 40).
            wanted = ref.info(keyword).inputs[0].bytes
            if (ref.root / features).stat().st_size == wanted:
                ref.runner_case(
                    f"examples/micro_speech/{clip}/scores",
                    "models/micro_speech_quantized.tflite",
                    [Tensor("int8", features)],
                    ["int8"],
                    [f"outputs/micro_speech/{clip}_scores_int8.bin"],
                )


def _bmp_gray(path: Path) -> bytes:
    """The pixels of an 8-bit BMP, top row first (what PIL's tobytes() gives)."""
    data = path.read_bytes()
    if data[:2] != b"BM":
        raise RunnerFailed(f"{path.name}: not a BMP file")
    offset = int.from_bytes(data[10:14], "little")
    width = int.from_bytes(data[18:22], "little", signed=True)
    height = int.from_bytes(data[22:26], "little", signed=True)
    bits = int.from_bytes(data[28:30], "little")
    if bits != 8:
        raise RunnerFailed(f"{path.name}: {bits}-bit BMP, expected 8-bit grayscale")
    stride = (width + 3) // 4 * 4
    rows = [data[offset + r * stride : offset + r * stride + width] for r in range(abs(height))]
    return b"".join(reversed(rows) if height > 0 else rows)  # positive height: bottom-up


def person_detection(ref: Reference) -> None:
    rel = "models/person_detect.tflite"
    if ref.model(f"{MODELS}/person_detect.tflite", rel) is None:
        return
    testdata = ref.tree / EXAMPLES / "person_detection" / "testdata"
    for bmp in sorted(testdata.glob("*.bmp")) if testdata.is_dir() else []:
        pixels = _bmp_gray(bmp)
        raw = ref.file(f"inputs/person_detection/{bmp.stem}_u8.bin", pixels)
        # The example's test copies the pixels unchanged into the int8 input; an application
        # would shift them by 128. Both are references.
        shifted = ref.file(
            f"cases/person_detection/{bmp.stem}_shifted.s8", bytes((p - 128) & 0xFF for p in pixels)
        )
        for kind, data in (("raw", raw), ("shifted", shifted)):
            ref.runner_case(
                f"examples/person_detection/{bmp.stem}/{kind}",
                rel,
                [Tensor("int8", data)],
                ["int8"],
                [f"outputs/person_detection/{bmp.stem}_{kind}_scores_int8.bin"],
            )


#: `<model>_input<k>_<type>.csv` and `<model>_golden_<type>.csv`; before 2022-09 a model with
#: one input had `<model>_input_<type>.csv`.
_CSV = re.compile(r"^(?P<stem>.+)_(?P<role>input(?P<k>\d*)|golden)_(?P<dtype>[a-z]+\d*)\.csv$")


def _csv_values(path: Path) -> list[int]:
    text = path.read_text(encoding="utf-8")
    return [int(v) for v in re.split(r"[,\s]+", text.strip()) if v]


def integration_tests(ref: Reference) -> None:
    root = ref.tree / INTEGRATION
    if not root.is_dir():
        return
    for model_path in sorted(root.rglob("*.tflite")):
        folder = model_path.parent
        rel_dir = folder.relative_to(ref.tree / INTEGRATION).as_posix()
        stem = model_path.stem
        name = f"integration/{rel_dir}/{stem}"
        inputs: dict[int, tuple[str, Path]] = {}
        golden: tuple[str, Path] | None = None
        for csv in folder.glob(f"{stem}_*.csv"):
            m = _CSV.match(csv.name)
            if m is None or m.group("stem") != stem:
                continue
            dtype = m.group("dtype")
            if m.group("k") is not None:
                inputs[int(m.group("k") or 0)] = (dtype, csv)
            else:
                golden = (dtype, csv)
        if golden is None or not inputs or sorted(inputs) != list(range(len(inputs))):
            ref.skipped[name] = "no golden CSV, or input CSVs not numbered from 0"
            continue
        model_rel = f"cases/{name}.tflite"
        ref.model(model_path.relative_to(ref.tree).as_posix(), model_rel)
        tensors = [
            Tensor(dtype, ref.file(f"cases/{name}.in{k}.{dtype}", pack(dtype, _csv_values(csv))))
            for k, (dtype, csv) in sorted(inputs.items())
        ]
        gdtype, gcsv = golden
        expected = Tensor(
            gdtype, ref.file(f"cases/{name}.golden.{gdtype}", pack(gdtype, _csv_values(gcsv)))
        )
        ref.add(
            name,
            model_rel,
            tensors,
            [expected],
            tolerance=INTEGRATION_TOLERANCE,
            source=UPSTREAM_GOLDEN,
        )
        # The runner runs the same files: where it disagrees with upstream's golden, the
        # report says so (then the pin itself, not the crate, differs from upstream's data).
        actual = ref.root / f"cases/{name}.runner.{gdtype}"
        try:
            ref.run(ref.root / model_rel, [ref.root / t.path for t in tensors], [actual])
        except RunnerFailed as exc:
            ref.disagreements[name] = f"runner failed: {exc}"
            continue
        diff = first_difference(
            gdtype,
            (ref.root / expected.path).read_bytes(),
            actual.read_bytes(),
            INTEGRATION_TOLERANCE,
        )
        actual.unlink()
        if diff is not None:
            ref.disagreements[name] = diff


def _random_input(info: TensorInfo, dtype: str, rng: random.Random, steps: int) -> bytes:
    count = info.bytes // struct.calcsize(FORMATS[dtype]) * steps
    if dtype == "float32":
        return pack(dtype, [rng.uniform(-1.0, 1.0) for _ in range(count)])
    if dtype == "bool":
        return pack(dtype, [rng.randrange(2) for _ in range(count)])
    bits = int(re.sub(r"\D", "", dtype))
    lo, hi = (
        (0, 2**bits - 1) if dtype.startswith("u") else (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1)
    )
    return pack(dtype, [rng.randint(lo, hi) for _ in range(count)])


def other_models(ref: Reference, covered: set[str]) -> None:
    """Every other model upstream keeps for MCUs, on seeded random inputs (two steps, so
    state carried across Invokes is compared too)."""
    for folder in (EXAMPLES, MODELS):
        base = ref.tree / folder
        for path in sorted(base.rglob("*.tflite")) if base.is_dir() else []:
            tree_rel = path.relative_to(ref.tree).as_posix()
            if tree_rel in covered:
                continue
            name = "other/" + tree_rel.removeprefix("tensorflow/lite/micro/").removesuffix(
                ".tflite"
            )
            model_rel = f"cases/{name}.tflite"
            model = ref.model(tree_rel, model_rel)
            assert model is not None
            try:
                info = ref.info(model)
            except RunnerFailed as exc:
                ref.skipped[name] = str(exc)
                model.unlink()
                continue
            ref.arena[name] = info.arena_used_bytes
            types = _dtypes(info, name)
            if types is None:
                ref.skipped[name] = "a tensor type the reference cases do not cover"
                model.unlink()
                continue
            rng = random.Random(hashlib.sha256(tree_rel.encode()).digest())
            inputs = [
                Tensor(d, ref.file(f"cases/{name}.in{k}.{d}", _random_input(t, d, rng, 2)))
                for k, (t, d) in enumerate(zip(info.inputs, types[0], strict=True))
            ]
            outs = [f"cases/{name}.out{k}.{d}" for k, d in enumerate(types[1])]
            if not ref.runner_case(name, model_rel, inputs, types[1], outs):
                model.unlink()


#: Tree paths of the example models that `hello_world`, `micro_speech` and
#: `person_detection` give real test data.
EXAMPLE_MODELS = frozenset(
    {
        f"{EXAMPLES}/hello_world/models/hello_world_float.tflite",
        f"{EXAMPLES}/hello_world/models/hello_world_int8.tflite",
        f"{EXAMPLES}/hello_world/hello_world.tflite",
        f"{EXAMPLES}/micro_speech/models/audio_preprocessor_float.tflite",
        f"{EXAMPLES}/micro_speech/models/audio_preprocessor_int8.tflite",
        f"{EXAMPLES}/micro_speech/models/micro_speech_quantized.tflite",
        f"{MODELS}/person_detect.tflite",
    }
)


def collect(ref: Reference) -> None:
    hello_world(ref)
    micro_speech(ref)
    person_detection(ref)
    for rel in (
        sorted((ref.root / "models").glob("*.tflite")) if (ref.root / "models").is_dir() else []
    ):
        try:
            ref.arena[f"examples/{rel.stem}"] = ref.info(rel).arena_used_bytes
        except RunnerFailed as exc:
            ref.skipped[f"examples/{rel.stem}"] = str(exc)
    integration_tests(ref)
    other_models(ref, set(EXAMPLE_MODELS))


def groups(cases: list[Case]) -> Iterator[tuple[str, list[Case]]]:
    order = ("examples", "integration", "other")
    for prefix in order:
        found = [c for c in cases if c.name.split("/", 1)[0] == prefix]
        if found:
            yield prefix, found
