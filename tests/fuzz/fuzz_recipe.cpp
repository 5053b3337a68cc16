// libFuzzer target: PTQ recipe files (quant::load_recipe, as `--recipe FILE` reads them).
#include "fuzz_support.hpp"
#include "quant/recipe.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = vitsim::fuzz::as_file(data, size, "recipe.json");
  return vitsim::fuzz::read_or_refuse([&] { vitsim::quant::load_recipe(path); });
}
