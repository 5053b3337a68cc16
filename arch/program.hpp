// The accelerator's program: what the compiler (sim/compile/compiler.hpp) emits and the simulation (arch/
// modules) executes. Plain data, no SystemC.
//
// A program is a set of ITEMS with dependencies: compute tiles, each bound to one RESOURCE (an engine of the
// config, or an auxiliary unit that runs standalone layers), and DMA transfers (loads DRAM -> buffer on the
// read queue, stores buffer -> DRAM on the write queue). Every resource runs its tiles in queue order, one
// at a time; the DMA runs each queue in order. An item may begin at cycle t only when every item it waits
// for finished at a cycle <= t - 1 (results are registered: usable the cycle after they are produced).
// Because each queue is in order and every decision depends only on such timestamps, the schedule is a pure
// function of the program and the timing rules, whichever timing mode computes it.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "arch/accel_config.hpp"
#include "arch/memory_layout.hpp"

namespace vitsim::arch {

/// The kind of work a compute tile does (the timing rule that prices it).
enum class TileWork : int {
  Gemm,         // groups x [m outputs rows (pixels/tokens) x n output channels] each reducing k products
  Depthwise,    // n channels x m output pixels, each accumulating k taps (k = kernel x kernel)
  Elementwise,  // m elements through one auxiliary unit
};
const char* tile_work_name(TileWork w);

/// Which part of its layer's output a tile computes (for functional simulation), in the layer's output:
///   Conv2d [C,H,W]: channels [c0,c1) x flattened pixels [p0,p1)
///   Linear [D] or [T,D], and every other [T,D] or [D] output (the ViT token ops, LayerNorm, Add):
///     features [c0,c1) x rows [p0,p1) (a vector has the single row [0,1))
///   MatMul / AttnKernel / AttnNormalize / HeadSplit / Softmax [B,R,N] (and their views): heads [c0,c1) x
///     columns [p0,p1), all rows
///   other ops: axis 0 [c0,c1) x the flattened remaining axes [p0,p1)
struct Region {
  int64_t c0 = 0, c1 = 0, p0 = 0, p1 = 0;
};
/// Where a region of `node`'s output lies in the output's layout (tensor_layout of its shape and op).
std::vector<Box> region_boxes(const quant::Node& node, const Region& region);

/// Where a tile finds an operand, or puts its results, in the modeled memories (functional simulation).
struct BufferView {
  enum class Space {
    None,  // not modeled (timing-only programs leave views empty)
    Slot,  // the boxes' elements one after the other from `address` of `buffer` (or at their layout offsets)
    Resident,  // the tensor's layout at its range of the activation buffer's resident region (memory plan)
    Dram,      // the tensor's layout at its DRAM range (memory plan): ideal memory
  };
  Space space = Space::None;
  int layer = -1;  // whose output (or, with `accumulators`, whose int32 sums) the bytes are
  int input = 0;   // reads: which input of the tile's layer they serve
  bool accumulators = false;
  bool in_layout = false;  // Slot: the elements at the tensor's layout offsets from `address`, not packed
  BufferKind buffer = BufferKind::Activation;  // Slot
  int64_t address = 0;                         // Slot
  std::vector<Box> boxes;                      // the elements, in `layer`'s output layout
};

/// Where a tile finds its weights: records of one output channel each (codes, then the int32 bias), the
/// record of channel `first_channel` at `address` of the weight buffer (or, with ideal memory, of DRAM).
struct WeightView {
  bool dram = false;
  int64_t address = -1;  // -1: the tile has no weights
  int64_t first_channel = 0;
};

struct ComputeTile {
  int layer = -1;     // graph node index
  int resource = -1;  // index into Program::resources
  TileWork work = TileWork::Gemm;
  int64_t groups = 1, m = 0, n = 0, k = 0;  // work dimensions (see TileWork); Elementwise uses m only
  int kernel = 1, stride = 1;               // Depthwise: the conv's kernel size and stride (k = kernel^2)
  int weight_bits = 8;  // Gemm of a Conv2d / Linear: its weight codes' bits (ps_mac packs two <= 4-bit ones)
  std::vector<int> aux_chain;  // aux units (AccelConfig::aux_units) the outputs pass through
  int64_t macs = 0;            // useful multiply-accumulates of this tile
  int64_t pot_n = 0;  // Gemm: output channels of n whose weights are power-of-two codes (recipe mixed_scheme)
  Region region;
  std::vector<int> wait_tiles;      // compute tiles (indices into Program::tiles) that must finish first
  std::vector<int> wait_transfers;  // transfers (indices into Program::transfers) that must finish first
  // Functional simulation: where its operands, weights and results are.
  std::vector<BufferView> reads;
  WeightView weights;
  BufferView
      write;  // its region of its layer's output (int32 sums for a float_layernorm Linear's Gemm tiles)
};

enum class TransferDir { Load, Store };
/// Which buffer a transfer fills (load) or drains (store).
struct Transfer {
  int layer = -1;  // the layer whose tile needs (load) or produced (store) the data
  TransferDir dir = TransferDir::Load;
  BufferKind buffer = BufferKind::Activation;
  int64_t bytes = 0;  // > 0: the sum of the runs' bytes
  /// What it moves in DRAM: runs inside the memory plan's ranges, at the places the tensors' layouts give
  /// the data (docs/engines.md, "Memory plan"). The DMA issues bursts per run.
  std::vector<RunSet> runs;
  /// Where the runs' bytes sit, consecutively, in the transfer's on-chip buffer (its tile's slot).
  int64_t buffer_address = 0;
  std::vector<int> wait_tiles;
  std::vector<int> wait_transfers;
};

/// A unit that executes compute tiles in order.
struct Resource {
  std::string name;  // engine name from the config, or the aux unit's type ("residual_add", ...)
  bool is_engine = false;
  int engine = -1;          // index into AccelConfig::engines when is_engine
  int aux = -1;             // index into AccelConfig::aux_units when !is_engine
  int64_t multipliers = 0;  // 0 for aux units

  /// The resource of the config's engine `engine`.
  static Resource for_engine(const AccelConfig& config, size_t engine);
  /// The resource of the config's auxiliary unit `aux`.
  static Resource for_aux(const AccelConfig& config, size_t aux);
};

/// Where one tensor lives: the compiler's memory plan (docs/engines.md, "Memory plan").
struct Allocation {
  enum class Space { Activation, Dram };  // the activation buffer's resident region, or DRAM
  enum class Tensor { Output, Weights };  // the layer's output, or its weights (with the int32 biases)
  int layer = -1;
  Tensor tensor = Tensor::Output;
  Space space = Space::Dram;
  int64_t offset = 0, bytes = 0;          // byte range in its space (activation ranges are whole bank rows)
  int first_layer = -1, last_layer = -1;  // lifetime: the layers that write it first and read it last
                                          // (weights: the layer itself; the input image: from layer 0)
};
const char* space_name(Allocation::Space s);
const char* tensor_name(Allocation::Tensor t);

struct Program {
  std::vector<Resource> resources;
  std::vector<ComputeTile> tiles;
  std::vector<std::vector<int>> queues;  // per resource: its tiles, in execution order
  std::vector<Transfer> transfers;
  std::vector<int> load_queue, store_queue;  // transfer indices, in DMA issue order
  std::vector<std::string> layer_names;      // per graph node
  std::vector<Allocation> memory_plan;       // every tensor that lives in DRAM or resides on chip
  /// Per layer: the channel block of its output's blocked channels-last layout (tensor_layout; 0: one).
  std::vector<int64_t> channel_blocks;
  /// Structural check: indices in range, every tile in exactly one queue (its resource's), every transfer
  /// in the queue of its direction, and the waits plus the queue orders form an acyclic graph, so the
  /// program cannot deadlock. Throws std::logic_error naming the first violation.
  void validate() const;
  /// Every item (tiles as 0..T-1, then transfers as T..) in an order that puts each after what it waits
  /// for and after its queue predecessor; the items on (or behind) a cycle of waits are left out. Indices
  /// must be in range (validate checks them first).
  std::vector<size_t> dependency_order() const;
};

}  // namespace vitsim::arch
