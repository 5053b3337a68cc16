// Requantizer::apply (quant/requant.hpp), bit for bit: (x * multiplier + 2^(shift-1)) >>> shift, rounding
// half towards +infinity (one adder and an arithmetic shifter). SHIFT_ONLY = 1 is the power-of-two
// variant: no multiplier (multiplier 1; the input is ignored).
module vitsim_scale #(
    parameter int SHIFT_ONLY = 0
) (
    input  logic signed [31:0] x,
    input  logic        [30:0] multiplier,  // > 0: a Requantizer's 31-bit multiplier
    input  logic        [ 5:0] shift,       // 0 .. 62
    output logic signed [63:0] y
);
  logic signed [63:0] product;
  if (SHIFT_ONLY != 0) begin : g_shift
    assign product = 64'(x);
  end else begin : g_multiply
    assign product = 64'(x) * $signed({33'b0, multiplier});
  end
  // |x * multiplier| < 2^62, so adding 2^61 cannot overflow.
  assign y = (product + ((64'sd1 <<< shift) >>> 1)) >>> shift;
endmodule

// saturate(x, BITS, signed) of quant/requant.hpp.
module vitsim_saturate #(
    parameter int BITS = 8
) (
    input  logic signed [    63:0] x,
    output logic signed [BITS-1:0] y
);
  localparam logic signed [63:0] Max = (64'sd1 <<< (BITS - 1)) - 1;
  localparam logic signed [63:0] Min = -(64'sd1 <<< (BITS - 1));
  assign y = BITS'(x > Max ? Max : (x < Min ? Min : x));
endmodule

// requantize_code of quant/int_ops.hpp: saturate(zero_point + scale(acc), OUT_BITS).
module vitsim_requant_lane #(
    parameter int SHIFT_ONLY = 0,
    parameter int OUT_BITS = 8
) (
    input  logic signed [        31:0] acc,
    input  logic        [        30:0] multiplier,
    input  logic        [         5:0] shift,
    input  logic signed [        15:0] zero_point,
    output logic signed [OUT_BITS-1:0] code
);
  logic signed [63:0] scaled;
  vitsim_scale #(.SHIFT_ONLY(SHIFT_ONLY)) scale (
      .x(acc),
      .multiplier,
      .shift,
      .y(scaled)
  );
  vitsim_saturate #(.BITS(OUT_BITS)) sat (
      .x(scaled + 64'(zero_point)),
      .y(code)
  );
endmodule

// The requantizer as an auxiliary unit: LANES accumulators per beat (in_count of them valid), LATENCY
// cycles from input to output beat, one multiplier, shift and zero point per tile.
module vitsim_requantizer #(
    parameter int LANES = 4,
    parameter int LATENCY = 4,
    parameter int SHIFT_ONLY = 0,
    parameter int OUT_BITS = 8,
    parameter int COUNT_W = $clog2(LANES + 1)
) (
    input  logic                         clk,
    input  logic                         rst,
    input  logic        [          30:0] cfg_multiplier,
    input  logic        [           5:0] cfg_shift,
    input  logic signed [          15:0] cfg_zero_point,
    input  logic                         in_valid,
    output logic                         in_ready,
    input  logic        [   COUNT_W-1:0] in_count,
    input  logic        [  LANES*32-1:0] in_acc,
    output logic                         out_valid,
    input  logic                         out_ready,
    output logic        [   COUNT_W-1:0] out_count,
    output logic        [LANES*OUT_BITS-1:0] out_code
);
  localparam int InW = COUNT_W + LANES * 32, OutW = COUNT_W + LANES * OUT_BITS;
  logic [InW-1:0] first;
  logic [OutW-1:0] result, out_data;
  for (genvar i = 0; i < LANES; i++) begin : g_lane
    vitsim_requant_lane #(
        .SHIFT_ONLY(SHIFT_ONLY),
        .OUT_BITS  (OUT_BITS)
    ) lane (
        .acc(first[i*32+:32]),
        .multiplier(cfg_multiplier),
        .shift(cfg_shift),
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
      .in_data({in_count, in_acc}),
      .first_data(first),
      .first_result(result),
      .out_valid,
      .out_ready,
      .out_data
  );
  assign {out_count, out_code} = out_data;
endmodule
