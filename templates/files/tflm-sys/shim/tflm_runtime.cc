// The few C and C++ runtime symbols a bare-metal application of TFLM needs and that an
// application built with cortex-m-rt (no crt0, no crtbegin.o, no heap) lacks. Compiled into
// libtflm on bare-metal targets only. Each is weak: a definition of the application's own
// (a real heap's _sbrk, an RTOS's __dso_handle) wins.
#include <cerrno>
#include <cstddef>

extern "C" {

// Called if a pure virtual function is ever reached through a half-built object, which
// TFLM never does. libsupc++'s version calls std::terminate and drags in the exception
// and demangling machinery (tens of kilobytes of flash); a trap stops just as surely.
__attribute__((weak)) void __cxa_pure_virtual() { __builtin_trap(); }

// The handle C++ static destructors are registered against; crtbegin.o normally defines
// it. TFLM registers none, but libraries linked beside it may.
__attribute__((weak)) void* __dso_handle = nullptr;

// newlib-nano's malloc grows the heap through _sbrk; libnosys's version needs an `end`
// symbol that cortex-m-rt's linker script does not define. TFLM never allocates from the
// heap (everything lives in the arena), so without a heap of the application's own every
// request fails cleanly instead of failing to link.
__attribute__((weak)) void* _sbrk(ptrdiff_t) {
  errno = ENOMEM;
  return reinterpret_cast<void*>(-1);
}

}  // extern "C"
