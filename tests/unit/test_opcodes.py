"""Resolver method -> operator code, on small hand-written headers in each upstream style."""

from __future__ import annotations

import os

import pytest

from bindbot.build.opcodes import OpCode, builtin_values, method_opcodes

RESOLVER_HEADER = "tensorflow/lite/micro/micro_mutable_op_resolver.h"


def builtin(name: str) -> OpCode:
    return OpCode("builtin", name)


def custom(name: str) -> OpCode:
    return OpCode("custom", name)


def resolver(methods: str) -> str:
    """A resolver class around `methods`, with the two primitives it calls."""
    return f"""
namespace tflite {{
TFLMRegistration* Register_DETECTION_POSTPROCESS();
template <unsigned int tOpCount>
class MicroMutableOpResolver : public MicroOpResolver {{
 public:
  TfLiteStatus AddCustom(const char* name, const TFLMRegistration* registration) {{
    if (FindOp(name) != nullptr) {{
      MicroPrintf("Calling AddCustom for the same op more than once ");
      return kTfLiteError;
    }}
    return kTfLiteOk;
  }}
{methods}
  unsigned int GetRegistrationLength() {{ return registrations_len_; }}

 private:
  TfLiteStatus AddBuiltin(tflite::BuiltinOperator op,
                          const TFLMRegistration& registration,
                          TfLiteBridgeBuiltinParseFunction parser) {{
    if (op == BuiltinOperator_CUSTOM) {{
      MicroPrintf("Invalid parameter BuiltinOperator_CUSTOM to the ");
      return kTfLiteError;
    }}
    return kTfLiteOk;
  }}
}};
}}  // namespace tflite
"""


# Today's form: a defaulted registration parameter, the code in the body.
CURRENT = """
  TfLiteStatus AddConv2D(
      const TFLMRegistration& registration = Register_CONV_2D()) {
    return AddBuiltin(BuiltinOperator_CONV_2D, registration, ParseConv2D);
  }
  TfLiteStatus AddAssignVariable(const TFLMRegistration& registration =
                                     tflite::Register_ASSIGN_VARIABLE()) {
    return AddBuiltin(BuiltinOperator_ASSIGN_VARIABLE, registration,
                      ParseAssignVariable);
  }
  TfLiteStatus AddResizeNearestNeighbor() {
    return AddBuiltin(BuiltinOperator_RESIZE_NEAREST_NEIGHBOR,
                      Register_RESIZE_NEAREST_NEIGHBOR(),
                      ParseResizeNearestNeighbor);
  }
  TfLiteStatus AddDelay() {
    // TODO(b/286250473): change back name to "Delay" and remove namespace
    return AddCustom("SignalDelay", tflite::tflm_signal::Register_DELAY());
  }
  TfLiteStatus AddDetectionPostprocess() {
    return AddCustom("TFLite_Detection_PostProcess",
                     tflite::Register_DETECTION_POSTPROCESS());
  }
  TfLiteStatus AddDecode() {
    const TFLMRegistration& registration = tflite::Register_DECODE();
    return AddCustom("TFLM_DECODE", &registration);
  }
  TfLiteStatus AddRfft(const TFLMRegistration* registration =
                           tflite::tflm_signal::Register_RFFT()) {
    return AddCustom("SignalRfft", registration);
  }
  TfLiteStatus AddEthosU() {
    TFLMRegistration* registration = tflite::Register_ETHOSU();
    if (registration) {
      return AddCustom(tflite::GetString_ETHOSU(), registration);
    }
    return kTfLiteOk;
  }
"""

# 2021-2022 forms: the registration called in the body, qualified or not, through a
# local variable, or all on one line; an `ErrorReporter` and `TfLiteRegistration`.
OLD = """
  TfLiteStatus AddAbs() {
    return AddBuiltin(BuiltinOperator_ABS, tflite::ops::micro::Register_ABS(),
                      ParseAbs);
  }
  TfLiteStatus AddArgMax() {
    return AddBuiltin(BuiltinOperator_ARG_MAX,
                      tflite::ops::micro::Register_ARG_MAX(), ParseArgMax);
  }
  TfLiteStatus AddConv2D() {
    TfLiteRegistration registration = tflite::Register_CONV_2D();
    return AddBuiltin(BuiltinOperator_CONV_2D, registration, ParseConv2D);
  }
  TfLiteStatus AddCast() { return AddBuiltin(BuiltinOperator_CAST, Register_CAST(), ParseCast); }
  TfLiteStatus AddQuantize() {
    return AddBuiltin(tflite::BuiltinOperator_QUANTIZE, Register_QUANTIZE(),
                      ParseQuantize);
  }
  TfLiteStatus AddCircularBuffer() {
    return AddCustom("CIRCULAR_BUFFER",
                     tflite::ops::micro::Register_CIRCULAR_BUFFER());
  }
"""


def test_current_form() -> None:
    assert method_opcodes(resolver(CURRENT)) == {
        "AddAssignVariable": builtin("ASSIGN_VARIABLE"),
        "AddConv2D": builtin("CONV_2D"),
        "AddDecode": custom("TFLM_DECODE"),
        "AddDelay": custom("SignalDelay"),
        "AddDetectionPostprocess": custom("TFLite_Detection_PostProcess"),
        "AddResizeNearestNeighbor": builtin("RESIZE_NEAREST_NEIGHBOR"),
        "AddRfft": custom("SignalRfft"),
    }


def test_old_forms() -> None:
    assert method_opcodes(resolver(OLD)) == {
        "AddAbs": builtin("ABS"),
        "AddArgMax": builtin("ARG_MAX"),
        "AddCast": builtin("CAST"),
        "AddCircularBuffer": custom("CIRCULAR_BUFFER"),
        "AddConv2D": builtin("CONV_2D"),
        "AddQuantize": builtin("QUANTIZE"),
    }


def test_primitives_and_computed_names_are_left_out() -> None:
    mapped = method_opcodes(resolver(CURRENT))
    assert "AddBuiltin" not in mapped
    assert "AddCustom" not in mapped
    assert "AddEthosU" not in mapped


def test_sorted_by_method() -> None:
    mapped = method_opcodes(resolver(CURRENT + OLD.replace("AddConv2D", "AddConv")))
    assert list(mapped) == sorted(mapped)


def test_required_parameters_still_map() -> None:
    header = resolver(
        """
  TfLiteStatus AddMul(const TFLMRegistration& registration) {
    return AddBuiltin(BuiltinOperator_MUL, registration, ParseMul);
  }
  TfLiteStatus AddWindow(const TFLMRegistration* registration, int unused = 0) {
    return AddCustom("SignalWindow", registration);
  }
"""
    )
    assert method_opcodes(header) == {
        "AddMul": builtin("MUL"),
        "AddWindow": custom("SignalWindow"),
    }


def test_comments_do_not_count() -> None:
    header = resolver(
        """
  TfLiteStatus AddAdd(
      // const TFLMRegistration& registration = Register_SUB()) {
      const TFLMRegistration& registration = Register_ADD()) {
    // return AddBuiltin(BuiltinOperator_SUB, registration, ParseSub); }
    /* AddCustom("NotThis", registration); } {
       AddBuiltin(BuiltinOperator_MUL, registration, ParseMul); */
    return AddBuiltin(/* the op */ BuiltinOperator_ADD, // its code
                      registration, ParseAdd);
  }
  // TfLiteStatus AddGhost() { return AddBuiltin(BuiltinOperator_GHOST, r, p); }
  /* TfLiteStatus AddPhantom() {
    return AddCustom("Phantom", r);
  } */
  TfLiteStatus AddSub() {  // } closes nothing
    return AddBuiltin(BuiltinOperator_SUB, Register_SUB(), ParseSub);
  }
"""
    )
    assert method_opcodes(header) == {"AddAdd": builtin("ADD"), "AddSub": builtin("SUB")}


def test_literals_with_braces_do_not_break_bodies() -> None:
    header = resolver(
        """
  TfLiteStatus AddFramer() {
    MicroPrintf("} not the end { nor a body ) (");
    const char brace = '}';
    return AddCustom("SignalFramer", tflite::tflm_signal::Register_FRAMER());
  }
  TfLiteStatus AddStacker() {
    MicroPrintf("AddBuiltin(BuiltinOperator_MUL, r, p); }");
    return AddCustom("SignalStacker", tflite::tflm_signal::Register_STACKER());
  }
  TfLiteStatus AddFloor() {
    return AddBuiltin(BuiltinOperator_FLOOR, Register_FLOOR(), ParseFloor);
  }
"""
    )
    assert method_opcodes(header) == {
        "AddFloor": builtin("FLOOR"),
        "AddFramer": custom("SignalFramer"),
        "AddStacker": custom("SignalStacker"),
    }


def test_unclear_bodies_are_left_out() -> None:
    header = resolver(
        """
  TfLiteStatus AddVendor() { return AddCustom(kVendorName, Register_VENDOR()); }
  TfLiteStatus AddPrefixed() { return AddCustom(u8"Named", Register_NAMED()); }
  TfLiteStatus AddEscaped() { return AddCustom("Tab\\there", Register_TAB()); }
  TfLiteStatus AddComputed() { return AddBuiltin(op_, Register_X(), ParseX); }
  TfLiteStatus AddEither() {
    if (kSmall) return AddBuiltin(BuiltinOperator_ADD, Register_ADD(), ParseAdd);
    return AddBuiltin(BuiltinOperator_SUB, Register_SUB(), ParseSub);
  }
  TfLiteStatus AddHalfKnown() {
    if (kVendor) return AddCustom(kVendorName, Register_VENDOR());
    return AddCustom("Known", Register_VENDOR());
  }
  TfLiteStatus AddNothing() { return kTfLiteOk; }
  TfLiteStatus AddDeclared();
  TfLiteStatus AddTwice() {
    AddBuiltin(BuiltinOperator_TANH, Register_TANH(), ParseTanh);
    return AddBuiltin(BuiltinOperator_TANH, Register_TANH(), ParseTanh);
  }
"""
    )
    # Only the body naming one code, however often, maps.
    assert method_opcodes(header) == {"AddTwice": builtin("TANH")}


def test_concatenated_literal_is_one_name() -> None:
    header = resolver(
        """
  TfLiteStatus AddLong() {
    return AddCustom("Signal"
                     "Long", Register_LONG());
  }
"""
    )
    assert method_opcodes(header) == {"AddLong": custom("SignalLong")}


def test_overloads_must_agree() -> None:
    header = resolver(
        """
  TfLiteStatus AddSame() { return AddBuiltin(BuiltinOperator_EXP, Register_EXP(), ParseExp); }
  TfLiteStatus AddSame(const TFLMRegistration& r) {
    return AddBuiltin(BuiltinOperator_EXP, r, ParseExp);
  }
  TfLiteStatus AddSplit() { return AddBuiltin(BuiltinOperator_SIN, Register_SIN(), P); }
  TfLiteStatus AddSplit(int) { return AddBuiltin(BuiltinOperator_COS, Register_COS(), P); }
"""
    )
    assert method_opcodes(header) == {"AddSame": builtin("EXP")}


def test_empty_header() -> None:
    assert method_opcodes("") == {}


def test_builtin_values() -> None:
    values = builtin_values(
        [
            ("BuiltinOperator_CONV_2D", 3),
            ("BuiltinOperator_ADD", 0),
            ("BuiltinOperator_AVERAGE_POOL_2D", 1),
            ("BuiltinOperator_MIN", 0),
            ("BuiltinOperator_MAX", 3),
            ("BuiltinOperator_CONCATENATION", 2),
        ]
    )
    assert values == {"ADD": 0, "AVERAGE_POOL_2D": 1, "CONCATENATION": 2, "CONV_2D": 3}
    assert list(values) == ["ADD", "AVERAGE_POOL_2D", "CONCATENATION", "CONV_2D"]


def test_builtin_values_rejects_other_enums() -> None:
    assert builtin_values([]) == {}
    with pytest.raises(ValueError, match="not a BuiltinOperator"):
        builtin_values([("TensorType_FLOAT32", 0)])
    with pytest.raises(ValueError, match="two values"):
        builtin_values([("BuiltinOperator_ADD", 0), ("BuiltinOperator_ADD", 1)])


def _upstream_header() -> str:
    """The resolver header at HEAD of the repository BINDBOT_UPSTREAM names; skips the
    test unless that is a local git repository."""
    path = os.environ.get("BINDBOT_UPSTREAM", "")
    if not path or not os.path.isdir(path):
        pytest.skip("BINDBOT_UPSTREAM does not name a local git repository")
    pygit2 = pytest.importorskip("pygit2")
    try:
        repo = pygit2.Repository(path)
    except pygit2.GitError:
        pytest.skip(f"BINDBOT_UPSTREAM={path} is not a git repository")
    obj = repo.revparse_single("HEAD").peel(pygit2.Tree)
    for part in RESOLVER_HEADER.split("/"):
        obj = repo[obj[part].id]
    data: bytes = obj.data
    return data.decode("utf-8", errors="replace")


def test_upstream_head() -> None:
    mapped = method_opcodes(_upstream_header())
    assert mapped["AddConv2D"] == builtin("CONV_2D")
    assert mapped["AddFullyConnected"] == builtin("FULLY_CONNECTED")
    assert mapped["AddDetectionPostprocess"] == custom("TFLite_Detection_PostProcess")
    assert "AddEthosU" not in mapped
    assert len(mapped) >= 100
    # No two methods register the same operator.
    assert len(set(mapped.values())) == len(mapped)
