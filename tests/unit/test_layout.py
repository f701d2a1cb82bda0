"""Layout probes read from bindgen output, and the host-specific spellings made portable."""

from __future__ import annotations

from bindbot.generate.bindgen import portable
from bindbot.generate.layout import c_probe, probes, rust_checks

BINDINGS = """\
pub type __int64_t = core::ffi::c_long;
pub type __uint8_t = core::ffi::c_uchar;
pub type TfLiteInPlaceOp = core::ffi::c_ulong;
pub const TfLiteInPlaceOp_kTfLiteInplaceOpNone: TfLiteInPlaceOp = 0;
pub type my_long = core::ffi::c_long;
pub type TfLiteStatus = core::ffi::c_uint;
pub type tflm_handle = tflm_interpreter;
#[repr(C)]
pub struct TfLiteTensor {
    pub type_: TfLiteType,
    pub bytes: usize,
    pub _bitfield_1: u8,
}
#[repr(C)]
pub struct TfLiteContext {
    pub impl_: *mut core::ffi::c_void,
}
#[repr(C)]
pub union TfLitePtrUnion {
    pub i32_: *mut i32,
}
#[repr(C)]
pub struct tflm_interpreter {
    _unused: [u8; 0],
}
"""


def test_portable_respells_host_widths() -> None:
    text = portable(BINDINGS)
    assert "pub type __int64_t = i64;" in text
    assert "pub type __uint8_t = u8;" in text
    # An enum that needs 64 bits is 64 bits on every target.
    assert "pub type TfLiteInPlaceOp = u64;" in text
    # A plain C `long` stays a C long: it is 32 bits on Cortex-M in C too.
    assert "pub type my_long = core::ffi::c_long;" in text


def test_probes_cover_structs_fields_and_aliases() -> None:
    found = probes(BINDINGS, {"TfLiteTensor": {"type", "bytes"}, "TfLiteContext": {"impl_"}})
    labels = [p.label() for p in found]
    assert "TfLiteTensor size" in labels and "TfLiteTensor align" in labels
    assert "TfLiteTensor.type offset" in labels  # bindgen's type_ is C's type
    assert "TfLiteContext.impl_ offset" in labels  # a real trailing underscore stays
    assert "TfLitePtrUnion size" in labels and not any("i32" in x for x in labels)
    assert "TfLiteStatus size" in labels
    assert not any("tflm_" in x or "__int64_t" in x or "_bitfield" in x for x in labels)
    c = c_probe(found, "stamp")
    rust = rust_checks(found, "stamp")
    assert "offsetof(TfLiteTensor, type)," in c and "sizeof(TfLiteStatus)," in c
    assert "core::mem::offset_of!(TfLiteTensor, type_)" in rust
    assert f"C_LAYOUT.len() == {len(found)}" in rust


def test_keyword_rule_without_the_model() -> None:
    (offset,) = [
        p for p in probes(BINDINGS) if p.what == "offset" and p.type_name == "TfLiteTensor"
    ][:1]
    assert offset.c_field == "type"
