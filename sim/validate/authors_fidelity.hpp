// vitsim against the Trio-ViT authors' analytical latency model (tools/authors_model), under that model's
// assumptions: configs/accel/trio-vit-authors-model.json (MAT 8x8 + R-MAC 8x8, no replicas), ideal
// memory, the classifier head left out. vitsim's layers are grouped into the model's pieces (the stem conv,
// each unfused pointwise conv, each depthwise conv with the pointwise conv it feeds, each attention's
// matmuls) and each piece's span (first to last cycle of its layers) is set beside the model's cycles.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "quant/qgraph.hpp"
#include "tools/authors_model/authors_model.hpp"

namespace vitsim::sim {

struct FidelityPiece {
  std::string block, stage;
  authors_model::Part part = authors_model::Part::Pointwise;
  int64_t model_cycles = 0;
  int64_t vitsim_cycles = 0;  // span of the piece's layers in vitsim
};

struct Fidelity {
  std::string model;
  int resolution = 0;
  std::vector<FidelityPiece> pieces;  // in execution order
  int64_t model_cycles = 0;           // the model's total
  int64_t vitsim_cycles = 0;  // vitsim: first cycle to the last cycle of the last layer before the head
  double ratio() const { return static_cast<double>(vitsim_cycles) / static_cast<double>(model_cycles); }
};

/// The comparison for one EfficientViT B-series model (built from the zoo, quantized with `qgraph`).
/// Throws std::logic_error if vitsim's layers do not group into the model's pieces one to one.
Fidelity compare_with_authors_model(const quant::QGraph& qgraph, const std::string& model, int resolution);

}  // namespace vitsim::sim
