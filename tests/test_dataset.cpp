// Fashion-MNIST IDX loading (on small IDX files written here), PyTorch-exact bilinear resizing,
// the synthetic generator, and, when Debian's dataset-fashion-mnist is installed, the real test split.
#include <catch2/catch.hpp>

#include <zlib.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "quant/dataset.hpp"
#include "tests/test_support.hpp"

using namespace vitsim::quant;
namespace fs = std::filesystem;
using vitsim::test::TempDir;

namespace {

void put_be32(std::vector<unsigned char>& out, uint32_t v) {
  out.push_back(static_cast<unsigned char>(v >> 24));
  out.push_back(static_cast<unsigned char>(v >> 16));
  out.push_back(static_cast<unsigned char>(v >> 8));
  out.push_back(static_cast<unsigned char>(v));
}

std::vector<unsigned char> idx_images(uint32_t magic, uint32_t n, uint32_t rows, uint32_t cols,
                                      const std::vector<unsigned char>& pixels) {
  std::vector<unsigned char> out;
  put_be32(out, magic);
  put_be32(out, n);
  put_be32(out, rows);
  put_be32(out, cols);
  out.insert(out.end(), pixels.begin(), pixels.end());
  return out;
}

std::vector<unsigned char> idx_labels(uint32_t magic, const std::vector<unsigned char>& labels,
                                      uint32_t n_header) {
  std::vector<unsigned char> out;
  put_be32(out, magic);
  put_be32(out, n_header);
  out.insert(out.end(), labels.begin(), labels.end());
  return out;
}

void write_plain(const std::string& path, const std::vector<unsigned char>& bytes) {
  std::ofstream f(path, std::ios::binary);
  f.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  REQUIRE(f.good());
}

void write_gz(const std::string& path, const std::vector<unsigned char>& bytes) {
  gzFile f = gzopen(path.c_str(), "wb");
  REQUIRE(f != nullptr);
  REQUIRE(gzwrite(f, bytes.data(), static_cast<unsigned>(bytes.size())) == static_cast<int>(bytes.size()));
  REQUIRE(gzclose(f) == Z_OK);
}

std::vector<unsigned char> read_all(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::vector<unsigned char>((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
}

// Three 4x4 images: pixel k of image i is 16 * i + k * 5 (distinct, < 256); labels 9, 2, 1.
constexpr uint32_t kN = 3, kSide = 4;
std::vector<unsigned char> test_pixels() {
  std::vector<unsigned char> px;
  for (uint32_t i = 0; i < kN; ++i) {
    for (uint32_t k = 0; k < kSide * kSide; ++k) px.push_back(static_cast<unsigned char>(16 * i + 5 * k));
  }
  return px;
}
const std::vector<unsigned char> kLabels = {9, 2, 1};

void write_test_split(const TempDir& dir, bool gz) {
  const auto images = idx_images(2051, kN, kSide, kSide, test_pixels());
  const auto labels = idx_labels(2049, kLabels, kN);
  if (gz) {
    write_gz(dir.file("t10k-images-idx3-ubyte.gz"), images);
    write_gz(dir.file("t10k-labels-idx1-ubyte.gz"), labels);
  } else {
    write_plain(dir.file("t10k-images-idx3-ubyte"), images);
    write_plain(dir.file("t10k-labels-idx1-ubyte"), labels);
  }
}

float normalized(int pixel) {
  return (static_cast<float>(pixel) / 255.0f - kFashionMnistMean) / kFashionMnistStd;
}

Tensor from_rows(const std::vector<std::vector<float>>& rows) {
  Tensor t({1, static_cast<int64_t>(rows.size()), static_cast<int64_t>(rows[0].size())});
  size_t k = 0;
  for (const auto& r : rows) {
    for (const float v : r) t.data[k++] = v;
  }
  return t;
}

void check_equal(const Tensor& got, const std::vector<float>& want) {
  REQUIRE(got.data.size() == want.size());
  for (size_t k = 0; k < want.size(); ++k) {
    INFO("element " << k << ": got " << got.data[k] << ", want " << want[k]);
    CHECK(got.data[k] == want[k]);
  }
}

}  // namespace

TEST_CASE("Bilinear 2x2 -> 4x4 upsampling follows the half-pixel weights 1, 3/4, 1/4, 0", "[dataset]") {
  // Per axis (scale 1/2): output 0 -> source -0.25, clamped to 0: (1, 0); output 1 -> 0.25: (3/4, 1/4);
  // output 2 -> 0.75: (1/4, 3/4); output 3 -> 1.25, clamped at the last pixel: (0, 1).
  // [[a, b], [c, d]] = [[0, 4], [8, 16]]: rows first, [a, b] -> [a, 3a/4 + b/4, a/4 + 3b/4, b].
  const Tensor in = from_rows({{0, 4}, {8, 16}});
  const Tensor out = resize_bilinear(in, 4, 4);
  REQUIRE(out.shape == Shape{1, 4, 4});
  check_equal(out, {0, 1, 3, 4,            // row a, b
                    2, 3.25f, 5.75f, 7,    // 3/4 (a, b) + 1/4 (c, d) = (2, 7)
                    6, 7.75f, 11.25f, 13,  // 1/4 (a, b) + 3/4 (c, d) = (6, 13)
                    8, 10, 14, 16});       // row c, d
}

TEST_CASE("Bilinear downsampling takes the two nearest source pixels, without antialiasing", "[dataset]") {
  // 4 -> 2: scale 2, output 0 -> source 0.5 (mean of pixels 0, 1), output 1 -> 2.5 (mean of 2, 3).
  const Tensor in = from_rows({{0, 2, 10, 30}});
  check_equal(resize_bilinear(in, 1, 2), {1, 20});
  // Same size is the identity; several channels are resized independently.
  Tensor multi({2, 2, 3});
  for (size_t k = 0; k < multi.data.size(); ++k) multi.data[k] = static_cast<float>(k) * 0.37f - 1.0f;
  check_equal(resize_bilinear(multi, 2, 3), multi.data);
  const Tensor up = resize_bilinear(multi, 4, 6);
  REQUIRE(up.shape == Shape{2, 4, 6});
  CHECK(up.data[24] == multi.data[6]);  // channel 1, corner (0, 0) is the source corner
  CHECK(up.data[47] == multi.data[11]);
  CHECK_THROWS_AS(resize_bilinear(multi, 0, 4), std::invalid_argument);
  CHECK_THROWS_AS(resize_bilinear(Tensor({4, 4}), 2, 2), std::invalid_argument);
}

TEST_CASE("Bilinear resizing is bit-exact with PyTorch 1.13 F.interpolate", "[dataset]") {
  // Reference values printed by Debian's python3-torch 1.13 (CPU):
  //   F.interpolate(x, size=(5, 4), mode="bilinear", align_corners=False)
  const Tensor in = from_rows({{1, 2, 4}, {8, 16, 32}, {64, 128, 256}});
  const std::vector<double> ref = {1.0,
                                   1.625,
                                   2.75,
                                   4.0,
                                   3.8000001907348633,
                                   6.1750006675720215,
                                   10.450000762939453,
                                   15.200000762939453,
                                   8.000003814697266,
                                   13.000004768371582,
                                   22.00000762939453,
                                   32.0000114440918,
                                   41.600006103515625,
                                   67.60000610351562,
                                   114.40000915527344,
                                   166.4000244140625,
                                   64.0,
                                   104.0,
                                   176.0,
                                   256.0};
  std::vector<float> want;
  for (const double v : ref) want.push_back(static_cast<float>(v));
  check_equal(resize_bilinear(in, 5, 4), want);

  // 28 -> 64 (the model's input size) on the pattern (37 k mod 256) / 255.
  Tensor pattern({1, 28, 28});
  for (int k = 0; k < 28 * 28; ++k) pattern.data[k] = static_cast<float>((k * 37) % 256) / 255.0f;
  const Tensor big = resize_bilinear(pattern, 64, 64);
  const std::vector<std::pair<int, double>> probes = {{0, 0.0},
                                                      {1, 0.022671569138765335},
                                                      {2, 0.08615196496248245},
                                                      {65, 0.030024511739611626},
                                                      {777, 0.7643382549285889},
                                                      {2049, 0.6682597994804382},
                                                      {4095, 0.16862745583057404}};
  for (const auto& [k, v] : probes) {
    INFO("28->64 element " << k);
    CHECK(big.data[k] == static_cast<float>(v));
  }
}

TEST_CASE("IDX files are parsed, normalized, resized and replicated", "[dataset]") {
  for (const bool gz : {false, true}) {
    INFO((gz ? "gzip" : "plain") << " IDX files");
    TempDir dir("dataset", gz ? "gz" : "plain");
    write_test_split(dir, gz);

    const ImageSet all = load_fashion_mnist(dir.path.string(), "test", -1, 0, 4, 3);
    REQUIRE(all.images.size() == 3);
    CHECK(all.labels == std::vector<int>{9, 2, 1});
    CHECK_THAT(all.source, Catch::Contains("test") && Catch::Contains(dir.path.string()));
    const Tensor& img = all.images[1];
    REQUIRE(img.shape == Shape{3, 4, 4});
    for (int ch = 0; ch < 3; ++ch) {
      for (int k = 0; k < 16; ++k) {
        INFO("channel " << ch << " pixel " << k);
        CHECK(img.data[ch * 16 + k] == normalized(16 + 5 * k));
      }
    }

    const ImageSet slice = load_fashion_mnist(dir.path.string(), "test", 2, 1, 4, 1);
    CHECK(slice.labels == std::vector<int>{2, 1});
    CHECK(std::vector<float>(slice.images[0].data) ==
          std::vector<float>(all.images[1].data.begin(), all.images[1].data.begin() + 16));
    CHECK(load_fashion_mnist(dir.path.string(), "test", 0, 3, 4, 1).images.empty());

    // Resizing happens on pixel / 255 before normalization.
    const ImageSet up = load_fashion_mnist(dir.path.string(), "test", 1, 2, 8, 1);
    REQUIRE(up.images[0].shape == Shape{1, 8, 8});
    Tensor grey({1, 4, 4});
    for (int k = 0; k < 16; ++k) grey.data[k] = static_cast<float>(32 + 5 * k) / 255.0f;
    const Tensor resized = resize_bilinear(grey, 8, 8);
    for (int k = 0; k < 64; ++k) {
      INFO("resized pixel " << k);
      CHECK(up.images[0].data[k] == (resized.data[k] - kFashionMnistMean) / kFashionMnistStd);
    }
  }
}

TEST_CASE("Bad IDX files and arguments throw with the file name and the problem", "[dataset]") {
  using Catch::Contains;
  TempDir dir("dataset", "bad");
  const std::string d = dir.path.string();
  const std::string images = dir.file("t10k-images-idx3-ubyte");
  const std::string labels = dir.file("t10k-labels-idx1-ubyte");

  SECTION("missing directory or file") {
    CHECK_THROWS_WITH(
        load_fashion_mnist(d + "/nope", "test", 1, 0, 28, 1),
        Contains("t10k-images-idx3-ubyte") && Contains("missing") && Contains("does not exist"));
    write_plain(images, idx_images(2051, kN, kSide, kSide, test_pixels()));
    CHECK_THROWS_WITH(load_fashion_mnist(d, "test", 1, 0, 28, 1),
                      Contains("t10k-labels-idx1-ubyte") && Contains("missing"));
  }
  SECTION("bad magic") {
    write_plain(images, idx_images(2049, kN, kSide, kSide, test_pixels()));
    write_plain(labels, idx_labels(2049, kLabels, kN));
    CHECK_THROWS_WITH(load_fashion_mnist(d, "test", 1, 0, 4, 1),
                      Contains(images) && Contains("bad magic 2049") && Contains("2051"));
    write_plain(images, idx_images(2051, kN, kSide, kSide, test_pixels()));
    write_plain(labels, idx_labels(2051, kLabels, kN));
    CHECK_THROWS_WITH(load_fashion_mnist(d, "test", 1, 0, 4, 1), Contains(labels) && Contains("bad magic"));
  }
  SECTION("truncated files") {
    auto px = test_pixels();
    px.resize(px.size() - 7);  // the header still says 3 images
    write_plain(images, idx_images(2051, kN, kSide, kSide, px));
    write_plain(labels, idx_labels(2049, kLabels, kN));
    CHECK_NOTHROW(load_fashion_mnist(d, "test", 2, 0, 4, 1));  // the first two are complete
    CHECK_THROWS_WITH(load_fashion_mnist(d, "test", 3, 0, 4, 1), Contains(images) && Contains("truncated"));
    write_plain(images, {0, 0, 8});  // shorter than the magic number
    CHECK_THROWS_WITH(load_fashion_mnist(d, "test", 1, 0, 4, 1), Contains(images) && Contains("truncated"));
    // A gzip stream cut in the middle.
    fs::remove(images);
    std::vector<unsigned char> big(4000);
    for (size_t k = 0; k < big.size(); ++k) big[k] = static_cast<unsigned char>((k * 7919) % 251);
    write_gz(images + ".gz", idx_images(2051, 250, kSide, kSide, big));
    write_plain(labels, idx_labels(2049, std::vector<unsigned char>(250, 3), 250));
    auto gz = read_all(images + ".gz");
    REQUIRE(gz.size() > 200);
    gz.resize(gz.size() / 2);
    write_plain(images + ".gz", gz);
    CHECK_THROWS_WITH(load_fashion_mnist(d, "test", 250, 0, 4, 1), Contains(images + ".gz"));
  }
  SECTION("ranges, counts and arguments") {
    write_plain(images, idx_images(2051, kN, kSide, kSide, test_pixels()));
    write_plain(labels, idx_labels(2049, kLabels, kN));
    CHECK_THROWS_WITH(load_fashion_mnist(d, "test", 4, 0, 4, 1),
                      Contains(images) && Contains("[0, 4)") && Contains("holds 3"));
    CHECK_THROWS_WITH(load_fashion_mnist(d, "test", 1, 3, 4, 1), Contains("[3, 4)"));
    CHECK_THROWS_WITH(load_fashion_mnist(d, "test", 1, 0, 0, 1), Contains("resolution 0"));
    CHECK_THROWS_WITH(load_fashion_mnist(d, "test", 1, 0, 4, 0), Contains("channels 0"));
    CHECK_THROWS_WITH(load_fashion_mnist(d, "valid", 1, 0, 4, 1), Contains("unknown split 'valid'"));
    CHECK_THROWS_WITH(load_fashion_mnist(d, "test", 1, -1, 4, 1), Contains("offset -1"));
    write_plain(labels, idx_labels(2049, {9, 2}, 2));
    CHECK_THROWS_WITH(load_fashion_mnist(d, "test", 1, 0, 4, 1),
                      Contains(images) && Contains(labels) && Contains("3 images") && Contains("2 labels"));
    write_plain(labels, idx_labels(2049, {9, 12, 1}, 3));
    CHECK_THROWS_WITH(load_fashion_mnist(d, "test", 3, 0, 4, 1), Contains(labels) && Contains("label 12"));
    write_plain(images, idx_images(2051, kN, 0, kSide, {}));
    CHECK_THROWS_WITH(load_fashion_mnist(d, "test", 1, 0, 4, 1), Contains(images) && Contains("image size"));
  }
}

TEST_CASE("Debian's Fashion-MNIST test split loads with its known first labels", "[dataset]") {
  const std::string dir = default_fashion_mnist_dir();
  if (!fs::exists(fs::path(dir) / "t10k-labels-idx1-ubyte.gz") &&
      !fs::exists(fs::path(dir) / "t10k-labels-idx1-ubyte")) {
    WARN("SKIPPED: Fashion-MNIST not found in " << dir
                                                << " (apt-get install dataset-fashion-mnist, or set "
                                                   "VITSIM_FASHION_MNIST_DIR)");
    return;
  }
  const ImageSet set = load_fashion_mnist("", "test", 4, 0, 28, 1);
  REQUIRE(set.images.size() == 4);
  CHECK(set.labels[0] == 9);  // ankle boot
  CHECK(set.labels[1] == 2);  // pullover
  const Tensor& boot = set.images[0];
  REQUIRE(boot.shape == Shape{1, 28, 28});
  float lo = boot.data[0], hi = boot.data[0];
  for (const float v : boot.data) {
    lo = std::min(lo, v);
    hi = std::max(hi, v);
  }
  CHECK(lo == normalized(0));  // black background
  CHECK(hi > 1.5f);            // bright pixels, up to normalized(255) ~ 2.02
  CHECK(hi <= normalized(255));

  const ImageSet model_input = load_fashion_mnist("", "test", 2, 0, 64, 3);
  CHECK(model_input.images[1].shape == Shape{3, 64, 64});
  CHECK(model_input.labels == std::vector<int>{9, 2});
  CHECK_THROWS_WITH(load_fashion_mnist("", "test", 2, 9999, 28, 1), Catch::Contains("holds 10000"));
}

TEST_CASE("Synthetic images are seeded N(0, 1) and prefix-stable", "[dataset]") {
  const ImageSet a = synthetic_images(4, {3, 16, 16}, 42);
  const ImageSet b = synthetic_images(2, {3, 16, 16}, 42);
  const ImageSet c = synthetic_images(4, {3, 16, 16}, 43);
  REQUIRE(a.images.size() == 4);
  CHECK(a.labels == std::vector<int>(4, -1));
  CHECK(a.images[0].shape == Shape{3, 16, 16});
  CHECK(a.images[1].data == b.images[1].data);
  CHECK(a.images[0].data != c.images[0].data);
  double sum = 0.0, sq = 0.0, n = 0.0;
  for (const Tensor& t : a.images) {
    for (const float v : t.data) {
      sum += v;
      sq += static_cast<double>(v) * v;
      n += 1.0;
    }
  }
  const double mean = sum / n, var = sq / n - mean * mean;
  INFO("mean " << mean << " variance " << var << " over " << n << " values");
  CHECK(std::fabs(mean) < 0.06);  // 3072 values: standard error ~0.018
  CHECK(std::fabs(var - 1.0) < 0.1);
  CHECK(synthetic_images(0, {3}, 1).images.empty());
  CHECK_THROWS_AS(synthetic_images(-1, {3}, 1), std::invalid_argument);
  CHECK_THROWS_AS(synthetic_images(1, {3, 0}, 1), std::invalid_argument);
}
