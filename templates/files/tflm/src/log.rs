//! TFLM's log output, delivered to Rust.
//!
//! TFLM reports problems (a kernel rejecting a model in Prepare, a failed allocation) as
//! text through its platform hook `DebugLog`. This crate's C++ shim implements that hook
//! by handing each message to Rust; nothing is ever written to stdio, which bare-metal
//! targets do not have.
//!
//! - With the `log` feature, messages go to the [`log`](https://docs.rs/log) facade
//!   (target `tflm`, level warn) and with `defmt` to [`defmt`](https://docs.rs/defmt),
//!   as soon as the first [`MicroInterpreter`](crate::MicroInterpreter) is built.
//! - Otherwise, or to send them elsewhere (a UART, an RTT channel, a test's buffer),
//!   register a function with [`set_handler`].
//!
//! ```
//! fn print(message: &str) {
//!     // A real program writes to its console here.
//!     let _ = message;
//! }
//! tflm::log::set_handler(print);
//! tflm::log::clear_handler();
//! ```
use core::ffi::{c_char, c_void};

use tflm_sys as sys;

// The handler lives in the C++ shim, as the context of the callback, in C++ atomics: no
// Rust atomic is needed, so this works on targets without atomic pointers (thumbv4t).

/// Sends every TFLM log message to `handler`, replacing any handler before it (including
/// the `log`/`defmt` forwarding). Messages come without their line ending, at most 255
/// bytes each, and on the thread that runs TFLM, possibly from inside
/// [`MicroInterpreter::new`](crate::MicroInterpreter::new) or `invoke`.
///
/// A handler that panics aborts the program: the panic cannot unwind through TFLM's C++.
pub fn set_handler(handler: fn(&str)) {
    // SAFETY: `trampoline` matches the callback type and lives as long as the program;
    // the context is a `fn(&str)`, which is what `trampoline` reads it back as.
    unsafe { sys::tflm_set_log_callback(Some(trampoline), handler as *mut c_void) };
}

/// Drops TFLM's log messages from now on (the default without the `log`/`defmt` features).
pub fn clear_handler() {
    // SAFETY: a null callback is how the shim is told to discard messages.
    unsafe { sys::tflm_set_log_callback(None, core::ptr::null_mut()) };
}

/// Installs the `log`/`defmt` forwarding when one of those features is on and no handler
/// was chosen: called by `MicroInterpreter::new`, before TFLM can log anything.
pub(crate) fn install_feature_handler() {
    // SAFETY: a read of the shim's atomic callback slot.
    #[cfg(any(feature = "log", feature = "defmt"))]
    if unsafe { sys::tflm_log_has_callback() } == 0 {
        // Two threads racing here both install the same forwarder: harmless.
        set_handler(forward);
    }
}

#[cfg(any(feature = "log", feature = "defmt"))]
fn forward(message: &str) {
    #[cfg(feature = "log")]
    ::log::warn!(target: "tflm", "{message}");
    #[cfg(feature = "defmt")]
    ::defmt::warn!("tflm: {=str}", message);
}

/// What the C++ shim calls, once per message.
extern "C" fn trampoline(context: *mut c_void, message: *const c_char, len: usize) {
    if context.is_null() || message.is_null() {
        return;
    }
    // SAFETY: the shim passes a buffer of `len` readable bytes that lives for this call.
    let bytes = unsafe { core::slice::from_raw_parts(message.cast::<u8>(), len) };
    // A message cut at the length limit can end inside a UTF-8 sequence: keep the part
    // that decodes rather than dropping the message.
    let text = match core::str::from_utf8(bytes) {
        Ok(text) => text,
        Err(e) => {
            // SAFETY: `valid_up_to` bytes were just checked to be UTF-8.
            unsafe { core::str::from_utf8_unchecked(&bytes[..e.valid_up_to()]) }
        }
    };
    // SAFETY: only `set_handler` registers `trampoline`, always with a `fn(&str)` as the
    // context; function and data pointers have the same size on every target this crate
    // builds for.
    let handler: fn(&str) = unsafe { core::mem::transmute::<*mut c_void, fn(&str)>(context) };
    handler(text);
}
