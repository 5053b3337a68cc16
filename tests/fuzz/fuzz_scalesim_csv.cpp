// libFuzzer target: SCALE-Sim topology CSVs (sim::parse_scalesim_topology); the first byte picks the conv
// or the gemm format, the rest is the file.
#include <sstream>

#include "fuzz_support.hpp"
#include "sim/validate/scalesim_import.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const auto format = data[0] % 2 ? vitsim::sim::ScaleSimFormat::Gemm : vitsim::sim::ScaleSimFormat::Conv;
  return vitsim::fuzz::read_or_refuse([&] {
    std::istringstream in(std::string(reinterpret_cast<const char*>(data) + 1, size - 1));
    vitsim::sim::parse_scalesim_topology(in, "fuzz.csv", format);
  });
}
