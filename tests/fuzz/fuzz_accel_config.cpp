// libFuzzer target: accelerator configs, read as `vitsim accel --config FILE` reads them
// (arch::load_accel_config: the bounded JSON reader, then the validation into structs).
#include "arch/accel_config.hpp"
#include "fuzz_support.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = vitsim::fuzz::as_file(data, size, "accel.json");
  return vitsim::fuzz::read_or_refuse([&] { vitsim::arch::load_accel_config(path); });
}
