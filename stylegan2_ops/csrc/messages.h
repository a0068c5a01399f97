// Error-message pieces for the plugins' argument checks, formatted as std::string.
//
// Numbers and shapes are turned into strings here rather than streamed into TORCH_CHECK: an
// extension compiled by another compiler than PyTorch's streams integers through its own inlined
// std::ostream code into PyTorch's string stream, which crashed (SIGSEGV) on a CUDA 13 machine.
// Strings and C strings stream safely.
#pragma once

#include <torch/extension.h>

#include <string>

namespace latentreenact_messages {

inline std::string num(int64_t value) { return std::to_string(value); }

inline std::string shape(c10::IntArrayRef sizes) {
  std::string out = "[";
  for (size_t i = 0; i < sizes.size(); ++i) {
    if (i > 0) out += ", ";
    out += std::to_string(sizes[i]);
  }
  return out + "]";
}

inline std::string device(const at::Tensor& t) { return t.device().str(); }

}  // namespace latentreenact_messages
