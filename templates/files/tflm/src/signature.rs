//! Tensors by name: the model's signatures and tensor names.
//!
//! TFLM's interpreter addresses inputs and outputs by position only and keeps no names;
//! the names live in the model bytes, which the interpreter borrows, so they are read
//! from there.

use core::ffi::{c_char, c_void};

use crate::{sys, MicroInterpreter, Model};

/// A string `len` bytes long at `ptr` inside the model bytes, if it is UTF-8.
///
/// # Safety
///
/// `ptr` is NULL or points at `len` bytes that stay valid and unchanged for `'b` (a string
/// of a verified model, whose bytes are borrowed for `'b`).
unsafe fn model_str<'b>(ptr: *const c_char, len: usize) -> Option<&'b str> {
    if ptr.is_null() {
        return None;
    }
    // SAFETY: the caller's contract: `len` readable bytes for 'b.
    let bytes = unsafe { core::slice::from_raw_parts(ptr.cast::<u8>(), len) };
    core::str::from_utf8(bytes).ok()
}

/// One of a model's signatures (a `SignatureDef`): a named entry point whose inputs and
/// outputs have names of their own, as TensorFlow's converter writes them
/// (`serving_default` with the Keras layer names, for example).
#[derive(Clone, Copy)]
pub struct Signature<'m> {
    model: &'m Model<'m>,
    index: usize,
    key: &'m str,
    subgraph: usize,
    inputs: usize,
    outputs: usize,
}

/// A named input or output of a [`Signature`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SignatureTensor<'m> {
    /// The name the signature gives it.
    pub name: &'m str,
    /// Its position among the signature subgraph's inputs (or outputs), as
    /// [`MicroInterpreter::input`] takes it; `None` when the model's signature names a
    /// tensor that is not one of them.
    pub position: Option<usize>,
}

impl core::fmt::Debug for Signature<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Signature")
            .field("key", &self.key)
            .field("subgraph", &self.subgraph)
            .field("inputs", &self.inputs)
            .field("outputs", &self.outputs)
            .finish()
    }
}

impl<'m> Signature<'m> {
    /// The signature's key (`serving_default` for most converted models).
    pub fn key(&self) -> &'m str {
        self.key
    }

    /// The subgraph it runs. [`MicroInterpreter`] runs subgraph 0: the positions of
    /// another subgraph's signature do not address its tensors.
    pub fn subgraph(&self) -> usize {
        self.subgraph
    }

    /// Its inputs, in the signature's order.
    pub fn inputs(&self) -> impl ExactSizeIterator<Item = SignatureTensor<'m>> + 'm {
        let this = *self;
        (0..self.inputs).map(move |j| this.tensor(false, j))
    }

    /// Its outputs, in the signature's order.
    pub fn outputs(&self) -> impl ExactSizeIterator<Item = SignatureTensor<'m>> + 'm {
        let this = *self;
        (0..self.outputs).map(move |j| this.tensor(true, j))
    }

    /// The position of the input the signature names `name`.
    pub fn input_position(&self, name: &str) -> Option<usize> {
        self.inputs().find(|t| t.name == name)?.position
    }

    /// The position of the output the signature names `name`.
    pub fn output_position(&self, name: &str) -> Option<usize> {
        self.outputs().find(|t| t.name == name)?.position
    }

    /// Input or output `j`, below the count the shim gave (an index it would refuse reads
    /// as an unnamed tensor with no position).
    fn tensor(&self, output: bool, j: usize) -> SignatureTensor<'m> {
        let mut name: *const c_char = core::ptr::null();
        let mut len = 0usize;
        let mut position = -1i32;
        // SAFETY: a verified model; the out-pointers are valid locals.
        unsafe {
            sys::tflm_model_signature_io(
                self.model.raw.as_ptr(),
                self.index,
                i32::from(output),
                j,
                &mut name,
                &mut len,
                &mut position,
            )
        };
        SignatureTensor {
            // SAFETY: NULL or a string of the model, borrowed for 'm; a name that is not
            // UTF-8 reads as empty rather than failing the whole signature.
            name: unsafe { model_str(name, len) }.unwrap_or(""),
            position: usize::try_from(position).ok(),
        }
    }
}

impl<'b> Model<'b> {
    /// The model's signatures, in the model's order; none for models converted without
    /// them (or schemas older than signatures).
    pub fn signatures(&self) -> impl ExactSizeIterator<Item = Signature<'_>> + '_ {
        // SAFETY: a verified model.
        let count = unsafe { sys::tflm_model_signatures(self.raw.as_ptr()) };
        (0..count).map(move |index| self.signature_at(index))
    }

    /// The signature whose key is `key`.
    pub fn signature(&self, key: &str) -> Option<Signature<'_>> {
        self.signatures().find(|s| s.key == key)
    }

    /// Signature `index`, below the count the shim gave (an index it would refuse reads as
    /// an empty signature).
    fn signature_at(&self, index: usize) -> Signature<'_> {
        let mut key: *const c_char = core::ptr::null();
        let (mut key_len, mut subgraph, mut inputs, mut outputs) = (0usize, 0u32, 0usize, 0usize);
        // SAFETY: a verified model; the out-pointers are valid locals.
        unsafe {
            sys::tflm_model_signature(
                self.raw.as_ptr(),
                index,
                &mut key,
                &mut key_len,
                &mut subgraph,
                &mut inputs,
                &mut outputs,
            )
        };
        Signature {
            model: self,
            index,
            // SAFETY: NULL or a string of the model, borrowed for as long as `self`.
            key: unsafe { model_str(key, key_len) }.unwrap_or(""),
            subgraph: subgraph as usize,
            inputs,
            outputs,
        }
    }
}

impl<'a> MicroInterpreter<'a> {
    /// The position of the input named `name`, for [`input`](Self::input) and its
    /// siblings: a name a signature of subgraph 0 (the graph the interpreter runs) gives
    /// it, or else the tensor's own name in the model.
    pub fn input_index(&self, name: &str) -> Option<usize> {
        self.index_named(false, name)
    }

    /// The position of the output named `name`, as [`input_index`](Self::input_index)
    /// finds inputs.
    pub fn output_index(&self, name: &str) -> Option<usize> {
        self.index_named(true, name)
    }

    fn index_named(&self, output: bool, name: &str) -> Option<usize> {
        let model = self.model();
        let by_signature = model.signatures().filter(|s| s.subgraph == 0).find_map(|s| {
            if output {
                s.output_position(name)
            } else {
                s.input_position(name)
            }
        });
        let count = if output { self.outputs_len() } else { self.inputs_len() };
        by_signature.or_else(|| (0..count).find(|&i| self.io_name(output, i) == Some(name)))
    }

    /// The model the interpreter runs, borrowed from it.
    fn model(&self) -> Model<'_> {
        Model {
            raw: self.model,
            _bytes: core::marker::PhantomData,
        }
    }

    /// The model's name for input (or output) `position` of subgraph 0.
    pub(crate) fn io_name(&self, output: bool, position: usize) -> Option<&'_ str> {
        let mut name: *const c_char = core::ptr::null();
        let mut len = 0usize;
        // SAFETY: the interpreter borrows its verified model for 'a; the out-pointers are
        // valid locals.
        let found = unsafe {
            sys::tflm_model_io_name(
                self.model.as_ptr().cast::<c_void>(),
                i32::from(output),
                position,
                &mut name,
                &mut len,
            )
        };
        if found == 0 {
            return None;
        }
        // SAFETY: a string of the model bytes, which outlive the interpreter ('a).
        unsafe { model_str(name, len) }
    }
}
