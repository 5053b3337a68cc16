// libFuzzer target: .vqg quantized-graph files, through the reader's public entry point
// (quant::load_qgraph, which validates the graph), so the target follows changes of the format.
#include "fuzz_support.hpp"
#include "quant/qgraph_io.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = vitsim::fuzz::as_file(data, size, "fuzz.vqg");
  return vitsim::fuzz::read_or_refuse([&] { vitsim::quant::load_qgraph(path); });
}
