#include "arch/program.hpp"

#include <functional>
#include <stdexcept>

namespace vitsim::arch {

const char* space_name(Allocation::Space s) {
  return s == Allocation::Space::Activation ? "activation" : "dram";
}
const char* tensor_name(Allocation::Tensor t) {
  return t == Allocation::Tensor::Output ? "output" : "weights";
}

Resource Resource::for_engine(const AccelConfig& config, size_t engine) {
  Resource r;
  r.name = config.engines.at(engine).name;
  r.is_engine = true;
  r.engine = static_cast<int>(engine);
  r.multipliers = config.engines[engine].params->multipliers();
  return r;
}

Resource Resource::for_aux(const AccelConfig& config, size_t aux) {
  Resource r;
  r.name = config.aux_units.at(aux).type;
  r.aux = static_cast<int>(aux);
  return r;
}

std::vector<Box> region_boxes(const quant::Node& node, const Region& r) {
  const TensorLayout layout = tensor_layout(node.out_shape, node.op, 1);
  if (node.out_shape.size() == 2) return {{0, 1, r.p0, r.p1, r.c0, r.c1}};  // rows x features, as Linear
  if (node.out_shape.size() == 1) return {{0, 1, 0, 1, r.c0, r.c1}};
  if (!layout.channels_last) return {{r.c0, r.c1, 0, layout.mid, r.p0, r.p1}};  // heads x columns, all rows
  const int64_t per = node.op == quant::OpKind::AttnNormalize ? node.head_dim : 1;  // channels per region c
  return pixel_boxes(layout, r.p0, r.p1, r.c0 * per, r.c1 * per);
}

const char* tile_work_name(TileWork w) {
  switch (w) {
    case TileWork::Gemm:
      return "gemm";
    case TileWork::Depthwise:
      return "depthwise";
    case TileWork::Elementwise:
      return "elementwise";
  }
  return "?";
}

namespace {

[[noreturn]] void invalid(const std::string& what) {
  throw std::logic_error("invalid program: " + what);
}

std::string tile_str(int t) {
  return "tile " + std::to_string(t);
}
std::string transfer_str(int x) {
  return "transfer " + std::to_string(x);
}

void check_waits(const std::string& who, const std::vector<int>& tiles, const std::vector<int>& transfers,
                 size_t tile_count, size_t transfer_count) {
  for (int t : tiles)
    if (t < 0 || static_cast<size_t>(t) >= tile_count)
      invalid(who + " waits for " + tile_str(t) + ", out of range");
  for (int x : transfers)
    if (x < 0 || static_cast<size_t>(x) >= transfer_count)
      invalid(who + " waits for " + transfer_str(x) + ", out of range");
}

// Marks each member of `queue` as queued once; `members` says which items may appear there.
void check_queue(const std::string& queue_name, const std::vector<int>& queue, size_t count,
                 const std::function<bool(int)>& belongs, const std::function<std::string(int)>& name,
                 std::vector<int>& queued_in) {
  for (int item : queue) {
    if (item < 0 || static_cast<size_t>(item) >= count)
      invalid(queue_name + " holds " + std::to_string(item) + ", out of range");
    if (!belongs(item)) invalid(queue_name + " holds " + name(item) + ", which belongs elsewhere");
    if (queued_in[static_cast<size_t>(item)]++) invalid(name(item) + " is queued more than once");
  }
}

}  // namespace

void Program::validate() const {
  const size_t n_tiles = tiles.size(), n_transfers = transfers.size();
  if (queues.size() != resources.size())
    invalid(std::to_string(queues.size()) + " queues for " + std::to_string(resources.size()) + " resources");
  for (size_t i = 0; i < tiles.size(); ++i) {
    const ComputeTile& t = tiles[i];
    const std::string who = tile_str(static_cast<int>(i));
    if (t.resource < 0 || static_cast<size_t>(t.resource) >= resources.size())
      invalid(who + " names resource " + std::to_string(t.resource) + ", out of range");
    if (t.layer < 0 || static_cast<size_t>(t.layer) >= layer_names.size())
      invalid(who + " names layer " + std::to_string(t.layer) + ", out of range");
    check_waits(who, t.wait_tiles, t.wait_transfers, n_tiles, n_transfers);
  }
  for (size_t i = 0; i < transfers.size(); ++i) {
    const Transfer& x = transfers[i];
    const std::string who = transfer_str(static_cast<int>(i));
    if (x.layer < 0 || static_cast<size_t>(x.layer) >= layer_names.size())
      invalid(who + " names layer " + std::to_string(x.layer) + ", out of range");
    if (x.bytes <= 0) invalid(who + " moves " + std::to_string(x.bytes) + " bytes");
    if (run_bytes_total(x.runs) != x.bytes)
      invalid(who + " moves " + std::to_string(x.bytes) + " bytes but its runs hold " +
              std::to_string(run_bytes_total(x.runs)));
    for (const RunSet& r : x.runs)
      if (r.run_bytes <= 0 || r.count <= 0 || r.dram_address < 0)
        invalid(who + " has an empty run or a negative address");
    check_waits(who, x.wait_tiles, x.wait_transfers, n_tiles, n_transfers);
  }

  std::vector<int> tile_queued(n_tiles, 0), transfer_queued(n_transfers, 0);
  for (size_t r = 0; r < queues.size(); ++r)
    check_queue(
        "the queue of resource '" + resources[r].name + "'", queues[r], n_tiles,
        [&](int t) { return static_cast<size_t>(tiles[static_cast<size_t>(t)].resource) == r; }, tile_str,
        tile_queued);
  auto direction_is = [&](TransferDir dir) {
    return [this, dir](int x) { return transfers[static_cast<size_t>(x)].dir == dir; };
  };
  check_queue("the load queue", load_queue, n_transfers, direction_is(TransferDir::Load), transfer_str,
              transfer_queued);
  check_queue("the store queue", store_queue, n_transfers, direction_is(TransferDir::Store), transfer_str,
              transfer_queued);
  for (size_t i = 0; i < n_tiles; ++i)
    if (!tile_queued[i]) invalid(tile_str(static_cast<int>(i)) + " is in no queue");
  for (size_t i = 0; i < n_transfers; ++i)
    if (!transfer_queued[i]) invalid(transfer_str(static_cast<int>(i)) + " is in no queue");

  const std::vector<size_t> order = dependency_order();
  if (order.size() == n_tiles + n_transfers) return;
  std::vector<bool> ordered(n_tiles + n_transfers, false);
  for (size_t item : order) ordered[item] = true;
  for (size_t i = 0; i < ordered.size(); ++i) {
    if (ordered[i]) continue;
    const std::string who =
        i < n_tiles ? tile_str(static_cast<int>(i)) : transfer_str(static_cast<int>(i - n_tiles));
    const int layer = i < n_tiles ? tiles[i].layer : transfers[i - n_tiles].layer;
    invalid("the waits and queue orders form a cycle: " + who + " (layer '" +
            layer_names[static_cast<size_t>(layer)] + "') can never start");
  }
}

std::vector<size_t> Program::dependency_order() const {
  // Kahn's algorithm over tiles (ids 0..T-1) and transfers (ids T..): an item is ready once everything
  // it waits for and its queue predecessor are done. Whatever never gets ready lies on (or behind) a cycle.
  const size_t n_tiles = tiles.size(), n = n_tiles + transfers.size();
  std::vector<std::vector<size_t>> successors(n);
  std::vector<int> pending(n, 0);
  auto edge = [&](size_t from, size_t to) {
    successors[from].push_back(to);
    ++pending[to];
  };
  auto add_waits = [&](size_t item, const std::vector<int>& wt, const std::vector<int>& wx) {
    for (int t : wt) edge(static_cast<size_t>(t), item);
    for (int x : wx) edge(n_tiles + static_cast<size_t>(x), item);
  };
  for (size_t i = 0; i < n_tiles; ++i) add_waits(i, tiles[i].wait_tiles, tiles[i].wait_transfers);
  for (size_t i = 0; i < transfers.size(); ++i)
    add_waits(n_tiles + i, transfers[i].wait_tiles, transfers[i].wait_transfers);
  for (const auto& q : queues)
    for (size_t j = 1; j < q.size(); ++j) edge(static_cast<size_t>(q[j - 1]), static_cast<size_t>(q[j]));
  for (const auto* q : {&load_queue, &store_queue})
    for (size_t j = 1; j < q->size(); ++j)
      edge(n_tiles + static_cast<size_t>((*q)[j - 1]), n_tiles + static_cast<size_t>((*q)[j]));

  std::vector<size_t> ready, order;
  for (size_t i = 0; i < n; ++i)
    if (!pending[i]) ready.push_back(i);
  while (!ready.empty()) {
    const size_t item = ready.back();
    ready.pop_back();
    order.push_back(item);
    for (size_t s : successors[item])
      if (--pending[s] == 0) ready.push_back(s);
  }
  return order;
}

}  // namespace vitsim::arch
