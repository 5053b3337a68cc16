// Functional simulation on real bytes for the tests (tests/test_functional.cpp, tests/test_vit_mapping.cpp):
// a compiled program run in fast timing with the DRAM preloaded, every layer compared with the integer
// reference executor.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "arch/accel_config.hpp"
#include "arch/accelerator.hpp"
#include "arch/functional.hpp"
#include "quant/int_executor.hpp"
#include "quant/json_reader.hpp"
#include "tests/test_support.hpp"

namespace vitsim::test {

/// trio-vit with the two auxiliary units that squeeze-excite CNNs (MobileNetV3, EfficientNet) need and the
/// published accelerator, so its config, does not have; docs/models.md gives the same units and parameters.
inline arch::AccelConfig trio_vit_with_cnn_units() {
  nlohmann::json j = quant::read_json_file(config_dir() + "/accel/trio-vit.json");
  j["name"] = "trio-vit-cnn-units";
  j["aux_units"]["act_table"] = {{"throughput", 128}, {"latency", 2}, {"dsps", 0}};
  j["aux_units"]["channel_mul"] = {{"throughput", 64}, {"latency", 3}, {"dsps", 64}};
  return arch::parse_accel_config(j, "trio-vit + act_table + channel_mul");
}

struct BytesOutcome {
  std::vector<int64_t> mismatches;  // per layer
  int64_t total = 0;
  std::string first;  // the model's first-mismatch message
};

/// Runs `program` on real bytes for the quantized graph `q`: the DRAM preloaded with the image and the
/// weights, tile `skip_requantization` (if >= 0) without its requantizer. The outputs are compared with
/// the integer executor's on `golden` (default: `q` itself; a different graph models a broken datapath).
/// `mode`: the timing mode that schedules the tiles.
inline BytesOutcome run_bytes(const quant::QGraph& q, const arch::AccelConfig& c,
                              const arch::Program& program, const quant::Tensor& image,
                              int skip_requantization = -1, const quant::QGraph* golden = nullptr,
                              arch::TimingMode mode = arch::TimingMode::Fast) {
  const quant::QTensor input = quant::quantize_input(q, image);
  arch::MemoryImage memory(c);
  arch::preload_dram(memory.dram, program, q, input);
  arch::FunctionalModel model(q, program, c, memory);
  model.skip_requantization(skip_requantization);
  arch::RunOptions o;
  o.mode = mode;
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
