#include "tools/authors_model/authors_model.hpp"

#include <algorithm>
#include <stdexcept>

namespace vitsim::authors_model {

namespace {

int64_t up(int64_t a, int64_t b) {
  return (a + b - 1) / b;
}

class Pricer {
 public:
  Pricer(const Variant& v, const Arrays& a) : v_(v), a_(a) {}

  // Both arrays as one: mat_lanes + rmac_lanes lanes of mat_pe multipliers, `repeats` output pixels (or
  // pixels x taps) one after the other.
  void all_pes(Part part, int64_t cout, int64_t cin, int64_t repeats, int64_t macs) {
    add(part, up(cout, a_.mat_lanes + a_.rmac_lanes) * up(cin, a_.mat_pe) * repeats, macs);
  }

  // A depthwise conv of `channels` at e x e output pixels and kernel k on R-MAC, fused with the pointwise
  // conv after it (`cout` outputs per pixel, each reducing `pw_cin`) on MAT, then on both arrays.
  void fused(int64_t e, int64_t channels, int64_t cout, int64_t k, int64_t pw_cin) {
    const int64_t pixels = e * e;
    const int64_t dw = up(e, a_.rmac_lanes) * e * up(channels, a_.rmac_pe) * k * k;
    const int64_t setup = up(channels, a_.rmac_pe) * k * k;
    const int64_t all_lanes = a_.mat_lanes + a_.rmac_lanes;
    const int64_t buffered = std::min(all_lanes, cout);
    const int64_t per_pass = up(pw_cin, a_.mat_pe);
    // Pointwise outputs (pixel x lane) MAT produces while R-MAC is busy, and the whole buffered channel
    // blocks they complete (a block of `buffered` channels takes two MAT passes over all pixels).
    const int64_t done_outputs = (dw - setup) / per_pass * a_.mat_lanes;
    const int64_t done_channels = done_outputs / (2 * a_.mat_lanes * pixels) * buffered;
    int64_t pw = 0;
    if (done_channels < cout) {
      // The partly done block finishes its remaining pixels on all PEs, then the untouched channels.
      const int64_t left_pixels = pixels - (done_outputs - done_channels * pixels) / buffered;
      pw = up(buffered, all_lanes) * per_pass * left_pixels;
      const int64_t untouched = cout - done_channels - buffered;
      if (untouched > 0) pw += up(untouched, all_lanes) * per_pass * pixels;
      pw += dw - setup;
    }
    add(Part::FusedDepthwise, std::max(dw, pw + setup), pixels * (channels * k * k + cout * pw_cin));
  }

  void attention(int64_t tokens, int64_t channels) {
    const int64_t d = v_.head_dim, heads = channels / d;
    const int64_t kv = heads * up(d, a_.rmac_lanes) * up(tokens, a_.mat_pe) * d;
    const int64_t qkv = heads * up(d, a_.rmac_lanes) * up(d, a_.mat_pe) * tokens;
    add(Part::AttentionMatmul, kv + qkv, 4 * tokens * d * d * heads);
  }

  std::vector<Entry> run() {
    int64_t h = v_.resolution;
    const int64_t e0 = h / 2, w0 = v_.widths[0];
    start("stem.0", "stem");
    all_pes(Part::Stem, w0, 3, e0 * e0 * 9, e0 * e0 * w0 * 27);
    h = e0;
    for (int64_t i = 0; i < v_.depths[0]; ++i) {
      start("stem." + std::to_string(i + 1), "stem");
      fused(h, w0, w0, 3, w0);
    }
    int64_t c = w0;
    for (size_t s = 1; s < v_.widths.size(); ++s) {
      const std::string stage = "S" + std::to_string(s);
      const int64_t w = v_.widths[s];
      // Stages 1-2 are MBConvs (the first strided); stages 3-4 one strided MBConv, then blocks of
      // attention + MBConv.
      const int64_t mbconvs = s <= 2 ? v_.depths[s] : 1;
      for (int64_t b = 0; b < mbconvs; ++b) {
        start(stage + "/b" + std::to_string(b), stage);
        const int64_t e = b == 0 ? h / 2 : h;
        mbconv(h, e, c, w);
        c = w, h = e;
      }
      if (s <= 2) continue;
      for (int64_t b = 1; b <= v_.depths[s]; ++b) {
        const std::string block = stage + "/b" + std::to_string(b);
        const int64_t tokens = h * h;
        start(block + ".mla", stage);
        all_pes(Part::Pointwise, 3 * c, c, tokens, tokens * 3 * c * c);
        fused(h, 3 * c, c, 5, v_.head_dim);
        attention(tokens, c);
        all_pes(Part::Pointwise, c, 2 * c, tokens, tokens * 2 * c * c);
        start(block + ".mb", stage);
        mbconv(h, h, c, c);
      }
    }
    return std::move(entries_);
  }

 private:
  void start(const std::string& block, const std::string& stage) { block_ = block, stage_ = stage; }
  void add(Part part, int64_t cycles, int64_t macs) {
    entries_.push_back({block_, stage_, part, cycles, macs});
  }
  void mbconv(int64_t h, int64_t e, int64_t cin, int64_t cout) {
    const int64_t mid = cin * v_.expand_ratio;
    all_pes(Part::Pointwise, mid, cin, h * h, h * h * mid * cin);
    fused(e, mid, cout, 3, mid);
  }

  const Variant& v_;
  const Arrays& a_;
  std::string block_, stage_;
  std::vector<Entry> entries_;
};

}  // namespace

const char* part_name(Part p) {
  switch (p) {
    case Part::Stem:
      return "stem conv";
    case Part::Pointwise:
      return "pointwise (all PEs)";
    case Part::FusedDepthwise:
      return "depthwise + pointwise (fused)";
    case Part::AttentionMatmul:
      return "attention matmuls";
  }
  return "?";
}

Variant variant(const std::string& model, int64_t resolution) {
  Variant v;
  v.resolution = resolution;
  if (model == "efficientvit-b0") {
    v.widths = {8, 16, 32, 64, 128}, v.depths = {1, 2, 2, 2, 2}, v.head_dim = 16;
  } else if (model == "efficientvit-b1") {
    v.widths = {16, 32, 64, 128, 256}, v.depths = {1, 2, 3, 3, 4}, v.head_dim = 16;
  } else if (model == "efficientvit-b2") {
    v.widths = {24, 48, 96, 192, 384}, v.depths = {1, 3, 4, 4, 6}, v.head_dim = 32;
  } else if (model == "efficientvit-b3") {
    v.widths = {32, 64, 128, 256, 512}, v.depths = {1, 4, 6, 6, 9}, v.head_dim = 32;
  } else {
    throw std::invalid_argument("authors' model: no EfficientViT B-series variant named '" + model + "'");
  }
  return v;
}

std::vector<Entry> price(const Variant& v, const Arrays& a) {
  return Pricer(v, a).run();
}

}  // namespace vitsim::authors_model
