//! Model bytes held at the 16-byte alignment flatbuffers needs, built at run time.

#[cfg(feature = "alloc")]
use alloc::vec::Vec;

use crate::AlignedModel;

impl<const N: usize> AlignedModel<N> {
    /// `N` zero bytes, to fill at run time (from flash, an SD card, a radio) before
    /// [`Model::from_buffer`](crate::Model::from_buffer) reads the filled part:
    ///
    /// ```
    /// static mut STORAGE: tflm::AlignedModel<4096> = tflm::AlignedModel::zeroed();
    /// # fn receive(into: &mut [u8]) -> usize { 0 }
    /// // SAFETY: nothing else refers to STORAGE (in firmware: take it once, at start-up).
    /// let storage = unsafe { &mut *core::ptr::addr_of_mut!(STORAGE) };
    /// let len = receive(storage.bytes_mut());
    /// let model = tflm::Model::from_buffer(&storage.bytes()[..len]);
    /// # assert!(model.is_err());
    /// ```
    pub const fn zeroed() -> Self {
        AlignedModel([0; N])
    }

    /// The bytes, to fill.
    pub fn bytes_mut(&mut self) -> &mut [u8] {
        &mut self.0
    }
}

/// Model bytes copied onto the heap at the alignment flatbuffers needs (feature `alloc`),
/// for a model read from a file at run time.
///
/// ```
/// # let file = vec![0u8; 64];
/// let bytes = tflm::AlignedBytes::from_slice(&file);
/// assert_eq!(bytes.as_ptr() as usize % 16, 0);
/// assert!(tflm::Model::from_buffer(&bytes).is_err()); // zeros are no model
/// ```
#[cfg(feature = "alloc")]
#[derive(Clone)]
pub struct AlignedBytes {
    // u128 is 16-byte aligned on every target this crate builds for; the words only carry
    // the bytes.
    words: Vec<Align16>,
    len: usize,
}

#[cfg(feature = "alloc")]
#[derive(Clone, Copy)]
#[repr(C, align(16))]
struct Align16([u8; 16]);

#[cfg(feature = "alloc")]
impl AlignedBytes {
    /// A 16-byte aligned copy of `bytes`.
    pub fn from_slice(bytes: &[u8]) -> Self {
        let mut words = alloc::vec![Align16([0; 16]); bytes.len().div_ceil(16)];
        for (word, chunk) in words.iter_mut().zip(bytes.chunks(16)) {
            word.0[..chunk.len()].copy_from_slice(chunk);
        }
        AlignedBytes {
            words,
            len: bytes.len(),
        }
    }
}

#[cfg(feature = "alloc")]
impl core::ops::Deref for AlignedBytes {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        // SAFETY: `words` holds at least `len` initialised bytes, contiguous because
        // Align16 is a 16-byte array with no padding.
        unsafe { core::slice::from_raw_parts(self.words.as_ptr().cast::<u8>(), self.len) }
    }
}
