#include "sim/compile/inputs.hpp"

#include <stdexcept>

#include "quant/json_reader.hpp"

namespace vitsim::sim {

std::string config_dir() {
  return quant::bundled_config_dir();
}

arch::AccelConfig find_accel(const std::string& name_or_path) {
  return arch::find_accel_config(name_or_path, config_dir() + "/accel");
}

arch::Device find_device(const std::string& name_or_path) {
  return arch::find_device(name_or_path, config_dir());
}

quant::ImageSet load_images(const std::string& source, const std::string& split, int count,
                            const quant::Shape& input, uint64_t seed) {
  if (count < 1) throw std::invalid_argument("image count must be at least 1, got " + std::to_string(count));
  if (source == "synthetic") return quant::synthetic_images(count, input, seed);
  if (source == "fashion-mnist") {
    if (input.size() != 3 || input[1] != input[2])
      throw std::invalid_argument("fashion-mnist images need a square [C,R,R] model input, got " +
                                  quant::shape_str(input));
    return quant::load_fashion_mnist("", split, count, 0, static_cast<int>(input[1]),
                                     static_cast<int>(input[0]));
  }
  throw std::invalid_argument("unknown image source '" + source + "' (expected synthetic or fashion-mnist)");
}

}  // namespace vitsim::sim
