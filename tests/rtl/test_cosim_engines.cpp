// Co-simulation of the MAT, R-MAC, shift_array, mixed and ps_mac engines (docs/rtl.md): random tiles (GEMM
// shapes, depthwise convs of every supported kernel and stride, int8 data, log2 attention codes and
// power-of-two weight codes for the shift lanes, 2- to 8-bit weights for ps_mac, random stalls on the operand
// port and the output) into the RTL and into vitsim's model of the engine: the group pipeline stepper of the
// engine's group_pipeline (the cycle of every operand beat and output beat) and the arithmetic (the
// PE-chunked dot product of arch/functional.hpp, the depthwise tap-by-tap sums, quant/int_ops.hpp's
// requantizer) for every value.
#include <catch2/catch.hpp>
#include <cmath>
#include <functional>
#include <memory>
#include <vector>

#include "Vmat_bus.h"
#include "Vmat_small.h"
#include "Vmat_trio.h"
#include "Vmixed_avacc.h"
#include "Vpsmac_p2.h"
#include "Vpsmac_small.h"
#include "Vrmac_small.h"
#include "Vrmac_trio.h"
#include "Vshift_p2.h"
#include "arch/accel_config.hpp"
#include "arch/engine_types.hpp"
#include "arch/functional.hpp"
#include "arch/tile_timing.hpp"
#include "cosim.hpp"
#include "quant/int_ops.hpp"
#include "quant/mixed_scheme.hpp"

using namespace vitsim;
using rtl::Divergence;

namespace {

constexpr int kTiles = 1000;

// The shift lanes of a GEMM arrangement (mac_array.sv's SHIFT_LANES): `pot_lanes` lanes whose weights are
// power-of-two codes (sign + exponent, the mixed engine's LUT lanes), or activations that are log2 codes
// (`log2_act`, the shift_array engine: every lane shifts the weight by the activation's code).
struct ShiftLanes {
  int pot_lanes = 0;
  bool log2_act = false;
  int code_bits = 4;
};

// The engine an RTL model implements, its port shares and its chain (rate 0: none).
struct EngineSetup {
  arch::MatParams mat;    // MAT, or the GEMM arrangement of R-MAC, shift_array and mixed (lanes: all lanes)
  arch::RmacParams rmac;  // used when is_rmac
  bool is_rmac = false;
  arch::ShiftArrayParams shift;  // used when shifts.log2_act
  arch::MixedParams mixed;       // used when shifts.pot_lanes > 0
  arch::PsMacParams psmac;       // used when is_psmac
  bool is_psmac = false;
  ShiftLanes shifts;
  arch::PortShare ports;
  arch::AuxPath chain;
  int dsp_packing = 1;  // the RTL's products per multiplier (the config's dsp_packing)
  const arch::EngineParams& params() const {
    if (is_rmac) return rmac;
    if (is_psmac) return psmac;
    if (shifts.log2_act) return shift;
    if (shifts.pot_lanes > 0) return mixed;
    return mat;
  }
};

// An EngineSetup from a model's parameters (the <PREFIX>_<NAME> definitions of tests/rtl/CMakeLists.txt).
#define VITSIM_ENGINE_SETUP(P, RMAC)                                                                   \
  [] {                                                                                                 \
    EngineSetup made;                                                                                  \
    made.mat.pe = made.rmac.pe = P##_PE;                                                               \
    made.mat.lanes = made.rmac.lanes = P##_LANES;                                                      \
    made.mat.replicas = made.rmac.replicas = P##_REPLICAS;                                             \
    made.mat.adder_tree_stages = arch::ceil_log2(P##_PE);                                              \
    made.mat.pipeline = made.rmac.pipeline = {P##_FETCH, P##_MULTIPLY, P##_ACCUMULATE, P##_WRITEBACK}; \
    made.is_rmac = RMAC;                                                                               \
    made.ports = {P##_ACT_SHARE, P##_WEIGHT_SHARE};                                                    \
    made.chain = {P##_CHAIN_RATE, P##_CHAIN_RATE > 0 ? P##_CHAIN_LATENCY : 0};                         \
    made.dsp_packing = P##_DSP_PACKING;                                                                \
    return made;                                                                                       \
  }()

// The setup of a model with shift lanes: every lane (shift_array, log2 activation codes) or the last
// SHIFT_LANES (mixed, power-of-two weight codes, MERGE its merge stage).
EngineSetup with_shift_lanes(EngineSetup s, int shift_lanes, bool log2_code, int code_bits, int merge) {
  s.shifts.code_bits = code_bits;
  if (log2_code) {
    REQUIRE(shift_lanes == s.mat.lanes);
    REQUIRE(merge == 0);
    s.shifts.log2_act = true;
    static_cast<arch::MatParams&>(s.shift) = s.mat;
  } else {
    s.shifts.pot_lanes = shift_lanes;
    arch::MixedParams& m = s.mixed;
    m.pe = s.mat.pe, m.dsp_lanes = s.mat.lanes - shift_lanes, m.lut_lanes = shift_lanes;
    m.replicas = s.mat.replicas, m.pot_bits = code_bits, m.merge_latency = merge;
    m.adder_tree_stages = s.mat.adder_tree_stages, m.pipeline = s.mat.pipeline;
  }
  return s;
}
#define VITSIM_SHIFT_ENGINE_SETUP(P)                                                                  \
  with_shift_lanes(VITSIM_ENGINE_SETUP(P, false), P##_SHIFT_LANES, P##_LOG2_CODE != 0, P##_CODE_BITS, \
                   P##_MERGE)

// The setup of a ps_mac model (PS_MAC = 1): MAT's arrangement, two products per multiplier at <= 4 bits.
EngineSetup with_ps_mac(EngineSetup s, int ps_mac) {
  REQUIRE(ps_mac == 1);
  REQUIRE(s.dsp_packing == 1);  // mac_array.sv: PS_MAC packs no lane pairs
  s.is_psmac = true;
  static_cast<arch::MatParams&>(s.psmac) = s.mat;
  return s;
}
#define VITSIM_PSMAC_SETUP(P) with_ps_mac(VITSIM_ENGINE_SETUP(P, false), P##_PS_MAC)

// One random tile: its work for the engine's group_pipeline, the operand bytes of each (group, wave) in
// the RTL's bus layout, and vitsim's sums in output order (group by group).
struct EngineTile {
  arch::ComputeTile work;
  int64_t waves = 0;
  std::function<void(int64_t group, int64_t wave, std::vector<int8_t>& act, std::vector<int8_t>& wgt)>
      operands;
  std::vector<int64_t> sums;
  quant::Requantizer rq;
  int32_t zp = 0;
};

int8_t random_code(std::mt19937_64& rng) {
  return static_cast<int8_t>(std::uniform_int_distribution<int>(-128, 127)(rng));
}

// The weight memory's form of a power-of-two code value (0 or +-2^k, quant/mixed_scheme.hpp): a sign bit
// and an exponent field whose top value means 0 (shift_product.sv).
uint8_t pot_field(int64_t value, int bits) {
  if (value == 0) return static_cast<uint8_t>(quant::pot_max_exponent(bits) + 1);
  int k = 0;
  while ((int64_t{1} << (k + 1)) <= std::abs(value)) ++k;
  return static_cast<uint8_t>((value < 0 ? 1 << (bits - 1) : 0) | k);
}

// A GEMM tile for the GEMM arrangement of `p` (pe, lanes, replicas) with shift lanes `sl`: m x k activations
// times k x n weights, zero-padded to whole groups and waves. Groups: channel blocks outer, pixel blocks
// inner; each group's sums replica-major. With pot lanes, the n - pot_n fixed-point columns go to the first
// lanes and the pot_n power-of-two columns to the pot lanes, a group covering a block of each (as
// MixedParams::group_pipeline counts them). With log2 activations, each activation is a log2 code whose
// value is its power of two (log2_weight), padding the zero code. Fixed-point weights have `weight_bits`
// bits (the codes of a <= 4-bit ps_mac tile sign-extended in their bytes, as the weight buffer holds them).
EngineTile gemm_tile(const arch::MatParams& p, const ShiftLanes& sl, std::mt19937_64& rng,
                     int weight_bits = 8) {
  EngineTile t;
  const int64_t fixed_lanes = p.lanes - sl.pot_lanes;
  const int64_t m = std::uniform_int_distribution<int64_t>(1, 3 * p.replicas)(rng),
                n_fixed =
                    std::uniform_int_distribution<int64_t>(sl.pot_lanes > 0 ? 0 : 1, 3 * fixed_lanes)(rng),
                n_pot = sl.pot_lanes > 0 ? std::uniform_int_distribution<int64_t>(n_fixed > 0 ? 0 : 1,
                                                                                  3 * sl.pot_lanes)(rng)
                                         : 0,
                k = std::uniform_int_distribution<int64_t>(1, 6 * p.pe)(rng);
  t.work.work = arch::TileWork::Gemm;
  t.work.m = m, t.work.n = n_fixed + n_pot, t.work.k = k, t.work.pot_n = n_pot;
  t.waves = arch::ceil_div(k, p.pe);
  const int bits = sl.code_bits, log2_zero = (1 << bits) - 1, kmax = quant::pot_max_exponent(bits);
  auto a = std::make_shared<std::vector<int8_t>>(static_cast<size_t>(m * k));
  auto w = std::make_shared<std::vector<int8_t>>(static_cast<size_t>(k * t.work.n));
  for (int8_t& v : *a)
    v = sl.log2_act ? static_cast<int8_t>(std::uniform_int_distribution<int>(0, log2_zero)(rng))
                    : random_code(rng);
  for (int64_t i = 0; i < k; ++i)
    for (int64_t col = 0; col < t.work.n; ++col) {
      int8_t& v = (*w)[static_cast<size_t>(i * t.work.n + col)];
      if (col < n_fixed) {
        v = weight_bits >= 8 ? random_code(rng)
                             : static_cast<int8_t>(std::uniform_int_distribution<int>(
                                   -(1 << (weight_bits - 1)), (1 << (weight_bits - 1)) - 1)(rng));
      } else {  // 0 or +-2^e, e <= kmax
        const int e = std::uniform_int_distribution<int>(-1, kmax)(rng);
        const int sign = std::uniform_int_distribution<int>(0, 1)(rng) ? -1 : 1;
        v = static_cast<int8_t>(e < 0 ? 0 : sign * (1 << e));
      }
    }
  // The activation's bus byte (a log2 code, or the centred code) and its value.
  auto act_code = [a, m, k, sl, log2_zero](int64_t row, int64_t i) -> int64_t {
    return row < m && i < k ? (*a)[static_cast<size_t>(row * k + i)] : sl.log2_act ? log2_zero : 0;
  };
  auto act = [act_code, sl](int64_t row, int64_t i) -> int64_t {
    const int64_t c = act_code(row, i);
    return sl.log2_act ? quant::int_ops::log2_weight(c, sl.code_bits) : c;
  };
  auto weight = [w, n = t.work.n, k](int64_t i, int64_t col) -> int64_t {
    return i < k && col < n ? (*w)[static_cast<size_t>(i * n + col)] : 0;
  };
  // The output column of lane l in row pass `pass` (n: none).
  auto column = [fixed_lanes, n_fixed, n_pot, n = t.work.n](int64_t pass, int64_t l,
                                                            int64_t lanes) -> int64_t {
    if (l < fixed_lanes) return pass * fixed_lanes + l < n_fixed ? pass * fixed_lanes + l : n;
    const int64_t j = pass * (lanes - fixed_lanes) + l - fixed_lanes;
    return j < n_pot ? n_fixed + j : n;
  };
  const int64_t passes = std::max(arch::ceil_div(n_fixed, fixed_lanes),
                                  sl.pot_lanes > 0 ? arch::ceil_div(n_pot, sl.pot_lanes) : 0);
  const int64_t pixel_blocks = arch::ceil_div(m, p.replicas), groups = pixel_blocks * passes;
  for (int64_t group = 0; group < groups; ++group)
    for (int64_t r = 0; r < p.replicas; ++r)
      for (int64_t l = 0; l < p.lanes; ++l) {
        const int64_t row = (group % pixel_blocks) * p.replicas + r,
                      col = column(group / pixel_blocks, l, p.lanes);
        t.sums.push_back(arch::pe_chunked_dot(t.waves * p.pe, p.pe,
                                              [&](int64_t i) { return act(row, i) * weight(i, col); }));
      }
  t.operands = [p, act_code, weight, column, pixel_blocks, fixed_lanes, bits](
                   int64_t group, int64_t wave, std::vector<int8_t>& ab, std::vector<int8_t>& wb) {
    for (int64_t r = 0; r < p.replicas; ++r)
      for (int64_t i = 0; i < p.pe; ++i)
        ab[static_cast<size_t>(r * p.pe + i)] =
            static_cast<int8_t>(act_code((group % pixel_blocks) * p.replicas + r, wave * p.pe + i));
    for (int64_t l = 0; l < p.lanes; ++l)
      for (int64_t i = 0; i < p.pe; ++i) {
        const int64_t v = weight(wave * p.pe + i, column(group / pixel_blocks, l, p.lanes));
        wb[static_cast<size_t>(l * p.pe + i)] =
            static_cast<int8_t>(l < fixed_lanes ? v : static_cast<int64_t>(pot_field(v, bits)));
      }
  };
  return t;
}

// A depthwise conv tile for R-MAC: C channels of an H x W input, a k x k kernel (the engine's kernels),
// stride s (its strides), padding k / 2. Groups: channel blocks outer, pixel blocks inner; a wave is one
// tap; each group's sums pixel-major. vitsim's sum of an output is its taps' products added in order, as
// FunctionalModel::conv_depthwise accumulates them.
EngineTile depthwise_tile(const arch::RmacParams& p, std::mt19937_64& rng) {
  EngineTile t;
  const int kernel = p.kernels[std::uniform_int_distribution<size_t>(0, p.kernels.size() - 1)(rng)];
  const int stride = p.strides[std::uniform_int_distribution<size_t>(0, p.strides.size() - 1)(rng)];
  const int64_t pixels_per_group = int64_t{p.lanes} * p.replicas;
  const int64_t c = std::uniform_int_distribution<int64_t>(1, 3 * p.pe)(rng);
  const int64_t side = std::max<int64_t>(
      2, static_cast<int64_t>(std::sqrt(3.0 * static_cast<double>(pixels_per_group))) * stride);
  const int64_t h = std::uniform_int_distribution<int64_t>(1, side)(rng),
                w = std::uniform_int_distribution<int64_t>(1, side)(rng);
  const int64_t pad = kernel / 2, ho = (h + 2 * pad - kernel) / stride + 1,
                wo = (w + 2 * pad - kernel) / stride + 1;
  t.work.work = arch::TileWork::Depthwise;
  t.work.n = c, t.work.m = ho * wo, t.work.k = int64_t{kernel} * kernel;
  t.work.kernel = kernel, t.work.stride = stride;
  t.waves = t.work.k;
  auto x = std::make_shared<std::vector<int8_t>>(static_cast<size_t>(c * h * w));
  auto wt = std::make_shared<std::vector<int8_t>>(static_cast<size_t>(c * t.waves));
  for (int8_t& v : *x) v = random_code(rng);
  for (int8_t& v : *wt) v = random_code(rng);
  // The input under tap `tap` of output pixel `pixel`, channel `ch` (0 outside the input or the tile).
  auto input = [=](int64_t ch, int64_t pixel, int64_t tap) -> int64_t {
    if (ch >= c || pixel >= ho * wo) return 0;
    const int64_t iy = (pixel / wo) * stride - pad + tap / kernel,
                  ix = (pixel % wo) * stride - pad + tap % kernel;
    return iy < 0 || iy >= h || ix < 0 || ix >= w ? 0 : (*x)[static_cast<size_t>((ch * h + iy) * w + ix)];
  };
  auto weight = [wt, c, waves = t.waves](int64_t ch, int64_t tap) -> int64_t {
    return ch < c ? (*wt)[static_cast<size_t>(ch * waves + tap)] : 0;
  };
  const int64_t pixel_blocks = arch::ceil_div(ho * wo, pixels_per_group),
                groups = pixel_blocks * arch::ceil_div(c, p.pe);
  for (int64_t group = 0; group < groups; ++group)
    for (int64_t q = 0; q < pixels_per_group; ++q)
      for (int64_t i = 0; i < p.pe; ++i) {
        const int64_t ch = (group / pixel_blocks) * p.pe + i,
                      pixel = (group % pixel_blocks) * pixels_per_group + q;
        int64_t acc = 0;
        for (int64_t tap = 0; tap < t.waves; ++tap) acc += weight(ch, tap) * input(ch, pixel, tap);
        t.sums.push_back(acc);
      }
  t.operands = [p, input, weight, pixel_blocks, pixels_per_group](
                   int64_t group, int64_t tap, std::vector<int8_t>& ab, std::vector<int8_t>& wb) {
    for (int64_t q = 0; q < pixels_per_group; ++q)
      for (int64_t i = 0; i < p.pe; ++i)
        ab[static_cast<size_t>(q * p.pe + i)] = static_cast<int8_t>(
            input((group / pixel_blocks) * p.pe + i, (group % pixel_blocks) * pixels_per_group + q, tap));
    for (int64_t i = 0; i < p.pe; ++i)
      wb[static_cast<size_t>(i)] = static_cast<int8_t>(weight((group / pixel_blocks) * p.pe + i, tap));
  };
  return t;
}

// R-MAC models have a mode input; MAT models do not.
template <class Model>
auto set_depthwise(Model& m, bool depthwise, int) -> decltype(m.cfg_depthwise = depthwise, void()) {
  m.cfg_depthwise = depthwise;
}
template <class Model>
void set_depthwise(Model&, bool, long) {}
// MAT models have a weight-bits input (which only PS_MAC reads); R-MAC models do not.
template <class Model>
auto set_weight_bits(Model& m, int bits, int) -> decltype(m.cfg_weight_bits = 0, void()) {
  m.cfg_weight_bits = static_cast<uint8_t>(bits);
}
template <class Model>
void set_weight_bits(Model&, int, long) {}

// Runs `tiles` random tiles on the RTL model and on vitsim's model of `setup` (whose GroupPipeline
// `mutate` may alter, to show a changed model is caught): R-MAC tiles are depthwise or GEMM at random;
// ps_mac tiles have 2- to 4-bit weights (two output channels per lane) or 5- to 8-bit ones, at random.
// Random operand-port stalls if `input_stalls`, random output stalls if the engine has no chain. Returns
// the first divergence, or "".
template <class Model>
rtl::CosimResult cosimulate_engine(const EngineSetup& setup, bool input_stalls, int tiles, uint64_t seed,
                                   void (*mutate)(arch::GroupPipeline&) = nullptr) {
  auto context = std::make_unique<VerilatedContext>();
  Model m{context.get()};
  std::mt19937_64 rng(seed);
  Divergence d;
  const bool chain = setup.chain.rate > 0;
  // The operand buses: [pixel][channel] for R-MAC's depthwise mode, else [replica][pe]; [lane][pe]
  // (ps_mac: [channel][pe], 2 lanes channels at <= 4-bit weights).
  const arch::MatParams& p = setup.mat;
  std::vector<int8_t> act(static_cast<size_t>(p.pe * p.replicas * (setup.is_rmac ? p.lanes : 1))),
      wgt(static_cast<size_t>(p.pe * p.lanes * (setup.is_psmac ? 2 : 1)));
  for (int t = 0; t < tiles && !d.found(); ++t) {
    const bool depthwise = setup.is_rmac && std::uniform_int_distribution<int>(0, 2)(rng) > 0;
    int weight_bits = 8;
    arch::MatParams arrangement = setup.mat;  // a ps_mac tile of <= 4-bit weights: 2 channels per lane
    if (setup.is_psmac) {
      weight_bits = std::uniform_int_distribution<int>(0, 1)(rng)
                        ? std::uniform_int_distribution<int>(2, 4)(rng)
                        : std::uniform_int_distribution<int>(5, 8)(rng);
      if (weight_bits <= 4) arrangement.lanes *= 2;
    }
    EngineTile tile =
        depthwise ? depthwise_tile(setup.rmac, rng) : gemm_tile(arrangement, setup.shifts, rng, weight_bits);
    tile.work.weight_bits = weight_bits;
    tile.rq = quant::requantizer_for(std::exp2(std::uniform_real_distribution<double>(-14, -6)(rng)));
    tile.zp = random_code(rng);
    arch::GroupPipeline g = setup.params().group_pipeline(tile.work);
    const int64_t groups = g.groups;
    if (mutate) mutate(g);
    const auto model = arch::group_pipeline_stepper(g, setup.ports, setup.chain);
    std::vector<int64_t> expected;
    for (int64_t sum : tile.sums)
      expected.push_back(chain ? quant::int_ops::requantize_code(sum, tile.rq, tile.zp, 8) : sum);

    rtl::reset(m);
    set_depthwise(m, depthwise, 0);
    set_weight_bits(m, weight_bits, 0);
    m.cfg_groups = static_cast<uint16_t>(groups);
    m.cfg_waves = static_cast<uint16_t>(tile.waves);
    m.cfg_multiplier = static_cast<uint32_t>(tile.rq.multiplier);
    m.cfg_shift = static_cast<uint8_t>(tile.rq.shift);
    m.cfg_zero_point = static_cast<uint16_t>(tile.zp);
    rtl::Stalls input(rng), output(rng);
    int64_t wave = 0;  // the wave whose operands the port is delivering (all waves of all groups, in order)
    int64_t loaded = -1;  // the wave on the operand buses
    size_t received = 0;
    const int64_t limit = 8 * groups * (tile.waves * 8 + g.depth + g.group_outputs) + 64;
    bool done = false;
    for (int64_t cycle = 1; !done && d.at(t, cycle, limit); ++cycle) {
      const bool valid = !input_stalls || input.go(), ready = chain || output.go();
      if (wave != loaded) {  // the port now delivers the next wave's operands
        std::fill(act.begin(), act.end(), 0);
        std::fill(wgt.begin(), wgt.end(), 0);
        if (wave < groups * tile.waves) tile.operands(wave / tile.waves, wave % tile.waves, act, wgt);
        for (size_t i = 0; i < act.size(); ++i) rtl::put_byte(m.op_act, i, static_cast<uint8_t>(act[i]));
        for (size_t i = 0; i < wgt.size(); ++i) rtl::put_byte(m.op_wgt, i, static_cast<uint8_t>(wgt[i]));
        loaded = wave;
      }
      m.op_valid = valid;
      m.out_ready = ready;
      m.eval();
      done = model->step({valid, ready});
      d.check("operand beat taken (op_valid && op_ready)", m.op_valid && m.op_ready, model->took_input());
      const int64_t beat = m.out_valid && m.out_ready ? m.out_count : 0;
      d.check("output beat (results if out_valid && out_ready)", beat, model->beat_results());
      for (int64_t i = 0; i < beat && received + static_cast<size_t>(i) < expected.size(); ++i)
        d.value("out_data lane " + std::to_string(i) + " (result " + std::to_string(received + i) + ")",
                rtl::signed_bits(m.out_data, static_cast<int>(i) * 32, 32),
                expected[received + static_cast<size_t>(i)]);
      received += static_cast<size_t>(beat);
      if (m.wave_taken) ++wave;
      rtl::clock(m);
    }
    d.check("results of the tile", static_cast<int64_t>(received), static_cast<int64_t>(expected.size()));
  }
  return rtl::recorded(d.result());
}

// The RTL's parameters are the named config's engine (with `replicas` of its replicas, if given), port
// shares and requantizer (if any); an R-MAC setup takes the config's kernels and strides.
void require_config(EngineSetup& s, const std::string& name, const std::string& engine, int replicas = 0) {
  const arch::AccelConfig& c = rtl::config(name);
  const arch::EngineParams& params = *c.engine(engine)->params;
  if (s.is_rmac) {
    const auto& rmac = dynamic_cast<const arch::RmacParams&>(params);
    s.rmac.kernels = rmac.kernels, s.rmac.strides = rmac.strides;
    REQUIRE(rmac.to_json() == s.rmac.to_json());
  } else {
    nlohmann::json expected = params.to_json();
    if (replicas > 0) expected["replicas"] = replicas;
    REQUIRE(expected == s.params().to_json());
  }
  // A ps_mac multiplier's DSP holds its own two partial products, so its RTL packs no lane pairs whatever
  // the config's dsp_packing (docs/rtl.md, "PS-MAC").
  if (!s.is_psmac) REQUIRE(c.dsp_packing == s.dsp_packing);
  const arch::PortShare ports = arch::port_share(c);
  REQUIRE(ports.act_bytes_per_cycle == s.ports.act_bytes_per_cycle);
  REQUIRE(ports.weight_bytes_per_cycle == s.ports.weight_bytes_per_cycle);
  if (s.chain.rate > 0) {
    const arch::AuxPath chain = arch::aux_path(c, {c.aux_index("requantizer")});
    REQUIRE(chain.rate == s.chain.rate);
    REQUIRE(chain.latency == s.chain.latency);
  }
}

}  // namespace

TEST_CASE("RTL MAT (trio-vit.json, requantizer chain) == vitsim on 1,000 random tiles", "[rtl]") {
  EngineSetup s = VITSIM_ENGINE_SETUP(VMAT_TRIO, false);
  require_config(s, "trio-vit", "mat");
  const rtl::CosimResult r = cosimulate_engine<Vmat_trio>(s, true, kTiles, 14101);
  INFO(r.summary());
  CHECK(r.divergence == "");
  CHECK(r.tiles == kTiles);
}

TEST_CASE("RTL MAT (small-test.json, port stalls, int32 outputs, output stalls) == vitsim on 1,000 tiles",
          "[rtl]") {
  EngineSetup s = VITSIM_ENGINE_SETUP(VMAT_SMALL, false);
  require_config(s, "small-test", "mat");
  const rtl::CosimResult r = cosimulate_engine<Vmat_small>(s, true, kTiles, 14102);
  INFO(r.summary());
  CHECK(r.divergence == "");
  CHECK(r.tiles == kTiles);
}

TEST_CASE(
    "RTL MAT with a chain slower than the engine (aux stalls, port stalls) == vitsim on 1,000 random tiles",
    "[rtl]") {
  // Operand-port stalls let two groups reach the write-back buffer closer than their starts were; the
  // later one holds the engine until the buffer is free (docs/rtl.md, "Findings").
  const rtl::CosimResult r =
      cosimulate_engine<Vmat_bus>(VITSIM_ENGINE_SETUP(VMAT_BUS, false), true, kTiles, 14103);
  INFO(r.summary());
  CHECK(r.divergence == "");
  CHECK(r.tiles == kTiles);
}

TEST_CASE("RTL R-MAC (trio-vit.json: depthwise 3x3/5x5 stride 1/2, pointwise assist) == vitsim, 1,000 tiles",
          "[rtl]") {
  EngineSetup s = VITSIM_ENGINE_SETUP(VRMAC_TRIO, true);
  require_config(s, "trio-vit", "rmac");
  // Operand-port stalls are safe here: every depthwise group has at least as many waves (9 or 25) as the
  // chain needs cycles per group (1,024 / 128 = 8), and a GEMM group's results take one chain cycle.
  const rtl::CosimResult r = cosimulate_engine<Vrmac_trio>(s, true, kTiles, 14106);
  INFO(r.summary());
  CHECK(r.divergence == "");
  CHECK(r.tiles == kTiles);
}

TEST_CASE("RTL R-MAC (small-test.json, int32 outputs, port and output stalls) == vitsim on 1,000 tiles",
          "[rtl]") {
  EngineSetup s = VITSIM_ENGINE_SETUP(VRMAC_SMALL, true);
  require_config(s, "small-test", "rmac");
  const rtl::CosimResult r = cosimulate_engine<Vrmac_small>(s, true, kTiles, 14107);
  INFO(r.summary());
  CHECK(r.divergence == "");
  CHECK(r.tiles == kTiles);
}

// kTiles random tiles with operand-port and output stalls: every cycle and every value equal.
template <class Model>
void check_stalled_tiles(const EngineSetup& s, uint64_t seed) {
  const rtl::CosimResult r = cosimulate_engine<Model>(s, true, kTiles, seed);
  INFO(r.summary());
  CHECK(r.divergence == "");
  CHECK(r.tiles == kTiles);
}

// The same for a model of the named config's engine (with `replicas` of its replicas, if given).
template <class Model>
void check_config_engine(EngineSetup s, const std::string& config, const std::string& engine, int replicas,
                         uint64_t seed) {
  require_config(s, config, engine, replicas);
  check_stalled_tiles<Model>(s, seed);
}

TEST_CASE(
    "RTL shift_array (p2-vit.json: log2 attention codes, int32 out, port and output stalls) == vitsim "
    "on 1,000 tiles",
    "[rtl]") {
  check_config_engine<Vshift_p2>(VITSIM_SHIFT_ENGINE_SETUP(VSHIFT_P2), "p2-vit", "shifters", 0, 14108);
}

TEST_CASE(
    "RTL mixed (auto-vit-acc.json, 2 replicas: DSP and power-of-two shift lanes, int32 out, port and "
    "output stalls) == vitsim on 1,000 tiles",
    "[rtl]") {
  // 2 of its 16 replicas (tests/rtl/CMakeLists.txt).
  check_config_engine<Vmixed_avacc>(VITSIM_SHIFT_ENGINE_SETUP(VMIXED_AVACC), "auto-vit-acc", "gemm", 2,
                                    14109);
}

TEST_CASE(
    "RTL ps_mac (p2-vit.json, 2 replicas: 8-bit and <= 4-bit weights, int32 out, port and output stalls) == "
    "vitsim on 1,000 tiles",
    "[rtl]") {
  // 2 of its 16 replicas (tests/rtl/CMakeLists.txt).
  check_config_engine<Vpsmac_p2>(VITSIM_PSMAC_SETUP(VPSMAC_P2), "p2-vit", "ps_mac", 2, 14111);
}

TEST_CASE(
    "RTL ps_mac (4 x 4 x 2, two weight-port beats per 4-bit wave, int32 out, port and output stalls) == "
    "vitsim on 1,000 tiles",
    "[rtl]") {
  check_stalled_tiles<Vpsmac_small>(VITSIM_PSMAC_SETUP(VPSMAC_SMALL), 14113);
}

constexpr int64_t kPsMacLanesTimesReplicas = int64_t{VPSMAC_P2_LANES} * VPSMAC_P2_REPLICAS;

TEST_CASE("The ps_mac co-simulation fails if vitsim's 4-bit-weight group hands MAT's results", "[rtl]") {
  // A group of lanes x replicas results (MAT's) instead of 2 lanes x replicas: only <= 4-bit tiles change.
  const std::string one_lane =
      cosimulate_engine<Vpsmac_p2>(VITSIM_PSMAC_SETUP(VPSMAC_P2), true, 5, 14112, [](arch::GroupPipeline& g) {
        g.group_outputs = std::min<int64_t>(g.group_outputs, kPsMacLanesTimesReplicas);
      }).divergence;
  INFO(one_lane);
  CHECK(one_lane.find("output beat (results if out_valid && out_ready): RTL " +
                      std::to_string(2 * kPsMacLanesTimesReplicas) + ", vitsim " +
                      std::to_string(kPsMacLanesTimesReplicas)) != std::string::npos);
}

TEST_CASE("A one-cycle change to the engine's cycle model makes the engine co-simulation fail", "[rtl]") {
  // One more pipeline stage in the model than in the RTL: the first group's output beat comes a cycle late.
  const std::string deeper = cosimulate_engine<Vmat_trio>(VITSIM_ENGINE_SETUP(VMAT_TRIO, false), true, 5,
                                                          14104, [](arch::GroupPipeline& g) { ++g.depth; })
                                 .divergence;
  INFO(deeper);
  CHECK(deeper.find("tile 0, cycle ") == 0);
  CHECK(deeper.find("output beat") != std::string::npos);
  // One more port cycle per wave (a wave's weights needing one byte more than the share delivers).
  const std::string slower =
      cosimulate_engine<Vmat_small>(VITSIM_ENGINE_SETUP(VMAT_SMALL, false), true, 5, 14105,
                                    [](arch::GroupPipeline& g) { ++g.weight_bytes; })
          .divergence;
  INFO(slower);
  CHECK(slower.find("tile 0, cycle ") == 0);
  // The mixed engine's model without its merge stage: the output beat comes a cycle early.
  const std::string unmerged =
      cosimulate_engine<Vmixed_avacc>(VITSIM_SHIFT_ENGINE_SETUP(VMIXED_AVACC), true, 5, 14110,
                                      [](arch::GroupPipeline& g) { --g.depth; })
          .divergence;
  INFO(unmerged);
  CHECK(unmerged.find("tile 0, cycle ") == 0);
  CHECK(unmerged.find("output beat") != std::string::npos);
}
