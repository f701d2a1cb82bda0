// Names in a verified model: tensor names and signatures (SignatureDef), which TFLM's
// MicroInterpreter does not read but users address tensors by. Plain C++ copied into the
// crate by bindbot; it reads the flatbuffer only, so the same code serves every pin.
#include <cstddef>
#include <cstdint>
#include <type_traits>
#include <utility>

#include "tflm_shim.h"

#include "tensorflow/lite/schema/schema_generated.h"

namespace {

// Schemas before 2021 have no signatures, and early ones name the key `method_name`:
// detect the fields this file reads instead of assuming them, so older pins still build
// (with no signatures).
template <typename M, typename = void>
struct HasSignatures : std::false_type {};
template <typename M>
struct HasSignatures<
    M, std::void_t<decltype(std::declval<const M&>().signature_defs()->Get(0)->signature_key()),
                   decltype(std::declval<const M&>().signature_defs()->Get(0)->subgraph_index()),
                   decltype(std::declval<const M&>().signature_defs()->Get(0)->inputs()),
                   decltype(std::declval<const M&>().signature_defs()->Get(0)->outputs())>>
    : std::true_type {};

int Text(const flatbuffers::String* s, const char** text, size_t* len) {
  if (s == nullptr) return 0;
  *text = s->c_str();
  *len = s->size();
  return 1;
}

// The tensor table of `subgraph`, or nullptr.
const flatbuffers::Vector<flatbuffers::Offset<tflite::Tensor>>* Tensors(const tflite::Model* m,
                                                                       uint32_t subgraph) {
  const auto* subgraphs = m->subgraphs();
  if (subgraphs == nullptr || subgraph >= subgraphs->size()) return nullptr;
  return subgraphs->Get(subgraph)->tensors();
}

// Subgraph `subgraph`'s inputs (output == 0) or outputs.
const flatbuffers::Vector<int32_t>* Io(const tflite::Model* m, uint32_t subgraph, int output) {
  const auto* subgraphs = m->subgraphs();
  if (subgraphs == nullptr || subgraph >= subgraphs->size()) return nullptr;
  const tflite::SubGraph* s = subgraphs->Get(subgraph);
  return output != 0 ? s->outputs() : s->inputs();
}

template <typename M>
size_t SignatureCount(const M* m) {
  if constexpr (HasSignatures<M>::value) {
    return m->signature_defs() != nullptr ? m->signature_defs()->size() : 0;
  } else {
    return 0;
  }
}

template <typename M>
int Signature(const M* m, size_t index, const char** key, size_t* key_len, uint32_t* subgraph,
              size_t* inputs, size_t* outputs) {
  if constexpr (HasSignatures<M>::value) {
    if (index >= SignatureCount(m)) return 0;
    const auto* def = m->signature_defs()->Get(static_cast<uint32_t>(index));
    if (!Text(def->signature_key(), key, key_len)) {
      *key = "";
      *key_len = 0;
    }
    *subgraph = def->subgraph_index();
    *inputs = def->inputs() != nullptr ? def->inputs()->size() : 0;
    *outputs = def->outputs() != nullptr ? def->outputs()->size() : 0;
    return 1;
  } else {
    (void)m, (void)index, (void)key, (void)key_len, (void)subgraph, (void)inputs, (void)outputs;
    return 0;
  }
}

template <typename M>
int SignatureIo(const M* m, size_t index, int output, size_t j, const char** name, size_t* len,
                int32_t* position) {
  if constexpr (HasSignatures<M>::value) {
    if (index >= SignatureCount(m)) return 0;
    const auto* def = m->signature_defs()->Get(static_cast<uint32_t>(index));
    const auto* maps = output != 0 ? def->outputs() : def->inputs();
    if (maps == nullptr || j >= maps->size()) return 0;
    const auto* map = maps->Get(static_cast<uint32_t>(j));
    if (!Text(map->name(), name, len)) {
      *name = "";
      *len = 0;
    }
    // A signature names tensors by index; callers address the interpreter's inputs and
    // outputs by position, so translate (and give -1 for an index that is not one).
    *position = -1;
    const auto* io = Io(m, def->subgraph_index(), output);
    for (uint32_t k = 0; io != nullptr && k < io->size(); ++k) {
      if (io->Get(k) >= 0 && static_cast<uint32_t>(io->Get(k)) == map->tensor_index()) {
        *position = static_cast<int32_t>(k);
        break;
      }
    }
    return 1;
  } else {
    (void)m, (void)index, (void)output, (void)j, (void)name, (void)len, (void)position;
    return 0;
  }
}

}  // namespace

int tflm_model_io_name(const void* model, int output, size_t position, const char** name,
                       size_t* len) {
  const auto* m = static_cast<const tflite::Model*>(model);
  *name = nullptr;
  *len = 0;
  const auto* io = Io(m, 0, output);
  const auto* tensors = Tensors(m, 0);
  if (io == nullptr || tensors == nullptr || position >= io->size()) return 0;
  const int32_t index = io->Get(static_cast<uint32_t>(position));
  if (index < 0 || static_cast<uint32_t>(index) >= tensors->size()) return 0;
  return Text(tensors->Get(static_cast<uint32_t>(index))->name(), name, len);
}

size_t tflm_model_signatures(const void* model) {
  return SignatureCount(static_cast<const tflite::Model*>(model));
}

int tflm_model_signature(const void* model, size_t index, const char** key, size_t* key_len,
                         uint32_t* subgraph, size_t* inputs, size_t* outputs) {
  return Signature(static_cast<const tflite::Model*>(model), index, key, key_len, subgraph,
                   inputs, outputs);
}

int tflm_model_signature_io(const void* model, size_t index, int output, size_t j,
                            const char** name, size_t* len, int32_t* position) {
  return SignatureIo(static_cast<const tflite::Model*>(model), index, output, j, name, len,
                     position);
}
