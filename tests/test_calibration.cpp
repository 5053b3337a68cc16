// Range calibrators (minmax, percentile, MSE/Lp search, TensorRT KL), the Observer's sampling, and the
// uniform quantizer helpers (choose_qparams, quantize_value).
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <limits>
#include <random>
#include <vector>

#include "quant/calibration.hpp"

using namespace vitsim::quant;

namespace {

// Portable draws (std::uniform_real_distribution is implementation-defined).
double uniform01(std::mt19937_64& rng) {
  return (static_cast<double>(rng() >> 11) + 0.5) / 9007199254740992.0;
}

std::vector<float> uniform_samples(size_t n, float lo, float hi, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<float> v(n);
  for (float& x : v) x = lo + (hi - lo) * static_cast<float>(uniform01(rng));
  return v;
}

std::vector<float> laplace_samples(size_t n, double b, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<float> v(n);
  for (float& x : v) {
    const double u = uniform01(rng) - 0.5;
    x = static_cast<float>(-b * (u < 0 ? -1.0 : 1.0) * std::log(1.0 - 2.0 * std::fabs(u)));
  }
  return v;
}

// Symmetric Pareto-tailed: |x| = U^(-1/alpha) - 1.
std::vector<float> pareto_samples(size_t n, double alpha, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<float> v(n);
  for (float& x : v) {
    const double u = uniform01(rng);
    const double w = u < 0.5 ? 1.0 - 2.0 * u : 2.0 - 2.0 * u;  // (0, 1]
    x = static_cast<float>((u < 0.5 ? -1.0 : 1.0) * (std::pow(w, -1.0 / alpha) - 1.0));
  }
  return v;
}

Observer observe_all(const std::vector<float>& v, size_t max_samples = Observer::kDefaultMaxSamples) {
  Observer obs(max_samples);
  obs.observe(v);
  return obs;
}

CalibratorSpec spec_of(const std::string& s) {
  return parse_calibrator(s);
}

}  // namespace

TEST_CASE("minmax returns the exact extremes over all observe() calls", "[calibration]") {
  Observer obs;
  CHECK(obs.empty());
  CHECK_THROWS_WITH(compute_range(obs, spec_of("minmax"), 8, true), Catch::Contains("no (finite) values"));
  obs.observe(std::vector<float>{0.5f, -1.25f, 3.0f});
  obs.observe(std::vector<float>{2.0f, std::numeric_limits<float>::quiet_NaN(), -0.75f,
                                 std::numeric_limits<float>::infinity(), 7.5f});
  CHECK(obs.count() == 6);
  CHECK(obs.nonfinite_count() == 2);
  const Range r = compute_range(obs, spec_of("minmax"), 8, true);
  CHECK(r.lo == -1.25f);
  CHECK(r.hi == 7.5f);
  CHECK(obs.abs_max() == 7.5f);
}

TEST_CASE("percentile interpolates linearly between order statistics", "[calibration]") {
  // 1..100 shuffled; numpy.quantile(1..100, 0.99) = 99.01, quantile(0.01) = 1.99.
  std::vector<float> v(100);
  for (int i = 0; i < 100; ++i) v[i] = static_cast<float>(i + 1);
  std::shuffle(v.begin(), v.end(), std::mt19937_64(7));
  const Observer obs = observe_all(v);
  const Range r = compute_range(obs, spec_of("percentile:0.99"), 8, true);
  CHECK(r.lo == Approx(1.99).epsilon(1e-6));
  CHECK(r.hi == Approx(99.01).epsilon(1e-6));
  const Range full = compute_range(obs, spec_of("percentile:1"), 8, true);
  CHECK(full.lo == 1.0f);
  CHECK(full.hi == 100.0f);
  // Default p = 0.9999 on 0..10000: [q_0.0001, q_0.9999] = [1, 9999].
  std::vector<float> w(10001);
  for (int i = 0; i <= 10000; ++i) w[i] = static_cast<float>(i);
  const Range d = compute_range(observe_all(w), spec_of("percentile"), 8, true);
  CHECK(d.lo == Approx(1.0).margin(1e-3));
  CHECK(d.hi == Approx(9999.0).margin(1e-3));
}

TEST_CASE("MSE search keeps ratio 1 for uniform data and clips a few outliers", "[calibration]") {
  const CalibratorSpec mse = spec_of("mse");
  CHECK(mse.lp_norm == 2.4);
  CHECK(mse.search_steps == 80);

  const std::vector<float> uni = uniform_samples(20000, -1.0f, 1.0f, 11);
  const MseSearch s_uni = mse_search(observe_all(uni), mse, 8);
  REQUIRE(s_uni.losses.size() == 80);
  INFO("uniform: loss at ratio 1 " << s_uni.losses[0] << ", at 0.99 " << s_uni.losses[1]);
  CHECK(s_uni.best_ratio == 1.0);
  const Range r_uni = compute_range(observe_all(uni), mse, 8, true);
  CHECK(r_uni.hi == observe_all(uni).max());

  // The same bulk plus one far outlier at 10: clipping it a little pays for the finer step. With
  // p = 2.4 the clipped outlier's error grows fast, so the search only trims (0.99 here).
  std::vector<float> out = uni;
  out.push_back(10.0f);
  const Observer obs = observe_all(out);
  const MseSearch s_out = mse_search(obs, mse, 8);
  const double best_loss = *std::min_element(s_out.losses.begin(), s_out.losses.end());
  INFO("outlier: best ratio " << s_out.best_ratio << ", loss " << best_loss << " vs " << s_out.losses[0]
                              << " at ratio 1");
  CHECK(s_out.best_ratio < 1.0);
  CHECK(s_out.best_ratio > 0.9);
  CHECK(best_loss < 0.99 * s_out.losses[0]);
  const Range r_out = compute_range(obs, mse, 8, true);
  CHECK(r_out.hi == Approx(s_out.best_ratio * 10.0).epsilon(1e-6));
  CHECK(r_out.lo == Approx(s_out.best_ratio * obs.min()).epsilon(1e-6));

  // Heavy tails at 4 bits clip far more (0.6 for this Laplace sample).
  const MseSearch s_lap = mse_search(observe_all(laplace_samples(20000, 1.0, 5)), mse, 4);
  INFO("laplace 4-bit best ratio " << s_lap.best_ratio);
  CHECK(s_lap.best_ratio < 0.7);
  CHECK(s_lap.best_ratio > 0.4);
}

TEST_CASE("KL (TensorRT entropy) clips heavy tails and keeps uniform data", "[calibration]") {
  const CalibratorSpec kl = spec_of("kl");

  // Laplace(b = 1), 8 bits: a threshold near 9 b (ACIQ's optimal 8-bit clip is 9.89 b), below max |x|.
  const Observer lap = observe_all(laplace_samples(50000, 1.0, 3));
  const Range r_lap = compute_range(lap, kl, 8, true);
  INFO("laplace: threshold " << r_lap.hi << " of max |x| " << lap.abs_max());
  CHECK(r_lap.lo == -r_lap.hi);
  CHECK(r_lap.hi < 0.9f * lap.abs_max());
  CHECK(r_lap.hi > 7.0f);
  CHECK(r_lap.hi < 11.0f);
  // Symmetric Pareto tails (alpha = 3, max |x| ~ 40): cut far below the max.
  const Observer par = observe_all(pareto_samples(50000, 3.0, 3));
  const Range r_par = compute_range(par, kl, 8, true);
  INFO("pareto: threshold " << r_par.hi << " of max |x| " << par.abs_max());
  CHECK(r_par.hi < 0.5f * par.abs_max());

  const Observer uni = observe_all(uniform_samples(50000, -1.0f, 1.0f, 4));
  const Range r_uni = compute_range(uni, kl, 8, true);
  INFO("uniform: threshold " << r_uni.hi << " of max |x| " << uni.abs_max());
  CHECK(r_uni.hi > 0.95f * uni.abs_max());
  CHECK(r_uni.hi <= uni.abs_max());

  // A non-negative tensor gets [0, t].
  const Observer pos = observe_all(uniform_samples(20000, 0.0f, 3.0f, 9));
  const Range r_pos = compute_range(pos, kl, 8, false);
  CHECK(r_pos.lo == 0.0f);
  CHECK(r_pos.hi > 0.95f * pos.max());

  // The search itself on hand-made histograms: flat -> keep every bin; a bulk in the first 200 bins
  // and one stray count at the top -> cut near the bulk.
  CHECK(kl_threshold_bin(std::vector<double>(2048, 10.0), 128) == 2048);
  std::vector<double> spiky(2048, 0.0);
  for (int k = 0; k < 200; ++k) spiky[k] = 1000.0 - 4.0 * k;
  spiky[2047] = 1.0;
  const size_t cut = kl_threshold_bin(spiky, 128);
  INFO("spiky histogram cut at bin " << cut);
  CHECK(cut >= 200);  // the whole bulk
  CHECK(cut < 512);   // not the stray count
  CHECK_THROWS_AS(kl_threshold_bin(std::vector<double>(100, 1.0), 128), std::invalid_argument);
  CHECK_THROWS_WITH(compute_range(pos, kl, 16, true), Catch::Contains("2048 histogram bins"));
}

TEST_CASE("Observer keeps exact samples up to its cap, then a seeded uniform reservoir", "[calibration]") {
  std::vector<float> v(100000);
  for (size_t i = 0; i < v.size(); ++i) v[i] = static_cast<float>(i);
  Observer whole(1000, 17), split(1000, 17);
  whole.observe(v);
  split.observe(v.data(), 123);
  split.observe(v.data() + 123, v.size() - 123);
  CHECK_FALSE(whole.exact());
  CHECK(whole.count() == 100000);
  CHECK(whole.samples().size() == 1000);
  CHECK(whole.min() == 0.0f);
  CHECK(whole.max() == 99999.0f);
  CHECK(whole.samples() == split.samples());  // independent of how the batch is cut
  double mean = 0.0;
  size_t late = 0;
  for (const float x : whole.samples()) {
    mean += x;
    late += (x >= 50000.0f) ? 1 : 0;
  }
  mean /= 1000.0;
  INFO("reservoir mean " << mean << ", " << late << " of 1000 from the second half");
  CHECK(std::fabs(mean - 49999.5) < 4000.0);  // standard error ~913
  CHECK(late > 400);
  CHECK(late < 600);

  const Observer small = observe_all({3.0f, 1.0f, 2.0f}, 8);
  CHECK(small.exact());
  CHECK(small.samples() == std::vector<float>{3.0f, 1.0f, 2.0f});
}

TEST_CASE("Calibrator names parse with clear errors", "[calibration]") {
  CHECK(parse_calibrator("minmax").method == "minmax");
  CHECK(parse_calibrator("kl").method == "kl");
  CHECK(parse_calibrator("percentile").percentile == 0.9999);
  CHECK(parse_calibrator("percentile:0.999").percentile == 0.999);
  CHECK(parse_calibrator("mse:2").lp_norm == 2.0);
  CHECK_THROWS_WITH(parse_calibrator("entropy"), Catch::Contains("unknown calibrator 'entropy'") &&
                                                     Catch::Contains("minmax, percentile, mse, kl"));
  CHECK_THROWS_WITH(parse_calibrator("percentile:abc"), Catch::Contains("not a number"));
  CHECK_THROWS_WITH(parse_calibrator("percentile:0.3"), Catch::Contains("[0.5, 1]"));
  CHECK_THROWS_WITH(parse_calibrator("kl:3"), Catch::Contains("takes no parameter"));
  CHECK_THROWS_WITH(parse_calibrator("mse:-1"), Catch::Contains("lp_norm"));
  CalibratorSpec bad;
  bad.method = "mse";
  bad.search_steps = 101;
  CHECK_THROWS_WITH(compute_range(observe_all({1.0f, 2.0f}), bad, 8, true), Catch::Contains("search_steps"));
  bad.method = "MinMax";
  CHECK_THROWS_WITH(compute_range(observe_all({1.0f}), bad, 8, true),
                    Catch::Contains("unknown calibrator 'MinMax'"));
}

TEST_CASE("choose_qparams makes 0 exact and handles one-sided and degenerate ranges", "[calibration]") {
  const QuantParams sym = choose_qparams({-1.0f, 0.5f}, 8, true);
  CHECK(sym.is_signed);
  CHECK(sym.zero_point == 0);
  CHECK(sym.scale == static_cast<float>(1.0 / 127.0));
  CHECK(quantize_value(-1.0f, sym) == -127);
  CHECK(quantize_value(0.25f, sym) == 32);  // 31.75

  const QuantParams asym = choose_qparams({-1.0f, 3.0f}, 8, false);
  CHECK_FALSE(asym.is_signed);
  CHECK(asym.scale == static_cast<float>(4.0 / 255.0));
  CHECK(asym.zero_point == 64);  // round(63.75)
  CHECK(quantize_value(0.0f, asym) == 64);
  CHECK(dequantize_value(quantize_value(0.0f, asym), asym) == 0.0f);
  CHECK(quantize_value(3.0f, asym) == 255);
  CHECK(quantize_value(-1.0f, asym) == 0);

  const QuantParams pos = choose_qparams({2.0f, 5.0f}, 8, false);  // extended to [0, 5]
  CHECK(pos.zero_point == 0);
  CHECK(pos.scale == static_cast<float>(5.0 / 255.0));
  const QuantParams neg = choose_qparams({-4.0f, -1.0f}, 8, false);  // extended to [-4, 0]
  CHECK(neg.zero_point == 255);
  CHECK(dequantize_value(quantize_value(0.0f, neg), neg) == 0.0f);

  for (const Range r : {Range{-0.37f, 2.91f}, Range{-123.4f, 0.01f}, Range{-1e-3f, 7e-4f}}) {
    for (const bool symmetric : {false, true}) {
      const QuantParams qp = choose_qparams(r, 8, symmetric);
      INFO("range [" << r.lo << ", " << r.hi << "] symmetric " << symmetric << ": scale " << qp.scale
                     << " zero point " << qp.zero_point);
      CHECK(dequantize_value(quantize_value(0.0f, qp), qp) == 0.0f);
    }
  }

  for (const bool symmetric : {false, true}) {
    const QuantParams zero = choose_qparams({0.0f, 0.0f}, 8, symmetric);
    CHECK(zero.scale == 1.0f);
    CHECK(quantize_value(0.0f, zero) == zero.zero_point);
  }
  const QuantParams same = choose_qparams({3.0f, 3.0f}, 8, true);
  CHECK(same.scale == static_cast<float>(3.0 / 127.0));
  const QuantParams tiny = choose_qparams({0.0f, 1e-42f}, 8, true);  // scale would be subnormal
  CHECK(tiny.scale == 1.0f);

  CHECK_THROWS_WITH(choose_qparams({1.0f, -1.0f}, 8, true), Catch::Contains("lo > hi"));
  CHECK_THROWS_WITH(choose_qparams({0.0f, std::numeric_limits<float>::infinity()}, 8, true),
                    Catch::Contains("non-finite"));
  CHECK_THROWS_AS(choose_qparams({-1.0f, 1.0f}, 1, true), std::invalid_argument);
  CHECK_THROWS_AS(choose_qparams({-1.0f, 1.0f}, 32, false), std::invalid_argument);
}

TEST_CASE("quantize_value rounds half to even and saturates", "[calibration]") {
  QuantParams unit;
  unit.scale = 1.0f;
  unit.zero_point = 0;
  unit.bits = 8;
  unit.is_signed = true;
  CHECK(quantize_value(0.5f, unit) == 0);
  CHECK(quantize_value(1.5f, unit) == 2);
  CHECK(quantize_value(2.5f, unit) == 2);
  CHECK(quantize_value(-0.5f, unit) == 0);
  CHECK(quantize_value(-2.5f, unit) == -2);
  CHECK(quantize_value(-3.5f, unit) == -4);
  CHECK(quantize_value(2.5000002f, unit) == 3);
  CHECK(quantize_value(127.4f, unit) == 127);
  CHECK(quantize_value(1000.0f, unit) == 127);
  CHECK(quantize_value(-1000.0f, unit) == -128);
  CHECK(quantize_value(std::numeric_limits<float>::infinity(), unit) == 127);
  CHECK(quantize_value(-std::numeric_limits<float>::infinity(), unit) == -128);
  CHECK(quantize_value(std::numeric_limits<float>::quiet_NaN(), unit) == 0);
  CHECK(quantize_value(100.0f, unit, 4) == 7);  // the bits argument sets the range
  CHECK(quantize_value(-100.0f, unit, 4) == -8);
  CHECK(quantize_value(3e9f, unit, 32) == std::numeric_limits<int32_t>::max());
  CHECK(quantize_value(-3e9f, unit, 32) == std::numeric_limits<int32_t>::min());

  QuantParams u8 = unit;
  u8.is_signed = false;
  u8.zero_point = 10;
  CHECK(quantize_value(-1000.0f, u8) == 0);
  CHECK(quantize_value(1000.0f, u8) == 255);
  CHECK(quantize_value(-9.5f, u8) == 0);  // -9.5 -> -10 (even), + 10
  CHECK(quantize_value(0.5f, u8) == 10);
  CHECK(dequantize_value(12, u8) == 2.0f);

  QuantParams broken = unit;
  broken.scale = 0.0f;
  CHECK_THROWS_WITH(quantize_value(1.0f, broken), Catch::Contains("scale"));
}
