// ONNX import (quant/onnx_import.hpp): the trained Fashion-MNIST fixture against PyTorch's stored logits,
// fresh PyTorch exports of the zoo presets against PyTorch and against the zoo's own graphs, small models
// built here with the ONNX protobuf classes, and bad files.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "arch/accel_config.hpp"
#include "quant/dataset.hpp"
#include "quant/fp32_executor.hpp"
#include "quant/graph.hpp"
#include "quant/onnx_import.hpp"
#include "quant/ptq.hpp"
#include "quant/recipe.hpp"
#include "quant/zoo.hpp"
#include "sim/cli/cmd_quantize.hpp"
#include "sim/compile/compiler.hpp"
#include "tests/functional_support.hpp"
#include "tests/test_support.hpp"

#include <onnx/onnx_pb.h>

namespace {

namespace fs = std::filesystem;
using Catch::Matchers::Contains;
using vitsim::quant::Act;
using vitsim::quant::Graph;
using vitsim::quant::import_onnx;
using vitsim::quant::Node;
using vitsim::quant::Norm;
using vitsim::quant::OpKind;
using vitsim::quant::Shape;
using vitsim::quant::shape_str;
using vitsim::quant::Tensor;
using vitsim::test::TempDir;

const fs::path kDataDir = VITSIM_TEST_DATA_DIR;
const fs::path kFixtureDir = kDataDir / "fashion_evit";
const fs::path kVitFixtureDir = kDataDir / "fashion_vit";
const fs::path kRepoDir = kDataDir.parent_path().parent_path();

// Outputs must match PyTorch to 1e-4 relative: |a - b| <= 1e-4 * max(1, |b|).
constexpr double kRelTol = 1e-4;

std::string read_file(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  if (!f) FAIL("cannot open " << p);
  return std::string((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
}

void write_file(const fs::path& p, const std::string& bytes) {
  std::ofstream f(p, std::ios::binary);
  f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  REQUIRE(f.good());
}

// A little-endian float32 file holding exactly `count` values.
std::vector<float> read_floats(const fs::path& p, size_t count) {
  const std::string bytes = read_file(p);
  if (bytes.size() != count * sizeof(float))
    FAIL(p << " holds " << bytes.size() << " bytes, expected " << count * sizeof(float) << " (" << count
           << " float32 values)");
  std::vector<float> v(count);
  std::memcpy(v.data(), bytes.data(), bytes.size());
  return v;
}

size_t count_of(const nlohmann::json& shape) {
  size_t n = 1;
  for (const auto& d : shape) n *= d.get<size_t>();
  return n;
}

// Largest |a - b| / max(1, |b|), and where.
std::pair<double, size_t> worst_rel_err(const std::vector<float>& got, const float* ref, size_t n) {
  double worst = 0.0;
  size_t at = 0;
  for (size_t i = 0; i < n; ++i) {
    const double e =
        std::abs(static_cast<double>(got[i]) - ref[i]) / std::max(1.0, std::abs(static_cast<double>(ref[i])));
    if (e > worst) worst = e, at = i;
  }
  return {worst, at};
}

size_t argmax(const float* v, size_t n) {
  return static_cast<size_t>(std::max_element(v, v + n) - v);
}

int count_ops(const Graph& g, OpKind op) {
  return static_cast<int>(
      std::count_if(g.nodes.begin(), g.nodes.end(), [&](const Node& n) { return n.op == op; }));
}

// True when /usr/bin/python3 can import `modules` ("torch, onnx") and so export models; otherwise a failure
// under VITSIM_REQUIRE_PYTHON_TOOLS (the ci preset) or a warning that `what` is skipped. `packages` are the
// Debian packages that provide the modules.
bool python_exports_available(const std::string& what, const std::string& modules = "torch, onnx",
                              const std::string& packages = "python3-torch python3-onnx") {
  if (std::system(("/usr/bin/python3 -c 'import " + modules + "' >/dev/null 2>&1").c_str()) == 0) return true;
#ifdef VITSIM_REQUIRE_PYTHON_TOOLS
  FAIL("/usr/bin/python3 cannot import " << modules
                                         << ", which the ci preset requires (VITSIM_REQUIRE_PYTHON_TOOLS): "
                                            "apt-get install "
                                         << packages);
#endif
  WARN("SKIPPED: /usr/bin/python3 cannot import " << modules << " (" << packages << "), so " << what
                                                  << " cannot be made");
  return false;
}

// Runs `/usr/bin/python3 tools/SCRIPT ARGS --out DIR`; a failed export fails the test with its log.
// Where an export with these arguments is kept: build/export-cache/<script>-<hash>, the hash (FNV-1a) over
// the arguments and every tools/*.py (the exporters import each other). The exports are seeded, so the same
// key gives the same files; keeping them lets the asan preset and reruns skip PyTorch (~30 s per export).
fs::path export_cache_dir(const std::string& script, const std::string& args) {
  std::vector<fs::path> sources;
  for (const auto& e : fs::directory_iterator(kRepoDir / "tools"))
    if (e.path().extension() == ".py") sources.push_back(e.path());
  std::sort(sources.begin(), sources.end());
  uint64_t hash = 1469598103934665603ull;
  const auto mix = [&hash](const std::string& bytes) {
    for (const unsigned char c : bytes) hash = (hash ^ c) * 1099511628211ull;
  };
  mix(args);
  for (const fs::path& source : sources) mix(source.filename().string() + "\n" + read_file(source));
  char hex[17];
  std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(hash));
  return kRepoDir / "build" / "export-cache" / (fs::path(script).stem().string() + "-" + hex);
}

// Runs tools/<script> with `args` into `dir` (from the export cache when it holds this export).
void run_export(const std::string& script, const std::string& args, const fs::path& dir) {
  const fs::path path = kRepoDir / "tools" / script;
  REQUIRE(fs::exists(path));
  const fs::path cached = export_cache_dir(script, args);
  if (!fs::exists(cached / "complete")) {
    // Written beside the cache entry and renamed into place, so an interrupted export leaves no entry.
    const fs::path partial = cached.string() + ".partial-" + std::to_string(::getpid());
    fs::remove_all(partial);
    fs::create_directories(partial);
    const fs::path log = partial / "export.log";
    const std::string cmd = "/usr/bin/python3 '" + path.string() + "' " + args + " --out '" +
                            partial.string() + "' >'" + log.string() + "' 2>&1";
    if (std::system(cmd.c_str()) != 0) FAIL("export failed: " << cmd << "\n" << read_file(log));
    std::ofstream(partial / "complete") << cmd << "\n";
    std::error_code ec;
    fs::remove_all(cached, ec);
    fs::rename(partial, cached, ec);
    if (ec && !fs::exists(cached / "complete"))
      FAIL("cannot keep the export in " << cached << ": " << ec.message());
    fs::remove_all(partial, ec);
  }
  for (const auto& e : fs::directory_iterator(cached))
    fs::copy_file(e.path(), dir / e.path().filename(), fs::copy_options::overwrite_existing);
}

// Imports the export in `dir` (model.onnx), failing the test with the importer's message.
Graph import_export(const fs::path& dir, const std::string& what) {
  try {
    return import_onnx((dir / "model.onnx").string());
  } catch (const std::exception& e) {
    FAIL("importing " << what << " failed: " << e.what());
  }
  return {};
}

// Whether tools/export_torchvision_onnx.py can run (torch, onnx and torchvision).
bool torchvision_available(const std::string& what) {
  return python_exports_available(what, "torch, onnx, torchvision",
                                  "python3-torch python3-onnx python3-torchvision");
}

struct TorchvisionExport {
  nlohmann::json meta;  // the exporter's meta.json: its own MAC and parameter counts, op types
  Graph graph;
};

// tools/export_torchvision_onnx.py --model `model` --res `res` into `dir`, and its import.
TorchvisionExport torchvision_export(const std::string& model, int res, const TempDir& dir) {
  run_export("export_torchvision_onnx.py", "--model " + model + " --res " + std::to_string(res), dir.path);
  return {nlohmann::json::parse(read_file(dir.path / "meta.json")),
          import_export(dir.path, "the " + model + " export")};
}

// Runs the export's input.bin through `g` and compares with PyTorch's output.bin: every logit within
// kRelTol relative to max(1, |PyTorch's|), and (`same_top1`) the same top-1 class.
void check_export_logits(const Graph& g, const fs::path& dir, const std::string& what, bool same_top1) {
  Tensor x(g.nodes[0].out_shape);
  x.data = read_floats(dir / "input.bin", x.data.size());
  const Tensor y = vitsim::quant::run_fp32(g, x);
  const std::vector<float> ref = read_floats(dir / "output.bin", y.data.size());
  const auto [err, at] = worst_rel_err(y.data, ref.data(), ref.size());
  INFO(what << ": logit " << at << " is " << y.data[at] << ", PyTorch " << ref[at]);
  CHECK(err <= kRelTol);
  if (same_top1) CHECK(argmax(y.data.data(), ref.size()) == argmax(ref.data(), ref.size()));
}

std::string describe(const Node& n) {
  std::ostringstream s;
  s << n.name << " " << vitsim::quant::op_name(n.op) << " " << shape_str(n.out_shape) << " k" << n.kernel
    << " s" << n.stride << " p" << n.pad << " g" << n.groups << " act=" << vitsim::quant::act_name(n.act)
    << " d=" << n.head_dim << " a=[" << n.a.row_offset << "," << n.a.rows << "," << n.a.transpose << "] b=["
    << n.b.row_offset << "," << n.b.rows << "," << n.b.transpose << "] inputs=" << n.inputs.size();
  return s.str();
}

}  // namespace

namespace {

nlohmann::json fixture_reference(const fs::path& dir, const char* made_by) {
  const fs::path ref_path = dir / "reference.json";
  if (!fs::exists(ref_path)) FAIL("fixture missing: " << ref_path << " (made by " << made_by << ")");
  return nlohmann::json::parse(read_file(ref_path));
}

Graph import_fixture(const fs::path& dir, const nlohmann::json& ref) {
  try {
    return import_onnx((dir / ref.at("onnx").at("file").get<std::string>()).string());
  } catch (const std::exception& e) {
    FAIL("importing the fixture failed: " << e.what());
  }
  return {};
}

// The FP32 executor on the fixture's 16 reference images against PyTorch's stored logits: every logit within
// kRelTol, every argmax equal.
void check_fixture_logits(const Graph& g, const fs::path& dir, const nlohmann::json& ref) {
  const nlohmann::json& in_spec = ref.at("files").at("input");
  const nlohmann::json& out_spec = ref.at("files").at("logits");
  REQUIRE(in_spec.at("dtype") == "float32");
  REQUIRE(out_spec.at("dtype") == "float32");
  const size_t n_images = in_spec.at("shape").at(0).get<size_t>();
  const size_t classes = out_spec.at("shape").at(1).get<size_t>();
  REQUIRE(out_spec.at("shape").at(0).get<size_t>() == n_images);
  REQUIRE(n_images == 16);
  CHECK(g.output().out_shape == Shape{static_cast<int64_t>(classes)});

  const Shape in_shape = g.nodes[0].out_shape;
  const size_t image = static_cast<size_t>(vitsim::quant::numel(in_shape));
  REQUIRE(count_of(in_spec.at("shape")) == n_images * image);
  const std::vector<float> inputs =
      read_floats(dir / in_spec.at("file").get<std::string>(), n_images * image);
  const std::vector<float> logits =
      read_floats(dir / out_spec.at("file").get<std::string>(), n_images * classes);

  double worst = 0.0;
  for (size_t i = 0; i < n_images; ++i) {
    Tensor x(in_shape);
    std::copy_n(inputs.begin() + static_cast<std::ptrdiff_t>(i * image), image, x.data.begin());
    const Tensor y = vitsim::quant::run_fp32(g, x);
    REQUIRE(y.data.size() == classes);
    const float* r = logits.data() + i * classes;
    const auto [err, at] = worst_rel_err(y.data, r, classes);
    worst = std::max(worst, err);
    INFO("image " << i << ": logit " << at << " is " << y.data[at] << ", PyTorch " << r[at]);
    CHECK(err <= kRelTol);
    CHECK(argmax(y.data.data(), classes) == argmax(r, classes));
  }
  INFO("worst relative logit error vs PyTorch over " << n_images << " images: " << worst);
  CHECK(worst <= kRelTol);
}

}  // namespace

TEST_CASE("ONNX import: the trained Fashion-MNIST EfficientViT matches PyTorch's logits", "[onnx]") {
  const nlohmann::json ref = fixture_reference(kFixtureDir, "tools/train_fashion_evit.py");
  const Graph g = import_fixture(kFixtureDir, ref);
  INFO("imported graph '" << g.model << "': " << g.nodes.size() << " nodes");

  // LiteMLA became the IR's decomposition, as in the zoo: per attention block one kernel, two matmuls and
  // one normalize; the preset "fashion" has one EfficientViT block in each of stages 3 and 4.
  CHECK(count_ops(g, OpKind::AttnKernel) == 2);
  CHECK(count_ops(g, OpKind::MatMul) == 4);
  CHECK(count_ops(g, OpKind::AttnNormalize) == 2);
  CHECK(count_ops(g, OpKind::GlobalAvgPool) == 1);
  for (const Node& n : g.nodes)
    if (n.op == OpKind::AttnKernel) CHECK(n.head_dim == ref.at("model").at("head_dim").get<int64_t>());
  const Node* ln_linear = nullptr;
  for (const Node& n : g.nodes)
    if (n.op == OpKind::Linear && n.norm == Norm::LayerNorm) ln_linear = &n;
  REQUIRE(ln_linear);  // head.op_list.2: Linear + LayerNorm + hswish, fused
  CHECK(ln_linear->act == Act::HSwish);
  CHECK(ln_linear->norm_eps == Approx(1e-5f));
  check_fixture_logits(g, kFixtureDir, ref);
}

// `g` has the ops of quant/zoo.cpp's DeiT, per block: 2 LayerNorms, qkv / proj / fc1 / fc2 Linears, one
// attention (split, two matmuls, softmax, merge), 2 residual adds; GELU on fc1, the head count, the
// LayerNorms' eps and the 1/sqrt(dh) scale on q k^T.
void check_deit_graph(const Graph& g, int64_t depth, int64_t heads, int64_t dh, int64_t hidden,
                      float ln_eps) {
  CHECK(count_ops(g, OpKind::Conv2d) == 1);
  CHECK(count_ops(g, OpKind::PatchTokens) == 1);
  CHECK(count_ops(g, OpKind::ClassToken) == 1);
  CHECK(count_ops(g, OpKind::PosEmbed) == 1);
  CHECK(count_ops(g, OpKind::LayerNorm) == 2 * depth + 1);
  CHECK(count_ops(g, OpKind::Linear) == 4 * depth + 1);
  CHECK(count_ops(g, OpKind::HeadSplit) == depth);
  CHECK(count_ops(g, OpKind::MatMul) == 2 * depth);
  CHECK(count_ops(g, OpKind::Softmax) == depth);
  CHECK(count_ops(g, OpKind::HeadMerge) == depth);
  CHECK(count_ops(g, OpKind::Add) == 2 * depth);
  CHECK(count_ops(g, OpKind::TokenSelect) == 1);
  CHECK(static_cast<int64_t>(g.nodes.size()) == 1 + 4 + 13 * depth + 3);
  for (const Node& n : g.nodes) {
    INFO(describe(n));
    if (n.op == OpKind::Linear) CHECK(n.act == (n.out_features == hidden ? Act::GeluErf : Act::None));
    if (n.op == OpKind::LayerNorm) CHECK(n.norm_eps == Approx(ln_eps));
    if (n.op == OpKind::HeadSplit) CHECK(n.heads == heads);
    if (n.op == OpKind::MatMul && n.name.find("matmul_qk") != std::string::npos)
      CHECK(n.scale == Approx(1.0 / std::sqrt(static_cast<double>(dh))));
  }
}

TEST_CASE("ONNX import: the trained Fashion-MNIST ViT is DeiT's graph, counts as by hand, matches PyTorch",
          "[onnx]") {
  const nlohmann::json ref = fixture_reference(kVitFixtureDir, "tools/train_fashion_vit.py");
  const Graph g = import_fixture(kVitFixtureDir, ref);
  const nlohmann::json& m = ref.at("model");
  const int64_t dim = m.at("dim"), depth = m.at("depth"), heads = m.at("heads"), patch = m.at("patch");
  const int64_t hidden = m.at("mlp_ratio").get<int64_t>() * dim, classes = m.at("classes");
  const int64_t res = m.at("input_shape").at(2), channels = m.at("input_shape").at(1);
  const int64_t patches = (res / patch) * (res / patch), tokens = patches + 1, dh = dim / heads;

  check_deit_graph(g, depth, heads, dh, hidden, m.at("ln_eps").get<float>());
  CHECK(g.find("blocks.0.attn.qkv") >= 0);
  CHECK(g.find("blocks.0.attn.softmax") >= 0);

  // By hand, from the architecture: the patch conv, then per block qkv, q k^T, attn v, proj, fc1, fc2, then
  // the head (parameters: weights + biases, LayerNorm gamma + beta, class token, position embedding).
  const int64_t conv_macs = patches * dim * channels * patch * patch;
  const int64_t block_macs = tokens * dim * 3 * dim + 2 * heads * tokens * dh * tokens + tokens * dim * dim +
                             2 * tokens * dim * hidden;
  CHECK(g.macs() == conv_macs + depth * block_macs + dim * classes);
  const int64_t block_params = 2 * 2 * dim + (dim * 3 * dim + 3 * dim) + (dim * dim + dim) +
                               (dim * hidden + hidden) + (hidden * dim + dim);
  const int64_t params = (dim * channels * patch * patch + dim) + dim + tokens * dim + depth * block_params +
                         2 * dim + (dim * classes + classes);
  CHECK(g.param_count() == params);
  CHECK(g.param_count() == m.at("params").get<int64_t>());  // PyTorch's count
  check_fixture_logits(g, kVitFixtureDir, ref);
}

TEST_CASE("ONNX import: a ViT exported at opset 17 (LayerNormalization) with tanh GELU matches PyTorch",
          "[onnx]") {
  if (!python_exports_available("the ViT variant export")) return;
  TempDir dir("onnx", "vit17");
  run_export("train_fashion_vit.py", "--export-variant", dir.path);
  const Graph g = import_export(dir.path, "the opset-17 ViT");
  CHECK(count_ops(g, OpKind::LayerNorm) == 9);
  CHECK(count_ops(g, OpKind::Softmax) == 4);
  int tanh_gelus = 0;
  for (const Node& n : g.nodes) tanh_gelus += n.op == OpKind::Linear && n.act == Act::GeluTanh;
  CHECK(tanh_gelus == 4);
  check_export_logits(g, dir.path, "the opset-17 ViT", false);
}

TEST_CASE("ONNX import: PyTorch exports of EfficientViT B0/B1 match PyTorch and the zoo graphs", "[onnx]") {
  if (!python_exports_available("the zoo exports")) return;
  const int res = 64;
  for (const std::string model : {"efficientvit-b0", "efficientvit-b1"}) {
    SECTION(model) {
      TempDir dir("onnx", "zoo");
      run_export("export_zoo_onnx.py", "--model " + model + " --res " + std::to_string(res), dir.path);

      const Graph g = import_export(dir.path, "the " + model + " export");
      const Graph zoo = vitsim::quant::build_model(model, res);
      CHECK(g.macs() == zoo.macs());

      // Layer by layer the same structure as the zoo (exported in eval mode, so BatchNorms are folded
      // into conv biases: norms and biases differ, everything the hardware schedules does not).
      REQUIRE(g.nodes.size() == zoo.nodes.size());
      for (size_t i = 0; i < g.nodes.size(); ++i) {
        const Node &a = g.nodes[i], &b = zoo.nodes[i];
        INFO("layer " << i << "\n  imported: " << describe(a) << "\n  zoo:      " << describe(b));
        CHECK(a.op == b.op);
        CHECK(a.out_shape == b.out_shape);
        CHECK(a.inputs == b.inputs);
        CHECK(a.macs() == b.macs());
        CHECK(a.act == b.act);
        if (a.op == OpKind::Conv2d)
          CHECK((a.kernel == b.kernel && a.stride == b.stride && a.pad == b.pad && a.groups == b.groups));
        if (a.op == OpKind::AttnKernel || a.op == OpKind::AttnNormalize) CHECK(a.head_dim == b.head_dim);
        if (a.op == OpKind::MatMul) {
          CHECK((a.a.row_offset == b.a.row_offset && a.a.rows == b.a.rows && a.a.transpose == b.a.transpose));
          CHECK((a.b.row_offset == b.b.row_offset && a.b.rows == b.b.rows && a.b.transpose == b.b.transpose));
          CHECK(a.scale == b.scale);
        }
      }

      check_export_logits(g, dir.path, model, true);
    }
  }
}

// MobileNetV2 and ResNet-18 as Debian's torchvision 0.14 builds them (random weights, BatchNorm statistics
// made non-trivial), at 64x64 to keep the test short: every layer type and the whole structure are those of
// the 224 models, only the feature maps are smaller. MACs against the count tools/export_torchvision_onnx.py
// takes from the ONNX file with ONNX's own shape inference (not the importer's).
TEST_CASE("ONNX import: torchvision MobileNetV2 and ResNet-18 match PyTorch, MACs as counted in the file",
          "[onnx]") {
  if (!torchvision_available("the torchvision exports")) return;
  const int res = 64;
  for (const std::string model : {"mobilenet_v2", "resnet18"}) {
    SECTION(model) {
      TempDir dir("onnx", "torchvision");
      const TorchvisionExport exported = torchvision_export(model, res, dir);
      // references, not structured bindings: clang-14 lambdas cannot capture those
      const nlohmann::json& meta = exported.meta;
      const Graph& g = exported.graph;
      CHECK(g.macs() == meta.at("onnx_macs").get<int64_t>());
      CHECK(g.param_count() == meta.at("onnx_params").get<int64_t>());  // BatchNorm folded by the exporter
      const auto& ops = meta.at("onnx").at("op_types");
      CHECK(count_ops(g, OpKind::Conv2d) == ops.at("Conv").get<int>());
      CHECK(count_ops(g, OpKind::Add) == ops.at("Add").get<int>());
      CHECK(count_ops(g, OpKind::Linear) == ops.at("Gemm").get<int>());
      CHECK(count_ops(g, OpKind::GlobalAvgPool) == 1);
      const auto acts = [&](Act a) {
        return static_cast<int>(
            std::count_if(g.nodes.begin(), g.nodes.end(), [&](const Node& n) { return n.act == a; }));
      };
      if (model == "mobilenet_v2") {
        CHECK(acts(Act::ReLU6) == ops.at("Clip").get<int>());  // every ReLU6 fused into its conv
        int depthwise = 0;
        for (const Node& n : g.nodes) depthwise += n.label().rfind("dw", 0) == 0;
        CHECK(depthwise == 17);
      } else {
        CHECK(count_ops(g, OpKind::MaxPool) == 1);
        CHECK(acts(Act::ReLU) == ops.at("Relu").get<int>());  // 9 into convs, 8 into the residual adds
        int add_relus = 0;
        for (const Node& n : g.nodes) add_relus += n.op == OpKind::Add && n.act == Act::ReLU;
        CHECK(add_relus == 8);
      }

      check_export_logits(g, dir.path, model, true);
    }
  }
}

// torchvision's VisionTransformer (ViT-B/16's class: nn.MultiheadAttention, the class token by Expand +
// Concat, x[:, 0]), as a small model (tools/export_torchvision_onnx.py --model vit_test: patch 8 at 32x32,
// 2 layers, 2 heads, width 64) to keep the test short. It must become the zoo's DeiT structure, count the
// MACs the file does, match PyTorch, and run bit exact on vit-gemm and systolic-32x32-os after PTQ
// (vit-w8a8, the recipe the CLI picks for it). A deviating attention is refused naming node and opset.
TEST_CASE(
    "ONNX import: a torchvision ViT is DeiT's graph, MACs as counted in the file, matches PyTorch, "
    "bit exact after PTQ",
    "[onnx]") {
  if (!torchvision_available("the torchvision ViT export")) return;
  TempDir dir("onnx", "tvvit");
  const TorchvisionExport exported = torchvision_export("vit_test", 32, dir);
  // references, not structured bindings: clang-14 lambdas cannot capture those
  const nlohmann::json& meta = exported.meta;
  const Graph& g = exported.graph;
  const nlohmann::json& v = meta.at("vit");
  const int64_t depth = v.at("layers"), heads = v.at("heads"), dim = v.at("hidden"), hidden = v.at("mlp");
  const int64_t dh = dim / heads;

  CHECK(g.macs() == meta.at("onnx_macs").get<int64_t>());
  CHECK(g.param_count() == meta.at("onnx_params").get<int64_t>());
  CHECK(g.param_count() == meta.at("params").get<int64_t>());  // no BatchNorm: torch's count as it is
  check_deit_graph(g, depth, heads, dh, hidden, v.at("ln_eps").get<float>());
  CHECK(g.find("encoder.layers.encoder_layer_0.self_attention.in_proj") >= 0);
  CHECK(g.find("encoder.layers.encoder_layer_0.self_attention.out_proj") >= 0);
  check_export_logits(g, dir.path, "the torchvision ViT", true);

  // PTQ with the recipe the CLI picks for a ViT graph, on the imported weights; then the compiled programs
  // on real bytes against the integer executor, on the shipped accelerators that have the ViT units
  // (trio-vit has no token_ops, layernorm or gelu unit: a ViT is a MappingError there, docs/engines.md).
  REQUIRE(vitsim::sim::default_recipe(g) == "vit-w8a8");
  const auto calib = vitsim::quant::synthetic_images(2, g.nodes[0].out_shape, 9).images;
  const vitsim::quant::QGraph q = vitsim::quant::quantize_graph(
      g, vitsim::quant::find_recipe("vit-w8a8", vitsim::test::config_dir() + "/quant"), calib);
  for (const std::string accel : {"vit-gemm", "systolic-32x32-os"}) {
    const vitsim::arch::AccelConfig c =
        vitsim::arch::load_accel_config(vitsim::test::config_dir() + "/accel/" + accel + ".json");
    const vitsim::arch::Program p = vitsim::sim::compile(q, c, {});
    const vitsim::test::BytesOutcome out =
        vitsim::test::run_bytes(q, c, p, vitsim::quant::synthetic_input(q.graph, 9));
    INFO("torchvision ViT on " << accel << ": " << out.first);
    CHECK(out.total == 0);
    CHECK(out.first.empty());
  }

  // Deviations from the attention pattern are refused, naming the node and the opset.
  onnx::ModelProto m;
  REQUIRE(m.ParseFromString(read_file(dir.path / "model.onnx")));
  auto import_changed = [&](const onnx::ModelProto& changed, const std::string& file) {
    std::string bytes;
    REQUIRE(changed.SerializeToString(&bytes));
    write_file(dir.path / file, bytes);
    return import_onnx((dir.path / file).string());
  };
  const std::string attn = "/encoder/layers/encoder_layer_0/self_attention/";
  auto node_named = [](onnx::ModelProto& model, const std::string& name) -> onnx::NodeProto& {
    for (onnx::NodeProto& n : *model.mutable_graph()->mutable_node())
      if (n.name() == name) return n;
    FAIL("no node " << name);
    throw std::logic_error("unreachable");
  };
  auto set_ints = [](onnx::NodeProto& n, const char* name, const std::vector<int64_t>& values) {
    for (onnx::AttributeProto& a : *n.mutable_attribute())
      if (a.name() == name) {
        a.clear_ints();
        for (int64_t x : values) a.add_ints(x);
        return;
      }
    FAIL(n.name() << " has no attribute " << name);
  };
  {  // v's heads not moved in front of the tokens
    onnx::ModelProto changed = m;
    set_ints(node_named(changed, attn + "Transpose_2"), "perm", {0, 1, 2});
    REQUIRE_THROWS_WITH(import_changed(changed, "v_perm.onnx"),
                        Contains("multi-head attention pattern") && Contains(attn + "Transpose_2") &&
                            Contains("Transpose, opset 13") && Contains("expected perm [1, 0, 2]"));
  }
  {  // the softmax over the queries
    onnx::ModelProto changed = m;
    onnx::NodeProto& softmax = node_named(changed, attn + "Softmax");
    REQUIRE((softmax.attribute_size() == 1 && softmax.attribute(0).name() == "axis"));
    softmax.mutable_attribute(0)->set_i(1);
    REQUIRE_THROWS_WITH(import_changed(changed, "softmax.onnx"),
                        Contains(attn + "Softmax") && Contains("Softmax, opset 13") && Contains("last axis"));
  }
  {  // a transpose that moves data outside any pattern: [1, T, D] -> [1, D, T] instead of [T, 1, D]
    onnx::ModelProto changed = m;
    set_ints(node_named(changed, attn + "Transpose"), "perm", {0, 2, 1});
    REQUIRE_THROWS_WITH(
        import_changed(changed, "tokens.onnx"),
        Contains("node '" + attn + "Transpose' (Transpose, opset 13)") && Contains("unsupported Transpose"));
  }
}

// MobileNetV3-Small as Debian's torchvision 0.14 builds it, at 64x64: hard swish (HardSigmoid + Mul) and ReLU
// convs, nine squeeze-excite blocks (GlobalAveragePool, 1x1 Conv + Relu, 1x1 Conv + HardSigmoid, Mul), the
// Linear + hard swish head. Imported, checked against PyTorch and the file's MACs, then quantized and run
// on both accelerators with real bytes: every layer equal to the integer reference executor.
// (EfficientNet-B0, SiLU and sigmoid gates, takes 45 s to export here, so it is measured in docs/models.md.)
TEST_CASE(
    "ONNX import: torchvision MobileNetV3-Small with squeeze-excite matches PyTorch and simulates exactly",
    "[onnx]") {
  if (!torchvision_available("the torchvision exports")) return;
  TempDir dir("onnx", "mobilenet_v3_small");
  const TorchvisionExport exported = torchvision_export("mobilenet_v3_small", 64, dir);
  // references, not structured bindings: clang-14 lambdas cannot capture those
  const nlohmann::json& meta = exported.meta;
  const Graph& g = exported.graph;
  CHECK(g.macs() == meta.at("onnx_macs").get<int64_t>());
  CHECK(g.param_count() == meta.at("onnx_params").get<int64_t>());
  const auto& ops = meta.at("onnx").at("op_types");
  const int se = count_ops(g, OpKind::ChannelMul);
  CHECK(se == 9);
  CHECK(count_ops(g, OpKind::GlobalAvgPool) == ops.at("GlobalAveragePool").get<int>());
  // each block's two 1x1 convs on the pooled vector become Linears
  CHECK(count_ops(g, OpKind::Conv2d) == ops.at("Conv").get<int>() - 2 * se);
  CHECK(count_ops(g, OpKind::Linear) == ops.at("Gemm").get<int>() + 2 * se);
  const auto acts = [&](Act a) {
    return static_cast<int>(
        std::count_if(g.nodes.begin(), g.nodes.end(), [&](const Node& n) { return n.act == a; }));
  };
  CHECK(acts(Act::HSigmoid) == se);  // the gates; every other HardSigmoid is half of a hard swish
  CHECK(acts(Act::HSwish) == ops.at("HardSigmoid").get<int>() - se);
  CHECK(acts(Act::ReLU) == ops.at("Relu").get<int>());
  check_export_logits(g, dir.path, "mobilenet_v3_small", true);

  // the imported weights, 2 synthetic calibration images (vitsim::test::quantize would replace the weights)
  const vitsim::quant::QGraph q = vitsim::quant::quantize_graph(
      g, vitsim::quant::find_recipe("trio-w8a8", vitsim::test::config_dir() + "/quant"),
      vitsim::quant::synthetic_images(2, g.nodes[0].out_shape, 9).images);
  for (const vitsim::arch::AccelConfig& c :
       {vitsim::test::trio_vit_with_cnn_units(),
        vitsim::arch::load_accel_config(vitsim::test::config_dir() + "/accel/systolic-32x32-os.json")}) {
    const vitsim::arch::Program p = vitsim::sim::compile(q, c, {});
    const vitsim::test::BytesOutcome out =
        vitsim::test::run_bytes(q, c, p, vitsim::quant::synthetic_input(q.graph, 3));
    INFO("mobilenet_v3_small on " << c.name << ": " << out.first);
    CHECK(out.total == 0);
  }
}

namespace {

// Small ONNX models built with the protobuf classes, so these tests run without Python.
struct ModelMaker {
  onnx::ModelProto m;
  onnx::GraphProto* g;

  explicit ModelMaker(Shape input, const std::string& batch_param = "") {
    m.set_ir_version(7);
    m.set_producer_name("vitsim-test");
    auto* op = m.add_opset_import();
    op->set_domain("");
    op->set_version(13);
    g = m.mutable_graph();
    g->set_name("test");
    auto* in = g->add_input();
    in->set_name("input");
    auto* tt = in->mutable_type()->mutable_tensor_type();
    tt->set_elem_type(onnx::TensorProto::FLOAT);
    for (size_t k = 0; k < input.size(); ++k) {
      auto* d = tt->mutable_shape()->add_dim();
      if (k == 0 && !batch_param.empty())
        d->set_dim_param(batch_param);
      else
        d->set_dim_value(input[k]);
    }
  }
  void init(const std::string& name, const Shape& dims, const std::vector<float>& values) {
    auto* t = g->add_initializer();
    t->set_name(name);
    t->set_data_type(onnx::TensorProto::FLOAT);
    for (int64_t d : dims) t->add_dims(d);
    for (float v : values) t->add_float_data(v);
  }
  onnx::NodeProto* node(const std::string& op, const std::string& name, const std::vector<std::string>& ins,
                        const std::string& out) {
    auto* n = g->add_node();
    n->set_op_type(op);
    n->set_name(name);
    for (const std::string& i : ins) n->add_input(i);
    n->add_output(out);
    return n;
  }
  static void ints(onnx::NodeProto* n, const std::string& name, const std::vector<int64_t>& v) {
    auto* a = n->add_attribute();
    a->set_name(name);
    a->set_type(onnx::AttributeProto::INTS);
    for (int64_t x : v) a->add_ints(x);
  }
  static void attr(onnx::NodeProto* n, const std::string& name, int64_t v) {
    auto* a = n->add_attribute();
    a->set_name(name);
    a->set_type(onnx::AttributeProto::INT);
    a->set_i(v);
  }
  static void attr_f(onnx::NodeProto* n, const std::string& name, float v) {
    auto* a = n->add_attribute();
    a->set_name(name);
    a->set_type(onnx::AttributeProto::FLOAT);
    a->set_f(v);
  }
  void output(const std::string& name) { g->add_output()->set_name(name); }
  std::string save(const fs::path& p) const {
    std::string bytes;
    REQUIRE(m.SerializeToString(&bytes));
    write_file(p, bytes);
    return p.string();
  }
};

std::vector<float> values(size_t n, float scale, float offset, int seed) {
  std::mt19937 rng(static_cast<unsigned>(seed));
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  std::vector<float> v(n);
  for (float& x : v) x = offset + scale * u(rng);
  return v;
}

// input [1,3,8,8] -> Conv 3x3 s2 p1 (4 ch) -> BatchNorm -> HardSigmoid*x (hswish, torch's opset-13 form)
//   -> [tail] -> GlobalAveragePool -> Flatten -> Gemm (transB) -> logits [1,2]
struct TinyNet {
  std::vector<float> w = values(4 * 3 * 3 * 3, 0.5f, 0.0f, 1), gamma = values(4, 0.4f, 1.0f, 2),
                     beta = values(4, 0.1f, 0.0f, 3), mean = values(4, 0.1f, 0.0f, 4),
                     var = values(4, 0.4f, 1.0f, 5), fw = values(2 * 4, 0.5f, 0.0f, 6),
                     fb = values(2, 0.1f, 0.0f, 7);
  float bn_eps = 1e-3f;

  ModelMaker make(const std::string& tail_op = "", const std::string& batch_param = "",
                  int64_t batch = 1) const {
    ModelMaker mk({batch, 3, 8, 8}, batch_param);
    mk.init("conv.w", {4, 3, 3, 3}, w);
    for (auto [name, v] : {std::pair{"bn.g", &gamma}, {"bn.b", &beta}, {"bn.m", &mean}, {"bn.v", &var}})
      mk.init(name, {4}, *v);
    mk.init("fc.w", {2, 4}, fw);
    mk.init("fc.b", {2}, fb);
    auto* c = mk.node("Conv", "/features/conv/Conv", {"input", "conv.w"}, "c");
    ModelMaker::ints(c, "kernel_shape", {3, 3});
    ModelMaker::ints(c, "strides", {2, 2});
    ModelMaker::ints(c, "pads", {1, 1, 1, 1});
    auto* bn = mk.node("BatchNormalization", "/features/bn/BatchNormalization",
                       {"c", "bn.g", "bn.b", "bn.m", "bn.v"}, "n");
    ModelMaker::attr_f(bn, "epsilon", bn_eps);
    auto* hs = mk.node("HardSigmoid", "/features/act/HardSigmoid", {"n"}, "hs");
    ModelMaker::attr_f(hs, "alpha", 1.0f / 6.0f);
    mk.node("Mul", "/features/act/Mul", {"n", "hs"}, "a");
    std::string x = "a";
    if (!tail_op.empty()) {
      auto* t = mk.node(tail_op, "/features/pool/" + tail_op, {"a"}, "t");
      if (tail_op == "MaxPool") ModelMaker::ints(t, "kernel_shape", {1, 1});
      x = "t";
    }
    mk.node("GlobalAveragePool", "/pool/GlobalAveragePool", {x}, "p");
    auto* f = mk.node("Flatten", "/Flatten", {"p"}, "f");
    ModelMaker::attr(f, "axis", 1);
    auto* fc = mk.node("Gemm", "/classifier/Gemm", {"f", "fc.w", "fc.b"}, "logits");
    ModelMaker::attr(fc, "transB", 1);
    mk.output("logits");
    return mk;
  }

  // The same network, in double, straight from the ONNX op definitions.
  std::vector<double> reference(const Tensor& x) const {
    std::vector<double> pooled(4, 0.0);
    for (int co = 0; co < 4; ++co)
      for (int oy = 0; oy < 4; ++oy)
        for (int ox = 0; ox < 4; ++ox) {
          double acc = 0.0;
          for (int ci = 0; ci < 3; ++ci)
            for (int ky = 0; ky < 3; ++ky)
              for (int kx = 0; kx < 3; ++kx) {
                const int iy = oy * 2 - 1 + ky, ix = ox * 2 - 1 + kx;
                if (iy < 0 || iy >= 8 || ix < 0 || ix >= 8) continue;
                acc += static_cast<double>(w[static_cast<size_t>(((co * 3 + ci) * 3 + ky) * 3 + kx)]) *
                       x.data[static_cast<size_t>((ci * 8 + iy) * 8 + ix)];
              }
          const size_t c = static_cast<size_t>(co);
          const double v =
              (acc - mean[c]) / std::sqrt(static_cast<double>(var[c]) + bn_eps) * gamma[c] + beta[c];
          pooled[c] += v * std::min(std::max(v / 6.0 + 0.5, 0.0), 1.0) / 16.0;
        }
    std::vector<double> out(2);
    for (size_t o = 0; o < 2; ++o) {
      out[o] = fb[o];
      for (size_t i = 0; i < 4; ++i) out[o] += static_cast<double>(fw[o * 4 + i]) * pooled[i];
    }
    return out;
  }
};

}  // namespace

TEST_CASE("ONNX import: a small model built with the protobuf API imports and runs exactly", "[onnx]") {
  TempDir dir("onnx", "tiny");
  const TinyNet net;
  const Graph g = import_onnx(net.make().save(dir.path / "tiny.onnx"));
  REQUIRE(g.nodes.size() == 4);
  const Node& conv = g.nodes[1];
  CHECK(conv.name == "features");  // module path; a trailing ConvLayer ".conv" is dropped
  CHECK(conv.op == OpKind::Conv2d);
  CHECK((conv.kernel == 3 && conv.stride == 2 && conv.pad == 1 && conv.groups == 1 && !conv.has_bias));
  CHECK(conv.norm == Norm::BatchNorm);
  CHECK(conv.norm_eps == net.bn_eps);
  CHECK(conv.act == Act::HSwish);
  CHECK(g.nodes[2].op == OpKind::GlobalAvgPool);
  CHECK(g.nodes[3].op == OpKind::Linear);
  CHECK(g.nodes[3].name == "classifier");
  CHECK(g.nodes[3].has_bias);
  CHECK(g.model == "tiny");
  CHECK(g.resolution == 8);

  Tensor x({3, 8, 8});
  x.data = values(x.data.size(), 2.0f, 0.0f, 11);
  const Tensor y = vitsim::quant::run_fp32(g, x);
  const std::vector<double> ref = net.reference(x);
  REQUIRE(y.data.size() == 2);
  for (size_t i = 0; i < 2; ++i) CHECK(y.data[i] == Approx(ref[i]).epsilon(1e-5).margin(1e-6));
}

// torch wraps nn.MultiheadAttention in Transposes of [1, T, D] <-> [T, 1, D]: moving only axes of size 1
// keeps the row-major order, so the importer relabels; a Transpose that moves data, or a Slice, outside a
// pattern the importer knows is refused, naming the node and the opset.
TEST_CASE("ONNX import: a Transpose of unit axes relabels, stray Transposes and Slices are refused",
          "[onnx]") {
  TempDir dir("onnx", "transpose");
  const TinyNet net;
  {  // pooled [1,4,1,1] -> Transpose (2,0,3,1) -> [1,1,1,4] -> Flatten -> Gemm: TinyNet's function
    ModelMaker mk = net.make();
    auto& nodes = *mk.g->mutable_node();
    auto* t = mk.node("Transpose", "/pool/Transpose", {"p"}, "pt");
    ModelMaker::ints(t, "perm", {2, 0, 3, 1});
    const int flatten =
        static_cast<int>(std::find_if(nodes.begin(), nodes.end(),
                                      [](const onnx::NodeProto& n) { return n.op_type() == "Flatten"; }) -
                         nodes.begin());
    for (int k = nodes.size() - 1; k > flatten; --k) nodes.SwapElements(k, k - 1);  // topological order
    nodes.Mutable(flatten + 1)->set_input(0, "pt");
    const Graph g = import_onnx(mk.save(dir.path / "unit.onnx"));
    REQUIRE(g.nodes.size() == 4);  // no node for the Transpose
    Tensor x({3, 8, 8});
    x.data = values(x.data.size(), 2.0f, 0.0f, 11);
    const Tensor y = vitsim::quant::run_fp32(g, x);
    const std::vector<double> ref = net.reference(x);
    REQUIRE(y.data.size() == 2);
    for (size_t i = 0; i < 2; ++i) CHECK(y.data[i] == Approx(ref[i]).epsilon(1e-5).margin(1e-6));
  }
  // The conv output [1,4,4,4] reversed (no perm: [3,2,1,0]) moves data.
  REQUIRE_THROWS_WITH(
      import_onnx(net.make("Transpose").save(dir.path / "moves.onnx")),
      Contains("node '/features/pool/Transpose' (Transpose, opset 13)") && Contains("unsupported Transpose"));
  REQUIRE_THROWS_WITH(
      import_onnx(net.make("Slice").save(dir.path / "slice.onnx")),
      Contains("node '/features/pool/Slice' (Slice, opset 13)") && Contains("unsupported op Slice here"));
}

namespace {

// A squeeze-excite block built with the protobuf API: GlobalAveragePool, 1x1 Conv + Relu, 1x1 Conv +
// Sigmoid, Mul of the input and the gate. `bn_after_fc1` puts a BatchNormalization after the first conv,
// `square` multiplies the input by itself instead of by the gate: both are refused naming the node.
ModelMaker squeeze_excite(bool bn_after_fc1 = false, bool square = false) {
  ModelMaker mm({1, 4, 3, 3});
  mm.init("w1", {2, 4, 1, 1}, values(8, 0.8f, 0.0f, 21));
  mm.init("b1", {2}, {0.1f, -0.2f});
  mm.init("w2", {4, 2, 1, 1}, values(8, 0.8f, 0.0f, 22));
  mm.init("b2", {4}, {0.0f, 0.3f, -0.3f, 0.5f});
  mm.node("GlobalAveragePool", "/se/avgpool/GlobalAveragePool", {"input"}, "pooled");
  mm.node("Conv", "/se/fc1/Conv", {"pooled", "w1", "b1"}, "fc1");
  std::string act_in = "fc1";
  if (bn_after_fc1) {
    for (const char* t : {"g", "b", "m", "v"}) mm.init(t, {2}, {1.0f, 1.0f});
    mm.node("BatchNormalization", "/se/bn/BatchNormalization", {"fc1", "g", "b", "m", "v"}, "bn");
    act_in = "bn";
  }
  mm.node("Relu", "/se/act/Relu", {act_in}, "r1");
  mm.node("Conv", "/se/fc2/Conv", {"r1", "w2", "b2"}, "fc2");
  mm.node("Sigmoid", "/se/gate/Sigmoid", {"fc2"}, "gate");
  mm.node("Mul", "/se/Mul", {"input", square ? "input" : "gate"}, "out");
  mm.output("out");
  return mm;
}

}  // namespace

TEST_CASE("ONNX import: a squeeze-excite block becomes average pool, two Linears and ChannelMul, exactly",
          "[onnx]") {
  TempDir dir("onnx", "se");
  const Graph g = import_onnx(squeeze_excite().save(dir.path / "se.onnx"));
  REQUIRE(g.nodes.size() == 5);
  CHECK(g.nodes[1].op == OpKind::GlobalAvgPool);
  CHECK((g.nodes[2].op == OpKind::Linear && g.nodes[2].act == Act::ReLU && g.nodes[2].name == "se.fc1"));
  CHECK((g.nodes[3].op == OpKind::Linear && g.nodes[3].act == Act::Sigmoid && g.nodes[3].out_features == 4));
  CHECK((g.nodes[4].op == OpKind::ChannelMul && g.nodes[4].inputs == std::vector<int>{0, 3}));
  CHECK(g.macs() == 2 * 4 + 4 * 2);  // the two 1x1 convs, Cout x Cin each

  // The block by hand, in double, from the initializers' values.
  Tensor x({4, 3, 3});
  x.data = values(x.data.size(), 2.0f, 0.0f, 23);
  const std::vector<float> w1 = values(8, 0.8f, 0.0f, 21), w2 = values(8, 0.8f, 0.0f, 22);
  const double b1[] = {0.1, -0.2}, b2[] = {0.0, 0.3, -0.3, 0.5};
  double pooled[4] = {}, hidden[2], gate[4];
  for (size_t i = 0; i < x.data.size(); ++i) pooled[i / 9] += x.data[i] / 9.0;
  for (int o = 0; o < 2; ++o) {
    hidden[o] = b1[o];
    for (int c = 0; c < 4; ++c) hidden[o] += w1[static_cast<size_t>(o * 4 + c)] * pooled[c];
    hidden[o] = std::max(hidden[o], 0.0);
  }
  for (int o = 0; o < 4; ++o) {
    double v = b2[o];
    for (int c = 0; c < 2; ++c) v += w2[static_cast<size_t>(o * 2 + c)] * hidden[c];
    gate[o] = 1.0 / (1.0 + std::exp(-v));
  }
  const Tensor y = vitsim::quant::run_fp32(g, x);
  for (size_t i = 0; i < y.data.size(); ++i)
    CHECK(y.data[i] == Approx(x.data[i] * gate[i / 9]).epsilon(1e-5).margin(1e-6));

  CHECK_THROWS_WITH(import_onnx(squeeze_excite(true).save(dir.path / "se_bn.onnx")),
                    Contains("/se/fc1/Conv") && Contains("opset 13") &&
                        Contains("BatchNormalization after a Conv on a pooled vector"));
  CHECK_THROWS_WITH(import_onnx(squeeze_excite(false, true).save(dir.path / "se_square.onnx")),
                    Contains("/se/Mul") && Contains("opset 13") && Contains("squeeze-excite gate"));
}

namespace {

// input [1, 2, 6, 6] -> Pad of zeros (pads: ONNX order, N C H W begins then ends; empty: no Pad) -> Conv 3x3
// with `conv_pads` and `stride`.
ModelMaker padded_conv(const std::vector<int64_t>& pads, const std::vector<int64_t>& conv_pads,
                       int64_t stride, const std::string& mode = "constant") {
  ModelMaker mm({1, 2, 6, 6});
  mm.init("w", {3, 2, 3, 3}, values(54, 0.5f, 0.0f, 31));
  std::string x = "input";
  if (!pads.empty()) {
    auto* t = mm.g->add_initializer();
    t->set_name("pads");
    t->set_data_type(onnx::TensorProto::INT64);
    t->add_dims(static_cast<int64_t>(pads.size()));
    for (int64_t v : pads) t->add_int64_data(v);
    auto* p = mm.node("Pad", "/pad/Pad", {"input", "pads"}, "padded");
    auto* a = p->add_attribute();
    a->set_name("mode");
    a->set_type(onnx::AttributeProto::STRING);
    a->set_s(mode);
    x = "padded";
  }
  auto* c = mm.node("Conv", "/conv/Conv", {x, "w"}, "out");
  ModelMaker::ints(c, "kernel_shape", {3, 3});
  ModelMaker::ints(c, "pads", conv_pads);
  ModelMaker::ints(c, "strides", {stride, stride});
  mm.output("out");
  return mm;
}

}  // namespace

TEST_CASE("ONNX import: a Pad of zeros folds into the Conv after it, asymmetric pads are refused", "[onnx]") {
  TempDir dir("onnx", "pad");
  // Pad 1 on every side + an unpadded conv is the conv with pads 1: the same graph, the same outputs.
  const Graph folded =
      import_onnx(padded_conv({0, 0, 1, 1, 0, 0, 1, 1}, {0, 0, 0, 0}, 1).save(dir.path / "a.onnx"));
  const Graph direct = import_onnx(padded_conv({}, {1, 1, 1, 1}, 1).save(dir.path / "b.onnx"));
  REQUIRE(folded.nodes.size() == 2);
  CHECK(folded.nodes[1].op == OpKind::Conv2d);
  CHECK(folded.nodes[1].pad == 1);
  CHECK(folded.nodes[1].out_shape == Shape{3, 6, 6});
  Tensor x({2, 6, 6});
  x.data = values(x.data.size(), 2.0f, 0.0f, 32);
  CHECK(vitsim::quant::run_fp32(folded, x).data == vitsim::quant::run_fp32(direct, x).data);
  // Pad 1 on top and left + the conv's own 0 / 1: symmetric again.
  CHECK(import_onnx(padded_conv({0, 0, 1, 1, 0, 0, 0, 0}, {0, 0, 1, 1}, 2).save(dir.path / "c.onnx"))
            .nodes[1]
            .pad == 1);
  // A Pad((0, 1, 0, 1)) before a stride-2 conv (TensorFlow's "same" padding) pads only bottom and right.
  CHECK_THROWS_WITH(
      import_onnx(padded_conv({0, 0, 0, 0, 0, 0, 1, 1}, {0, 0, 0, 0}, 2).save(dir.path / "d.onnx")),
      Contains("/conv/Conv") && Contains("opset 13") && Contains("asymmetric padding") &&
          Contains("bottom 1, right 1"));
  CHECK_THROWS_WITH(
      import_onnx(
          padded_conv({0, 0, 1, 1, 0, 0, 1, 1}, {0, 0, 0, 0}, 1, "reflect").save(dir.path / "e.onnx")),
      Contains("/pad/Pad") && Contains("only a Pad of constant zeros"));
  CHECK_THROWS_WITH(
      import_onnx(padded_conv({0, 1, 1, 1, 0, 0, 1, 1}, {0, 0, 0, 0}, 1).save(dir.path / "f.onnx")),
      Contains("/pad/Pad") && Contains("pads of H and W"));
}

TEST_CASE("ONNX import: bad files fail with messages that name the problem", "[onnx]") {
  TempDir dir("onnx", "bad");
  const TinyNet net;

  SECTION("missing file") {
    const std::string p = (dir.path / "nope.onnx").string();
    REQUIRE_THROWS_AS(import_onnx(p), std::invalid_argument);
    REQUIRE_THROWS_WITH(import_onnx(p), Contains(p) && Contains("file not found"));
  }
  SECTION("random bytes") {
    std::mt19937 rng(42);
    std::string bytes(4096, '\0');
    for (char& c : bytes) c = static_cast<char>(rng() & 0xFF);
    const fs::path p = dir.path / "random.onnx";
    write_file(p, bytes);
    REQUIRE_THROWS_WITH(import_onnx(p.string()), Contains(p.string()) && Contains("not a valid ONNX model"));
  }
  SECTION("empty file") {
    const fs::path p = dir.path / "empty.onnx";
    write_file(p, "");
    REQUIRE_THROWS_WITH(import_onnx(p.string()), Contains("empty"));
  }
  SECTION("truncated copies of a valid model") {
    const std::string whole = read_file(net.make().save(dir.path / "whole.onnx"));
    for (size_t keep : {whole.size() / 2, whole.size() - 7, size_t{10}}) {
      const fs::path p = dir.path / "cut.onnx";
      write_file(p, whole.substr(0, keep));
      INFO("kept " << keep << " of " << whole.size() << " bytes");
      REQUIRE_THROWS_WITH(import_onnx(p.string()), Contains("not a valid ONNX model"));
    }
  }
  SECTION("truncated copy of the fixture") {
    const fs::path fixture = kFixtureDir / "model.onnx";
    if (!fs::exists(fixture)) FAIL("fixture missing: " << fixture);
    const std::string whole = read_file(fixture);
    const fs::path p = dir.path / "fixture_cut.onnx";
    write_file(p, whole.substr(0, whole.size() / 2));
    REQUIRE_THROWS_WITH(import_onnx(p.string()), Contains(p.string()) && Contains("not a valid ONNX model"));
  }
  SECTION("unsupported op") {
    const std::string p = net.make("LRN").save(dir.path / "lrn.onnx");
    REQUIRE_THROWS_WITH(import_onnx(p), Contains(p) && Contains("/features/pool/LRN") && Contains("LRN") &&
                                            Contains("unsupported op") && Contains("opset 13"));
  }
  SECTION("a max pool with ceil_mode") {
    ModelMaker mk = net.make("MaxPool");
    for (auto& n : *mk.g->mutable_node())
      if (n.op_type() == "MaxPool") ModelMaker::attr(&n, "ceil_mode", 1);
    const std::string p = mk.save(dir.path / "ceil.onnx");
    REQUIRE_THROWS_WITH(import_onnx(p), Contains("/features/pool/MaxPool") && Contains("MaxPool, opset 13") &&
                                            Contains("ceil_mode"));
  }
  SECTION("a standalone activation that cannot fuse") {
    const std::string p = net.make("Sigmoid").save(dir.path / "sigmoid.onnx");
    REQUIRE_THROWS_WITH(import_onnx(p), Contains("/features/pool/Sigmoid") && Contains("Sigmoid"));
  }
  SECTION("dynamic batch") {
    const std::string p = net.make("", "batch_size").save(dir.path / "dynamic.onnx");
    REQUIRE_THROWS_WITH(import_onnx(p),
                        Contains(p) && Contains("dynamic dimension 0") && Contains("batch_size"));
  }
  SECTION("batch 2") {
    const std::string p = net.make("", "", 2).save(dir.path / "batch2.onnx");
    REQUIRE_THROWS_WITH(import_onnx(p), Contains("batch must be 1"));
  }
}

TEST_CASE("ONNX import: a LiteMLA that deviates from the pattern is rejected, naming the node", "[onnx]") {
  const fs::path fixture = kFixtureDir / "model.onnx";
  if (!fs::exists(fixture)) FAIL("fixture missing: " << fixture);
  onnx::ModelProto base;
  REQUIRE(base.ParseFromString(read_file(fixture)));
  TempDir dir("onnx", "mla");

  // The eps each LiteMLA adds to its divisor is a scalar Constant 1e-15 feeding an Add.
  auto eps_constants = [](onnx::ModelProto& m) {
    std::vector<onnx::TensorProto*> found;
    for (onnx::NodeProto& n : *m.mutable_graph()->mutable_node())
      if (n.op_type() == "Constant" && n.attribute_size() == 1 && n.attribute(0).name() == "value") {
        onnx::TensorProto* t = n.mutable_attribute(0)->mutable_t();
        if (t->data_type() != onnx::TensorProto::FLOAT || t->dims_size() != 0) continue;
        float v = t->float_data_size() ? t->float_data(0) : 0.0f;
        if (!t->float_data_size() && t->raw_data().size() == 4) std::memcpy(&v, t->raw_data().data(), 4);
        if (v == 1e-15f) found.push_back(t);
      }
    return found;
  };
  SECTION("eps") {
    onnx::ModelProto m = base;
    const std::vector<onnx::TensorProto*> eps = eps_constants(m);
    REQUIRE(eps.size() == 2);
    eps[0]->clear_raw_data();
    eps[0]->clear_float_data();
    eps[0]->add_float_data(1e-6f);
    std::string bytes;
    REQUIRE(m.SerializeToString(&bytes));
    write_file(dir.path / "eps.onnx", bytes);
    REQUIRE_THROWS_WITH(
        import_onnx((dir.path / "eps.onnx").string()),
        Contains("LiteMLA pattern") && Contains("eps is 1e-06") && Contains("context_module/main/Add"));
  }
  SECTION("k is not passed through ReLU") {
    onnx::ModelProto m = base;
    int changed = 0;
    for (onnx::NodeProto& n : *m.mutable_graph()->mutable_node())
      if (n.op_type() == "Relu" && n.name().find("kernel_func_1") != std::string::npos && !changed++)
        n.set_op_type("Sigmoid");
    REQUIRE(changed == 2);
    std::string bytes;
    REQUIRE(m.SerializeToString(&bytes));
    write_file(dir.path / "sigmoid.onnx", bytes);
    REQUIRE_THROWS_WITH(import_onnx((dir.path / "sigmoid.onnx").string()),
                        Contains("LiteMLA pattern") && Contains("Relu") && Contains("Slice_1"));
  }
}

TEST_CASE("ONNX import: a ViT attention that deviates from the pattern is rejected, naming node and opset",
          "[onnx]") {
  const fs::path fixture = kVitFixtureDir / "model.onnx";
  if (!fs::exists(fixture)) FAIL("fixture missing: " << fixture);
  onnx::ModelProto m;
  REQUIRE(m.ParseFromString(read_file(fixture)));
  TempDir dir("onnx", "vitattn");
  auto import_changed = [&](const std::string& file) {
    std::string bytes;
    REQUIRE(m.SerializeToString(&bytes));
    write_file(dir.path / file, bytes);
    return import_onnx((dir.path / file).string());
  };
  SECTION("Softmax over the queries instead of the keys") {
    int changed = 0;
    for (onnx::NodeProto& n : *m.mutable_graph()->mutable_node())
      if (n.op_type() == "Softmax" && !changed++)
        for (onnx::AttributeProto& a : *n.mutable_attribute())
          if (a.name() == "axis") a.set_i(2);
    REQUIRE(changed == 4);
    REQUIRE_THROWS_WITH(import_changed("axis.onnx"), Contains("multi-head attention pattern") &&
                                                         Contains("/blocks/blocks.0/attn/Softmax") &&
                                                         Contains("Softmax, opset 13") &&
                                                         Contains("last axis"));
  }
  SECTION("an op the importer does not know") {
    int changed = 0;
    for (onnx::NodeProto& n : *m.mutable_graph()->mutable_node())
      if (n.op_type() == "Gather" && n.name() == "/Gather" && !changed++) n.set_op_type("GatherElements");
    REQUIRE(changed == 1);
    REQUIRE_THROWS_WITH(import_changed("gather.onnx"),
                        Contains("node '/Gather' (GatherElements, opset 13)") && Contains("unsupported op"));
  }
}
