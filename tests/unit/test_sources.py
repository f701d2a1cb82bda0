"""The library source rules on small hand-made trees."""

from pathlib import Path

from bindbot.build.sources import library_sources, upstream_list

FILES = [
    "tensorflow/lite/micro/micro_interpreter.cc",
    "tensorflow/lite/micro/micro_interpreter_test.cc",
    "tensorflow/lite/micro/test_helpers.cc",
    "tensorflow/lite/micro/fake_micro_context.cc",
    "tensorflow/lite/micro/arena_allocator/single_arena_buffer_allocator.cc",
    "tensorflow/lite/micro/memory_planner/greedy_memory_planner.cc",
    "tensorflow/lite/micro/tflite_bridge/micro_error_reporter.cc",
    "tensorflow/lite/micro/kernels/conv.cc",
    "tensorflow/lite/micro/kernels/conv_test_common.cc",
    "tensorflow/lite/micro/kernels/kernel_runner.cc",
    "tensorflow/lite/micro/kernels/cmsis_nn/conv.cc",
    "tensorflow/lite/micro/examples/hello_world/main.cc",
    "tensorflow/lite/micro/tools/gen.cc",
    "tensorflow/lite/core/c/common.cc",
    "tensorflow/lite/array.cc",
    "tensorflow/lite/experimental/x.cc",
    "tensorflow/compiler/mlir/lite/schema/schema_utils.cc",
    "tensorflow/lite/kernels/internal/quantization_util.cc",
    "tensorflow/lite/kernels/internal/foo_test.cc",
    "tensorflow/lite/micro/kernels/x_flexbuffers_generated_data.cc",
    "signal/micro/kernels/window.cc",
    "signal/src/window.cc",
    "signal/src/kiss_fft_wrappers/kiss_fft_float.cc",
    "signal/src/kiss_fft_wrappers/kiss_fft.c",
    "third_party/kissfft/kiss_fft.c",
]


def _tree(tmp_path: Path, files: list[str]) -> Path:
    for rel in files:
        path = tmp_path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("")
    return tmp_path


def test_rules(tmp_path: Path) -> None:
    tree = _tree(tmp_path, FILES)
    got = set(library_sources(tree).all())
    assert got == {
        "tensorflow/lite/micro/micro_interpreter.cc",
        "tensorflow/lite/micro/arena_allocator/single_arena_buffer_allocator.cc",
        "tensorflow/lite/micro/memory_planner/greedy_memory_planner.cc",
        "tensorflow/lite/micro/tflite_bridge/micro_error_reporter.cc",
        "tensorflow/lite/micro/kernels/conv.cc",
        "tensorflow/lite/core/c/common.cc",
        "tensorflow/compiler/mlir/lite/schema/schema_utils.cc",
        "tensorflow/lite/kernels/internal/quantization_util.cc",
        "signal/micro/kernels/window.cc",
        "signal/src/window.cc",
        "signal/src/kiss_fft_wrappers/kiss_fft_float.cc",
    }
    # upstream's own list still has its test helpers; ours drops them.
    assert "tensorflow/lite/micro/test_helpers.cc" in upstream_list(tree)
    assert library_sources(tree).is_kernel("signal/src/window.cc")
    assert not library_sources(tree).is_kernel("tensorflow/lite/micro/micro_interpreter.cc")


def test_tree_without_signal(tmp_path: Path) -> None:
    tree = _tree(tmp_path, [f for f in FILES if not f.startswith("signal/")])
    assert not [f for f in library_sources(tree).all() if f.startswith("signal/")]


def test_kernels_come_from_the_makefile_lists_where_the_tree_has_them(tmp_path: Path) -> None:
    """In 2021 the kernels folder held files the Makefile did not compile (they needed
    TFLite's optimized ops); the lists, not the folder, say what the library is."""
    tree = _tree(tmp_path, [*FILES, "tensorflow/lite/micro/kernels/depth_to_space.cc"])
    make = tree / "tensorflow/lite/micro/tools/make"
    make.mkdir(parents=True)
    (make / "Makefile").write_text(
        "MICROLITE_CC_KERNEL_SRCS := \\\n"
        "tensorflow/lite/micro/kernels/conv.cc \\\n"
        "tensorflow/lite/micro/kernels/kernel_runner.cc\n"
        "MICROLITE_CC_KERNEL_SRCS += $(MICROLITE_CC_SIGNAL_KERNEL_SRCS)\n"
    )
    (make / "sources.inc").write_text(
        "MICROLITE_CC_SIGNAL_KERNEL_SRCS := \\\n"
        "$(TENSORFLOW_ROOT)signal/micro/kernels/window.cc \\\n"
        "$(TENSORFLOW_ROOT)signal/src/window.cc\n"
    )
    (make / "additional_kernels.inc").write_text(
        "MICROLITE_CC_KERNEL_SRCS += \\\n"
        "$(TENSORFLOW_ROOT)signal/src/kiss_fft_wrappers/kiss_fft_float.cc\n"
    )
    got = set(library_sources(tree).all())
    assert "tensorflow/lite/micro/kernels/depth_to_space.cc" not in got
    assert {
        "tensorflow/lite/micro/kernels/conv.cc",
        "signal/micro/kernels/window.cc",
        "signal/src/window.cc",
        "signal/src/kiss_fft_wrappers/kiss_fft_float.cc",
        "tensorflow/lite/micro/micro_interpreter.cc",
    } <= got
    # A kernel the list names but the tree lacks is not invented.
    (make / "Makefile").write_text(
        "MICROLITE_CC_KERNEL_SRCS := \\\ntensorflow/lite/micro/kernels/gone.cc\n"
    )
    assert not any("gone" in f for f in library_sources(tree).all())
