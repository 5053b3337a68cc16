// The residual add (AddStage::apply of quant/int_ops.hpp), bit for bit: both inputs centred on their zero
// points and scaled by their PTF factors 2^al, rescaled by two multipliers that share one shift, summed,
// rounded (half towards +infinity) by shift + al_y, offset by the output zero point, saturated, and with
// ReLU clamped at the zero point (a ResNet block's add + ReLU).
module vitsim_residual_add_lane #(
    parameter int OUT_BITS = 8
) (
    input  logic signed [         7:0] x0,
    input  logic signed [         7:0] x1,
    input  logic        [         2:0] al0,          // the element's PTF exponents (0 for per tensor)
    input  logic        [         2:0] al1,
    input  logic        [         2:0] al_y,
    input  logic        [        30:0] multiplier0,  // the Add's two requantizers' multipliers
    input  logic        [        30:0] multiplier1,
    input  logic        [         5:0] shift,        // their common shift, 0 .. 62
    input  logic signed [        15:0] zero_point0,
    input  logic signed [        15:0] zero_point1,
    input  logic signed [        15:0] zero_point_y,
    input  logic                       relu,
    output logic signed [OUT_BITS-1:0] code
);
  // Sized to what they hold (so synthesis maps each product to two DSP48E2): |a|, |b| < 2^(16 + 7), the
  // multipliers < 2^31, so each product stays below 2^54 and the sum below 2^55.
  logic signed [23:0] a, b;
  logic signed [55:0] product0, product1;
  logic signed [63:0] sum, floor_part, rounded;
  logic [6:0] total;  // shift + al_y, 0 .. 69
  logic signed [OUT_BITS-1:0] saturated;
  assign a = (24'(x0) - 24'(zero_point0)) <<< al0;
  assign b = (24'(x1) - 24'(zero_point1)) <<< al1;
  assign product0 = 56'(a) * $signed({25'b0, multiplier0});
  assign product1 = 56'(b) * $signed({25'b0, multiplier1});
  assign sum = 64'(product0) + 64'(product1);
  assign total = 7'(shift) + 7'(al_y);
  // round_shift: floor(sum / 2^total) plus the bit after the binary point; 0 once |sum| / 2^total <= 1/2.
  assign floor_part = sum >>> total;
  always_comb begin
    if (total == 0) rounded = sum;
    else if (total >= 64) rounded = '0;
    else rounded = floor_part + 64'((sum >>> (total - 1)) & 64'sd1);
  end
  vitsim_saturate #(.BITS(OUT_BITS)) sat (
      .x(rounded + 64'(zero_point_y)),
      .y(saturated)
  );
  assign code = relu && saturated < $signed(OUT_BITS'(zero_point_y)) ? OUT_BITS'(zero_point_y) : saturated;
endmodule

// The residual-add unit: LANES element pairs per beat (in_count of them valid), LATENCY cycles from input
// to output beat; the multipliers, shift, zero points and ReLU per tile, the PTF exponents per element.
module vitsim_residual_add #(
    parameter int LANES = 4,
    parameter int LATENCY = 2,
    parameter int OUT_BITS = 8,
    parameter int COUNT_W = $clog2(LANES + 1)
) (
    input  logic                             clk,
    input  logic                             rst,
    input  logic        [              30:0] cfg_multiplier0,
    input  logic        [              30:0] cfg_multiplier1,
    input  logic        [               5:0] cfg_shift,
    input  logic signed [              15:0] cfg_zero_point0,
    input  logic signed [              15:0] cfg_zero_point1,
    input  logic signed [              15:0] cfg_zero_point_y,
    input  logic                             cfg_relu,
    input  logic                             in_valid,
    output logic                             in_ready,
    input  logic        [       COUNT_W-1:0] in_count,
    input  logic        [         LANES*8-1:0] in_x0,
    input  logic        [         LANES*8-1:0] in_x1,
    input  logic        [         LANES*9-1:0] in_al,  // per lane {al_y, al1, al0}
    output logic                             out_valid,
    input  logic                             out_ready,
    output logic        [       COUNT_W-1:0] out_count,
    output logic        [LANES*OUT_BITS-1:0] out_code
);
  localparam int InW = COUNT_W + LANES * 25, OutW = COUNT_W + LANES * OUT_BITS;
  logic [InW-1:0] first;
  logic [OutW-1:0] result, out_data;
  for (genvar i = 0; i < LANES; i++) begin : g_lane
    vitsim_residual_add_lane #(.OUT_BITS(OUT_BITS)) lane (
        .x0(first[LANES*17+i*8+:8]),
        .x1(first[LANES*9+i*8+:8]),
        .al0(first[i*9+:3]),
        .al1(first[i*9+3+:3]),
        .al_y(first[i*9+6+:3]),
        .multiplier0(cfg_multiplier0),
        .multiplier1(cfg_multiplier1),
        .shift(cfg_shift),
        .zero_point0(cfg_zero_point0),
        .zero_point1(cfg_zero_point1),
        .zero_point_y(cfg_zero_point_y),
        .relu(cfg_relu),
        .code(result[i*OUT_BITS+:OUT_BITS])
    );
  end
  assign result[OutW-1-:COUNT_W] = first[InW-1-:COUNT_W];
  vitsim_stall_pipe #(
      .IN_W(InW),
      .OUT_W(OutW),
      .LATENCY(LATENCY)
  ) pipe (
      .clk,
      .rst,
      .in_valid,
      .in_ready,
      .in_data({in_count, in_x0, in_x1, in_al}),
      .first_data(first),
      .first_result(result),
      .out_valid,
      .out_ready,
      .out_data
  );
  assign {out_count, out_code} = out_data;
endmodule
