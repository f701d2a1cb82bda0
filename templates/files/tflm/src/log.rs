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
use core::ffi::c_char;
use core::ptr;
use core::sync::atomic::{AtomicPtr, Ordering};

use tflm_sys as sys;

/// The registered handler, as a type-erased function pointer (null: none). An atomic
/// pointer, not a `static mut`: handlers may be set while another thread runs TFLM.
static HANDLER: AtomicPtr<()> = AtomicPtr::new(ptr::null_mut());

/// Sends every TFLM log message to `handler`, replacing any handler before it (including
/// the `log`/`defmt` forwarding). Messages come without their line ending, at most 255
/// bytes each, and on the thread that runs TFLM, possibly from inside
/// [`MicroInterpreter::new`](crate::MicroInterpreter::new) or `invoke`.
///
/// A handler that panics aborts the program: the panic cannot unwind through TFLM's C++.
pub fn set_handler(handler: fn(&str)) {
    HANDLER.store(handler as *mut (), Ordering::Release);
    // SAFETY: `trampoline` matches the callback type and stays valid for the program's
    // whole life; registering is an atomic store on the C++ side.
    unsafe { sys::tflm_set_log_callback(Some(trampoline)) };
}

/// Drops TFLM's log messages from now on (the default without the `log`/`defmt` features).
pub fn clear_handler() {
    // SAFETY: a null callback is how the shim is told to discard messages.
    unsafe { sys::tflm_set_log_callback(None) };
    HANDLER.store(ptr::null_mut(), Ordering::Release);
}

/// Installs the `log`/`defmt` forwarding when one of those features is on and no handler
/// was chosen: called by `MicroInterpreter::new`, before TFLM can log anything.
pub(crate) fn install_feature_handler() {
    #[cfg(any(feature = "log", feature = "defmt"))]
    if HANDLER.load(Ordering::Acquire).is_null() {
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
extern "C" fn trampoline(message: *const c_char, len: usize) {
    let handler = HANDLER.load(Ordering::Acquire);
    if handler.is_null() || message.is_null() {
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
    // SAFETY: only `set_handler` stores into HANDLER, and only a `fn(&str)`; function
    // and data pointers have the same size on every target this crate builds for.
    let handler: fn(&str) = unsafe { core::mem::transmute::<*mut (), fn(&str)>(handler) };
    handler(text);
}
