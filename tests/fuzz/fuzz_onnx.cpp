// libFuzzer target: ONNX models (quant::import_onnx).
#include "fuzz_support.hpp"
#include "quant/onnx_import.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = vitsim::fuzz::as_file(data, size, "fuzz.onnx");
  return vitsim::fuzz::read_or_refuse([&] { vitsim::quant::import_onnx(path); });
}
