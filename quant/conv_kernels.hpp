// Conv2d kernels shared by the FP32 executor (T = float) and the integer executor (T = the exact accumulator
// type it picks per node: float, double or int64, on centered codes x - zp). One templated copy, so both
// executors walk the same windows and padding; header-only so each executor instantiates and inlines it
// as before (the hot loops must vectorize). Internal to quant/: not part of the library's interface.
#pragma once

#include <Eigen/Core>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <utility>
#include <vector>

namespace vitsim::quant::detail {

/// Geometry of one Conv2d on a [cin, h, w] input giving [cout, ho, wo], square kernel k.
struct ConvGeom {
  int64_t cin, h, w, cout, ho, wo, k, stride, pad, groups;
};

/// One filter per channel: the depthwise kernel instead of im2col + GEMM.
inline bool is_depthwise(const ConvGeom& g) {
  return g.groups == g.cin && g.groups == g.cout;
}

/// 1x1, stride 1, no padding: the input already is the column matrix of the GEMM.
inline bool is_direct(const ConvGeom& g) {
  return g.k == 1 && g.stride == 1 && g.pad == 0;
}

/// Values of the column buffer grouped_conv_gemm needs (one group's im2col; 0 for a direct conv).
inline int64_t column_size(const ConvGeom& g) {
  return is_direct(g) ? 0 : (g.cin / g.groups) * g.k * g.k * g.ho * g.wo;
}

/// Output columns ox in [lo, hi) whose input column ox*stride - pad + tap falls inside [0, width).
inline std::pair<int64_t, int64_t> valid_columns(int64_t tap, int64_t stride, int64_t pad, int64_t width,
                                                 int64_t out_width) {
  const int64_t first = pad - tap;  // need ox*stride >= first
  const int64_t lo = first <= 0 ? 0 : (first + stride - 1) / stride;
  const int64_t last = width - 1 + pad - tap;  // need ox*stride <= last
  int64_t hi = last < 0 ? 0 : last / stride + 1;
  hi = std::min(hi, out_width);
  return {std::min(lo, hi), hi};
}

/// Unfolds `channels` input planes into col[(c*k + ky)*k + kx, oy*wo + ox], T(0) where the window leaves
/// the image (for centered codes a real zero), so the conv becomes a GEMM with the weights viewed as
/// [Cout, Cin*k*k].
template <class T>
void im2col(const T* in, int64_t channels, const ConvGeom& g, T* col) {
  const int64_t out_plane = g.ho * g.wo;
  for (int64_t c = 0; c < channels; ++c) {
    const T* src = in + c * g.h * g.w;
    for (int64_t ky = 0; ky < g.k; ++ky) {
      for (int64_t kx = 0; kx < g.k; ++kx) {
        T* dst = col + ((c * g.k + ky) * g.k + kx) * out_plane;
        const auto [lo, hi] = valid_columns(kx, g.stride, g.pad, g.w, g.wo);
        for (int64_t oy = 0; oy < g.ho; ++oy) {
          T* d = dst + oy * g.wo;
          const int64_t iy = oy * g.stride - g.pad + ky;
          if (iy < 0 || iy >= g.h) {
            std::fill(d, d + g.wo, T(0));
            continue;
          }
          const T* row = src + iy * g.w - g.pad + kx;  // row[ox*stride] is the tap input (ox in [lo, hi))
          std::fill(d, d + lo, T(0));
          if (g.stride == 1) {
            if (hi > lo) std::memcpy(d + lo, row + lo, static_cast<size_t>(hi - lo) * sizeof(T));
          } else {
            for (int64_t ox = lo; ox < hi; ++ox) d[ox] = row[ox * g.stride];
          }
          std::fill(d + hi, d + g.wo, T(0));
        }
      }
    }
  }
}

/// Depthwise: each output plane accumulates k*k shifted, weighted rows of its own input plane into `out`
/// (which the caller zeroes); the inner loop runs over contiguous output columns so it vectorizes.
/// SkipZeroWeights drops taps whose weight is 0: exact for integer data, but not for FP32, where 0 * inf
/// and 0 * NaN are NaN (the FP32 executor keeps every tap).
template <bool SkipZeroWeights, class T>
void depthwise_conv(const T* in, const T* weight, const ConvGeom& g, T* out) {
  const int64_t kk = g.k * g.k;
  std::vector<std::pair<int64_t, int64_t>> cols(static_cast<size_t>(g.k));
  for (int64_t kx = 0; kx < g.k; ++kx)
    cols[static_cast<size_t>(kx)] = valid_columns(kx, g.stride, g.pad, g.w, g.wo);
  for (int64_t c = 0; c < g.cin; ++c) {
    const T* src = in + c * g.h * g.w;
    const T* wc = weight + c * kk;
    T* dst = out + c * g.ho * g.wo;
    for (int64_t oy = 0; oy < g.ho; ++oy) {
      T* __restrict d = dst + oy * g.wo;
      for (int64_t ky = 0; ky < g.k; ++ky) {
        const int64_t iy = oy * g.stride - g.pad + ky;
        if (iy < 0 || iy >= g.h) continue;
        for (int64_t kx = 0; kx < g.k; ++kx) {
          const T wt = wc[ky * g.k + kx];
          if constexpr (SkipZeroWeights) {
            if (wt == T(0)) continue;
          }
          const T* __restrict row = src + iy * g.w - g.pad + kx;
          const auto [lo, hi] = cols[static_cast<size_t>(kx)];
          if (g.stride == 1) {
            for (int64_t ox = lo; ox < hi; ++ox) d[ox] += wt * row[ox];
          } else {
            for (int64_t ox = lo; ox < hi; ++ox) d[ox] += wt * row[ox * g.stride];
          }
        }
      }
    }
  }
}

/// Any other conv: per group, im2col into `col` (column_size(g) values; unused for a direct conv) and one
/// GEMM, out[group's channels, ho*wo] = weight [cout/groups, cin/groups*k*k] x columns. Overwrites `out`.
template <class T>
void grouped_conv_gemm(const T* in, const T* weight, const ConvGeom& g, T* col, T* out) {
  using Mat = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  using ConstMap = Eigen::Map<const Mat>;
  const auto ei = [](int64_t v) { return static_cast<Eigen::Index>(v); };
  const int64_t out_plane = g.ho * g.wo;
  const int64_t cg = g.cin / g.groups, cog = g.cout / g.groups;
  const int64_t depth = cg * g.k * g.k;  // GEMM contraction length per group
  const bool direct = is_direct(g);
  for (int64_t grp = 0; grp < g.groups; ++grp) {
    const T* in_g = in + grp * cg * g.h * g.w;
    if (!direct) im2col(in_g, cg, g, col);
    ConstMap cols(direct ? in_g : col, ei(depth), ei(out_plane));
    ConstMap w(weight + grp * cog * depth, ei(cog), ei(depth));
    Eigen::Map<Mat> y(out + grp * cog * out_plane, ei(cog), ei(out_plane));
    y.noalias() = w * cols;
  }
}

}  // namespace vitsim::quant::detail
