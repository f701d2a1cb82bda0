//! The operators an interpreter may use.

use core::ffi::CStr;

use tflm_sys as sys;

use crate::kernel::{Kernel, KernelFns};
use crate::{BuiltinOperator, Error, MissingOps, Model, Op, OpCode, OpName, OP_RESOLVER_CAPACITY};

/// Registers one of TFLM's kernels with a C++ resolver (a shim function).
pub(crate) type Register = unsafe extern "C" fn(*mut sys::tflm_op_resolver) -> sys::TfLiteStatus;

/// The builtin code TFLM gives custom operators.
const CUSTOM: i32 = 32;

#[derive(Clone, Copy)]
enum Entry {
    /// One of TFLM's kernels.
    Tflm(Op, Register),
    /// A kernel written in Rust, for a builtin code or a custom name.
    Rust {
        builtin: i32,
        name: Option<&'static CStr>,
        fns: KernelFns,
    },
}

impl Entry {
    /// The builtin code and custom name TFLM finds this entry by.
    fn key(&self) -> (i32, Option<&[u8]>) {
        match self {
            Entry::Tflm(op, _) => match op.code() {
                Some(OpCode::Builtin(code)) => (code.0, None),
                Some(OpCode::Custom(name)) => (CUSTOM, Some(name.as_bytes())),
                None => (-1, None),
            },
            Entry::Rust { builtin, name, .. } => (*builtin, name.map(CStr::to_bytes)),
        }
    }
}

/// The operators an interpreter may use: TFLM's kernels ([`Op`]) and kernels written in
/// Rust ([`Kernel`]), at most `N` of them (32 by default).
///
/// Add exactly the ones the model needs: each of TFLM's costs flash for its kernel. The
/// `add_*` methods reference only their own kernel, so the linker keeps just the kernels a
/// program adds; [`OpResolver::add`] with an [`Op`] chosen at run time links every kernel.
///
/// `N` only sizes this value (16 bytes per operator): the C++ resolver built inside the
/// interpreter's arena by [`MicroInterpreter::new`](crate::MicroInterpreter::new) holds
/// exactly the operators added, so it can never move while TFLM points at it.
///
/// ```
/// // Room for 4 operators.
/// let mut resolver = tflm::OpResolver::<4>::with_capacity();
/// assert_eq!(resolver.capacity(), 4);
/// ```
#[derive(Clone)]
pub struct OpResolver<const N: usize = OP_RESOLVER_CAPACITY> {
    entries: [Option<Entry>; N],
    len: usize,
}

impl Default for OpResolver {
    fn default() -> Self {
        Self::new()
    }
}

impl OpResolver {
    /// An empty resolver with room for [`OP_RESOLVER_CAPACITY`] operators.
    pub const fn new() -> Self {
        Self::with_capacity()
    }

    /// A resolver with exactly the operators `model` uses (room for
    /// [`OP_RESOLVER_CAPACITY`]; [`OpResolver::add_ops_of`] fills a resolver of any size).
    ///
    /// # Errors
    ///
    /// As [`OpResolver::add_ops_of`].
    pub fn for_model(model: &Model<'_>) -> Result<Self, Error> {
        let mut resolver = OpResolver::new();
        resolver.add_ops_of(model)?;
        Ok(resolver)
    }
}

impl<const N: usize> OpResolver<N> {
    /// An empty resolver with room for `N` operators.
    pub const fn with_capacity() -> Self {
        OpResolver {
            entries: [None; N],
            len: 0,
        }
    }

    /// How many operators it can hold.
    pub const fn capacity(&self) -> usize {
        N
    }

    /// How many operators it holds.
    pub const fn len(&self) -> usize {
        self.len
    }

    /// Whether it holds none.
    pub const fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Adds one of TFLM's kernels.
    ///
    /// # Errors
    ///
    /// [`Error::DuplicateOp`] if it was added before (the resolver is unchanged),
    /// [`Error::ResolverFull`] when it holds `N` operators.
    pub fn add(&mut self, op: Op) -> Result<&mut Self, Error> {
        self.push_tflm(op, op.registration())
    }

    /// Adds TFLM's kernel `op`, registered by `register` (each `add_*` method names its own
    /// shim function, so only the kernels a program adds are linked).
    pub(crate) fn push_tflm(&mut self, op: Op, register: Register) -> Result<&mut Self, Error> {
        self.push(Entry::Tflm(op, register))
    }

    /// Adds TFLM's kernel for every operator `model` uses that the resolver lacks (kernels
    /// added before, TFLM's or Rust ones, are kept).
    ///
    /// # Errors
    ///
    /// [`Error::MissingOps`] naming every operator this build of the crate has no kernel
    /// for (an `op-*` feature off, or a custom operator no kernel was added for);
    /// [`Error::ResolverFull`] when the model uses more than `N`.
    pub fn add_ops_of(&mut self, model: &Model<'_>) -> Result<&mut Self, Error> {
        let mut missing = MissingOps::none();
        for code in model.operators() {
            if self.has_code(code) {
                continue;
            }
            match Op::for_code(code) {
                Some(op) => {
                    self.add(op)?;
                }
                None => missing.record_code(code),
            }
        }
        if missing.is_empty() {
            Ok(self)
        } else {
            Err(Error::MissingOps(missing))
        }
    }

    /// Adds the kernel for an operator code (a builtin code, or a custom name TFLM's own
    /// kernels register under, such as `TFLite_Detection_PostProcess`).
    ///
    /// # Errors
    ///
    /// [`Error::MissingOps`] when this build of the crate has no kernel for it, else as
    /// [`OpResolver::add`].
    pub fn add_code(&mut self, code: OpCode<'_>) -> Result<&mut Self, Error> {
        match Op::for_code(code) {
            Some(op) => self.add(op),
            None => {
                let mut missing = MissingOps::none();
                missing.record_code(code);
                Err(Error::MissingOps(missing))
            }
        }
    }

    /// Adds kernel `K` for the custom operator `name` (the operator code's `custom_code`
    /// in the model).
    ///
    /// # Errors
    ///
    /// [`Error::DuplicateKernel`] when the resolver has a kernel for that name already,
    /// [`Error::ResolverFull`] when it holds `N` operators, [`Error::Unsupported`] when
    /// this TFLM cannot host Rust kernels.
    pub fn add_custom<K: Kernel>(&mut self, name: &'static CStr) -> Result<&mut Self, Error> {
        self.push(Entry::Rust {
            builtin: CUSTOM,
            name: Some(name),
            fns: KernelFns::of::<K>(),
        })
    }

    /// Adds kernel `K` in place of TFLM's kernel for the builtin operator `op` (which must
    /// then not be added as an [`Op`]). The operator's builtin options are not parsed for
    /// it: `K` gets empty options.
    ///
    /// # Errors
    ///
    /// As [`OpResolver::add_custom`]; [`Error::Unsupported`] also for the custom code (32).
    pub fn add_builtin_kernel<K: Kernel>(&mut self, op: BuiltinOperator) -> Result<&mut Self, Error> {
        if op.0 == CUSTOM || op.0 < 0 {
            return Err(Error::Unsupported {
                what: "a builtin kernel for the custom operator code",
            });
        }
        self.push(Entry::Rust {
            builtin: op.0,
            name: None,
            fns: KernelFns::of::<K>(),
        })
    }

    /// TFLM's kernels added so far, in order.
    pub fn ops(&self) -> impl Iterator<Item = Op> + '_ {
        self.entries().filter_map(|entry| match entry {
            Entry::Tflm(op, _) => Some(*op),
            Entry::Rust { .. } => None,
        })
    }

    fn entries(&self) -> impl Iterator<Item = &Entry> + '_ {
        self.entries[..self.len].iter().flatten()
    }

    fn has_code(&self, code: OpCode<'_>) -> bool {
        let key = match code {
            OpCode::Builtin(op) => (op.0, None),
            OpCode::Custom(name) => (CUSTOM, Some(name.as_bytes())),
        };
        self.entries().any(|entry| entry.key() == key)
    }

    fn push(&mut self, entry: Entry) -> Result<&mut Self, Error> {
        if let Entry::Tflm(op, _) = entry {
            if self.ops().any(|added| added == op) {
                return Err(Error::DuplicateOp(op));
            }
        }
        let key = entry.key();
        if key.0 >= 0 && self.entries().any(|other| other.key() == key) {
            let name = match key {
                (_, Some(name)) => OpName::new(name),
                (code, None) => OpName::new(
                    BuiltinOperator(code).name().unwrap_or("builtin").as_bytes(),
                ),
            };
            return Err(Error::DuplicateKernel { op: name });
        }
        if matches!(entry, Entry::Rust { .. })
            // SAFETY: a plain function returning a constant.
            && unsafe { sys::tflm_kernels_supported() } == 0
        {
            return Err(Error::Unsupported {
                what: "kernels written in Rust (this TFLM's interpreter cannot host them)",
            });
        }
        if self.len == N {
            return Err(Error::ResolverFull { capacity: N });
        }
        self.entries[self.len] = Some(entry);
        self.len += 1;
        Ok(self)
    }

    /// Adds every operator to the C++ resolver `raw` (built for `self.len()` operators).
    ///
    /// # Safety
    ///
    /// `raw` is a live resolver nothing else uses during the call, with room for them.
    pub(crate) unsafe fn register(&self, raw: *mut sys::tflm_op_resolver) -> Result<(), Error> {
        for entry in self.entries() {
            let status = match *entry {
                // SAFETY: the caller's contract; each shim function only adds its kernel.
                Entry::Tflm(_, register) => unsafe { register(raw) },
                // SAFETY: as above; the name is 'static, and the functions are KernelFns::of
                // for the kernel type, whose state they alone create and drop.
                Entry::Rust { builtin, name, fns } => unsafe {
                    sys::tflm_op_resolver_add_kernel(
                        raw,
                        builtin,
                        name.map_or(core::ptr::null(), CStr::as_ptr),
                        Some(fns.init),
                        Some(fns.free),
                        Some(fns.prepare),
                        Some(fns.invoke),
                    )
                },
            };
            if status != sys::TfLiteStatus_kTfLiteOk {
                return Err(Error::Failed {
                    call: "op resolver registration",
                    status: status as i32,
                });
            }
        }
        Ok(())
    }
}
