// What TFLM's signal kernels (signal/micro/kernels/*.cc and the signal/src/ functions they
// call) rely on without checking, checked here once per operator before TFLM sees the
// model. Each Valid* function below names the reads and writes it guards. Prepare's own
// checks (operand counts, ranks, types) are repeated where a later check depends on them,
// and because Init runs before Prepare and some kernels misbehave already there.
//
// Options are read the way the kernels read them: tflite::FlexbufferWrapper
// (tensorflow/lite/micro/flatbuffer_utils.h) views the root map as the vector of its values,
// in sorted key order, and reads element i raw at the vector's byte width, whatever its
// flexbuffer type. The kernels' k...Index constants are positions in that order, so the
// keys must be exactly the ones the kernel was written for: a missing, extra or renamed key
// would shift what the kernel reads.
#include "tflm_signal_checks.h"

#include <cstddef>
#include <cstdint>
#include <cstring>

#if __has_include("flatbuffers/flexbuffers.h")
#include "flatbuffers/flexbuffers.h"
#define TFLM_SIGNAL_CHECKS_FLEXBUFFERS 1
#endif

namespace tflm_shim {

#ifdef TFLM_SIGNAL_CHECKS_FLEXBUFFERS
namespace {

using Tensors = flatbuffers::Vector<flatbuffers::Offset<tflite::Tensor>>;

// TensorType and BuiltinOperator values, fixed by the schema's compatibility rules (the
// enumerators themselves are missing from some older schema headers).
constexpr int kFloat32 = 0;
constexpr int kInt32 = 2;
constexpr int kBool = 6;
constexpr int kInt16 = 7;
constexpr int kUInt64 = 12;
constexpr int kUInt32 = 15;
constexpr int kBuiltinCustom = 32;

// Elements of a kernel's persistent state (circular buffers, channel arrays): far above
// any real audio front end, far below where the kernels' int and 32-bit size_t byte counts
// (4 bytes an element for the circular buffers' mirrored int16 storage) could wrap.
constexpr int64_t kMaxStateElements = int64_t{1} << 26;

// FFT lengths: powers of two (what upstream's front ends generate) from 4 on. kiss_fftr
// (the reference rfft/irfft) needs an even length and runs a complex FFT of half of it; a
// stage of radix 1 (length 2) or of a prime above 5 takes kf_bfly_generic, whose scratch
// comes from KISS_FFT_TMP_ALLOC, patched by TFLM to return NULL, and the kernels ignore a
// failed kiss_fftr_alloc. The upper bound keeps the twiddle tables and scratch buffers far
// from 32-bit size_t overflow.
constexpr int32_t kMinFftLength = 4;
constexpr int32_t kMaxFftLength = int32_t{1} << 16;

// kissfft's 32-bit fixed-point code (the int32 Rfft and Irfft) adds int32 values that can
// overflow, undefined behaviour, for inputs near full scale (kiss_fftri sums two bins before
// scaling; the butterflies add a scaled value and a product): a fault of the data that no
// static check excludes. The int16 and float paths have none. Upstream's kernel tests use
// int32 FFTs, no shipped model does: the crate refuses them rather than let safe code reach
// undefined behaviour.
constexpr bool kAllowInt32Fft = false;

// The operator under check and where it lives.
struct Node {
  const tflite::Model* model;
  const tflite::SubGraph* subgraph;
  const tflite::Operator* op;

  // Exactly `inputs` inputs and `outputs` outputs (what Prepare demands), all present.
  bool Arity(uint32_t inputs, uint32_t outputs) const {
    if (op->inputs() == nullptr || op->outputs() == nullptr ||
        op->inputs()->size() != inputs || op->outputs()->size() != outputs) {
      return false;
    }
    for (uint32_t i = 0; i < inputs; ++i) {
      if (In(i) == nullptr) return false;
    }
    for (uint32_t i = 0; i < outputs; ++i) {
      if (Out(i) == nullptr) return false;
    }
    return true;
  }
  const tflite::Tensor* In(uint32_t i) const { return Operand(op->inputs(), i); }
  const tflite::Tensor* Out(uint32_t i) const { return Operand(op->outputs(), i); }
  int32_t InIndex(uint32_t i) const { return op->inputs()->Get(i); }

  // The tensor at position `i` of `indices`, or nullptr when absent, out of range or
  // without a shape.
  const tflite::Tensor* Operand(const flatbuffers::Vector<int32_t>* indices, uint32_t i) const {
    const Tensors* tensors = subgraph->tensors();
    if (indices == nullptr || tensors == nullptr || i >= indices->size()) return nullptr;
    const int32_t index = indices->Get(i);
    if (index < 0 || static_cast<uint32_t>(index) >= tensors->size()) return nullptr;
    const tflite::Tensor* tensor = tensors->Get(static_cast<uint32_t>(index));
    return tensor != nullptr && tensor->shape() != nullptr ? tensor : nullptr;
  }
};

uint32_t Rank(const tflite::Tensor* t) { return t->shape()->size(); }

int64_t Dim(const tflite::Tensor* t, uint32_t i) { return t->shape()->Get(i); }

int64_t Last(const tflite::Tensor* t) { return Dim(t, Rank(t) - 1); }

// Elements of the tensor; shapes are non-negative and at most 2^30 elements (the caller
// checked), so the product cannot overflow.
int64_t Elements(const tflite::Tensor* t) {
  int64_t n = 1;
  for (int32_t dim : *t->shape()) n *= dim;
  return n;
}

bool Is(const tflite::Tensor* t, int type, uint32_t rank) {
  return static_cast<int>(t->type()) == type && Rank(t) == rank;
}

// The tensor's constant data (unaligned: read with memcpy), or nullptr when it is not a
// constant. Its size is the shape's bytes (the caller checked).
const uint8_t* ConstantData(const tflite::Model* model, const tflite::Tensor* t) {
  const auto* buffers = model->buffers();
  if (buffers == nullptr || t->buffer() >= buffers->size()) return nullptr;
  const tflite::Buffer* buffer = buffers->Get(t->buffer());
  if (buffer == nullptr || buffer->data() == nullptr || buffer->data()->size() == 0) {
    return nullptr;
  }
  return buffer->data()->data();
}

int16_t Int16At(const uint8_t* data, int64_t i) {
  int16_t value;
  std::memcpy(&value, data + 2 * i, sizeof(value));
  return value;
}

// A constant int16 vector of exactly `count` elements: its data, or nullptr.
const uint8_t* ConstantInt16s(const tflite::Model* model, const tflite::Tensor* t,
                              int64_t count) {
  if (!Is(t, kInt16, 1) || Elements(t) != count) return nullptr;
  return ConstantData(model, t);
}

bool PowerOfTwo(int64_t x) { return x > 0 && (x & (x - 1)) == 0; }

// Whether `op` is a custom operator named `name` (as the resolver matches it: strcmp on
// custom_code). Defensive about operators the caller has not reached yet.
bool IsCustom(const tflite::Model* model, const tflite::Operator* op, const char* name) {
  const auto* codes = model->operator_codes();
  if (codes == nullptr || op->opcode_index() >= codes->size()) return false;
  const tflite::OperatorCode* code = codes->Get(op->opcode_index());
  if (code == nullptr || code->custom_code() == nullptr) return false;
  const int current = static_cast<int>(code->builtin_code());
  const int old = static_cast<int>(code->deprecated_builtin_code());
  return (current > old ? current : old) == kBuiltinCustom &&
         std::strcmp(code->custom_code()->c_str(), name) == 0;
}

// Whether an offline memory plan (OfflineMemoryAllocation metadata) may place tensor
// `index` of `subgraph` at a fixed offset: offline offsets may alias any other tensor, so
// its contents between two operators are not the first one's output. TFLM numbers the
// plan's entries over all subgraphs' tensors in order; -1 means planned online. Anything
// unreadable counts as planned.
bool OfflinePlanned(const tflite::Model* model, const tflite::SubGraph* subgraph,
                    int32_t index) {
  static const char kName[] = "OfflineMemoryAllocation";
  if (model->metadata() == nullptr) return false;
  uint64_t entry = static_cast<uint64_t>(index);
  bool found = false;
  for (const tflite::SubGraph* s : *model->subgraphs()) {
    if (s == subgraph) {
      found = true;
      break;
    }
    if (s == nullptr || s->tensors() == nullptr) return true;
    entry += s->tensors()->size();
  }
  if (!found) return true;
  for (const tflite::Metadata* metadata : *model->metadata()) {
    if (metadata == nullptr || metadata->name() == nullptr ||
        metadata->name()->size() != sizeof(kName) - 1 ||
        std::memcmp(metadata->name()->c_str(), kName, sizeof(kName) - 1) != 0) {
      continue;
    }
    const auto* buffers = model->buffers();
    if (buffers == nullptr || metadata->buffer() >= buffers->size()) return true;
    const tflite::Buffer* buffer = buffers->Get(metadata->buffer());
    if (buffer == nullptr || buffer->data() == nullptr) return true;
    const uint64_t size = buffer->data()->size();
    if (size < 12 + 4 * (entry + 1)) return true;
    int32_t offset;
    std::memcpy(&offset, buffer->data()->data() + 12 + 4 * entry, sizeof(offset));
    if (offset != -1) return true;
  }
  return false;
}

// Whether input `index` of the operator holds, whenever the operator runs, a value
// SignalFftAutoScale computed (its scale output, 0..15 for any input): it is output 1 of
// such an operator that runs earlier, and nothing else writes it: no other operator, not
// the application (it is no subgraph input), not an offline memory plan.
bool FromFftAutoScale(const Node& n, int32_t index) {
  for (int32_t input : *n.subgraph->inputs()) {
    if (input == index) return false;
  }
  const tflite::Tensor* tensor = n.subgraph->tensors()->Get(static_cast<uint32_t>(index));
  if (tensor->is_variable() || OfflinePlanned(n.model, n.subgraph, index)) return false;
  const auto* operators = n.subgraph->operators();
  if (operators == nullptr) return false;
  bool produced = false;
  bool reached = false;  // the operator's first run (an operator table may be listed twice)
  for (const tflite::Operator* other : *operators) {
    if (other == nullptr) return false;
    if (other == n.op) reached = true;
    const auto* outputs = other->outputs();
    if (outputs == nullptr) continue;
    for (uint32_t j = 0; j < outputs->size(); ++j) {
      if (outputs->Get(j) != index) continue;
      if (produced || reached || j != 1 || !IsCustom(n.model, other, "SignalFftAutoScale")) {
        return false;
      }
      produced = true;
    }
  }
  return produced && reached;
}

// The values of the root map of `op`'s options, read as FlexbufferWrapper reads them.
class Options : public flexbuffers::Vector {
 public:
  explicit Options(const flexbuffers::Reference& root)
      : flexbuffers::Vector(root.AsVector()), map_(root.AsMap()) {}

  // FlexbufferWrapper::ElementAsInt32.
  int32_t Int32(size_t i) const {
    return static_cast<int32_t>(flexbuffers::ReadInt64(data_ + i * byte_width_, byte_width_));
  }
  // FlexbufferWrapper::ElementAsBool.
  bool Bool(size_t i) const {
    return static_cast<bool>(flexbuffers::ReadUInt64(data_ + i * byte_width_, byte_width_));
  }
  // What RfftInitAll, IrfftInitAll and OverlapAddInitAll switch on: m["T"].AsInt32().
  int32_t Type() const { return map_["T"].AsInt32(); }

 private:
  flexbuffers::Map map_;
};

// Calls `check` with the operator's options when they are a map whose keys are exactly
// `keys` (sorted, as flexbuffers stores them); false otherwise.
template <size_t N, typename Check>
bool WithOptions(const Node& n, const char* const (&keys)[N], Check check) {
  const flatbuffers::Vector<uint8_t>* raw = n.op->custom_options();
  if (raw == nullptr || raw->size() == 0) return false;
  const flexbuffers::Reference root = flexbuffers::GetRoot(raw->data(), raw->size());
  if (!root.IsMap()) return false;
  const flexbuffers::Map map = root.AsMap();
  const flexbuffers::TypedVector names = map.Keys();
  if (map.size() != N || names.size() != N) return false;
  for (size_t i = 0; i < N; ++i) {
    if (std::strcmp(names[i].AsKey(), keys[i]) != 0) return false;
  }
  return check(Options(root));
}

// Delay: Prepare takes the innermost dimension as the frame (Dims(rank - 1), then divides
// the flat size by it) and gives each row a circular buffer of frame + delay_length
// samples, into which it writes delay_length zeros; Eval writes every row's frame to the
// output. A negative delay_length wraps the capacity to a huge size_t.
bool ValidDelay(const Node& n) {
  static const char* const kKeys[] = {"delay_length"};
  if (!n.Arity(1, 1)) return false;
  const tflite::Tensor* input = n.In(0);
  const tflite::Tensor* output = n.Out(0);
  if (static_cast<int>(input->type()) != kInt16 || static_cast<int>(output->type()) != kInt16 ||
      Rank(input) < 1 || Last(input) < 1 || Elements(output) != Elements(input)) {
    return false;
  }
  return WithOptions(n, kKeys, [&](const Options& o) {
    const int64_t delay = o.Int32(0);
    return delay >= 0 && Last(input) + delay <= kMaxStateElements;
  });
}

// Energy: SpectrumToEnergy reads complex input[i] and writes output[i] for i in
// [start_index, end_index), both straight from the options. (Its int32 real^2 + imag^2
// overflows for the one bin value -32768 - 32768i: data, which no static check excludes.)
bool ValidEnergy(const Node& n) {
  static const char* const kKeys[] = {"end_index", "start_index"};
  if (!n.Arity(1, 1)) return false;
  const tflite::Tensor* input = n.In(0);
  const tflite::Tensor* output = n.Out(0);
  if (!Is(input, kInt16, 1) || !Is(output, kUInt32, 1)) return false;
  return WithOptions(n, kKeys, [&](const Options& o) {
    const int64_t end = o.Int32(0);
    const int64_t start = o.Int32(1);
    return start >= 0 && start <= end && end <= Elements(input) / 2 && end <= Elements(output);
  });
}

// FftAutoScale: Eval reads and writes output->dims->data[0] samples of input and output,
// and one int32 scale.
bool ValidFftAutoScale(const Node& n) {
  if (!n.Arity(1, 2)) return false;
  const tflite::Tensor* input = n.In(0);
  const tflite::Tensor* output = n.Out(0);
  const tflite::Tensor* scale = n.Out(1);
  return Is(input, kInt16, 1) && Is(output, kInt16, 1) && Is(scale, kInt32, 0) &&
         Elements(output) == Elements(input);
}

// FilterBank: Init allocates (num_channels + 1) uint64 accumulators (int arithmetic);
// FilterbankAccumulateChannels reads the three index tables at [0, num_channels] and, for
// each channel, channel_widths[i] weights, unweights and input bins from the starts the
// tables give; Eval then copies the output's size from accumulator 1 on. The tables
// decide every index, so they must be constants and every entry is checked.
bool ValidFilterBank(const Node& n) {
  static const char* const kKeys[] = {"num_channels"};
  if (!n.Arity(6, 1)) return false;
  const tflite::Tensor* input = n.In(0);
  const tflite::Tensor* weights = n.In(1);
  const tflite::Tensor* unweights = n.In(2);
  const tflite::Tensor* output = n.Out(0);
  if (!Is(input, kUInt32, 1) || !Is(weights, kInt16, 1) || !Is(unweights, kInt16, 1) ||
      !Is(output, kUInt64, 1)) {
    return false;
  }
  return WithOptions(n, kKeys, [&](const Options& o) {
    const int64_t channels = o.Int32(0);
    if (channels < 1 || channels >= kMaxStateElements || Elements(output) != channels) {
      return false;
    }
    const uint8_t* freq_starts = ConstantInt16s(n.model, n.In(3), channels + 1);
    const uint8_t* weight_starts = ConstantInt16s(n.model, n.In(4), channels + 1);
    const uint8_t* widths = ConstantInt16s(n.model, n.In(5), channels + 1);
    if (freq_starts == nullptr || weight_starts == nullptr || widths == nullptr) return false;
    const int64_t bins = Elements(input);
    const int64_t taps = Elements(weights) < Elements(unweights) ? Elements(weights)
                                                                 : Elements(unweights);
    for (int64_t i = 0; i <= channels; ++i) {
      const int64_t freq_start = Int16At(freq_starts, i);
      const int64_t weight_start = Int16At(weight_starts, i);
      const int64_t width = Int16At(widths, i);
      if (freq_start < 0 || weight_start < 0 || width < 0 || freq_start + width > bins ||
          weight_start + width > taps) {
        return false;
      }
    }
    return true;
  });
}

// FilterBankLog: FilterbankLog writes input->dims->data[0] outputs and shifts each uint32
// input left by input_correction_bits (32 or more, or negative, is undefined).
bool ValidFilterBankLog(const Node& n) {
  static const char* const kKeys[] = {"input_correction_bits", "output_scale"};
  if (!n.Arity(1, 1)) return false;
  const tflite::Tensor* input = n.In(0);
  const tflite::Tensor* output = n.Out(0);
  if (!Is(input, kUInt32, 1) || !Is(output, kInt16, 1) || Elements(output) != Elements(input)) {
    return false;
  }
  return WithOptions(n, kKeys, [&](const Options& o) {
    const int32_t correction_bits = o.Int32(0);
    return correction_bits >= 0 && correction_bits <= 31;
  });
}

// FilterBankSpectralSubtraction: Init allocates num_channels uint32 of noise estimate
// (int * size_t: a negative count can wrap to a small allocation that the Prepare memset
// then overruns); FilterbankSpectralSubtraction reads and writes num_channels values of
// input and output; Eval copies the noise estimate output's size out of that state. It
// shifts uint32 by smoothing_bits and uint64 by spectral_subtraction_bits.
bool ValidFilterBankSpectralSubtraction(const Node& n) {
  static const char* const kKeys[] = {
      "alternate_one_minus_smoothing", "alternate_smoothing", "clamping",
      "min_signal_remaining",          "num_channels",        "one_minus_smoothing",
      "smoothing",                     "smoothing_bits",      "spectral_subtraction_bits"};
  if (!n.Arity(1, 2)) return false;
  const tflite::Tensor* input = n.In(0);
  const tflite::Tensor* output = n.Out(0);
  const tflite::Tensor* noise = n.Out(1);
  if (!Is(input, kUInt32, 1) || !Is(output, kUInt32, 1) || !Is(noise, kUInt32, 1)) return false;
  return WithOptions(n, kKeys, [&](const Options& o) {
    const int64_t channels = o.Int32(4);
    const int32_t smoothing_bits = o.Int32(7);
    const int32_t subtraction_bits = o.Int32(8);
    return channels >= 1 && channels <= kMaxStateElements && Elements(input) == channels &&
           Elements(output) == channels && Elements(noise) == channels && smoothing_bits >= 0 &&
           smoothing_bits <= 31 && subtraction_bits >= 0 && subtraction_bits <= 63;
  });
}

// FilterBankSquareRoot: FilterbankSqrt writes input->dims->data[0] outputs, each shifted
// right by the int32 scale input (0..31, or the shift is undefined). The scale is data:
// accepted when it is a constant in range, or SignalFftAutoScale's scale output, always
// 0..15 (the micro_speech front end wires it so).
bool ValidFilterBankSquareRoot(const Node& n) {
  if (!n.Arity(2, 1)) return false;
  const tflite::Tensor* input = n.In(0);
  const tflite::Tensor* scale = n.In(1);
  const tflite::Tensor* output = n.Out(0);
  if (!Is(input, kUInt64, 1) || !Is(scale, kInt32, 0) || !Is(output, kUInt32, 1) ||
      Elements(output) != Elements(input)) {
    return false;
  }
  const uint8_t* data = ConstantData(n.model, scale);
  if (data != nullptr) {
    int32_t bits;
    std::memcpy(&bits, data, sizeof(bits));
    return bits >= 0 && bits <= 31;
  }
  return FromFftAutoScale(n, n.InIndex(1));
}

// Framer: Prepare reads Dims(rank - 1), takes innermost % frame_step (division by zero)
// and gives each row a circular buffer of frame_size rounded up to frame_step samples
// (int arithmetic); prefill writes frame_size - frame_step zeros into it (negative wraps
// to a huge size_t). Eval writes frame_step samples per frame into the buffer, which only
// fits when the capacity holds them, and copies frame_size samples per frame per row to the
// output.
bool ValidFramer(const Node& n) {
  static const char* const kKeys[] = {"frame_size", "frame_step", "prefill"};
  if (!n.Arity(1, 2)) return false;
  const tflite::Tensor* input = n.In(0);
  const tflite::Tensor* output = n.Out(0);
  const tflite::Tensor* valid = n.Out(1);
  if (static_cast<int>(input->type()) != kInt16 || static_cast<int>(output->type()) != kInt16 ||
      !Is(valid, kBool, 0) || Rank(input) < 1 || Rank(output) != Rank(input) + 1) {
    return false;
  }
  return WithOptions(n, kKeys, [&](const Options& o) {
    const int64_t size = o.Int32(0);
    const int64_t step = o.Int32(1);
    const bool prefill = o.Bool(2);
    const int64_t innermost = Last(input);
    if (size < 1 || step < 1 || size > kMaxStateElements || step > kMaxStateElements ||
        innermost < step || innermost % step != 0 || (prefill && size < step)) {
      return false;
    }
    const int64_t capacity = (size + step - 1) / step * step;
    const int64_t rows = Elements(input) / innermost;
    const int64_t frames = innermost / step;
    return capacity <= kMaxStateElements && Elements(output) == rows * frames * size;
  });
}

// The FFT length both FFT kernels pass to kissfft (kiss_fftr_alloc: they ignore its result,
// so it must succeed) and size their per-row loops by.
bool ValidFftLength(int64_t length) {
  return PowerOfTwo(length) && length >= kMinFftLength && length <= kMaxFftLength;
}

// The element types RfftInitAll and IrfftInitAll know (any other: nullptr, see below).
bool ValidFftType(int type) {
  return type == kInt16 || type == kFloat32 || (type == kInt32 && kAllowInt32Fft);
}

// What Rfft and Irfft share: one input and one output of equal rank, both of the FFT's
// type `T`, and a valid fft_length; `rows` checks their innermost dimensions against it.
template <typename Rows>
bool ValidFft(const Node& n, Rows rows) {
  static const char* const kKeys[] = {"T", "fft_length"};
  if (!n.Arity(1, 1)) return false;
  const tflite::Tensor* input = n.In(0);
  const tflite::Tensor* output = n.Out(0);
  if (Rank(input) < 1 || Rank(output) != Rank(input)) return false;
  return WithOptions(n, kKeys, [&](const Options& o) {
    const int type = o.Type();
    const int64_t length = o.Int32(1);
    if (!ValidFftType(type) || !ValidFftLength(length) ||
        static_cast<int>(input->type()) != type || static_cast<int>(output->type()) != type) {
      return false;
    }
    return rows(input, output, length);
  });
}

// Irfft: IrfftInitAll returns nullptr for a type it does not know, which IrfftPrepareAll
// dereferences. Eval steps through the input by half its innermost dimension (0 never
// ends), and kiss_fftri reads fft_length / 2 + 1 complex values and writes fft_length
// samples per row.
bool ValidIrfft(const Node& n) {
  return ValidFft(n, [](const tflite::Tensor* input, const tflite::Tensor* output, int64_t length) {
    const int64_t bins = 2 * (length / 2 + 1);  // interleaved real, imaginary
    return Last(input) == bins && Last(output) == length &&
           Elements(input) / bins == Elements(output) / length;
  });
}

// OverlapAdd: OverlapAddInitAll returns nullptr for a type it does not know, which
// OverlapAddPrepareAll dereferences. Prepare divides the flat size by frame_size *
// n_frames (its two innermost dimensions); OverlapAdd copies frame_step samples out of a
// frame_size state and moves frame_size - frame_step of them, and Eval writes frame_step
// outputs per frame per row.
bool ValidOverlapAdd(const Node& n) {
  static const char* const kKeys[] = {"T", "frame_step"};
  if (!n.Arity(1, 1)) return false;
  const tflite::Tensor* input = n.In(0);
  const tflite::Tensor* output = n.Out(0);
  if (Rank(input) < 2 || Rank(output) + 1 != Rank(input)) return false;
  return WithOptions(n, kKeys, [&](const Options& o) {
    const int type = o.Type();
    const int64_t step = o.Int32(1);
    if ((type != kInt16 && type != kFloat32) || static_cast<int>(input->type()) != type ||
        static_cast<int>(output->type()) != type) {
      return false;
    }
    const int64_t size = Last(input);
    const int64_t frames = Dim(input, Rank(input) - 2);
    if (size < 1 || frames < 1 || size * frames > (int64_t{1} << 30) || step < 1 ||
        step > size) {
      return false;
    }
    const int64_t rows = Elements(input) / (size * frames);
    return Elements(output) == rows * frames * step;
  });
}

// PCAN: Eval copies the output's bytes from the input, and ApplyPcanAutoGainControlFixed
// writes input->dims->data[0] outputs, reads as many noise estimates, indexes the gain LUT
// up to 4 * 32 - 6 + 2 = 124 (WideDynamicFunction, for any uint32 noise) and shifts a
// uint64 by snr_shift.
bool ValidPcan(const Node& n) {
  static const char* const kKeys[] = {"snr_shift"};
  if (!n.Arity(3, 1)) return false;
  const tflite::Tensor* input = n.In(0);
  const tflite::Tensor* noise = n.In(1);
  const tflite::Tensor* lut = n.In(2);
  const tflite::Tensor* output = n.Out(0);
  if (!Is(input, kUInt32, 1) || !Is(noise, kUInt32, 1) || !Is(lut, kInt16, 1) ||
      !Is(output, kUInt32, 1) || Elements(output) != Elements(input) ||
      Elements(noise) != Elements(input) || Elements(lut) < 125) {
    return false;
  }
  return WithOptions(n, kKeys, [&](const Options& o) {
    const int32_t shift = o.Int32(0);
    return shift >= 0 && shift <= 63;
  });
}

// Rfft: RfftInitAll returns nullptr for a type it does not know, which RfftPrepareAll
// dereferences. Eval copies each input row (its innermost dimension: 0 never ends) into a
// scratch buffer of fft_length samples and zero-pads the rest, and kiss_fftr writes
// fft_length / 2 + 1 complex values per row, a row of output apart.
bool ValidRfft(const Node& n) {
  return ValidFft(n, [](const tflite::Tensor* input, const tflite::Tensor* output, int64_t length) {
    const int64_t samples = Last(input);
    const int64_t bins = 2 * (length / 2 + 1);  // interleaved real, imaginary
    return samples >= 1 && samples <= length && Last(output) == bins &&
           Elements(input) / samples == Elements(output) / bins;
  });
}

// Stacker: Init sizes a circular buffer of num_channels * (left + right + 1) samples (int
// arithmetic) and steps num_channels * stacker_step. Eval writes num_channels input
// samples, replicates the first frame `left` times, copies the whole buffer to the output
// and discards a step, which must be positive (asserted) and no more than the buffer
// holds.
bool ValidStacker(const Node& n) {
  static const char* const kKeys[] = {"num_channels", "stacker_left_context",
                                      "stacker_right_context", "stacker_step"};
  if (!n.Arity(1, 2)) return false;
  const tflite::Tensor* input = n.In(0);
  const tflite::Tensor* output = n.Out(0);
  const tflite::Tensor* valid = n.Out(1);
  if (!Is(input, kInt16, 1) || !Is(output, kInt16, 1) || !Is(valid, kBool, 0)) return false;
  return WithOptions(n, kKeys, [&](const Options& o) {
    const int64_t channels = o.Int32(0);
    const int64_t left = o.Int32(1);
    const int64_t right = o.Int32(2);
    const int64_t step = o.Int32(3);
    if (channels < 1 || left < 0 || right < 0 || left > kMaxStateElements ||
        right > kMaxStateElements || step < 1 || step > left + right + 1) {
      return false;
    }
    const int64_t size = channels * (left + right + 1);
    return size <= kMaxStateElements && Elements(input) == channels && Elements(output) == size;
  });
}

// Window: Eval walks the input in chunks of the weights' length (0 never ends), reading and
// writing a whole chunk each time, and shifts int32 products right by `shift`.
bool ValidWindow(const Node& n) {
  static const char* const kKeys[] = {"shift"};
  if (!n.Arity(2, 1)) return false;
  const tflite::Tensor* input = n.In(0);
  const tflite::Tensor* weights = n.In(1);
  const tflite::Tensor* output = n.Out(0);
  if (static_cast<int>(input->type()) != kInt16 || !Is(weights, kInt16, 1) ||
      static_cast<int>(output->type()) != kInt16 || Rank(input) < 1 ||
      Rank(output) != Rank(input)) {
    return false;
  }
  const int64_t chunk = Elements(weights);
  if (chunk < 1 || Elements(input) % chunk != 0 || Elements(output) != Elements(input)) {
    return false;
  }
  return WithOptions(n, kKeys, [&](const Options& o) {
    const int32_t shift = o.Int32(0);
    return shift >= 0 && shift <= 31;
  });
}

struct Check {
  const char* name;  // as MicroMutableOpResolver registers it
  bool (*valid)(const Node&);
};

const Check kChecks[] = {
    {"SignalDelay", ValidDelay},
    {"SignalEnergy", ValidEnergy},
    {"SignalFftAutoScale", ValidFftAutoScale},
    {"SignalFilterBank", ValidFilterBank},
    {"SignalFilterBankLog", ValidFilterBankLog},
    {"SignalFilterBankSpectralSubtraction", ValidFilterBankSpectralSubtraction},
    {"SignalFilterBankSquareRoot", ValidFilterBankSquareRoot},
    {"SignalFramer", ValidFramer},
    {"SignalIrfft", ValidIrfft},
    {"SignalOverlapAdd", ValidOverlapAdd},
    {"SignalPCAN", ValidPcan},
    {"SignalRfft", ValidRfft},
    {"SignalStacker", ValidStacker},
    {"SignalWindow", ValidWindow},
};

}  // namespace

bool ValidSignalOp(const char* name, const tflite::Model* model, const tflite::SubGraph* subgraph,
                   const tflite::Operator* op) {
  if (name == nullptr) return true;
  for (const Check& check : kChecks) {
    if (std::strcmp(check.name, name) != 0) continue;
    if (model == nullptr || subgraph == nullptr || op == nullptr ||
        model->subgraphs() == nullptr || subgraph->tensors() == nullptr ||
        subgraph->inputs() == nullptr) {
      return false;
    }
    return check.valid(Node{model, subgraph, op});
  }
  return true;
}

#else  // no flexbuffers: a pin from before the signal library, which has no signal kernels

bool ValidSignalOp(const char*, const tflite::Model*, const tflite::SubGraph*,
                   const tflite::Operator*) {
  return true;
}

#endif

}  // namespace tflm_shim
