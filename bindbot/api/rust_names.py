"""The naming contract between the C++ API and the generated Rust crates.

The report names the Rust items a change touches, and the generator emits those same
items, so both read their names from here. `tflm-sys` holds the shim (`tflm_*` functions)
and bindgen's C types; `tflm` is the safe layer.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

SYS = "tflm_sys"
SAFE = "tflm"

#: MicroInterpreter methods the shim wraps, with the safe method that exposes each.
INTERPRETER_METHODS: dict[str, str] = {
    "AllocateTensors": "new",  # called inside MicroInterpreter::new
    "Invoke": "invoke",
    "Reset": "reset",
    "arena_used_bytes": "arena_used_bytes",
    "input": "input",
    "output": "output",
    "input_tensor": "input",
    "output_tensor": "output",
    "inputs_size": "inputs_len",
    "outputs_size": "outputs_len",
    "initialization_status": "new",
}

#: Methods the shim calls inside another shim function rather than one of their own.
INTERPRETER_SHIM_CALLS: dict[str, str] = {
    "initialization_status": "tflm_interpreter_new",  # checked while constructing
}

#: The constructor parameters the shim passes; every other one takes its C++ default.
INTERPRETER_CTOR_PARAMS = ("model", "op_resolver", "tensor_arena", "tensor_arena_size")

#: C types with a safe wrapper in `tflm` (besides bindgen's raw type in `tflm_sys`).
SAFE_TYPES: dict[str, str] = {
    "TfLiteTensor": "Tensor",
    "TfLiteType": "TensorType",
    "TfLiteStatus": "Error",
    "TfLiteQuantizationParams": "Quantization",
    "TfLiteIntArray": "Tensor::dims",
}

_SPLIT = re.compile(
    r"(?<=[a-z])(?=[A-Z])|(?<=[0-9])(?=[A-Z][a-z])|(?<=[A-Z])(?=[A-Z][a-z])|(?<=[a-z])(?=[0-9])"
)


def snake(name: str) -> str:
    """`AddDepthwiseConv2D` -> `add_depthwise_conv_2d`; `AddL2Pool2D` -> `add_l2_pool_2d`."""
    return _SPLIT.sub("_", name).lower()


def enum_variant(value: str, enum: str) -> str:
    """`kTfLiteInt8` -> `Int8`; `BuiltinOperator_CONV_2D` -> `Conv2d`."""
    short = enum.rsplit("::", 1)[-1]
    if value.startswith(short + "_"):
        return "".join(part.capitalize() for part in value[len(short) + 1 :].split("_"))
    for prefix in ("kTfLite", "k"):
        if value.startswith(prefix) and value[len(prefix) : len(prefix) + 1].isupper():
            return value[len(prefix) :]
    return value


#: Upstream functions the shim's model checks call (templates/shim/tflm_shim.cc.j2).
SHIM_MODEL_CHECK_CALLS: frozenset[str] = frozenset(
    {"tflite::BytesRequiredForTensor", "tflite::TfLiteTypeSizeOf"}
)


@dataclass(frozen=True)
class Binding:
    """The Rust items an API member maps to; `shim_only` means the safe API hides it."""

    items: tuple[str, ...]
    shim_only: bool = False


def binding_for(
    entity: str, member: str, member_kind: str, header: str, entity_kind: str = ""
) -> Binding | None:
    """The Rust items that expose `entity`/`member`, or None when the crate does not bind it."""
    short = entity.rsplit("::", 1)[-1]
    if entity == "tflite::MicroInterpreter":
        if member_kind == "constructor" or member == "":
            return Binding((f"{SAFE}::MicroInterpreter::new", f"{SYS}::tflm_interpreter_new"))
        safe = INTERPRETER_METHODS.get(member)
        if safe is None:
            return None
        shim = INTERPRETER_SHIM_CALLS.get(member, f"tflm_interpreter_{snake(member)}")
        return Binding((f"{SAFE}::MicroInterpreter::{safe}", f"{SYS}::{shim}"))
    if entity == "tflite::MicroMutableOpResolver":
        if member.startswith("Add") and member != "AddCustom":
            fn = snake(member)
            return Binding((f"{SAFE}::OpResolver::{fn}", f"{SYS}::tflm_op_resolver_{fn}"))
        if member_kind in ("constructor", ""):
            return Binding((f"{SAFE}::OpResolver::new", f"{SYS}::tflm_op_resolver_new"))
        return None
    if entity in SHIM_MODEL_CHECK_CALLS:
        # Called inside the shim's model checks: the safe API hides it, the shim must follow.
        return Binding((f"{SAFE}::Model::from_buffer", f"{SYS}::tflm_model_check"), shim_only=True)
    if entity in ("tflite::GetModel", "tflite::VerifyModelBuffer", "tflite::Model"):
        if entity == "tflite::Model" and member not in ("", "version", "subgraphs"):
            return None
        return Binding((f"{SAFE}::Model::from_buffer", f"{SYS}::tflm_model_check"))
    if short in SAFE_TYPES or entity in SAFE_TYPES:
        safe = SAFE_TYPES.get(entity) or SAFE_TYPES[short]
        if member and member_kind == "value":
            raw_value = f"{SYS}::{short}_{member}"  # bindgen prefixes enum constants
            variant = f"{SAFE}::{safe}::{enum_variant(member, entity)}"
            return Binding((variant if short == "TfLiteType" else f"{SAFE}::{safe}", raw_value))
        return Binding((f"{SAFE}::{safe}", f"{SYS}::{short}"))
    if (
        short.startswith("TfLite")
        and "::" not in entity
        and entity_kind != "function"
        and member_kind in ("", "field", "value")
    ):
        # bindgen binds every TfLite* C type the shim header reaches (its allowlist).
        return Binding((f"{SYS}::{entity}",), shim_only=True)
    return None
