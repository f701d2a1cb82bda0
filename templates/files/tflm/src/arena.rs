//! Sizing tensor arenas on the host (feature `alloc`).

use alloc::boxed::Box;
use alloc::vec;

use crate::{Error, MicroInterpreter, Model, OpResolver};

/// The smallest arena, in bytes, that [`MicroInterpreter::new`] accepts for `model` with
/// `resolver` on this target: the exact figure for this crate's layout, found by building
/// interpreters in heap arenas (about log2(limit) of them), for an arena that starts on a
/// 16-byte boundary (add 15 bytes for one that may not).
///
/// Sizes differ between a 64-bit host and a 32-bit device (pointers inside TFLM's
/// structures): size the device's arena by running this on the device, or add a margin.
///
/// # Errors
///
/// Whatever [`MicroInterpreter::new`] returns for an arena of `limit` bytes, other than
/// [`Error::ArenaTooSmall`]; [`Error::ArenaTooSmall`] when even `limit` bytes are not
/// enough.
pub fn required_arena_size<const N: usize>(
    model: &Model<'_>,
    resolver: &OpResolver<N>,
    limit: usize,
) -> Result<usize, Error> {
    let fits = |size: usize| -> Result<bool, Error> {
        let mut arena = heap_arena(size);
        let built = MicroInterpreter::new(model, resolver, &mut arena);
        match built {
            Ok(_) => Ok(true),
            Err(Error::ArenaTooSmall { .. }) => Ok(false),
            Err(other) => Err(other),
        }
    };
    if !fits(limit)? {
        let mut arena = heap_arena(limit);
        let built = MicroInterpreter::new(model, resolver, &mut arena).map(|_| limit);
        return built;
    }
    // Invariant: `high` fits, `low` does not (or is 0).
    let (mut low, mut high) = (0usize, limit);
    while high - low > 1 {
        let mid = low + (high - low) / 2;
        if fits(mid)? {
            high = mid;
        } else {
            low = mid;
        }
    }
    Ok(high)
}

/// A zeroed tensor arena of `size` bytes on the heap (feature `alloc`). TFLM uses it from
/// its first 16-byte boundary: up to 15 bytes are lost when the allocator aligns less.
pub fn heap_arena(size: usize) -> Box<[u8]> {
    vec![0u8; size].into_boxed_slice()
}
