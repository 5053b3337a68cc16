// The global average pool (GlobalAvgPool; the `avgpool` unit, arch/unit_aux_builtin.cpp): a tile's codes
// x[c, p] stream in, channel by channel (cfg_plane = H x W codes each), LANES per beat, a beat holding the
// end of one channel and the start of the next when they share it (vitsim's elementwise rule counts
// ceil(C x H x W / LANES) beats). y[c] = sat(zp_y + rq(sum_p (x[c, p] - zp_x))) (quant/qgraph.hpp; the
// division by H x W is in the requantizer). At the input, a running sum per lane chain adds the beat's
// centred codes in order and closes a channel's sum at its last code (a chain of LANES adders: the beat's
// segments, any number of channel ends in one beat); the running sum and the position in the plane carry
// to the next beat. The closed sums pass the unit's pipeline (vitsim_stall_pipe, LATENCY cycles), and the
// requantizer lanes (requantizer.sv) turn them into codes. An output beat carries out_count codes' worth of
// the stream (the elements, as the elementwise rule counts them); out_last[i] marks lane i as a channel's
// last element, and out_code[i] is then that channel's result. One input and one output zero point per tile.
module vitsim_avgpool #(
    parameter int LANES = 8,
    parameter int LATENCY = 2,
    parameter int COUNT_W = $clog2(LANES + 1)
) (
    input  logic                      clk,
    input  logic                      rst,
    // The input side: the stream and its plane (H x W, at least 1) and zero point.
    input  logic        [       23:0] cfg_plane,
    input  logic signed [       15:0] cfg_zero_point_x,
    input  logic                      in_valid,
    output logic                      in_ready,
    input  logic        [COUNT_W-1:0] in_count,
    input  logic        [  LANES*8-1:0] in_code,
    // The output side: the requantizer and the results.
    input  logic        [       30:0] cfg_multiplier,
    input  logic        [        5:0] cfg_shift,
    input  logic signed [       15:0] cfg_zero_point_y,
    output logic                      out_valid,
    input  logic                      out_ready,
    output logic        [COUNT_W-1:0] out_count,
    output logic        [    LANES-1:0] out_last,
    output logic        [  LANES*8-1:0] out_code
);
  localparam int InW = COUNT_W + LANES + LANES * 32, OutW = COUNT_W + LANES + LANES * 8;
  logic signed [31:0] running, running_next;  // the open channel's sum
  logic [23:0] position, position_next;       // codes of the open channel taken so far
  logic [LANES-1:0] last;
  logic [LANES*32-1:0] sums;
  always_comb begin
    logic signed [31:0] s;
    logic [23:0] p;
    s = running;
    p = position;
    last = '0;
    sums = '0;
    for (int i = 0; i < LANES; i++)
      if (i < 32'(in_count)) begin
        s = s + 32'($signed(in_code[i*8+:8])) - 32'(cfg_zero_point_x);
        if (p + 24'd1 == cfg_plane) begin
          last[i] = 1'b1;
          sums[i*32+:32] = s;
          s = '0;
          p = '0;
        end else begin
          p = p + 24'd1;
        end
      end
    running_next = s;
    position_next = p;
  end
  always_ff @(posedge clk)
    if (rst) begin
      running <= '0;
      position <= '0;
    end else if (in_valid && in_ready) begin
      running <= running_next;
      position <= position_next;
    end

  logic [InW-1:0] first;
  logic [OutW-1:0] result, out_data;
  for (genvar i = 0; i < LANES; i++) begin : g_lane
    vitsim_requant_lane #(.OUT_BITS(8)) lane (
        .acc(first[i*32+:32]), .multiplier(cfg_multiplier), .shift(cfg_shift), .zero_point(cfg_zero_point_y),
        .code(result[i*8+:8]));
  end
  assign result[OutW-1-:COUNT_W+LANES] = first[InW-1-:COUNT_W+LANES];
  vitsim_stall_pipe #(.IN_W(InW), .OUT_W(OutW), .LATENCY(LATENCY)) pipe (
      .clk, .rst, .in_valid, .in_ready, .in_data({in_count, last, sums}), .first_data(first),
      .first_result(result), .out_valid, .out_ready, .out_data);
  assign {out_count, out_last, out_code} = out_data;
endmodule
