// A ROWS x COLS systolic array of INT8 multiply-accumulate PEs (the "systolic" engine, docs/engines.md),
// in the two structures SCALE-Sim's three dataflows need; folds run back to back, operands on chip.
//
// Output stationary (stationary = 0): in feed cycle t the array reads column t of the fold's A tile on the
// west edge (one code per row) and row t of its B tile on the north edge (one per column). Row r's codes
// enter through r skew registers and column c's through c, then move one PE per cycle (A east, B south),
// so PE (r, c) multiplies pair t in cycle t + r + c and accumulates it in place.
// Weight / input stationary (stationary = 1, ws and is): ROWS preload cycles shift the stationary tile
// in from the north one row per cycle (the row fed in preload cycle p ends in PE row ROWS - 1 - p); then
// in stream cycle t the west edge carries the streamed vector t, skewed as above and moving east, while
// partial sums move south and leave the bottom of column c in stream cycle t + ROWS + c.
//
// Every feed carries {valid, first, last} flags along the west skew, so the fold's end is not counted:
// it is the cycle the last operand's flag reaches PE (ROWS-1, COLS-1) and that PE makes its last
// multiply-accumulate (fold_end, the fold's last cycle). The array is ready for the next fold in the
// cycle after, when the results are in their registers (out_valid), so back-to-back folds take
//   output stationary:  ROWS + COLS + T - 2 cycles,  weight / input stationary: 2 ROWS + COLS + T - 2
// with T the fold's stream length (SCALE-Sim v2's fold timing, arch/systolic_timing.hpp).
module vitsim_systolic_array #(
    parameter int ROWS = 4,
    parameter int COLS = 4
) (
    input  logic                      clk,
    input  logic                      rst,
    input  logic                      start,         // begin a fold (taken when ready)
    input  logic                      stationary,    // the fold's structure (sampled with start)
    input  logic [              31:0] stream,        // T >= 1 (sampled with start)
    output logic                      ready,
    output logic                      feed_preload,  // this cycle reads north row feed_index of the tile
    output logic                      feed_stream,   // this cycle reads edge vector(s) feed_index
    output logic [              31:0] feed_index,
    input  logic [         ROWS*8-1:0] west,          // signed codes, row r at [8r +: 8]
    input  logic [         COLS*8-1:0] north,         // signed codes, column c at [8c +: 8]
    output logic                      fold_end,      // this cycle makes the fold's last MAC
    output logic                      out_valid,     // output stationary: out_acc holds the last fold's sums
    output logic [ROWS*COLS*32-1:0]   out_acc,       // PE (r, c)'s sum at [32(r COLS + c) +: 32]
    output logic [          COLS-1:0] south_valid,   // stationary: a partial sum left column c's bottom
    output logic [       COLS*32-1:0] south          // ... with this value
);
  typedef enum logic [1:0] {
    Idle,
    Preload,
    Stream,
    Drain
  } state_e;
  state_e state;
  logic [31:0] count, length;
  logic mode;  // the running fold's `stationary`

  logic take, mode_now;
  logic [31:0] length_now;
  assign ready = state == Idle;
  assign take = ready && start;
  assign mode_now = take ? stationary : mode;
  assign length_now = take ? stream : length;
  assign feed_preload = state == Preload || (take && stationary);
  assign feed_stream = state == Stream || (take && !stationary);
  assign feed_index = take ? 32'd0 : count;

  // The west edge: codes and flags {valid, first, last}, row r delayed by r registers.
  logic [2:0] feed_flags;
  assign feed_flags = {feed_stream, feed_stream && feed_index == 0, feed_stream && feed_index == length_now - 1};
  logic [ROWS-1:0][ROWS-1:0][10:0] west_skew;  // [row][stage]: {flags, code}
  logic [COLS-1:0][COLS-1:0][7:0] north_skew;  // [column][stage]
  logic [ROWS-1:0][10:0] west_edge;
  logic [COLS-1:0][7:0] north_edge;
  always_comb begin
    for (int r = 0; r < ROWS; r++) west_edge[r] = r == 0 ? {feed_flags, west[7:0]} : west_skew[r][r-1];
    for (int c = 0; c < COLS; c++) north_edge[c] = c == 0 ? north[7:0] : north_skew[c][c-1];
  end
  always_ff @(posedge clk)
    for (int r = 1; r < ROWS; r++)
      for (int d = 0; d < r; d++) west_skew[r][d] <= d == 0 ? {feed_flags, west[r*8+:8]} : west_skew[r][d-1];
  always_ff @(posedge clk)
    for (int c = 1; c < COLS; c++)
      for (int d = 0; d < c; d++) north_skew[c][d] <= d == 0 ? north[c*8+:8] : north_skew[c][d-1];

  // The PEs' registers: the west operand with its flags moving east, the north operand moving south
  // (output stationary), the stationary code, the accumulator, the partial sum moving south.
  logic [ROWS-1:0][COLS-1:0][10:0] a_reg;
  logic [ROWS-1:0][COLS-1:0][7:0] b_reg, w_reg;
  logic [ROWS-1:0][COLS-1:0][31:0] acc, psum;
  logic [ROWS-1:0][COLS-1:0] psum_valid;

  logic [10:0] corner_in;  // PE (ROWS-1, COLS-1)'s west operand
  if (COLS == 1) begin : g_corner_edge
    assign corner_in = west_edge[ROWS-1];
  end else begin : g_corner_pe
    assign corner_in = a_reg[ROWS-1][COLS-2];
  end
  assign fold_end = corner_in[10] && corner_in[8];

  always_ff @(posedge clk)
    for (int r = 0; r < ROWS; r++)
      for (int c = 0; c < COLS; c++) begin
        logic [10:0] a_in;
        logic signed [7:0] a, b, w;
        logic [31:0] product, psum_in;
        a_in = c == 0 ? west_edge[r] : a_reg[r][c-1];
        a = a_in[7:0];
        b = r == 0 ? north_edge[c] : b_reg[r-1][c];
        w = w_reg[r][c];
        a_reg[r][c] <= a_in;
        b_reg[r][c] <= b;
        if (feed_preload) w_reg[r][c] <= r == 0 ? north[c*8+:8] : w_reg[r-1][c];
        if (!mode_now) begin
          product = 32'(a * b);
          if (a_in[10]) acc[r][c] <= (a_in[9] ? 32'd0 : acc[r][c]) + product;
        end else begin
          product = 32'(a * w);
          psum_in = r == 0 ? 32'd0 : psum[r-1][c];
          psum[r][c] <= psum_in + product;
        end
        psum_valid[r][c] <= a_in[10] && mode_now;
      end

  always_ff @(posedge clk) begin
    if (rst) begin
      state <= Idle;
      out_valid <= 1'b0;
    end else begin
      out_valid <= fold_end && !mode_now;
      unique case (state)
        Idle:
        if (start) begin
          mode <= stationary;
          length <= stream;
          count <= 32'd1;
          if (stationary) state <= ROWS == 1 ? Stream : Preload;
          else state <= stream == 1 ? Drain : Stream;
          if (stationary && ROWS == 1) count <= 32'd0;
        end
        Preload: begin
          count <= count == ROWS - 1 ? 32'd0 : count + 1;
          if (count == ROWS - 1) state <= Stream;
        end
        Stream: begin
          count <= count + 1;
          if (count == length - 1) state <= Drain;
        end
        Drain: ;
      endcase
      if (fold_end) state <= Idle;
    end
  end

  always_comb
    for (int r = 0; r < ROWS; r++)
      for (int c = 0; c < COLS; c++) out_acc[(r*COLS+c)*32+:32] = acc[r][c];
  always_comb
    for (int c = 0; c < COLS; c++) begin
      south_valid[c] = psum_valid[ROWS-1][c];
      south[c*32+:32] = psum[ROWS-1][c];
    end
endmodule
