#include "quant/calibration.hpp"

#include <thread>

#include <algorithm>
#include <cmath>
#include <limits>
#include <sstream>
#include <stdexcept>

namespace vitsim::quant {

namespace {

constexpr int kKlBins = 2048;
constexpr const char* kMethods = "minmax, percentile, mse, kl";

[[noreturn]] void bad(const std::string& what) {
  throw std::invalid_argument(what);
}

void validate_spec(const CalibratorSpec& spec) {
  if (spec.method != "minmax" && spec.method != "percentile" && spec.method != "mse" && spec.method != "kl") {
    bad("unknown calibrator '" + spec.method + "' (valid: " + kMethods + ")");
  }
  if (!(spec.percentile >= 0.5 && spec.percentile <= 1.0)) {
    bad("calibrator percentile " + std::to_string(spec.percentile) + " must be in [0.5, 1]");
  }
  if (!(spec.lp_norm > 0.0) || !std::isfinite(spec.lp_norm)) {
    bad("calibrator lp_norm " + std::to_string(spec.lp_norm) + " must be a positive number");
  }
  if (spec.search_steps < 1 || spec.search_steps > 100) {
    bad("calibrator search_steps " + std::to_string(spec.search_steps) +
        " must be in [1, 100] (ratios 1 - 0.01 i stay positive)");
  }
}

/// Quantile q of v (v is reordered), numpy "linear" interpolation.
double quantile(std::vector<float>& v, double q) {
  const double pos = q * static_cast<double>(v.size() - 1);
  const size_t k = static_cast<size_t>(std::floor(pos));
  const double frac = pos - static_cast<double>(k);
  std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(k), v.end());
  const double a = v[k];
  if (frac <= 0.0 || k + 1 >= v.size()) return a;
  const double b = *std::min_element(v.begin() + static_cast<std::ptrdiff_t>(k) + 1, v.end());
  return a + frac * (b - a);
}

/// MXNet / TVM _smooth_distribution: moves eps onto every zero bin, taking it evenly from the
/// non-zero bins. Returns false if there is no non-zero bin or a bin would become non-positive.
bool smooth(std::vector<double>& d, double eps = 1e-4) {
  size_t zeros = 0;
  for (const double v : d) zeros += (v == 0.0) ? 1 : 0;
  const size_t nonzeros = d.size() - zeros;
  if (nonzeros == 0) return false;
  if (zeros == 0) return true;
  const double eps1 = eps * static_cast<double>(zeros) / static_cast<double>(nonzeros);
  for (double& v : d) {
    v = (v == 0.0) ? eps : v - eps1;
    if (!(v > 0.0)) return false;
  }
  return true;
}

double kl_divergence(const std::vector<double>& p, const std::vector<double>& q) {
  double ps = 0.0, qs = 0.0;
  for (size_t k = 0; k < p.size(); ++k) {
    ps += p[k];
    qs += q[k];
  }
  double kl = 0.0;
  for (size_t k = 0; k < p.size(); ++k) {
    const double pn = p[k] / ps;
    if (pn > 0.0) kl += pn * std::log(pn / (q[k] / qs));
  }
  return kl;
}

void check_bits(int bits) {
  if (bits < 2 || bits > 16) bad("calibration bits " + std::to_string(bits) + " outside [2, 16]");
}

}  // namespace

// ---------------------------------------------------------------------------------------------------
// CalibratorSpec

CalibratorSpec parse_calibrator(const std::string& text) {
  CalibratorSpec spec;
  const size_t colon = text.find(':');
  spec.method = text.substr(0, colon);
  if (spec.method != "minmax" && spec.method != "percentile" && spec.method != "mse" && spec.method != "kl") {
    bad("unknown calibrator '" + text + "' (valid: " + kMethods +
        "; percentile and mse take a parameter, e.g. percentile:0.999, mse:2.4)");
  }
  if (colon != std::string::npos) {
    const std::string arg = text.substr(colon + 1);
    if (spec.method == "minmax" || spec.method == "kl") {
      bad("calibrator '" + spec.method + "' takes no parameter (got '" + text + "')");
    }
    double value = 0.0;
    size_t used = 0;
    try {
      value = std::stod(arg, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (arg.empty() || used != arg.size()) {
      bad("calibrator '" + text + "': parameter '" + arg + "' is not a number");
    }
    if (spec.method == "percentile") {
      spec.percentile = value;
    } else {
      spec.lp_norm = value;
    }
  }
  validate_spec(spec);
  return spec;
}

// ---------------------------------------------------------------------------------------------------
// Observer

Observer::Observer(size_t max_samples, uint64_t seed) : max_samples_(max_samples), rng_(seed) {}

float Observer::abs_max() const {
  return std::max(std::fabs(min_), std::fabs(max_));
}

double Observer::uniform01() {
  return (static_cast<double>(rng_() >> 11) + 0.5) * (1.0 / 9007199254740992.0);
}

// Algorithm L (Li 1994): the gap to the next value entering the reservoir is geometric.
void Observer::advance_skip(uint64_t last_pick) {
  const double gap = std::floor(std::log(uniform01()) / std::log1p(-w_));
  const double capped = std::min(std::max(gap, 0.0), 4.0e18);
  next_pick_ = last_pick + static_cast<uint64_t>(capped) + 1;
}

void Observer::observe(const float* data, size_t n) {
  const double k = static_cast<double>(max_samples_);
  for (size_t idx = 0; idx < n; ++idx) {
    const float x = data[idx];
    if (!std::isfinite(x)) {
      ++nonfinite_;
      continue;
    }
    if (count_ == 0) {
      min_ = max_ = x;
    } else {
      min_ = std::min(min_, x);
      max_ = std::max(max_, x);
    }
    if (count_ < max_samples_) {
      samples_.push_back(x);
      if (count_ + 1 == max_samples_) {
        w_ = std::exp(std::log(uniform01()) / k);
        advance_skip(count_);
      }
    } else if (max_samples_ > 0 && count_ == next_pick_) {
      const uint64_t slot = rng_() % static_cast<uint64_t>(max_samples_);
      samples_[static_cast<size_t>(slot)] = x;
      w_ *= std::exp(std::log(uniform01()) / k);
      advance_skip(count_);
    }
    ++count_;
  }
}

// ---------------------------------------------------------------------------------------------------
// Range computation

MseSearch mse_search(const Observer& obs, const CalibratorSpec& spec, int bits) {
  validate_spec(spec);
  check_bits(bits);
  if (obs.empty() || obs.samples().empty()) bad("mse calibration: the observer holds no samples");
  const std::vector<float>& xs = obs.samples();
  const double p = spec.lp_norm;
  const bool square = (p == 2.0);
  int64_t qmin = 0, qmax = 0;
  quant_limits(bits, false, qmin, qmax);
  const float fqmin = static_cast<float>(qmin), fqmax = static_cast<float>(qmax);

  MseSearch result;
  result.losses.resize(static_cast<size_t>(spec.search_steps));
  // Every candidate is scored on at most kMseMaxSamples values, evenly strided over the retained ones.
  const size_t stride = std::max<size_t>(1, (xs.size() + kMseMaxSamples - 1) / kMseMaxSamples);
  auto score = [&](int i) {
    const double ratio = 1.0 - 0.01 * static_cast<double>(i);
    const Range cand{static_cast<float>(ratio * static_cast<double>(obs.min())),
                     static_cast<float>(ratio * static_cast<double>(obs.max()))};
    const QuantParams qp = choose_qparams(cand, bits, false);
    const float scale = qp.scale;
    const float zp = static_cast<float>(qp.zero_point);
    double loss = 0.0;
    size_t n = 0;
    for (size_t k = 0; k < xs.size(); k += stride, ++n) {
      const float x = xs[k];
      // quantize_value / dequantize_value, inlined: zp and the clamp bounds are small integers, exact.
      const float q = std::min(std::max(std::nearbyint(x / scale) + zp, fqmin), fqmax);
      const float xh = (q - zp) * scale;
      const double e = std::fabs(static_cast<double>(x) - static_cast<double>(xh));
      loss += square ? e * e : std::pow(e, p);
    }
    result.losses[static_cast<size_t>(i)] = loss / static_cast<double>(n);
  };
  // Candidates are independent: score them on all cores. Each loss is a sequential sum, so the result
  // is the same at any thread count.
  const int workers = static_cast<int>(std::clamp(std::thread::hardware_concurrency(), 1u, 8u));
  std::vector<std::thread> pool;
  for (int w = 1; w < workers; ++w)
    pool.emplace_back([&, w] {
      for (int i = w; i < spec.search_steps; i += workers) score(i);
    });
  for (int i = 0; i < spec.search_steps; i += workers) score(i);
  for (std::thread& t : pool) t.join();
  double best = std::numeric_limits<double>::infinity();
  for (int i = 0; i < spec.search_steps; ++i) {
    if (result.losses[static_cast<size_t>(i)] < best) {
      best = result.losses[static_cast<size_t>(i)];
      result.best_ratio = 1.0 - 0.01 * static_cast<double>(i);
    }
  }
  return result;
}

size_t kl_threshold_bin(const std::vector<double>& hist, int levels) {
  if (levels < 1) bad("kl: levels " + std::to_string(levels) + " must be >= 1");
  const size_t nbins = hist.size();
  const size_t nq = static_cast<size_t>(levels);
  if (nbins < nq) {
    bad("kl: the histogram has " + std::to_string(nbins) + " bins, fewer than the " + std::to_string(levels) +
        " quantization levels");
  }
  // suffix[k] = sum of hist[k..]
  std::vector<double> suffix(nbins + 1, 0.0);
  for (size_t k = nbins; k-- > 0;) suffix[k] = suffix[k + 1] + hist[k];

  double best = std::numeric_limits<double>::infinity();
  size_t best_i = nbins;
  std::vector<double> p, q;
  for (size_t i = nq; i <= nbins; ++i) {
    p.assign(hist.begin(), hist.begin() + static_cast<std::ptrdiff_t>(i));
    p[i - 1] += suffix[i];  // outliers folded into the last bin
    q.assign(i, 0.0);
    const size_t merged = i / nq;
    for (size_t j = 0; j < nq; ++j) {
      const size_t start = j * merged;
      const size_t stop = (j + 1 == nq) ? i : start + merged;
      double sum = 0.0;
      size_t nonzero = 0;
      for (size_t k = start; k < stop; ++k) {
        sum += hist[k];
        nonzero += (p[k] != 0.0) ? 1 : 0;
      }
      if (nonzero == 0) continue;
      const double share = sum / static_cast<double>(nonzero);
      for (size_t k = start; k < stop; ++k) q[k] = (p[k] != 0.0) ? share : 0.0;
    }
    double kl = std::numeric_limits<double>::infinity();
    if (smooth(p) && smooth(q)) kl = kl_divergence(p, q);
    if (kl < best) {
      best = kl;
      best_i = i;
    }
  }
  return best_i;
}

Range compute_range(const Observer& obs, const CalibratorSpec& spec, int bits, bool is_signed) {
  validate_spec(spec);
  check_bits(bits);
  if (obs.empty()) bad("calibration '" + spec.method + "': the observer saw no (finite) values");

  if (spec.method == "minmax") return {obs.min(), obs.max()};

  if (spec.method == "percentile") {
    if (obs.samples().empty()) bad("percentile calibration: the observer holds no samples");
    std::vector<float> v = obs.samples();
    const double hi = quantile(v, spec.percentile);
    const double lo = quantile(v, 1.0 - spec.percentile);
    return {static_cast<float>(lo), static_cast<float>(hi)};
  }

  if (spec.method == "mse") {
    const double r = mse_search(obs, spec, bits).best_ratio;
    return {static_cast<float>(r * static_cast<double>(obs.min())),
            static_cast<float>(r * static_cast<double>(obs.max()))};
  }

  // kl
  const bool non_negative = obs.min() >= 0.0f;
  const int level_bits = (non_negative && !is_signed) ? bits : bits - 1;
  if (level_bits > 11) {
    bad("kl calibration: " + std::to_string(bits) + "-bit " + (is_signed ? "signed" : "unsigned") +
        " needs 2^" + std::to_string(level_bits) + " levels, more than the 2048 histogram bins");
  }
  if (obs.samples().empty()) bad("kl calibration: the observer holds no samples");
  const double amax = static_cast<double>(obs.abs_max());
  if (amax == 0.0) return {0.0f, 0.0f};
  const double width = amax / kKlBins;
  std::vector<double> hist(kKlBins, 0.0);
  for (const float x : obs.samples()) {
    const double bin = std::fabs(static_cast<double>(x)) / width;
    const size_t k = std::min(static_cast<size_t>(bin), static_cast<size_t>(kKlBins - 1));
    hist[k] += 1.0;
  }
  const size_t i = kl_threshold_bin(hist, 1 << level_bits);
  const float t = static_cast<float>(std::min((static_cast<double>(i) + 0.5) * width, amax));
  return non_negative ? Range{0.0f, t} : Range{-t, t};
}

// ---------------------------------------------------------------------------------------------------
// Quantizer helpers

void quant_limits(int bits, bool is_signed, int64_t& qmin, int64_t& qmax) {
  if (is_signed) {
    if (bits < 2 || bits > 32) bad("signed quantizer bits " + std::to_string(bits) + " outside [2, 32]");
    qmin = -(int64_t{1} << (bits - 1));
    qmax = (int64_t{1} << (bits - 1)) - 1;
  } else {
    if (bits < 1 || bits > 31) {
      bad("unsigned quantizer bits " + std::to_string(bits) + " outside [1, 31]");
    }
    qmin = 0;
    qmax = (int64_t{1} << bits) - 1;
  }
}

QuantParams choose_qparams(Range range, int bits, bool symmetric) {
  if (!std::isfinite(range.lo) || !std::isfinite(range.hi)) {
    std::ostringstream os;
    os << "choose_qparams: non-finite range [" << range.lo << ", " << range.hi << "]";
    bad(os.str());
  }
  if (range.lo > range.hi) {
    std::ostringstream os;
    os << "choose_qparams: empty range [" << range.lo << ", " << range.hi << "] (lo > hi)";
    bad(os.str());
  }
  int64_t qmin = 0, qmax = 0;
  quant_limits(bits, symmetric, qmin, qmax);
  const double lo = std::min(static_cast<double>(range.lo), 0.0);
  const double hi = std::max(static_cast<double>(range.hi), 0.0);
  const float s = static_cast<float>(symmetric ? std::max(-lo, hi) / static_cast<double>(qmax)
                                               : (hi - lo) / static_cast<double>(qmax - qmin));
  const bool usable = std::isfinite(s) && s >= std::numeric_limits<float>::min();
  return qparams_with_scale(range, bits, symmetric, usable ? s : 1.0f);
}

QuantParams qparams_with_scale(Range range, int bits, bool symmetric, float scale) {
  if (!(scale > 0.0f) || !std::isfinite(scale))
    bad("qparams_with_scale: scale " + std::to_string(scale) + " must be positive and finite");
  int64_t qmin = 0, qmax = 0;
  quant_limits(bits, symmetric, qmin, qmax);
  QuantParams qp;
  qp.bits = bits;
  qp.is_signed = symmetric;
  qp.scale = scale;
  if (!symmetric) {
    const double lo = std::min(static_cast<double>(range.lo), 0.0);
    double zp = static_cast<double>(qmin) - std::nearbyint(lo / static_cast<double>(scale));
    zp = std::min(std::max(zp, static_cast<double>(qmin)), static_cast<double>(qmax));
    qp.zero_point = static_cast<int32_t>(zp);
  }
  return qp;
}

int32_t quantize_value(float x, const QuantParams& qp, int bits) {
  if (!(qp.scale > 0.0f) || !std::isfinite(qp.scale)) {
    bad("quantize_value: scale " + std::to_string(qp.scale) + " must be positive and finite");
  }
  int64_t qmin = 0, qmax = 0;
  quant_limits(bits, qp.is_signed, qmin, qmax);
  if (std::isnan(x)) return qp.zero_point;
  const double r = static_cast<double>(std::nearbyint(x / qp.scale)) + static_cast<double>(qp.zero_point);
  const double c = std::min(std::max(r, static_cast<double>(qmin)), static_cast<double>(qmax));
  return static_cast<int32_t>(c);
}

float dequantize_value(int32_t q, const QuantParams& qp) {
  return static_cast<float>(static_cast<int64_t>(q) - static_cast<int64_t>(qp.zero_point)) * qp.scale;
}

}  // namespace vitsim::quant
