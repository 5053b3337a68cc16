// The parts every engine shares around its datapath (docs/engines.md, "The output-group pipeline"):
// the issue stage, which fetches operands through the port shares and issues waves, and the output path,
// which hands a group's results on (in one beat, or through a requantizer chain).

// The issue stage of a tile of cfg_groups output groups of cfg_waves waves each (the tile starts in the
// first cycle after rst). Each wave needs act_need activation and weight_need weight bytes, which arrive
// ACT_SHARE and WEIGHT_SHARE bytes per operand beat (op_valid && op_ready); the wave enters the pipeline
// (wave_taken) in the cycle they are complete, unless the pipeline is held (enable low). With a chain,
// a group starts fetching only bus_cycles cycles after the previous group started (0: no spacing).
module vitsim_issue_stage #(
    parameter int ACT_SHARE = 1024,
    parameter int WEIGHT_SHARE = 128
) (
    input  logic        clk,
    input  logic        rst,
    input  logic [15:0] cfg_groups,
    input  logic [15:0] cfg_waves,
    input  logic [31:0] act_need,
    input  logic [31:0] weight_need,
    input  logic [15:0] bus_cycles,
    input  logic        enable,
    input  logic        op_valid,
    output logic        op_ready,
    output logic        wave_taken,
    output logic        wave_first,  // the wave being fetched is its group's first
    output logic        wave_last    // ... and its last
);
  logic [15:0] groups_issued, wave, since_start;  // since_start saturates at bus_cycles
  logic started, starting, active, take, complete;
  logic [31:0] act_fetched, weight_fetched, act_next, weight_next;
  assign starting = groups_issued != cfg_groups && !started && (groups_issued == 0 || since_start >= bus_cycles);
  assign active = groups_issued != cfg_groups && (started || starting);
  assign op_ready = active && !(act_fetched >= act_need && weight_fetched >= weight_need);
  assign take = op_ready && op_valid;
  assign act_next = !take ? act_fetched : (act_fetched + ACT_SHARE > act_need ? act_need : act_fetched + ACT_SHARE);
  assign weight_next = !take ? weight_fetched :
                       (weight_fetched + WEIGHT_SHARE > weight_need ? weight_need : weight_fetched + WEIGHT_SHARE);
  assign complete = active && act_next >= act_need && weight_next >= weight_need;
  assign wave_taken = complete && enable;
  assign wave_first = wave == 0;
  assign wave_last = wave + 16'd1 == cfg_waves;

  always_ff @(posedge clk)
    if (rst) begin
      groups_issued <= '0;
      wave <= '0;
      started <= 1'b0;
      since_start <= '0;
      act_fetched <= '0;
      weight_fetched <= '0;
    end else begin
      if (starting) since_start <= 16'd1;
      else if (since_start < bus_cycles) since_start <= since_start + 16'd1;
      if (wave_taken) begin
        act_fetched <= '0;
        weight_fetched <= '0;
        wave <= wave_last ? '0 : wave + 16'd1;
        groups_issued <= groups_issued + 16'(wave_last);
        started <= !wave_last;
      end else begin
        if (active) begin
          act_fetched <= act_next;
          weight_fetched <= weight_next;
        end
        if (starting) started <= 1'b1;
      end
    end
endmodule

// A group's results leaving the datapath (group_out, with `count` results in `sums`):
// - CHAIN_RATE = 0: in one output beat; a beat not taken holds the engine (enable low);
// - otherwise a write-back buffer of one group sends them CHAIN_RATE per cycle (`beats` beats) into the
//   requantizer from the next cycle on; the issue stage spaces group starts by `beats` cycles, and a group
//   that reaches the end of the pipeline while the buffer still holds results it will not send in this
//   cycle holds the engine (enable low) until it does: with operand fetches of varying length two groups
//   can arrive closer than their starts were.
module vitsim_group_output #(
    parameter int OUTS = 128,
    parameter int CHAIN_RATE = 0,
    parameter int CHAIN_LATENCY = 1,
    parameter int COUNT_W = $clog2(OUTS + 1)
) (
    input  logic                      clk,
    input  logic                      rst,
    input  logic                      group_out,
    input  logic        [COUNT_W-1:0] count,
    input  logic        [  OUTS*32-1:0] sums,
    input  logic        [       15:0] beats,
    input  logic        [       30:0] cfg_multiplier,
    input  logic        [        5:0] cfg_shift,
    input  logic signed [       15:0] cfg_zero_point,
    output logic                      enable,
    output logic                      out_valid,
    input  logic                      out_ready,
    output logic        [COUNT_W-1:0] out_count,
    output logic        [  OUTS*32-1:0] out_data  // sums, or (with a chain) codes sign-extended
);
  if (CHAIN_RATE == 0) begin : g_no_chain
    assign enable = !(group_out && !out_ready);
    assign out_valid = group_out;
    assign out_count = count;
    assign out_data = sums;
  end else begin : g_chain
    localparam int MaxBeats = (OUTS + CHAIN_RATE - 1) / CHAIN_RATE;
    localparam int RateW = $clog2(CHAIN_RATE + 1);
    logic [MaxBeats*CHAIN_RATE*32-1:0] buffer;
    logic [15:0] beats_left, beat;
    logic [COUNT_W-1:0] remaining;  // results not yet sent
    logic rq_ready, busy;
    logic [RateW-1:0] rq_count, rq_out_count;
    logic [CHAIN_RATE*8-1:0] codes;
    // The buffer is free if empty or sending its last beat in this cycle.
    assign busy = beats_left > 1 || (beats_left == 1 && !rq_ready);
    assign enable = !(group_out && busy);
    assign rq_count = 32'(remaining) < CHAIN_RATE ? RateW'(remaining) : RateW'(CHAIN_RATE);
    always_ff @(posedge clk)
      if (rst) begin
        beats_left <= '0;
        beat <= '0;
        remaining <= '0;
      end else if (group_out && !busy) begin
        buffer <= (MaxBeats * CHAIN_RATE * 32)'(sums);
        beats_left <= beats;
        beat <= '0;
        remaining <= count;
      end else if (beats_left != 0 && rq_ready) begin
        beats_left <= beats_left - 16'd1;
        beat <= beat + 16'd1;
        remaining <= remaining - COUNT_W'(rq_count);
      end
    vitsim_requantizer #(
        .LANES(CHAIN_RATE),
        .LATENCY(CHAIN_LATENCY),
        .OUT_BITS(8)
    ) requantizer (
        .clk,
        .rst,
        .cfg_multiplier,
        .cfg_shift,
        .cfg_zero_point,
        .in_valid(beats_left != 0),
        .in_ready(rq_ready),
        .in_count(rq_count),
        .in_acc(buffer[32'(beat)*CHAIN_RATE*32+:CHAIN_RATE*32]),
        .out_valid,
        .out_ready,
        .out_count(rq_out_count),
        .out_code(codes)
    );
    assign out_count = COUNT_W'(rq_out_count);
    for (genvar i = 0; i < OUTS; i++) begin : g_code
      if (i < CHAIN_RATE) begin : g_lane
        assign out_data[i*32+:32] = 32'($signed(codes[i*8+:8]));
      end else begin : g_unused
        assign out_data[i*32+:32] = '0;
      end
    end
  end
endmodule
