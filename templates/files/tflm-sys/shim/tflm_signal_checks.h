// Static checks for TFLM's signal operators (signal/micro/kernels/, custom operators named
// "SignalWindow", "SignalRfft"...). Those kernels trust the values in their flexbuffer
// options and in some constant tensors: an index table that points past its input, a
// shift of 32 or an FFT length kissfft cannot factor makes them read or write out of
// bounds. ValidSignalOp proves, before TFLM sees the model, that nothing of the kind can
// happen whatever data later flows through the operator.
#ifndef TFLM_SIGNAL_CHECKS_H_
#define TFLM_SIGNAL_CHECKS_H_

#include "tensorflow/lite/schema/schema_generated.h"

namespace tflm_shim {

// True when operator `op` (a custom operator whose custom_code is `name`) of `subgraph` in
// `model` can be run by TFLM's signal kernel of that name without reading or writing out
// of bounds, overflowing, dividing by zero or failing an assertion, for any input data.
// Names that are not signal kernels: true (their own checks apply).
//
// The caller has already established: the flatbuffer is verified; the operator's tensor
// indices are in range (-1 for an absent optional input); its operands have shapes, of at
// most 2^30 elements; a constant tensor's buffer holds exactly its shape's bytes;
// custom_options is non-empty and passes flexbuffers::VerifyBuffer; no output is constant.
bool ValidSignalOp(const char* name, const tflite::Model* model, const tflite::SubGraph* subgraph,
                   const tflite::Operator* op);

}  // namespace tflm_shim

#endif  // TFLM_SIGNAL_CHECKS_H_
