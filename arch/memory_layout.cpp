#include "arch/memory_layout.hpp"

#include <algorithm>

namespace vitsim::arch {

using quant::OpKind;

TensorLayout tensor_layout(const quant::Shape& shape, OpKind producer, int64_t element_bytes,
                           int64_t channel_block) {
  TensorLayout l;
  l.element_bytes = element_bytes;
  if (shape.size() == 3 && (producer == OpKind::MatMul || producer == OpKind::AttnKernel ||
                            producer == OpKind::HeadSplit || producer == OpKind::Softmax)) {
    l.outer = shape[0], l.mid = shape[1], l.inner = shape[2];
    l.axis0 = 0;
  } else if (shape.size() == 3) {
    l.outer = shape[1], l.mid = shape[2], l.inner = shape[0];
    l.channels_last = true;
    l.block = channel_block;
  } else if (shape.size() == 2) {
    l.mid = shape[0], l.inner = shape[1];
    l.axis0 = 1;
  } else {
    l.inner = quant::numel(shape);
  }
  return l;
}

Box whole(const TensorLayout& layout) {
  return {0, layout.outer, 0, layout.mid, 0, layout.inner};
}

std::vector<Box> pixel_boxes(const TensorLayout& layout, int64_t p0, int64_t p1, int64_t i0, int64_t i1) {
  std::vector<Box> boxes;
  const int64_t w = layout.mid;
  while (p0 < p1) {
    const int64_t row = p0 / w, col = p0 % w;
    if (col == 0 && p1 - p0 >= w) {  // whole rows
      const int64_t rows = (p1 - p0) / w;
      boxes.push_back({row, row + rows, 0, w, i0, i1});
      p0 += rows * w;
    } else {  // the rest of one row
      const int64_t end = std::min(p1, (row + 1) * w);
      boxes.push_back({row, row + 1, col, end - row * w, i0, i1});
      p0 = end;
    }
  }
  return boxes;
}

std::vector<StoredPart> stored_parts(const quant::Graph& graph, int layer, const Box& box) {
  const quant::Node& n = graph.nodes[static_cast<size_t>(layer)];
  if (n.op != OpKind::Concat) return {{layer, box, 0}};
  const int axis = tensor_layout(n.out_shape, n.op, 1).axis0;
  auto range = [axis](Box& b) -> std::pair<int64_t&, int64_t&> {
    if (axis == 0) return {b.o0, b.o1};
    if (axis == 1) return {b.m0, b.m1};
    return {b.i0, b.i1};
  };
  std::vector<StoredPart> parts;
  int64_t at = 0;
  for (int in : n.inputs) {
    const int64_t extent = graph.nodes[static_cast<size_t>(in)].out_shape[0];
    Box part = box;
    auto [lo, hi] = range(part);
    lo = std::max(lo, at) - at;
    hi = std::min(hi, at + extent) - at;
    if (lo < hi)
      for (StoredPart& p : stored_parts(graph, in, part)) {
        p.shift += at;
        parts.push_back(p);
      }
    at += extent;
  }
  return parts;
}

namespace {
// Adds a run set, merging it with the previous one when it continues it.
void push(std::vector<RunSet>& runs, RunSet r) {
  if (r.count > 1 && r.stride == r.run_bytes) r = {r.dram_address, r.run_bytes * r.count, 0, 1};
  if (!runs.empty()) {
    RunSet& last = runs.back();
    if (last.count == 1 && r.count == 1 && last.dram_address + last.run_bytes == r.dram_address) {
      last.run_bytes += r.run_bytes;
      return;
    }
  }
  runs.push_back(r);
}

// The runs of `box` of one block (a plain [outer][mid][inner] array at `base`).
void append_block_runs(const TensorLayout& layout, int64_t base, const Box& box, std::vector<RunSet>& runs) {
  if (box.elements() <= 0) return;
  const int64_t eb = layout.element_bytes, row_bytes = layout.inner * eb,
                plane_bytes = layout.mid * row_bytes;
  if (box.i0 == 0 && box.i1 == layout.inner) {
    if (box.m0 == 0 && box.m1 == layout.mid) {
      push(runs, {base + layout.offset(box.o0, 0, 0), (box.o1 - box.o0) * plane_bytes, 0, 1});
      return;
    }
    push(runs, {base + layout.offset(box.o0, box.m0, 0), (box.m1 - box.m0) * row_bytes, plane_bytes,
                box.o1 - box.o0});
    return;
  }
  for (int64_t o = box.o0; o < box.o1; ++o)
    push(runs, {base + layout.offset(o, box.m0, box.i0), (box.i1 - box.i0) * eb, row_bytes, box.m1 - box.m0});
}
}  // namespace

std::vector<Box> block_parts(const TensorLayout& layout, const Box& box) {
  std::vector<Box> parts;
  const int64_t size = layout.block_size();
  for (int64_t b = box.i0 / size * size; b < box.i1; b += size) {
    Box part = box;
    part.i0 = std::max(box.i0, b), part.i1 = std::min(box.i1, b + size);
    if (part.elements() > 0) parts.push_back(part);
  }
  return parts;
}

void append_runs(const TensorLayout& layout, int64_t base, const Box& whole_box, std::vector<RunSet>& runs) {
  for (const Box& box : block_parts(layout, whole_box)) {
    // Within one block the tensor is a plain [outer][mid][width] array.
    const int64_t b = box.i0 / layout.block_size() * layout.block_size();
    TensorLayout blk = layout;
    blk.inner = std::min(layout.block_size(), layout.inner - b), blk.block = 0;
    Box local = box;
    local.i0 -= b, local.i1 -= b;
    append_block_runs(blk, base + layout.offset(0, 0, b), local, runs);
  }
}

int64_t run_bytes_total(const std::vector<RunSet>& runs) {
  int64_t bytes = 0;
  for (const RunSet& r : runs) bytes += r.bytes();
  return bytes;
}

int64_t burst_count(const std::vector<RunSet>& runs, int64_t burst_bytes) {
  int64_t bursts = 0;
  for (const RunSet& r : runs) bursts += r.count * ((r.run_bytes + burst_bytes - 1) / burst_bytes);
  return bursts;
}

}  // namespace vitsim::arch
