/* Force-included (-include) into every TFLM file tflm-sys compiles, except tflm_guard.cc:
 * the C runtime's abort and assertion handlers get the guard's symbols, so TFLM's
 * TFLITE_ABORT, TFLITE_DCHECK and assert() inside an interpreter call return an error
 * instead of stopping the program. A pragma rather than a macro: <cstdlib> #undefs abort.
 * __assert_fail is glibc's, __assert_func newlib's. */
#pragma redefine_extname abort tflm_shim_abort
#pragma redefine_extname __assert_fail tflm_shim_assert_fail
#pragma redefine_extname __assert_func tflm_shim_assert_func
