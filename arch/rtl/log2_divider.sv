// The log2 quantizer (quant/requant.hpp, log2_exponent with Log2Rounding::Hardware, exponents clamped to
// [0, max_exponent]): the index of the leading one, plus one when the bit after it is set (x >= 1.5 * 2^i);
// x <= 0 gives 0.
module vitsim_log2_quantizer (
    input  logic signed [63:0] x,
    input  logic        [ 5:0] max_exponent,
    output logic        [ 5:0] exponent
);
  logic [5:0] lead;
  logic [6:0] rounded;
  always_comb begin
    lead = '0;
    for (int i = 1; i < 63; i++) if (x[i]) lead = 6'(i);
  end
  assign rounded = {1'b0, lead} + 7'(lead != 0 && x[lead-1]);
  assign exponent = x <= 0 ? 6'd0 : (rounded > {1'b0, max_exponent} ? max_exponent : rounded[5:0]);
endmodule

// The shift divider: round_shift of quant/int_ops.hpp, round(x / 2^s) half towards +infinity, for
// s in [0, 127]: (x >>> s) + the bit after the binary point; 0 for s >= 64.
module vitsim_shift_divider (
    input  logic signed [63:0] x,
    input  logic        [ 6:0] s,
    output logic signed [63:0] y
);
  assign y = s == 0 ? x : (s >= 64 ? 64'sd0 : (x >>> s) + 64'((x >>> (s - 1)) & 64'sd1));
endmodule

// One lane of the attention normalization with a log2-quantized divisor (quant/int_ops.hpp,
// NormalizeStage::apply, DivisorMode::Log2 with hardware rounding):
//   m = saturate(num_rq(dividend), NUM_BITS);  e = log2(div_rq(divisor)) in [0, max_exponent]
//   code = saturate(zero_point + round_shift(m * out_multiplier, out_shift + e), OUT_BITS)
module vitsim_log2_divide_lane #(
    parameter int NUM_BITS = 8,
    parameter int OUT_BITS = 8
) (
    input  logic signed [        31:0] dividend,
    input  logic signed [        31:0] divisor,
    input  logic        [        30:0] num_multiplier,
    input  logic        [         5:0] num_shift,
    input  logic        [        30:0] div_multiplier,
    input  logic        [         5:0] div_shift,
    input  logic        [        30:0] out_multiplier,
    input  logic        [         5:0] out_shift,
    input  logic        [         5:0] max_exponent,
    input  logic signed [        15:0] zero_point,
    output logic signed [OUT_BITS-1:0] code
);
  logic signed [NUM_BITS-1:0] m;
  logic signed [63:0] d, quotient;
  logic [5:0] e;
  vitsim_requant_lane #(.OUT_BITS(NUM_BITS)) numerator (
      .acc(dividend),
      .multiplier(num_multiplier),
      .shift(num_shift),
      .zero_point(16'sd0),
      .code(m)
  );
  vitsim_scale divisor_scale (
      .x(divisor),
      .multiplier(div_multiplier),
      .shift(div_shift),
      .y(d)
  );
  vitsim_log2_quantizer log2 (
      .x(d),
      .max_exponent,
      .exponent(e)
  );
  vitsim_shift_divider divide (
      .x(64'(m) * $signed({33'b0, out_multiplier})),
      .s({1'b0, out_shift} + {1'b0, e}),
      .y(quotient)
  );
  vitsim_saturate #(.BITS(OUT_BITS)) sat (
      .x(quotient + 64'(zero_point)),
      .y(code)
  );
endmodule

// The log2 quantizer + shift divider as an auxiliary unit: LANES (dividend, divisor) pairs per beat
// (in_count valid), LATENCY cycles from input to output beat, the requantizers and zero point per tile.
module vitsim_log2_divider #(
    parameter int LANES = 16,
    parameter int LATENCY = 2,
    parameter int NUM_BITS = 8,
    parameter int OUT_BITS = 8,
    parameter int COUNT_W = $clog2(LANES + 1)
) (
    input  logic                          clk,
    input  logic                          rst,
    input  logic        [           30:0] cfg_num_multiplier,
    input  logic        [            5:0] cfg_num_shift,
    input  logic        [           30:0] cfg_div_multiplier,
    input  logic        [            5:0] cfg_div_shift,
    input  logic        [           30:0] cfg_out_multiplier,
    input  logic        [            5:0] cfg_out_shift,
    input  logic        [            5:0] cfg_max_exponent,
    input  logic signed [           15:0] cfg_zero_point,
    input  logic                          in_valid,
    output logic                          in_ready,
    input  logic        [    COUNT_W-1:0] in_count,
    input  logic        [   LANES*32-1:0] in_dividend,
    input  logic        [   LANES*32-1:0] in_divisor,
    output logic                          out_valid,
    input  logic                          out_ready,
    output logic        [    COUNT_W-1:0] out_count,
    output logic        [LANES*OUT_BITS-1:0] out_code
);
  localparam int InW = COUNT_W + LANES * 64, OutW = COUNT_W + LANES * OUT_BITS;
  logic [InW-1:0] first;
  logic [OutW-1:0] result, out_data;
  for (genvar i = 0; i < LANES; i++) begin : g_lane
    vitsim_log2_divide_lane #(
        .NUM_BITS(NUM_BITS),
        .OUT_BITS(OUT_BITS)
    ) lane (
        .dividend(first[LANES*32+i*32+:32]),
        .divisor(first[i*32+:32]),
        .num_multiplier(cfg_num_multiplier),
        .num_shift(cfg_num_shift),
        .div_multiplier(cfg_div_multiplier),
        .div_shift(cfg_div_shift),
        .out_multiplier(cfg_out_multiplier),
        .out_shift(cfg_out_shift),
        .max_exponent(cfg_max_exponent),
        .zero_point(cfg_zero_point),
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
      .in_data({in_count, in_dividend, in_divisor}),
      .first_data(first),
      .first_result(result),
      .out_valid,
      .out_ready,
      .out_data
  );
  assign {out_count, out_code} = out_data;
endmodule
