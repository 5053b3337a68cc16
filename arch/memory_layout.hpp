// The byte layout of every tensor in DRAM and in the activation buffer's resident region, and the descriptors
// of what a DMA transfer moves (docs/engines.md, "Memory plan"). Plain C++, no SystemC.
#pragma once

#include <algorithm>
#include <cstdint>
#include <vector>

#include "quant/graph.hpp"

namespace vitsim::arch {

/// A tensor as bytes: a row-major [outer][mid][inner] array of `element_bytes`-byte elements, the inner
/// dimension cut into blocks of `block` (0: one block), each block a whole [outer][mid][width] array.
///   [C,H,W] (convs, Add, AttnNormalize, the input image): blocked channels last, [C/block][H][W][block]
///     (NCHWc): the block is the producer's channel block, so a tile's output is one run and a window of
///     whole rows is one run per block;
///   [T,D] (Linear): [1][T][D]; [D]: [1][1][D] (already channels last);
///   [B,R,N] of MatMul, AttnKernel, HeadSplit and Softmax: head-major, [B][R][N], so a head's rows are
///     contiguous.
struct TensorLayout {
  int64_t outer = 1, mid = 1, inner = 1, element_bytes = 1;
  int64_t block = 0;           // inner elements per block (0 or >= inner: one block)
  bool channels_last = false;  // [C,H,W] stored as [H][W][C]; otherwise the logical order
  int axis0 = 2;               // which of outer (0), mid (1), inner (2) holds the shape's axis 0

  int64_t elements() const { return outer * mid * inner; }
  int64_t bytes() const { return elements() * element_bytes; }
  int64_t block_size() const { return block > 0 && block < inner ? block : inner; }
  /// Byte offset of element (o, m, i) from the tensor's base.
  int64_t offset(int64_t o, int64_t m, int64_t i) const {
    const int64_t b = i / block_size() * block_size(), width = std::min(block_size(), inner - b);
    return (b * outer * mid + (o * mid + m) * width + (i - b)) * element_bytes;
  }
  /// The element's flat index in the tensor's logical (row-major shape) order.
  int64_t logical(int64_t o, int64_t m, int64_t i) const {
    return channels_last ? (i * outer + o) * mid + m : (o * mid + m) * inner + i;
  }
};
/// The layout of a tensor of `shape` produced by an op of kind `producer` (see TensorLayout).
TensorLayout tensor_layout(const quant::Shape& shape, quant::OpKind producer, int64_t element_bytes,
                           int64_t channel_block = 0);

/// A box of a tensor's [outer][mid][inner] index space: [o0, o1) x [m0, m1) x [i0, i1).
struct Box {
  int64_t o0 = 0, o1 = 1, m0 = 0, m1 = 1, i0 = 0, i1 = 1;
  int64_t elements() const { return (o1 - o0) * (m1 - m0) * (i1 - i0); }
};
/// The whole tensor as one box.
Box whole(const TensorLayout& layout);
/// Boxes of flattened pixels [p0, p1) of an outer x mid plane (rows of `layout.mid` pixels), inner [i0, i1):
/// a partial first row, whole rows, a partial last row (empty parts left out), in pixel order.
std::vector<Box> pixel_boxes(const TensorLayout& layout, int64_t p0, int64_t p1, int64_t i0, int64_t i1);

/// A part of a box held by one producer: `box` in the producer's layout, which is the asked box's part
/// shifted down by `shift` along the dimension that holds axis 0.
struct StoredPart {
  int layer = -1;
  Box box;
  int64_t shift = 0;
};
/// The parts of `box` in each inner block, in block order: the order of a box's elements in memory and in a
/// packed slot (each part row-major, its inner range contiguous).
std::vector<Box> block_parts(const TensorLayout& layout, const Box& box);

/// Where `box` of `layer`'s output is held: through Concat (which stacks its inputs along axis 0, each stored
/// where its producer put it) the inputs' parts of it, in input order; otherwise the box itself.
std::vector<StoredPart> stored_parts(const quant::Graph& graph, int layer, const Box& box);

/// `count` contiguous runs of `run_bytes`, the first at `dram_address`, each `stride` bytes after the
/// previous one. A transfer's runs, in order, fill its buffer range consecutively.
struct RunSet {
  int64_t dram_address = 0, run_bytes = 0, stride = 0, count = 1;
  int64_t bytes() const { return run_bytes * count; }
};
/// Appends the runs that hold `box` of a tensor laid out as `layout` at byte `base`, in the box's row-major
/// order, merging runs that touch (a box of whole rows is one run).
void append_runs(const TensorLayout& layout, int64_t base, const Box& box, std::vector<RunSet>& runs);
int64_t run_bytes_total(const std::vector<RunSet>& runs);
/// Bursts of at most `burst_bytes` that move `runs` when no burst crosses a run.
int64_t burst_count(const std::vector<RunSet>& runs, int64_t burst_bytes);

}  // namespace vitsim::arch
