// An independent re-implementation of the per-layer cycle rules of the Trio-ViT authors' analytical
// latency model of EfficientViT on their accelerator (docs/validation.md, "The authors' analytical
// model"). It exists to check vitsim's compiler and engines against, so it shares no code with them: it
// builds its own block list from the variant's widths and depths, and prices each block with the model's
// own rules (below), not with vitsim's graph, tiles or timing rules.
//
// The model's hardware: a MAT array of `mat_pe` multipliers per lane x `mat_lanes` lanes and an R-MAC array
// of `rmac_pe` x `rmac_lanes`, no replicas, ideal memory, the classifier head left out. Its rules:
//   - "all PEs" (stem conv, unfused pointwise convs, qkv and output projections): both arrays act as one
//     array of mat_lanes + rmac_lanes lanes of mat_pe multipliers; a layer of Cout x Cin per output pixel
//     takes ceil(Cout / lanes) x ceil(Cin / pe) cycles per pixel (per pixel and tap for the stem conv).
//   - a depthwise conv fused with the pointwise conv after it: R-MAC takes rmac_pe channels per lane and
//     rmac_lanes output columns of a row across lanes, a tap per cycle; MAT starts the pointwise conv after
//     a setup of k^2 x ceil(C / rmac_pe) cycles, buffering `buffered_cout` output channels at a time; when
//     the depthwise conv is done, R-MAC joins MAT on the rest of the pointwise conv (the "all PEs" rule).
//     The pair takes max(depthwise cycles, setup + pointwise cycles).
//   - linear attention, per head of d: K^T V (d x d outputs reducing N tokens) and Q (K^T V) (N x d outputs
//     reducing d), each on one array of rmac_lanes lanes of mat_pe multipliers; the model counts the
//     branch heads once (C / d heads), two products each.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace vitsim::authors_model {

/// The EfficientViT variant as the model describes it.
struct Variant {
  std::vector<int64_t> widths;  // stem, stages 1-4
  std::vector<int64_t> depths;  // stem DSConv blocks, then blocks per stage
  int64_t head_dim = 16;
  int64_t expand_ratio = 4;
  int64_t resolution = 224;
};
/// efficientvit-b0 .. b3 at `resolution`; throws std::invalid_argument for other names.
Variant variant(const std::string& model, int64_t resolution);

/// The model's arrays.
struct Arrays {
  int64_t mat_pe = 8, mat_lanes = 8, rmac_pe = 8, rmac_lanes = 8;
};

/// What a priced piece of work is, for per-type comparisons.
enum class Part { Stem, Pointwise, FusedDepthwise, AttentionMatmul };
const char* part_name(Part p);

struct Entry {
  std::string block;  // "stem.0", "stem.1", "S1/b0", "S3/b1.mla", "S3/b1.mb", ...
  std::string stage;  // "stem", "S1" .. "S4"
  Part part = Part::Pointwise;
  int64_t cycles = 0;
  int64_t macs = 0;  // the products the model counts for this piece
};

/// The model's cycles, piece by piece, in execution order.
std::vector<Entry> price(const Variant& v, const Arrays& a);

}  // namespace vitsim::authors_model
