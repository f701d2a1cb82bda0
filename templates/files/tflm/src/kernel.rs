//! Operator kernels written in Rust, registered with an [`OpResolver`](crate::OpResolver)
//! under a custom operator's name or in place of a builtin's kernel.
//!
//! TFLM calls a kernel as it calls its own: [`Kernel::init`] once per operator of the model
//! (with the operator's custom options), [`Kernel::prepare`] while the interpreter is built,
//! and [`Kernel::invoke`] on every [`MicroInterpreter::invoke`](crate::MicroInterpreter::invoke).
//! The kernel's value lives in the interpreter's arena and is dropped with the interpreter.
//!
//! What the crate guarantees a kernel: inputs and outputs are distinct tensors whose data
//! does not overlap (checked before every call), outputs are in the arena (never in the
//! read-only model bytes), and typed views are checked for type, size and alignment.
//!
//! A panic in a kernel aborts the program: TFLM's C++ frames cannot be unwound through.

use core::ffi::{c_char, c_void};
use core::fmt;
use core::marker::PhantomData;
use core::mem::{align_of, size_of};
use core::ptr::NonNull;

use tflm_sys as sys;

use crate::{Element, Quantization, TensorType};

/// Whether this build of TFLM can host kernels written in Rust (its interpreter has the
/// profiler, allocator and graph interfaces the crate reaches them through).
pub fn supported() -> bool {
    // SAFETY: a plain function returning a constant.
    unsafe { sys::tflm_kernels_supported() != 0 }
}

/// Why a kernel refused to run; TFLM then reports the operator's Prepare or Invoke as
/// failed ([`Error::Prepare`](crate::Error::Prepare) or [`Error::Invoke`](crate::Error::Invoke),
/// naming the operator and node).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum KernelError {
    /// The operator has no input or output of that index.
    NoSuchTensor {
        /// The index asked for.
        index: usize,
    },
    /// The tensor holds another element type than the one asked for.
    TypeMismatch {
        /// The type asked for.
        expected: TensorType,
        /// The tensor's type.
        found: TensorType,
    },
    /// The tensor's data is not available yet (while preparing, only constant tensors have
    /// data), or its bytes are not valid values of the element type.
    NoData,
    /// The kernel does not support the operator's shapes, types or options.
    Unsupported,
}

impl fmt::Display for KernelError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KernelError::NoSuchTensor { index } => write!(f, "the operator has no tensor {index}"),
            KernelError::TypeMismatch { expected, found } => {
                write!(f, "expected a {expected:?} tensor, found {found:?}")
            }
            KernelError::NoData => f.write_str("the tensor's data is not available"),
            KernelError::Unsupported => f.write_str("the kernel does not support this operator"),
        }
    }
}

impl core::error::Error for KernelError {}

/// An operator kernel.
///
/// ```
/// use tflm::kernel::{Inputs, Kernel, KernelError, Outputs};
///
/// /// ReLU on float tensors.
/// struct Relu;
///
/// impl Kernel for Relu {
///     fn init(_options: &[u8]) -> Result<Self, KernelError> {
///         Ok(Relu)
///     }
///
///     fn invoke(&mut self, inputs: &Inputs<'_>, outputs: &mut Outputs<'_>) -> Result<(), KernelError> {
///         let input = inputs.get(0)?.data::<f32>()?;
///         let mut output = outputs.get_mut(0)?;
///         let output = output.data_mut::<f32>()?;
///         if input.len() != output.len() {
///             return Err(KernelError::Unsupported);
///         }
///         for (y, &x) in output.iter_mut().zip(input) {
///             *y = x.max(0.0);
///         }
///         Ok(())
///     }
/// }
/// ```
pub trait Kernel: Sized + Send + 'static {
    /// Builds the kernel's state for one operator of the model, from its custom options
    /// (empty for a kernel that replaces a builtin: builtin options are not parsed for it).
    ///
    /// # Errors
    ///
    /// Any [`KernelError`]: the interpreter then fails to build, naming the operator.
    fn init(options: &[u8]) -> Result<Self, KernelError>;

    /// Checks the operator's tensors (types, shapes, constant data) once, while the
    /// interpreter is built.
    ///
    /// # Errors
    ///
    /// Any [`KernelError`]: [`MicroInterpreter::new`](crate::MicroInterpreter::new) then
    /// returns [`Error::Prepare`](crate::Error::Prepare).
    fn prepare(&mut self, inputs: &Inputs<'_>, outputs: &Outputs<'_>) -> Result<(), KernelError> {
        let _ = (inputs, outputs);
        Ok(())
    }

    /// Computes the outputs from the inputs.
    ///
    /// # Errors
    ///
    /// Any [`KernelError`]: [`MicroInterpreter::invoke`](crate::MicroInterpreter::invoke)
    /// then returns [`Error::Invoke`](crate::Error::Invoke).
    fn invoke(&mut self, inputs: &Inputs<'_>, outputs: &mut Outputs<'_>) -> Result<(), KernelError>;
}

/// The C entry points TFLM calls for kernel `K`, one set per kernel type.
#[derive(Clone, Copy)]
pub(crate) struct KernelFns {
    pub(crate) init: unsafe extern "C" fn(*mut sys::TfLiteContext, *const c_char, usize) -> *mut c_void,
    pub(crate) free: unsafe extern "C" fn(*mut sys::TfLiteContext, *mut c_void),
    pub(crate) prepare: unsafe extern "C" fn(*mut sys::TfLiteContext, *mut sys::TfLiteNode) -> sys::TfLiteStatus,
    pub(crate) invoke: unsafe extern "C" fn(*mut sys::TfLiteContext, *mut sys::TfLiteNode) -> sys::TfLiteStatus,
}

impl KernelFns {
    pub(crate) fn of<K: Kernel>() -> Self {
        KernelFns {
            init: init::<K>,
            free: free::<K>,
            prepare: prepare::<K>,
            invoke: invoke::<K>,
        }
    }
}

const OK: sys::TfLiteStatus = sys::TfLiteStatus_kTfLiteOk;
const ERROR: sys::TfLiteStatus = sys::TfLiteStatus_kTfLiteError;

unsafe extern "C" fn init<K: Kernel>(
    context: *mut sys::TfLiteContext,
    buffer: *const c_char,
    length: usize,
) -> *mut c_void {
    let options: &[u8] = if buffer.is_null() || length == 0 {
        &[]
    } else {
        // SAFETY: TFLM passes the operator's custom options: `length` bytes in the model,
        // which outlives this call.
        unsafe { core::slice::from_raw_parts(buffer.cast::<u8>(), length) }
    };
    let Ok(state) = K::init(options) else {
        return core::ptr::null_mut();
    };
    let memory = if size_of::<K>() == 0 {
        NonNull::<K>::dangling().as_ptr()
    } else {
        // SAFETY: `context` is the interpreter's context during init; the shim returns NULL
        // (never leaves the call) when the arena is full.
        unsafe { sys::tflm_kernel_allocate(context, size_of::<K>(), align_of::<K>()) }.cast::<K>()
    };
    if memory.is_null() {
        return core::ptr::null_mut();
    }
    // SAFETY: `memory` is aligned for K and has room for one (or K is zero-sized), in the
    // arena the interpreter owns for its whole life; nothing else uses it.
    unsafe { memory.write(state) };
    memory.cast()
}

unsafe extern "C" fn free<K: Kernel>(_context: *mut sys::TfLiteContext, buffer: *mut c_void) {
    if !buffer.is_null() {
        // SAFETY: a non-null buffer is the K `init` wrote, dropped once, as the interpreter
        // goes (TFLM calls free once per operator).
        unsafe { core::ptr::drop_in_place(buffer.cast::<K>()) };
    }
}

/// The kernel state TFLM keeps for `node`, or None when init failed.
///
/// # Safety
///
/// `node` is the node TFLM is preparing or invoking with kernel K.
unsafe fn state<'n, K: Kernel>(node: *mut sys::TfLiteNode) -> Option<&'n mut K> {
    // SAFETY: the caller's contract; user_data is what `init::<K>` returned, and TFLM runs
    // one kernel call at a time, so this is the only reference for the call.
    unsafe { (*node).user_data.cast::<K>().as_mut() }
}

unsafe extern "C" fn prepare<K: Kernel>(
    context: *mut sys::TfLiteContext,
    node: *mut sys::TfLiteNode,
) -> sys::TfLiteStatus {
    // SAFETY: TFLM prepares `node` with this kernel.
    let Some(kernel) = (unsafe { state::<K>(node) }) else {
        return ERROR;
    };
    let (inputs, outputs) = (Inputs::new(context, node), Outputs::new(context, node));
    match kernel.prepare(&inputs, &outputs) {
        Ok(()) => OK,
        Err(_) => ERROR,
    }
}

unsafe extern "C" fn invoke<K: Kernel>(
    context: *mut sys::TfLiteContext,
    node: *mut sys::TfLiteNode,
) -> sys::TfLiteStatus {
    // SAFETY: TFLM invokes `node` with this kernel.
    let Some(kernel) = (unsafe { state::<K>(node) }) else {
        return ERROR;
    };
    let inputs = Inputs::new(context, node);
    let mut outputs = Outputs::new(context, node);
    if !outputs.disjoint(&inputs) {
        return ERROR;
    }
    match kernel.invoke(&inputs, &mut outputs) {
        Ok(()) => OK,
        Err(_) => ERROR,
    }
}

/// The tensors of one side (inputs or outputs) of the node being run.
#[derive(Clone, Copy)]
struct Side {
    context: *mut sys::TfLiteContext,
    node: *mut sys::TfLiteNode,
    output: bool,
}

impl Side {
    fn len(&self) -> usize {
        // SAFETY: `node` is the node TFLM is running, for the call's duration.
        unsafe {
            if self.output {
                sys::tflm_kernel_outputs(self.node)
            } else {
                sys::tflm_kernel_inputs(self.node)
            }
        }
    }

    fn tensor(&self, index: usize) -> Result<sys::tflm_kernel_tensor, KernelError> {
        // SAFETY: an all-zero tflm_kernel_tensor is valid (null pointers, zero sizes).
        let mut raw: sys::tflm_kernel_tensor = unsafe { core::mem::zeroed() };
        // SAFETY: context and node are TFLM's for the call; the shim range-checks index.
        let found = unsafe {
            sys::tflm_kernel_tensor_at(self.context, self.node, i32::from(self.output), index, &mut raw)
        };
        if found == 0 {
            return Err(KernelError::NoSuchTensor { index });
        }
        Ok(raw)
    }

    /// The byte ranges of this side's tensors that have data.
    fn ranges(&self) -> impl Iterator<Item = (usize, usize)> + '_ {
        (0..self.len()).filter_map(move |i| {
            let t = self.tensor(i).ok()?;
            (!t.data.is_null() && t.bytes != 0).then_some((t.data as usize, t.bytes))
        })
    }
}

/// `new`, `len` and `is_empty` of [`Inputs`] and [`Outputs`], which differ only in the
/// side of the node they count.
macro_rules! node_side {
    ($ty:ident, $output:literal, $len_doc:literal) => {
        fn new(context: *mut sys::TfLiteContext, node: *mut sys::TfLiteNode) -> Self {
            $ty {
                side: Side {
                    context,
                    node,
                    output: $output,
                },
                _node: PhantomData,
            }
        }

        #[doc = $len_doc]
        pub fn len(&self) -> usize {
            self.side.len()
        }

        /// Whether it has none.
        pub fn is_empty(&self) -> bool {
            self.len() == 0
        }
    };
}

/// The inputs of the operator a [`Kernel`] runs.
pub struct Inputs<'n> {
    side: Side,
    _node: PhantomData<&'n ()>,
}

impl<'n> Inputs<'n> {
    node_side!(
        Inputs,
        false,
        "How many inputs the operator has (absent optional inputs included)."
    );

    /// Input `index`.
    ///
    /// # Errors
    ///
    /// [`KernelError::NoSuchTensor`] past the last input, or for an absent optional one.
    pub fn get(&self, index: usize) -> Result<Input<'_>, KernelError> {
        Ok(Input {
            raw: self.side.tensor(index)?,
            _node: PhantomData,
        })
    }
}

/// The outputs of the operator a [`Kernel`] runs.
pub struct Outputs<'n> {
    side: Side,
    _node: PhantomData<&'n mut ()>,
}

impl<'n> Outputs<'n> {
    node_side!(Outputs, true, "How many outputs the operator has.");

    /// Output `index`, to read its shape and type.
    ///
    /// # Errors
    ///
    /// [`KernelError::NoSuchTensor`] past the last output.
    pub fn get(&self, index: usize) -> Result<Input<'_>, KernelError> {
        let raw = self.side.tensor(index)?;
        Ok(Input {
            // Through a shared view an output's data cannot be read before it is written.
            raw: sys::tflm_kernel_tensor {
                data: core::ptr::null_mut(),
                ..raw
            },
            _node: PhantomData,
        })
    }

    /// Output `index`, to write its data.
    ///
    /// # Errors
    ///
    /// [`KernelError::NoSuchTensor`] past the last output.
    pub fn get_mut(&mut self, index: usize) -> Result<Output<'_>, KernelError> {
        Ok(Output {
            raw: self.side.tensor(index)?,
            _node: PhantomData,
        })
    }

    /// No output's data overlaps another output's or an input's, and none lies in the
    /// model bytes: the `&mut` slices `get_mut` hands out are then exclusive. The model
    /// checks make this so for any model `Model::from_buffer` accepts; this check keeps it
    /// so for offline memory plans and trusted models too.
    fn disjoint(&self, inputs: &Inputs<'_>) -> bool {
        let overlaps = |(a, n): (usize, usize), (b, m): (usize, usize)| a < b.saturating_add(m) && b < a.saturating_add(n);
        for (i, out) in self.side.ranges().enumerate() {
            if self.side.ranges().skip(i + 1).any(|other| overlaps(out, other))
                || inputs.side.ranges().any(|input| overlaps(out, input))
            {
                return false;
            }
        }
        (0..self.len()).all(|i| self.side.tensor(i).map_or(true, |t| t.constant == 0))
    }
}

/// A tensor of the running operator, read-only.
pub struct Input<'t> {
    raw: sys::tflm_kernel_tensor,
    _node: PhantomData<&'t ()>,
}

impl<'t> Input<'t> {
    /// Element type.
    pub fn tensor_type(&self) -> TensorType {
        TensorType::from_raw(self.raw.type_ as u32)
    }

    /// The dimensions, outermost first.
    pub fn dims(&self) -> &'t [i32] {
        dims(&self.raw)
    }

    /// Size of the data in bytes.
    pub fn byte_size(&self) -> usize {
        self.raw.bytes
    }

    /// Scale and zero point (the first channel's for per-channel tensors).
    pub fn quantization(&self) -> Quantization {
        Quantization {
            scale: self.raw.scale,
            zero_point: self.raw.zero_point,
        }
    }

    /// Whether the data is constant (in the model).
    pub fn is_constant(&self) -> bool {
        self.raw.constant != 0
    }

    /// The data's bytes.
    ///
    /// # Errors
    ///
    /// [`KernelError::NoData`] while preparing, for tensors that are not constant.
    pub fn bytes(&self) -> Result<&'t [u8], KernelError> {
        let (ptr, len) = raw_bytes(&self.raw)?;
        // SAFETY: TFLM's data pointer and size for a tensor of the running operator; no
        // output of it overlaps (Outputs::disjoint), so nothing writes it for 't.
        Ok(unsafe { core::slice::from_raw_parts(ptr, len) })
    }

    /// The data as `T`s.
    ///
    /// # Errors
    ///
    /// [`KernelError::TypeMismatch`], or [`KernelError::NoData`] as [`Input::bytes`].
    pub fn data<T: Element>(&self) -> Result<&'t [T], KernelError> {
        let (ptr, len) = typed::<T>(&self.raw)?;
        // SAFETY: `typed` checked type, alignment and values; as in `bytes`.
        Ok(unsafe { core::slice::from_raw_parts(ptr, len) })
    }
}

/// An output tensor of the running operator, writable.
pub struct Output<'t> {
    raw: sys::tflm_kernel_tensor,
    _node: PhantomData<&'t mut ()>,
}

impl Output<'_> {
    /// Element type.
    pub fn tensor_type(&self) -> TensorType {
        TensorType::from_raw(self.raw.type_ as u32)
    }

    /// The dimensions, outermost first.
    pub fn dims(&self) -> &[i32] {
        dims(&self.raw)
    }

    /// Scale and zero point.
    pub fn quantization(&self) -> Quantization {
        Quantization {
            scale: self.raw.scale,
            zero_point: self.raw.zero_point,
        }
    }

    /// The data's bytes, to write.
    ///
    /// # Errors
    ///
    /// [`KernelError::NoData`] while preparing.
    pub fn bytes_mut(&mut self) -> Result<&mut [u8], KernelError> {
        let (ptr, len) = raw_bytes(&self.raw)?;
        // SAFETY: the output's data is in the arena and overlaps no other tensor of the
        // operator (Outputs::disjoint); `&mut self` borrows the Outputs exclusively.
        Ok(unsafe { core::slice::from_raw_parts_mut(ptr, len) })
    }

    /// The data as `T`s, to write.
    ///
    /// # Errors
    ///
    /// [`KernelError::TypeMismatch`], or [`KernelError::NoData`] as [`Output::bytes_mut`].
    pub fn data_mut<T: Element>(&mut self) -> Result<&mut [T], KernelError> {
        let (ptr, len) = typed::<T>(&self.raw)?;
        // SAFETY: as in `bytes_mut`, with type, alignment and values checked.
        Ok(unsafe { core::slice::from_raw_parts_mut(ptr, len) })
    }
}

fn dims<'t>(raw: &sys::tflm_kernel_tensor) -> &'t [i32] {
    match usize::try_from(raw.rank) {
        Ok(rank) if rank > 0 && !raw.dims.is_null() => {
            // SAFETY: TFLM's dimension array of the tensor, `rank` ints, which lives as long
            // as the interpreter (in the arena or the model).
            unsafe { core::slice::from_raw_parts(raw.dims, rank) }
        }
        _ => &[],
    }
}

fn raw_bytes(raw: &sys::tflm_kernel_tensor) -> Result<(*mut u8, usize), KernelError> {
    if raw.bytes == 0 {
        return Ok((NonNull::dangling().as_ptr(), 0));
    }
    if raw.data.is_null() {
        return Err(KernelError::NoData);
    }
    Ok((raw.data.cast(), raw.bytes))
}

fn typed<T: Element>(raw: &sys::tflm_kernel_tensor) -> Result<(*mut T, usize), KernelError> {
    let found = TensorType::from_raw(raw.type_ as u32);
    if found != T::TYPE {
        return Err(KernelError::TypeMismatch {
            expected: T::TYPE,
            found,
        });
    }
    let (ptr, len) = raw_bytes(raw)?;
    if len == 0 {
        return Ok((NonNull::dangling().as_ptr(), 0));
    }
    if (ptr as usize) % align_of::<T>() != 0 || len % size_of::<T>() != 0 {
        return Err(KernelError::NoData);
    }
    // SAFETY: the tensor's bytes, readable for the call (see Input::bytes).
    if !T::bytes_valid(unsafe { core::slice::from_raw_parts(ptr, len) }) {
        return Err(KernelError::NoData);
    }
    Ok((ptr.cast(), len / size_of::<T>()))
}
