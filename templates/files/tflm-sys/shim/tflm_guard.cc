// tflm-sys compiles every TFLM file with abort, __assert_fail (glibc) and __assert_func
// (newlib) bound to the tflm_shim_* functions below (shim/tflm_redirect.h), so TFLM's
// TFLITE_ABORT, TFLITE_DCHECK and assert() land here. This file alone is compiled without
// that redirection: it calls the real abort.
#include "tflm_guard.h"

#include <atomic>
#include <csetjmp>
#include <cstdlib>

namespace tflm_guard {
namespace {

#if !defined(TFLM_SHIM_BARE_METAL)

// Hosted: each thread has its own chain of guarded calls, and calls on one thread nest.
thread_local Frame* top = nullptr;

void Claim(Frame* frame) {
  frame->previous = top;
  top = frame;
}
void Release(Frame* frame) { top = frame->previous; }
Frame* Current() { return top; }

#elif defined(__GCC_HAVE_SYNC_COMPARE_AND_SWAP_4) || defined(__ARM_ARCH_6M__)

// Bare metal has no thread-local storage: one slot for the core. Calls that preempt its
// owner (interrupts, RTOS threads) are counted; while any runs, nobody can tell which
// context an assertion came from, so it halts instead of jumping to a foreign stack.
std::atomic<Frame*> slot{nullptr};
std::atomic<unsigned> uncontained{0};

#if defined(__GCC_HAVE_SYNC_COMPARE_AND_SWAP_4)
bool TakeSlot(Frame* frame) {
  Frame* none = nullptr;
  return slot.compare_exchange_strong(none, frame, std::memory_order_acq_rel);
}
void CountUncontained(int delta) {
  uncontained.fetch_add(static_cast<unsigned>(delta), std::memory_order_acq_rel);
}
#else
// ARMv6-M has no exclusive loads: masking interrupts makes the update atomic on one core.
unsigned MaskInterrupts() {
  unsigned primask;
  __asm__ volatile("mrs %0, primask\n\tcpsid i" : "=r"(primask)::"memory");
  return primask;
}
void RestoreInterrupts(unsigned primask) {
  __asm__ volatile("msr primask, %0" ::"r"(primask) : "memory");
}
bool TakeSlot(Frame* frame) {
  const unsigned saved = MaskInterrupts();
  const bool free = slot.load(std::memory_order_relaxed) == nullptr;
  if (free) slot.store(frame, std::memory_order_relaxed);
  RestoreInterrupts(saved);
  return free;
}
void CountUncontained(int delta) {
  const unsigned saved = MaskInterrupts();
  uncontained.store(uncontained.load(std::memory_order_relaxed) + static_cast<unsigned>(delta),
                    std::memory_order_relaxed);
  RestoreInterrupts(saved);
}
#endif

void Claim(Frame* frame) {
  frame->owns_slot = TakeSlot(frame);
  if (!frame->owns_slot) {
    frame->counted = true;
    CountUncontained(1);
  }
}
void Release(Frame* frame) {
  if (frame->owns_slot) {
    slot.store(nullptr, std::memory_order_release);
  } else if (frame->counted) {
    CountUncontained(-1);
  }
}
Frame* Current() {
  return uncontained.load(std::memory_order_acquire) == 0 ? slot.load(std::memory_order_acquire)
                                                          : nullptr;
}

#else

// No atomic read-modify-write (ARMv4T, ARMv5TE): assertions halt, as TFLM's own do.
void Claim(Frame*) {}
void Release(Frame*) {}
Frame* Current() { return nullptr; }

#endif

}  // namespace

void Enter(Frame* frame) { Claim(frame); }

void Leave(Frame* frame) { Release(frame); }

void Fail(Frame* frame, int kind) {
  frame->kind = kind;
  std::longjmp(frame->env, 1);
}

}  // namespace tflm_guard

extern "C" {

[[noreturn]] void tflm_shim_abort(void) {
  tflm_guard::Frame* frame = tflm_guard::Current();
  if (frame != nullptr) tflm_guard::Fail(frame, tflm_guard::kCheck);
  std::abort();
}

// glibc's assert() calls this (renamed from __assert_fail).
[[noreturn]] void tflm_shim_assert_fail(const char*, const char*, unsigned int, const char*) {
  tflm_shim_abort();
}

// newlib's assert() calls this (renamed from __assert_func).
[[noreturn]] void tflm_shim_assert_func(const char*, int, const char*, const char*) {
  tflm_shim_abort();
}

}  // extern "C"
