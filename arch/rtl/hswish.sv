// The hard-swish stage after the requantizer (the HSwish branch of apply_stage in quant/int_ops.hpp), bit
// for bit: p = pre-activation code - zp_p, t = clamp(p + three, 0, six), the product p * t rescaled by the
// activation requantizer (multiplier and rounding shift), offset by the output zero point and saturated.
// three and six are 3 and 6 in pre-activation steps; 16 bits hold them for any 8-bit pre-activation
// whose range covers [-3, 3]. The zero point is an 8-bit code (calibration keeps it in the code range).
// Widths are sized to what they hold (|p| < 2^9, 0 <= t < 2^17, |p * t| < 2^26), so synthesis maps the two
// multiplies to DSP48E2 by their real size.
module vitsim_hswish_lane #(
    parameter int OUT_BITS = 8
) (
    input  logic signed [         7:0] pre,         // the pre-activation code (the requantizer's output)
    input  logic signed [         7:0] zero_point_pre,
    input  logic        [        15:0] three,
    input  logic        [        15:0] six,
    input  logic        [        30:0] multiplier,  // the activation requantizer
    input  logic        [         5:0] shift,
    input  logic signed [        15:0] zero_point_y,
    output logic signed [OUT_BITS-1:0] code
);
  logic signed [9:0] p;
  logic signed [17:0] raised, t;
  logic signed [27:0] product;
  logic signed [63:0] scaled;
  assign p = 10'(pre) - 10'(zero_point_pre);
  assign raised = 18'(p) + $signed({2'b0, three});
  assign t = raised < 0 ? '0 : (raised > $signed({2'b0, six}) ? $signed({2'b0, six}) : raised);
  assign product = 28'(p) * 28'(t);
  vitsim_scale scale (
      .x(32'(product)),
      .multiplier,
      .shift,
      .y(scaled)
  );
  vitsim_saturate #(.BITS(OUT_BITS)) sat (
      .x(scaled + 64'(zero_point_y)),
      .y(code)
  );
endmodule

// The hswish unit: LANES pre-activation codes per beat (in_count of them valid), LATENCY cycles from input
// to output beat, its constants per tile.
module vitsim_hswish #(
    parameter int LANES = 4,
    parameter int LATENCY = 3,
    parameter int OUT_BITS = 8,
    parameter int COUNT_W = $clog2(LANES + 1)
) (
    input  logic                             clk,
    input  logic                             rst,
    input  logic signed [               7:0] cfg_zero_point_pre,
    input  logic        [              15:0] cfg_three,
    input  logic        [              15:0] cfg_six,
    input  logic        [              30:0] cfg_multiplier,
    input  logic        [               5:0] cfg_shift,
    input  logic signed [              15:0] cfg_zero_point_y,
    input  logic                             in_valid,
    output logic                             in_ready,
    input  logic        [       COUNT_W-1:0] in_count,
    input  logic        [       LANES*8-1:0] in_pre,
    output logic                             out_valid,
    input  logic                             out_ready,
    output logic        [       COUNT_W-1:0] out_count,
    output logic        [LANES*OUT_BITS-1:0] out_code
);
  localparam int InW = COUNT_W + LANES * 8, OutW = COUNT_W + LANES * OUT_BITS;
  logic [InW-1:0] first;
  logic [OutW-1:0] result, out_data;
  for (genvar i = 0; i < LANES; i++) begin : g_lane
    vitsim_hswish_lane #(.OUT_BITS(OUT_BITS)) lane (
        .pre(first[i*8+:8]),
        .zero_point_pre(cfg_zero_point_pre),
        .three(cfg_three),
        .six(cfg_six),
        .multiplier(cfg_multiplier),
        .shift(cfg_shift),
        .zero_point_y(cfg_zero_point_y),
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
      .in_data({in_count, in_pre}),
      .first_data(first),
      .first_result(result),
      .out_valid,
      .out_ready,
      .out_data
  );
  assign {out_count, out_code} = out_data;
endmodule
