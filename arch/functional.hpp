// Functional simulation: the engines' integer datapaths, executed tile by tile on the bytes of the modeled
// memories. A tile reads its operands from the buffer addresses its loads filled (or the resident region,
// or the on-chip output of the tile it consumes; with ideal memory, DRAM), decodes its weights from the
// weight records in its weight slot, computes its Region of its layer's output the way its resource does
// (MAT / R-MAC GEMM: pe-wide adder-tree partial sums per wave; R-MAC depthwise: tap-by-tap output-stationary
// accumulation, each followed by its auxiliary chain: requantizer, activation, shift subtractor; a
// standalone tile runs its auxiliary unit type's datapath, AuxUnitParams::compute) and writes the results to
// its output slot (the DMA store carries them to DRAM) or to the resident region. Every layer's output is
// read back from where it landed and compared with the integer reference executor (docs/simulation.md,
// "Functional simulation").
#pragma once

#include <algorithm>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "arch/accel_config.hpp"
#include "arch/memory_image.hpp"
#include "arch/program.hpp"
#include "quant/int_ops.hpp"
#include "quant/qgraph.hpp"

namespace vitsim::arch {

/// sum_{i < k} product(i) as a PE lane computes it: `pe`-wide partial sums (one adder tree's output per
/// wave) added to the accumulator in order. The RTL co-simulation (docs/rtl.md) holds the MAT lanes to it.
template <class Product>
int64_t pe_chunked_dot(int64_t k, int64_t pe, const Product& product) {
  int64_t acc = 0;
  for (int64_t first = 0; first < k; first += pe) {
    int64_t partial = 0;
    for (int64_t i = first; i < std::min(k, first + pe); ++i) partial += product(i);
    acc += partial;
  }
  return acc;
}

/// The code of an operand element a tile did not read from memory: far outside any code range, so a result
/// computed from it differs from the reference.
constexpr int32_t kPoison = 0x3ffffff;

/// A tensor's codes minus their zero points, by flat index.
struct Centered {
  const quant::QTensor& t;
  const quant::ActQuant& q;
  quant::int_ops::GridAxes axes;
  Centered(const quant::QTensor& codes, const quant::ActQuant& quant)
      : t(codes), q(quant), axes(quant::int_ops::grid_axes(codes.shape)) {}
  int64_t operator()(int64_t flat) const {
    return int64_t{t.data[static_cast<size_t>(flat)]} - q.zero_point[quant::int_ops::group_of(q, axes, flat)];
  }
};

/// One standalone tile as its auxiliary unit's functional datapath (AuxUnitParams::compute) sees it.
struct AuxTile {
  const quant::QGraph& qgraph;
  int layer = -1;  // graph node index
  Region region;   // what it computes of the layer's output (see Region)
  /// Each input's codes as the tile read them (logical order, kPoison where it read nothing).
  const quant::QTensor* inputs[2] = {nullptr, nullptr};
  /// A float_layernorm Linear's int32 sums as the tile read them (by flat index of the output).
  const std::vector<int64_t>* sums = nullptr;
  /// Writes the code of one element (flat index) of the layer's output.
  std::function<void(int64_t, int32_t)> out;

  const quant::Node& node() const { return qgraph.graph.nodes[static_cast<size_t>(layer)]; }
  const quant::QNode& qnode() const { return qgraph.nodes[static_cast<size_t>(layer)]; }
  /// The quantization of the layer's input k.
  const quant::ActQuant& input_quant(size_t k) const {
    return qgraph.nodes[static_cast<size_t>(node().inputs[k])].out;
  }
  /// Throws std::invalid_argument "functional model: layer 'x' (op) on unit 't': what".
  [[noreturn]] void fail(const std::string& unit, const std::string& what) const;
};

/// The two axes a Region indexes in a layer's output (see Region): c in [0, channels), p in [0, pixels).
struct RegionSpace {
  int64_t channels = 0, pixels = 0;
};
RegionSpace region_space(const quant::Node& node);

/// The adder tree's width of each resource of `program` (EngineParams::adder_tree_width; 1 for the
/// auxiliary units).
std::vector<int64_t> resource_pe(const Program& program, const AccelConfig& config);

class FunctionalModel {
 public:
  /// Runs `program` (compiled for `config`) on `memory`, whose DRAM holds the input image and the weights
  /// (preload_dram). Keeps references to all four.
  FunctionalModel(const quant::QGraph& qgraph, const Program& program, const AccelConfig& config,
                  MemoryImage& memory);

  /// Executes one tile of the program (a reference into program.tiles), when it starts. Throws
  /// std::invalid_argument for a tile its layer cannot have (work kind, region outside the output).
  void execute(const ComputeTile& tile);

  /// Fault injection for the mutation tests: tile `tile` skips its requantizer (it saturates the raw sum).
  void skip_requantization(int tile) { skip_requant_tile_ = tile; }

  /// Per layer: elements of its output, read back from where it landed (DRAM for stored outputs, the
  /// resident region or the output slot when its tile wrote them), that differ from `golden` (the integer
  /// reference executor's outputs, indexed like the graph). Elements that never landed count as mismatches.
  std::vector<int64_t> mismatches(const std::vector<quant::QTensor>& golden);
  /// The first mismatch of the last mismatches() call, in graph order: "layer 'name' (op, shape), element
  /// i: got x, expected y" (or "... never written"); empty when there is none.
  const std::string& first_mismatch() const { return first_mismatch_; }

 private:
  // One layer's output as read back from where it landed.
  struct Landed {
    quant::QTensor codes;
    std::vector<bool> landed;  // per element (outputs that are not read back from DRAM)
  };
  // The bytes of a view's elements, by element, in the view's order; `element` gets each one's logical
  // flat index in the view's layer (or its int32 sums) and its code's address.
  template <class Visit>
  void for_each_element(const BufferView& view, const Visit& visit, bool write_back);
  unsigned char* element_bytes_at(const BufferView& view, int layer, int64_t layout_offset, int64_t bytes,
                                  int64_t packed_offset);
  void read_operands(const ComputeTile& tile);
  void read_weights(const ComputeTile& tile);
  void write_results(const ComputeTile& tile);
  /// Reads `view`'s elements of its layer's output back into landed_.
  void land(const BufferView& view);
  void poison_operands();
  const quant::QTensor& input(size_t k) const { return inputs_[k]; }
  void out(int64_t flat, int32_t code) { staged_[static_cast<size_t>(flat)] = code; }
  bool requantizes(const ComputeTile& tile) const;
  int32_t finish(const ComputeTile& tile, quant::Act act, const quant::int_ops::ChannelStage& stage,
                 int64_t acc, int64_t zp_y, int bits) const;

  void conv_gemm(const ComputeTile& tile);
  void conv_depthwise(const ComputeTile& tile);
  void linear_gemm(const ComputeTile& tile);
  void matmul_gemm(const ComputeTile& tile);
  void standalone(const ComputeTile& tile);

  const quant::QGraph& qgraph_;
  const Program& program_;
  const AccelConfig& config_;
  MemoryImage& memory_;
  std::vector<int64_t> pe_;  // per resource
  // Per layer: base of its output (codes) in DRAM and in the resident region (-1: not there).
  std::vector<int64_t> dram_base_, resident_base_;
  std::vector<Landed> landed_;
  // The tile being executed: its operands (by input, logical order; poison where it read nothing), its
  // int32 sums (LayerNorm tiles), its weights and biases by output channel from the region's first, and
  // its results (staged, then written where the tile writes them).
  quant::QTensor inputs_[2];
  int input_layer_[2] = {-1, -1};
  std::vector<int64_t> touched_[2];
  std::vector<int64_t> sums_;
  std::vector<int32_t> weights_, biases_;
  std::vector<int32_t> staged_;
  std::vector<int64_t> staged_sums_;
  int skip_requant_tile_ = -1;
  std::string first_mismatch_;
};

}  // namespace vitsim::arch
