"""compare + classify on small hand-built models: each rule, without libclang."""

from __future__ import annotations

from bindbot.api.model import (
    ApiModel,
    ConstantEntity,
    EnumEntity,
    EnumValue,
    FieldDecl,
    Function,
    FunctionEntity,
    Header,
    Param,
    RecordEntity,
)
from bindbot.api.rust_names import binding_for, enum_variant, snake
from bindbot.diff.classify import diff_models, has_shim_constructor, suggest_semver
from bindbot.diff.compare import compare

H = "tensorflow/lite/micro/micro_interpreter.h"
C = "tensorflow/lite/c/common.h"


def p(name: str, type_: str, default: str | None = None) -> Param:
    return Param(name, type_, type_, default)


CTOR_ARGS = (
    p("model", "const tflite::Model *"),
    p("op_resolver", "const tflite::MicroOpResolver &"),
    p("tensor_arena", "unsigned char *"),
    p("tensor_arena_size", "unsigned long"),
)


def interp(
    *, ctor_extra: tuple[Param, ...] = (), methods: tuple[Function, ...] = ()
) -> RecordEntity:
    ctor = Function("MicroInterpreter", CTOR_ARGS + ctor_extra, "")
    return RecordEntity(
        "tflite::MicroInterpreter", H, "class", constructors=(ctor,), methods=methods
    )


def model(*entities: object, headers: tuple[Header, ...] = ()) -> ApiModel:
    return ApiModel.build(entities, headers)  # type: ignore[arg-type]


def codes(old: ApiModel, new: ApiModel) -> list[str]:
    return [c.code for c in compare(old, new)]


def test_identical_models_have_no_changes() -> None:
    a = model(interp())
    assert compare(a, a) == []
    assert a.digest() == model(interp()).digest()


def test_json_round_trip_is_lossless_and_stable() -> None:
    m = model(
        interp(methods=(Function("Invoke", (), "TfLiteStatus", ("virtual",)),)),
        EnumEntity("TfLiteType", C, "unsigned int", (EnumValue("kTfLiteInt8", 9),)),
        ConstantEntity("kTfLiteNullBufferHandle", C, "enum", "-1"),
        headers=(Header(H, (C,), True),),
    )
    again = ApiModel.from_json(m.to_json())
    assert again == m and again.to_json() == m.to_json()


def test_defaulted_parameter_is_compatible_required_is_breaking() -> None:
    old = model(interp())
    with_default = model(interp(ctor_extra=(p("profiler", "MicroProfiler *", "nullptr"),)))
    required = model(interp(ctor_extra=(p("flag", "bool"),)))
    [added] = diff_models(old, with_default)
    assert (added.code, added.level, added.crate_impact) == (
        "param_added_default",
        "additive",
        "none",
    )
    [req] = diff_models(old, required)
    assert (req.code, req.level) == ("param_added", "breaking")
    assert req.crate_impact == "breaking"  # the shim cannot call the constructor any more
    assert "generate" in req.fix


def test_method_renamed_removed_added() -> None:
    f = Function("inputs_size", (), "unsigned long", ("const",))
    g = Function("num_inputs", (), "unsigned long", ("const",))
    h = Function("arena_used_bytes", (), "unsigned long", ("const",))
    assert codes(model(interp(methods=(f,))), model(interp(methods=(g,)))) == ["method_renamed"]
    assert codes(model(interp(methods=(h,))), model(interp())) == ["method_removed"]
    [added] = diff_models(model(interp()), model(interp(methods=(h,))))
    assert added.rust_items[0] == "tflm::MicroInterpreter::arena_used_bytes"


def test_overloads_pair_by_signature_then_by_names() -> None:
    a = FunctionEntity(
        "tflite::GetModel",
        H,
        (Function("GetModel", (p("buf", "const void *"),), "const tflite::Model *"),),
    )
    b = FunctionEntity(
        "tflite::GetModel",
        H,
        (Function("GetModel", (p("buf", "const char *"),), "const tflite::Model *"),),
    )
    assert codes(model(a), model(b)) == ["param_type_changed"]


def test_enum_values_and_sentinels() -> None:
    def op_enum(*values: tuple[str, int]) -> EnumEntity:
        return EnumEntity(
            "tflite::BuiltinOperator", "s.h", "int", tuple(EnumValue(n, v) for n, v in values)
        )

    old = model(op_enum(("BuiltinOperator_ADD", 0), ("BuiltinOperator_MAX", 0)))
    new = model(
        op_enum(("BuiltinOperator_ADD", 0), ("BuiltinOperator_MUL", 1), ("BuiltinOperator_MAX", 1))
    )
    levels = {c.code: c.level for c in diff_models(old, new)}
    assert levels == {"enum_value_added": "additive", "enum_value_changed": "additive"}
    removed = diff_models(new, old)
    assert {c.code: c.level for c in removed}["enum_value_removed"] == "breaking"


def test_field_changes_and_layout() -> None:
    def quant(zero: str, offset: int = 32) -> RecordEntity:
        return RecordEntity(
            "TfLiteQuantizationParams",
            C,
            "struct",
            fields=(
                FieldDecl("scale", "float", "float", 0),
                FieldDecl("zero_point", zero, zero, offset),
            ),
            size=8,
        )

    [typed] = diff_models(model(quant("int32_t")), model(quant("int64_t")))
    assert (typed.code, typed.level) == ("field_type_changed", "breaking")
    assert "tflm::Quantization" in typed.rust_items


def test_move_with_and_without_forwarding_header() -> None:
    old_h, new_h = "tensorflow/lite/c/common.h", "tensorflow/lite/core/c/common.h"
    rec_old = RecordEntity("TfLiteTensor", old_h, "struct")
    rec_new = RecordEntity("TfLiteTensor", new_h, "struct")
    forwarding = (Header(old_h, (new_h,), True), Header(new_h, (), True))
    [moved] = diff_models(model(rec_old), model(rec_new, headers=forwarding))
    assert (moved.code, moved.group, moved.level) == ("moved_forwarding", "moved", "additive")
    [gone] = diff_models(model(rec_old), model(rec_new, headers=(Header(new_h, (), True),)))
    assert (gone.code, gone.level) == ("moved", "needs-review")


def test_semver_follows_crate_impact_not_cpp_level() -> None:
    old = model(interp(), RecordEntity("tflite::MicroAllocator", "a.h", "class"))
    new = model(interp())
    changes = diff_models(old, new)
    assert [c.level for c in changes] == ["breaking"]
    assert suggest_semver(changes).bump == "patch"  # the crate does not bind MicroAllocator


def test_shim_constructor_detection() -> None:
    assert has_shim_constructor(model(interp()))
    reporter = p("error_reporter", "tflite::ErrorReporter *")
    assert has_shim_constructor(model(interp(ctor_extra=(reporter,))))
    assert not has_shim_constructor(model(interp(ctor_extra=(p("x", "int"),))))
    assert not has_shim_constructor(model())


def test_rust_names() -> None:
    assert snake("AddDepthwiseConv2D") == "add_depthwise_conv_2d"
    assert snake("AddL2Normalization") == "add_l2_normalization"
    assert snake("AddUnidirectionalSequenceLSTM") == "add_unidirectional_sequence_lstm"
    assert enum_variant("kTfLiteInt8", "TfLiteType") == "Int8"
    assert enum_variant("BuiltinOperator_CONV_2D", "tflite::BuiltinOperator") == "Conv2d"
    resolver = binding_for("tflite::MicroMutableOpResolver", "AddConv2D", "method", "r.h")
    assert resolver is not None
    assert resolver.items == (
        "tflm::OpResolver::add_conv_2d",
        "tflm_sys::tflm_op_resolver_add_conv_2d",
    )
    assert binding_for("tflite::MicroAllocator", "Create", "method", "a.h") is None


def test_alias_retargeted_is_review_not_breaking() -> None:
    def pack(spelling: str, canonical: str) -> FunctionEntity:
        arg = Param("fbb", spelling, canonical)
        return FunctionEntity("tflite::Pack", "s.h", (Function("Pack", (arg,), "int"),))

    old = model(pack("flatbuffers::FlatBufferBuilder &", "flatbuffers::FlatBufferBuilder &"))
    new = model(
        pack("::flatbuffers::FlatBufferBuilder &", "flatbuffers::FlatBufferBuilderImpl<false> &")
    )
    [change] = diff_models(old, new)
    assert (change.code, change.level) == ("param_type_retargeted", "needs-review")
    other = model(pack("flatbuffers::Other &", "flatbuffers::Other &"))
    assert [c.code for c in diff_models(old, other)] == ["param_type_changed"]


def test_defaulted_parameter_retyped_leaves_the_shim_alone() -> None:
    def resolver(reg: str) -> RecordEntity:
        add = Function(
            "AddConv2D", (Param("registration", reg, reg, "Register_CONV_2D()"),), "TfLiteStatus"
        )
        return RecordEntity("tflite::MicroMutableOpResolver", "r.h", "class", methods=(add,))

    [change] = diff_models(
        model(resolver("const TfLiteRegistration &")), model(resolver("const TFLMRegistration &"))
    )
    assert (change.level, change.crate_impact) == ("breaking", "none")


def test_count_sentinels_are_not_breaking() -> None:
    def ctx(*values: tuple[str, int]) -> EnumEntity:
        return EnumEntity(
            "TfLiteExternalContextType",
            C,
            "unsigned int",
            tuple(EnumValue(n, v) for n, v in values),
        )

    old = model(ctx(("kTfLiteEigenContext", 0), ("kTfLiteMaxExternalContexts", 1)))
    new = model(
        ctx(
            ("kTfLiteEigenContext", 0),
            ("kTfLiteCpuBackendContext", 1),
            ("kTfLiteMaxExternalContexts", 2),
        )
    )
    assert {c.code: c.level for c in diff_models(old, new)} == {
        "enum_value_added": "additive",
        "enum_value_changed": "additive",
    }
