// Containment of the failures TFLM does not return from: an allocation that fails where
// TFLM does not check the result (it would write through a null pointer), and a kernel
// assertion (TFLITE_DCHECK, assert) that would stop the program. A guarded shim call
// records a Frame with setjmp before it runs TFLM code; the failure longjmps back to it,
// the call returns an error and the interpreter refuses every later call.
//
// Why longjmp is sound here: the frames it unwinds are TFLM's C-style kernel and
// allocator code, whose locals own nothing (no heap, no locks, no RAII resources: TFLM is
// written for -fno-exceptions and static memory), and the interpreter they were working
// on is never touched again; its memory is the caller's arena.
#ifndef TFLM_GUARD_H_
#define TFLM_GUARD_H_

#include <csetjmp>
#include <cstddef>

namespace tflm_guard {

enum Kind : int {
  kNone = 0,
  kArena = 1,  // an allocation in the arena failed
  kCheck = 2,  // a kernel assertion failed
};

struct Frame {
  std::jmp_buf env;
  int kind = kNone;
  std::size_t needed = 0;  // kArena: the arena needs at least this many bytes
  bool owns_slot = false;  // bare metal: this frame holds the core-wide assertion slot
  bool counted = false;    // bare metal: this call runs without assertion containment
  Frame* previous = nullptr;
};

// Makes `frame` the one a kernel assertion on this thread returns to, from here to Leave.
// Calls nest (a custom operator may run another interpreter). On bare metal one frame per
// core can own assertions: a call that preempts it (an interrupt, an RTOS thread) runs
// without, and an assertion during such a call halts the program as TFLM's own does.
void Enter(Frame* frame);
void Leave(Frame* frame);

// Returns to `frame`'s setjmp with `kind`; never returns.
[[noreturn]] void Fail(Frame* frame, int kind);

}  // namespace tflm_guard

#endif  // TFLM_GUARD_H_
