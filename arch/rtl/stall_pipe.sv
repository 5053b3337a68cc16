// A unit pipeline with valid/ready handshakes and a global stall (docs/rtl.md): LATENCY >= 1 registers
// between the input and output ports. A beat taken in cycle t (in_valid && in_ready) is on the output in
// cycle t + LATENCY. When the output beat is not taken (out_valid && !out_ready) no register moves and no
// input is taken (in_ready = 0), exactly as vitsim's steppers hold (arch/tile_timing.hpp, Handshake).
// Stage 1 registers the raw input; the unit's combinational datapath turns it into a result, which the
// remaining LATENCY - 1 registers carry to the output.
module vitsim_stall_pipe #(
    parameter int IN_W = 1,
    parameter int OUT_W = 1,
    parameter int LATENCY = 1
) (
    input  logic             clk,
    input  logic             rst,
    input  logic             in_valid,
    output logic             in_ready,
    input  logic [ IN_W-1:0] in_data,
    output logic [ IN_W-1:0] first_data,    // stage 1's register, into the unit's datapath
    input  logic [OUT_W-1:0] first_result,  // the datapath's result for first_data
    output logic             out_valid,
    input  logic             out_ready,
    output logic [OUT_W-1:0] out_data
);
  logic [LATENCY-1:0] valid;
  logic enable;
  assign out_valid = valid[LATENCY-1];
  assign enable = !(out_valid && !out_ready);
  assign in_ready = enable;

  always_ff @(posedge clk) begin
    if (rst) valid[0] <= 1'b0;
    else if (enable) valid[0] <= in_valid;
    if (enable) first_data <= in_data;
  end

  if (LATENCY == 1) begin : g_direct
    assign out_data = first_result;
  end else begin : g_delay
    always_ff @(posedge clk)
      if (rst) valid[LATENCY-1:1] <= '0;
      else if (enable) valid[LATENCY-1:1] <= valid[LATENCY-2:0];
    vitsim_delay #(
        .W(OUT_W),
        .N(LATENCY - 1)
    ) result (
        .clk,
        .enable,
        .d(first_result),
        .q(out_data)
    );
  end
endmodule

// N registers with a common enable (N = 0: a wire). The pipeline stages of the engines.
module vitsim_delay #(
    parameter int W = 1,
    parameter int N = 1
) (
    input  logic         clk,
    input  logic         enable,
    input  logic [W-1:0] d,
    output logic [W-1:0] q
);
  if (N == 0) begin : g_wire
    assign q = d;
  end else if (N == 1) begin : g_reg
    always_ff @(posedge clk) if (enable) q <= d;
  end else begin : g_regs
    logic [N*W-1:0] r;  // register i holds r[i*W +: W]
    always_ff @(posedge clk) if (enable) r <= {r[(N-1)*W-1:0], d};
    assign q = r[(N-1)*W+:W];
  end
endmodule
