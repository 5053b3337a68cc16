// The MAT engine (docs/engines.md, "MAT"; arch/engine_mat.cpp): a lane group of PE multipliers per lane,
// an adder tree per lane, an accumulator per output, LANES output channels sharing the broadcast input and
// REPLICAS output pixels sharing the weights, in the config's pipeline stages.

// The datapath: a wave (PE input channels of every replica's pixel, PE weights of every lane) taken in
// cycle t passes fetch (FETCH cycles, t is the first), multiply (MULTIPLY), the adder tree (one cycle per
// level, ceil(log2 PE) levels), accumulate (ACCUMULATE; the first wave of a group loads the accumulator,
// the others add) and write-back (WRITEBACK): depth D stages, D - 1 registers, so the wave is in the last
// stage in cycle t + D - 1; out_valid marks a group's last wave there, with the group's sums.
// `enable` low holds every register (the engine's global stall).
module vitsim_mat_lane_group #(
    parameter int PE = 8,
    parameter int LANES = 8,
    parameter int REPLICAS = 16,
    parameter int FETCH = 1,
    parameter int MULTIPLY = 2,
    parameter int ACCUMULATE = 1,
    parameter int WRITEBACK = 1
) (
    input  logic                        clk,
    input  logic                        rst,
    input  logic                        enable,
    input  logic                        in_valid,
    input  logic                        in_first,                  // the group's first wave
    input  logic                        in_last,                   // the group's last wave
    input  logic [   REPLICAS*PE*8-1:0] in_act,                    // [replica][pe], signed 8-bit
    input  logic [      LANES*PE*8-1:0] in_wgt,                    // [lane][pe], signed 8-bit
    output logic                        out_valid,
    output logic [LANES*REPLICAS*32-1:0] out_acc                   // [replica][lane], signed 32-bit
);
  localparam int Tree = $clog2(PE);
  localparam int Leaves = 1 << Tree;
  localparam int Outs = LANES * REPLICAS;
  localparam int SumW = 16 + Tree;
  localparam int OpW = (REPLICAS + LANES) * PE * 8;

  // Flags travel with their wave: {valid, first, last}.
  logic [2:0] flags_in, flags_mul, flags_tree, flags_acc, flags_out;
  assign flags_in = {in_valid, in_first, in_last};

  // Fetch.
  logic [OpW-1:0] operands;
  vitsim_delay #(.W(3 + OpW), .N(FETCH)) fetch (
      .clk, .enable, .d({flags_in, in_act, in_wgt}), .q({flags_mul, operands}));

  // Multiply: products padded with zeros to a power-of-two number of tree leaves.
  logic [Outs*Leaves*SumW-1:0] products, leaves;
  for (genvar r = 0; r < REPLICAS; r++) begin : g_replica
    for (genvar l = 0; l < LANES; l++) begin : g_lane
      for (genvar p = 0; p < Leaves; p++) begin : g_pe
        if (p < PE) begin : g_product
          assign products[((r*LANES+l)*Leaves+p)*SumW+:SumW] = SumW'(
              $signed(operands[LANES*PE*8+(r*PE+p)*8+:8]) * $signed(operands[(l*PE+p)*8+:8]));
        end else begin : g_pad
          assign products[((r*LANES+l)*Leaves+p)*SumW+:SumW] = '0;
        end
      end
    end
  end
  logic [2:0] flags_leaves;
  vitsim_delay #(.W(3 + Outs * Leaves * SumW), .N(MULTIPLY)) multiply (
      .clk, .enable, .d({flags_mul, products}), .q({flags_leaves, leaves}));

  // Adder tree: level k (1 .. Tree) holds Leaves >> k partial sums per output, each level one register.
  logic [Outs*SumW-1:0] top;  // the tree's root per output
  if (Tree == 0) begin : g_no_tree
    assign top = leaves;
  end else begin : g_tree
    // Level k starts at Outs * (Leaves - 2 * (Leaves >> k)) * SumW.
    logic [Outs*(Leaves-1)*SumW-1:0] nodes;
    for (genvar k = 1; k <= Tree; k++) begin : g_level
      localparam int Here = Outs * (Leaves - 2 * (Leaves >> k)) * SumW;
      localparam int Below = Outs * (Leaves - 2 * (Leaves >> (k - 1))) * SumW;
      localparam int Width = Leaves >> k;
      for (genvar o = 0; o < Outs; o++) begin : g_out
        for (genvar i = 0; i < Width; i++) begin : g_node
          logic [SumW-1:0] a, b;
          if (k == 1) begin : g_from_leaves
            assign a = leaves[(o*2*Width+2*i)*SumW+:SumW];
            assign b = leaves[(o*2*Width+2*i+1)*SumW+:SumW];
          end else begin : g_from_level
            assign a = nodes[Below+(o*2*Width+2*i)*SumW+:SumW];
            assign b = nodes[Below+(o*2*Width+2*i+1)*SumW+:SumW];
          end
          always_ff @(posedge clk) if (enable) nodes[Here+(o*Width+i)*SumW+:SumW] <= a + b;
        end
      end
    end
    assign top = nodes[Outs*(Leaves-2)*SumW+:Outs*SumW];
  end
  vitsim_delay #(.W(3), .N(Tree)) tree_flags (.clk, .enable, .d(flags_leaves), .q(flags_tree));

  // Accumulate: one register per output (the recurrence), then ACCUMULATE - 1 delay registers.
  logic [Outs*32-1:0] acc, acc_delayed;
  logic [2:0] flags_accumulated;
  for (genvar o = 0; o < Outs; o++) begin : g_acc
    logic signed [31:0] sum;
    assign sum = 32'($signed(top[o*SumW+:SumW]));
    always_ff @(posedge clk)
      if (enable && flags_tree[2]) acc[o*32+:32] <= flags_tree[1] ? sum : $signed(acc[o*32+:32]) + sum;
  end
  always_ff @(posedge clk)
    if (rst) flags_accumulated <= '0;
    else if (enable) flags_accumulated <= flags_tree;
  vitsim_delay #(.W(3 + Outs * 32), .N(ACCUMULATE - 1)) accumulate (
      .clk, .enable, .d({flags_accumulated, acc}), .q({flags_acc, acc_delayed}));

  // Write-back.
  vitsim_delay #(.W(3 + Outs * 32), .N(WRITEBACK - 1)) writeback (
      .clk, .enable, .d({flags_acc, acc_delayed}), .q({flags_out, out_acc}));
  assign out_valid = flags_out[2] && flags_out[0];
endmodule

// The engine around the lane group, running one tile of cfg_groups output groups of cfg_waves waves each
// (the tile starts in the first cycle after rst; docs/engines.md, "The output-group pipeline"):
// - the issue stage fetches each wave's operand bytes (PE x REPLICAS activation, PE x LANES weight bytes)
//   through its port shares, ACT_SHARE and WEIGHT_SHARE bytes per operand beat (op_valid && op_ready),
//   and sends the wave into the pipeline in the cycle they are complete (wave_taken: op_act and op_wgt are
//   that wave's operands);
// - without a chain (CHAIN_RATE = 0) a group's LANES x REPLICAS sums leave in one output beat, and an
//   output beat not taken holds the whole engine;
// - with a requantizer chain, the write-back buffer sends a group's sums CHAIN_RATE per cycle into the
//   requantizer from the cycle after the group leaves the pipeline, and a group may start issuing only
//   ceil(LANES x REPLICAS / CHAIN_RATE) cycles after the previous one started, so the buffer is free when
//   the next group arrives (`overflow` flags a group that arrived too early).
module vitsim_mat_engine #(
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
    parameter int OUTS = LANES * REPLICAS,
    parameter int COUNT_W = $clog2(OUTS + 1)
) (
    input  logic                     clk,
    input  logic                     rst,
    input  logic        [      15:0] cfg_groups,
    input  logic        [      15:0] cfg_waves,
    input  logic        [      30:0] cfg_multiplier,  // the chain's requantizer
    input  logic        [       5:0] cfg_shift,
    input  logic signed [      15:0] cfg_zero_point,
    input  logic                     op_valid,
    output logic                     op_ready,
    input  logic        [REPLICAS*PE*8-1:0] op_act,
    input  logic        [LANES*PE*8-1:0] op_wgt,
    output logic                     wave_taken,
    output logic                     out_valid,
    input  logic                     out_ready,
    output logic        [ COUNT_W-1:0] out_count,
    output logic        [ OUTS*32-1:0] out_data,  // sums, or (with a chain) codes sign-extended
    output logic                     overflow
);
  localparam int ActNeed = PE * REPLICAS, WeightNeed = PE * LANES;
  localparam int BusCycles = CHAIN_RATE == 0 ? 0 : (OUTS + CHAIN_RATE - 1) / CHAIN_RATE;

  logic enable, group_out;
  logic [OUTS*32-1:0] sums;

  // Issue stage.
  logic [15:0] groups_issued, wave;
  logic started;
  logic [15:0] since_start;  // cycles since the current group started, saturating at BusCycles
  logic [31:0] act_fetched, weight_fetched, act_next, weight_next;
  logic starting, active, take, complete;
  assign starting = groups_issued != cfg_groups && !started &&
                    (groups_issued == 0 || 32'(since_start) >= BusCycles);
  assign active = groups_issued != cfg_groups && (started || starting);
  assign op_ready = active && !(act_fetched >= ActNeed && weight_fetched >= WeightNeed);
  assign take = op_ready && op_valid;
  assign act_next = take ? (act_fetched + ACT_SHARE > ActNeed ? ActNeed : act_fetched + ACT_SHARE) : act_fetched;
  assign weight_next = take ? (weight_fetched + WEIGHT_SHARE > WeightNeed ? WeightNeed :
                                                                            weight_fetched + WEIGHT_SHARE)
                            : weight_fetched;
  assign complete = active && act_next >= ActNeed && weight_next >= WeightNeed;
  assign wave_taken = complete && enable;

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
      else if (32'(since_start) < BusCycles) since_start <= since_start + 16'd1;
      if (wave_taken) begin
        act_fetched <= '0;
        weight_fetched <= '0;
        if (wave + 16'd1 == cfg_waves) begin
          wave <= '0;
          groups_issued <= groups_issued + 16'd1;
          started <= 1'b0;
        end else begin
          wave <= wave + 16'd1;
          started <= 1'b1;
        end
      end else begin
        if (active) begin
          act_fetched <= act_next;
          weight_fetched <= weight_next;
        end
        if (starting) started <= 1'b1;
      end
    end

  vitsim_mat_lane_group #(
      .PE(PE), .LANES(LANES), .REPLICAS(REPLICAS), .FETCH(FETCH), .MULTIPLY(MULTIPLY),
      .ACCUMULATE(ACCUMULATE), .WRITEBACK(WRITEBACK)
  ) lanes (
      .clk, .rst, .enable, .in_valid(wave_taken), .in_first(wave == 0), .in_last(wave + 16'd1 == cfg_waves),
      .in_act(op_act), .in_wgt(op_wgt), .out_valid(group_out), .out_acc(sums));

  if (CHAIN_RATE == 0) begin : g_no_chain
    assign enable = !(group_out && !out_ready);
    assign out_valid = group_out;
    assign out_count = COUNT_W'(OUTS);
    assign out_data = sums;
    assign overflow = 1'b0;
  end else begin : g_chain
    localparam int Beats = BusCycles;
    localparam int BeatW = $clog2(Beats + 1);
    localparam int RateW = $clog2(CHAIN_RATE + 1);
    logic [Beats*CHAIN_RATE*32-1:0] buffer;
    logic [BeatW-1:0] beats_left, beat;
    logic rq_ready;
    logic [RateW-1:0] rq_count, rq_out_count;
    logic [CHAIN_RATE*8-1:0] codes;
    assign enable = 1'b1;
    assign rq_count = RateW'(OUTS - 32'(beat) * CHAIN_RATE < CHAIN_RATE ? OUTS - 32'(beat) * CHAIN_RATE
                                                                         : CHAIN_RATE);
    always_ff @(posedge clk)
      if (rst) begin
        beats_left <= '0;
        beat <= '0;
        overflow <= 1'b0;
      end else if (group_out) begin
        // The buffer is free if empty or sending its last beat in this cycle.
        if (beats_left > 1 || (beats_left == 1 && !rq_ready)) overflow <= 1'b1;
        buffer <= (Beats * CHAIN_RATE * 32)'(sums);
        beats_left <= BeatW'(Beats);
        beat <= '0;
      end else if (beats_left != 0 && rq_ready) begin
        beats_left <= beats_left - 1'b1;
        beat <= beat + 1'b1;
      end
    vitsim_requantizer #(.LANES(CHAIN_RATE), .LATENCY(CHAIN_LATENCY), .OUT_BITS(8)) requantizer (
        .clk, .rst, .cfg_multiplier, .cfg_shift, .cfg_zero_point,
        .in_valid(beats_left != 0), .in_ready(rq_ready), .in_count(rq_count),
        .in_acc(buffer[32'(beat)*CHAIN_RATE*32+:CHAIN_RATE*32]),
        .out_valid, .out_ready, .out_count(rq_out_count), .out_code(codes));
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
