#include "quant/zoo.hpp"

#include <cmath>
#include <stdexcept>

namespace vitsim::quant {
namespace {

// ---------------------------------------------------------------------------------------------------
// EfficientViT (Cai et al., ICCV 2023), following the official backbone.py / cls.py structure.

struct EfficientVitSpec {
  std::vector<int64_t> widths;  // stem width, then the four stages
  std::vector<int> depths;      // stem blocks, then blocks per stage (not counting the downsampling one)
  int64_t head_dim;             // LiteMLA per-head dimension d
  std::vector<int64_t> head_widths;
  bool large;  // L-series: ResBlock stem, FusedMBConv stages 1-2, GELU(tanh), expand 4*4 / 6*4 downsampling
};

EfficientVitSpec efficientvit_spec(const std::string& name) {
  if (name == "efficientvit-b0") return {{8, 16, 32, 64, 128}, {1, 2, 2, 2, 2}, 16, {1024, 1280}, false};
  if (name == "efficientvit-b1") return {{16, 32, 64, 128, 256}, {1, 2, 3, 3, 4}, 16, {1536, 1600}, false};
  if (name == "efficientvit-b2") return {{24, 48, 96, 192, 384}, {1, 3, 4, 4, 6}, 32, {2304, 2560}, false};
  if (name == "efficientvit-b3") return {{32, 64, 128, 256, 512}, {1, 4, 6, 6, 9}, 32, {2304, 2560}, false};
  if (name == "efficientvit-l1") return {{32, 64, 128, 256, 512}, {1, 1, 1, 6, 6}, 32, {3072, 3200}, true};
  if (name == "efficientvit-l2") return {{32, 64, 128, 256, 512}, {1, 2, 2, 8, 8}, 32, {3072, 3200}, true};
  if (name == "efficientvit-l3") return {{64, 128, 256, 512, 1024}, {1, 2, 2, 8, 8}, 32, {6144, 6400}, true};
  throw std::invalid_argument("not an EfficientViT model: " + name);
}

class EfficientVitBuilder {
 public:
  EfficientVitBuilder(const std::string& model, int resolution, EfficientVitSpec spec)
      : b_(model, resolution, {3, resolution, resolution}),
        spec_(std::move(spec)),
        act_(spec_.large ? Act::GeluTanh : Act::HSwish) {}

  Graph build() {
    int x = b_.conv("stem.0", 0, spec_.widths[0], 3, 2, 1, false, Norm::BatchNorm, act_);
    for (int i = 1; i <= spec_.depths[0]; ++i) {
      const std::string p = "stem." + std::to_string(i);
      const int y =
          spec_.large ? res_block(p + ".main", x, spec_.widths[0]) : ds_conv(p + ".main", x, spec_.widths[0]);
      x = b_.add(p + " (+x)", y, x);
    }
    for (int s = 1; s <= 4; ++s) x = stage(s, x);
    const int64_t c = spec_.head_widths[0];
    x = b_.conv("head.op_list.0", x, c, 1, 1, 1, false, Norm::BatchNorm, act_);
    x = b_.global_avg_pool("head.op_list.1", x);
    x = b_.linear("head.op_list.2", x, spec_.head_widths[1], false, Norm::LayerNorm, act_);
    b_.linear("head.op_list.3", x, 1000, true, Norm::None, Act::None);
    return b_.finish();
  }

 private:
  int64_t channels(int node) const { return b_.shape(node)[0]; }

  // DSConv: depthwise 3x3 (BN, act) + pointwise (BN).
  int ds_conv(const std::string& p, int x, int64_t out) {
    const int64_t c = channels(x);
    x = b_.conv(p + ".dw", x, c, 3, 1, static_cast<int>(c), false, Norm::BatchNorm, act_);
    return b_.conv(p + ".project", x, out, 1, 1, 1, false, Norm::BatchNorm, Act::None);
  }

  // ResBlock (L-series stem): 3x3 conv (BN, act) + 3x3 conv (BN).
  int res_block(const std::string& p, int x, int64_t out) {
    x = b_.conv(p + ".conv1", x, channels(x), 3, 1, 1, false, Norm::BatchNorm, act_);
    return b_.conv(p + ".conv2", x, out, 3, 1, 1, false, Norm::BatchNorm, Act::None);
  }

  // MBConv: pointwise expand, depthwise 3x3 (stride), pointwise project. "Fewer norm" drops the first
  // two BatchNorms for biases, as in EfficientViT's attention stages.
  int mb_conv(const std::string& p, int x, int64_t out, int stride, int64_t expand, bool fewer_norm) {
    const int64_t mid = channels(x) * expand;
    const Norm norm = fewer_norm ? Norm::None : Norm::BatchNorm;
    x = b_.conv(p + ".expand", x, mid, 1, 1, 1, fewer_norm, norm, act_);
    x = b_.conv(p + ".dw", x, mid, 3, stride, static_cast<int>(mid), fewer_norm, norm, act_);
    return b_.conv(p + ".project", x, out, 1, 1, 1, false, Norm::BatchNorm, Act::None);
  }

  // FusedMBConv (L-series stages 1-2): 3x3 conv expand (stride, BN, act) + pointwise project (BN).
  int fused_mb_conv(const std::string& p, int x, int64_t out, int stride, int64_t expand) {
    x = b_.conv(p + ".spatial", x, channels(x) * expand, 3, stride, 1, false, Norm::BatchNorm, act_);
    return b_.conv(p + ".project", x, out, 1, 1, 1, false, Norm::BatchNorm, Act::None);
  }

  // LiteMLA with one 5x5 aggregation scale, decomposed into the layers an accelerator runs.
  int lite_mla(const std::string& p, int x) {
    const int64_t c = channels(x), d = spec_.head_dim, heads = c / d;
    const int64_t h = b_.shape(x)[1], w = b_.shape(x)[2];
    const int qkv = b_.conv(p + ".qkv", x, 3 * c, 1, 1, 1, false, Norm::None, Act::None);
    int agg =
        b_.conv(p + ".aggreg.0.dw", qkv, 3 * c, 5, 1, static_cast<int>(3 * c), false, Norm::None, Act::None);
    agg = b_.conv(p + ".aggreg.0.gpw", agg, 3 * c, 1, 1, static_cast<int>(3 * heads), false, Norm::None,
                  Act::None);
    const int cat = b_.concat(p + ".cat+reshape", {qkv, agg});
    const int kernel = b_.attn_kernel(p + ".kernel", cat, d);
    // v' k^T: v padded with the ones row is rows [2d, 3d+1); k^T is rows [d, 2d) transposed.
    const int vk = b_.matmul(p + ".matmul_vk", kernel, {2 * d, d + 1, false}, kernel, {d, d, true}, 1.0f);
    // (v' k^T) q: q is rows [0, d).
    const int out = b_.matmul(p + ".matmul_out", vk, {0, 0, false}, kernel, {0, d, false}, 1.0f);
    const int y = b_.attn_normalize(p + ".normalize", out, d, h, w);
    return b_.conv(p + ".proj", y, c, 1, 1, 1, false, Norm::BatchNorm, Act::None);
  }

  int stage(int s, int x) {
    const std::string sp = "S" + std::to_string(s) + "/b";
    const int64_t width = spec_.widths[static_cast<size_t>(s)];
    const int depth = spec_.depths[static_cast<size_t>(s)];
    const bool attention = s == 4 || (s == 3 && !spec_.large);  // L-series stage 3 is MBConv only
    if (s <= 2 && !spec_.large) {
      // B-series stages 1-2: `depth` MBConvs, the first one strided without residual.
      for (int j = 0; j < depth; ++j) {
        const std::string p = sp + std::to_string(j);
        const int y = mb_conv(p + ".main", x, width, j == 0 ? 2 : 1, 4, false);
        x = j == 0 ? y : b_.add(p + " (+x)", y, x);
      }
      return x;
    }
    // Downsampling block (no residual), then `depth` blocks with residuals.
    const std::string p0 = sp + "0.main";
    if (!spec_.large) {
      x = mb_conv(p0, x, width, 2, 4, true);
    } else if (s <= 2) {
      x = fused_mb_conv(p0, x, width, 2, 16);
    } else {
      x = mb_conv(p0, x, width, 2, s == 3 ? 16 : 24, true);
    }
    for (int j = 1; j <= depth; ++j) {
      const std::string p = sp + std::to_string(j);
      if (attention) {
        x = b_.add(p + ".mla (+x)", lite_mla(p + ".mla", x), x);
        x = b_.add(p + ".mb (+x)", mb_conv(p + ".mb", x, width, 1, spec_.large ? 6 : 4, true), x);
      } else if (s <= 2) {
        x = b_.add(p + " (+x)", fused_mb_conv(p + ".main", x, width, 1, 4), x);
      } else {
        x = b_.add(p + " (+x)", mb_conv(p + ".main", x, width, 1, 4, true), x);
      }
    }
    return x;
  }

  GraphBuilder b_;
  EfficientVitSpec spec_;
  Act act_;
};

// ---------------------------------------------------------------------------------------------------
// ViT / DeiT (Dosovitskiy et al. 2021; Touvron et al. 2021), following timm's VisionTransformer.

struct VitSpec {
  int64_t dim, depth, heads;
};

VitSpec vit_spec(const std::string& name) {
  if (name == "deit-tiny") return {192, 12, 3};
  if (name == "deit-small") return {384, 12, 6};
  if (name == "deit-base" || name == "vit-base-16") return {768, 12, 12};
  throw std::invalid_argument("not a ViT model: " + name);
}

Graph build_vit(const std::string& model, int resolution) {
  const VitSpec v = vit_spec(model);
  const int64_t dh = v.dim / v.heads;
  const float ln_eps = 1e-6f;
  GraphBuilder b(model, resolution, {3, resolution, resolution});
  int x = b.conv("patch_embed.proj", 0, v.dim, 16, 16, 1, true, Norm::None, Act::None, 0);
  x = b.patch_tokens("patch_embed.tokens", x);
  x = b.class_token("cls_token", x);
  x = b.pos_embed("pos_embed", x);
  for (int64_t i = 0; i < v.depth; ++i) {
    const std::string p = "blocks." + std::to_string(i);
    int y = b.layer_norm(p + ".norm1", x, ln_eps);
    y = b.linear(p + ".attn.qkv", y, 3 * v.dim, true, Norm::None, Act::None);
    const int heads = b.head_split(p + ".attn.split", y, v.heads);
    // scores = q^T k / sqrt(dh): q, k are rows [0, dh) and [dh, 2dh) of each head, columns are tokens.
    int attn = b.matmul(p + ".attn.matmul_qk", heads, {0, dh, true}, heads, {dh, dh, false},
                        1.0f / std::sqrt(static_cast<float>(dh)));
    attn = b.softmax(p + ".attn.softmax", attn);
    y = b.matmul(p + ".attn.matmul_av", attn, {0, 0, false}, heads, {2 * dh, dh, true}, 1.0f);
    y = b.head_merge(p + ".attn.merge", y);
    y = b.linear(p + ".attn.proj", y, v.dim, true, Norm::None, Act::None);
    x = b.add(p + " (+attn)", y, x);
    y = b.layer_norm(p + ".norm2", x, ln_eps);
    y = b.linear(p + ".mlp.fc1", y, 4 * v.dim, true, Norm::None, Act::GeluErf);
    y = b.linear(p + ".mlp.fc2", y, v.dim, true, Norm::None, Act::None);
    x = b.add(p + " (+mlp)", y, x);
  }
  x = b.layer_norm("norm", x, ln_eps);
  x = b.token_select("cls_select", x, 0);
  b.linear("head", x, 1000, true, Norm::None, Act::None);
  return b.finish();
}

// ---------------------------------------------------------------------------------------------------
// Deterministic synthetic values: splitmix64 streams, approximately normal draws from the Irwin-Hall sum of
// four uniforms (pure integer and IEEE arithmetic, so identical on every platform and compiler).

class Stream {
 public:
  Stream(uint64_t seed, const std::string& a, const std::string& b) : state_(seed ^ 0x9E3779B97F4A7C15ull) {
    for (const std::string* s : {&a, &b}) {
      for (unsigned char ch : *s) state_ = (state_ ^ ch) * 0x100000001B3ull;  // FNV-1a
      state_ = (state_ ^ 0xFF) * 0x100000001B3ull;                            // separator
    }
  }
  uint64_t next() {
    uint64_t z = (state_ += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  double uniform() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }  // [0, 1)
  /// Mean 0, variance 1, support +-2*sqrt(3).
  double normal() {
    const double sum = uniform() + uniform() + uniform() + uniform();
    return (sum - 2.0) * 1.7320508075688772;
  }

 private:
  uint64_t state_;
};

void fill_normal(Tensor& t, Stream& s, double stddev, double mean = 0.0) {
  for (float& v : t.data) v = static_cast<float>(mean + stddev * s.normal());
}
void fill_uniform(Tensor& t, Stream& s, double lo, double hi) {
  for (float& v : t.data) v = static_cast<float>(lo + (hi - lo) * s.uniform());
}

int64_t fan_in(const Node& n) {
  return n.op == OpKind::Conv2d ? (n.in_features / n.groups) * n.kernel * n.kernel : n.in_features;
}

}  // namespace

const std::vector<ZooEntry>& zoo_models() {
  static const std::vector<ZooEntry> models = {
      {"efficientvit-b0", "efficientvit-b", "EfficientViT-B0, ReLU linear attention, hswish", 224, 32},
      {"efficientvit-b1", "efficientvit-b", "EfficientViT-B1, ReLU linear attention, hswish", 224, 32},
      {"efficientvit-b2", "efficientvit-b", "EfficientViT-B2, ReLU linear attention, hswish", 224, 32},
      {"efficientvit-b3", "efficientvit-b", "EfficientViT-B3, ReLU linear attention, hswish", 224, 32},
      {"efficientvit-l1", "efficientvit-l", "EfficientViT-L1, fused MBConv stages, GELU(tanh)", 224, 32},
      {"efficientvit-l2", "efficientvit-l", "EfficientViT-L2, fused MBConv stages, GELU(tanh)", 224, 32},
      {"efficientvit-l3", "efficientvit-l", "EfficientViT-L3, fused MBConv stages, GELU(tanh)", 224, 32},
      {"deit-tiny", "deit", "DeiT-T/16: 12 layers, dim 192, 3 heads, softmax attention", 224, 16},
      {"deit-small", "deit", "DeiT-S/16: 12 layers, dim 384, 6 heads, softmax attention", 224, 16},
      {"deit-base", "deit", "DeiT-B/16: 12 layers, dim 768, 12 heads, softmax attention", 224, 16},
      {"vit-base-16", "vit", "ViT-B/16 (same graph as DeiT-B/16)", 224, 16},
  };
  return models;
}

const ZooEntry& zoo_entry(const std::string& name) {
  for (const ZooEntry& e : zoo_models())
    if (e.name == name) return e;
  std::string known;
  for (const ZooEntry& e : zoo_models()) known += (known.empty() ? "" : ", ") + e.name;
  throw std::invalid_argument("unknown model '" + name + "' (known: " + known + ")");
}

Graph build_model(const std::string& name, int resolution) {
  const ZooEntry& e = zoo_entry(name);
  if (resolution < e.resolution_step || resolution % e.resolution_step != 0)
    throw std::invalid_argument("model '" + name + "' needs a resolution that is a positive multiple of " +
                                std::to_string(e.resolution_step) + ", got " + std::to_string(resolution));
  if (e.family == "efficientvit-b" || e.family == "efficientvit-l")
    return EfficientVitBuilder(name, resolution, efficientvit_spec(name)).build();
  return build_vit(name, resolution);
}

void materialize_synthetic_weights(Graph& graph, uint64_t seed) {
  for (Node& n : graph.nodes) {
    n.params.clear();
    for (const auto& [key, shape] : n.param_shapes()) {
      Tensor t(shape);
      Stream s(seed, n.name, key);
      if (key == "weight") {
        fill_normal(t, s, 1.0 / std::sqrt(static_cast<double>(fan_in(n))));
      } else if (key == "bias" || key == "token" || key == "pos") {
        fill_normal(t, s, 0.02);
      } else if (key == "bn.gamma" || key == "ln.gamma" || key == "bn.var") {
        fill_uniform(t, s, 0.5, 1.5);
      } else {  // bn.beta, bn.mean, ln.beta
        fill_normal(t, s, 0.1);
      }
      n.params.emplace(key, std::move(t));
    }
  }
}

Tensor synthetic_input(const Graph& graph, uint64_t seed) {
  Tensor t(graph.nodes.at(0).out_shape);
  Stream s(seed, graph.model, "input");
  fill_normal(t, s, 1.0);
  return t;
}

}  // namespace vitsim::quant
