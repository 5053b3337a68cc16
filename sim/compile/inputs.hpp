// What the flow reads, found by name: the bundled configs folder, accelerator configs, FPGA devices, and the
// images of calibration and evaluation. The commands, sweeps and validation all read them the same way.
#pragma once

#include <cstdint>
#include <string>

#include "arch/accel_config.hpp"
#include "arch/resource_model.hpp"
#include "quant/dataset.hpp"

namespace vitsim::sim {

/// Directory of the bundled configs (VITSIM_CONFIG_DIR, else the source tree's configs/).
std::string config_dir();

/// Loads `name_or_path` (a file, else configs/accel/<name>.json); throws quant::ConfigError.
arch::AccelConfig find_accel(const std::string& name_or_path);

/// Loads `name_or_path` (a file, else configs/devices/<name>.json); throws quant::ConfigError.
arch::Device find_device(const std::string& name_or_path);

/// `count` images from "synthetic" (seeded) or "fashion-mnist" (`split` "train" | "test") for a model input
/// of shape `input`; throws std::invalid_argument for an unknown source or an unusable input shape.
quant::ImageSet load_images(const std::string& source, const std::string& split, int count,
                            const quant::Shape& input, uint64_t seed);

}  // namespace vitsim::sim
