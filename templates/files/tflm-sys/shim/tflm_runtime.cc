// The C++ runtime symbols TFLM references that the cross toolchain's libraries would
// otherwise pull in with far more than they are worth. Compiled into libtflm on bare-metal
// targets only; archives take an object for a symbol only when nothing earlier defines it.

// Called if a pure virtual function is ever reached through a half-built object, which
// TFLM never does. libsupc++'s version calls std::terminate and drags in the exception
// and demangling machinery (tens of kilobytes of flash); a trap stops just as surely.
extern "C" void __cxa_pure_virtual() { __builtin_trap(); }
