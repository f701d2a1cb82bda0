//! Per-operator timing through TFLM's profiler interface
//! ([`MicroInterpreter::invoke_profiled`](crate::MicroInterpreter::invoke_profiled)).

use core::ffi::{c_char, c_void, CStr};

/// Whether this build of TFLM reports profiler events.
pub fn supported() -> bool {
    // SAFETY: a plain function returning a constant.
    unsafe { tflm_sys::tflm_profiler_supported() != 0 }
}

/// Receives TFLM's profiler events during
/// [`MicroInterpreter::invoke_profiled`](crate::MicroInterpreter::invoke_profiled): one
/// per operator run (more when operators run subgraphs, or kernels report their own).
///
/// ```
/// struct Cycles(u64);
///
/// impl tflm::profiler::Profiler for Cycles {
///     fn now(&mut self) -> u64 {
///         // On a Cortex-M: cortex_m::peripheral::DWT::cycle_count() as u64.
///         self.0 += 1;
///         self.0
///     }
///     fn record(&mut self, event: &tflm::profiler::Event<'_>) {
///         let _ = (event.tag, event.ticks);
///     }
/// }
/// ```
pub trait Profiler {
    /// The current time, in the application's ticks (a cycle counter, a timer).
    fn now(&mut self) -> u64;

    /// An event ended.
    fn record(&mut self, event: &Event<'_>);
}

/// One profiler event: usually one operator's invoke.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Event<'t> {
    /// TFLM's tag: the operator's builtin name (`CONV_2D`) or custom name.
    pub tag: &'t str,
    /// The operator's subgraph and index in it, when an operator was running.
    pub at: Option<(usize, usize)>,
    /// Ticks from begin to end ([`Profiler::now`] differences, wrapping).
    pub ticks: u64,
    /// How many events were open around it (0 for an operator of the main graph).
    pub depth: usize,
}

/// Events open at once (nesting through subgraphs); deeper ones are not reported.
const DEPTH: usize = 16;

#[derive(Clone, Copy)]
struct Open {
    start: u64,
    tag: *const c_char,
    at: Option<(usize, usize)>,
}

/// The state of one profiled invoke: what the shim's callbacks get as their context.
pub(crate) struct Session<'p> {
    profiler: &'p mut dyn Profiler,
    open: [Open; DEPTH],
    depth: usize,
}

impl<'p> Session<'p> {
    pub(crate) fn new(profiler: &'p mut dyn Profiler) -> Self {
        Session {
            profiler,
            open: [Open {
                start: 0,
                tag: core::ptr::null(),
                at: None,
            }; DEPTH],
            depth: 0,
        }
    }
}

/// Handle of an event too deep to record.
const DROPPED: u32 = u32::MAX;

pub(crate) unsafe extern "C" fn begin(context: *mut c_void, tag: *const c_char, subgraph: i32, node: i32) -> u32 {
    // SAFETY: `context` is the Session invoke_profiled passed, borrowed mutably for the call;
    // the shim calls back on the same thread, one callback at a time.
    let session = unsafe { &mut *context.cast::<Session<'_>>() };
    let depth = session.depth;
    session.depth += 1;
    if depth >= DEPTH {
        return DROPPED;
    }
    let at = usize::try_from(subgraph).ok().zip(usize::try_from(node).ok());
    session.open[depth] = Open {
        start: session.profiler.now(),
        tag,
        at,
    };
    depth as u32
}

pub(crate) unsafe extern "C" fn end(context: *mut c_void, handle: u32) {
    // SAFETY: as in `begin`.
    let session = unsafe { &mut *context.cast::<Session<'_>>() };
    let now = session.profiler.now();
    session.depth = session.depth.saturating_sub(1);
    let Some(open) = session.open.get(handle as usize).copied() else {
        return;
    };
    let tag = if open.tag.is_null() {
        ""
    } else {
        // SAFETY: TFLM's tag, a NUL-terminated name in the model or TFLM's static tables,
        // alive for the whole invoke.
        unsafe { CStr::from_ptr(open.tag) }.to_str().unwrap_or("?")
    };
    session.profiler.record(&Event {
        tag,
        at: open.at,
        ticks: now.wrapping_sub(open.start),
        depth: handle as usize,
    });
}
