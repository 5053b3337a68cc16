// The MAT engine (docs/engines.md, "MAT"; arch/engine_mat.cpp) running one GEMM tile: the issue stage, the
// MAC array in GEMM mode (PE multipliers, adder tree and accumulator per lane, LANES x REPLICAS lanes) and
// the output path (engine_common.sv). The tile (cfg_groups groups of cfg_waves waves) starts in the first
// cycle after rst; op_act / op_wgt carry the operands of the wave being fetched ([replica][pe],
// [lane][pe]), wave_taken says they entered the pipeline. With SHIFT_LANES (mac_array.sv) the same module
// is the `shift_array` engine (every lane shifts; the activations are log2 codes) and the `mixed` engine
// (LANES = dsp_lanes + lut_lanes, the last lut_lanes shift by the weights' power-of-two codes, MERGE its
// merge stage). With PS_MAC it is the `ps_mac` engine: a tile whose weights have at most 4 bits
// (cfg_weight_bits) gives each multiplier two INT8 x INT4 products of two output channels, so a wave
// carries 2 LANES channels' weights (op_wgt [channel][pe]) and a group has 2 LANES x REPLICAS results
// ([replica][channel]); 8-bit weights run exactly as MAT.
module vitsim_mat_engine #(
    parameter int PE = 8,
    parameter int LANES = 8,
    parameter int REPLICAS = 16,
    parameter int FETCH = 1,
    parameter int MULTIPLY = 2,
    parameter int ACCUMULATE = 1,
    parameter int WRITEBACK = 1,
    parameter int ACT_SHARE = 1024,    // the engine's port shares, bytes per operand beat
    parameter int WEIGHT_SHARE = 128,
    parameter int CHAIN_RATE = 0,      // the requantizer chain's lanes (0: no chain, int32 outputs)
    parameter int CHAIN_LATENCY = 1,
    parameter int DSP_PACKING = 1,     // products per multiplier (the config's dsp_packing: 1 or 2)
    parameter int SHIFT_LANES = 0,     // shift lanes, their code and the merge stage (mac_array.sv)
    parameter int LOG2_CODE = 1,
    parameter int CODE_BITS = 4,
    parameter int MERGE = 0,
    parameter int PS_MAC = 0,          // precision-scalable multipliers (mac_array.sv)
    parameter int OUTS = (PS_MAC != 0 ? 2 : 1) * LANES * REPLICAS,
    parameter int COUNT_W = $clog2(OUTS + 1)
) (
    input  logic                        clk,
    input  logic                        rst,
    input  logic        [         15:0] cfg_groups,
    input  logic        [         15:0] cfg_waves,
    input  logic        [          3:0] cfg_weight_bits, // the tile's weight bits (PS_MAC: <= 4 packs two)
    input  logic        [         30:0] cfg_multiplier,  // the chain's requantizer
    input  logic        [          5:0] cfg_shift,
    input  logic signed [         15:0] cfg_zero_point,
    input  logic                        op_valid,
    output logic                        op_ready,
    input  logic        [REPLICAS*PE*8-1:0] op_act,
    input  logic        [(PS_MAC != 0 ? 2 : 1)*LANES*PE*8-1:0] op_wgt,
    output logic                        wave_taken,
    output logic                        out_valid,
    input  logic                        out_ready,
    output logic        [    COUNT_W-1:0] out_count,
    output logic        [    OUTS*32-1:0] out_data
);
  // Output channels per lane in this tile: 2 for a PS-MAC tile of <= 4-bit weights, else 1.
  logic narrow;
  logic [1:0] channels;
  logic [COUNT_W-1:0] count;
  logic [15:0] beats;
  assign narrow = PS_MAC != 0 && cfg_weight_bits <= 4'd4;
  assign channels = narrow ? 2'd2 : 2'd1;
  assign count = COUNT_W'(LANES * REPLICAS) * COUNT_W'(channels);
  assign beats = CHAIN_RATE == 0 ? '0 : 16'((32'(count) + CHAIN_RATE - 1) / CHAIN_RATE);
  logic enable, first, last, group_out;
  logic [OUTS*32-1:0] sums;
  vitsim_issue_stage #(.ACT_SHARE(ACT_SHARE), .WEIGHT_SHARE(WEIGHT_SHARE)) issue (
      .clk, .rst, .cfg_groups, .cfg_waves, .act_need(32'(PE * REPLICAS)),
      .weight_need(32'(PE * LANES) * 32'(channels)), .bus_cycles(beats), .enable, .op_valid, .op_ready,
      .wave_taken, .wave_first(first), .wave_last(last));
  vitsim_mac_array #(
      .PE(PE), .LANES(LANES), .REPLICAS(REPLICAS), .FETCH(FETCH), .MULTIPLY(MULTIPLY),
      .ACCUMULATE(ACCUMULATE), .WRITEBACK(WRITEBACK), .DSP_PACKING(DSP_PACKING), .SHIFT_LANES(SHIFT_LANES),
      .LOG2_CODE(LOG2_CODE), .CODE_BITS(CODE_BITS), .MERGE(MERGE), .PS_MAC(PS_MAC)
  ) array (
      .clk, .rst, .enable, .depthwise(1'b0), .narrow, .in_valid(wave_taken), .in_first(first), .in_last(last),
      .in_act(op_act), .in_wgt(op_wgt), .out_valid(group_out), .out_acc(sums));
  vitsim_group_output #(.OUTS(OUTS), .CHAIN_RATE(CHAIN_RATE), .CHAIN_LATENCY(CHAIN_LATENCY)) out (
      .clk, .rst, .group_out, .count, .sums, .beats, .cfg_multiplier, .cfg_shift,
      .cfg_zero_point, .enable, .out_valid, .out_ready, .out_count, .out_data);
endmodule
