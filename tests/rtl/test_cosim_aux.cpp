// Co-simulation of the auxiliary units (docs/rtl.md): the requantizer (multiplier + shift, and pure shift),
// the log2 quantizer + shift divider, the hswish, residual-add and average-pool units, each against vitsim's
// elementwise stepper (cycles of every input and output beat) and quant/'s integer functions (every output
// code), on random tiles with random stalls on both handshakes.
#include <catch2/catch.hpp>
#include <cmath>
#include <functional>
#include <memory>
#include <vector>

#include "Vavgpool.h"
#include "Vhswish.h"
#include "Vlog2.h"
#include "Vrequant.h"
#include "Vresidual_add.h"
#include "Vshift_requant.h"
#include "arch/accel_config.hpp"
#include "arch/tile_timing.hpp"
#include "cosim.hpp"
#include "quant/int_ops.hpp"
#include "quant/qgraph.hpp"

using namespace vitsim;
using rtl::Divergence;

namespace {

constexpr int kTiles = 1000;

int32_t random_int32(std::mt19937_64& rng, int bits) {
  const int64_t half = int64_t{1} << (bits - 1);
  return static_cast<int32_t>(std::uniform_int_distribution<int64_t>(-half, half - 1)(rng));
}

// A Requantizer as the PTQ engine makes them (the nearest to a random power-of-two-ish factor) or any
// legal one (31-bit multiplier, shift 0 .. 62).
quant::Requantizer random_requantizer(std::mt19937_64& rng, double log2_min, double log2_max) {
  if (std::uniform_int_distribution<int>(0, 1)(rng))
    return quant::requantizer_for(std::exp2(std::uniform_real_distribution<double>(log2_min, log2_max)(rng)));
  return {static_cast<int32_t>(std::uniform_int_distribution<int64_t>(1, (int64_t{1} << 31) - 1)(rng)),
          std::uniform_int_distribution<int>(0, 62)(rng)};
}

// What the harness needs from one unit: its tile's element count, loading element i into lane `lane`,
// and vitsim's output code for result i. Every element is a result, unless `ends` is given: then only the
// output lanes it marks are (the average pool's channel ends), `results` of them in the tile.
template <class Model>
struct AuxUnit {
  std::function<size_t()> size;
  std::function<void(Model&, int lane, size_t element)> load;
  std::function<int64_t(size_t result)> expected;
  std::function<bool(const Model&, int lane)> ends = nullptr;
  size_t results = 0;
};

// Runs `tiles` random tiles (make_tile configures the model's inputs for one and returns the unit's view
// of it); vitsim's side is elementwise_stepper(elements, unit). Returns the first divergence, or "".
template <class Model>
rtl::CosimResult cosimulate_aux(const arch::AuxUnitConfig& unit, int rtl_lanes, int out_bits, int tiles,
                                uint64_t seed,
                                const std::function<AuxUnit<Model>(Model&, std::mt19937_64&)>& make_tile) {
  auto context = std::make_unique<VerilatedContext>();
  Model m{context.get()};
  std::mt19937_64 rng(seed);
  Divergence d;
  for (int t = 0; t < tiles && !d.found(); ++t) {
    rtl::reset(m);
    const AuxUnit<Model> tile = make_tile(m, rng);
    const size_t n = tile.size();
    const auto model = arch::elementwise_stepper(static_cast<int64_t>(n), unit);
    rtl::Stalls input(rng), output(rng);
    size_t sent = 0, received = 0, results = 0;
    const int64_t limit = 8 * static_cast<int64_t>(n) + 64;  // far beyond any stall pattern's end
    bool done = false;
    for (int64_t cycle = 1; !done && d.at(t, cycle, limit); ++cycle) {
      const bool valid = input.go(), ready = output.go();
      const size_t count = std::min(static_cast<size_t>(rtl_lanes), n - sent);
      m.in_valid = valid && count > 0;
      m.in_count = static_cast<uint8_t>(count);
      for (size_t lane = 0; lane < count; ++lane) tile.load(m, static_cast<int>(lane), sent + lane);
      m.out_ready = ready;
      m.eval();
      done = model->step({valid, ready});
      const bool took = m.in_valid && m.in_ready;
      d.check("input beat taken (in_valid && in_ready)", took, model->took_input());
      const int64_t beat = m.out_valid && m.out_ready ? m.out_count : 0;
      d.check("output beat (results if out_valid && out_ready)", beat, model->beat_results());
      for (int i = 0; i < beat && received + static_cast<size_t>(i) < n; ++i) {
        if (tile.ends && !tile.ends(m, i)) continue;
        d.value("out_code lane " + std::to_string(i) + " (result " + std::to_string(results) + ")",
                rtl::signed_bits(m.out_code, i * out_bits, out_bits), tile.expected(results));
        ++results;
      }
      received += static_cast<size_t>(beat);
      if (took) sent += count;
      rtl::clock(m);
    }
    d.check("results of the tile", static_cast<int64_t>(received), static_cast<int64_t>(n));
    if (tile.ends)
      d.check("channel results of the tile", static_cast<int64_t>(results),
              static_cast<int64_t>(tile.results));
  }
  return rtl::recorded(d.result());
}

// The requantizer's tiles: 1 .. 40 accumulators (int32, mostly within 2^20), one requantizer and zero point.
template <class Model>
std::function<AuxUnit<Model>(Model&, std::mt19937_64&)> requant_tiles(bool shift_only) {
  return [shift_only](Model& m, std::mt19937_64& rng) {
    auto acc = std::make_shared<std::vector<int32_t>>(std::uniform_int_distribution<size_t>(1, 40)(rng));
    for (int32_t& a : *acc) a = random_int32(rng, std::uniform_int_distribution<int>(0, 3)(rng) ? 20 : 32);
    const quant::Requantizer rq =
        shift_only ? quant::shift_requantizer(std::uniform_int_distribution<int>(0, 62)(rng))
                   : random_requantizer(rng, -24, 0);
    const int32_t zp = std::uniform_int_distribution<int32_t>(-128, 127)(rng);
    m.cfg_multiplier = static_cast<uint32_t>(rq.multiplier);
    m.cfg_shift = static_cast<uint8_t>(rq.shift);
    m.cfg_zero_point = static_cast<uint16_t>(zp);
    return AuxUnit<Model>{
        [acc] { return acc->size(); },
        [acc](Model& mm, int lane, size_t i) {
          rtl::put_bits(mm.in_acc, lane * 32, 32, static_cast<uint32_t>((*acc)[i]));
        },
        [acc, rq, zp](size_t i) { return int64_t{quant::int_ops::requantize_code((*acc)[i], rq, zp, 8)}; }};
  };
}

}  // namespace

TEST_CASE("RTL requantizer (small-test.json's unit) == vitsim on 1,000 random tiles with stalls", "[rtl]") {
  const arch::AuxUnitConfig& unit = rtl::config("small-test").aux("requantizer");
  REQUIRE(unit.throughput == VREQUANT_LANES);
  REQUIRE(unit.latency == VREQUANT_LATENCY);
  const rtl::CosimResult r =
      cosimulate_aux<Vrequant>(unit, VREQUANT_LANES, 8, kTiles, 14001, requant_tiles<Vrequant>(false));
  INFO(r.summary());
  CHECK(r.divergence == "");
  CHECK(r.tiles == kTiles);
}

TEST_CASE("RTL pure-shift requantizer == vitsim on 1,000 random tiles with stalls", "[rtl]") {
  arch::AuxUnitConfig unit;
  unit.throughput = VSHIFT_REQUANT_LANES;
  unit.latency = VSHIFT_REQUANT_LATENCY;
  const rtl::CosimResult r = cosimulate_aux<Vshift_requant>(unit, VSHIFT_REQUANT_LANES, 8, kTiles, 14002,
                                                            requant_tiles<Vshift_requant>(true));
  INFO(r.summary());
  CHECK(r.divergence == "");
  CHECK(r.tiles == kTiles);
}

namespace {

// The attention normalization's tiles: 1 .. 80 (dividend, divisor) pairs, per-tile requantizers, 1 .. 6
// exponent code bits, zero point; vitsim's code is NormalizeStage::apply (Log2 mode, hardware rounding).
std::function<AuxUnit<Vlog2>(Vlog2&, std::mt19937_64&)> log2_tiles() {
  return [](Vlog2& m, std::mt19937_64& rng) {
    const size_t n = std::uniform_int_distribution<size_t>(1, 80)(rng);
    auto dividend = std::make_shared<std::vector<int32_t>>(n),
         divisor = std::make_shared<std::vector<int32_t>>(n);
    for (size_t i = 0; i < n; ++i) {
      (*dividend)[i] = random_int32(rng, std::uniform_int_distribution<int>(0, 3)(rng) ? 20 : 32);
      const int kind = std::uniform_int_distribution<int>(0, 9)(rng);
      (*divisor)[i] =
          kind == 0
              ? random_int32(rng, 32)  // any value, negative ones included
              : (kind == 1 ? 0 : std::abs(random_int32(rng, std::uniform_int_distribution<int>(2, 24)(rng))));
    }
    quant::QNode qn;
    qn.divisor_mode = quant::DivisorMode::Log2;
    qn.log2_rounding = quant::Log2Rounding::Hardware;
    qn.divisor_code_bits = std::uniform_int_distribution<int>(1, 6)(rng);
    qn.numerator.bits = 8;
    qn.out.bits = 8;
    qn.num_requant = {random_requantizer(rng, -14, 0)};
    qn.div_requant = {random_requantizer(rng, -12, 2)};
    qn.out_requant = {random_requantizer(rng, -4, 4)};
    const int32_t zp = std::uniform_int_distribution<int32_t>(-128, 127)(rng);
    auto stage = std::make_shared<quant::int_ops::NormalizeStage>(qn, 0);
    m.cfg_num_multiplier = static_cast<uint32_t>(stage->num_rq.multiplier);
    m.cfg_num_shift = static_cast<uint8_t>(stage->num_rq.shift);
    m.cfg_div_multiplier = static_cast<uint32_t>(stage->div_rq.multiplier);
    m.cfg_div_shift = static_cast<uint8_t>(stage->div_rq.shift);
    m.cfg_out_multiplier = static_cast<uint32_t>(stage->out_rq.multiplier);
    m.cfg_out_shift = static_cast<uint8_t>(stage->out_rq.shift);
    m.cfg_max_exponent = static_cast<uint8_t>(stage->max_exponent);
    m.cfg_zero_point = static_cast<uint16_t>(zp);
    return AuxUnit<Vlog2>{[dividend] { return dividend->size(); },
                          [dividend, divisor](Vlog2& mm, int lane, size_t i) {
                            rtl::put_bits(mm.in_dividend, lane * 32, 32,
                                          static_cast<uint32_t>((*dividend)[i]));
                            rtl::put_bits(mm.in_divisor, lane * 32, 32, static_cast<uint32_t>((*divisor)[i]));
                          },
                          [dividend, divisor, stage, zp](size_t i) {
                            return int64_t{stage->apply((*dividend)[i], (*divisor)[i], zp)};
                          }};
  };
}

}  // namespace

TEST_CASE("RTL log2 quantizer + shift divider (trio-vit.json's unit) == vitsim on 1,000 random tiles",
          "[rtl]") {
  const arch::AuxUnitConfig& unit = rtl::config("trio-vit").aux("log2_quantizer");
  REQUIRE(unit.throughput == VLOG2_LANES);
  REQUIRE(unit.latency == VLOG2_LATENCY);
  const rtl::CosimResult r = cosimulate_aux<Vlog2>(unit, VLOG2_LANES, 8, kTiles, 14003, log2_tiles());
  INFO(r.summary());
  CHECK(r.divergence == "");
  CHECK(r.tiles == kTiles);
}

namespace {

int32_t random_code(std::mt19937_64& rng) {
  return std::uniform_int_distribution<int32_t>(-128, 127)(rng);
}

// The hswish unit's tiles: 1 .. 40 pre-activation codes (the requantizer's outputs), the layer's zero
// point, three and six (3 and 6 in pre-activation steps: pre-activation scales from 6 / 2^15 to 3) and
// activation requantizer; vitsim's code is apply_stage<HSwish> of the pre-activation itself (an identity
// requantizer before it).
std::function<AuxUnit<Vhswish>(Vhswish&, std::mt19937_64&)> hswish_tiles() {
  return [](Vhswish& m, std::mt19937_64& rng) {
    auto pre = std::make_shared<std::vector<int32_t>>(std::uniform_int_distribution<size_t>(1, 40)(rng));
    for (int32_t& c : *pre) c = random_code(rng);
    quant::int_ops::ChannelStage s{};
    s.act_rq = quant::int_ops::FastRq(random_requantizer(rng, -24, 0));
    s.out_min = s.pre_min = -128;
    s.out_max = s.pre_max = 127;
    s.zp_p = random_code(rng);
    s.three = std::lround(std::exp2(std::uniform_real_distribution<double>(0, 14)(rng)));
    s.six = 2 * s.three + std::uniform_int_distribution<int>(-1, 1)(rng);
    const int32_t zp = random_code(rng);
    m.cfg_zero_point_pre = static_cast<uint8_t>(s.zp_p);
    m.cfg_three = static_cast<uint16_t>(s.three);
    m.cfg_six = static_cast<uint16_t>(s.six);
    m.cfg_multiplier = static_cast<uint32_t>(s.act_rq.multiplier);
    m.cfg_shift = static_cast<uint8_t>(s.act_rq.shift);
    m.cfg_zero_point_y = static_cast<uint16_t>(zp);
    return AuxUnit<Vhswish>{
        [pre] { return pre->size(); },
        [pre](Vhswish& mm, int lane, size_t i) {
          rtl::put_bits(mm.in_pre, lane * 8, 8, static_cast<uint32_t>((*pre)[i]));
        },
        [pre, s, zp](size_t i) {
          return int64_t{quant::int_ops::apply_stage<quant::Act::HSwish>(s, (*pre)[i] - s.zp_p, zp)};
        }};
  };
}

// A per-tensor (channels 1) or PTF quantizer over `channels` features with random factors 2^0 .. 2^3.
quant::ActQuant random_ptf(std::mt19937_64& rng, int64_t channels, int32_t zero_point) {
  quant::ActQuant q;
  q.groups1 = channels;
  const float base = std::uniform_real_distribution<float>(0.01f, 0.1f)(rng);
  for (int64_t c = 0; c < channels; ++c) {
    q.scale.push_back(std::ldexp(base, channels == 1 ? 0 : std::uniform_int_distribution<int>(0, 3)(rng)));
    q.zero_point.push_back(zero_point);
  }
  return q;
}

// The residual add's tiles: 1 .. 40 token features of a [T, C] Add (C 1 .. 8: per tensor or PTF inputs and
// output), two requantizers sharing one shift, zero points, ReLU or not; vitsim's code is AddStage::apply.
std::function<AuxUnit<Vresidual_add>(Vresidual_add&, std::mt19937_64&)> residual_add_tiles() {
  return [](Vresidual_add& m, std::mt19937_64& rng) {
    const size_t n = std::uniform_int_distribution<size_t>(1, 40)(rng);
    const int64_t channels = std::uniform_int_distribution<int64_t>(1, 8)(rng);
    auto x0 = std::make_shared<std::vector<int32_t>>(n), x1 = std::make_shared<std::vector<int32_t>>(n);
    for (size_t i = 0; i < n; ++i) (*x0)[i] = random_code(rng), (*x1)[i] = random_code(rng);
    quant::QNode qn;
    const quant::Requantizer rq0 = random_requantizer(rng, -8, 2);
    const quant::Requantizer rq1 = {
        static_cast<int32_t>(std::uniform_int_distribution<int64_t>(1, (int64_t{1} << 31) - 1)(rng)),
        rq0.shift};
    qn.requant = {rq0, rq1};
    qn.out = random_ptf(rng, channels, random_code(rng));
    const quant::ActQuant q0 = random_ptf(rng, channels, random_code(rng)),
                          q1 = random_ptf(rng, channels, random_code(rng));
    const bool relu = std::uniform_int_distribution<int>(0, 1)(rng);
    auto stage =
        std::make_shared<quant::int_ops::AddStage>(qn, q0, q1, relu ? quant::Act::ReLU : quant::Act::None);
    m.cfg_multiplier0 = static_cast<uint32_t>(stage->m0);
    m.cfg_multiplier1 = static_cast<uint32_t>(stage->m1);
    m.cfg_shift = static_cast<uint8_t>(stage->shift);
    m.cfg_zero_point0 = static_cast<uint16_t>(stage->zp0);
    m.cfg_zero_point1 = static_cast<uint16_t>(stage->zp1);
    m.cfg_zero_point_y = static_cast<uint16_t>(stage->zp_y);
    m.cfg_relu = relu;
    // Element i is feature i % channels (a PTF quantizer's channel is the last axis).
    const auto channel = [channels](size_t i) { return i % static_cast<size_t>(channels); };
    const auto alpha = [](const std::vector<int>& a, size_t c) { return a.size() == 1 ? a[0] : a[c]; };
    return AuxUnit<Vresidual_add>{
        [x0] { return x0->size(); },
        [x0, x1, stage, channel, alpha](Vresidual_add& mm, int lane, size_t i) {
          const size_t c = channel(i);
          rtl::put_bits(mm.in_x0, lane * 8, 8, static_cast<uint32_t>((*x0)[i]));
          rtl::put_bits(mm.in_x1, lane * 8, 8, static_cast<uint32_t>((*x1)[i]));
          rtl::put_bits(mm.in_al, lane * 9, 9,
                        static_cast<uint32_t>(alpha(stage->al0, c) | alpha(stage->al1, c) << 3 |
                                              alpha(stage->al_y, c) << 6));
        },
        [x0, x1, stage, channel](size_t i) { return int64_t{stage->apply((*x0)[i], (*x1)[i], channel(i))}; }};
  };
}

}  // namespace

namespace {

// The average pool's tiles: 1 .. 6 channels of 1 .. 3 x 8 + 4 codes each (planes shorter and longer than a
// beat, ending anywhere in one), one input and one output zero point, one requantizer; vitsim's result for
// channel c is AvgPool::compute's: requantize_code of the sum of the centred codes.
std::function<AuxUnit<Vavgpool>(Vavgpool&, std::mt19937_64&)> avgpool_tiles() {
  return [](Vavgpool& m, std::mt19937_64& rng) {
    const int64_t channels = std::uniform_int_distribution<int64_t>(1, 6)(rng),
                  plane = std::uniform_int_distribution<int64_t>(1, 28)(rng);
    auto x = std::make_shared<std::vector<int8_t>>(static_cast<size_t>(channels * plane));
    for (int8_t& v : *x) v = static_cast<int8_t>(std::uniform_int_distribution<int>(-128, 127)(rng));
    const int32_t zp_x = std::uniform_int_distribution<int32_t>(-128, 127)(rng),
                  zp_y = std::uniform_int_distribution<int32_t>(-128, 127)(rng);
    const quant::Requantizer rq = random_requantizer(rng, -16, 0);
    m.cfg_plane = static_cast<uint32_t>(plane);
    m.cfg_zero_point_x = static_cast<uint16_t>(zp_x);
    m.cfg_multiplier = static_cast<uint32_t>(rq.multiplier);
    m.cfg_shift = static_cast<uint8_t>(rq.shift);
    m.cfg_zero_point_y = static_cast<uint16_t>(zp_y);
    return AuxUnit<Vavgpool>{[x] { return x->size(); },
                             [x](Vavgpool& mm, int lane, size_t i) {
                               rtl::put_bits(mm.in_code, lane * 8, 8, static_cast<uint8_t>((*x)[i]));
                             },
                             [x, plane, zp_x, zp_y, rq](size_t c) {
                               int64_t sum = 0;
                               for (int64_t p = 0; p < plane; ++p)
                                 sum += (*x)[c * static_cast<size_t>(plane) + static_cast<size_t>(p)] - zp_x;
                               return int64_t{quant::int_ops::requantize_code(sum, rq, zp_y, 8)};
                             },
                             [](const Vavgpool& mm, int lane) { return ((mm.out_last >> lane) & 1) != 0; },
                             static_cast<size_t>(channels)};
  };
}

// kTiles random tiles of the named config's unit, whose lanes and latency the RTL model must have: every
// beat and every result equal.
template <class Model>
void check_unit_tiles(const std::string& config, const std::string& type, int lanes, int latency,
                      uint64_t seed, const std::function<AuxUnit<Model>(Model&, std::mt19937_64&)>& tiles) {
  const arch::AuxUnitConfig& unit = rtl::config(config).aux(type);
  REQUIRE(unit.throughput == lanes);
  REQUIRE(unit.latency == latency);
  const rtl::CosimResult r = cosimulate_aux<Model>(unit, lanes, 8, kTiles, seed, tiles);
  INFO(r.summary());
  CHECK(r.divergence == "");
  CHECK(r.tiles == kTiles);
}

// 20 tiles against the model of the named config's unit with one more cycle of latency than the RTL (and
// than the config says): the first output beat must diverge in the first tile.
template <class Model>
void check_later_model_fails(const std::string& config, const std::string& type, int lanes, uint64_t seed,
                             const std::function<AuxUnit<Model>(Model&, std::mt19937_64&)>& tiles) {
  arch::AuxUnitConfig later = rtl::config(config).aux(type);
  ++later.latency;
  const std::string divergence = cosimulate_aux<Model>(later, lanes, 8, 20, seed, tiles).divergence;
  INFO(divergence);
  CHECK(divergence.find("tile 0, cycle ") == 0);
  CHECK(divergence.find("output beat") != std::string::npos);
}

}  // namespace

TEST_CASE("RTL average-pool unit (small-memory.json's) == vitsim on 1,000 random tiles with stalls",
          "[rtl]") {
  check_unit_tiles<Vavgpool>("small-memory", "avgpool", VAVGPOOL_LANES, VAVGPOOL_LATENCY, 14007,
                             avgpool_tiles());
}

TEST_CASE("RTL hswish unit (small-test.json's) == vitsim on 1,000 random tiles with stalls", "[rtl]") {
  check_unit_tiles<Vhswish>("small-test", "hswish", VHSWISH_LANES, VHSWISH_LATENCY, 14005, hswish_tiles());
}

TEST_CASE("RTL residual-add unit (small-test.json's) == vitsim on 1,000 random tiles with stalls", "[rtl]") {
  check_unit_tiles<Vresidual_add>("small-test", "residual_add", VRESIDUAL_ADD_LANES, VRESIDUAL_ADD_LATENCY,
                                  14006, residual_add_tiles());
}

TEST_CASE("A one-cycle change to the elementwise model makes the co-simulation fail", "[rtl]") {
  check_later_model_fails<Vlog2>("trio-vit", "log2_quantizer", VLOG2_LANES, 14004, log2_tiles());
  // The same for the average pool, whose output beats count the stream's elements.
  check_later_model_fails<Vavgpool>("small-memory", "avgpool", VAVGPOOL_LANES, 14008, avgpool_tiles());
}
