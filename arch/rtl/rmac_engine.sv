// The R-MAC engine (docs/engines.md, "R-MAC"; arch/engine_rmac.cpp) running one tile: depthwise
// (cfg_depthwise high: a wave per tap of the k x k window, PE channels per lane, LANES x REPLICAS output
// pixels, output stationary; kernel and stride only change which input pixels the waves carry) or
// pointwise assist (MAT's GEMM arrangement). The issue stage, MAC array and output path are MAT's
// (engine_common.sv, mac_array.sv); the operand needs, outputs per group and chain beats follow the mode.
// op_act is [pixel][channel] (depthwise) or [replica][pe]; op_wgt the tap's weight per channel in its
// first PE bytes (depthwise) or [lane][pe].
module vitsim_rmac_engine #(
    parameter int PE = 8,
    parameter int LANES = 8,
    parameter int REPLICAS = 16,
    parameter int FETCH = 1,
    parameter int MULTIPLY = 2,
    parameter int ACCUMULATE = 1,
    parameter int WRITEBACK = 1,
    parameter int ACT_SHARE = 1024,
    parameter int WEIGHT_SHARE = 128,
    parameter int CHAIN_RATE = 0,
    parameter int CHAIN_LATENCY = 1,
    parameter int DSP_PACKING = 1,     // products per multiplier (the config's dsp_packing: 1 or 2)
    parameter int OUTS = PE * LANES * REPLICAS,
    parameter int COUNT_W = $clog2(OUTS + 1)
) (
    input  logic                        clk,
    input  logic                        rst,
    input  logic                        cfg_depthwise,
    input  logic        [         15:0] cfg_groups,
    input  logic        [         15:0] cfg_waves,
    input  logic        [         30:0] cfg_multiplier,
    input  logic        [          5:0] cfg_shift,
    input  logic signed [         15:0] cfg_zero_point,
    input  logic                        op_valid,
    output logic                        op_ready,
    input  logic        [     OUTS*8-1:0] op_act,
    input  logic        [LANES*PE*8-1:0] op_wgt,
    output logic                        wave_taken,
    output logic                        out_valid,
    input  logic                        out_ready,
    output logic        [    COUNT_W-1:0] out_count,
    output logic        [    OUTS*32-1:0] out_data
);
  localparam int GemmOuts = LANES * REPLICAS;
  localparam int DwBeats = CHAIN_RATE == 0 ? 0 : (OUTS + CHAIN_RATE - 1) / CHAIN_RATE;
  localparam int GemmBeats = CHAIN_RATE == 0 ? 0 : (GemmOuts + CHAIN_RATE - 1) / CHAIN_RATE;
  logic enable, first, last, group_out;
  logic [15:0] beats;
  logic [OUTS*32-1:0] sums;
  assign beats = cfg_depthwise ? 16'(DwBeats) : 16'(GemmBeats);
  vitsim_issue_stage #(.ACT_SHARE(ACT_SHARE), .WEIGHT_SHARE(WEIGHT_SHARE)) issue (
      .clk, .rst, .cfg_groups, .cfg_waves,
      .act_need(cfg_depthwise ? 32'(OUTS) : 32'(PE * REPLICAS)),
      .weight_need(cfg_depthwise ? 32'(PE) : 32'(PE * LANES)), .bus_cycles(beats), .enable, .op_valid,
      .op_ready, .wave_taken, .wave_first(first), .wave_last(last));
  vitsim_mac_array #(
      .PE(PE), .LANES(LANES), .REPLICAS(REPLICAS), .FETCH(FETCH), .MULTIPLY(MULTIPLY),
      .ACCUMULATE(ACCUMULATE), .WRITEBACK(WRITEBACK), .DSP_PACKING(DSP_PACKING), .DEPTHWISE(1)
  ) array (
      .clk, .rst, .enable, .depthwise(cfg_depthwise), .narrow(1'b0), .in_valid(wave_taken),
      .in_first(first), .in_last(last), .in_act(op_act), .in_wgt(op_wgt), .out_valid(group_out),
      .out_acc(sums));
  vitsim_group_output #(.OUTS(OUTS), .CHAIN_RATE(CHAIN_RATE), .CHAIN_LATENCY(CHAIN_LATENCY)) out (
      .clk, .rst, .group_out, .count(cfg_depthwise ? COUNT_W'(OUTS) : COUNT_W'(GemmOuts)), .sums, .beats,
      .cfg_multiplier, .cfg_shift, .cfg_zero_point, .enable, .out_valid, .out_ready, .out_count, .out_data);
endmodule
