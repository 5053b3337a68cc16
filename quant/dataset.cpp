#include "quant/dataset.hpp"

#include <zlib.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <limits>
#include <random>
#include <sstream>
#include <stdexcept>

namespace vitsim::quant {

namespace {

constexpr uint32_t kIdxImageMagic = 2051;  // 0x00000803: unsigned byte, 3 dimensions
constexpr uint32_t kIdxLabelMagic = 2049;  // 0x00000801: unsigned byte, 1 dimension
constexpr uint32_t kMaxImageSide = 4096;
constexpr int kMaxResolution = 8192;

[[noreturn]] void fail(const std::string& path, const std::string& what) {
  throw std::invalid_argument(path + ": " + what);
}

/// Sequential reader over a gzip or plain file (zlib's gzread passes plain files through).
class GzReader {
 public:
  explicit GzReader(std::string path) : path_(std::move(path)) {
    file_ = gzopen(path_.c_str(), "rb");
    if (file_ == nullptr) fail(path_, "cannot open the file");
    gzbuffer(file_, 1u << 17);
  }
  ~GzReader() {
    if (file_ != nullptr) gzclose(file_);
  }
  GzReader(const GzReader&) = delete;
  GzReader& operator=(const GzReader&) = delete;

  const std::string& path() const { return path_; }

  /// Reads exactly n bytes; throws "truncated" (naming `what`) when the file ends early.
  void read(unsigned char* dst, uint64_t n, const std::string& what) {
    uint64_t done = 0;
    while (done < n) {
      const uint64_t chunk = std::min<uint64_t>(n - done, uint64_t{1} << 30);
      const int got = gzread(file_, dst + done, static_cast<unsigned>(chunk));
      if (got > 0) done += static_cast<uint64_t>(got);
      if (got <= 0 || static_cast<uint64_t>(got) < chunk) {
        if (done >= n) break;
        int err = Z_OK;
        const char* msg = gzerror(file_, &err);
        std::ostringstream os;
        if (err == Z_DATA_ERROR) {
          os << "corrupt gzip data while reading " << what << " (" << msg << ")";
        } else {
          os << "truncated file: needed " << n << " bytes of " << what << ", got " << done;
          if (err != Z_OK && msg != nullptr && *msg != '\0') os << " (zlib: " << msg << ")";
        }
        fail(path_, os.str());
      }
    }
  }

  /// Skips n bytes (decompressing them), checking the file holds them.
  void skip(uint64_t n, const std::string& what) {
    std::vector<unsigned char> buf(static_cast<size_t>(std::min<uint64_t>(n, uint64_t{1} << 20)));
    uint64_t left = n;
    while (left > 0) {
      const uint64_t chunk = std::min<uint64_t>(left, buf.size());
      read(buf.data(), chunk, what);
      left -= chunk;
    }
  }

  uint32_t read_be32(const std::string& what) {
    unsigned char b[4];
    read(b, 4, what);
    return (uint32_t{b[0]} << 24) | (uint32_t{b[1]} << 16) | (uint32_t{b[2]} << 8) | uint32_t{b[3]};
  }

 private:
  std::string path_;
  gzFile file_ = nullptr;
};

std::string hex32(uint32_t v) {
  std::ostringstream os;
  os << "0x" << std::hex;
  os.width(8);
  os.fill('0');
  os << v;
  return os.str();
}

void check_magic(GzReader& in, uint32_t expected, const char* kind) {
  const uint32_t magic = in.read_be32("the IDX magic number");
  if (magic != expected) {
    fail(in.path(), "bad magic " + std::to_string(magic) + " (" + hex32(magic) + "), expected " +
                        std::to_string(expected) + " (" + hex32(expected) + ") for an IDX " + kind + " file");
  }
}

/// Resolves dir/base.gz, else dir/base; throws naming both when neither exists.
std::string find_idx_file(const std::string& dir, const std::string& base) {
  namespace fs = std::filesystem;
  const fs::path gz = fs::path(dir) / (base + ".gz");
  const fs::path plain = fs::path(dir) / base;
  std::error_code ec;
  if (fs::is_regular_file(gz, ec)) return gz.string();
  if (fs::is_regular_file(plain, ec)) return plain.string();
  std::string hint;
  if (!fs::is_directory(fs::path(dir), ec)) {
    hint = " (directory " + dir +
           " does not exist: install Debian's dataset-fashion-mnist or set VITSIM_FASHION_MNIST_DIR)";
  }
  fail(gz.string(), "missing file (also tried " + plain.string() + ")" + hint);
}

struct AxisWeights {
  std::vector<int64_t> i0, i1;
  std::vector<float> w0, w1;
};

// PyTorch's compute_indices_weights_linear for align_corners=False: the scale is a float, the source
// coordinate is computed in double, the weights are stored as float.
AxisWeights axis_weights(int64_t in, int64_t out) {
  AxisWeights a;
  a.i0.resize(out);
  a.i1.resize(out);
  a.w0.resize(out);
  a.w1.resize(out);
  const float scale = static_cast<float>(in) / static_cast<float>(out);
  for (int64_t o = 0; o < out; ++o) {
    if (in == out) {
      a.i0[o] = a.i1[o] = o;
      a.w0[o] = 1.0f;
      a.w1[o] = 0.0f;
      continue;
    }
    double src = static_cast<double>(scale) * (static_cast<double>(o) + 0.5) - 0.5;
    if (src < 0.0) src = 0.0;
    const int64_t i0 = std::min(static_cast<int64_t>(src), in - 1);
    const double l1 = std::min(std::max(src - static_cast<double>(i0), 0.0), 1.0);
    a.i0[o] = i0;
    a.i1[o] = i0 + (i0 < in - 1 ? 1 : 0);
    a.w0[o] = static_cast<float>(1.0 - l1);
    a.w1[o] = static_cast<float>(l1);
  }
  return a;
}

}  // namespace

std::string default_fashion_mnist_dir() {
  const char* env = std::getenv("VITSIM_FASHION_MNIST_DIR");
  if (env != nullptr && *env != '\0') return env;
  return kFashionMnistDebianDir;
}

Tensor resize_bilinear(const Tensor& image, int out_h, int out_w) {
  if (image.shape.size() != 3) {
    throw std::invalid_argument("resize_bilinear: expected a [C, H, W] tensor, got " +
                                shape_str(image.shape));
  }
  if (out_h < 1 || out_w < 1) {
    throw std::invalid_argument("resize_bilinear: output size " + std::to_string(out_h) + "x" +
                                std::to_string(out_w) + " must be at least 1x1");
  }
  const int64_t c = image.shape[0], h = image.shape[1], w = image.shape[2];
  if (c < 1 || h < 1 || w < 1 || image.size() != c * h * w) {
    throw std::invalid_argument("resize_bilinear: bad input tensor " + shape_str(image.shape));
  }
  const AxisWeights ay = axis_weights(h, out_h);
  const AxisWeights ax = axis_weights(w, out_w);
  Tensor out({c, out_h, out_w});
  float* dst = out.data.data();
  for (int64_t ch = 0; ch < c; ++ch) {
    const float* src = image.data.data() + ch * h * w;
    for (int64_t oy = 0; oy < out_h; ++oy) {
      const float* r0 = src + ay.i0[oy] * w;
      const float* r1 = src + ay.i1[oy] * w;
      const float h0 = ay.w0[oy], h1 = ay.w1[oy];
      for (int64_t ox = 0; ox < out_w; ++ox) {
        const int64_t x0 = ax.i0[ox], x1 = ax.i1[ox];
        const float w00 = h0 * ax.w0[ox], w01 = h0 * ax.w1[ox];
        const float w10 = h1 * ax.w0[ox], w11 = h1 * ax.w1[ox];
        const double s = static_cast<double>(r0[x0]) * static_cast<double>(w00) +
                         static_cast<double>(r0[x1]) * static_cast<double>(w01) +
                         static_cast<double>(r1[x0]) * static_cast<double>(w10) +
                         static_cast<double>(r1[x1]) * static_cast<double>(w11);
        *dst++ = static_cast<float>(s);
      }
    }
  }
  return out;
}

ImageSet load_fashion_mnist(const std::string& dir_arg, const std::string& split, int64_t count,
                            int64_t offset, int resolution, int channels) {
  std::string prefix;
  if (split == "train") {
    prefix = "train";
  } else if (split == "test") {
    prefix = "t10k";
  } else {
    throw std::invalid_argument("load_fashion_mnist: unknown split '" + split +
                                "' (expected \"train\" or \"test\")");
  }
  if (resolution < 1 || resolution > kMaxResolution) {
    throw std::invalid_argument("load_fashion_mnist: resolution " + std::to_string(resolution) +
                                " out of range [1, " + std::to_string(kMaxResolution) + "]");
  }
  if (channels < 1) {
    throw std::invalid_argument("load_fashion_mnist: channels " + std::to_string(channels) + " must be >= 1");
  }
  if (offset < 0) {
    throw std::invalid_argument("load_fashion_mnist: offset " + std::to_string(offset) + " must be >= 0");
  }
  const std::string dir = dir_arg.empty() ? default_fashion_mnist_dir() : dir_arg;
  const std::string image_path = find_idx_file(dir, prefix + "-images-idx3-ubyte");
  const std::string label_path = find_idx_file(dir, prefix + "-labels-idx1-ubyte");

  GzReader images(image_path);
  check_magic(images, kIdxImageMagic, "image");
  const uint32_t n_images = images.read_be32("the image count");
  const uint32_t rows = images.read_be32("the row count");
  const uint32_t cols = images.read_be32("the column count");
  if (n_images > static_cast<uint32_t>(std::numeric_limits<int32_t>::max())) {
    fail(image_path, "implausible image count " + std::to_string(n_images));
  }
  if (rows < 1 || cols < 1 || rows > kMaxImageSide || cols > kMaxImageSide) {
    fail(image_path, "bad image size " + std::to_string(rows) + "x" + std::to_string(cols) +
                         " in the header (each side must be in [1, " + std::to_string(kMaxImageSide) + "])");
  }

  GzReader labels(label_path);
  check_magic(labels, kIdxLabelMagic, "label");
  const uint32_t n_labels = labels.read_be32("the label count");
  if (n_labels != n_images) {
    fail(image_path, "holds " + std::to_string(n_images) + " images but " + label_path + " holds " +
                         std::to_string(n_labels) + " labels");
  }

  const int64_t n = static_cast<int64_t>(n_images);
  if (offset > n) {
    fail(image_path,
         "offset " + std::to_string(offset) + " is beyond the " + std::to_string(n) + " images of the file");
  }
  if (count < 0) count = n - offset;
  if (count > n - offset) {
    fail(image_path, "requested images [" + std::to_string(offset) + ", " + std::to_string(offset + count) +
                         ") but the file holds " + std::to_string(n));
  }

  const uint64_t pixels = uint64_t{rows} * uint64_t{cols};
  images.skip(static_cast<uint64_t>(offset) * pixels, "the skipped images");
  labels.skip(static_cast<uint64_t>(offset), "the skipped labels");
  std::vector<unsigned char> raw(static_cast<size_t>(static_cast<uint64_t>(count) * pixels));
  images.read(raw.data(), raw.size(), "pixel data for " + std::to_string(count) + " images");
  std::vector<unsigned char> raw_labels(static_cast<size_t>(count));
  labels.read(raw_labels.data(), raw_labels.size(), std::to_string(count) + " labels");

  ImageSet set;
  {
    std::ostringstream os;
    os << "fashion-mnist " << split << " [" << offset << ", " << offset + count << ") from " << dir << " at "
       << resolution << "x" << resolution << "x" << channels;
    set.source = os.str();
  }
  set.images.reserve(static_cast<size_t>(count));
  set.labels.reserve(static_cast<size_t>(count));
  const int64_t r = resolution;
  const int64_t plane = r * r;
  for (int64_t i = 0; i < count; ++i) {
    const int label = static_cast<int>(raw_labels[static_cast<size_t>(i)]);
    if (label > 9) {
      fail(label_path,
           "label " + std::to_string(label) + " of image " + std::to_string(offset + i) + " is outside 0..9");
    }
    Tensor grey({1, static_cast<int64_t>(rows), static_cast<int64_t>(cols)});
    const unsigned char* px = raw.data() + static_cast<uint64_t>(i) * pixels;
    for (uint64_t k = 0; k < pixels; ++k) grey.data[k] = static_cast<float>(px[k]) / 255.0f;
    if (static_cast<int64_t>(rows) != r || static_cast<int64_t>(cols) != r) {
      grey = resize_bilinear(grey, resolution, resolution);
    }
    Tensor img({static_cast<int64_t>(channels), r, r});
    for (int64_t k = 0; k < plane; ++k) {
      img.data[k] = (grey.data[k] - kFashionMnistMean) / kFashionMnistStd;
    }
    for (int64_t ch = 1; ch < channels; ++ch) {
      std::copy(img.data.begin(), img.data.begin() + plane, img.data.begin() + ch * plane);
    }
    set.images.push_back(std::move(img));
    set.labels.push_back(label);
  }
  return set;
}

ImageSet synthetic_images(int64_t count, const Shape& shape, uint64_t seed) {
  if (count < 0) {
    throw std::invalid_argument("synthetic_images: count " + std::to_string(count) + " must be >= 0");
  }
  if (shape.empty()) throw std::invalid_argument("synthetic_images: empty shape");
  for (const int64_t d : shape) {
    if (d < 1) {
      throw std::invalid_argument("synthetic_images: shape " + shape_str(shape) +
                                  " has a non-positive dimension");
    }
  }
  std::mt19937_64 rng(seed);
  constexpr double kTwoPi = 6.283185307179586476925286766559;
  auto uniform01 = [&rng]() {  // [0, 1) with 53 random bits
    return static_cast<double>(rng() >> 11) * (1.0 / 9007199254740992.0);
  };
  bool have_spare = false;
  double spare = 0.0;
  auto normal = [&]() {
    if (have_spare) {
      have_spare = false;
      return spare;
    }
    const double u1 = 1.0 - uniform01();  // (0, 1]: log is finite
    const double u2 = uniform01();
    const double radius = std::sqrt(-2.0 * std::log(u1));
    spare = radius * std::sin(kTwoPi * u2);
    have_spare = true;
    return radius * std::cos(kTwoPi * u2);
  };

  ImageSet set;
  set.source = "synthetic N(0,1) " + shape_str(shape) + " seed " + std::to_string(seed);
  set.images.reserve(static_cast<size_t>(count));
  set.labels.assign(static_cast<size_t>(count), -1);
  for (int64_t i = 0; i < count; ++i) {
    Tensor t(shape);
    for (float& v : t.data) v = static_cast<float>(normal());
    set.images.push_back(std::move(t));
  }
  return set;
}

}  // namespace vitsim::quant
