//! The reference cases `bindbot reference` made from the pinned tree, run on the core:
//! built in when TFLM_FIRMWARE_CASES names a shard (the build script packs the cases of
//! `cases.tsv` into shards that fit the board's flash and writes their table).
//!
//! Integers must be within the case's tolerance (0: equal). float32 outputs may differ from
//! the host's by FLOAT_RELATIVE_E9 billionths of the larger magnitude, magnitudes below
//! FLOAT_FLOOR counting as FLOAT_FLOOR (2e-6 absolute near zero, where sums cancel: sin(pi)
//! in hello_world), for two reasons: newlib's expf/tanhf/logf are not glibc's (every core;
//! an LSTM's tanh and sigmoid show it), and on cores with an FPU gcc fuses multiply-adds
//! (one rounding instead of two). The largest difference is printed.
use tflm::{MicroInterpreter, Model, OpResolver};

use crate::firmware::{print, print_u32};

/// Relative float tolerance, in billionths.
const FLOAT_RELATIVE_E9: f32 = 10_000.0;
/// The magnitude below which the tolerance is absolute (FLOAT_RELATIVE_E9 of it).
const FLOAT_FLOOR: f32 = 0.2;

#[derive(Clone, Copy, PartialEq)]
pub enum Dtype {
    Int8,
    Uint8,
    Int16,
    Int32,
    Int64,
    Float32,
    Other,
}

impl Dtype {
    fn size(self) -> usize {
        match self {
            Dtype::Int8 | Dtype::Uint8 | Dtype::Other => 1,
            Dtype::Int16 => 2,
            Dtype::Int32 | Dtype::Float32 => 4,
            Dtype::Int64 => 8,
        }
    }
}

pub struct Tensor {
    pub dtype: Dtype,
    pub bytes: &'static [u8],
}

pub struct Case {
    pub name: &'static str,
    pub model: &'static [u8],
    pub tolerance: u32,
    pub inputs: &'static [Tensor],
    pub outputs: &'static [Tensor],
}

/// Model and data bytes aligned as flatbuffers wants.
#[repr(C, align(16))]
struct Aligned<T: ?Sized>(T);

include!(concat!(env!("OUT_DIR"), "/cases.rs"));

fn element(dtype: Dtype, bytes: &[u8], i: usize) -> (i64, f32) {
    let b = &bytes[i * dtype.size()..(i + 1) * dtype.size()];
    match dtype {
        Dtype::Int8 => (i64::from(b[0] as i8), 0.0),
        Dtype::Uint8 | Dtype::Other => (i64::from(b[0]), 0.0),
        Dtype::Int16 => (i64::from(i16::from_le_bytes([b[0], b[1]])), 0.0),
        Dtype::Int32 => (i64::from(i32::from_le_bytes([b[0], b[1], b[2], b[3]])), 0.0),
        Dtype::Int64 => (
            i64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]),
            0.0,
        ),
        Dtype::Float32 => (0, f32::from_le_bytes([b[0], b[1], b[2], b[3]])),
    }
}

/// The first element of `actual` outside the tolerance, and the largest float difference
/// (in billionths of the larger magnitude) over all elements.
fn compare(expected: &Tensor, actual: &[u8], tolerance: u32) -> (Option<usize>, u32) {
    let mut worst = 0u32;
    let mut first = None;
    if expected.bytes.len() != actual.len() {
        return (Some(0), worst);
    }
    for i in 0..actual.len() / expected.dtype.size() {
        let (e, ef) = element(expected.dtype, expected.bytes, i);
        let (a, af) = element(expected.dtype, actual, i);
        let bad = if expected.dtype == Dtype::Float32 {
            if ef.is_nan() && af.is_nan() {
                false
            } else {
                let diff = if af > ef { af - ef } else { ef - af };
                let scale = if ef.abs() > af.abs() { ef.abs() } else { af.abs() };
                let scale = if scale > FLOAT_FLOOR { scale } else { FLOAT_FLOOR };
                let relative = diff / scale * 1e9;
                worst = worst.max(if relative < 4e9 { relative as u32 } else { u32::MAX });
                diff != 0.0 && (relative.is_nan() || relative > FLOAT_RELATIVE_E9)
            }
        } else {
            (a - e).unsigned_abs() > u64::from(tolerance)
        };
        if bad && first.is_none() {
            first = Some(i);
        }
    }
    (first, worst)
}

/// One case: every input step by step through one interpreter; Ok(largest float
/// difference) or a printed reason.
fn run_case(case: &Case, arena: &mut [u8]) -> Result<u32, ()> {
    let fail = |what: &str| {
        print(what);
        print("; DIFFERENT\n");
    };
    // SAFETY: every model here passed `Model::from_buffer` in the host test suite
    // (tflm/tests/reference.rs, which `bindbot verify` runs first), on the same bytes.
    let Ok(model) = (unsafe { Model::from_trusted_buffer(case.model) }) else {
        fail(": model rejected");
        return Err(());
    };
    let Ok(resolver) = OpResolver::for_model(&model) else {
        fail(": operators missing");
        return Err(());
    };
    let Ok(mut interpreter) = MicroInterpreter::new(&model, &resolver, arena) else {
        fail(": interpreter not built (arena too small?)");
        return Err(());
    };
    let Some(first) = case.inputs.first() else {
        fail(": no inputs");
        return Err(());
    };
    let Ok(step_len) = interpreter.input_bytes(0).map(|t| t.len()) else {
        fail(": input 0");
        return Err(());
    };
    if step_len == 0 || first.bytes.len() % step_len != 0 {
        fail(": input 0 is not whole steps");
        return Err(());
    }
    let steps = first.bytes.len() / step_len;
    let mut used = [0usize; 8];
    if case.outputs.len() > used.len() {
        fail(": too many outputs");
        return Err(());
    }
    let mut worst = 0;
    for step in 0..steps {
        for (k, input) in case.inputs.iter().enumerate() {
            let Ok(tensor) = interpreter.input_bytes(k) else {
                fail(": input");
                return Err(());
            };
            let n = tensor.len();
            let Some(chunk) = input.bytes.get(step * n..(step + 1) * n) else {
                fail(": input steps");
                return Err(());
            };
            tensor.copy_from_slice(chunk);
        }
        if interpreter.invoke().is_err() {
            fail(": invoke failed");
            return Err(());
        }
        // Outputs are compared per step, against that step's slice of the expected file,
        // so no step's output needs storing.
        for (k, expected) in case.outputs.iter().enumerate() {
            let Ok(actual) = interpreter.output_bytes(k) else {
                fail(": output");
                return Err(());
            };
            let at = used[k];
            let Some(want) = expected.bytes.get(at..at + actual.len()) else {
                fail(": more output than expected");
                return Err(());
            };
            let slice = Tensor {
                dtype: expected.dtype,
                bytes: want,
            };
            let (bad, w) = compare(&slice, actual, case.tolerance);
            worst = worst.max(w);
            if let Some(i) = bad {
                print(": output ");
                print_u32(k as u32);
                print(" element ");
                print_u32((at / expected.dtype.size() + i) as u32);
                if w > 0 {
                    print(", largest float difference ");
                    print_u32(w);
                    print("e-9 relative");
                }
                print("; DIFFERENT\n");
                return Err(());
            }
            used[k] = at + actual.len();
        }
    }
    Ok(worst)
}

/// Runs this shard's cases; the number that failed.
pub fn run(arena: &mut [u8]) -> u32 {
    let mut failed = 0;
    for case in CASES {
        print("case ");
        print(case.name);
        match run_case(case, arena) {
            Ok(worst) => {
                if worst > 0 {
                    print(": largest float difference ");
                    print_u32(worst);
                    print("e-9 relative");
                }
                print(": ok\n");
            }
            Err(()) => failed += 1,
        }
    }
    print("reference: ");
    print_u32(CASES.len() as u32 - failed);
    print(" of ");
    print_u32(CASES.len() as u32);
    print(" cases match (shard ");
    print_u32(SHARD + 1);
    print(" of ");
    print_u32(SHARDS);
    print(")\n");
    failed
}
