// Functional simulation on real bytes for the tests (tests/test_functional.cpp, tests/test_vit_mapping.cpp):
// a compiled program run in fast timing with the DRAM preloaded, every layer compared with the integer
// reference executor.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "arch/accelerator.hpp"
#include "arch/functional.hpp"
#include "quant/int_executor.hpp"

namespace vitsim::test {

struct BytesOutcome {
  std::vector<int64_t> mismatches;  // per layer
  int64_t total = 0;
  std::string first;  // the model's first-mismatch message
};

/// Runs `program` on real bytes for the quantized graph `q`: the DRAM preloaded with the image and the
/// weights, tile `skip_requantization` (if >= 0) without its requantizer. The outputs are compared with
/// the integer executor's on `golden` (default: `q` itself; a different graph models a broken datapath).
inline BytesOutcome run_bytes(const quant::QGraph& q, const arch::AccelConfig& c,
                              const arch::Program& program, const quant::Tensor& image,
                              int skip_requantization = -1, const quant::QGraph* golden = nullptr) {
  const quant::QTensor input = quant::quantize_input(q, image);
  arch::MemoryImage memory(c);
  arch::preload_dram(memory.dram, program, q, input);
  arch::FunctionalModel model(q, program, c, memory);
  model.skip_requantization(skip_requantization);
  arch::RunOptions o;
  o.functional = &model;
  o.memory = &memory;
  arch::run_program(program, c, o);
  BytesOutcome out;
  out.mismatches = model.mismatches(quant::run_int_all(golden ? *golden : q, input));
  for (int64_t m : out.mismatches) out.total += m;
  out.first = model.first_mismatch();
  return out;
}

}  // namespace vitsim::test
