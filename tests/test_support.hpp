// Helpers shared by several test files (header-only: every .cpp of tests/ is globbed into the one binary).
#pragma once

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <random>
#include <sstream>
#include <string>
#include <system_error>
#include <vector>

#include "arch/program.hpp"
#include "quant/dataset.hpp"
#include "quant/graph.hpp"
#include "quant/ptq.hpp"
#include "quant/zoo.hpp"
#include "sim/cli/cli.hpp"

namespace vitsim::test {

/// A fresh directory under the system temp dir, vitsim_<suite>_<tag>_<pid>_<n>, removed at scope exit
/// (after giving the owner back full permissions, in case a test took them away).
struct TempDir {
  std::filesystem::path path;

  TempDir(const std::string& suite, const std::string& tag) {
    static std::atomic<int> counter{0};
    path =
        std::filesystem::temp_directory_path() /
        ("vitsim_" + suite + "_" + tag + "_" + std::to_string(::getpid()) + "_" + std::to_string(counter++));
    std::filesystem::remove_all(path);
    std::filesystem::create_directories(path);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::permissions(path, std::filesystem::perms::owner_all, std::filesystem::perm_options::add,
                                 ec);
    std::filesystem::remove_all(path, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  /// The path of `name` inside the directory.
  std::string file(const std::string& name) const { return (path / name).string(); }

  /// The names of the directory's entries, sorted.
  std::vector<std::string> entries() const {
    std::vector<std::string> names;
    for (const auto& e : std::filesystem::directory_iterator(path))
      names.push_back(e.path().filename().string());
    std::sort(names.begin(), names.end());
    return names;
  }
};

/// What one in-process `vitsim ...` command line returned and printed.
struct Run {
  int code;
  std::string out, err;
};

/// Runs the CLI in this process with `args` (without the program name).
inline Run run_vitsim(std::vector<std::string> args) {
  args.insert(args.begin(), "vitsim");
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  std::ostringstream out, err;
  const int code = vitsim::sim::run_cli(static_cast<int>(argv.size()), argv.data(), out, err);
  return {code, out.str(), err.str()};
}

/// VITSIM_TEST_SAMPLE_DIVISOR, or 1 when unset: the asan test preset sets 10, because the sanitizers slow
/// every simulation down (docs/building.md); the ci preset keeps the full counts.
inline int sample_divisor() {
  const char* divisor = std::getenv("VITSIM_TEST_SAMPLE_DIVISOR");
  return divisor ? std::max(1, std::atoi(divisor)) : 1;
}
/// How many random cases a slow property test draws: `full` / sample_divisor(), at least 1.
inline int sample_count(int full) {
  return std::max(1, full / sample_divisor());
}

/// Whether `violations` of `checks` is at most the fraction `rate` a property test claims for its full
/// sample. A sample cut by VITSIM_TEST_SAMPLE_DIVISOR (sample_count) estimates that fraction from fewer
/// cases, so it gets three binomial standard deviations of margin; the full sample (ci) gets none.
inline bool within_rate(int64_t violations, int64_t checks, double rate) {
  const double n = static_cast<double>(checks);
  const double margin = sample_divisor() > 1 ? 3 * std::sqrt(n * rate * (1 - rate)) : 0;
  return static_cast<double>(violations) <= n * rate + margin;
}

/// configs/ of the source tree (accelerator configs in accel/, recipes in quant/).
inline std::string config_dir() {
  return std::string(VITSIM_TEST_DATA_DIR) + "/../../configs";
}

/// `g` with synthetic weights, quantized with `recipe` on `images` synthetic calibration images.
inline quant::QGraph quantize(quant::Graph g, const std::string& recipe = "trio-w8a8", int images = 1) {
  quant::materialize_synthetic_weights(g, 7);
  const auto calib = quant::synthetic_images(images, g.nodes[0].out_shape, 9).images;
  return quant::quantize_graph(g, quant::find_recipe(recipe, config_dir() + "/quant"), calib);
}

/// A one- or two-layer graph of random shape; `kind`: 0 pointwise / generic conv, 1 depthwise conv,
/// 2 depthwise conv feeding a pointwise conv (the fused pair).
inline quant::Graph random_layer(std::mt19937_64& rng, int kind) {
  auto pick = [&rng](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
  const int64_t c = pick(1, 40), h = pick(1, 20), w = pick(1, 20);
  quant::GraphBuilder b("random", static_cast<int>(h), {c, h, w});
  const quant::Act act = pick(0, 1) ? quant::Act::HSwish : quant::Act::None;
  if (kind == 0) {
    const int k = pick(0, 2) ? 1 : 3;
    b.conv("conv", 0, pick(1, 48), k, pick(1, 2), 1, true, quant::Norm::None, act);
  } else {
    const int dw =
        b.conv("dw", 0, c, pick(0, 1) ? 3 : 5, pick(1, 2), static_cast<int>(c), true, quant::Norm::None, act);
    if (kind == 2) b.conv("pw", dw, pick(1, 48), 1, 1, 1, true, quant::Norm::None, quant::Act::None);
  }
  return b.finish();
}

/// Every field of a compiled program as text, one item per line: two programs are the same exactly when
/// their texts are (the compiler's tests compare a search against its exhaustive reference with it).
inline std::string program_text(const arch::Program& p) {
  std::ostringstream s;
  const auto list = [&s](const char* name, const std::vector<int>& v) {
    s << ' ' << name;
    for (int x : v) s << ',' << x;
  };
  const auto view = [&s](const arch::BufferView& v) {
    s << " view " << static_cast<int>(v.space) << ' ' << v.layer << ' ' << v.input << ' ' << v.accumulators
      << ' ' << v.in_layout << ' ' << static_cast<int>(v.buffer) << ' ' << v.address;
    for (const arch::Box& b : v.boxes)
      s << " [" << b.o0 << ',' << b.o1 << ',' << b.m0 << ',' << b.m1 << ',' << b.i0 << ',' << b.i1 << ']';
  };
  for (const arch::Resource& r : p.resources)
    s << "resource " << r.name << ' ' << r.is_engine << ' ' << r.engine << ' ' << r.aux << ' '
      << r.multipliers << '\n';
  for (const arch::ComputeTile& t : p.tiles) {
    s << "tile " << t.layer << ' ' << t.resource << ' ' << static_cast<int>(t.work) << ' ' << t.groups << ' '
      << t.m << ' ' << t.n << ' ' << t.k << ' ' << t.kernel << ' ' << t.stride << ' ' << t.macs << " region "
      << t.region.c0 << ',' << t.region.c1 << ',' << t.region.p0 << ',' << t.region.p1;
    list("aux", t.aux_chain);
    list("wait_tiles", t.wait_tiles);
    list("wait_transfers", t.wait_transfers);
    for (const arch::BufferView& v : t.reads) view(v);
    s << " weights " << t.weights.dram << ' ' << t.weights.address << ' ' << t.weights.first_channel
      << " write";
    view(t.write);
    s << '\n';
  }
  for (const arch::Transfer& t : p.transfers) {
    s << "transfer " << t.layer << ' ' << static_cast<int>(t.dir) << ' ' << static_cast<int>(t.buffer) << ' '
      << t.bytes << ' ' << t.buffer_address;
    for (const arch::RunSet& r : t.runs)
      s << " run " << r.dram_address << ',' << r.run_bytes << ',' << r.stride << ',' << r.count;
    list("wait_tiles", t.wait_tiles);
    list("wait_transfers", t.wait_transfers);
    s << '\n';
  }
  for (const std::vector<int>& q : p.queues) list("queue", q), s << '\n';
  list("loads", p.load_queue);
  list("stores", p.store_queue);
  s << '\n';
  for (const std::string& name : p.layer_names) s << "layer " << name << '\n';
  for (const arch::Allocation& a : p.memory_plan)
    s << "allocation " << a.layer << ' ' << static_cast<int>(a.tensor) << ' ' << static_cast<int>(a.space)
      << ' ' << a.offset << ' ' << a.bytes << ' ' << a.first_layer << ' ' << a.last_layer << '\n';
  for (int64_t block : p.channel_blocks) s << "channel_block " << block << '\n';
  return s.str();
}

}  // namespace vitsim::test
