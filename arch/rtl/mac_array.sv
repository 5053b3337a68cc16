// The MAC datapath of the MAT and R-MAC engines (docs/engines.md): PE x LANES x REPLICAS multipliers
// behind the config's pipeline stages. A wave taken in cycle t passes fetch (FETCH cycles, t the first),
// multiply (MULTIPLY), the adder tree (one cycle per level, ceil(log2 PE) levels; GEMM mode only),
// accumulate (ACCUMULATE; a group's first wave loads the accumulators, the others add) and write-back
// (WRITEBACK): depth D stages, D - 1 registers, so the wave is in the last stage in cycle t + D - 1, where
// out_valid marks a group's last wave with the group's sums. `enable` low holds every register.
//
// GEMM mode (MAT; R-MAC's pointwise assist): inside a lane, PE input channels are multiplied and summed by
// the adder tree; the LANES take output channels and share the broadcast input; the REPLICAS take output
// pixels and share the weights: in_act is [replica][pe], in_wgt [lane][pe], out_acc [replica][lane].
// Depthwise mode (R-MAC, DEPTHWISE = 1 and `depthwise` high): a wave is one tap of the window; PE
// channels per lane, LANES x REPLICAS output pixels, every product accumulated in place (output
// stationary, no adder tree): in_act is [pixel][channel], in_wgt's first PE bytes the tap's weight per
// channel, out_acc [pixel][channel].
//
// DSP_PACKING = 2 (the config's dsp_packing): lanes 2i and 2i + 1 share one multiplier (a DSP48E2) for the
// two products they have with one common operand (the broadcast activation in GEMM mode, the tap's weight in
// depthwise mode), by the standard INT8 packing: (x0 2^18 + x1) s = x0 s 2^18 + x1 s in one 27 x 18
// multiply, x1 s read from the low 18 bits and x0 s from the high bits plus the low part's borrow. The
// products are exact, so values and timing are those of DSP_PACKING = 1; only the DSP count halves.
//
// Shift lanes (GEMM mode): the last SHIFT_LANES lanes of every replica multiply by a power-of-two code
// with a barrel shifter (vitsim_shift_product, shift_product.sv) instead of a multiplier. The `shift_array`
// engine is all shift lanes with the activation operand a log2 code (LOG2_CODE = 1: A·V, A the attention
// codes); the `mixed` engine's LUT lanes are shift lanes with the weight operand a sign + exponent code
// (LOG2_CODE = 0), beside its multiplier (DSP) lanes. MERGE registers after the adder tree are the mixed
// engine's merge stage, where both kinds' sums are aligned.
//
// PS_MAC = 1 (GEMM mode; the `ps_mac` engine): precision-scalable multipliers. Each multiplier forms its
// product as two partial products of the INT8 activation a by 5-bit signed weight fields, a * hi and
// a * lo, both from one 27 x 18 multiply (hi 2^18 + lo) a (the packing above). With `narrow` low (8-bit
// weights, in_wgt [lane][pe]) lo is the weight's low nibble zero-extended and hi its high nibble
// sign-extended, and the lane's product is a w = 16 (a hi) + a lo. With `narrow` high (weights of at most
// 4 bits, in_wgt [channel][pe] with 2 LANES channels) lane l's fields are the sign-extended INT4 weights of
// channels 2l (lo) and 2l + 1 (hi), whose products are kept apart. The adder tree is split into two trees
// per lane, one per partial product (each exact for its own sums); in 8-bit mode the two roots are joined
// as 16 hi + lo before the accumulator (the shifted sum of a multiply, moved after the tree), in 4-bit mode
// each root goes to its own accumulator, and out_acc is [replica][2 lane + part]. The multiplier's DSP
// holds its own two partial products, so PS_MAC takes no DSP_PACKING (lane pairs are not packed).
module vitsim_mac_array #(
    parameter int PE = 8,
    parameter int LANES = 8,
    parameter int REPLICAS = 16,
    parameter int FETCH = 1,
    parameter int MULTIPLY = 2,
    parameter int ACCUMULATE = 1,
    parameter int WRITEBACK = 1,
    parameter int DEPTHWISE = 0,
    parameter int DSP_PACKING = 1,  // 1 or 2 products per multiplier
    parameter int SHIFT_LANES = 0,  // the last SHIFT_LANES lanes shift (GEMM mode only)
    parameter int LOG2_CODE = 1,    // shift lanes' code: 1 the activation, log2; 0 the weight, sign + exponent
    parameter int CODE_BITS = 4,    // the code's width
    parameter int MERGE = 0,        // merge-stage registers after the adder tree
    parameter int PS_MAC = 0,       // precision-scalable multipliers: two INT8 x INT4 products when narrow
    parameter int ACT_BYTES = DEPTHWISE != 0 ? PE * LANES * REPLICAS : PE * REPLICAS,
    parameter int WGT_BYTES = PS_MAC != 0 ? 2 * PE * LANES : PE * LANES,
    parameter int OUTS = DEPTHWISE != 0 ? PE * LANES * REPLICAS : (PS_MAC != 0 ? 2 : 1) * LANES * REPLICAS
) (
    input  logic                    clk,
    input  logic                    rst,
    input  logic                    enable,
    input  logic                    depthwise,  // the tile's mode (ignored unless DEPTHWISE)
    input  logic                    narrow,     // the tile's weights have <= 4 bits (ignored unless PS_MAC)
    input  logic                    in_valid,
    input  logic                    in_first,   // the group's first wave
    input  logic                    in_last,    // the group's last wave
    input  logic [ ACT_BYTES*8-1:0] in_act,     // signed 8-bit codes
    input  logic [ WGT_BYTES*8-1:0] in_wgt,
    output logic                    out_valid,
    output logic [     OUTS*32-1:0] out_acc     // signed 32-bit sums
);
  localparam int Tree = $clog2(PE);
  localparam int Leaves = 1 << Tree;
  localparam int Lanes = LANES * REPLICAS;  // GEMM-mode lanes
  localparam int Parts = PS_MAC != 0 ? 2 : 1;  // adder trees per lane: one per partial product
  localparam int Trees = Lanes * Parts;
  // Products and partial sums (16 + ceil(log2 PE) bits) sit in 32-bit slots, sign-extended: word-aligned
  // fields keep the Verilator model fast (packed 19-bit fields cost it a concatenation per field).
  localparam int SumW = 32;
  localparam int Spread = DEPTHWISE != 0 ? PE : Parts;  // accumulators per lane
  logic dw, ps4;
  assign dw = DEPTHWISE != 0 && depthwise;
  assign ps4 = PS_MAC != 0 && narrow;
  if (PS_MAC != 0 && (DSP_PACKING != 1 || DEPTHWISE != 0 || SHIFT_LANES != 0)) begin : g_bad_ps_mac
    $error("PS_MAC takes no DSP_PACKING, depthwise mode or shift lanes");
  end

  // Flags travel with their wave: {valid, first, last}.
  logic [2:0] flags_in, flags_mul, flags_leaves, flags_tree, flags_acc_in, flags_accumulated, flags_acc,
      flags_out;
  assign flags_in = {in_valid, in_first, in_last};

  // Fetch. (Flags and data take separate delay lines: Verilator copies wide concatenations slowly.)
  logic [ACT_BYTES*8-1:0] act;
  logic [WGT_BYTES*8-1:0] wgt;
  vitsim_delay #(.W(3), .N(FETCH)) fetch_flags (.clk, .enable, .d(flags_in), .q(flags_mul));
  vitsim_delay #(.W(ACT_BYTES * 8), .N(FETCH)) fetch_act (.clk, .enable, .d(in_act), .q(act));
  vitsim_delay #(.W(WGT_BYTES * 8), .N(FETCH)) fetch_wgt (.clk, .enable, .d(in_wgt), .q(wgt));

  // x0 * s and x1 * s (signed 8-bit) from one 27 x 18 multiply: {x0 s, x1 s} as two 32-bit slots.
  function automatic logic [2*SumW-1:0] packed_products(input logic signed [7:0] x0,
                                                        input logic signed [7:0] x1,
                                                        input logic signed [7:0] s);
    logic signed [26:0] pair;
    logic signed [44:0] p;
    logic signed [31:0] low, high;
    pair = (27'(x0) <<< 18) + 27'(x1);
    p = pair * s;
    low = 32'(p[17:0]) - (p[17] ? 32'h40000 : 32'h0);  // |x1 s| <= 2^14: the low 18 bits, sign-extended
    high = 32'(p[44:18]) + 32'(p[17]);                  // the high bits, plus the borrow of a negative low
    high = 32'($signed(high[26:0]));
    packed_products = {high, low};
  endfunction

  // The shift lanes' products (lanes MulLanes .. LANES - 1; the code is the activation with LOG2_CODE).
  localparam int MulLanes = LANES - SHIFT_LANES;
  localparam int ShiftLanes = SHIFT_LANES > 0 ? SHIFT_LANES : 1;
  logic [REPLICAS*ShiftLanes*PE*32-1:0] shifted;
  for (genvar r = 0; r < REPLICAS; r++) begin : g_shift_replica
    for (genvar l = MulLanes; l < LANES; l++) begin : g_shift_lane
      for (genvar p = 0; p < PE; p++) begin : g_shifter
        logic [7:0] a, w;
        assign a = act[(r*PE+p)*8+:8];
        assign w = wgt[(l*PE+p)*8+:8];
        vitsim_shift_product #(.LOG2_CODE(LOG2_CODE), .CODE_BITS(CODE_BITS)) shifter (
            .x(LOG2_CODE != 0 ? w : a), .code(LOG2_CODE != 0 ? a : w),
            .product(shifted[((r*ShiftLanes+l-MulLanes)*PE+p)*32+:32]));
      end
    end
  end

  // Shift lane l's product at leaf p (zero beyond PE).
  function automatic logic [SumW-1:0] shift_leaf(input int r, input int l, input int p);
    shift_leaf = p < PE ? shifted[((r*ShiftLanes+l-MulLanes)*PE+p)*32+:32] : '0;
  endfunction

  // Multiply: multiplier (r, l, p) at leaf (r * LANES + l) * Leaves + p; unused leaves are zero. (A loop
  // rather than generated assigns: Verilator would chain those into one concatenation per field.) A shift
  // lane's leaf takes its shifter's product; a packed pair whose second lane shifts packs a zero for it.
  logic [Trees*Leaves*SumW-1:0] products, leaves;
  if (PS_MAC != 0) begin : g_ps_multiply
    // Multiplier (r, l, p): partial product j (0: lo, 1: hi) at leaf ((r * LANES + l) * 2 + j) * Leaves + p.
    always_comb
      for (int r = 0; r < REPLICAS; r++)
        for (int l = 0; l < LANES; l++)
          for (int p = 0; p < Leaves; p++) begin
            logic signed [7:0] a, lo, hi;  // the activation and the two weight fields (5 bits signed)
            logic [7:0] w0, w1;
            logic [2*SumW-1:0] pair;
            a = '0;
            w0 = '0;
            w1 = '0;
            if (p < PE) begin
              a = act[(r*PE+p)*8+:8];
              w0 = ps4 ? wgt[(2*l*PE+p)*8+:8] : wgt[(l*PE+p)*8+:8];
              w1 = ps4 ? wgt[((2*l+1)*PE+p)*8+:8] : w0;
            end
            lo = ps4 ? 8'($signed(w0[3:0])) : {4'b0, w0[3:0]};
            hi = ps4 ? 8'($signed(w1[3:0])) : 8'($signed(w0[7:4]));
            pair = packed_products(hi, lo, a);
            products[((r*LANES+l)*2*Leaves+p)*SumW+:SumW] = pair[SumW-1:0];
            products[(((r*LANES+l)*2+1)*Leaves+p)*SumW+:SumW] = pair[2*SumW-1:SumW];
          end
  end else begin : g_multiply
    always_comb
      for (int r = 0; r < REPLICAS; r++)
        for (int l = 0; l < LANES; l += DSP_PACKING)
          for (int p = 0; p < Leaves; p++) begin
            logic signed [7:0] a0, b0, a1, b1;  // lane l's operands, and lane l + 1's when packing
            logic [2*SumW-1:0] pair;            // their products when packing
            pair = '0;
            a0 = '0;
            b0 = '0;
            a1 = '0;
            b1 = '0;
            if (p < PE && DEPTHWISE != 0 && dw) begin
              a0 = act[((r*LANES+l)*PE+p)*8+:8];
              b0 = wgt[p*8+:8];
              if (l + 1 < LANES) a1 = act[((r*LANES+l+1)*PE+p)*8+:8];
              b1 = b0;
            end else if (p < PE) begin
              a0 = act[(r*PE+p)*8+:8];
              b0 = wgt[(l*PE+p)*8+:8];
              a1 = a0;
              if (l + 1 < MulLanes) b1 = wgt[((l+1)*PE+p)*8+:8];
            end
            if (l >= MulLanes) begin  // lane l shifts, and so does lane l + 1
              products[((r*LANES+l)*Leaves+p)*SumW+:SumW] = shift_leaf(r, l, p);
              if (DSP_PACKING == 2 && l + 1 < LANES)
                products[((r*LANES+l+1)*Leaves+p)*SumW+:SumW] = shift_leaf(r, l + 1, p);
            end else if (DSP_PACKING == 2) begin
              // The common operand is the tap's weight (depthwise) or the broadcast activation (GEMM): the
              // mode selects the operands of the one multiply (a mux after two multiplies would cost two).
              pair = packed_products(dw ? a1 : b1, dw ? a0 : b0, dw ? b0 : a0);
              products[((r*LANES+l)*Leaves+p)*SumW+:SumW] = pair[SumW-1:0];
              if (l + 1 < LANES)
                products[((r*LANES+l+1)*Leaves+p)*SumW+:SumW] =
                    l + 1 < MulLanes ? pair[2*SumW-1:SumW] : shift_leaf(r, l + 1, p);
            end else begin
              products[((r*LANES+l)*Leaves+p)*SumW+:SumW] = SumW'(a0 * b0);
            end
          end
  end
  vitsim_delay #(.W(3), .N(MULTIPLY)) multiply_flags (.clk, .enable, .d(flags_mul), .q(flags_leaves));
  vitsim_delay #(.W(Trees * Leaves * SumW), .N(MULTIPLY)) multiply (.clk, .enable, .d(products), .q(leaves));

  // Adder trees (one per lane, or per partial product with PS_MAC): level k (1 .. Tree) holds Leaves >> k
  // partial sums per tree, each level one register.
  logic [Trees*SumW-1:0] root, top;  // the trees' roots, and after the merge stage
  if (Tree == 0) begin : g_no_tree
    assign root = leaves;
  end else begin : g_tree
    // Level k starts at Trees * (Leaves - 2 * (Leaves >> k)) * SumW.
    logic [Trees*(Leaves-1)*SumW-1:0] nodes;
    for (genvar k = 1; k <= Tree; k++) begin : g_level
      localparam int Here = Trees * (Leaves - 2 * (Leaves >> k)) * SumW;
      localparam int Below = Trees * (Leaves - 2 * (Leaves >> (k - 1))) * SumW;
      localparam int Width = Leaves >> k;
      for (genvar o = 0; o < Trees; o++) begin : g_out
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
    assign root = nodes[Trees*(Leaves-2)*SumW+:Trees*SumW];
  end
  logic [2:0] flags_root;
  vitsim_delay #(.W(3), .N(Tree)) tree_flags (.clk, .enable, .d(flags_leaves), .q(flags_root));
  // Merge: MERGE registers (GEMM mode).
  vitsim_delay #(.W(3), .N(MERGE)) merge_flags (.clk, .enable, .d(flags_root), .q(flags_tree));
  vitsim_delay #(.W(Trees * SumW), .N(MERGE)) merge (.clk, .enable, .d(root), .q(top));

  // Accumulate: Spread registers per lane (the recurrence), then ACCUMULATE - 1 delay registers. In GEMM
  // mode lane o's sum goes to its accumulator o * Spread (PS_MAC: 16 hi + lo, or in 4-bit mode each part's
  // sum to accumulator o * 2 + part); in depthwise mode each product to its own, the wave skipping the
  // tree's registers.
  assign flags_acc_in = dw ? flags_leaves : flags_tree;
  logic [Lanes*Spread*32-1:0] acc, acc_delayed;
  for (genvar o = 0; o < Lanes; o++) begin : g_acc_lane
    for (genvar p = 0; p < Spread; p++) begin : g_acc
      logic signed [31:0] sum;
      if (PS_MAC != 0) begin : g_part_sum
        logic signed [31:0] lo, hi;
        assign lo = 32'($signed(top[(o*2)*SumW+:SumW]));
        assign hi = 32'($signed(top[(o*2+1)*SumW+:SumW]));
        if (p == 0) begin : g_lo
          assign sum = ps4 ? lo : (hi <<< 4) + lo;
        end else begin : g_hi
          assign sum = hi;
        end
      end else if (p == 0) begin : g_tree_sum
        assign sum = dw ? 32'($signed(leaves[(o*Leaves)*SumW+:SumW])) : 32'($signed(top[o*SumW+:SumW]));
      end else begin : g_product
        assign sum = 32'($signed(leaves[(o*Leaves+p)*SumW+:SumW]));
      end
      always_ff @(posedge clk)
        if (enable && flags_acc_in[2])
          acc[(o*Spread+p)*32+:32] <= flags_acc_in[1] ? sum : $signed(acc[(o*Spread+p)*32+:32]) + sum;
    end
  end
  always_ff @(posedge clk)
    if (rst) flags_accumulated <= '0;
    else if (enable) flags_accumulated <= flags_acc_in;
  vitsim_delay #(.W(3), .N(ACCUMULATE - 1)) accumulate_flags (
      .clk, .enable, .d(flags_accumulated), .q(flags_acc));
  vitsim_delay #(.W(Lanes * Spread * 32), .N(ACCUMULATE - 1)) accumulate (
      .clk, .enable, .d(acc), .q(acc_delayed));

  // Write-back; in GEMM mode lane o's sum is accumulator o * Spread.
  logic [Lanes*Spread*32-1:0] sums;
  vitsim_delay #(.W(3), .N(WRITEBACK - 1)) writeback_flags (.clk, .enable, .d(flags_acc), .q(flags_out));
  vitsim_delay #(.W(Lanes * Spread * 32), .N(WRITEBACK - 1)) writeback (
      .clk, .enable, .d(acc_delayed), .q(sums));
  assign out_valid = flags_out[2] && flags_out[0];
  always_comb
    for (int i = 0; i < OUTS; i++)
      if (dw || (ps4 && i < Trees)) out_acc[i*32+:32] = sums[i*32+:32];
      else if (i < Lanes) out_acc[i*32+:32] = sums[i*Spread*32+:32];
      else out_acc[i*32+:32] = '0;
endmodule
