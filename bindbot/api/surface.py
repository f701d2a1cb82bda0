"""Which upstream headers and names make up the public API bindbot models.

Kept apart from the extractor so that the report, the generator and the tests share one
definition of "the API", and so a new public header is a one-line change.
"""

from __future__ import annotations

#: Headers whose declarations are the API, when they exist at a commit. Headers that moved
#: keep both paths here: the old one usually survives as a forwarding header.
API_HEADERS: tuple[str, ...] = (
    "tensorflow/lite/c/c_api_types.h",
    "tensorflow/lite/c/common.h",
    "tensorflow/lite/core/api/error_reporter.h",
    "tensorflow/lite/core/c/c_api_types.h",
    "tensorflow/lite/core/c/common.h",
    "tensorflow/lite/micro/all_ops_resolver.h",
    "tensorflow/lite/micro/arena_allocator/simple_memory_allocator.h",
    "tensorflow/lite/micro/simple_memory_allocator.h",
    "tensorflow/lite/micro/arena_allocator/single_arena_buffer_allocator.h",
    "tensorflow/lite/micro/debug_log.h",
    # The shim's model checks call BytesRequiredForTensor and TfLiteTypeSizeOf from here:
    # what the generated code calls must be in the model, so a signature change is seen.
    "tensorflow/lite/micro/memory_helpers.h",
    "tensorflow/lite/micro/memory_planner/greedy_memory_planner.h",
    "tensorflow/lite/micro/micro_allocator.h",
    "tensorflow/lite/micro/micro_common.h",
    "tensorflow/lite/micro/micro_context.h",
    "tensorflow/lite/micro/micro_error_reporter.h",
    "tensorflow/lite/micro/micro_interpreter.h",
    "tensorflow/lite/micro/micro_interpreter_context.h",
    "tensorflow/lite/micro/micro_interpreter_graph.h",
    "tensorflow/lite/micro/micro_log.h",
    "tensorflow/lite/micro/micro_mutable_op_resolver.h",
    "tensorflow/lite/micro/micro_op_resolver.h",
    "tensorflow/lite/micro/micro_profiler.h",
    "tensorflow/lite/micro/micro_profiler_interface.h",
    "tensorflow/lite/micro/micro_resource_variable.h",
    "tensorflow/lite/micro/profiling/micro_profiler.h",
    "tensorflow/lite/micro/system_setup.h",
    "tensorflow/lite/schema/schema_generated.h",
)

#: schema_generated.h declares hundreds of flatbuffer tables; only these are API.
SCHEMA_HEADER = "tensorflow/lite/schema/schema_generated.h"
SCHEMA_NAMES: frozenset[str] = frozenset(
    {
        "tflite::BuiltinOperator",
        "tflite::GetModel",
        "tflite::Model",
        "tflite::ModelBufferHasIdentifier",
        "tflite::ModelIdentifier",
        "tflite::VerifyModelBuffer",
    }
)

#: Namespaces that hold implementation details, never API.
PRIVATE_NAMESPACE_PARTS: frozenset[str] = frozenset({"internal", "detail", "std", "flatbuffers"})


def is_c_api_header(path: str) -> bool:
    """TFLM's C API lives in folders named `c` (lite/c, lite/core/c, compiler/mlir/lite/core/c)."""
    parts = path.split("/")
    return len(parts) >= 2 and parts[-2] == "c" and path.endswith(".h")


def is_header(path: str) -> bool:
    """Files an export for parsing needs: headers and textual includes under the source roots."""
    return path.endswith((".h", ".hpp", ".inc")) and path.startswith(
        ("tensorflow/", "signal/", "third_party/")
    )


#: Upstream's own migration paths: when the key disappears, the first candidate that the
#: new API declares is what replaced it. TFLM has declared MicroPrintf both globally and
#: in namespace tflite, so both spellings are candidates.
REPLACEMENTS: dict[str, tuple[str, ...]] = {
    "tflite::AllOpsResolver": ("tflite::MicroMutableOpResolver",),
    "tflite::MicroErrorReporter": ("MicroPrintf", "tflite::MicroPrintf"),
    "tflite::GetMicroErrorReporter": ("MicroPrintf", "tflite::MicroPrintf"),
    "tflite::ErrorReporter": ("MicroPrintf", "tflite::MicroPrintf"),
    "Log": ("VMicroPrintf", "tflite::VMicroPrintf"),
}
