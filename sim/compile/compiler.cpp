#include "sim/compile/compiler.hpp"

#include <algorithm>
#include <array>
#include <functional>
#include <map>

#include "arch/functional.hpp"
#include "arch/tile_timing.hpp"

namespace vitsim::sim {

using arch::AuxStep;
using arch::BufferKind;
using arch::ceil_div;
using arch::ComputeTile;
using arch::TileWork;
using quant::Node;
using quant::OpKind;

int64_t slot_bytes(const arch::AccelConfig& config, BufferKind buffer) {
  return config.buffer(buffer).slot_region_bytes() / static_cast<int64_t>(config.engines.size()) / 2;
}

namespace {

bool is_depthwise(const Node& n);

// Output channels a tile of `work` computes at once on `engine` (the channel granule of its tiling).
int64_t channel_lanes(const arch::EngineParams& engine, TileWork work) {
  return engine.granule(work).channels;
}

std::vector<std::pair<int64_t, int64_t>> pixel_blocks(int64_t pixels, int64_t row, int64_t block) {
  std::vector<std::pair<int64_t, int64_t>> blocks;
  if (block >= row) {
    for (int64_t p = 0; p < pixels; p += block) blocks.emplace_back(p, std::min(pixels, p + block));
  } else {
    for (int64_t r = 0; r < pixels; r += row)
      for (int64_t p = r; p < r + row; p += block) blocks.emplace_back(p, std::min(r + row, p + block));
  }
  return blocks;
}

// The sizes of `blocks` (as pixel_blocks gives them), each with how many blocks have it.
std::vector<std::pair<int64_t, int64_t>> block_sizes(const std::vector<std::pair<int64_t, int64_t>>& blocks) {
  std::vector<std::pair<int64_t, int64_t>> sizes;
  for (const auto& [b0, b1] : blocks) {
    const int64_t size = b1 - b0;  // a plain local: C++17 lambdas cannot capture structured bindings
    const auto it = std::find_if(sizes.begin(), sizes.end(), [&](const auto& s) { return s.first == size; });
    if (it == sizes.end())
      sizes.emplace_back(size, 1);
    else
      ++it->second;
  }
  return sizes;
}

// Candidate block sizes, largest first. Pixels: whole output rows, then pieces of one row.
std::vector<int64_t> pixel_candidates(int64_t pixels, int64_t row) {
  std::vector<int64_t> sizes;
  for (int64_t rows = pixels / row; rows >= 1; --rows) sizes.push_back(rows * row);
  for (int64_t piece = row - 1; piece >= 1; --piece) sizes.push_back(piece);
  return sizes;
}

// Channels: all, then multiples of the engine's lanes, then fewer than a lane's worth; grouped layers
// only take whole groups.
std::vector<int64_t> channel_candidates(int64_t channels, int64_t granule, int64_t lanes) {
  std::vector<int64_t> sizes{channels};
  if (granule > 1) {
    for (int64_t c = channels - granule; c >= granule; c -= granule) sizes.push_back(c);
    return sizes;
  }
  for (int64_t c = (channels - 1) / lanes * lanes; c >= lanes; c -= lanes) sizes.push_back(c);
  for (int64_t c = std::min(lanes, channels) - 1; c >= 1; --c) sizes.push_back(c);
  return sizes;
}

int64_t block_count(int64_t size, int64_t block) {
  return ceil_div(size, block);
}
int64_t pixel_block_count(int64_t pixels, int64_t row, int64_t block) {
  return block >= row ? ceil_div(pixels, block) : pixels / row * ceil_div(row, block);
}

/// One layer's output as the tiler sees it: `channels` on axis 0 (cut in multiples of `granule`), `pixels`
/// made of rows of `row` pixels.
struct OutputGrid {
  int64_t channels = 1, granule = 1, lanes = 1, pixels = 1, row = 1;
};
struct Blocking {
  int64_t channels = 0, pixels = 0;  // block sizes
};

/// Bytes a tile needs in the slots of its engine.
struct SlotNeed {
  int64_t act = 0, weight = 0, out = 0;
};

/// The same number of channel blocks, as even as the granularity allows (the block never grows).
int64_t even_channels(int64_t channels, const OutputGrid& g) {
  const int64_t unit = g.granule == 1 && channels % g.lanes == 0 ? g.lanes : g.granule;
  return std::min(channels, ceil_div(ceil_div(g.channels, block_count(g.channels, channels)), unit) * unit);
}
/// The same for pixel blocks: whole rows, or pieces of one row.
int64_t even_pixels(int64_t pixels, const OutputGrid& g) {
  if (pixels >= g.row) {
    const int64_t rows = g.pixels / g.row;
    return ceil_div(rows, block_count(rows, pixels / g.row)) * g.row;
  }
  return ceil_div(g.row, block_count(g.row, pixels));
}

/// Ideal-memory and engine-split cuts: at least `parts` tiles, balanced rows first, then pieces of rows,
/// then channels (for a single-row output such as a vector).
Blocking split_into(Blocking b, const OutputGrid& g, int64_t parts) {
  const int64_t channel_blocks = block_count(g.channels, b.channels);
  if (channel_blocks * pixel_block_count(g.pixels, g.row, b.pixels) >= parts) return b;
  const int64_t need = ceil_div(parts, channel_blocks), rows = g.pixels / g.row;
  if (rows >= need)
    b.pixels = std::min(b.pixels, ceil_div(rows, need) * g.row);
  else if (g.pixels >= need)
    b.pixels = std::min(b.pixels, ceil_div(g.row, ceil_div(need, rows)));
  if (channel_blocks * pixel_block_count(g.pixels, g.row, b.pixels) >= parts) return b;
  int64_t c = ceil_div(ceil_div(g.channels, parts), g.granule) * g.granule;
  if (g.granule == 1 && c >= g.lanes) c = ceil_div(c, g.lanes) * g.lanes;
  b.channels = std::min(b.channels, c);
  return b;
}

/// The tiles of one MatMul head: column blocks of the output [R, N] (all rows), each reducing K.
struct MatmulHead {
  int64_t rows = 0, cols = 0, depth = 0;
};

bool boxes_meet(const std::vector<arch::Box>& a, const std::vector<arch::Box>& b) {
  for (const arch::Box& x : a)
    for (const arch::Box& y : b)
      if (x.o0 < y.o1 && y.o0 < x.o1 && x.m0 < y.m1 && y.m0 < x.m1 && x.i0 < y.i1 && y.i0 < x.i1) return true;
  return false;
}

struct ConvGeometry;

class Compiler {
 public:
  Compiler(const quant::QGraph& q, const arch::AccelConfig& config, const CompileOptions& options)
      : q_(q),
        graph_(q.graph),
        config_(config),
        ideal_(options.ideal_memory),
        exhaustive_(options.exhaustive_search) {}

  arch::Program run();

 private:
  // An operand a tile reads from DRAM: activations of a layer (through Concat to its stored sources) or
  // its own layer's weights for output channels [c0, c1) (the key of the weight-reuse rule).
  struct Operand {
    BufferKind buffer = BufferKind::Activation;
    int64_t bytes = 0;
    int source = -1;
    int64_t c0 = 0, c1 = 0;
    std::vector<arch::Box> boxes;  // activations: what the tile reads, in the source's layout
    bool accumulators = false;     // the int32 sums of the tile's own float_layernorm Linear
    int input = 0;                 // activations: which input of the tile's layer
  };
  static Operand weight_operand(int64_t bytes, int layer, int64_t c0, int64_t c1) {
    Operand op;
    op.buffer = BufferKind::Weight;
    op.bytes = bytes, op.source = layer, op.c0 = c0, op.c1 = c1;
    return op;
  }
  static Operand activation_operand(int64_t bytes, int source, std::vector<arch::Box> boxes, int input = 0,
                                    bool accumulators = false) {
    Operand op;
    op.bytes = bytes, op.source = source, op.boxes = std::move(boxes), op.input = input;
    op.accumulators = accumulators;
    return op;
  }
  struct WeightKey {
    int layer = -1;
    int64_t c0 = 0, c1 = 0;
    bool operator==(const WeightKey& o) const { return layer == o.layer && c0 == o.c0 && c1 == o.c1; }
  };

  const Node& node(int i) const { return graph_.nodes[static_cast<size_t>(i)]; }
  const quant::QNode& qnode(int i) const { return q_.nodes[static_cast<size_t>(i)]; }
  int64_t out_bytes_per_element(int i) const { return config_.element_bytes(qnode(i).out.bits); }
  std::string describe(int layer) const;
  [[noreturn]] void slot_error(int layer, const std::string& what, BufferKind buffer, int64_t need,
                               int resource) const;
  void check_slots(int layer, const SlotNeed& need, int resource, const std::string& what) const;
  bool fits(const SlotNeed& need) const;

  std::vector<int> gemm_engines(int layer) const;
  /// The widest operand codes of `layer`'s MAC work: its inputs' and (conv, Linear) its weights' bits.
  int operand_bits(int layer) const;
  /// The first engine that runs `layer`'s depthwise tiles (its kernel, stride and operand bits), or -1.
  int depthwise_engine(int layer) const;
  bool runs_depthwise(size_t engine) const;
  /// The auxiliary unit (index in AccelConfig::aux_units) that performs `step` for `layer`; a
  /// MappingError naming the layer's op and the unit types that could, if the config lists none.
  int aux_unit(AuxStep step, int layer) const;
  /// Its resource (the program lists the auxiliary units after the engines).
  int aux_resource(AuxStep step, int layer) const {
    return static_cast<int>(config_.engines.size()) + aux_unit(step, layer);
  }
  std::vector<int> stored_sources(int layer) const;
  std::vector<int> conv_aux_chain(int layer) const;
  /// A MatMul's chain: the requantizer, unless it keeps int32 sums.
  std::vector<int> matmul_aux_chain(int layer) const;

  Blocking choose_blocking(int layer, const OutputGrid& g,
                           const std::function<SlotNeed(int64_t, int64_t)>& need, int resource,
                           const std::string& what) const;
  int64_t trial_bytes(const std::function<void()>& emit_tiles, int64_t* busiest = nullptr);
  /// A tile shape and how many tiles of a blocking have it.
  using TileShapes = std::vector<std::pair<ComputeTile, int64_t>>;
  /// Closed-form cycles that the busiest of `engines` has at least when pick_engine spreads `shapes` over
  /// them: each tile on its cheapest engine, the sum shared evenly, and no less than the costliest tile.
  int64_t busiest_bound(const TileShapes& shapes, const std::vector<int>& engines) const;
  int64_t least_traffic_blocking(const OutputGrid& g, const std::function<bool(int64_t, int64_t)>& fits_block,
                                 int64_t parts, const std::function<int64_t(const Blocking&)>& lower_bound,
                                 const std::function<int64_t(const Blocking&)>& busiest_at_least,
                                 const std::function<void(const Blocking&)>& emit_tiles, Blocking& best);
  int pick_engine(const std::vector<int>& engines, ComputeTile& tile, std::vector<int64_t>& running,
                  int64_t ready = 0) const;
  int emit(ComputeTile tile, const std::vector<Operand>& operands, bool store, int64_t out_bytes);
  void hold(int tile);
  /// Where `tile` wrote its results, as a read of input `input` of a tile that consumes them on chip.
  arch::BufferView output_view(int tile, int input) const {
    arch::BufferView v = program_.tiles[static_cast<size_t>(tile)].write;
    v.input = input;
    return v;
  }
  void wait_for_all(std::vector<int>& waits, const std::vector<int>& tiles) const;
  void release(const std::vector<int>& producers, const std::vector<int>& consumers);

  // ----- memory plan: layer outputs resident in the activation buffer (docs/engines.md "Memory plan")
  void plan_residency();
  bool resident(int layer) const { return residency_[static_cast<size_t>(layer)].resident; }
  /// Concat reads its sources where they are: on chip only when all of them are resident.
  bool on_chip(int source) const;
  int emitted_with(int layer) const;
  int64_t weight_bytes_of(int layer) const;
  std::vector<int> readers_of(int layer) const;
  /// Bytes an operand needs in a tile's activation slot (0 when it is read where it resides).
  int64_t slot_load(int source, int64_t bytes) const { return ideal_ || on_chip(source) ? 0 : bytes; }
  /// Bytes a tile's outputs need in its output slot (0 when they are written to their resident range).
  int64_t slot_out(int layer, int64_t bytes) const { return resident(layer) ? 0 : bytes; }

  void plan_dram();
  void record_memory_plan();
  /// The layout of `layer`'s output in memory (its int32 sums for `accumulators`).
  arch::TensorLayout layout_of(int layer, bool accumulators = false) const;
  /// Appends the DRAM runs of `box` of `source`'s output (through Concat, of the sources holding it).
  /// Where a transfer's activation bytes are: a box of one stored tensor (its int32 sums for
  /// `accumulators`).
  struct Piece {
    int layer = -1;
    bool accumulators = false;
    arch::Box box;
  };
  /// Appends the DRAM runs of `pieces` in the layouts of their tensors.
  void append_piece_runs(const std::vector<Piece>& pieces, std::vector<arch::RunSet>& runs) const;
  /// Gives each stored activation tensor the channel block whose layout moves its transfers in the fewest
  /// bursts, then every transfer its runs.
  void finish_runs();
  /// Where slot `parity` (0/1) of `resource` starts in `buffer`: after the resident region, the engines'
  /// double-buffered slots in config order, then the auxiliary units' (docs/engines.md, "Memory plan").
  int64_t slot_address(BufferKind buffer, int resource, size_t parity) const;
  int64_t dram_base(int layer, bool accumulators) const;

  void emit_conv(int layer);
  /// The tile of conv `layer` computing output channels [c0, c1) of output pixels [p0, p1).
  ComputeTile conv_tile(int layer, const ConvGeometry& g, TileWork work, int64_t c0, int64_t c1, int64_t p0,
                        int64_t p1) const;
  bool emit_fused(int dw, int pw);
  void emit_attention(int vk, int out, int normalize);
  void emit_matmul(int layer);
  /// A MatMul's tiling: the GEMM engines it goes to, a head's shape, output columns per tile, and the
  /// engines' running estimates (pick_engine).
  struct MatmulPlan {
    int layer = -1;
    std::vector<int> engines;
    MatmulHead head;
    int64_t block = 0;
    std::vector<int64_t> running;
  };
  MatmulPlan plan_matmul(int layer) const;
  /// Emits head `head` of a planned MatMul: its column blocks, each on the engine that finishes it first.
  void emit_matmul_head(MatmulPlan& plan, int64_t head);
  /// Inter-layer pipelining of softmax attention (docs/engines.md, "Pipelining switches"): Q·Kᵀ, Softmax
  /// and A·V emitted head by head (skewed by a head per stage), each head's tiles waiting only for that
  /// head's producer tiles.
  void emit_softmax_attention(int qk, int softmax, int av);
  /// Whether `layer`'s tiles wait only for the tiles of `source` whose output they read (inter-layer
  /// pipelining of a chain: Q·Kᵀ -> Softmax -> A·V, FC1 with GELU -> FC2).
  bool streams(int source, int layer) const;
  /// The tiles of `op`'s source that a tile of `layer` waits for: all of its stored sources' tiles, or,
  /// when the chain streams, those whose output regions meet the operand's boxes.
  std::vector<int> producer_tiles(const Operand& op, int layer) const;
  /// What a MatMul tile of head `head`, output columns [p0, p1), reads of its input k (0: A, whole; 1: B,
  /// the columns' slice), as a box of the head-major source.
  std::vector<arch::Box> matmul_boxes(int layer, size_t k, int64_t head, int64_t p0, int64_t p1) const;
  void emit_elementwise(int layer);
  std::vector<arch::Box> elementwise_boxes(int layer, int source, const arch::Region& r) const;

  // ----- standard-ViT layers (docs/engines.md, "Mapping standard ViTs")
  /// LayerNorm, Softmax, the token ops and the residual Add of [T, D] tokens, on their auxiliary units.
  void emit_vit_layer(int layer);
  /// Blocks of a standard-ViT layer: the axis it is cut along (tokens; Softmax: heads), a block's region
  /// and operands, the largest block that fits the slots (or a MappingError), and one block's tile.
  int64_t vit_extent(int layer) const;
  arch::Region vit_region(int layer, int64_t b0, int64_t b1) const;
  std::vector<Operand> vit_operands(int layer, int64_t b0, int64_t b1) const;
  int64_t vit_block(int layer) const;
  void emit_vit_block(int layer, int64_t b0, int64_t b1);
  /// What a tile of a standard-ViT layer covering `r` reads of its input k, as boxes of the input's layout.
  std::vector<arch::Box> vit_input_boxes(int layer, size_t k, const arch::Region& r) const;

  const quant::QGraph& q_;
  const quant::Graph& graph_;
  const arch::AccelConfig& config_;
  const bool ideal_;
  const bool exhaustive_;
  // Inside trial_bytes: the emitted items only count for their bytes and cycles and are rolled back, so
  // emit leaves out their waits, views and DRAM runs (most of a compile's time would go to them).
  bool sizing_ = false;
  arch::Program program_;
  std::vector<std::vector<int>> consumers_;
  std::vector<std::vector<int>> layer_tiles_, layer_stores_;
  // What frees a tile's output slot: its store, or the on-chip consumers of its output.
  std::vector<std::vector<int>> release_tiles_, release_transfers_;
  std::vector<bool> release_pending_;
  // Per resource, for each of its two (double-buffered) weight slots: whose weights it holds, where, and the
  // last tile that read them.
  struct WeightSlots {
    WeightKey key[2];
    arch::WeightView view[2];
    int last_reader[2] = {-1, -1};
  };
  std::vector<WeightSlots> weight_slots_;
  std::vector<std::vector<Piece>> transfer_pieces_;  // per transfer (empty for weight loads)
  // Per resource: tiles of other engines that read weights from its weight slot (a fused pair's shared
  // pointwise weights); its next weight load waits for them.
  std::vector<std::vector<int>> weight_readers_;
  struct Residency {
    bool resident = false;
    int64_t offset = 0, bytes = 0;  // the range in the activation buffer's resident region
    int first = 0, last = 0;        // layers: producer and last consumer (program order)
    std::vector<int> evicts;        // earlier resident layers whose ranges it reuses
    // The tiles its writers wait for: the last reader tile of the evicted outputs on each resource.
    std::vector<int> reader_waits;
    bool reader_waits_ready = false;
  };
  std::vector<Residency> residency_;  // per layer
  // Per layer: the Q·Kᵀ MatMul of the softmax-attention chain that inter-layer pipelining emits it with (its
  // Softmax and A·V), or -1.
  std::vector<int> attention_chain_;
  // Per layer: the DRAM addresses of its output and its weights (-1: none), and the bytes stored so far.
  std::vector<int64_t> dram_output_, dram_weights_, stored_;
};

std::string Compiler::describe(int layer) const {
  const Node& n = node(layer);
  return "layer '" + n.name + "' (" + n.label() + ", " + quant::shape_str(n.out_shape) + ")";
}

void Compiler::slot_error(int layer, const std::string& what, BufferKind buffer, int64_t need,
                          int resource) const {
  const arch::Resource& r = program_.resources[static_cast<size_t>(resource)];
  const std::string& engine = config_.engines[static_cast<size_t>(r.is_engine ? r.engine : 0)].name;
  throw MappingError(describe(layer) + ": " + what + " needs " + std::to_string(need) + " bytes, the " +
                     arch::buffer_key(buffer) + " buffer slot of engine '" + engine + "' holds " +
                     std::to_string(slot_bytes(config_, buffer)) + " (capacity " +
                     std::to_string(config_.buffer(buffer).capacity_bytes) + " / " +
                     std::to_string(config_.engines.size()) + " engines / 2)");
}

bool Compiler::fits(const SlotNeed& need) const {
  return ideal_ || (need.act <= slot_bytes(config_, BufferKind::Activation) &&
                    need.weight <= slot_bytes(config_, BufferKind::Weight) &&
                    need.out <= slot_bytes(config_, BufferKind::Output));
}

void Compiler::check_slots(int layer, const SlotNeed& need, int resource, const std::string& what) const {
  if (ideal_) return;
  if (need.act > slot_bytes(config_, BufferKind::Activation))
    slot_error(layer, what + "'s input activations", BufferKind::Activation, need.act, resource);
  if (need.weight > slot_bytes(config_, BufferKind::Weight))
    slot_error(layer, what + "'s weights", BufferKind::Weight, need.weight, resource);
  if (need.out > slot_bytes(config_, BufferKind::Output))
    slot_error(layer, what + "'s outputs", BufferKind::Output, need.out, resource);
}

int Compiler::operand_bits(int layer) const {
  const Node& n = node(layer);
  int bits = n.op == OpKind::MatMul ? 0 : qnode(layer).weight_bits;
  for (int in : n.inputs) bits = std::max(bits, qnode(in).out.bits);
  return bits;
}

// Shifter arrays (shifts_only) take the MatMuls whose first operand is log2 codes, and only those; such a
// MatMul goes to the multiplier engines when the config has no shifter array.
std::vector<int> Compiler::gemm_engines(int layer) const {
  const int bits = operand_bits(layer);
  // Power-of-two rows: an engine with shift-add lanes must shift as far as their codes reach; one without
  // multiplies their codes like any other (a power-of-two code is an integer).
  const auto& row_bits = qnode(layer).weight_pot_bits;
  const int pot_bits = row_bits.empty() ? 0 : *std::max_element(row_bits.begin(), row_bits.end());
  const Node& n = node(layer);
  const bool log2_a = n.op == OpKind::MatMul && qnode(n.inputs[0]).out.log2;
  std::vector<int> engines, shifters;
  for (size_t e = 0; e < config_.engines.size(); ++e) {
    const arch::EngineParams& engine = *config_.engines[e].params;
    if (engine.supports(TileWork::Gemm, 1, 1) && engine.operand_bits() >= bits &&
        (engine.shift_lane_bits() == 0 || engine.shift_lane_bits() >= pot_bits))
      (engine.shifts_only() ? shifters : engines).push_back(static_cast<int>(e));
  }
  if (log2_a && !shifters.empty()) return shifters;
  if (engines.empty())
    throw MappingError(
        describe(layer) + ": no engine of config '" + config_.name + "' runs GEMM tiles of " +
        std::to_string(bits) + "-bit operands" +
        (pot_bits > 0 ? " with " + std::to_string(pot_bits) + "-bit power-of-two weight rows" : ""));
  return engines;
}

int Compiler::depthwise_engine(int layer) const {
  const Node& n = node(layer);
  for (size_t e = 0; e < config_.engines.size(); ++e) {
    const arch::EngineParams& engine = *config_.engines[e].params;
    if (engine.supports(TileWork::Depthwise, n.kernel, n.stride) &&
        engine.operand_bits() >= operand_bits(layer))
      return static_cast<int>(e);
  }
  return -1;
}

// An engine "is depthwise-capable" if it runs depthwise tiles of some odd kernel and stride.
bool Compiler::runs_depthwise(size_t engine) const {
  for (int kernel = 1; kernel <= 11; kernel += 2)
    for (int stride = 1; stride <= 4; ++stride)
      if (config_.engines[engine].params->supports(TileWork::Depthwise, kernel, stride)) return true;
  return false;
}

// Concat has no tiles: its data are its inputs' outputs, wherever those were stored.
std::vector<int> Compiler::stored_sources(int layer) const {
  if (node(layer).op != OpKind::Concat) return {layer};
  std::vector<int> sources;
  for (int in : node(layer).inputs) {
    const std::vector<int> s = stored_sources(in);
    sources.insert(sources.end(), s.begin(), s.end());
  }
  return sources;
}

int Compiler::aux_unit(AuxStep step, int layer) const {
  const int unit = config_.aux_for(step);
  if (unit >= 0) {
    const arch::AuxUnitConfig& a = config_.aux_units[static_cast<size_t>(unit)];
    const std::string why = a.params->cannot_run(qnode(layer));
    if (why.empty()) return unit;
    throw MappingError(describe(layer) + ": op " + quant::op_name(node(layer).op) + " needs its " +
                       arch::aux_step_name(step) + " step, and the " + a.params->type() +
                       " unit of config '" + config_.name + "' " + why);
  }
  throw MappingError(describe(layer) + ": op " + quant::op_name(node(layer).op) + " needs its " +
                     arch::aux_step_name(step) + " step on an auxiliary unit of type " +
                     arch::UnitRegistry::instance().performers(step) + ", and config '" + config_.name +
                     "' has none");
}

// The requantizer (none in FP32 format: results stay FP32), then the activation's unit.
std::vector<int> Compiler::conv_aux_chain(int layer) const {
  std::vector<int> chain;
  if (config_.number_format == arch::NumberFormat::Int) chain.push_back(aux_unit(AuxStep::Requantize, layer));
  switch (node(layer).act) {
    case quant::Act::ReLU:
    case quant::Act::ReLU6:  // the ReLU unit's clamp, with the top at 6 (quant/qgraph.hpp)
      chain.push_back(aux_unit(AuxStep::Relu, layer));
      break;
    case quant::Act::HSwish:
      chain.push_back(aux_unit(AuxStep::Hswish, layer));
      break;
    case quant::Act::GeluTanh:
    case quant::Act::GeluErf:
      chain.push_back(aux_unit(AuxStep::Gelu, layer));
      break;
    case quant::Act::Sigmoid:
    case quant::Act::HSigmoid:
    case quant::Act::SiLU:
      chain.push_back(aux_unit(AuxStep::ActTable, layer));
      break;
    case quant::Act::None:
      break;
  }
  return chain;
}

std::vector<int> Compiler::matmul_aux_chain(int layer) const {
  if (qnode(layer).out.bits == 32 || config_.number_format == arch::NumberFormat::Fp32) return {};
  return {aux_unit(AuxStep::Requantize, layer)};
}

Blocking Compiler::choose_blocking(int layer, const OutputGrid& g,
                                   const std::function<SlotNeed(int64_t, int64_t)>& need, int resource,
                                   const std::string& what) const {
  if (ideal_) return {g.channels, g.pixels};
  const std::vector<int64_t> channels = channel_candidates(g.channels, g.granule, g.lanes);
  const std::vector<int64_t> pixels = pixel_candidates(g.pixels, g.row);
  // The channel block is evened out before the pixel block is sized, so that the pixel block is the largest
  // that fits the channels a tile really has.
  for (int64_t c : channels) {
    const int64_t even = even_channels(c, g);
    for (int64_t p : pixels)
      if (fits(need(even, p))) return {even, even_pixels(p, g)};
  }
  check_slots(layer, need(channels.back(), pixels.back()), resource, what);
  throw std::logic_error("compile: no blocking fits but the smallest tile does");  // unreachable
}

// The DRAM bytes (loads and stores) that `emit_tiles` adds to the program, and in `busiest` (if given) the
// largest sum of closed-form tile cycles it adds to one resource. The tiles are emitted for real and then
// rolled back, so the count follows every rule of emit (the weight reuse included) by construction; only
// what neither count reads (the items' waits, the tiles' operand views, the transfers' DRAM runs) is left
// out while sizing.
int64_t Compiler::trial_bytes(const std::function<void()>& emit_tiles, int64_t* busiest) {
  const size_t tiles = program_.tiles.size(), transfers = program_.transfers.size();
  const size_t loads = program_.load_queue.size(), stores = program_.store_queue.size();
  std::vector<size_t> queues, layer_tiles, layer_stores;
  for (const auto& q : program_.queues) queues.push_back(q.size());
  for (const auto& t : layer_tiles_) layer_tiles.push_back(t.size());
  for (const auto& t : layer_stores_) layer_stores.push_back(t.size());
  const std::vector<int64_t> stored = stored_;
  const std::vector<std::vector<int>> weight_readers = weight_readers_;
  const std::vector<WeightSlots> weight_slots = weight_slots_;
  auto roll_back = [&] {
    program_.tiles.resize(tiles);
    program_.transfers.resize(transfers);
    transfer_pieces_.resize(transfers);
    program_.load_queue.resize(loads);
    program_.store_queue.resize(stores);
    for (size_t i = 0; i < queues.size(); ++i) program_.queues[i].resize(queues[i]);
    for (size_t i = 0; i < layer_tiles.size(); ++i) layer_tiles_[i].resize(layer_tiles[i]);
    for (size_t i = 0; i < layer_stores.size(); ++i) layer_stores_[i].resize(layer_stores[i]);
    release_tiles_.resize(tiles);
    release_transfers_.resize(tiles);
    release_pending_.resize(tiles);
    weight_readers_ = weight_readers;
    weight_slots_ = weight_slots;
    stored_ = stored;
  };
  const bool sizing = sizing_;
  sizing_ = !exhaustive_;
  try {
    emit_tiles();
  } catch (...) {
    sizing_ = sizing;
    roll_back();
    throw;
  }
  sizing_ = sizing;
  int64_t bytes = 0;
  for (size_t t = transfers; t < program_.transfers.size(); ++t) bytes += program_.transfers[t].bytes;
  if (busiest) {
    std::vector<int64_t> per_resource(program_.resources.size(), 0);
    for (size_t t = tiles; t < program_.tiles.size(); ++t) {
      const ComputeTile& tile = program_.tiles[t];
      const arch::Resource& r = program_.resources[static_cast<size_t>(tile.resource)];
      per_resource[static_cast<size_t>(tile.resource)] += arch::tile_cost(config_, r, tile).cycles;
    }
    *busiest = *std::max_element(per_resource.begin(), per_resource.end());
  }
  roll_back();
  return bytes;
}

// Of the blockings whose tiles fit their slots (each channel block of channel_candidates, evened out, with
// the largest pixel block of pixel_candidates that fits it, then split_into `parts` tiles), the one whose
// tiles move the fewest DRAM bytes; ties go to the candidate whose busiest resource has the fewest
// closed-form cycles (the engines share the work most evenly), then to the earlier one. A larger buffer only
// adds candidates or enlarges their pixel blocks (fewer input halos, fewer weight reloads), so it does not
// increase the traffic. Returns the best blocking's bytes, or -1 when no candidate fits.
//
// A trial emits a candidate's tiles, so the candidates are tried best bound first: `lower_bound` (bytes a
// blocking moves at least) and `busiest_at_least` (its busiest resource's cycles at least) order them, and
// the search stops at the first candidate whose bounds cannot beat the best trial so far (with the earlier
// candidate winning ties, as in a scan in candidate order). The bounds are usually exact, so one or two
// trials decide. CompileOptions::exhaustive_search tries every candidate instead.
int64_t Compiler::least_traffic_blocking(const OutputGrid& g,
                                         const std::function<bool(int64_t, int64_t)>& fits_block,
                                         int64_t parts,
                                         const std::function<int64_t(const Blocking&)>& lower_bound,
                                         const std::function<int64_t(const Blocking&)>& busiest_at_least,
                                         const std::function<void(const Blocking&)>& emit_tiles,
                                         Blocking& best) {
  struct Candidate {
    Blocking blocking;
    std::array<int64_t, 3> at_least;  // bytes, busiest cycles, candidate order
  };
  std::vector<Candidate> candidates;
  const std::vector<int64_t> pixels = pixel_candidates(g.pixels, g.row);
  for (int64_t c : channel_candidates(g.channels, g.granule, g.lanes)) {
    const int64_t even = even_channels(c, g);
    const auto p =
        std::find_if(pixels.begin(), pixels.end(), [&](int64_t px) { return fits_block(even, px); });
    if (p == pixels.end()) continue;
    const Blocking b = split_into({even, even_pixels(*p, g)}, g, parts);
    if (std::any_of(candidates.begin(), candidates.end(), [&](const Candidate& other) {
          return other.blocking.channels == b.channels && other.blocking.pixels == b.pixels;
        }))
      continue;
    candidates.push_back({b, {0, 0, static_cast<int64_t>(candidates.size())}});
  }
  if (!exhaustive_) {
    for (Candidate& c : candidates)
      c.at_least = {lower_bound(c.blocking), busiest_at_least(c.blocking), c.at_least[2]};
    std::sort(candidates.begin(), candidates.end(),
              [](const Candidate& a, const Candidate& b) { return a.at_least < b.at_least; });
  }
  std::array<int64_t, 3> best_key{-1, 0, 0};  // bytes, busiest cycles, candidate order of the best trial
  for (const Candidate& c : candidates) {
    if (best_key[0] >= 0 && !exhaustive_ && c.at_least >= best_key) break;
    std::array<int64_t, 3> key{0, 0, c.at_least[2]};
    key[0] = trial_bytes([&] { emit_tiles(c.blocking); }, &key[1]);
    if (best_key[0] < 0 || key < best_key) best = c.blocking, best_key = key;
  }
  return best_key[0];
}

int64_t Compiler::busiest_bound(const TileShapes& shapes, const std::vector<int>& engines) const {
  int64_t sum = 0, costliest = 0;
  for (const auto& [tile, count] : shapes) {
    int64_t cheapest = -1;
    for (int e : engines) {
      const int64_t cycles =
          arch::tile_cost(config_, program_.resources[static_cast<size_t>(e)], tile).cycles;
      if (cheapest < 0 || cycles < cheapest) cheapest = cycles;
    }
    sum += cheapest * count;
    costliest = std::max(costliest, cheapest);
  }
  return std::max(costliest, ceil_div(sum, static_cast<int64_t>(engines.size())));
}

// The engine of `engines` on which `tile` would finish first: it starts when the engine's estimated running
// time `running` and the estimated time its operands are ready (`ready`) have both passed.
int Compiler::pick_engine(const std::vector<int>& engines, ComputeTile& tile, std::vector<int64_t>& running,
                          int64_t ready) const {
  size_t best = 0;
  int64_t best_finish = 0;
  for (size_t i = 0; i < engines.size(); ++i) {
    tile.resource = engines[i];
    const int64_t finish =
        std::max(running[i], ready) +
        arch::tile_cost(config_, program_.resources[static_cast<size_t>(engines[i])], tile).cycles;
    if (i == 0 || finish < best_finish) best = i, best_finish = finish;
  }
  running[best] = best_finish;
  tile.resource = engines[best];
  return tile.resource;
}

// Appends to `waits` the last of `tiles` on each resource: a resource runs its tiles in order, so once that
// one has finished, all of them have.
void Compiler::wait_for_all(std::vector<int>& waits, const std::vector<int>& tiles) const {
  std::vector<int> last(program_.resources.size(), -1);  // per resource: its last tile of `tiles`
  for (int t : tiles) {
    int& l = last[static_cast<size_t>(program_.tiles[static_cast<size_t>(t)].resource)];
    l = std::max(l, t);
  }
  for (int t : last)
    if (t >= 0) waits.push_back(t);
}

void Compiler::hold(int tile) {
  if (!ideal_) release_pending_[static_cast<size_t>(tile)] = true;
}

void Compiler::release(const std::vector<int>& producers, const std::vector<int>& consumers) {
  for (int p : producers) {
    auto& r = release_tiles_[static_cast<size_t>(p)];
    r.insert(r.end(), consumers.begin(), consumers.end());
    release_pending_[static_cast<size_t>(p)] = false;
  }
}

void sort_unique(std::vector<int>& v) {
  std::sort(v.begin(), v.end());
  v.erase(std::unique(v.begin(), v.end()), v.end());
}

// Appends a tile with its loads (before it, on the load queue) and its store (after it). Double
// buffering: the loads reuse the slot of the tile two positions earlier in the same resource queue, and
// the tile reuses that tile's output slot once the output left (stored, or consumed on chip).
int Compiler::emit(ComputeTile tile, const std::vector<Operand>& operands, bool store, int64_t out_bytes) {
  const size_t r = static_cast<size_t>(tile.resource);
  std::vector<int>& queue = program_.queues[r];
  // The tile whose buffer slots this one reuses: two positions earlier with double buffering (intra-layer
  // pipelining), else the previous one.
  const size_t reuse_distance = config_.pipelining.intra_layer ? 2 : 1;
  const int before2 = queue.size() >= reuse_distance ? queue[queue.size() - reuse_distance] : -1;
  const int index = static_cast<int>(program_.tiles.size());
  const size_t parity = queue.size() % 2;  // the double-buffered slot it uses
  int64_t act_offset = 0;                  // where its next activation load goes in its slot
  WeightKey weights;
  for (const Operand& op : operands)
    if (op.buffer == BufferKind::Weight) weights = {tile.layer, op.c0, op.c1};
  // Where the tile finds an activation operand (functional simulation).
  auto read_view = [&](const Operand& op, arch::BufferView::Space space, int64_t address) {
    if (sizing_) return;
    arch::BufferView v;
    v.space = space;
    v.layer = op.source;
    v.input = op.input;
    v.accumulators = op.accumulators;
    v.address = address;
    v.boxes = op.boxes;
    tile.reads.push_back(std::move(v));
  };
  auto weight_record = [&](const Operand& op) { return op.bytes / (op.c1 - op.c0); };
  if (ideal_) {
    for (const Operand& op : operands) {
      if (op.buffer == BufferKind::Weight)
        tile.weights = {true, dram_weights_[static_cast<size_t>(tile.layer)] + op.c0 * weight_record(op),
                        op.c0};
      if (op.buffer != BufferKind::Activation) continue;
      read_view(op, arch::BufferView::Space::Dram, 0);
      if (sizing_) continue;
      const std::vector<int> producers = producer_tiles(op, tile.layer);
      tile.wait_tiles.insert(tile.wait_tiles.end(), producers.begin(), producers.end());
    }
  } else {
    if (before2 >= 0) {
      if (release_pending_[static_cast<size_t>(before2)] && reuse_distance == 1)
        throw MappingError(
            describe(tile.layer) + ": config '" + config_.name +
            "' has intra_layer pipelining off (single buffering), and the previous tile on its "
            "resource keeps its output slot for a consumer that comes later");
      if (release_pending_[static_cast<size_t>(before2)])
        throw std::logic_error("compile: tile " + std::to_string(before2) +
                               " holds its slot with no consumer yet");
      if (!sizing_) {
        const auto& rt = release_tiles_[static_cast<size_t>(before2)];
        const auto& rx = release_transfers_[static_cast<size_t>(before2)];
        tile.wait_tiles.insert(tile.wait_tiles.end(), rt.begin(), rt.end());
        tile.wait_transfers.insert(tile.wait_transfers.end(), rx.begin(), rx.end());
      }
    }
    for (const Operand& op : operands) {
      if (op.buffer == BufferKind::Activation && on_chip(op.source)) {
        // Read where it resides: after every tile that wrote it (through Concat, its sources').
        if (!sizing_) wait_for_all(tile.wait_tiles, producer_tiles(op, tile.layer));
        read_view(op, arch::BufferView::Space::Resident, 0);
        continue;
      }
      if (op.bytes <= 0) continue;
      if (op.buffer == BufferKind::Weight) {
        const WeightSlots& held = weight_slots_[r];
        const auto slot = std::find(std::begin(held.key), std::end(held.key), weights) - std::begin(held.key);
        if (slot < 2) {
          tile.weights = held.view[slot];  // still in one of its resource's two weight slots
          continue;
        }
      }
      arch::Transfer load;
      std::vector<Piece> pieces;  // activations: where the runs come from (finish_runs)
      load.layer = tile.layer;
      load.dir = arch::TransferDir::Load;
      load.buffer = op.buffer;
      load.bytes = op.bytes;
      load.buffer_address = slot_address(op.buffer, tile.resource, parity);
      if (op.buffer == BufferKind::Weight) {
        // One record per output channel (codes, then the int32 bias): a channel block is one run.
        if (!sizing_)
          load.runs = {{dram_weights_[static_cast<size_t>(tile.layer)] + op.c0 * (op.bytes / (op.c1 - op.c0)),
                        op.bytes, 0, 1}};
      } else {
        load.buffer_address += act_offset;
        act_offset += op.bytes;
        read_view(op, arch::BufferView::Space::Slot, load.buffer_address);
        if (!sizing_)
          for (const arch::Box& box : op.boxes)
            for (const arch::StoredPart& part : arch::stored_parts(graph_, op.source, box))
              pieces.push_back({part.layer, op.accumulators, part.box});
      }
      if (op.buffer == BufferKind::Activation && !sizing_ && streams(op.source, tile.layer)) {
        for (int producer : producer_tiles(op, tile.layer)) {
          const auto& s = release_transfers_[static_cast<size_t>(producer)];
          load.wait_transfers.insert(load.wait_transfers.end(), s.begin(), s.end());
        }
      } else if (op.buffer == BufferKind::Activation && !sizing_) {
        for (int src : stored_sources(op.source)) {
          const auto& s = layer_stores_[static_cast<size_t>(src)];
          load.wait_transfers.insert(load.wait_transfers.end(), s.begin(), s.end());
        }
      }
      if (before2 >= 0 && !sizing_) load.wait_tiles.push_back(before2);
      if (op.buffer == BufferKind::Weight) {
        if (!sizing_)
          load.wait_tiles.insert(load.wait_tiles.end(), weight_readers_[r].begin(), weight_readers_[r].end());
        weight_readers_[r].clear();
        // Reused weights are read from the slot that loaded them, maybe by a later tile than before2.
        if (weight_slots_[r].last_reader[parity] >= 0 && !sizing_)
          load.wait_tiles.push_back(weight_slots_[r].last_reader[parity]);
        weight_slots_[r].view[parity] = tile.weights = {false, load.buffer_address, op.c0};
        weight_slots_[r].key[parity] = weights;
      }
      const int id = static_cast<int>(program_.transfers.size());
      program_.transfers.push_back(std::move(load));
      transfer_pieces_.push_back(std::move(pieces));
      program_.load_queue.push_back(id);
      tile.wait_transfers.push_back(id);
    }
  }
  // (A tile that reads weights another engine loaded, shared pointwise weights, reads none of its own
  // resource's slots: what they hold stays there for its next tiles.)
  for (size_t slot = 0; slot < 2 && !ideal_; ++slot)
    if (weight_slots_[r].key[slot].layer >= 0 && tile.weights.address == weight_slots_[r].view[slot].address)
      weight_slots_[r].last_reader[slot] = index;
  if (!ideal_ && !sizing_ && resident(tile.layer)) {
    // Its range was last used by earlier resident outputs: write it only after all their readers (which
    // are all emitted by now, so the list is made once per layer).
    Residency& res = residency_[static_cast<size_t>(tile.layer)];
    if (!res.reader_waits_ready) {
      std::vector<int> readers;
      for (int evicted : res.evicts)
        for (int reader : readers_of(evicted)) {
          const auto& t = layer_tiles_[static_cast<size_t>(reader)];
          readers.insert(readers.end(), t.begin(), t.end());
        }
      wait_for_all(res.reader_waits, readers);
      res.reader_waits_ready = true;
    }
    tile.wait_tiles.insert(tile.wait_tiles.end(), res.reader_waits.begin(), res.reader_waits.end());
  }
  sort_unique(tile.wait_tiles);
  sort_unique(tile.wait_transfers);
  const int layer = tile.layer;
  std::vector<Piece> store_pieces;
  // A float_layernorm Linear's Gemm tiles produce int32 sums, its LayerNorm tile the codes.
  const bool sums =
      tile.work == TileWork::Gemm && node(layer).op == OpKind::Linear && qnode(layer).float_layernorm;
  // The layer's channel block is its tiles' (they start at channel 0 and step by it), so that each tile's
  // output is one run of the blocked channels-last layout.
  if (tile.region.c0 == 0 && !sums)
    program_.channel_blocks[static_cast<size_t>(layer)] =
        (tile.region.c1 - tile.region.c0) *
        (node(layer).op == OpKind::AttnNormalize ? node(layer).head_dim : 1);
  if (store && !ideal_ && !sizing_ && !resident(layer))
    for (const arch::Box& box : arch::region_boxes(node(layer), tile.region))
      store_pieces.push_back({layer, sums, box});  // the tile's region where the layout puts it
  const int64_t out_slot = slot_address(BufferKind::Output, tile.resource, parity);
  tile.write.space = ideal_            ? arch::BufferView::Space::Dram
                     : resident(layer) ? arch::BufferView::Space::Resident
                                       : arch::BufferView::Space::Slot;
  tile.write.layer = layer;
  tile.write.accumulators = sums;
  tile.write.buffer = BufferKind::Output;
  tile.write.address = out_slot;
  if (!sizing_) tile.write.boxes = arch::region_boxes(node(layer), tile.region);
  program_.tiles.push_back(std::move(tile));
  queue.push_back(index);
  layer_tiles_[static_cast<size_t>(layer)].push_back(index);
  release_tiles_.emplace_back();
  release_transfers_.emplace_back();
  release_pending_.push_back(false);
  if (store && !ideal_ && !resident(layer)) {
    arch::Transfer s;
    s.layer = layer;
    s.dir = arch::TransferDir::Store;
    s.buffer = BufferKind::Output;
    s.bytes = out_bytes;
    s.buffer_address = out_slot;
    stored_[static_cast<size_t>(layer)] += out_bytes;
    s.wait_tiles = {index};
    const int id = static_cast<int>(program_.transfers.size());
    program_.transfers.push_back(std::move(s));
    transfer_pieces_.push_back(std::move(store_pieces));
    program_.store_queue.push_back(id);
    layer_stores_[static_cast<size_t>(layer)].push_back(id);
    release_transfers_.back() = {id};
  }
  return index;
}

// ----- memory plan ----------------------------------------------------------------------------------

// The first layer of the group `layer` may be emitted with, which runs at the same time: the depthwise conv
// of a fused pair, the first MatMul of an attention chain; else the layer itself. A resident output's
// lifetime starts there, so it never shares bytes with what the group still reads.
int Compiler::emitted_with(int layer) const {
  const Node& n = node(layer);
  if (attention_chain_[static_cast<size_t>(layer)] >= 0) return attention_chain_[static_cast<size_t>(layer)];
  if (n.inputs.size() != 1) return layer;
  const int in = n.inputs[0];
  if (n.op == OpKind::Conv2d && is_depthwise(node(in))) return in;
  if (n.op == OpKind::AttnNormalize && node(in).op == OpKind::MatMul) {
    const int first = node(in).inputs[0];
    return node(first).op == OpKind::MatMul ? first : in;
  }
  return layer;
}

bool Compiler::on_chip(int source) const {
  for (int s : stored_sources(source))
    if (!resident(s)) return false;
  return true;
}

// Which layer outputs stay in the activation buffer's resident region, and where. In program order, each
// output that a later layer reads directly (not through Concat), that is not the model's output and that
// the mapping does not already keep on chip (attention intermediates, the head's int32 LayerNorm row) gets
// the lowest bank-row-aligned range that no output alive at the same time holds; its lifetime runs from its
// producer to its last consumer. An output that finds no range goes through DRAM.
void Compiler::plan_residency() {
  const size_t layers = graph_.nodes.size();
  residency_.assign(layers, {});
  const arch::BufferConfig& act = config_.buffer(BufferKind::Activation);
  if (ideal_ || act.resident_bytes == 0) return;
  const int64_t row = int64_t{act.banks} * act.word_bytes;
  std::vector<int> placed;
  for (size_t i = 0; i < layers; ++i) {
    const Node& n = node(static_cast<int>(i));
    const std::vector<int> readers = readers_of(static_cast<int>(i));
    const bool kept_on_chip = n.op == OpKind::MatMul || n.op == OpKind::Input || n.op == OpKind::Concat ||
                              (n.op == OpKind::Linear && qnode(static_cast<int>(i)).float_layernorm);
    if (readers.empty() || kept_on_chip) continue;
    Residency r;
    r.first = emitted_with(static_cast<int>(i));
    r.last = *std::max_element(readers.begin(), readers.end());
    r.bytes = ceil_div(quant::numel(n.out_shape) * out_bytes_per_element(static_cast<int>(i)), row) * row;
    // The lowest offset clear of every placed output whose lifetime overlaps this one.
    std::vector<std::pair<int64_t, int64_t>> busy;
    for (int other : placed) {
      const Residency& o = residency_[static_cast<size_t>(other)];
      if (o.last >= r.first) busy.emplace_back(o.offset, o.offset + o.bytes);
    }
    std::sort(busy.begin(), busy.end());
    int64_t offset = 0;
    for (const auto& [lo, hi] : busy) {
      if (offset + r.bytes <= lo) break;
      offset = std::max(offset, hi);
    }
    if (offset + r.bytes > act.resident_bytes) continue;
    r.resident = true;
    r.offset = offset;
    for (int other : placed) {
      const Residency& o = residency_[static_cast<size_t>(other)];
      if (o.last < r.first && o.offset < offset + r.bytes && offset < o.offset + o.bytes)
        r.evicts.push_back(other);
    }
    residency_[i] = r;
    placed.push_back(static_cast<int>(i));
  }
  // A Concat's reader reads all its sources on chip or all from DRAM: a source that found a range goes
  // through DRAM after all when another source of the same Concat did not (its range just stays unused).
  for (size_t i = 0; i < layers; ++i)
    if (node(static_cast<int>(i)).op == OpKind::Concat && !on_chip(static_cast<int>(i)))
      for (int source : stored_sources(static_cast<int>(i)))
        residency_[static_cast<size_t>(source)].resident = false;
}

// The layers that read `layer`'s output, through Concat to the layers that read the Concat.
std::vector<int> Compiler::readers_of(int layer) const {
  std::vector<int> readers;
  for (int c : consumers_[static_cast<size_t>(layer)]) {
    if (node(c).op != OpKind::Concat) {
      readers.push_back(c);
      continue;
    }
    const std::vector<int> through = readers_of(c);
    readers.insert(readers.end(), through.begin(), through.end());
  }
  return readers;
}

// Bytes of a Conv2d's or Linear's weights in DRAM: int8 (or wider) codes, then a 4-byte bias per output. A
// token op's constants: the position embedding (int32 per element), the class token (output codes).
int64_t Compiler::weight_bytes_of(int layer) const {
  const Node& n = node(layer);
  if (n.op == OpKind::PosEmbed) return quant::numel(n.out_shape) * 4;
  if (n.op == OpKind::ClassToken) return n.out_shape[1] * out_bytes_per_element(layer);
  const bool conv = n.op == OpKind::Conv2d;
  const int64_t outputs = conv ? n.out_shape[0] : n.out_features;
  const int64_t per_output = conv ? n.in_features / n.groups * n.kernel * n.kernel : n.in_features;
  return outputs * per_output * config_.element_bytes(qnode(layer).weight_bits) + 4 * outputs;
}

// DRAM addresses, in program order, each range aligned to the DRAM burst: the input image, then per layer
// its weights and (unless it resides on chip) its output, sized for its elements (an FP32-LayerNorm Linear:
// its int32 row and its output).
void Compiler::plan_dram() {
  const size_t layers = graph_.nodes.size();
  dram_output_.assign(layers, -1);
  dram_weights_.assign(layers, -1);
  stored_.assign(layers, 0);
  const int64_t align = config_.dram.burst_bytes;
  int64_t next = 0;
  auto take = [&](int64_t bytes) {
    const int64_t at = next;
    next += ceil_div(std::max<int64_t>(bytes, 1), align) * align;
    return at;
  };
  for (size_t li = 0; li < layers; ++li) {
    const int i = static_cast<int>(li);
    const Node& n = node(i);
    if (n.op == OpKind::Conv2d || n.op == OpKind::Linear || n.op == OpKind::PosEmbed ||
        n.op == OpKind::ClassToken)
      dram_weights_[li] = take(weight_bytes_of(i));
    if (n.op == OpKind::Concat || resident(i)) continue;
    const int64_t elements = quant::numel(n.out_shape);
    const bool layernorm = n.op == OpKind::Linear && qnode(i).float_layernorm;
    dram_output_[li] = take(elements * (layernorm ? 4 + out_bytes_per_element(i) : out_bytes_per_element(i)));
  }
}

arch::TensorLayout Compiler::layout_of(int layer, bool accumulators) const {
  return arch::tensor_layout(node(layer).out_shape, node(layer).op,
                             accumulators ? 4 : out_bytes_per_element(layer),
                             program_.channel_blocks[static_cast<size_t>(layer)]);
}

void Compiler::append_piece_runs(const std::vector<Piece>& pieces, std::vector<arch::RunSet>& runs) const {
  for (const Piece& p : pieces)
    arch::append_runs(layout_of(p.layer, p.accumulators), dram_base(p.layer, p.accumulators), p.box, runs);
}

// A tensor's channel block is chosen once all its stores and loads exist: among its producer's channel
// block, one block (plain channels last) and each channel width its transfers read, the one with the fewest
// bursts (ties: the earlier). Producer and consumers often cut channels differently (a depthwise conv reads
// channel slices of a pointwise conv's output), and a block that splits every run hurts whichever side it
// does not fit.
void Compiler::finish_runs() {
  const int64_t burst = config_.dram.burst_bytes;
  std::vector<std::vector<size_t>> transfers_of(graph_.nodes.size());
  for (size_t t = 0; t < transfer_pieces_.size(); ++t)
    for (const Piece& p : transfer_pieces_[t]) {
      auto& list = transfers_of[static_cast<size_t>(p.layer)];
      if (list.empty() || list.back() != t) list.push_back(t);
    }
  for (size_t l = 0; l < transfers_of.size(); ++l) {
    if (transfers_of[l].empty() || !layout_of(static_cast<int>(l)).channels_last) continue;
    int64_t& block = program_.channel_blocks[l];
    std::vector<int64_t> candidates{block, 0};
    for (size_t t : transfers_of[l])
      for (const Piece& p : transfer_pieces_[t])
        if (static_cast<size_t>(p.layer) == l &&
            std::find(candidates.begin(), candidates.end(), p.box.i1 - p.box.i0) == candidates.end())
          candidates.push_back(p.box.i1 - p.box.i0);  // a repeated width cannot win: ties go to the first
    int64_t best = block, best_bursts = -1;
    std::vector<Piece> mine;
    std::vector<arch::RunSet> runs;
    for (int64_t candidate : candidates) {
      block = candidate;
      int64_t bursts = 0;
      for (size_t t : transfers_of[l]) {
        mine.clear();
        for (const Piece& p : transfer_pieces_[t])
          if (static_cast<size_t>(p.layer) == l) mine.push_back(p);
        runs.clear();
        append_piece_runs(mine, runs);
        bursts += arch::burst_count(runs, burst);
      }
      if (best_bursts < 0 || bursts < best_bursts) best = candidate, best_bursts = bursts;
    }
    block = best;
  }
  for (size_t t = 0; t < transfer_pieces_.size(); ++t) {
    if (transfer_pieces_[t].empty()) continue;
    arch::Transfer& x = program_.transfers[t];
    append_piece_runs(transfer_pieces_[t], x.runs);
    // The bytes the tiler reasons with and the runs of the layout are computed apart: they must agree.
    if (arch::run_bytes_total(x.runs) != x.bytes)
      throw std::logic_error("compile: " + describe(x.layer) + ": a transfer of " + std::to_string(x.bytes) +
                             " bytes has runs of " + std::to_string(arch::run_bytes_total(x.runs)));
  }
}

// Where `layer`'s output starts in DRAM; a float_layernorm Linear keeps its codes first, its int32 sums
// after them (stored only when its row does not stay on chip).
int64_t Compiler::dram_base(int layer, bool accumulators) const {
  return dram_output_[static_cast<size_t>(layer)] + (accumulators ? layout_of(layer).bytes() : 0);
}

int64_t Compiler::slot_address(BufferKind buffer, int resource, size_t parity) const {
  const arch::BufferConfig& b = config_.buffer(buffer);
  return b.capacity_bytes - b.slot_region_bytes() +
         (2 * int64_t{resource} + static_cast<int64_t>(parity)) * slot_bytes(config_, buffer);
}

// The program's memory plan: the resident outputs where plan_residency put them; in DRAM (plan_dram) the
// input image, every layer's weights and every output that was stored.
void Compiler::record_memory_plan() {
  using arch::Allocation;
  auto last_reader = [&](int layer) {
    const std::vector<int> c = readers_of(layer);
    return c.empty() ? layer : *std::max_element(c.begin(), c.end());
  };
  for (size_t li = 0; li < graph_.nodes.size(); ++li) {
    const int i = static_cast<int>(li);
    const Node& n = node(i);
    if (n.op == OpKind::Input)
      program_.memory_plan.push_back({i, Allocation::Tensor::Output, Allocation::Space::Dram,
                                      dram_output_[li], quant::numel(n.out_shape) * out_bytes_per_element(i),
                                      i, last_reader(i)});
    if (dram_weights_[li] >= 0)
      program_.memory_plan.push_back({i, Allocation::Tensor::Weights, Allocation::Space::Dram,
                                      dram_weights_[li], weight_bytes_of(i), i, i});
    // With ideal memory every output lives in DRAM: the tiles read and write it there.
    const int64_t dram_bytes =
        ideal_ && i > 0 && dram_output_[li] >= 0
            ? layout_of(i).bytes() + (qnode(i).float_layernorm ? layout_of(i, true).bytes() : 0)
            : stored_[li];
    if (dram_bytes > 0)
      program_.memory_plan.push_back({i, Allocation::Tensor::Output, Allocation::Space::Dram,
                                      dram_output_[li], dram_bytes, i, last_reader(i)});
    const Residency& r = residency_[li];
    if (r.resident)
      program_.memory_plan.push_back(
          {i, Allocation::Tensor::Output, Allocation::Space::Activation, r.offset, r.bytes, r.first, r.last});
  }
}

// ----- convolutions and Linear ---------------------------------------------------------------------

/// A Conv2d or Linear as a convolution: Linear is a 1x1 conv over its rows (a vector is one pixel); a
/// MaxPool reads the windows of a depthwise conv.
struct ConvGeometry {
  int64_t in_channels = 0, in_h = 1, in_w = 1, out_channels = 0, out_h = 1, out_w = 1;
  int64_t kernel = 1, stride = 1, pad = 0, groups = 1;
  int weight_bits = 8;  // the layer's weight codes (ComputeTile::weight_bits)

  int64_t out_per_group() const { return out_channels / groups; }
  int64_t in_per_group() const { return in_channels / groups; }
  int64_t pixels() const { return out_h * out_w; }
  /// Input channels that output channels [c0, c1) read (whole groups).
  int64_t input_channels(int64_t c0, int64_t c1) const {
    if (groups == 1) return in_channels;
    return (ceil_div(c1, out_per_group()) - c0 / out_per_group()) * in_per_group();
  }
  /// Input rows (or columns) in [0, limit) that output rows (columns) first..last read: the union of their
  /// windows. With stride > kernel the windows are disjoint, and the rows between them are not loaded.
  int64_t input_span(int64_t first, int64_t last, int64_t limit) const {
    auto clipped = [&](int64_t lo, int64_t hi) {
      return std::max<int64_t>(0, std::min(limit, hi) - std::max<int64_t>(0, lo));
    };
    if (stride <= kernel) return clipped(first * stride - pad, last * stride - pad + kernel);
    int64_t n = 0;
    for (int64_t i = first; i <= last; ++i) n += clipped(i * stride - pad, i * stride - pad + kernel);
    return n;
  }
  /// An upper bound of input_span over `outputs` consecutive outputs.
  int64_t input_span_bound(int64_t outputs, int64_t limit) const {
    return std::min(limit, stride <= kernel ? (outputs - 1) * stride + kernel : outputs * kernel);
  }
  /// Input pixels per channel that output pixels [p0, p1) read (within one row, or whole rows).
  int64_t input_window(int64_t p0, int64_t p1) const {
    const int64_t r0 = p0 / out_w, r1 = (p1 - 1) / out_w;
    if (r0 == r1) return input_span(r0, r0, in_h) * input_span(p0 % out_w, (p1 - 1) % out_w, in_w);
    return input_span(r0, r1, in_h) * input_span(0, out_w - 1, in_w);
  }
  /// The input intervals in [0, limit) that outputs first..last read: one when the windows overlap or
  /// touch (stride <= kernel), else one per output (the rows between windows are not read).
  std::vector<std::pair<int64_t, int64_t>> input_intervals(int64_t first, int64_t last, int64_t limit) const {
    std::vector<std::pair<int64_t, int64_t>> spans;
    auto add = [&](int64_t lo, int64_t hi) {
      lo = std::max<int64_t>(0, lo), hi = std::min(limit, hi);
      if (lo < hi) spans.emplace_back(lo, hi);
    };
    if (stride <= kernel) {
      add(first * stride - pad, last * stride - pad + kernel);
    } else {
      for (int64_t i = first; i <= last; ++i) add(i * stride - pad, i * stride - pad + kernel);
    }
    return spans;
  }
  /// The input window of output channels [c0, c1) and output pixels [p0, p1) (within one row, or whole
  /// rows) as boxes of the input's channels-last layout (rows x columns x channels; a Linear's input is one
  /// row of `in_w` rows of features). input_window x input_channels elements in all.
  std::vector<arch::Box> input_boxes(int64_t c0, int64_t c1, int64_t p0, int64_t p1) const {
    const int64_t first_channel = groups == 1 ? 0 : c0 / out_per_group() * in_per_group();
    const int64_t r0 = p0 / out_w, r1 = (p1 - 1) / out_w;
    const bool piece = r0 == r1;
    std::vector<arch::Box> boxes;
    for (const auto& [y0, y1] : input_intervals(r0, r1, in_h))
      for (const auto& [x0, x1] :
           input_intervals(piece ? p0 % out_w : 0, piece ? (p1 - 1) % out_w : out_w - 1, in_w))
        boxes.push_back({y0, y1, x0, x1, first_channel, first_channel + input_channels(c0, c1)});
    return boxes;
  }
  /// An upper bound of input_window over the blocks of `block` pixels (for sizing). A block of whole rows
  /// covers block / out_w rows; any other block of at least a row may start anywhere in a row and then
  /// covers (reads the whole of) up to ceil((block - 1) / out_w) + 1 rows.
  int64_t input_window_bound(int64_t block) const {
    if (block >= out_w)
      return input_span_bound(block % out_w == 0 ? block / out_w : ceil_div(block - 1, out_w) + 1, in_h) *
             input_span_bound(out_w, in_w);
    return std::min(in_h, kernel) * input_span_bound(block, in_w);
  }
  /// Input pixels per channel that all the blocks of `block` output pixels read together (halos once per
  /// block).
  int64_t input_windows(int64_t block) const {
    int64_t sum = 0;
    for (const auto& [p0, p1] : pixel_blocks(pixels(), out_w, block)) sum += input_window(p0, p1);
    return sum;
  }
};

ConvGeometry conv_geometry(const Node& n, const quant::Shape& in, int weight_bits = 8) {
  ConvGeometry g;
  g.weight_bits = weight_bits;
  if (n.op == OpKind::Conv2d || n.op == OpKind::MaxPool) {
    g.in_channels = in[0], g.in_h = in[1], g.in_w = in[2];
    g.out_channels = n.out_shape[0], g.out_h = n.out_shape[1], g.out_w = n.out_shape[2];
    g.kernel = n.kernel, g.stride = n.stride, g.pad = n.pad;
    g.groups = n.op == OpKind::MaxPool ? in[0] : n.groups;
  } else {
    const int64_t rows = in.size() == 1 ? 1 : in[0];
    g.in_channels = n.in_features, g.out_channels = n.out_features;
    g.in_w = g.out_w = rows;
  }
  return g;
}

bool is_depthwise(const Node& n) {
  return n.op == OpKind::Conv2d && n.groups > 1 && n.groups == n.in_features && n.groups == n.out_features;
}

ComputeTile Compiler::conv_tile(int layer, const ConvGeometry& g, TileWork work, int64_t c0, int64_t c1,
                                int64_t p0, int64_t p1) const {
  const quant::QNode& q = qnode(layer);
  ComputeTile t;
  t.layer = layer;
  t.work = work;
  t.region = {c0, c1, p0, p1};
  t.m = p1 - p0;
  const int64_t taps = g.kernel * g.kernel;
  if (work == TileWork::Depthwise) {
    t.n = c1 - c0;
    t.k = taps;
    t.kernel = static_cast<int>(g.kernel);
    t.stride = static_cast<int>(g.stride);
  } else {
    t.groups = g.groups == 1 ? 1 : (c1 - c0) / g.out_per_group();
    t.n = g.groups == 1 ? c1 - c0 : g.out_per_group();
    t.k = g.in_per_group() * taps;
    for (int64_t c = c0; c < c1 && !q.weight_pot_bits.empty(); ++c)
      t.pot_n += q.weight_pot_bits[static_cast<size_t>(c)] > 0;
  }
  t.macs = t.groups * t.m * t.n * t.k;
  t.weight_bits = g.weight_bits;
  return t;
}

void Compiler::emit_conv(int layer) {
  const Node& n = node(layer);
  const int input = n.inputs[0];
  const ConvGeometry g = conv_geometry(n, node(input).out_shape, qnode(layer).weight_bits);
  const int dw_engine = is_depthwise(n) ? depthwise_engine(layer) : -1;
  const TileWork work = dw_engine >= 0 ? TileWork::Depthwise : TileWork::Gemm;
  const std::vector<int> engines = dw_engine >= 0 ? std::vector<int>{dw_engine} : gemm_engines(layer);
  const bool layernorm = n.op == OpKind::Linear && qnode(layer).float_layernorm;
  const int64_t in_bytes = out_bytes_per_element(input),
                w_bytes = config_.element_bytes(qnode(layer).weight_bits);
  const int64_t out_bytes = layernorm ? 4 : out_bytes_per_element(layer);  // LayerNorm input: int32
  const int64_t taps = g.kernel * g.kernel;
  auto weight_bytes = [&](int64_t channels) {
    return channels * g.in_per_group() * taps * w_bytes + 4 * channels;
  };

  OutputGrid grid;
  grid.channels = g.out_channels;
  grid.granule = g.groups == 1 ? 1 : g.out_per_group();
  grid.lanes = channel_lanes(*config_.engines[static_cast<size_t>(engines[0])].params, work);
  grid.pixels = g.pixels();
  grid.row = g.out_w;
  auto need = [&](int64_t c, int64_t p) {
    return SlotNeed{slot_load(input, g.input_window_bound(p) * g.input_channels(0, c) * in_bytes),
                    weight_bytes(c), slot_out(layer, c * p * out_bytes)};
  };
  // The int32 row stays on chip for the LayerNorm unit when it fits one output slot (and the LayerNorm
  // unit's activation slot, where the Gemm tiles write their sums in the row's layout), else it goes
  // through DRAM (the Gemm tiles store their int32 blocks, the LayerNorm tile loads the row).
  const int64_t layernorm_row = g.out_channels * g.pixels() * 4;
  const bool row_on_chip = ideal_ || layernorm_row <= std::min(slot_bytes(config_, BufferKind::Output),
                                                               slot_bytes(config_, BufferKind::Activation));
  const bool store = !layernorm || !row_on_chip;
  arch::BufferView row_view;  // where an on-chip row lands: the LayerNorm tile's activation slot
  row_view.space = arch::BufferView::Space::Slot;
  row_view.layer = layer;
  row_view.accumulators = row_view.in_layout = true;
  row_view.address =
      layernorm
          ? slot_address(
                BufferKind::Activation, aux_resource(AuxStep::LayerNorm, layer),
                program_.queues[static_cast<size_t>(aux_resource(AuxStep::LayerNorm, layer))].size() % 2)
          : 0;

  auto emit_tiles = [&](const Blocking& b) {
    std::vector<int64_t> running(engines.size(), 0);
    std::vector<int> tiles;
    const std::vector<int> aux_chain = layernorm ? std::vector<int>{} : conv_aux_chain(layer);
    const auto pixel_ranges = pixel_blocks(grid.pixels, grid.row, b.pixels);
    for (int64_t c0 = 0; c0 < g.out_channels; c0 += b.channels) {
      const int64_t c1 = std::min(g.out_channels, c0 + b.channels);
      for (const auto& [p0, p1] : pixel_ranges) {
        ComputeTile t = conv_tile(layer, g, work, c0, c1, p0, p1);
        t.aux_chain = aux_chain;
        pick_engine(engines, t, running);
        const std::vector<Operand> operands{
            activation_operand(g.input_window(p0, p1) * g.input_channels(c0, c1) * in_bytes, input,
                               sizing_ ? std::vector<arch::Box>{} : g.input_boxes(c0, c1, p0, p1)),
            weight_operand(weight_bytes(c1 - c0), layer, c0, c1)};
        tiles.push_back(emit(std::move(t), operands, store, (c1 - c0) * (p1 - p0) * out_bytes));
        if (layernorm && row_on_chip && !ideal_) {
          row_view.boxes = program_.tiles.back().write.boxes;
          program_.tiles.back().write = row_view;
        }
      }
    }
    return tiles;
  };
  const int64_t parts = static_cast<int64_t>(engines.size());
  Blocking b = split_into({grid.channels, grid.pixels}, grid, parts);
  if (!ideal_) {
    // Bytes a blocking moves at least: its activation loads (separable: input channels of the channel blocks
    // times the input windows of the pixel blocks), every weight once, and its stores.
    auto lower_bound = [&](const Blocking& blocking) {
      int64_t channels = 0;
      for (int64_t c0 = 0; c0 < g.out_channels; c0 += blocking.channels)
        channels += g.input_channels(c0, std::min(g.out_channels, c0 + blocking.channels));
      return slot_load(input, channels * g.input_windows(blocking.pixels) * in_bytes) +
             weight_bytes(g.out_channels) +
             (store ? slot_out(layer, g.out_channels * g.pixels() * out_bytes) : 0);
    };
    auto busiest_at_least = [&](const Blocking& blocking) {
      const std::vector<int> aux_chain = layernorm ? std::vector<int>{} : conv_aux_chain(layer);
      TileShapes shapes;
      for (const auto& [channels, c_count] :
           block_sizes(pixel_blocks(g.out_channels, g.out_channels, blocking.channels)))
        for (const auto& [pixels, p_count] :
             block_sizes(pixel_blocks(grid.pixels, grid.row, blocking.pixels))) {
          shapes.emplace_back(conv_tile(layer, g, work, 0, channels, 0, pixels), c_count * p_count);
          shapes.back().first.aux_chain = aux_chain;
        }
      return busiest_bound(shapes, engines);
    };
    auto fits_block = [&](int64_t c, int64_t p) { return fits(need(c, p)); };
    if (least_traffic_blocking(grid, fits_block, parts, lower_bound, busiest_at_least, emit_tiles, b) < 0) {
      check_slots(layer, need(channel_candidates(grid.channels, grid.granule, grid.lanes).back(), 1),
                  engines[0], "the smallest tile");
      throw std::logic_error("compile: no blocking fits but the smallest tile does");  // unreachable
    }
  }
  const std::vector<int> tiles = emit_tiles(b);
  if (!layernorm) return;
  // FP32 LayerNorm of the head: a statistics pass and a normalizing pass over the int32 row.
  ComputeTile norm;
  norm.layer = layer;
  norm.resource = aux_resource(AuxStep::LayerNorm, layer);
  norm.work = TileWork::Elementwise;
  norm.m = g.out_channels * g.pixels();  // the unit streams them twice (statistics, normalize)
  norm.region = {0, g.out_channels, 0, g.pixels()};
  norm.wait_tiles = tiles;
  if (row_on_chip)
    for (int gemm : tiles) norm.reads.push_back(output_view(gemm, 0));
  const int64_t norm_out = g.out_channels * g.pixels() * out_bytes_per_element(layer);
  check_slots(layer, {row_on_chip ? 0 : layernorm_row, 0, norm_out}, norm.resource, "the LayerNorm tile");
  std::vector<Operand> row;
  if (!row_on_chip)
    row.push_back(activation_operand(layernorm_row, layer, {arch::whole(layout_of(layer, true))}, 0, true));
  emit(std::move(norm), row, true, norm_out);
}

// DW -> PW fusion: both tiled by the same output-pixel blocks, DW block i on the depthwise engine, the PW
// tiles of block i on the other GEMM engines, the DW output kept on chip. Returns false (nothing emitted)
// when no engine pair exists or no block fits both engines' slots with all DW channels.
bool Compiler::emit_fused(int dw, int pw) {
  const Node& d = node(dw);
  const Node& p = node(pw);
  const int dw_engine = depthwise_engine(dw);
  if (dw_engine < 0) return false;
  std::vector<int> pw_engines;
  for (int e : gemm_engines(pw))
    if (e != dw_engine) pw_engines.push_back(e);
  if (pw_engines.empty()) return false;

  const int input = d.inputs[0];
  const ConvGeometry gd = conv_geometry(d, node(input).out_shape, qnode(dw).weight_bits),
                     gp = conv_geometry(p, d.out_shape, qnode(pw).weight_bits);
  const int64_t in_bytes = out_bytes_per_element(input), mid_bytes = out_bytes_per_element(dw);
  const int64_t out_bytes = out_bytes_per_element(pw);
  const int64_t dw_weights =
      gd.out_channels * gd.kernel * gd.kernel * config_.element_bytes(qnode(dw).weight_bits) +
      4 * gd.out_channels;
  const int64_t pw_weight_bytes = config_.element_bytes(qnode(pw).weight_bits);
  auto pw_weights = [&](int64_t c) { return c * gp.in_channels * pw_weight_bytes + 4 * c; };
  auto fits_block = [&](int64_t c, int64_t px) {
    const int64_t mid = gd.out_channels * px * mid_bytes;
    return fits({slot_load(input, gd.input_window_bound(px) * gd.in_channels * in_bytes), dw_weights, mid}) &&
           fits({mid, pw_weights(c), slot_out(pw, c * px * out_bytes)});
  };
  std::vector<int> dw_chain = conv_aux_chain(dw);
  dw_chain.push_back(aux_unit(AuxStep::ShiftSubtract, dw));
  const std::vector<int> pw_chain = conv_aux_chain(pw);
  const bool assists = config_.engines[static_cast<size_t>(dw_engine)].params->supports(TileWork::Gemm, 1, 1);
  // Pointwise tiles that share one load of all the pointwise weights (they fit one weight slot): the first
  // tile loads them into its engine's weight slot (the holder), the others read them there, and the holder
  // loads nothing new into that slot until the other engines' readers are done.
  struct SharedWeights {
    int holder = -1, load = -1;
    arch::WeightView view;
  };
  auto emit_shared = [&](SharedWeights& shared, ComputeTile pt, int64_t out) {
    const int engine = pt.resource;
    if (shared.holder < 0) {
      const size_t transfers = program_.transfers.size();
      shared.holder = engine;
      const int tile = emit(std::move(pt),
                            {weight_operand(pw_weights(gp.out_channels), pw, 0, gp.out_channels)}, true, out);
      for (size_t t = transfers; t < program_.transfers.size(); ++t)
        if (program_.transfers[t].buffer == BufferKind::Weight) shared.load = static_cast<int>(t);
      shared.view = program_.tiles.back().weights;
      return tile;
    }
    if (shared.load >= 0) pt.wait_transfers.push_back(shared.load);
    pt.weights = shared.view;
    const int tile = emit(std::move(pt), {}, true, out);
    if (engine != shared.holder) weight_readers_[static_cast<size_t>(shared.holder)].push_back(tile);
    return tile;
  };
  const bool share_fits = fits({0, pw_weights(gp.out_channels), 0});  // all pointwise weights in one slot
  // When the depthwise output stays on chip whole (ideal memory, or resident in the memory plan), the pair
  // runs as the paper describes: the depthwise engine runs every block, the pointwise tiles of block i
  // start on the other GEMM engines as soon as block i is done, and once the depthwise conv is finished the
  // depthwise engine (when it runs GEMM tiles) joins them on the rest. Each pointwise tile goes to the
  // engine that would finish it first.
  auto emit_joined = [&](const Blocking& b) {
    std::vector<int> engines = pw_engines;
    if (assists) engines.push_back(dw_engine);
    const auto blocks = pixel_blocks(gd.pixels(), gd.out_w, b.pixels);
    std::vector<int> dw_tiles;
    std::vector<int64_t> dw_done;
    int64_t dw_time = 0;
    for (const auto& [p0, p1] : blocks) {
      ComputeTile t = conv_tile(dw, gd, TileWork::Depthwise, 0, gd.out_channels, p0, p1);
      t.aux_chain = dw_chain;
      t.resource = dw_engine;
      dw_time += arch::tile_cost(config_, program_.resources[static_cast<size_t>(dw_engine)], t).cycles;
      dw_done.push_back(dw_time);
      dw_tiles.push_back(emit(std::move(t),
                              {activation_operand(gd.input_window(p0, p1) * gd.in_channels * in_bytes, input,
                                                  sizing_ ? std::vector<arch::Box>{}
                                                          : gd.input_boxes(0, gd.out_channels, p0, p1)),
                               weight_operand(dw_weights, dw, 0, gd.out_channels)},
                              false, 0));
    }
    std::vector<int64_t> running(engines.size(), 0);
    if (assists) running.back() = dw_time;
    // When all pointwise weights fit one weight slot they are loaded once, with the first pointwise tile,
    // and every engine reads them there; otherwise each tile loads its channels' weights.
    SharedWeights shared;
    for (size_t i = 0; i < blocks.size(); ++i)
      for (int64_t c0 = 0; c0 < gp.out_channels; c0 += b.channels) {
        const int64_t c1 = std::min(gp.out_channels, c0 + b.channels);
        const auto [p0, p1] = blocks[i];
        ComputeTile pt = conv_tile(pw, gp, TileWork::Gemm, c0, c1, p0, p1);
        pt.aux_chain = pw_chain;
        pt.wait_tiles = {dw_tiles[i]};
        pt.reads = {output_view(dw_tiles[i], 0)};
        pick_engine(engines, pt, running, dw_done[i]);
        const int64_t out = (c1 - c0) * (p1 - p0) * out_bytes;
        if (!share_fits || ideal_)
          emit(std::move(pt), {weight_operand(pw_weights(c1 - c0), pw, c0, c1)}, true, out);
        else
          emit_shared(shared, std::move(pt), out);
      }
  };
  const int64_t pw_lanes =
      channel_lanes(*config_.engines[static_cast<size_t>(pw_engines[0])].params, TileWork::Gemm);
  auto cycles_on = [&](int engine, ComputeTile t) {
    t.resource = engine;
    return arch::tile_cost(config_, program_.resources[static_cast<size_t>(engine)], t).cycles;
  };
  // R-MAC joins MAT by blocks (the depthwise output not resident whole, real memory): each block's pointwise
  // conv is cut into pieces of about half the output channels (whole lanes; the blocking's channel block
  // when such a piece does not fit the slots) and the depthwise engine runs the block's last piece right
  // after the block's depthwise tile. When all pointwise weights fit one weight slot they are loaded once, on
  // MAT, and R-MAC reads them there; else each piece loads its channels' weights, and R-MAC's piece, always
  // in its other weight slot (its queue alternates depthwise tile and piece), stays there from block to
  // block. Either way the depthwise weights stay in R-MAC's slot, so joining moves no byte more than the
  // blocks without it. Its next depthwise tile reuses the output slot holding this block's depthwise output,
  // so it waits for all of the block's pointwise pieces: a block then takes its depthwise tile plus the
  // longer of the engines' pieces instead of the longer of its depthwise tile and its whole pointwise conv.
  // The pair joins when that estimate, from the closed-form costs of the first block's tiles, is shorter.
  // Returns the pieces' channels, 0 when not joining.
  const int64_t half = ceil_div(ceil_div(gp.out_channels, 2), pw_lanes) * pw_lanes;
  // A block's pointwise channel ranges: pieces of `channels`; when joining (`join` > 0), MAT's pieces cover
  // all but the last `join` channels, which are R-MAC's piece.
  auto pieces = [&](int64_t channels, int64_t join) {
    const int64_t end = gp.out_channels - join;
    std::vector<std::pair<int64_t, int64_t>> ranges;
    for (int64_t c0 = 0; c0 < end; c0 += channels) ranges.emplace_back(c0, std::min(end, c0 + channels));
    if (join > 0) ranges.emplace_back(end, gp.out_channels);
    return ranges;
  };
  std::map<std::pair<int64_t, int64_t>, int64_t> join_steps;  // by blocking: the bound and the trial ask
  auto decide_join_step = [&](const Blocking& b) -> int64_t {
    // Half the channels when such a piece fits the weight (unless shared) and output slots.
    const int64_t step =
        fits({0, share_fits ? 0 : pw_weights(half), slot_out(pw, half * b.pixels * out_bytes)})
            ? half
            : std::min(b.channels, half);
    if (!assists || ideal_ || step >= gp.out_channels) return 0;
    const std::pair<int64_t, int64_t> first = pixel_blocks(gd.pixels(), gd.out_w, b.pixels).front();
    const int64_t p0 = first.first, p1 = first.second;  // plain locals: the lambda below captures them
    ComputeTile t = conv_tile(dw, gd, TileWork::Depthwise, 0, gd.out_channels, p0, p1);
    t.aux_chain = dw_chain;
    const int64_t depthwise = cycles_on(dw_engine, t);
    auto pointwise = [&](int64_t c0, int64_t c1, int engine) {
      ComputeTile pt = conv_tile(pw, gp, TileWork::Gemm, c0, c1, p0, p1);
      pt.aux_chain = pw_chain;
      return cycles_on(engine, pt);
    };
    const int64_t engines = static_cast<int64_t>(pw_engines.size());
    int64_t alone = 0, with_rmac = 0;
    for (const auto& [c0, c1] : pieces(b.channels, 0)) alone += pointwise(c0, c1, pw_engines[0]);
    const auto joined_pieces = pieces(step, step);
    for (size_t i = 0; i + 1 < joined_pieces.size(); ++i)
      with_rmac += pointwise(joined_pieces[i].first, joined_pieces[i].second, pw_engines[0]);
    const int64_t joined =
        depthwise + std::max(ceil_div(with_rmac, engines),
                             pointwise(joined_pieces.back().first, gp.out_channels, dw_engine));
    return joined < std::max(depthwise, ceil_div(alone, engines)) ? step : 0;
  };
  auto join_step = [&](const Blocking& b) {
    const auto [it, inserted] = join_steps.try_emplace({b.channels, b.pixels}, 0);
    if (inserted) it->second = decide_join_step(b);
    return it->second;
  };
  auto emit_blocks = [&](const Blocking& b) {
    const int64_t join = join_step(b);
    const bool share = join > 0 && share_fits;
    std::vector<int64_t> running(pw_engines.size(), 0);
    SharedWeights shared;
    for (const auto& [p0, p1] : pixel_blocks(gd.pixels(), gd.out_w, b.pixels)) {
      ComputeTile t = conv_tile(dw, gd, TileWork::Depthwise, 0, gd.out_channels, p0, p1);
      t.aux_chain = dw_chain;
      t.resource = dw_engine;
      const int dw_tile = emit(std::move(t),
                               {activation_operand(gd.input_window(p0, p1) * gd.in_channels * in_bytes, input,
                                                   sizing_ ? std::vector<arch::Box>{}
                                                           : gd.input_boxes(0, gd.out_channels, p0, p1)),
                                weight_operand(dw_weights, dw, 0, gd.out_channels)},
                               false, 0);
      hold(dw_tile);
      std::vector<int> consumers;
      for (const auto& [c0, c1] : pieces(join > 0 ? join : b.channels, join)) {
        ComputeTile pt = conv_tile(pw, gp, TileWork::Gemm, c0, c1, p0, p1);
        pt.aux_chain = pw_chain;
        pt.wait_tiles = {dw_tile};
        pt.reads = {output_view(dw_tile, 0)};
        const int64_t out = (c1 - c0) * (p1 - p0) * out_bytes;
        if (join > 0 && c1 == gp.out_channels)
          pt.resource = dw_engine;  // the block's last piece
        else
          pick_engine(pw_engines, pt, running);
        consumers.push_back(
            share ? emit_shared(shared, std::move(pt), out)
                  : emit(std::move(pt), {weight_operand(pw_weights(c1 - c0), pw, c0, c1)}, true, out));
      }
      release({dw_tile}, consumers);
    }
  };
  // The options, by the DRAM bytes each moves (-1: it does not fit): joined (when the depthwise output stays
  // on chip whole), fused by blocks, or the two layers apart. The least traffic wins; ties go to joined, then
  // fused. Each option moves fewer bytes or as many with larger buffers, so the choice does too.
  Blocking joined_block{0, 0};
  if (ideal_ || resident(dw)) {
    // Blocks of exactly the depthwise engine's pixel parallelism (R-MAC: lanes x replicas output pixels),
    // crossing row boundaries, so that every depthwise output group but the layer's last fills the engine's
    // pixels (blocks of whole rows left lanes idle in each block's last group: 14 x 14 pixels in blocks of
    // 10 rows took 3 groups of 128 instead of 2); at least one whole row (a smaller parallelism keeps blocks
    // of one row). Pointwise tiles of about a quarter of the output channels (whole lanes), so that the
    // engines can share them; smaller where the slots (depthwise input and weights, pointwise weights and
    // outputs) are too small.
    const auto& dw_params = *config_.engines[static_cast<size_t>(dw_engine)].params;
    const int64_t want_pixels =
        std::min(gd.pixels(), std::max(dw_params.granule(TileWork::Depthwise).pixels, gd.out_w));
    const int64_t piece = std::max(pw_lanes, ceil_div(ceil_div(gp.out_channels, 4), pw_lanes) * pw_lanes);
    auto fits_joined = [&](int64_t c, int64_t px) {
      return fits({slot_load(input, gd.input_window_bound(px) * gd.in_channels * in_bytes), dw_weights, 0}) &&
             fits({0, pw_weights(c), slot_out(pw, c * px * out_bytes)});
    };
    joined_block = [&]() -> Blocking {
      std::vector<int64_t> pixels = pixel_candidates(gd.pixels(), gd.out_w);
      if (want_pixels % gd.out_w != 0) pixels.insert(pixels.begin(), want_pixels);  // rows and a piece
      for (int64_t px : pixels)
        for (int64_t c : channel_candidates(gp.out_channels, 1, pw_lanes))
          if (px <= want_pixels && c <= piece && fits_joined(c, px)) return {c, px};
      return {0, 0};
    }();
  }
  Blocking b{gp.out_channels, gd.out_w};
  const OutputGrid grid{gp.out_channels, 1, pw_lanes, gd.pixels(), gd.out_w};
  // Bytes a blocking moves at least: the depthwise input windows of its pixel blocks, both layers' weights
  // once, the pointwise stores.
  auto lower_bound = [&](const Blocking& blocking) {
    return slot_load(input, gd.input_windows(blocking.pixels) * gd.in_channels * in_bytes) + dw_weights +
           pw_weights(gp.out_channels) + slot_out(pw, gp.out_channels * gp.pixels() * out_bytes);
  };
  // The depthwise tiles all run on its engine, the pointwise ones are spread over the others (and the
  // depthwise engine when it joins).
  auto busiest_at_least = [&](const Blocking& blocking) {
    const int64_t join = join_step(blocking);
    std::vector<int> engines = pw_engines;
    if (join > 0) engines.push_back(dw_engine);
    TileShapes dw_shapes, pw_shapes;
    for (const auto& [pixels, p_count] : block_sizes(pixel_blocks(gd.pixels(), gd.out_w, blocking.pixels))) {
      dw_shapes.emplace_back(conv_tile(dw, gd, TileWork::Depthwise, 0, gd.out_channels, 0, pixels), p_count);
      dw_shapes.back().first.aux_chain = dw_chain;
      for (const auto& [channels, c_count] : block_sizes(pieces(join > 0 ? join : blocking.channels, join))) {
        pw_shapes.emplace_back(conv_tile(pw, gp, TileWork::Gemm, 0, channels, 0, pixels), p_count * c_count);
        pw_shapes.back().first.aux_chain = pw_chain;
      }
    }
    return std::max(busiest_bound(dw_shapes, {dw_engine}), busiest_bound(pw_shapes, engines));
  };
  if (ideal_ && joined_block.channels > 0) {
    emit_joined(joined_block);
    return true;
  }
  const int64_t joined = joined_block.channels > 0 ? trial_bytes([&] { emit_joined(joined_block); }) : -1;
  // Fused by blocks, or apart: small blocks re-read the depthwise input's halo, and PW weights in several
  // channel blocks are reloaded for every block.
  const int64_t fused =
      least_traffic_blocking(grid, fits_block, 1, lower_bound, busiest_at_least, emit_blocks, b);
  int64_t apart = -1;
  try {
    apart = trial_bytes([&] {
      emit_conv(dw);
      emit_conv(pw);
    });
  } catch (const MappingError&) {
    // the layers only fit fused
  }
  auto beats = [](int64_t a, int64_t other) { return a >= 0 && (other < 0 || a <= other); };
  if (beats(joined, fused) && beats(joined, apart)) {
    emit_joined(joined_block);
    return true;
  }
  if (beats(fused, apart)) {
    emit_blocks(b);
    return true;
  }
  return false;
}

// ----- matrix multiplies ---------------------------------------------------------------------------

ComputeTile matmul_tile(int layer, const MatmulHead& h, int64_t head, int64_t p0, int64_t p1,
                        std::vector<int> aux_chain) {
  ComputeTile t;
  t.layer = layer;
  t.work = TileWork::Gemm;
  t.region = {head, head + 1, p0, p1};
  // The larger output dimension is m, the pixel axis the engines replicate along.
  const int64_t cols = p1 - p0;
  t.m = std::max(cols, h.rows);
  t.n = std::min(cols, h.rows);
  t.k = h.depth;
  t.macs = h.rows * cols * h.depth;
  t.aux_chain = std::move(aux_chain);
  return t;
}

// Emits a MatMul chain (V'K^T on the depthwise-capable engine, its product with Q on another GEMM engine,
// then the normalization) head by head, so R-MAC computes head i while MAT computes head i-1. A link
// stays on chip when one head's result fits one tile (one output slot); otherwise it goes through DRAM
// (the producer layer is emitted, and stored, before its consumer), since the consumer needs the whole
// head while column blocks beyond two would wait for slots that only the consumer frees.
void Compiler::emit_attention(int vk, int out, int normalize) {
  const std::vector<int> gemm = gemm_engines(vk);
  int vk_engine = gemm[0];
  for (size_t e = 0; e < config_.engines.size(); ++e)
    if (runs_depthwise(e) && std::count(gemm.begin(), gemm.end(), static_cast<int>(e))) {
      vk_engine = static_cast<int>(e);
      break;
    }
  int out_engine = vk_engine;
  for (int e : gemm)
    if (e != vk_engine) {
      out_engine = e;
      break;
    }

  struct Layer {
    int layer;
    MatmulHead head;
    int64_t block;  // output columns per tile
    bool a_stored, b_stored;
    bool one_tile_per_head() const { return block == head.cols; }
  };
  auto plan = [&](int layer, int resource, int on_chip_input) {
    const Node& n = node(layer);
    const MatmulHead h{n.out_shape[1], n.out_shape[2], n.in_features};
    const bool a_stored = n.inputs[0] != on_chip_input, b_stored = n.inputs[1] != on_chip_input;
    const int64_t a_bytes = out_bytes_per_element(n.inputs[0]), b_bytes = out_bytes_per_element(n.inputs[1]);
    const int64_t o_bytes = out_bytes_per_element(layer);
    auto need = [&](int64_t, int64_t cols) {
      return SlotNeed{(a_stored ? slot_load(n.inputs[0], h.rows * h.depth * a_bytes) : 0) +
                          (b_stored ? slot_load(n.inputs[1], h.depth * cols * b_bytes) : 0),
                      0, h.rows * cols * o_bytes};
    };
    const Blocking b =
        choose_blocking(layer, {1, 1, 1, h.cols, h.cols}, need, resource, "one head's smallest tile");
    return Layer{layer, h, b.pixels, a_stored, b_stored};
  };
  const Layer first = plan(vk, vk_engine, -1);
  const bool vk_on_chip = first.one_tile_per_head();
  const Layer second = plan(out, out_engine, vk_on_chip ? vk : -1);
  const bool out_on_chip = normalize >= 0 && second.one_tile_per_head();
  const int64_t heads = node(vk).out_shape[0];

  auto head_tiles = [&](const Layer& l, int resource, int64_t head, const std::vector<int>& on_chip,
                        bool store) {
    const Node& n = node(l.layer);
    std::vector<int> tiles;
    for (const auto& [p0, p1] : pixel_blocks(l.head.cols, l.head.cols, l.block)) {
      ComputeTile t = matmul_tile(l.layer, l.head, head, p0, p1, matmul_aux_chain(l.layer));
      t.resource = resource;
      // Both operands are activations, so either output dimension may go on the engine's pixel axis: the
      // other orientation when its closed-form cycles are fewer (V'K^T's 17 x 16 output for d = 16 on
      // trio-vit: its 17 rows on R-MAC's 8 lanes, 3 output groups, 87 cycles at N = 196, instead of on the
      // 16 replicas, 4 groups, 112 cycles).
      ComputeTile swapped = t;
      std::swap(swapped.m, swapped.n);
      const arch::Resource& engine = program_.resources[static_cast<size_t>(resource)];
      if (arch::tile_cost(config_, engine, swapped).cycles < arch::tile_cost(config_, engine, t).cycles)
        t = std::move(swapped);
      t.wait_tiles = on_chip;
      for (int producer : on_chip) t.reads.push_back(output_view(producer, 0));
      std::vector<Operand> operands;
      if (l.a_stored)
        operands.push_back(activation_operand(l.head.rows * l.head.depth * out_bytes_per_element(n.inputs[0]),
                                              n.inputs[0], matmul_boxes(l.layer, 0, head, p0, p1)));
      if (l.b_stored)
        operands.push_back(activation_operand(l.head.depth * (p1 - p0) * out_bytes_per_element(n.inputs[1]),
                                              n.inputs[1], matmul_boxes(l.layer, 1, head, p0, p1), 1));
      const int index =
          emit(std::move(t), operands, store, l.head.rows * (p1 - p0) * out_bytes_per_element(l.layer));
      if (!store) hold(index);
      tiles.push_back(index);
    }
    return tiles;
  };

  if (!vk_on_chip)
    for (int64_t h = 0; h < heads; ++h) head_tiles(first, vk_engine, h, {}, true);
  int64_t norm_out = 0;
  if (out_on_chip) {
    norm_out = node(normalize).head_dim * second.head.cols * out_bytes_per_element(normalize);
    check_slots(normalize, {0, 0, norm_out}, aux_resource(AuxStep::AttnNormalize, normalize),
                "one head's tile");
  }
  for (int64_t h = 0; h < heads; ++h) {
    const std::vector<int> vk_tiles =
        vk_on_chip ? head_tiles(first, vk_engine, h, {}, false) : std::vector<int>{};
    const std::vector<int> out_tiles = head_tiles(second, out_engine, h, vk_tiles, !out_on_chip);
    release(vk_tiles, out_tiles);
    if (!out_on_chip) continue;
    ComputeTile t;
    t.layer = normalize;
    t.resource = aux_resource(AuxStep::AttnNormalize, normalize);
    t.work = TileWork::Elementwise;
    t.m = node(normalize).head_dim * second.head.cols;
    t.region = {h, h + 1, 0, second.head.cols};
    t.wait_tiles = out_tiles;
    for (int producer : out_tiles) t.reads.push_back(output_view(producer, 0));
    release(out_tiles, {emit(std::move(t), {}, true, norm_out)});
  }
  if (normalize >= 0 && !out_on_chip) emit_elementwise(normalize);
}

std::vector<arch::Box> Compiler::matmul_boxes(int layer, size_t k, int64_t head, int64_t p0,
                                              int64_t p1) const {
  const Node& n = node(layer);
  const int source = n.inputs[k];
  const quant::MatOperand& view = k == 0 ? n.a : n.b;
  const arch::TensorLayout l = layout_of(source);
  if (l.axis0 != 0)
    throw MappingError(describe(layer) +
                       ": a MatMul input must be a [B,R,N] MatMul or AttnKernel output, got " +
                       describe(source));
  const int64_t r0 = view.row_offset, r1 = view.rows ? r0 + view.rows : l.mid;
  if (k == 0) return {{head, head + 1, r0, r1, 0, l.inner}};
  if (view.transpose) return {{head, head + 1, r0 + p0, r0 + p1, 0, l.inner}};
  return {{head, head + 1, r0, r1, p0, p1}};
}

// A MatMul outside the linear-attention pattern: per head, split across the GEMM engines, stored.
Compiler::MatmulPlan Compiler::plan_matmul(int layer) const {
  const Node& n = node(layer);
  MatmulPlan p;
  p.layer = layer;
  p.engines = gemm_engines(layer);
  p.head = {n.out_shape[1], n.out_shape[2], n.in_features};
  const MatmulHead& h = p.head;
  const int64_t a_bytes = out_bytes_per_element(n.inputs[0]), b_bytes = out_bytes_per_element(n.inputs[1]);
  const int64_t o_bytes = out_bytes_per_element(layer);
  auto need = [&](int64_t, int64_t cols) {
    return SlotNeed{
        slot_load(n.inputs[0], h.rows * h.depth * a_bytes) + slot_load(n.inputs[1], h.depth * cols * b_bytes),
        0, slot_out(layer, h.rows * cols * o_bytes)};
  };
  p.block = choose_blocking(layer, {1, 1, 1, h.cols, h.cols}, need, p.engines[0], "one head's smallest tile")
                .pixels;
  p.running.assign(p.engines.size(), 0);
  return p;
}

void Compiler::emit_matmul_head(MatmulPlan& p, int64_t head) {
  const int layer = p.layer;
  const Node& n = node(layer);
  const MatmulHead& h = p.head;
  const int64_t a_bytes = out_bytes_per_element(n.inputs[0]), b_bytes = out_bytes_per_element(n.inputs[1]);
  const int64_t o_bytes = out_bytes_per_element(layer);
  for (const auto& [p0, p1] : pixel_blocks(h.cols, h.cols, p.block)) {
    ComputeTile t = matmul_tile(layer, h, head, p0, p1, matmul_aux_chain(layer));
    pick_engine(p.engines, t, p.running);
    emit(std::move(t),
         {activation_operand(h.rows * h.depth * a_bytes, n.inputs[0], matmul_boxes(layer, 0, head, p0, p1)),
          activation_operand(h.depth * (p1 - p0) * b_bytes, n.inputs[1], matmul_boxes(layer, 1, head, p0, p1),
                             1)},
         true, h.rows * (p1 - p0) * o_bytes);
  }
}

void Compiler::emit_matmul(int layer) {
  MatmulPlan p = plan_matmul(layer);
  for (int64_t head = 0; head < node(layer).out_shape[0]; ++head) emit_matmul_head(p, head);
}

void Compiler::emit_softmax_attention(int qk, int softmax, int av) {
  MatmulPlan scores = plan_matmul(qk), values = plan_matmul(av);
  vit_block(softmax);  // a MappingError if one head does not fit the Softmax unit's slots
  // Skewed by one head per stage (Q·Kᵀ of head s, Softmax of s - 1, A·V of s - 2): the DMA runs its queues in
  // order, so a load of A·V head h placed before Q·Kᵀ head h + 1's would hold that load back until Softmax
  // head h is done, and the PS-MAC would wait for the Softmax unit.
  const int64_t heads = node(qk).out_shape[0];
  for (int64_t step = 0; step < heads + 2; ++step) {
    if (step < heads) emit_matmul_head(scores, step);
    if (step >= 1 && step <= heads) emit_vit_block(softmax, step - 1, step);
    if (step >= 2) emit_matmul_head(values, step - 2);
  }
}

bool Compiler::streams(int source, int layer) const {
  if (!config_.pipelining.inter_layer) return false;
  const OpKind from = node(source).op, to = node(layer).op;
  const bool gelu = node(source).act == quant::Act::GeluTanh || node(source).act == quant::Act::GeluErf;
  return (from == OpKind::MatMul && to == OpKind::Softmax) ||
         (from == OpKind::Softmax && to == OpKind::MatMul) ||
         (from == OpKind::Linear && gelu && to == OpKind::Linear);
}

std::vector<int> Compiler::producer_tiles(const Operand& op, int layer) const {
  std::vector<int> tiles;
  if (streams(op.source, layer)) {
    for (int t : layer_tiles_[static_cast<size_t>(op.source)])
      if (boxes_meet(program_.tiles[static_cast<size_t>(t)].write.boxes, op.boxes)) tiles.push_back(t);
    return tiles;
  }
  for (int src : stored_sources(op.source)) {
    const auto& t = layer_tiles_[static_cast<size_t>(src)];
    tiles.insert(tiles.end(), t.begin(), t.end());
  }
  return tiles;
}

// ----- standalone element-wise layers --------------------------------------------------------------

// What an element-wise tile of `layer` covering `r` reads of its input `source`, in the source's layout.
std::vector<arch::Box> Compiler::elementwise_boxes(int layer, int source, const arch::Region& r) const {
  const Node& n = node(layer);
  const arch::TensorLayout in = layout_of(source);
  switch (n.op) {
    case OpKind::GlobalAvgPool:  // channels [c0, c1), every pixel
      return {{0, in.outer, 0, in.mid, r.c0, r.c1}};
    case OpKind::AttnKernel:  // heads' 3d channels of a channels-last [2h*3d, H, W] tensor, pixels [p0, p1)
      return arch::pixel_boxes(in, r.p0, r.p1, r.c0 * 3 * n.head_dim, r.c1 * 3 * n.head_dim);
    case OpKind::AttnNormalize:  // heads x all d + 1 rows x columns [p0, p1) of the head-major products
      return {{r.c0, r.c1, 0, in.mid, r.p0, r.p1}};
    case OpKind::MaxPool:  // the windows of output pixels [p0, p1), channels [c0, c1)
      if (!in.channels_last)
        throw MappingError(describe(layer) + ": its input " + describe(source) + " is not a feature map");
      return conv_geometry(n, node(source).out_shape).input_boxes(r.c0, r.c1, r.p0, r.p1);
    case OpKind::ChannelMul:  // x: as Add's inputs; the gate [C]: channels [c0, c1)
      if (source == n.inputs[1]) return {{0, 1, 0, 1, r.c0, r.c1}};
      [[fallthrough]];
    default:  // Add: the same region of inputs shaped and laid out like the output
      if (in.channels_last != layout_of(layer).channels_last)
        throw MappingError(describe(layer) + ": its input " + describe(source) + " is laid out differently");
      return arch::region_boxes(n, r);
  }
}

void Compiler::emit_elementwise(int layer) {
  const Node& n = node(layer);
  const quant::Shape& in = node(n.inputs[0]).out_shape;
  const int64_t out_bytes = out_bytes_per_element(layer);
  OutputGrid g;
  AuxStep step = AuxStep::ResidualAdd;
  // Per block of c channels (heads) x p pixels (columns): input elements per input, output elements.
  int64_t in_per = 1, out_per = 1;
  switch (n.op) {
    case OpKind::Add:
      g = {n.out_shape[0], 1, 1, n.out_shape[1] * n.out_shape[2], n.out_shape[2]};
      break;
    case OpKind::ChannelMul:  // the gate input reads one element per channel (gate_of, below)
      step = AuxStep::ChannelMul;
      g = {n.out_shape[0], 1, 1, n.out_shape[1] * n.out_shape[2], n.out_shape[2]};
      break;
    case OpKind::GlobalAvgPool:
      step = AuxStep::AvgPool;
      g = {n.out_shape[0], 1, 1, 1, 1};
      in_per = in[1] * in[2];
      break;
    case OpKind::MaxPool:  // in_per: the taps compared per output (its reads are the windows, below)
      step = AuxStep::MaxPool;
      g = {n.out_shape[0], 1, 1, n.out_shape[1] * n.out_shape[2], n.out_shape[2]};
      in_per = int64_t{n.kernel} * n.kernel;
      break;
    case OpKind::AttnKernel:
      step = AuxStep::AttnKernel;
      g = {n.out_shape[0], 1, 1, n.out_shape[2], in[2]};
      in_per = 3 * n.head_dim;
      out_per = 3 * n.head_dim + 1;
      break;
    case OpKind::AttnNormalize:
      step = AuxStep::AttnNormalize;
      g = {in[0], 1, 1, in[2], n.out_shape[2]};
      in_per = n.head_dim + 1;
      out_per = n.head_dim;
      break;
    default:  // the standard-ViT layers are emit_vit_layer's
      throw std::logic_error("compile: " + describe(layer) + " is not an element-wise layer");
  }
  const int resource = aux_resource(step, layer);
  const size_t inputs = n.inputs.size();
  // Input elements per channel that a block of output pixels reads: a max pool's windows, else in_per each.
  const bool windows = n.op == OpKind::MaxPool;
  const ConvGeometry window = conv_geometry(n, in);
  // A channel multiply's gate: one element per channel, whatever the pixels.
  const auto gate_of = [&](size_t k) { return n.op == OpKind::ChannelMul && k == 1; };
  auto need = [&](int64_t c, int64_t p) {
    int64_t act = 0;
    const int64_t per_channel = windows ? window.input_window_bound(p) : p * in_per;
    for (size_t k = 0; k < inputs; ++k)
      act += slot_load(n.inputs[k], c * (gate_of(k) ? 1 : per_channel) * out_bytes_per_element(n.inputs[k]));
    return SlotNeed{act, 0, slot_out(layer, c * p * out_per * out_bytes)};
  };
  const Blocking b = choose_blocking(layer, g, need, resource, "the smallest tile");
  for (int64_t c0 = 0; c0 < g.channels; c0 += b.channels) {
    const int64_t c1 = std::min(g.channels, c0 + b.channels);
    for (const auto& [p0, p1] : pixel_blocks(g.pixels, g.row, b.pixels)) {
      const int64_t elements = (c1 - c0) * (p1 - p0);
      ComputeTile t;
      t.layer = layer;
      t.resource = resource;
      t.work = TileWork::Elementwise;
      t.m = elements * (n.op == OpKind::GlobalAvgPool || windows ? in_per : out_per);
      t.region = {c0, c1, p0, p1};
      const int64_t in_elements = windows ? (c1 - c0) * window.input_window(p0, p1) : elements * in_per;
      std::vector<Operand> operands;
      for (size_t i = 0; i < inputs; ++i)
        operands.push_back(activation_operand(
            (gate_of(i) ? c1 - c0 : in_elements) * out_bytes_per_element(n.inputs[i]), n.inputs[i],
            elementwise_boxes(layer, n.inputs[i], t.region), static_cast<int>(i)));
      emit(std::move(t), operands, true, elements * out_per * out_bytes);
    }
  }
}

// ----- standard-ViT layers ------------------------------------------------------------------------

// The auxiliary step of a standard-ViT layer.
AuxStep vit_step(OpKind op) {
  switch (op) {
    case OpKind::LayerNorm:
      return AuxStep::LayerNorm;
    case OpKind::Softmax:
      return AuxStep::Softmax;
    case OpKind::Add:
      return AuxStep::ResidualAdd;
    case OpKind::ClassToken:
      return AuxStep::ClassToken;
    case OpKind::PosEmbed:
      return AuxStep::PosEmbed;
    default:  // PatchTokens, HeadSplit, HeadMerge, TokenSelect
      return AuxStep::TokenMove;
  }
}

std::vector<arch::Box> Compiler::vit_input_boxes(int layer, size_t k, const arch::Region& r) const {
  const Node& n = node(layer);
  const arch::TensorLayout in = layout_of(n.inputs[k]);
  switch (n.op) {
    case OpKind::Softmax:  // heads [c0, c1), whole rows
      return {{r.c0, r.c1, 0, in.mid, 0, in.inner}};
    case OpKind::PatchTokens:  // tokens [p0, p1) are pixels of the [D, H, W] input, every channel
      return arch::pixel_boxes(in, r.p0, r.p1, 0, in.inner);
    case OpKind::HeadMerge:  // tokens [p0, p1) of every head
      return {{0, in.outer, r.p0, r.p1, 0, in.inner}};
    case OpKind::TokenSelect:
      return {{0, 1, n.token_index, n.token_index + 1, 0, in.inner}};
    case OpKind::ClassToken: {  // output row t + 1 is input row t; row 0, the token, reads nothing
      const int64_t first = std::max<int64_t>(r.p0, 1) - 1, last = r.p1 - 1;
      if (first >= last) return {};
      return {{0, 1, first, last, 0, in.inner}};
    }
    default:  // LayerNorm, PosEmbed, Add, HeadSplit: the same tokens [p0, p1), every feature
      return {{0, 1, r.p0, r.p1, 0, in.inner}};
  }
}

int64_t Compiler::vit_extent(int layer) const {
  const arch::RegionSpace space = arch::region_space(node(layer));
  return node(layer).op == OpKind::Softmax ? space.channels : space.pixels;
}

arch::Region Compiler::vit_region(int layer, int64_t b0, int64_t b1) const {
  const arch::RegionSpace space = arch::region_space(node(layer));
  return node(layer).op == OpKind::Softmax ? arch::Region{b0, b1, 0, space.pixels}
                                           : arch::Region{0, space.channels, b0, b1};
}

// A tile reads its rows of each input, and loads its constants (PosEmbed: its tokens' embedding, int32;
// ClassToken: the token's codes, with the first block) into its weight slot.
std::vector<Compiler::Operand> Compiler::vit_operands(int layer, int64_t b0, int64_t b1) const {
  const Node& n = node(layer);
  std::vector<Operand> ops;
  for (size_t k = 0; k < n.inputs.size(); ++k) {
    std::vector<arch::Box> boxes = vit_input_boxes(layer, k, vit_region(layer, b0, b1));
    int64_t elements = 0;
    for (const arch::Box& b : boxes) elements += b.elements();
    if (elements > 0)
      ops.push_back(activation_operand(elements * out_bytes_per_element(n.inputs[k]), n.inputs[k],
                                       std::move(boxes), static_cast<int>(k)));
  }
  if (n.op == OpKind::PosEmbed)  // one record per token
    ops.push_back(weight_operand((b1 - b0) * n.out_shape[1] * 4, layer, b0, b1));
  if (n.op == OpKind::ClassToken && b0 == 0)
    ops.push_back(weight_operand(weight_bytes_of(layer), layer, 0, 1));
  return ops;
}

// The largest block of whole rows (tokens; Softmax: heads, each all its rows) whose tile fits the
// activation, weight and output slots of the layer's unit.
int64_t Compiler::vit_block(int layer) const {
  const int64_t extent = vit_extent(layer);
  const int64_t out_per = quant::numel(node(layer).out_shape) / extent;  // output elements per row (head)
  auto need = [&](int64_t b0, int64_t b1) {
    SlotNeed s{0, 0, slot_out(layer, (b1 - b0) * out_per * out_bytes_per_element(layer))};
    for (const Operand& op : vit_operands(layer, b0, b1))
      (op.buffer == BufferKind::Weight ? s.weight : s.act) +=
          op.buffer == BufferKind::Weight ? op.bytes : slot_load(op.source, op.bytes);
    return s;
  };
  // The first block and a later one differ only for ClassToken (the token instead of an input row).
  auto block_fits = [&](int64_t b) { return fits(need(0, b)) && fits(need(extent - b, extent)); };
  int64_t block = extent;
  while (block > 0 && !block_fits(block)) --block;
  if (block == 0) {
    const SlotNeed first = need(0, 1), last = need(extent - 1, extent);
    check_slots(layer, {std::max(first.act, last.act), std::max(first.weight, last.weight), first.out},
                aux_resource(vit_step(node(layer).op), layer), "the smallest tile");
    throw std::logic_error("compile: no blocking fits but the smallest tile does");  // unreachable
  }
  return block;
}

void Compiler::emit_vit_block(int layer, int64_t b0, int64_t b1) {
  ComputeTile t;
  t.layer = layer;
  t.resource = aux_resource(vit_step(node(layer).op), layer);
  t.work = TileWork::Elementwise;
  t.m = (b1 - b0) * (quant::numel(node(layer).out_shape) / vit_extent(layer));
  t.region = vit_region(layer, b0, b1);
  const int64_t bytes = t.m * out_bytes_per_element(layer);
  emit(std::move(t), vit_operands(layer, b0, b1), true, bytes);
}

// One tile per block of whole rows (tokens; Softmax: heads, each all its rows), on the unit of the layer's
// step: the largest blocks that fit the unit's slots, evened out.
void Compiler::emit_vit_layer(int layer) {
  const int64_t extent = vit_extent(layer);
  const int64_t block = ceil_div(extent, ceil_div(extent, vit_block(layer)));
  for (int64_t b0 = 0; b0 < extent; b0 += block) emit_vit_block(layer, b0, std::min(extent, b0 + block));
}

arch::Program Compiler::run() {
  const size_t layers = graph_.nodes.size();
  for (size_t e = 0; e < config_.engines.size(); ++e)
    program_.resources.push_back(arch::Resource::for_engine(config_, e));
  for (size_t a = 0; a < config_.aux_units.size(); ++a)
    program_.resources.push_back(arch::Resource::for_aux(config_, a));
  program_.queues.resize(program_.resources.size());
  weight_readers_.resize(program_.resources.size());
  weight_slots_.resize(program_.resources.size());
  consumers_.resize(layers);
  layer_tiles_.resize(layers);
  layer_stores_.resize(layers);
  program_.channel_blocks.assign(layers, 0);
  for (size_t i = 0; i < layers; ++i) {
    program_.layer_names.push_back(graph_.nodes[i].name);
    for (int in : graph_.nodes[i].inputs) consumers_[static_cast<size_t>(in)].push_back(static_cast<int>(i));
  }
  auto only_consumer = [&](int layer) {
    const auto& c = consumers_[static_cast<size_t>(layer)];
    return c.size() == 1 ? c[0] : -1;
  };

  attention_chain_.assign(layers, -1);
  for (size_t li = 0; li < layers && config_.pipelining.inter_layer; ++li) {
    const int qk = static_cast<int>(li), softmax = only_consumer(qk);
    const int av = softmax >= 0 && node(softmax).op == OpKind::Softmax ? only_consumer(softmax) : -1;
    if (node(qk).op == OpKind::MatMul && av >= 0 && node(av).op == OpKind::MatMul)
      attention_chain_[static_cast<size_t>(softmax)] = attention_chain_[static_cast<size_t>(av)] = qk;
  }
  plan_residency();
  plan_dram();
  std::vector<bool> done(layers, false);
  for (size_t li = 0; li < layers; ++li) {
    if (done[li]) continue;
    const int i = static_cast<int>(li);
    const Node& n = node(i);
    if (!quant::has_integer_semantics(n.op))
      throw MappingError(describe(i) + ": op " + quant::op_name(n.op) +
                         " has no integer semantics, so no engine or auxiliary unit can run it");
    const int next = only_consumer(i);
    switch (n.op) {
      case OpKind::Input:
      case OpKind::Concat:
        break;
      case OpKind::Conv2d:
        if (is_depthwise(n) && next >= 0) {
          const Node& c = node(next);
          if (c.op == OpKind::Conv2d && c.kernel == 1 && c.groups == 1 && c.stride == 1 &&
              emit_fused(i, next)) {
            done[static_cast<size_t>(next)] = true;
            break;
          }
        }
        emit_conv(i);
        break;
      case OpKind::Linear:
        emit_conv(i);
        break;
      case OpKind::MatMul:
        if (next >= 0 && node(next).op == OpKind::MatMul) {
          const int after = only_consumer(next);
          const int normalize = after >= 0 && node(after).op == OpKind::AttnNormalize ? after : -1;
          emit_attention(i, next, normalize);
          done[static_cast<size_t>(next)] = true;
          if (normalize >= 0) done[static_cast<size_t>(normalize)] = true;
        } else if (next >= 0 && attention_chain_[static_cast<size_t>(next)] == i) {
          const int av = only_consumer(next);
          emit_softmax_attention(i, next, av);
          done[static_cast<size_t>(next)] = done[static_cast<size_t>(av)] = true;
        } else {
          emit_matmul(i);
        }
        break;
      case OpKind::Add:  // a residual of [T, D] tokens is a standard ViT's
        if (n.out_shape.size() == 2)
          emit_vit_layer(i);
        else
          emit_elementwise(i);
        break;
      case OpKind::GlobalAvgPool:
      case OpKind::AttnKernel:
      case OpKind::AttnNormalize:
        emit_elementwise(i);
        break;
      case OpKind::MaxPool:
      case OpKind::ChannelMul:
        emit_elementwise(i);
        break;
      default:  // LayerNorm, Softmax and the token ops
        emit_vit_layer(i);
    }
  }
  finish_runs();
  record_memory_plan();
  return std::move(program_);
}

}  // namespace

arch::Program compile(const quant::QGraph& qgraph, const arch::AccelConfig& config,
                      const CompileOptions& options) {
  return Compiler(qgraph, config, options).run();
}

}  // namespace vitsim::sim
