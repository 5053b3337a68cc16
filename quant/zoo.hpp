// The model zoo: EfficientViT B0-B3 and L1-L3 at any resolution that is a multiple of 32, and DeiT-T/S/B and
// ViT-B/16 at any multiple of 16 (224 by default), built as graph IR with the official layer structure and
// names.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "quant/graph.hpp"

namespace vitsim::quant {

struct ZooEntry {
  std::string name;         // e.g. "efficientvit-b1"
  std::string family;       // "efficientvit-b", "efficientvit-l", "deit", "vit"
  std::string description;  // one line for `vitsim models`
  int default_resolution;   // 224 for every model here
  int resolution_step;      // any positive multiple of this builds: 32 for EfficientViT (five stride-2
                            // stages), 16 for DeiT / ViT (16 x 16 patches)
};

/// Every model of the zoo, in a fixed order.
const std::vector<ZooEntry>& zoo_models();

/// The entry called `name`; throws std::invalid_argument naming the known models if there is none.
const ZooEntry& zoo_entry(const std::string& name);

/// Builds the graph (structure only, no weights). Throws std::invalid_argument for an unknown model or a
/// resolution the model does not support, with a message that says what is allowed.
Graph build_model(const std::string& name, int resolution);

/// Fills every node's params with deterministic synthetic values (see docs/models.md):
///   conv / linear weights ~ N(0, 1/fan_in)   (fan_in = Cin/groups * k^2, or in_features)
///   biases ~ N(0, 0.02^2); BatchNorm gamma ~ U(0.5, 1.5), beta ~ N(0, 0.1^2), mean ~ N(0, 0.1^2),
///   var ~ U(0.5, 1.5); LayerNorm gamma ~ U(0.5, 1.5), beta ~ N(0, 0.1^2);
///   class token and position embedding ~ N(0, 0.02^2).
/// Each tensor is drawn from its own stream seeded by (seed, node name, param name), so a tensor's
/// values do not depend on the rest of the graph, and are identical on every platform.
void materialize_synthetic_weights(Graph& graph, uint64_t seed = 0);

/// A deterministic synthetic input image for `graph` (values ~ N(0, 1), same seeding rule).
Tensor synthetic_input(const Graph& graph, uint64_t seed = 0);

}  // namespace vitsim::quant
