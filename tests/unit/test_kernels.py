"""The per-op file split on small hand-made trees."""

import random
from pathlib import Path

import pytest

from bindbot.build.kernels import (
    RESOLVER_HEADER,
    feature_name,
    method_registrations,
    op_files,
    registration_definitions,
)

K = "tensorflow/lite/micro/kernels"

HEADER = """
namespace tflite {
TFLMRegistration* Register_DETECTION_POSTPROCESS();  // a declaration, not a method
template <unsigned int tOpCount>
class MicroMutableOpResolver : public MicroOpResolver {
 public:
  TfLiteStatus AddCustom(const char* name, const TFLMRegistration* registration) {
    return kTfLiteOk;
  }
  // The default-argument form.
  TfLiteStatus AddConv2D(
      const TFLMRegistration& registration = Register_CONV_2D()) {
    return AddBuiltin(BuiltinOperator_CONV_2D, registration, ParseConv2D);
  }
  TfLiteStatus AddDepthwiseConv2D(
      const TFLMRegistration& registration = Register_DEPTHWISE_CONV_2D()) {
    return AddBuiltin(BuiltinOperator_DEPTHWISE_CONV_2D, registration, ParseDw);
  }
  // The body form (older upstreams), qualified or not.
  TfLiteStatus AddEqual() {
    return AddBuiltin(BuiltinOperator_EQUAL, tflite::Register_EQUAL(), ParseEqual);
  }
  TfLiteStatus AddLess() {
    return AddBuiltin(BuiltinOperator_LESS, Register_LESS(), ParseLess);
  }
  TfLiteStatus AddAbs() {
    return AddBuiltin(BuiltinOperator_ABS, tflite::ops::micro::Register_ABS(), ParseAbs);
  }
  TfLiteStatus AddWindow() {
    // Not Register_IN_A_COMMENT(): comments do not count.
    return AddCustom("SignalWindow", tflite::tflm_signal::Register_WINDOW());
  }
  TfLiteStatus AddRfft(const TFLMRegistration* registration =
                           tflite::tflm_signal::Register_RFFT()) {
    return AddCustom("SignalRfft", registration);
  }
  TfLiteStatus AddMissing() {
    return AddBuiltin(BuiltinOperator_X, Register_NOWHERE(), ParseX);
  }

 private:
  TfLiteStatus AddBuiltin(tflite::BuiltinOperator op,
                          const TFLMRegistration& registration,
                          TfLiteBridgeBuiltinParseFunction parser) {
    return kTfLiteOk;
  }
};
}  // namespace tflite
"""

FILES = {
    RESOLVER_HEADER: HEADER,
    # Core: uses a kernel helper, so that helper is compiled always.
    "tensorflow/lite/micro/micro_interpreter.cc": """
#include "tensorflow/lite/micro/kernels/kernel_util.h"
namespace tflite {
void MicroInterpreter::Init() { tflite::micro::GetTensorShape(nullptr); }
}  // namespace tflite
""",
    f"{K}/kernel_util.h": """
namespace tflite { namespace micro {
RuntimeShape GetTensorShape(const TfLiteEvalTensor* tensor);
TFLMRegistration RegisterOp(void* init, void* prepare, void* invoke);
}  }
""",
    f"{K}/kernel_util.cc": """
#include "tensorflow/lite/micro/kernels/kernel_util.h"
namespace tflite {
namespace micro {
RuntimeShape GetTensorShape(const TfLiteEvalTensor* tensor) { return RuntimeShape(); }
TFLMRegistration RegisterOp(void* init, void* prepare, void* invoke) { return {}; }
}  // namespace micro
}  // namespace tflite
""",
    f"{K}/conv.h": """
#include "tensorflow/lite/micro/kernels/kernel_util.h"
namespace tflite {
extern const int kConvInputTensor;
TfLiteStatus ConvPrepare(TfLiteContext* context, TfLiteNode* node);
TFLMRegistration Register_CONV_2D();
// Inline, in a header: only a file calling it needs conv.cc.
inline TFLMRegistration Register_CONV_2D_INT8() { return Register_CONV_2D(); }
}  // namespace tflite
""",
    f"{K}/conv.cc": """
#include "tensorflow/lite/micro/kernels/conv.h"
namespace tflite {
namespace {
TfLiteStatus Prepare(TfLiteContext* context, TfLiteNode* node) {
  return ConvPrepare(context, node);
}
}  // namespace
TFLMRegistration Register_CONV_2D() {
  return tflite::micro::RegisterOp(nullptr, Prepare, nullptr);
}
}  // namespace tflite
""",
    # A helper: no registration; const with an extern declaration in sight is external.
    f"{K}/conv_common.cc": """
#include "tensorflow/lite/micro/kernels/conv.h"
namespace tflite {
const int kConvInputTensor = 0;
TfLiteStatus ConvPrepare(TfLiteContext* context, TfLiteNode* node) {
  return kTfLiteOk;
}
}  // namespace tflite
""",
    # Includes conv.h and uses kConvInputTensor (-> conv_common.cc), but never calls the
    # inline Register_CONV_2D_INT8, so conv.cc is not needed.
    f"{K}/depthwise_conv.cc": """
#include "tensorflow/lite/micro/kernels/conv.h"
namespace tflite {
namespace {
TfLiteStatus Prepare(TfLiteContext* context, TfLiteNode* node) {
  return GetInput(kConvInputTensor);
}
}  // namespace
TFLMRegistration Register_DEPTHWISE_CONV_2D() {
  return tflite::micro::RegisterOp(nullptr, Prepare, nullptr);
}
}  // namespace tflite
""",
    # Two ops in one file; a `const` without an extern declaration is internal.
    f"{K}/comparisons.cc": """
namespace tflite {
const int kInputTensor = 0;
static TfLiteStatus EvalHelper() { return kTfLiteOk; }
TFLMRegistration Register_EQUAL() { return {}; }
TFLMRegistration Register_LESS() { return {}; }
}  // namespace tflite
""",
    # Uses names the other files define only internally: no dependency.
    f"{K}/elementwise.cc": """
namespace tflite {
namespace {
constexpr int kOutputTensor = 0;
TfLiteStatus Prepare(TfLiteContext* context, TfLiteNode* node) { return kTfLiteOk; }
}  // namespace
TFLMRegistration Register_ABS() {
  EvalHelper();
  return GetTensor(kInputTensor, kOutputTensor);
}
}  // namespace tflite
""",
    # Registrations no method names: compiled always (nothing could enable it).
    f"{K}/orphan.cc": """
namespace tflite {
TFLMRegistration* Register_ORPHAN() { return nullptr; }
}  // namespace tflite
""",
    # A helper nobody seems to use: compiled always (safe default).
    f"{K}/lonely_common.cc": """
namespace tflite {
int LonelyHelper(int x) { return x; }
}  // namespace tflite
""",
    # Two CircularBufferInit in different namespaces: the qualified use picks one.
    f"{K}/circular_buffer.cc": """
namespace tflite {
void* CircularBufferInit(TfLiteContext* context, const char* buffer, size_t length) {
  return nullptr;
}
}  // namespace tflite
""",
    "signal/micro/kernels/window.cc": """
namespace tflite {
namespace tflm_signal {
TFLMRegistration* Register_WINDOW() {
  tflm_signal::CircularBufferInit(3);
  ApplyWindow(nullptr);
  return nullptr;
}
}  // namespace tflm_signal
}  // namespace tflite
""",
    "signal/src/window.cc": """
namespace tflite {
namespace tflm_signal {
void ApplyWindow(const int16_t* input) {}
}  // namespace tflm_signal
}  // namespace tflite
""",
    "signal/src/circular_buffer.cc": """
namespace tflite {
namespace tflm_signal {
CircularBuffer* CircularBufferInit(size_t capacity) { return nullptr; }
}  // namespace tflm_signal
}  // namespace tflite
""",
    # The kiss_fft idiom: a source included inside a namespace, reached by that name.
    "signal/micro/kernels/rfft.cc": """
namespace tflite {
namespace tflm_signal {
TFLMRegistration* Register_RFFT() { RfftInt16Init(); return nullptr; }
TFLMRegistration* Register_RFFT_INT16() { return nullptr; }
}  // namespace tflm_signal
}  // namespace tflite
""",
    "signal/src/rfft_int16.cc": """
#include "signal/src/kiss_fft_wrappers/kiss_fft_int16.h"
namespace tflm_signal {
void RfftInt16Init() { kiss_fft_fixed16::kiss_fftr_alloc(1, 0, nullptr, nullptr); }
}  // namespace tflm_signal
""",
    "signal/src/kiss_fft_wrappers/kiss_fft_int16.h": """
namespace kiss_fft_fixed16 {
#include "kiss_fft.h"
}  // namespace kiss_fft_fixed16
""",
    "signal/src/kiss_fft_wrappers/kiss_fft_int16.cc": """
#include "signal/src/kiss_fft_wrappers/kiss_fft_int16.h"
#define FIXED_POINT 16
namespace kiss_fft_fixed16 {
#include "kiss_fft.c"
}  // namespace kiss_fft_fixed16
""",
}

METHODS = [
    "AddAbs",
    "AddConv2D",
    "AddCustom",
    "AddDepthwiseConv2D",
    "AddEqual",
    "AddLess",
    "AddMissing",
    "AddRfft",
    "AddWindow",
]


def _tree(root: Path, files: dict[str, str]) -> tuple[Path, list[str]]:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    sources = sorted(f for f in files if f.endswith((".cc", ".c")))
    return root, sources


@pytest.fixture
def split(tmp_path):
    tree, sources = _tree(tmp_path, FILES)
    return op_files(tree, sources, METHODS)


def test_method_registrations_reads_both_forms_and_ignores_comments():
    found = method_registrations(HEADER)
    assert found["AddConv2D"] == ("Register_CONV_2D",)
    assert found["AddEqual"] == ("Register_EQUAL",)
    assert found["AddLess"] == ("Register_LESS",)
    assert found["AddAbs"] == ("Register_ABS",)  # tflite::ops::micro:: qualified
    assert found["AddWindow"] == ("Register_WINDOW",)
    assert found["AddRfft"] == ("Register_RFFT",)
    assert found["AddCustom"] == ()
    assert found["AddBuiltin"] == ()
    assert "Register_IN_A_COMMENT" not in str(found)
    assert "Register_DETECTION_POSTPROCESS" not in str(found)


def test_registration_definitions_only_definitions():
    text = """
TFLMRegistration Register_A();
TFLMRegistration Register_B() { return {}; }
TFLMRegistration* Register_C() {
TfLiteRegistration* Register_OLD() {
TFLMRegistration tflite::Register_Q() {
// TFLMRegistration Register_COMMENT() {
"""
    expected = {"Register_B", "Register_C", "Register_OLD", "Register_Q"}
    assert registration_definitions(text) == expected


def test_ops_get_their_files_and_helpers(split):
    assert split.ops["AddConv2D"] == (f"{K}/conv.cc", f"{K}/conv_common.cc")
    # conv.h's inline Register_CONV_2D_INT8 is never called here: no conv.cc.
    assert split.ops["AddDepthwiseConv2D"] == (f"{K}/conv_common.cc", f"{K}/depthwise_conv.cc")
    # One file for two ops; internal names elsewhere (kInputTensor, EvalHelper) link nothing.
    assert split.ops["AddEqual"] == (f"{K}/comparisons.cc",)
    assert split.ops["AddLess"] == (f"{K}/comparisons.cc",)
    assert split.ops["AddAbs"] == (f"{K}/elementwise.cc",)
    # The qualified tflm_signal::CircularBufferInit is the signal one, not tflite's.
    assert split.ops["AddWindow"] == (
        "signal/micro/kernels/window.cc",
        "signal/src/circular_buffer.cc",
        "signal/src/window.cc",
    )
    assert split.ops["AddRfft"] == (
        "signal/micro/kernels/rfft.cc",
        "signal/src/kiss_fft_wrappers/kiss_fft_int16.cc",
        "signal/src/rfft_int16.cc",
    )
    assert split.ops["AddCustom"] == ()
    assert split.ops["AddMissing"] == ()


def test_always_compiled_holds_core_orphans_and_unused_helpers(split):
    assert split.always == (
        f"{K}/circular_buffer.cc",  # defines no registration, and no op reaches it
        f"{K}/kernel_util.cc",  # the core uses it
        f"{K}/lonely_common.cc",
        f"{K}/orphan.cc",
        "tensorflow/lite/micro/micro_interpreter.cc",
    )
    assert split.unmapped == ("Register_ORPHAN", "Register_RFFT_INT16")
    assert split.undefined == ("Register_NOWHERE",)
    assert split.registrations["AddAbs"] == ("Register_ABS",)


def test_files_is_always_plus_enabled_ops(split):
    files = split.files(["AddEqual", "AddLess"])
    assert files == tuple(sorted((*split.always, f"{K}/comparisons.cc")))
    assert split.files([]) == split.always
    gated = set(split.gated())
    assert not gated & set(split.always)
    assert gated | set(split.always) == {f for f in FILES if f.endswith((".cc", ".c"))}


def test_a_core_file_calling_an_add_method_needs_its_kernel(tmp_path):
    files = dict(FILES)
    files["tensorflow/lite/micro/all_ops_resolver.cc"] = """
#include "tensorflow/lite/micro/micro_mutable_op_resolver.h"
namespace tflite {
AllOpsResolver::AllOpsResolver() { AddConv2D(); }
}  // namespace tflite
"""
    tree, sources = _tree(tmp_path, files)
    split = op_files(tree, sources, METHODS)
    assert f"{K}/conv.cc" in split.always
    assert f"{K}/conv_common.cc" in split.always
    assert split.ops["AddConv2D"] == ()
    # Including the resolver header alone pulls nothing: its methods are templates.
    assert f"{K}/comparisons.cc" not in split.always


def test_calling_a_header_inline_function_pulls_what_it_calls(tmp_path):
    files = dict(FILES)
    files[f"{K}/depthwise_conv.cc"] = files[f"{K}/depthwise_conv.cc"].replace(
        "return GetInput(kConvInputTensor);", "Register_CONV_2D_INT8(); return kTfLiteOk;"
    )
    tree, sources = _tree(tmp_path, files)
    split = op_files(tree, sources, METHODS)
    assert f"{K}/conv.cc" in split.ops["AddDepthwiseConv2D"]


def test_result_does_not_depend_on_input_order(tmp_path):
    tree, sources = _tree(tmp_path, FILES)
    first = op_files(tree, sources, METHODS)
    shuffled = list(sources)
    random.Random(7).shuffle(shuffled)
    methods = list(reversed(METHODS))
    second = op_files(tree, shuffled, methods)
    assert first == second
    assert list(second.ops) == sorted(METHODS)


@pytest.mark.parametrize(
    ("method", "feature"),
    [
        ("AddFullyConnected", "op-fully-connected"),
        ("AddConv2D", "op-conv-2d"),
        ("AddDepthwiseConv2D", "op-depthwise-conv-2d"),
        ("AddPCAN", "op-pcan"),
        ("AddL2Pool2D", "op-l2-pool-2d"),
        ("AddRelu6", "op-relu-6"),
        ("AddUnidirectionalSequenceLSTM", "op-unidirectional-sequence-lstm"),
    ],
)
def test_feature_name(method, feature):
    assert feature_name(method) == feature
