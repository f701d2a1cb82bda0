// bindbot's reference runner: TFLM's own C++ API and nothing else (no shim, no Rust), built
// from the pinned sources with upstream's Makefile flags. Its outputs are the reference the
// generated crate is held to wherever upstream ships no golden data.
//
//   runner MODEL info                  one line per input and output tensor
//   runner MODEL run IN... -- OUT...   feed each input file, step by step, and write the
//                                      outputs of every step, in order, to OUT...
//
// A "step" is one Invoke: every input file holds a whole number of copies of its tensor,
// the same number for every input, and the interpreter is kept across steps (stateful
// models such as the audio preprocessor see their frames in order, as on a device).
// Exit status: 0 success, 2 bad usage or files, 3 the model or the interpreter failed.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <new>
#include <vector>

#include "runner_ops.h"  // generated: BINDBOT_ADD_OPS, BINDBOT_OP_COUNT, BINDBOT_NEW_INTERPRETER
#include "tensorflow/lite/micro/micro_interpreter.h"
#include "tensorflow/lite/micro/micro_mutable_op_resolver.h"
#include "tensorflow/lite/schema/schema_generated.h"

namespace {

// Large enough for every model upstream ships for MCUs (person_detect needs 85 KiB, the
// per-op integration tests 100 KiB); a model that needs more fails with a clear message.
constexpr size_t kArenaBytes = 8 * 1024 * 1024;

int Fail(int status, const char* what, const char* detail) {
  std::fprintf(stderr, "runner: %s%s%s\n", what, detail[0] ? ": " : "", detail);
  return status;
}

bool ReadFile(const char* path, std::vector<uint8_t>* out) {
  FILE* f = std::fopen(path, "rb");
  if (f == nullptr) return false;
  uint8_t chunk[65536];
  size_t n;
  while ((n = std::fread(chunk, 1, sizeof chunk, f)) > 0) {
    out->insert(out->end(), chunk, chunk + n);
  }
  const bool ok = std::ferror(f) == 0;
  std::fclose(f);
  return ok;
}

bool WriteFile(const char* path, const std::vector<uint8_t>& bytes) {
  FILE* f = std::fopen(path, "wb");
  if (f == nullptr) return false;
  const bool ok = std::fwrite(bytes.data(), 1, bytes.size(), f) == bytes.size();
  return std::fclose(f) == 0 && ok;
}

void Describe(const char* role, size_t index, const TfLiteTensor* t) {
  std::printf("%s %zu type %d bytes %zu scale %.9g zero_point %d dims", role, index,
              static_cast<int>(t->type), t->bytes, static_cast<double>(t->params.scale),
              static_cast<int>(t->params.zero_point));
  for (int i = 0; t->dims != nullptr && i < t->dims->size; ++i) {
    std::printf(" %d", t->dims->data[i]);
  }
  std::printf("\n");
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    return Fail(2, "usage", "runner MODEL info | runner MODEL run IN... -- OUT...");
  }
  std::vector<uint8_t> file;
  if (!ReadFile(argv[1], &file)) return Fail(2, "cannot read the model", argv[1]);
  // flatbuffers wants the model 16-byte aligned: copy it into storage that is.
  std::vector<uint8_t> aligned(file.size() + 16);
  uint8_t* model_bytes = aligned.data() + (16 - reinterpret_cast<uintptr_t>(aligned.data()) % 16) % 16;
  std::memcpy(model_bytes, file.data(), file.size());
  flatbuffers::Verifier verifier(model_bytes, file.size());
  if (!tflite::VerifyModelBuffer(verifier)) {
    return Fail(3, "not a valid TFLite flatbuffer", argv[1]);
  }
  const tflite::Model* model = tflite::GetModel(model_bytes);

  static tflite::MicroMutableOpResolver<BINDBOT_OP_COUNT> resolver;
  BINDBOT_ADD_OPS(resolver);
  uint8_t* arena = static_cast<uint8_t*>(std::aligned_alloc(16, kArenaBytes));
  if (arena == nullptr) return Fail(3, "out of memory", "");
  alignas(tflite::MicroInterpreter) static uint8_t storage[sizeof(tflite::MicroInterpreter)];
  tflite::MicroInterpreter* interpreter =
      BINDBOT_NEW_INTERPRETER(storage, model, resolver, arena, kArenaBytes);
  if (interpreter->AllocateTensors() != kTfLiteOk) {
    return Fail(3, "AllocateTensors failed (an operator the resolver lacks, or an arena "
                   "over 8 MiB)", argv[1]);
  }
  const size_t inputs = interpreter->inputs_size();
  const size_t outputs = interpreter->outputs_size();

  if (std::strcmp(argv[2], "info") == 0) {
    for (size_t i = 0; i < inputs; ++i) Describe("input", i, interpreter->input(i));
    for (size_t i = 0; i < outputs; ++i) Describe("output", i, interpreter->output(i));
    std::printf("arena_used_bytes %zu\n", interpreter->arena_used_bytes());
    return 0;
  }
  if (std::strcmp(argv[2], "run") != 0) return Fail(2, "unknown mode", argv[2]);
  int sep = 3;
  while (sep < argc && std::strcmp(argv[sep], "--") != 0) ++sep;
  const size_t given_in = static_cast<size_t>(sep - 3);
  const size_t given_out = sep < argc ? static_cast<size_t>(argc - sep - 1) : 0;
  if (given_in != inputs || given_out != outputs) {
    std::fprintf(stderr, "runner: the model has %zu inputs and %zu outputs, given %zu and %zu\n",
                 inputs, outputs, given_in, given_out);
    return 2;
  }
  std::vector<std::vector<uint8_t>> in(inputs);
  size_t steps = 0;
  for (size_t i = 0; i < inputs; ++i) {
    if (!ReadFile(argv[3 + i], &in[i])) return Fail(2, "cannot read an input", argv[3 + i]);
    const size_t bytes = interpreter->input(i)->bytes;
    const size_t n = bytes == 0 ? 0 : in[i].size() / bytes;
    if (bytes == 0 || in[i].size() % bytes != 0 || n == 0 || (i > 0 && n != steps)) {
      std::fprintf(stderr, "runner: %s holds %zu bytes, not a whole number of %zu-byte "
                   "steps (or not as many steps as the other inputs)\n",
                   argv[3 + i], in[i].size(), bytes);
      return 2;
    }
    steps = n;
  }
  std::vector<std::vector<uint8_t>> out(outputs);
  for (size_t step = 0; step < steps; ++step) {
    for (size_t i = 0; i < inputs; ++i) {
      TfLiteTensor* t = interpreter->input(i);
      std::memcpy(t->data.data, in[i].data() + step * t->bytes, t->bytes);
    }
    if (interpreter->Invoke() != kTfLiteOk) {
      std::fprintf(stderr, "runner: Invoke failed at step %zu of %s\n", step, argv[1]);
      return 3;
    }
    for (size_t o = 0; o < outputs; ++o) {
      const TfLiteTensor* t = interpreter->output(o);
      const uint8_t* data = static_cast<const uint8_t*>(t->data.data);
      out[o].insert(out[o].end(), data, data + t->bytes);
    }
  }
  for (size_t o = 0; o < outputs; ++o) {
    if (!WriteFile(argv[sep + 1 + o], out[o])) {
      return Fail(2, "cannot write an output", argv[sep + 1 + o]);
    }
  }
  std::printf("steps %zu\n", steps);
  return 0;
}
