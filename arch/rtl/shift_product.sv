// The power-of-two product unit (docs/rtl.md): a signed INT8 operand x times a power-of-two code, by a
// barrel shifter (LUTs, no multiplier). The product of a shift lane of the `shift_array` and `mixed`
// engines (mac_array.sv). Two code formats, as the quantized graph encodes them:
// - LOG2_CODE = 1 (shift_array, P²-ViT's A·V): an unsigned CODE_BITS-wide log2 attention code e, weighing
//   2^(E - 1 - e) with E = 2^CODE_BITS - 1, the top code E weighing 0 (log2_weight of quant/int_ops.hpp);
// - LOG2_CODE = 0 (mixed, Auto-ViT-Acc's power-of-two weight rows): a sign bit (bit CODE_BITS - 1) and a
//   CODE_BITS - 1 bit exponent field k, weighing +-2^k, the top field value weighing 0 (the weight memory's
//   form of the codes 0, +-2^k, k <= pot_max_exponent(CODE_BITS), of quant/mixed_scheme.hpp).
// The shifter is 8 + max shift bits wide (no bit is lost); the sign is a negation one bit wider after it.
module vitsim_shift_product #(
    parameter int LOG2_CODE = 1,
    parameter int CODE_BITS = 4
) (
    input  logic signed [ 7:0] x,
    input  logic        [ 7:0] code,     // the low CODE_BITS bits
    output logic signed [31:0] product
);
  localparam int FieldBits = LOG2_CODE != 0 ? CODE_BITS : CODE_BITS - 1;
  localparam int Zero = (1 << FieldBits) - 1;  // the field value weighing 0
  localparam int MaxShift = Zero - 1;
  localparam int W = 8 + MaxShift;
  localparam int AmountBits = $clog2(MaxShift + 1);
  logic [FieldBits-1:0] field;
  logic [AmountBits-1:0] amount;
  logic negative;
  logic [31:0] distance;  // the shift, before its truncation to AmountBits
  logic signed [W-1:0] wide, shifted;
  logic signed [W:0] signed_product;  // one bit more: -(-128 << MaxShift) fits
  assign field = code[FieldBits-1:0];
  assign negative = LOG2_CODE == 0 && code[CODE_BITS-1];
  assign distance = LOG2_CODE != 0 ? MaxShift - 32'(field) : 32'(field);
  assign amount = distance[AmountBits-1:0];
  assign wide = {{MaxShift{x[7]}}, x};
  assign shifted = wide <<< amount;
  assign signed_product = negative ? -{shifted[W-1], shifted} : {shifted[W-1], shifted};
  assign product = 32'(field) == Zero ? '0 : 32'(signed_product);
endmodule
