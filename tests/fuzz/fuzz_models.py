"""Mutation fuzzing of the safe `tflm` crate: mutated models, random input data, random arenas.

Input `i` is derived from (seed, i) and the ordered seed-model list alone, so any input can be
replayed by its index (`--replay I`). For each input, a seed model is mutated (or, one time in
four, kept intact so the kernels run on a valid graph), then `Model::from_buffer` verifies it,
`MicroInterpreter::new` builds it in an arena of random size (1 KiB to 400 KiB, sometimes at an
odd offset, pre-filled with a junk byte), every input tensor is filled with random data or
extreme values through the typed `input::<T>` API (0, -1, MIN, MAX; NaN, infinities and
subnormals for floats; other element types through `input_bytes`), and the model is invoked
twice (refilled and/or reset in between).

Seeds: the golden example models plus a per-op sample of upstream's `.tflite` files, exported
from the bare repository at the crate's pinned commit. The op resolver is
`OpResolver::for_model` of the mutated model three times in four (a mutated operator code runs
another kernel on the graph), else that of its seed (`resolver_for` in the Rust harness).

Every error is counted by kind: the model's (`from_buffer`), the build's (`new`), each
invoke's and reset's. `KernelCheck` (a TFLM assertion the shim turned into an error) and
`Stopped` (every call after it) are contained failures, counted, not crashes; the harness
checks that after `KernelCheck` (or an `ArenaTooSmall` in `invoke`) the next invoke and reset
return `Stopped`, and that `ArenaTooSmall` claims more bytes than the arena has.

Memory errors: by default the TFLM C++ library is built with AddressSanitizer (`--sanitizer
asan`: CXXFLAGS/CFLAGS `-fsanitize=address`; the ASan runtime is linked statically into the
harness binary, because rustc links with -nodefaultlibs, so gcc's `-fsanitize=address` alone
adds no runtime). The Rust side is not instrumented, so the harness itself checks that every
tensor slice the safe API hands out lies inside the arena (or, for outputs, the model), and
that `arena_used_bytes()` does not exceed the arena. A SIGABRT is a crash: TFLM's assertions
no longer abort inside an interpreter call. `--sanitizer valgrind` runs the plain
build under memcheck, `--sanitizer none` runs it bare (crashes only).

Inputs run in chunks, each in a fresh process. When a chunk dies (signal, ASan report, panic,
timeout), it is bisected down to the input index, and the finding is printed with its signal,
the ASan error kind and the top frames. Exits non-zero when anything was found.

A replay with `--dump-dir DIR` keeps the mutated model and describes it: the bytes that
differ from the seed and where they lie (which buffer's data, which operator's custom options,
which tensor's shape, or the flatbuffer's structure), every operator and tensor (type, shape,
buffer), and how that description differs from the seed's.

    python3 tests/fuzz/fuzz_models.py --iterations 20000
    python3 tests/fuzz/fuzz_models.py --replay 1234          # one input, verbose
    python3 tests/fuzz/fuzz_models.py --replay 1234 --dump-dir /tmp/fuzz-dump
    python3 tests/fuzz/fuzz_models.py --sanitizer valgrind --iterations 200
"""

from __future__ import annotations

import argparse
import concurrent.futures
import difflib
import hashlib
import os
import re
import shutil
import signal
import struct
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_CRATE = ROOT / "rust_crate"
DEFAULT_GOLDEN = ROOT.parent / "shared" / "golden"
DEFAULT_UPSTREAM = Path("/work/.mirror/tensorflow+tflite-micro/repo")
SANITIZERS = ("asan", "none", "valgrind")
# handle_abort=1: a TFLM assertion or TFLITE_ABORT (SIGABRT) gets ASan's stack trace too.
ASAN_OPTIONS = "detect_leaks=0:abort_on_error=1:halt_on_error=1:handle_abort=1"
ASAN_CFLAGS = "-fsanitize=address -fno-omit-frame-pointer"
VALGRIND = ["valgrind", "-q", "--error-exitcode=99", "--exit-on-first-error=yes"]
SIGNALS = {
    -int(signal.SIGSEGV): "SIGSEGV",
    -int(signal.SIGABRT): "SIGABRT",
    -int(signal.SIGBUS): "SIGBUS",
    -int(signal.SIGFPE): "SIGFPE",
    -int(signal.SIGILL): "SIGILL",
    -int(signal.SIGKILL): "SIGKILL",
}

# ---------------------------------------------------------------------------------------------
# Rust shared by fuzz-models and arena-sweep (src/common.rs of both harness crates).

RUST_COMMON = r"""
//! Shared by the fuzz harnesses: seeded randomness, buffers ASan can bound exactly, op
//! resolvers, typed input filling, tensor placement checks and error names.
#![allow(dead_code)]
use std::alloc::{alloc_zeroed, dealloc, Layout};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use tflm::{Error, MicroInterpreter, Model, OpResolver, TensorType};

static VERBOSE_LOG: AtomicBool = AtomicBool::new(false);
pub static LOG_MESSAGES: AtomicUsize = AtomicUsize::new(0);

fn log_handler(message: &str) {
    LOG_MESSAGES.fetch_add(1, Ordering::Relaxed);
    if VERBOSE_LOG.load(Ordering::Relaxed) {
        eprintln!("tflm: {}", message.trim_end());
    }
}

/// Routes TFLM's log through the crate's callback (exercising it); printed when verbose, so
/// an abort's report shows what TFLM said last.
pub fn install_log(verbose: bool) {
    VERBOSE_LOG.store(verbose, Ordering::Relaxed);
    tflm::log::set_handler(log_handler);
}

/// Arena for "does it build at all" checks.
pub const BIG_ARENA: usize = 16 << 20;

pub struct Rng(u64);

impl Rng {
    /// The generator of input `index`: a function of (seed, index) only.
    pub fn for_input(seed: u64, index: u64) -> Rng {
        let mut z = seed ^ index.wrapping_mul(0x9e37_79b9_7f4a_7c15);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        Rng((z ^ (z >> 31)) | 1)
    }
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
    pub fn chance(&mut self, one_in: usize) -> bool {
        self.below(one_in) == 0
    }
}

/// Heap memory of exactly `len` bytes, 64-byte aligned: ASan's redzone starts at its end, so
/// an access one byte past an arena or a model is reported.
pub struct Buf {
    ptr: *mut u8,
    len: usize,
}

impl Buf {
    fn layout(len: usize) -> Layout {
        Layout::from_size_align(len.max(1), 64).unwrap()
    }
    pub fn new(len: usize) -> Buf {
        // SAFETY: the layout has a non-zero size.
        let ptr = unsafe { alloc_zeroed(Self::layout(len)) };
        assert!(!ptr.is_null(), "out of memory for {len} bytes");
        Buf { ptr, len }
    }
    pub fn from_bytes(bytes: &[u8]) -> Buf {
        let mut b = Buf::new(bytes.len());
        b.bytes_mut().copy_from_slice(bytes);
        b
    }
    pub fn bytes(&self) -> &[u8] {
        // SAFETY: ptr owns len initialised bytes.
        unsafe { std::slice::from_raw_parts(self.ptr, self.len) }
    }
    pub fn bytes_mut(&mut self) -> &mut [u8] {
        // SAFETY: as above, and &mut self makes the access exclusive.
        unsafe { std::slice::from_raw_parts_mut(self.ptr, self.len) }
    }
    pub fn span(&self) -> (usize, usize) {
        (self.ptr as usize, self.ptr as usize + self.len)
    }
}

impl Drop for Buf {
    fn drop(&mut self) {
        // SAFETY: allocated in `new` with this layout.
        unsafe { dealloc(self.ptr, Self::layout(self.len)) }
    }
}

/// The op resolver for `model`: `OpResolver::for_model`, or, when the model names an
/// operator this build has no kernel for (or more than a resolver holds), every operator
/// `add_code` takes, so the interpreter still gets as far as `Error::MissingOps`.
pub fn resolver_for(model: &Model<'_>) -> OpResolver {
    OpResolver::for_model(model).unwrap_or_else(|_| {
        let mut resolver = OpResolver::new();
        for code in model.operators() {
            let _ = resolver.add_code(code);
        }
        resolver
    })
}

/// Builds an interpreter and drops it again.
pub fn try_build(model: &Model<'_>, resolver: &OpResolver, arena: &mut [u8]) -> Result<(), Error> {
    MicroInterpreter::new(model, resolver, arena).map(drop)
}

/// Where a tensor's data lies.
#[derive(Debug, PartialEq, Eq)]
pub enum Place {
    Empty,
    Arena,
    Model,
    Elsewhere,
}

pub struct Region {
    pub arena: (usize, usize),
    pub model: (usize, usize),
}

impl Region {
    pub fn place(&self, ptr: usize, bytes: usize) -> Place {
        if bytes == 0 {
            return Place::Empty;
        }
        let end = ptr.saturating_add(bytes);
        let inside = |(lo, hi): (usize, usize)| ptr >= lo && end <= hi;
        if inside(self.arena) {
            Place::Arena
        } else if inside(self.model) {
            Place::Model
        } else {
            Place::Elsewhere
        }
    }
}

/// Element types the fuzzer can fill: random values and the extremes kernels trip on.
pub trait Sample: tflm::Element {
    fn random(rng: &mut Rng) -> Self;
    const EXTREMES: &'static [Self];
}

macro_rules! int_sample {
    ($($t:ty),*) => {$(
        impl Sample for $t {
            fn random(rng: &mut Rng) -> Self {
                rng.next() as $t
            }
            const EXTREMES: &'static [Self] =
                &[0, 1, <$t>::MIN, <$t>::MAX, (0 as $t).wrapping_sub(1), <$t>::MAX / 2 + 1];
        }
    )*};
}
int_sample!(i8, u8, i16, u16, i32, u32, i64, u64);

impl Sample for f32 {
    fn random(rng: &mut Rng) -> Self {
        f32::from_bits(rng.next() as u32)
    }
    const EXTREMES: &'static [Self] = &[
        0.0, -0.0, 1.0, -1.0, f32::MAX, f32::MIN, f32::MIN_POSITIVE, 1e-45, f32::NAN,
        f32::INFINITY, f32::NEG_INFINITY, 65504.0, -1e30,
    ];
}

impl Sample for f64 {
    fn random(rng: &mut Rng) -> Self {
        f64::from_bits(rng.next())
    }
    const EXTREMES: &'static [Self] = &[
        0.0, -0.0, 1.0, -1.0, f64::MAX, f64::MIN, f64::MIN_POSITIVE, 5e-324, f64::NAN,
        f64::INFINITY, f64::NEG_INFINITY,
    ];
}

pub fn fill_slice<T: Sample>(data: &mut [T], rng: &mut Rng) {
    let pick = |rng: &mut Rng| T::EXTREMES[rng.below(T::EXTREMES.len())];
    match rng.below(8) {
        0..=2 => data.iter_mut().for_each(|x| *x = T::random(rng)),
        3 => {
            let v = pick(rng);
            data.fill(v);
        }
        4 | 5 => data.iter_mut().for_each(|x| {
            *x = if rng.chance(3) { pick(rng) } else { T::random(rng) }
        }),
        6 => data.fill(T::EXTREMES[0]),
        _ => data
            .iter_mut()
            .enumerate()
            .for_each(|(k, x)| *x = T::EXTREMES[2 + k % 2]),
    }
}

/// Runs `$body` with `$T` the Rust element type of tensor type `$ty`, or `$other`.
#[macro_export]
macro_rules! by_type {
    ($ty:expr, $T:ident => $body:expr, $other:expr) => {
        match $ty {
            TensorType::Int8 => { type $T = i8; $body }
            TensorType::UInt8 => { type $T = u8; $body }
            TensorType::Int16 => { type $T = i16; $body }
            TensorType::UInt16 => { type $T = u16; $body }
            TensorType::Int32 => { type $T = i32; $body }
            TensorType::UInt32 => { type $T = u32; $body }
            TensorType::Int64 => { type $T = i64; $body }
            TensorType::UInt64 => { type $T = u64; $body }
            TensorType::Float32 => { type $T = f32; $body }
            TensorType::Float64 => { type $T = f64; $body }
            _ => $other,
        }
    };
}

/// How filling one input went.
pub enum Fill {
    Typed,
    Bytes,
    ReadOnly,
    Refused,
}

/// Checks where an input slice the safe API handed out lies; true when it may be written.
fn writable_place(
    j: usize,
    ptr: usize,
    bytes: usize,
    what: &str,
    region: &Region,
    findings: &mut Vec<String>,
) -> bool {
    match region.place(ptr, bytes) {
        Place::Arena | Place::Empty => true,
        Place::Model => {
            findings.push(format!(
                "input-aliases-model: input {j}'s {bytes} data bytes lie in the model buffer, \
                 handed out as &mut [{what}] while the model borrows them shared"
            ));
            false
        }
        Place::Elsewhere => {
            findings.push(format!(
                "input-outside-arena: input {j}'s {bytes} data bytes at {ptr:#x} are outside \
                 the arena {:#x?} and the model {:#x?}",
                region.arena, region.model
            ));
            false
        }
    }
}

fn fill_typed<T: Sample>(
    interp: &mut MicroInterpreter<'_>,
    j: usize,
    rng: &mut Rng,
    region: &Region,
    findings: &mut Vec<String>,
) -> Fill {
    let data = match interp.input::<T>(j) {
        Ok(data) => data,
        Err(Error::ReadOnlyTensor { .. }) => return Fill::ReadOnly,
        Err(_) => return Fill::Refused,
    };
    let bytes = std::mem::size_of_val(data);
    let what = std::any::type_name::<T>();
    if !writable_place(j, data.as_ptr() as usize, bytes, what, region, findings) {
        return Fill::Refused;
    }
    fill_slice(data, rng);
    Fill::Typed
}

/// Types without a Rust element (bool, int4, float16, ...) through `input_bytes`; bools get
/// 0 or 1 only (another byte is no C++ bool).
fn fill_raw(
    interp: &mut MicroInterpreter<'_>,
    j: usize,
    ty: TensorType,
    rng: &mut Rng,
    region: &Region,
    findings: &mut Vec<String>,
) -> Fill {
    let data = match interp.input_bytes(j) {
        Ok(data) => data,
        Err(Error::ReadOnlyTensor { .. }) => return Fill::ReadOnly,
        Err(_) => return Fill::Refused,
    };
    if !writable_place(j, data.as_ptr() as usize, data.len(), "u8", region, findings) {
        return Fill::Refused;
    }
    match ty {
        TensorType::Bool => data.iter_mut().for_each(|b| *b = (rng.next() & 1) as u8),
        _ => fill_slice(data, rng),
    }
    Fill::Bytes
}

/// Fills every input tensor (typed through `input::<T>`, else `input_bytes`); counts into
/// `add`: inputs_filled, inputs_filled_bytes, inputs_read_only, inputs_skipped.
pub fn fill_inputs(
    interp: &mut MicroInterpreter<'_>,
    rng: &mut Rng,
    region: &Region,
    findings: &mut Vec<String>,
    add: &mut dyn FnMut(&str, usize),
) {
    for j in 0..interp.inputs_len() {
        let Ok(ty) = interp.input_tensor(j).map(|t| t.tensor_type()) else {
            add("inputs_skipped", 1);
            continue;
        };
        let how = by_type!(
            ty,
            T => fill_typed::<T>(interp, j, rng, region, findings),
            fill_raw(interp, j, ty, rng, region, findings)
        );
        add(
            match how {
                Fill::Typed => "inputs_filled",
                Fill::Bytes => "inputs_filled_bytes",
                Fill::ReadOnly => "inputs_read_only",
                Fill::Refused => "inputs_skipped",
            },
            1,
        );
    }
}

/// Every output's bytes (and, for a typed output, its `output::<T>` slice) must lie in the
/// arena or the model.
pub fn check_outputs(interp: &MicroInterpreter<'_>, region: &Region, findings: &mut Vec<String>) {
    for k in 0..interp.outputs_len() {
        let Ok(ty) = interp.output_tensor(k).map(|t| t.tensor_type()) else { continue };
        let mut spans = Vec::new();
        if let Ok(data) = interp.output_bytes(k) {
            spans.push((data.as_ptr() as usize, data.len()));
        }
        let typed = by_type!(
            ty,
            T => interp
                .output::<T>(k)
                .ok()
                .map(|d| (d.as_ptr() as usize, std::mem::size_of_val(d))),
            None
        );
        spans.extend(typed);
        for (ptr, bytes) in spans {
            if region.place(ptr, bytes) == Place::Elsewhere {
                findings.push(format!(
                    "output-outside-arena: output {k}'s {bytes} data bytes at {ptr:#x} are \
                     outside the arena {:#x?} and the model {:#x?}",
                    region.arena, region.model
                ));
            }
        }
    }
}

pub fn check_used(interp: &MicroInterpreter<'_>, arena_len: usize, findings: &mut Vec<String>) {
    let used = interp.arena_used_bytes();
    if used > arena_len {
        findings.push(format!("arena-overuse: arena_used_bytes() = {used} > arena {arena_len}"));
    }
}

/// `ArenaTooSmall` must claim more than the arena has.
pub fn check_error(e: &Error, findings: &mut Vec<String>) {
    if let Error::ArenaTooSmall { available, needed } = *e {
        if needed <= available {
            findings.push(format!(
                "arena-too-small-contradiction: ArenaTooSmall {{ available: {available}, \
                 needed: {needed} }}"
            ));
        }
    }
}

/// A short name for each error, for the counts (`Error` is non_exhaustive: "other").
pub fn error_kind(e: &Error) -> &'static str {
    match e {
        Error::MisalignedModel => "misaligned",
        Error::InvalidModel => "invalid_model",
        Error::SchemaVersion { .. } => "schema_version",
        Error::ResolverFull { .. } => "resolver_full",
        Error::DuplicateOp(_) => "duplicate_op",
        Error::MissingOps(_) => "missing_ops",
        Error::ArenaTooSmall { .. } => "arena_too_small",
        Error::Prepare { .. } => "prepare",
        Error::Invoke { .. } => "invoke",
        Error::KernelCheck { .. } => "kernel_check",
        Error::Stopped => "stopped",
        Error::Failed { .. } => "failed",
        Error::NoSuchTensor { .. } => "no_such_tensor",
        Error::TypeMismatch { .. } => "type_mismatch",
        Error::ReadOnlyTensor { .. } => "read_only",
        _ => "other",
    }
}
"""

RUST_FUZZ = r"""
mod common;
use common::*;
use std::collections::BTreeMap;
use tflm::{Error, MicroInterpreter, Model, OpResolver};

const INTERESTING: [u32; 10] =
    [0, 1, 0x7f, 0x80, 0xff, 0xffff, 0x7fff_ffff, 0x8000_0000, 0xffff_ffff, 0xffff_fff0];

fn mutate(rng: &mut Rng, base: &[u8]) -> Vec<u8> {
    let mut m = base.to_vec();
    for _ in 0..1 + rng.below(8) {
        let len = m.len();
        if len < 8 {
            break;
        }
        match rng.below(8) {
            0 => { let i = rng.below(len); m[i] ^= 1 << rng.below(8); }
            1 => { let i = rng.below(len); m[i] = rng.next() as u8; }
            2 => {
                let i = rng.below(len.saturating_sub(4)) & !3;
                let v = INTERESTING[rng.below(INTERESTING.len())];
                m[i..i + 4].copy_from_slice(&v.to_le_bytes());
            }
            3 => { let keep = rng.below(len); m.truncate(keep.max(1)); }
            4 => {
                let (a, b) = (rng.below(len), rng.below(len));
                let n = rng.below(64).min(len - a).min(len - b);
                m.copy_within(a..a + n, b);
            }
            5 => {
                // Nudge a little-endian word: dims, offsets and indices move by a little.
                let i = rng.below(len.saturating_sub(4)) & !3;
                let w = u32::from_le_bytes(m[i..i + 4].try_into().unwrap());
                let d = 1 + rng.below(16) as u32;
                let w = if rng.chance(2) { w.wrapping_add(d) } else { w.wrapping_sub(d) };
                m[i..i + 4].copy_from_slice(&w.to_le_bytes());
            }
            6 => { let i = rng.below(len); m[i] = [0u8, 1, 0x7f, 0x80, 0xff][rng.below(5)]; }
            _ => { let i = rng.below(len.saturating_sub(4)) & !3; m[i..i + 4].fill(0); }
        }
    }
    m
}

fn arena_size(rng: &mut Rng, lo: usize, hi: usize) -> usize {
    let span = hi.saturating_sub(lo);
    if rng.chance(2) {
        lo + rng.below(span + 1)
    } else {
        // Log-uniform: as many small arenas as large ones.
        let (l, h) = ((lo.max(1) as f64).ln(), (hi.max(1) as f64).ln());
        let u = (rng.next() >> 11) as f64 / (1u64 << 53) as f64;
        ((l + u * (h - l)).exp() as usize).clamp(lo, hi)
    }
}

/// After a stopping failure every later call must be `Error::Stopped`.
fn stops(e: &Error) -> bool {
    matches!(e, Error::KernelCheck { .. } | Error::ArenaTooSmall { .. } | Error::Stopped)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let start: usize = args[1].parse().unwrap();
    let count: usize = args[2].parse().unwrap();
    let seed: u64 = args[3].parse().unwrap();
    let arena_min: usize = args[4].parse().unwrap();
    let arena_max: usize = args[5].parse().unwrap();
    let paths = &args[6..];
    let models: Vec<Vec<u8>> = paths.iter().map(|p| std::fs::read(p).unwrap()).collect();
    let verbose = std::env::var_os("FUZZ_VERBOSE").is_some();
    install_log(verbose);
    let dump = std::env::var_os("FUZZ_DUMP_DIR");
    let mut resolvers: Vec<Option<OpResolver>> = vec![None; models.len()];
    let mut totals: BTreeMap<String, usize> = BTreeMap::new();
    let mut add = |key: &str, n: usize| *totals.entry(key.to_string()).or_insert(0) += n;
    for i in start..start + count {
        let mut rng = Rng::for_input(seed, i as u64);
        let k = i % models.len();
        let base = &models[k];
        let seed_resolver = resolvers[k]
            .get_or_insert_with(|| {
                let buf = Buf::from_bytes(base);
                match Model::from_buffer(buf.bytes()) {
                    Ok(model) => resolver_for(&model),
                    Err(_) => OpResolver::new(),
                }
            })
            .clone();
        let mutated = !rng.chance(4);
        let input = if mutated { mutate(&mut rng, base) } else { base.clone() };
        let size = arena_size(&mut rng, arena_min, arena_max);
        let offset = if rng.chance(4) { rng.below(16) } else { 0 };
        let junk = [0u8, 0xaa, 0xff, rng.next() as u8][rng.below(4)];
        // Mostly the operators the mutated model names (a mutated operator code runs
        // another kernel on the graph), else the seed's (a missing operator is an error).
        let own_ops = rng.below(4) != 0;
        if verbose {
            eprintln!(
                "input {i}: seed {k} {} ({} ops), {}{} bytes, arena {size} bytes at offset \
                 {offset} filled with {junk:#04x}, resolver of the {}",
                paths[k],
                seed_resolver.ops().count(),
                if mutated { "mutated, " } else { "intact, " },
                input.len(),
                if own_ops { "input" } else { "seed" },
            );
        }
        if let Some(dir) = &dump {
            let path = std::path::Path::new(dir).join(format!("input-{i}.tflite"));
            std::fs::write(path, &input).unwrap();
        }
        add("inputs", 1);
        let model_buf = Buf::from_bytes(&input);
        let mut arena_buf = Buf::new(size + offset);
        arena_buf.bytes_mut().fill(junk);
        let (lo, hi) = arena_buf.span();
        let region = Region { arena: (lo + offset, hi), model: model_buf.span() };
        let model = match Model::from_buffer(model_buf.bytes()) {
            Ok(model) => model,
            Err(e) => {
                add(&format!("model_{}", error_kind(&e)), 1);
                continue;
            }
        };
        add("verified", 1);
        let resolver = if own_ops { resolver_for(&model) } else { seed_resolver };
        if verbose {
            let ops: Vec<String> = resolver.ops().map(|op| format!("{op:?}")).collect();
            eprintln!("input {i}: resolver [{}]", ops.join(", "));
        }
        let arena = &mut arena_buf.bytes_mut()[offset..];
        let mut findings = Vec::new();
        let mut interp = match MicroInterpreter::new(&model, &resolver, arena) {
            Ok(interp) => interp,
            Err(e) => {
                if verbose {
                    eprintln!("input {i}: new: {e:?} ({e})");
                }
                check_error(&e, &mut findings);
                add(&format!("build_{}", error_kind(&e)), 1);
                for f in findings {
                    println!("finding {i} {f}");
                }
                continue;
            }
        };
        add("built", 1);
        if verbose {
            let shape = |t: tflm::Tensor<'_>| {
                let dims: Vec<usize> = t.dims().collect();
                format!("{:?} {dims:?} {} bytes", t.tensor_type(), t.byte_size())
            };
            for j in 0..interp.inputs_len() {
                if let Ok(t) = interp.input_tensor(j) {
                    eprintln!("input {i}: input {j} {}", shape(t));
                }
            }
            for j in 0..interp.outputs_len() {
                if let Ok(t) = interp.output_tensor(j) {
                    eprintln!("input {i}: output {j} {}", shape(t));
                }
            }
        }
        check_used(&interp, size, &mut findings);
        let mut stopped_by: Option<Error> = None;
        for round in 0..2 {
            let refill = round == 0 || rng.chance(2);
            if round == 1 && rng.chance(4) {
                let result = interp.reset();
                match &result {
                    Ok(()) => add("resets", 1),
                    Err(e) => add(&format!("reset_{}", error_kind(e)), 1),
                }
                if let (Some(first), false) = (stopped_by, matches!(result, Err(Error::Stopped))) {
                    findings.push(format!(
                        "not-stopped: reset after {first:?} returned {result:?}, not Stopped"
                    ));
                }
            }
            if refill {
                fill_inputs(&mut interp, &mut rng, &region, &mut findings, &mut add);
            }
            let result = interp.invoke();
            if verbose {
                eprintln!("input {i}: invoke {round}: {result:?}");
            }
            match &result {
                Ok(()) => add("invoke_ok", 1),
                Err(e) => {
                    check_error(e, &mut findings);
                    add(&format!("invoke_{}", error_kind(e)), 1);
                }
            }
            if let Some(first) = stopped_by {
                if !matches!(result, Err(Error::Stopped)) {
                    findings.push(format!(
                        "not-stopped: invoke after {first:?} returned {result:?}, not Stopped"
                    ));
                }
            } else if let Err(e) = result {
                if stops(&e) {
                    stopped_by = Some(e);
                }
            }
            check_outputs(&interp, &region, &mut findings);
        }
        findings.dedup();
        for f in findings {
            println!("finding {i} {f}");
        }
    }
    add("log_messages", LOG_MESSAGES.load(std::sync::atomic::Ordering::Relaxed));
    let line: Vec<String> = totals.iter().map(|(k, v)| format!("{k}={v}")).collect();
    println!("totals {}", line.join(" "));
}
"""

# ---------------------------------------------------------------------------------------------
# Building the harness


@dataclass
class Build:
    """How the harness binaries are built and run for one sanitizer."""

    sanitizer: str
    crate: Path
    target_dir: Path
    cache: Path  # BINDBOT_CACHE: where tflm-sys finds the pinned sources
    triple: str = field(init=False)

    def __post_init__(self) -> None:
        out = subprocess.run(["rustc", "-vV"], capture_output=True, text=True, check=True)
        self.triple = next(
            ln.split(":", 1)[1].strip() for ln in out.stdout.splitlines() if ln.startswith("host:")
        )

    def cargo_env(self) -> dict[str, str]:
        env = dict(os.environ)
        env["CARGO_TARGET_DIR"] = str(self.target_dir)
        env["BINDBOT_CACHE"] = str(self.cache)
        # Objects by content, keyed by compiler flags: ASan and plain objects never mix.
        env["TFLM_SYS_OBJECT_CACHE"] = str(self.target_dir / "tflm-objects")
        for var in ("CFLAGS", "CXXFLAGS", "RUSTFLAGS", "CARGO_ENCODED_RUSTFLAGS"):
            env.pop(var, None)
        if self.sanitizer == "asan":
            env["CXXFLAGS"] = ASAN_CFLAGS
            env["CFLAGS"] = ASAN_CFLAGS
            env["RUSTFLAGS"] = " ".join(asan_link_args())
            env["ASAN_OPTIONS"] = ASAN_OPTIONS  # build scripts are not instrumented anyway
        return env

    def run_env(self) -> dict[str, str]:
        env = dict(os.environ)
        if self.sanitizer == "asan":
            env["ASAN_OPTIONS"] = ASAN_OPTIONS
        return env

    def wrapper(self) -> list[str]:
        return list(VALGRIND) if self.sanitizer == "valgrind" else []

    def binary(self, name: str) -> Path:
        return self.target_dir / self.triple / "release" / name

    def harness(self, name: str, main_rs: str) -> Path:
        """Builds (or reuses) the harness crate `name` against the crate under test."""
        project = self.target_dir / "harness" / name
        (project / "src").mkdir(parents=True, exist_ok=True)
        tflm = self.crate / "tflm"
        write_if_changed(
            project / "Cargo.toml",
            f'[package]\nname = "{name}"\nversion = "0.0.0"\nedition = "2021"\n\n'
            f'[dependencies]\ntflm = {{ path = "{tflm}", features = ["alloc"] }}\n\n'
            "[profile.release]\ndebug = false\n\n[workspace]\n",
        )
        lock = self.crate / "Cargo.lock"
        if lock.is_file() and not (project / "Cargo.lock").exists():
            shutil.copy(lock, project / "Cargo.lock")  # the crate's own pins (cc, ...)
        write_if_changed(project / "src" / "main.rs", main_rs)
        write_if_changed(project / "src" / "common.rs", RUST_COMMON)
        binary = self.binary(name)
        before = binary.stat().st_mtime_ns if binary.is_file() else None
        cmd = ["cargo", "build", "--release", "--offline", "--target", self.triple]
        cmd += ["--manifest-path", str(project / "Cargo.toml")]
        started = time.monotonic()
        result = subprocess.run(cmd, env=self.cargo_env(), capture_output=True, text=True)
        if result.returncode != 0:
            sys.stderr.write(result.stderr[-8000:])
            raise SystemExit(f"building the {name} harness failed: {' '.join(cmd)}")
        rebuilt = binary.stat().st_mtime_ns != before
        for line in result.stderr.splitlines():
            # cargo repeats a cached build script's warnings: only news when it relinked.
            if "tflm-sys: compiled" in line and rebuilt:
                print(f"[build] {line.strip()}", file=sys.stderr)
        if self.sanitizer == "asan" and rebuilt:
            check_asan_binary(binary)
        print(
            f"[build] {name} ({self.sanitizer}) ready in {time.monotonic() - started:.0f} s: "
            f"{binary}",
            file=sys.stderr,
        )
        return binary


def asan_link_args() -> list[str]:
    """RUSTFLAGS linking gcc's ASan runtime statically into the binary.

    rustc links through gcc with -nodefaultlibs, which drops the libasan that
    `-fsanitize=address` would add; linking libasan.so by hand puts it after libc in the
    library list (ASan refuses to start). The static runtime, whole, with its preinit object,
    is what `gcc -static-libasan` links.
    """
    preinit = subprocess.run(
        ["gcc", "-print-file-name=libasan_preinit.o"], capture_output=True, text=True, check=True
    ).stdout.strip()
    args = ["-C", "link-arg=-fsanitize=address"]
    if Path(preinit).is_file():
        args += ["-C", f"link-arg={preinit}"]
    args += ["-C", "link-arg=-Wl,--whole-archive,-l:libasan.a,--no-whole-archive"]
    for lib in ("dl", "pthread", "rt", "m"):
        args += ["-C", f"link-arg=-l{lib}"]
    return args


def check_asan_binary(binary: Path) -> None:
    """The binary carries the ASan runtime and instrumented TFLM code."""
    nm = subprocess.run(["nm", str(binary)], capture_output=True, text=True, check=True).stdout
    runtime = "__asan_init" in nm
    tflm = "tflm_interpreter_invoke" in nm
    dis = subprocess.run(
        ["objdump", "-d", "--no-show-raw-insn", str(binary)], capture_output=True, text=True
    ).stdout
    checks = len(re.findall(r"call.*<__asan_report_(?:load|store)", dis))
    if not (runtime and tflm and checks > 1000):
        raise SystemExit(
            f"{binary} is not an ASan build (runtime {runtime}, tflm {tflm}, "
            f"{checks} instrumented accesses)"
        )
    print(
        f"[build] {binary.name}: ASan runtime linked, {checks} instrumented call sites",
        file=sys.stderr,
    )


def write_if_changed(path: Path, text: str) -> None:
    if not path.exists() or path.read_text() != text:
        path.write_text(text)


# ---------------------------------------------------------------------------------------------
# Seed models


def pinned_commit(crate: Path) -> str:
    text = (crate / "tflm-sys" / "tflm-sources.txt").read_text()
    found = re.search(r"^# commit ([0-9a-f]{40})", text, re.M)
    if found is None:
        raise SystemExit("tflm-sources.txt names no commit")
    return found.group(1)


def golden_models(golden: Path) -> list[Path]:
    return sorted((golden / "models").glob("*.tflite"))


def upstream_listing(repo: Path, commit: str) -> list[tuple[str, int]]:
    out = subprocess.run(
        ["git", "--git-dir", str(repo), "ls-tree", "-r", "-l", commit],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    found = []
    for line in out.splitlines():
        meta, path = line.split("\t", 1)
        size = meta.split()[3]
        if path.endswith(".tflite") and size.isdigit():
            found.append((path, int(size)))
    return sorted(found)


def sample_upstream(listing: Sequence[tuple[str, int]], per_op: int, max_bytes: int) -> list[str]:
    """Up to `per_op` models of each integration-test op folder (spread over the folder),
    and every other model (examples, models/) up to `max_bytes`; Ethos-U (vela) models need
    an NPU and are left out."""
    groups: dict[str, list[str]] = {}
    chosen: list[str] = []
    for path, size in listing:
        if size > max_bytes or "vela" in path:
            continue
        if "/integration_tests/" in path:
            groups.setdefault(path.rsplit("/", 1)[0], []).append(path)
        else:
            chosen.append(path)
    for paths in groups.values():
        paths.sort(key=lambda p: (len(p), p))  # add0, add1, ..., add10
        step = max(1, len(paths) // per_op)
        chosen += paths[::step][:per_op]
    return sorted(chosen)


def export_upstream(repo: Path, commit: str, paths: Iterable[str], dest: Path) -> list[Path]:
    """Exports `paths` at `commit` from the bare repository (reused when already there)."""
    exported = []
    for path in paths:
        out = dest / path.replace("/", "__")
        if not out.is_file():
            blob = subprocess.run(
                ["git", "--git-dir", str(repo), "show", f"{commit}:{path}"], capture_output=True
            )
            if blob.returncode != 0 or len(blob.stdout) < 8 or blob.stdout[4:8] != b"TFL3":
                continue  # absent from the snapshot, or an LFS pointer
            dest.mkdir(parents=True, exist_ok=True)
            tmp = out.with_suffix(".part")
            tmp.write_bytes(blob.stdout)
            tmp.replace(out)
        exported.append(out)
    return exported


def unique(models: Iterable[Path]) -> list[Path]:
    """Drops models whose bytes an earlier one has (upstream repeats the golden ones)."""
    seen: set[str] = set()
    kept = []
    for m in models:
        digest = hashlib.sha256(m.read_bytes()).hexdigest()
        if digest not in seen:
            seen.add(digest)
            kept.append(m)
    return kept


def add_model_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--crate", type=Path, default=DEFAULT_CRATE)
    parser.add_argument("--golden", type=Path, default=DEFAULT_GOLDEN)
    parser.add_argument("--upstream", type=Path, default=DEFAULT_UPSTREAM, help="bare git repo")
    parser.add_argument(
        "--models-dir",
        type=Path,
        default=None,
        help="where upstream models are exported (default /tmp/bindbot-fuzz-models-COMMIT)",
    )
    parser.add_argument("--sanitizer", choices=SANITIZERS, default="asan", help="default: asan")
    parser.add_argument(
        "--target-dir",
        type=Path,
        default=None,
        help="CARGO_TARGET_DIR (default /tmp/fuzz-asan-target, or /tmp/fuzz-plain-target)",
    )
    parser.add_argument(
        "--cache",
        type=Path,
        default=Path(os.environ.get("BINDBOT_CACHE", "/tmp/bbcache")),
        help="BINDBOT_CACHE holding src/COMMIT (the pinned TFLM sources)",
    )


def make_build(args: argparse.Namespace) -> Build:
    target = args.target_dir or Path(
        "/tmp/fuzz-asan-target" if args.sanitizer == "asan" else "/tmp/fuzz-plain-target"
    )
    return Build(args.sanitizer, args.crate.resolve(), target, args.cache)


def models_dir(args: argparse.Namespace, commit: str) -> Path:
    return args.models_dir or Path(f"/tmp/bindbot-fuzz-models-{commit[:12]}")


# ---------------------------------------------------------------------------------------------
# Describing a model (for --replay): its operators and tensor shapes, read straight from the
# flatbuffer with struct (only what a finding's report needs).

# The schema's TensorType (not TfLiteType: the schema has no NoType).
TENSOR_TYPES = (
    "float32",
    "float16",
    "int32",
    "uint8",
    "int64",
    "string",
    "bool",
    "int16",
    "complex64",
    "int8",
    "float64",
    "complex128",
    "uint64",
    "resource",
    "variant",
    "uint32",
    "uint16",
    "int4",
    "bfloat16",
    "int2",
    "uint4",
    "float8_e4m3fn",
    "float8_e5m2",
)


class _Flat:
    """Bounds-checked reads of flatbuffer tables, vectors and strings."""

    def __init__(self, data: bytes) -> None:
        self.data = data

    def u(self, fmt: str, pos: int) -> int:
        if pos < 0 or pos + struct.calcsize(fmt) > len(self.data):
            raise ValueError(f"read past the buffer at {pos}")
        value: int = struct.unpack_from("<" + fmt, self.data, pos)[0]
        return value

    def root(self) -> int:
        return self.u("I", 0)

    def field(self, table: int, index: int) -> int | None:
        """Where field `index` of the table at `table` is, or None when absent."""
        vtable = table - self.u("i", table)
        slot = 4 + 2 * index
        if slot >= self.u("H", vtable):
            return None
        off = self.u("H", vtable + slot)
        return table + off if off else None

    def scalar(self, table: int, index: int, fmt: str, default: int = 0) -> int:
        at = self.field(table, index)
        return default if at is None else self.u(fmt, at)

    def vector(self, table: int, index: int) -> tuple[int, int]:
        """(start of elements, length) of a vector field; (0, 0) when absent."""
        at = self.field(table, index)
        if at is None:
            return 0, 0
        start = at + self.u("I", at)
        return start + 4, self.u("I", start)

    def tables(self, table: int, index: int) -> list[int]:
        start, n = self.vector(table, index)
        return [start + 4 * k + self.u("I", start + 4 * k) for k in range(n)]

    def ints(self, table: int, index: int, fmt: str = "i") -> list[int]:
        start, n = self.vector(table, index)
        size = struct.calcsize(fmt)
        if n > 1 << 16:
            return [n]  # a mutated length: just say how long
        return [self.u(fmt, start + size * k) for k in range(n)]

    def string(self, table: int, index: int) -> str:
        start, n = self.vector(table, index)
        return self.data[start : start + min(n, 64)].decode(errors="replace") if n else ""


def builtin_names(crate: Path) -> dict[int, str]:
    """TFLite's builtin operator names by code, from the crate's ops.rs."""
    text = (crate / "tflm" / "src" / "ops.rs").read_text()
    body = text[text.find("fn builtin_name") :]
    return {int(c): n for c, n in re.findall(r'^\s+(\d+) => "(\w+)",', body, re.M)}


def describe_model(
    data: bytes, names: dict[int, str], spans: list[tuple[int, int, str]] | None = None
) -> list[str]:
    """One line per operator code, tensor and operator of a (verified) model; `spans` gets
    where buffer data, custom options, shapes and names lie (start, end, what)."""
    fb = _Flat(data)
    out: list[str] = []
    spans = [] if spans is None else spans

    def span(table: int, index: int, size: int, what: str) -> None:
        start, n = fb.vector(table, index)
        if n:
            spans.append((start - 4, start + n * size, what))

    try:
        model = fb.root()
        out.append(f"version {fb.scalar(model, 0, 'I')}")
        codes = []
        for code in fb.tables(model, 1):
            builtin = max(fb.scalar(code, 0, "b"), fb.scalar(code, 3, "i"))
            custom = fb.string(code, 1)
            codes.append(custom or names.get(builtin, f"BUILTIN_{builtin}"))
        out.append("operator codes: " + ", ".join(f"{k}={c}" for k, c in enumerate(codes)))
        buffers = []
        for b, buf in enumerate(fb.tables(model, 4)):
            _, n = fb.vector(buf, 0)
            span(buf, 0, 1, f"buffer {b} data")
            buffers.append(n or fb.scalar(buf, 2, "Q"))
        for s, sub in enumerate(fb.tables(model, 2)):
            out.append(f"subgraph {s}: inputs {fb.ints(sub, 1)} outputs {fb.ints(sub, 2)}")
            for t, tensor in enumerate(fb.tables(sub, 0)):
                span(tensor, 0, 4, f"tensor {t} shape")
                span(tensor, 3, 1, f"tensor {t} name")
                ty = fb.scalar(tensor, 1, "b")
                buf = fb.scalar(tensor, 2, "I")
                data_bytes = buffers[buf] if 0 <= buf < len(buffers) else None
                quant = fb.field(tensor, 4)
                q = ""
                if quant is not None:
                    qt = quant + fb.u("I", quant)
                    scale = len(fb.ints(qt, 2, "f"))
                    zero = len(fb.ints(qt, 3, "q"))
                    dim = fb.scalar(qt, 6, "i")
                    q = f" quant(scales {scale}, zero points {zero}, axis {dim})"
                out.append(
                    f"  tensor {t}: {TENSOR_TYPES[ty] if 0 <= ty < len(TENSOR_TYPES) else ty} "
                    f"shape {fb.ints(tensor, 0)} buffer {buf}"
                    + (f" ({data_bytes} bytes)" if data_bytes else "")
                    + (" variable" if fb.scalar(tensor, 5, "B") else "")
                    + q
                    + f" '{fb.string(tensor, 3)}'"
                )
            for o, op in enumerate(fb.tables(sub, 3)):
                index = fb.scalar(op, 0, "I")
                name = codes[index] if index < len(codes) else f"opcode {index}?"
                _, options = fb.vector(op, 5)
                span(op, 5, 1, f"op {o} {name} custom options")
                span(op, 1, 4, f"op {o} {name} inputs")
                span(op, 2, 4, f"op {o} {name} outputs")
                out.append(
                    f"  op {o}: {name} inputs {fb.ints(op, 1)} outputs {fb.ints(op, 2)} "
                    f"options type {fb.scalar(op, 3, 'B')}"
                    + (f", custom options {options} bytes" if options else "")
                )
    except (ValueError, IndexError, struct.error) as e:
        out.append(f"(unreadable past here: {e})")
    return out


def describe_replay(stderr: str, dump_dir: Path, index: int, crate: Path) -> None:
    """Prints the seed and the replayed input's model, and how they differ."""
    seed = re.search(rf"^input {index}: seed \d+ (\S+)", stderr, re.M)
    mutant = dump_dir / f"input-{index}.tflite"
    if seed is None or not mutant.is_file():
        return
    names = builtin_names(crate)
    base, mutated = Path(seed.group(1)).read_bytes(), mutant.read_bytes()
    changed = [k for k in range(min(len(base), len(mutated))) if base[k] != mutated[k]]
    print(f"\n== input {index}: {mutant} ({len(mutated)} bytes) from {seed.group(1)}")
    print(
        f"   {len(changed)} bytes differ"
        + (f" (first at {changed[0]:#x}, last at {changed[-1]:#x})" if changed else "")
        + (f"; length {len(base)} -> {len(mutated)}" if len(base) != len(mutated) else "")
    )
    spans: list[tuple[int, int, str]] = []
    a, b = describe_model(base, names, spans), describe_model(mutated, names)
    for k in changed[:16]:
        what = next(
            (f"{w} +{k - lo}" for lo, hi, w in spans if lo <= k < hi),
            "flatbuffer structure (a table, vtable or offset)",
        )
        print(f"   byte {k:#x}: {base[k]:#04x} -> {mutated[k]:#04x} in the seed's {what}")
    print("   the mutated model:")
    for line in b:
        print(f"     {line}")
    diff = list(difflib.unified_diff(a, b, "seed", "input", lineterm="", n=0))
    print("   differences from the seed:" if diff else "   no difference the description shows")
    for line in diff[2:]:
        print(f"     {line}")


# ---------------------------------------------------------------------------------------------
# Running and classifying


@dataclass
class Outcome:
    returncode: int
    stdout: str
    stderr: str
    timed_out: bool = False

    @property
    def failed(self) -> bool:
        return self.timed_out or self.returncode != 0


def run(cmd: Sequence[str], env: dict[str, str], timeout: float) -> Outcome:
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout)
    except subprocess.TimeoutExpired as e:

        def text(b: bytes | str | None) -> str:
            return b.decode(errors="replace") if isinstance(b, bytes) else b or ""

        return Outcome(-int(signal.SIGKILL), text(e.stdout), text(e.stderr), timed_out=True)
    return Outcome(r.returncode, r.stdout, r.stderr.replace("\x00", ""))


@dataclass
class Crash:
    """One process death, classified."""

    what: str  # e.g. "ASan heap-buffer-overflow", "SIGSEGV", "timeout", "panic"
    asan_kind: str | None
    detail: str  # the access, or the last stderr line
    frames: list[str]
    context: str = ""  # what the harness said about the input

    def lines(self) -> list[str]:
        out = [f"{self.what}: {self.detail}".rstrip(": ")]
        if self.context:
            out.append(f"  {self.context}")
        out += [f"  {frame}" for frame in self.frames]
        return out


_ASAN_ERROR = re.compile(r"ERROR: AddressSanitizer: (.+)")
_FRAME = re.compile(r"^\s*#(\d+) 0x[0-9a-f]+ in (.+?)(?: \((/[^)]*)\))?\s*$")
_VG_ERROR = re.compile(
    r"^==\d+== (Invalid .+|Conditional jump .+|Use of uninitialised .+|"
    r"Mismatched .+|Syscall param .+|Source and destination .+)$"
)
_VG_FRAME = re.compile(r"^==\d+==\s+(?:at|by) 0x[0-9A-F]+: (.+)$")


def _short(frame: str) -> str:
    frame = re.sub(r"::h[0-9a-f]{16}\b", "", frame)
    return frame if len(frame) <= 150 else frame[:147] + "..."


def classify(outcome: Outcome, frames: int = 6) -> Crash:
    err = outcome.stderr
    context = "; ".join(ln for ln in err.splitlines() if ln.startswith(("input ", "size ")))[:300]
    m = _ASAN_ERROR.search(err)
    if m:
        kind = re.split(r" on (?:unknown )?address| on | \(", m.group(1))[0].strip()
        address = re.search(r" on (?:unknown )?address (0x[0-9a-f]+)", m.group(1))
        rest = err[m.end() :]
        access = re.search(r"^(READ|WRITE) of size \d+.*?(?= thread|$)", rest, re.M)
        cause = re.search(r"The signal is caused by a (\w+) memory access", rest)
        hint = re.search(r"^Hint: (.*)$", rest, re.M)
        located = re.findall(r"^0x[0-9a-f]+ is located (\d+) (bytes .*)$", rest, re.M)
        where = min(located, key=lambda x: int(x[0]), default=None)  # the nearest object
        if access:
            detail = access.group(0)
        elif cause:
            detail = f"{cause.group(1)} of {address.group(1) if address else '?'}"
        else:
            detail = ""
        if hint:
            detail += f" ({hint.group(1)})"
        if where:
            detail += f"; {where[0]} {where[1]}"
        stack = []
        for line in rest.splitlines():
            f = _FRAME.match(line)
            if f:
                stack.append(f"#{f.group(1)} {_short(f.group(2))}")
            elif stack:
                break  # the first stack only (not "allocated by")
        # Frames below the safe API's entry are the harness (and, without symbols for its
        # inlined main, misattributed): stop at the first `tflm::` frame.
        entry = next((k for k, f in enumerate(stack) if re.match(r"#\d+ tflm::", f)), None)
        if entry is not None:
            stack = stack[: entry + 1]
        if kind == "ABRT":  # an abort (TFLM assertion), with ASan's stack trace
            said = [
                ln
                for ln in err[: m.start()].splitlines()
                if ln.strip() and "==" not in ln and "AddressSanitizer" not in ln
            ]
            last = said[-1][:200] if said and not said[-1].startswith("input ") else ""
            libc = re.compile(r"#\d+ (__GI_)*_*(pthread_kill|raise|abort|assert)")
            while len(stack) > 1 and libc.match(stack[0]):
                stack.pop(0)
            return Crash("SIGABRT", None, last, stack[:frames], context)
        return Crash(f"ASan {kind}", kind, detail, stack[:frames], context)
    vg = [ln for ln in err.splitlines() if _VG_ERROR.match(ln)]
    if vg and outcome.returncode == 99:
        lines = err.splitlines()
        first = lines.index(vg[0])
        stack = []
        for line in lines[first + 1 :]:
            f = _VG_FRAME.match(line)
            if not f:
                break
            stack.append(_short(f.group(1)))
        return Crash("valgrind", None, vg[0].split(" ", 1)[1], stack[:frames], context)
    tail = [ln for ln in err.splitlines() if ln.strip() and not ln.startswith("input ")]
    last = tail[-1][:200] if tail else ""
    if outcome.timed_out:
        return Crash("timeout", None, last, [], context)
    if outcome.returncode == 101 or "panicked at" in err:
        panic = next((ln for ln in tail if "panicked at" in ln), last)
        idx = tail.index(panic) if panic in tail else -1
        message = tail[idx + 1][:200] if 0 <= idx < len(tail) - 1 else ""
        return Crash("panic", None, f"{panic} {message}".strip(), [], context)
    name = SIGNALS.get(outcome.returncode, f"exit {outcome.returncode}")
    return Crash(name, None, last, [], context)


# ---------------------------------------------------------------------------------------------
# The fuzz loop


@dataclass
class ChunkResult:
    totals: Counter[str] = field(default_factory=Counter)
    crashes: list[tuple[int, Crash]] = field(default_factory=list)
    findings: list[tuple[int, str]] = field(default_factory=list)
    processes: int = 0

    def merge(self, other: ChunkResult) -> None:
        self.totals.update(other.totals)
        self.crashes += other.crashes
        self.findings += other.findings
        self.processes += other.processes


def parse_output(stdout: str, result: ChunkResult) -> bool:
    """Adds a finished run's counts and findings; False when the totals line is missing."""
    done = False
    for line in stdout.splitlines():
        if line.startswith("totals"):
            for item in line.split()[1:]:
                key, value = item.split("=")
                result.totals[key] += int(value)
            done = True
        elif line.startswith("finding "):
            _, index, text = line.split(" ", 2)
            result.findings.append((int(index), text))
    return done


class Fuzzer:
    def __init__(
        self,
        binary: Path,
        build: Build,
        seed: int,
        arena: tuple[int, int],
        models: Sequence[Path],
        per_input_timeout: float,
    ) -> None:
        self.binary = binary
        self.build = build
        self.seed = seed
        self.arena = arena
        self.models = [str(m) for m in models]
        self.per_input_timeout = per_input_timeout

    def command(self, start: int, count: int) -> list[str]:
        return [
            *self.build.wrapper(),
            str(self.binary),
            str(start),
            str(count),
            str(self.seed),
            str(self.arena[0]),
            str(self.arena[1]),
            *self.models,
        ]

    def run(self, start: int, count: int, verbose: bool = False) -> Outcome:
        env = self.build.run_env()
        if verbose:
            env["FUZZ_VERBOSE"] = "1"
        timeout = 30 + count * self.per_input_timeout
        return run(self.command(start, count), env, timeout)

    def chunk(self, start: int, count: int) -> ChunkResult:
        """Runs inputs [start, start+count), bisecting a dying process to its input."""
        result = ChunkResult()
        outcome = self.run(start, count)
        result.processes += 1
        if not outcome.failed and parse_output(outcome.stdout, result):
            return result
        if count == 1:
            crash = classify(self.run(start, 1, verbose=True))
            result.processes += 1
            result.crashes.append((start, crash))
            result.totals["inputs"] += 1
            return result
        half = count // 2
        result.merge(self.chunk(start, half))
        result.merge(self.chunk(start + half, count - half))
        return result


def fuzz(
    fuzzer: Fuzzer, iterations: int, chunk: int, jobs: int, progress: Callable[[str], None]
) -> ChunkResult:
    total = ChunkResult()
    starts = list(range(0, iterations, chunk))
    with concurrent.futures.ThreadPoolExecutor(max_workers=jobs) as pool:
        futures = {pool.submit(fuzzer.chunk, s, min(chunk, iterations - s)): s for s in starts}
        for done, future in enumerate(concurrent.futures.as_completed(futures), 1):
            total.merge(future.result())
            if done % max(1, len(starts) // 20) == 0 or done == len(starts):
                progress(
                    f"[fuzz] {done}/{len(starts)} chunks, {total.totals['inputs']} inputs, "
                    f"{len(total.crashes)} crashes, {len(total.findings)} findings"
                )
    return total


def _counts(t: Counter[str], prefix: str) -> dict[str, int]:
    """The totals whose key starts with `prefix`, by the rest of the key, largest first."""
    found = {k[len(prefix) :]: n for k, n in t.items() if k.startswith(prefix) and n}
    return dict(sorted(found.items(), key=lambda kv: (-kv[1], kv[0])))


def _listed(counts: dict[str, int]) -> str:
    return ", ".join(f"{k} {n}" for k, n in counts.items()) or "none"


def print_summary(result: ChunkResult, wall: float, models: int) -> None:
    t = result.totals
    asan = [c for _, c in result.crashes if c.asan_kind]
    rejected = _counts(t, "model_")
    build = _counts(t, "build_")
    invoke = _counts(t, "invoke_")
    invoke_ok = invoke.pop("ok", 0)
    reset = _counts(t, "reset_")
    checks = build.get("kernel_check", 0) + invoke.get("kernel_check", 0)
    print()
    print(f"seed models:          {models}")
    print(f"total inputs:         {t['inputs']}")
    print(f"verified models:      {t['verified']} (rejected: {_listed(rejected)})")
    print(f"interpreters built:   {t['built']}")
    print(f"  build errors:       {_listed(build)}")
    print(
        f"inputs filled:        {t['inputs_filled']} typed, {t['inputs_filled_bytes']} as bytes "
        f"(read-only {t['inputs_read_only']}, skipped {t['inputs_skipped']})"
    )
    print(f"invokes ok:           {invoke_ok}")
    print(f"  invoke errors:      {_listed(invoke)}")
    print(f"resets ok:            {t['resets']} (errors: {_listed(reset)})")
    print(
        f"KernelCheck:          {checks} contained (build {build.get('kernel_check', 0)}, "
        f"invoke {invoke.get('kernel_check', 0)}); Stopped after it: "
        f"invoke {invoke.get('stopped', 0)}, reset {reset.get('stopped', 0)}"
    )
    print(f"TFLM log messages:    {t['log_messages']}")
    print(f"crashes:              {len(result.crashes)}")
    print(f"ASan findings:        {len(asan)}")
    print(f"harness findings:     {len(result.findings)}")
    print(f"processes:            {result.processes}")
    print(f"wall time:            {wall:.1f} s")
    if result.crashes:
        kinds = Counter(c.what for _, c in result.crashes)
        print("\ncrashes by kind: " + ", ".join(f"{k} x{n}" for k, n in kinds.most_common()))
        for index, crash in sorted(result.crashes, key=lambda x: x[0]):
            lines = crash.lines()
            print(f"  input {index}: {lines[0]}")
            for line in lines[1:]:
                print(f"    {line}")
    if result.findings:
        kinds = Counter(text.split(":", 1)[0] for _, text in result.findings)
        print("\nharness findings: " + ", ".join(f"{k} x{n}" for k, n in kinds.most_common()))
        for index, text in sorted(result.findings)[:50]:
            print(f"  input {index}: {text}")
        if len(result.findings) > 50:
            print(f"  ... and {len(result.findings) - 50} more")


def seed_models(args: argparse.Namespace, commit: str, per_op: int) -> list[Path]:
    models = golden_models(args.golden)
    if args.upstream.exists():
        listing = upstream_listing(args.upstream, commit)
        paths = sample_upstream(listing, per_op=per_op, max_bytes=args.max_model_bytes)
        models += export_upstream(args.upstream, commit, paths, models_dir(args, commit))
    else:
        print(
            f"[fuzz] no upstream repository at {args.upstream}: golden models only", file=sys.stderr
        )
    return unique(models)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=(__doc__ or "").splitlines()[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="\n".join((__doc__ or "").splitlines()[1:]),
    )
    add_model_arguments(parser)
    parser.add_argument("--iterations", type=int, default=100000)
    parser.add_argument("--seed", type=int, default=20261123)
    parser.add_argument(
        "--chunk", type=int, default=None, help="inputs per process (default 500, valgrind 25)"
    )
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--arena-min", type=int, default=1024)
    parser.add_argument("--arena-max", type=int, default=400 * 1024)
    parser.add_argument(
        "--per-op", type=int, default=4, help="upstream integration-test models per op folder"
    )
    parser.add_argument("--max-model-bytes", type=int, default=1 << 20)
    parser.add_argument(
        "--timeout",
        type=float,
        default=None,
        help="seconds per input before a chunk counts as hung (default 2, valgrind 60)",
    )
    parser.add_argument(
        "--replay",
        type=int,
        metavar="INDEX",
        help="run one input, verbose, and show its whole stderr",
    )
    parser.add_argument("--dump-dir", type=Path, help="with --replay: keep the mutated model")
    args = parser.parse_args()
    started = time.monotonic()
    build = make_build(args)
    commit = pinned_commit(build.crate)
    models = seed_models(args, commit, args.per_op)
    binary = build.harness("fuzz-models", RUST_FUZZ)
    valgrind = args.sanitizer == "valgrind"
    fuzzer = Fuzzer(
        binary,
        build,
        args.seed,
        (args.arena_min, args.arena_max),
        models,
        args.timeout or (60.0 if valgrind else 2.0),
    )
    print(
        f"[fuzz] {len(models)} seed models (commit {commit[:12]}), sanitizer {args.sanitizer}",
        file=sys.stderr,
    )
    if args.replay is not None:
        env = build.run_env()
        env["FUZZ_VERBOSE"] = "1"
        if args.dump_dir:
            args.dump_dir.mkdir(parents=True, exist_ok=True)
            env["FUZZ_DUMP_DIR"] = str(args.dump_dir)
        cmd = fuzzer.command(args.replay, 1)
        print("$ " + " ".join(cmd[:6]) + " MODELS...", file=sys.stderr)
        outcome = run(cmd, env, 600)
        sys.stdout.write(outcome.stdout)
        sys.stderr.write(outcome.stderr)
        if outcome.failed:
            print("\n" + "\n".join(classify(outcome).lines()))
        if args.dump_dir:
            describe_replay(outcome.stderr, args.dump_dir, args.replay, build.crate)
        return 1 if outcome.failed or "finding " in outcome.stdout else 0
    chunk = args.chunk or (25 if valgrind else 500)

    def progress(text: str) -> None:
        print(f"{text} ({time.monotonic() - started:.0f} s)", file=sys.stderr)

    fuzz_start = time.monotonic()
    result = fuzz(fuzzer, args.iterations, chunk, max(1, args.jobs), progress)
    print_summary(result, time.monotonic() - fuzz_start, len(models))
    print(
        f"(total with build and export: {time.monotonic() - started:.1f} s; "
        f"replay one input: {sys.argv[0]} --sanitizer {args.sanitizer} --seed {args.seed} "
        f"--replay INDEX)"
    )
    return 1 if result.crashes or result.findings else 0


if __name__ == "__main__":
    sys.exit(main())
