// Image sets for calibration and accuracy: the Fashion-MNIST IDX files of Debian's
// `dataset-fashion-mnist`, and a seeded synthetic generator for tests and smoke runs.
//
// Fashion-MNIST preprocessing (load_fashion_mnist), per image, all in float32:
//   1. x = pixel / 255                                   (torchvision ToTensor)
//   2. bilinear resize to resolution x resolution        (F.interpolate(mode="bilinear",
//                                                          align_corners=False), bit-exact, see below)
//   3. x = (x - 0.2860) / 0.3530                         (torchvision Normalize, Fashion-MNIST stats)
//   4. replicate the single grey channel to `channels` channels -> Tensor [channels, R, R]
// A PyTorch pipeline that normalizes before resizing gives the same values up to float rounding
// (bilinear weights sum to one); a pipeline that resizes the PIL image (antialiased) does not.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "quant/graph.hpp"

namespace vitsim::quant {

struct ImageSet {
  std::vector<Tensor> images;  // each [C, H, W]
  std::vector<int> labels;     // one per image; -1 = unlabelled (synthetic)
  std::string source;          // where the images came from, for reports
};

/// Where Debian's `dataset-fashion-mnist` installs the four gzip IDX files.
inline constexpr const char* kFashionMnistDebianDir = "/usr/share/datasets/fashion-mnist";
/// Fashion-MNIST normalization constants (mean / std of the training pixels in [0, 1]).
inline constexpr float kFashionMnistMean = 0.2860f;
inline constexpr float kFashionMnistStd = 0.3530f;

/// The directory load_fashion_mnist uses when given an empty `dir`: the environment variable
/// VITSIM_FASHION_MNIST_DIR if set and non-empty, else kFashionMnistDebianDir.
std::string default_fashion_mnist_dir();

/// Loads `count` images and labels of a Fashion-MNIST split starting at image `offset`.
///   dir:   directory holding {train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz] (".gz" is tried first;
///          zlib reads plain files too). Empty = default_fashion_mnist_dir().
///   split: "train" (60000 images) or "test" (10000, the t10k files).
///   count: number of images; < 0 means "all from offset to the end".
///   resolution, channels: output shape [channels, resolution, resolution] (see the top of this file).
/// Only the requested range is decompressed. Throws std::invalid_argument naming the file on: missing
/// file, bad magic, bad header, truncated data, range beyond the file, image/label count mismatch,
/// label outside 0..9, resolution < 1, channels < 1.
ImageSet load_fashion_mnist(const std::string& dir, const std::string& split, int64_t count,
                            int64_t offset = 0, int resolution = 28, int channels = 1);

/// Bilinear resize of a [C, H, W] tensor to [C, out_h, out_w], bit-exact with PyTorch 1.13's CPU
/// F.interpolate(mode="bilinear", align_corners=False) on float32 (checked against Debian's
/// python3-torch): source coordinate (o + 0.5) * (in / out) - 0.5 (scale in float, index in double),
/// clamped at 0 and at the last row / column; the four weights h_i * w_j are rounded to float and the
/// four products are summed in double and rounded once. No antialiasing when downsampling.
Tensor resize_bilinear(const Tensor& image, int out_h, int out_w);

/// `count` synthetic images of `shape` (any shape, e.g. {3, 64, 64}): every element i.i.d. standard
/// normal N(0, 1) (roughly the statistics of a normalized image), from std::mt19937_64(seed) through
/// Box-Muller; images are generated in order, so the first k images of a set do not depend on count.
/// Deterministic for a seed (mt19937_64 is fully specified; Box-Muller uses libm log/cos/sin).
/// Labels are -1. Throws std::invalid_argument on count < 0 or a non-positive dimension.
ImageSet synthetic_images(int64_t count, const Shape& shape, uint64_t seed);

}  // namespace vitsim::quant
