#include "quant/onnx_import.hpp"

#include "quant/json_reader.hpp"

#include <onnx/onnx_pb.h>

#include <stdexcept>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <sstream>
#include <utility>
#include <vector>

namespace vitsim::quant {

namespace {

using onnx::AttributeProto;
using onnx::NodeProto;
using onnx::TensorProto;

size_t uz(int64_t v) {
  return static_cast<size_t>(v);
}

std::string dims_str(const Shape& s) {
  return "[" + shape_str(s) + "]";
}

// ---------------------------------------------------------------------------------------------------
// Constant tensors: initializers, Constant nodes and folded shape arithmetic.

struct Const {
  bool is_float = true;  // values in f; otherwise integers (and bools) in i
  Shape dims;
  std::vector<float> f;
  std::vector<int64_t> i;

  int64_t size() const { return numel(dims); }
  double at(int64_t k) const {
    return is_float ? static_cast<double>(f[uz(k)]) : static_cast<double>(i[uz(k)]);
  }
  int64_t int_at(int64_t k) const { return is_float ? static_cast<int64_t>(f[uz(k)]) : i[uz(k)]; }
  std::vector<int64_t> ints() const {
    std::vector<int64_t> v(uz(size()));
    for (int64_t k = 0; k < size(); ++k) v[uz(k)] = int_at(k);
    return v;
  }
};
using ConstPtr = std::shared_ptr<const Const>;

ConstPtr make_float(Shape dims, std::vector<float> values) {
  auto c = std::make_shared<Const>();
  c->dims = std::move(dims);
  c->f = std::move(values);
  return c;
}

ConstPtr make_int(Shape dims, std::vector<int64_t> values) {
  auto c = std::make_shared<Const>();
  c->is_float = false;
  c->dims = std::move(dims);
  c->i = std::move(values);
  return c;
}

bool is_float_type(int64_t t) {
  return t == TensorProto::FLOAT || t == TensorProto::DOUBLE || t == TensorProto::FLOAT16 ||
         t == TensorProto::BFLOAT16;
}

// Row-major strides of a shape.
std::vector<int64_t> strides_of(const Shape& s) {
  std::vector<int64_t> st(s.size(), 1);
  for (size_t k = s.size(); k-- > 1;) st[k - 1] = st[k] * s[k];
  return st;
}

// Elementwise activations the probe evaluates, and the IR activations they are compared with.
double ref_act(Act a, double x) {
  switch (a) {
    case Act::None:
      return x;
    case Act::ReLU:
      return x > 0 ? x : 0;
    case Act::HSwish:
      return x * std::min(std::max(x + 3.0, 0.0), 6.0) / 6.0;
    case Act::GeluTanh:
      return 0.5 * x * (1.0 + std::tanh(0.7978845608028654 * (x + 0.044715 * x * x * x)));
    case Act::GeluErf:
      return 0.5 * x * (1.0 + std::erf(x * 0.7071067811865476));
    case Act::ReLU6:
      return std::min(std::max(x, 0.0), 6.0);
    case Act::Sigmoid:
      return 1.0 / (1.0 + std::exp(-x));
    case Act::HSigmoid:
      return std::min(std::max(x + 3.0, 0.0), 6.0) / 6.0;
    case Act::SiLU:
      return x / (1.0 + std::exp(-x));
  }
  return x;
}

const std::set<std::string>& elementwise_ops() {
  static const std::set<std::string> ops = {"Relu", "HardSwish", "HardSigmoid", "Sigmoid", "Tanh", "Erf",
                                            "Sqrt", "Neg",       "Abs",         "Exp",     "Add",  "Sub",
                                            "Mul",  "Div",       "Pow",         "Min",     "Max",  "Clip"};
  return ops;
}

// ---------------------------------------------------------------------------------------------------

struct Dyn {
  int ir = -1;  // the IR node whose output holds this tensor's data
  Shape shape;  // the ONNX shape, batch included
};

// Per IR node, what the builder cannot set: parameters and the norm epsilon.
struct NodeExtra {
  std::map<std::string, Tensor> params;
  std::optional<float> norm_eps;

  // A layer's "weight" (dims as the IR's layout) and, if any, its "bias" (one per output channel).
  void set_weights(Shape dims, std::vector<float> weight, const std::optional<std::vector<float>>& bias) {
    Tensor w(dims);
    w.data = std::move(weight);
    params["weight"] = std::move(w);
    if (!bias) return;
    Tensor b({dims[0]});
    b.data = *bias;
    params["bias"] = std::move(b);
  }
};

struct SliceSpec {
  int64_t start = 0, end = 0, step = 1;
};

struct LnMatch {
  std::vector<int> nodes;
  std::string out;
  float eps = 1e-5f;
  std::vector<float> gamma, beta;
};

// The q, k and v of a multi-head self-attention's heads (Importer::attention_heads).
struct AttnHeads {
  std::string q, k, v;        // ONNX values: [1, h, T, dh] each (rank 4) or [h, T, dh] (rank 3)
  bool k_transposed = false;  // k is already k^T, [.., h, dh, T]
  int64_t rank = 4, tokens = 0, heads = 0, dh = 0;
};

struct Epilogue {
  std::string out;  // the ONNX value the fused layer produces
  Norm norm = Norm::None;
  float eps = 1e-5f;
  std::map<std::string, Tensor> norm_params;
  Act act = Act::None;
};

class Importer {
 public:
  Importer(std::string path, const onnx::ModelProto& model) : path_(std::move(path)), g_(model.graph()) {
    for (const onnx::OperatorSetIdProto& o : model.opset_import())
      if (o.domain().empty() || o.domain() == "ai.onnx") opset_ = o.version();
  }

  Graph run();

 private:
  // -- errors
  [[noreturn]] void fail(const std::string& what) const {
    throw std::invalid_argument("ONNX import of '" + path_ + "': " + what);
  }
  std::string node_desc(const NodeProto& n) const {
    const std::string name = n.name().empty() ? (n.output_size() ? "output " + n.output(0) : "?") : n.name();
    return "node '" + name + "' (" + (n.domain().empty() ? "" : n.domain() + ".") + n.op_type() + ", opset " +
           std::to_string(opset_) + ")";
  }
  [[noreturn]] void fail_node(const NodeProto& n, const std::string& what) const {
    fail(node_desc(n) + ": " + what);
  }

  const NodeProto& node(int i) const { return g_.node(i); }

  // -- attributes
  const AttributeProto* attr(const NodeProto& n, const char* name) const {
    for (const AttributeProto& a : n.attribute())
      if (a.name() == name) return &a;
    return nullptr;
  }
  int64_t attr_int(const NodeProto& n, const char* name, int64_t def) const {
    const AttributeProto* a = attr(n, name);
    return a ? a->i() : def;
  }
  float attr_float(const NodeProto& n, const char* name, float def) const {
    const AttributeProto* a = attr(n, name);
    return a ? a->f() : def;
  }
  std::string attr_string(const NodeProto& n, const char* name, const std::string& def) const {
    const AttributeProto* a = attr(n, name);
    return a ? a->s() : def;
  }
  std::optional<std::vector<int64_t>> attr_ints(const NodeProto& n, const char* name) const {
    const AttributeProto* a = attr(n, name);
    if (!a) return std::nullopt;
    return std::vector<int64_t>(a->ints().begin(), a->ints().end());
  }

  // -- tensors
  ConstPtr parse_tensor(const TensorProto& t, const std::string& what) const;
  const Const* constant(const std::string& value);
  ConstPtr fold(const NodeProto& n);
  const Const& const_input(const NodeProto& n, int k, const char* what);
  bool has_input(const NodeProto& n, int k) const { return n.input_size() > k && !n.input(k).empty(); }
  std::optional<double> const_scalar(const std::string& value);
  std::vector<int64_t> axes_of(const NodeProto& n, int input_k, int64_t rank, bool required);

  // -- values
  const Dyn* dyn(const std::string& v) const {
    auto it = dyn_.find(v);
    return it == dyn_.end() ? nullptr : &it->second;
  }
  const Dyn& dyn_input(const NodeProto& n, int k);
  int ir_input(const NodeProto& n, int k, size_t rank);
  int ir_rows_input(const NodeProto& n, int k);
  void bind(const std::string& v, int ir, Shape shape) { dyn_[v] = Dyn{ir, std::move(shape)}; }
  const std::vector<int>& users(const std::string& v) const {
    static const std::vector<int> none;
    auto it = users_.find(v);
    return it == users_.end() ? none : it->second;
  }
  // The users that read v's values: a Shape reads only its shape (and is folded).
  std::vector<int> data_users(const std::string& v) const {
    std::vector<int> u;
    for (int i : users(v))
      if (node(i).op_type() != "Shape") u.push_back(i);
    return u;
  }
  bool is_output(const std::string& v) const { return outputs_.count(v) > 0; }
  int only_user(const std::string& v, const char* op, const NodeProto& ctx, const std::string& what);
  void check_unused_outputs(const NodeProto& n, int from) const;

  // -- names
  std::string module_path(const NodeProto& n, bool layer) const;
  std::string layer_name(const NodeProto& n);
  std::string unique(std::string name);

  // -- ops
  void process(int idx);
  void conv(int idx);
  void se_conv(int idx);
  void pad(int idx);
  void channel_mul(int idx);
  int vector_input(const NodeProto& n, int k);
  void gemm(int idx, const std::string& name = "");
  void matmul(int idx, const std::string& name = "");
  void add(int idx);
  void max_pool(int idx);
  void concat(int idx);
  void reduce_mean(int idx);
  void layer_norm(int idx);
  void view(int idx);
  Shape reshape_target(const NodeProto& n, const Shape& in, Shape target) const;
  void lite_mla(int idx, const Dyn& x, const Shape& target);
  void vit_attention(int idx, const Dyn& x, const Shape& target);
  void mha_attention(int idx);
  std::string attention_heads(int in, std::vector<int> nodes, const AttnHeads& a, const std::string& base,
                              const std::string& what);
  void transpose(int idx);
  void gather(int idx);
  void class_token(int idx);
  void pos_embed(int idx, int const_k);
  std::string token_op_name(const NodeProto& n, const char* what);
  std::vector<SliceSpec> slice_spec(const NodeProto& n, const Shape& in);
  std::pair<int64_t, int64_t> slice_range(const NodeProto& n, const Shape& in, size_t axis,
                                          const std::string& what);
  Epilogue conv_epilogue(const std::string& v, int64_t channels);
  Epilogue linear_epilogue(const std::string& v, int64_t rank, int64_t features);
  std::optional<LnMatch> match_layer_norm(const std::string& x, int64_t rank, int64_t features);
  std::optional<std::pair<Act, std::string>> match_activation(const std::string& x,
                                                              const std::vector<Act>& candidates = {
                                                                  Act::ReLU, Act::ReLU6, Act::HSwish,
                                                                  Act::GeluErf, Act::GeluTanh, Act::Sigmoid,
                                                                  Act::HSigmoid, Act::SiLU});
  std::optional<std::vector<double>> probe(const std::string& x, const std::vector<int>& nodes,
                                           const std::string& y);
  void finish_linear(const std::string& name, int in, const Shape& in_shape, std::vector<float> weight,
                     int64_t out_f, int64_t in_f, std::optional<std::vector<float>> bias,
                     const std::string& out);
  void emit_layer_norm(const NodeProto& n, const LnMatch& ln, const Dyn& x);

  std::string path_;
  const onnx::GraphProto& g_;
  int64_t opset_ = 0;  // the ai.onnx opset the model declares
  std::optional<GraphBuilder> b_;
  std::map<int, NodeExtra> extra_;
  std::map<std::string, ConstPtr> const_;
  std::map<std::string, Dyn> dyn_;
  std::map<std::string, int> producer_;
  std::map<std::string, std::vector<int>> users_;
  std::set<std::string> outputs_;
  std::vector<bool> done_;
  std::set<std::string> names_;
  // Pad outputs folded into the Conv that reads them: the (top, left, bottom, right) zeros they add.
  std::map<std::string, std::vector<int64_t>> folded_pads_;
  int current_ = 0;
};

// ---------------------------------------------------------------------------------------------------
// Tensors

ConstPtr Importer::parse_tensor(const TensorProto& t, const std::string& what) const {
  if (t.data_location() == TensorProto::EXTERNAL)
    fail(what + " keeps its data in an external file, which is not supported (save the model as one file)");
  auto c = std::make_shared<Const>();
  int64_t n = 1;
  for (int64_t d : t.dims()) {
    if (d < 0 || (d > 0 && n > (int64_t{1} << 40) / d)) fail(what + " has an invalid shape");
    c->dims.push_back(d);
    n *= d;
  }
  const std::string& raw = t.raw_data();
  {  // the stored values must be exactly the shape's, before anything is allocated for them
    const int64_t type = t.data_type();
    size_t elem = 0;
    int64_t typed = 0;
    switch (type) {
      case TensorProto::FLOAT:
        elem = 4, typed = t.float_data_size();
        break;
      case TensorProto::DOUBLE:
        elem = 8, typed = t.double_data_size();
        break;
      case TensorProto::INT64:
        elem = 8, typed = t.int64_data_size();
        break;
      case TensorProto::INT32:
        elem = 4, typed = t.int32_data_size();
        break;
      case TensorProto::INT16:
      case TensorProto::UINT16:
        elem = 2, typed = t.int32_data_size();
        break;
      case TensorProto::INT8:
      case TensorProto::UINT8:
      case TensorProto::BOOL:
        elem = 1, typed = t.int32_data_size();
        break;
      default:
        break;  // unsupported: reported below
    }
    const int64_t stored =
        !raw.empty() ? static_cast<int64_t>(raw.size() / std::max<size_t>(elem, 1)) : typed;
    if (elem && stored != n)
      fail(what + " holds " + std::to_string(stored) + " values for shape " + dims_str(c->dims) +
           " (corrupt or truncated file?)");
  }
  auto check_count = [&](int64_t got) {
    if (got != n)
      fail(what + " holds " + std::to_string(got) + " values for shape " + dims_str(c->dims) +
           " (corrupt or truncated file?)");
  };
  auto raw_copy = [&](auto* dst, size_t elem) {
    check_count(static_cast<int64_t>(raw.size() / elem));
    if (raw.size() % elem) fail(what + " has a raw buffer of odd size");
    if (!raw.empty()) std::memcpy(dst, raw.data(), raw.size());  // little-endian hosts only (x86, ARM)
  };
  const int64_t type = t.data_type();
  c->is_float = is_float_type(type);
  if (type == TensorProto::FLOAT) {
    c->f.resize(uz(n));
    if (!raw.empty() || t.float_data_size() == 0) {
      raw_copy(c->f.data(), sizeof(float));
    } else {
      check_count(t.float_data_size());
      std::copy(t.float_data().begin(), t.float_data().end(), c->f.begin());
    }
  } else if (type == TensorProto::DOUBLE) {
    std::vector<double> d(uz(n));
    if (!raw.empty() || t.double_data_size() == 0) {
      raw_copy(d.data(), sizeof(double));
    } else {
      check_count(t.double_data_size());
      std::copy(t.double_data().begin(), t.double_data().end(), d.begin());
    }
    c->f.assign(d.begin(), d.end());
  } else if (type == TensorProto::INT64) {
    c->i.resize(uz(n));
    if (!raw.empty() || t.int64_data_size() == 0) {
      raw_copy(c->i.data(), sizeof(int64_t));
    } else {
      check_count(t.int64_data_size());
      std::copy(t.int64_data().begin(), t.int64_data().end(), c->i.begin());
    }
  } else if (type == TensorProto::INT32 || type == TensorProto::INT16 || type == TensorProto::INT8 ||
             type == TensorProto::UINT8 || type == TensorProto::UINT16 || type == TensorProto::BOOL) {
    c->i.resize(uz(n));
    if (!raw.empty() || t.int32_data_size() == 0) {
      auto widen = [&](auto tag) {
        using T = decltype(tag);
        std::vector<T> v(uz(n));
        raw_copy(v.data(), sizeof(T));
        std::transform(v.begin(), v.end(), c->i.begin(), [](T x) { return static_cast<int64_t>(x); });
      };
      switch (type) {
        case TensorProto::INT32:
          widen(int32_t{});
          break;
        case TensorProto::INT16:
          widen(int16_t{});
          break;
        case TensorProto::INT8:
          widen(int8_t{});
          break;
        case TensorProto::UINT16:
          widen(uint16_t{});
          break;
        default:
          widen(uint8_t{});
          break;  // UINT8, BOOL
      }
    } else {
      check_count(t.int32_data_size());
      std::copy(t.int32_data().begin(), t.int32_data().end(), c->i.begin());
    }
  } else {
    fail(what + " has data type " + TensorProto::DataType_Name(static_cast<TensorProto::DataType>(type)) +
         ", which is not supported (only float32/float64 weights and integer shape tensors)");
  }
  return c;
}

const Const& Importer::const_input(const NodeProto& n, int k, const char* what) {
  if (!has_input(n, k)) fail_node(n, std::string("has no ") + what + " input");
  const Const* c = constant(n.input(k));
  if (!c) fail_node(n, std::string(what) + " '" + n.input(k) + "' must be a constant (initializer)");
  return *c;
}

std::optional<double> Importer::const_scalar(const std::string& value) {
  const Const* c = constant(value);
  if (!c || c->size() != 1) return std::nullopt;
  return c->at(0);
}

// Axes from input k (opset >= 13/18) or the "axes" attribute; normalized to [0, rank), sorted.
std::vector<int64_t> Importer::axes_of(const NodeProto& n, int input_k, int64_t rank, bool required) {
  std::vector<int64_t> axes;
  if (has_input(n, input_k)) {
    axes = const_input(n, input_k, "axes").ints();
  } else if (auto a = attr_ints(n, "axes")) {
    axes = *a;
  } else if (required) {
    fail_node(n, "has no axes");
  }
  for (int64_t& a : axes) {
    if (a < -rank || a >= rank)
      fail_node(n, "axis " + std::to_string(a) + " is out of range for rank " + std::to_string(rank));
    if (a < 0) a += rank;
  }
  std::sort(axes.begin(), axes.end());
  return axes;
}

// The constant value of `value`, folding its producer (recursively) when every input is constant; nullptr
// when the value depends on the image.
const Const* Importer::constant(const std::string& value) {
  if (value.empty()) return nullptr;
  auto it = const_.find(value);
  if (it != const_.end()) return it->second.get();
  if (dyn_.count(value)) return nullptr;
  auto p = producer_.find(value);
  if (p == producer_.end()) return nullptr;
  const NodeProto& n = node(p->second);
  if (n.output_size() < 1 || n.output(0) != value) return nullptr;
  ConstPtr c = fold(n);
  if (!c) return nullptr;
  const_[value] = c;
  return c.get();
}

// The shape a Reshape of `in` to `target` produces (ONNX semantics: 0 copies the input's dimension unless
// allowzero, one -1 is inferred); fails on an invalid target.
Shape Importer::reshape_target(const NodeProto& n, const Shape& in, Shape target) const {
  const bool allowzero = attr_int(n, "allowzero", 0) != 0;
  int64_t known = 1, infer = -1;
  for (size_t k = 0; k < target.size(); ++k) {
    if (target[k] == 0 && !allowzero) {
      if (k >= in.size()) fail_node(n, "shape copies a dimension the input does not have");
      target[k] = in[k];
    }
    if (target[k] < -1) fail_node(n, "invalid target shape " + dims_str(target));
    if (target[k] == -1)
      infer = static_cast<int64_t>(k);
    else
      known *= target[k];
  }
  if (infer >= 0) target[uz(infer)] = known ? numel(in) / known : 0;
  if (numel(target) != numel(in)) fail_node(n, "cannot reshape " + dims_str(in) + " to " + dims_str(target));
  return target;
}

// Numpy broadcasting of the given shapes.
Shape broadcast_shape(const std::vector<const Const*>& ins, bool& ok) {
  size_t rank = 0;
  for (const Const* c : ins) rank = std::max(rank, c->dims.size());
  Shape out(rank, 1);
  ok = true;
  for (const Const* c : ins)
    for (size_t k = 0; k < c->dims.size(); ++k) {
      int64_t& o = out[rank - c->dims.size() + k];
      const int64_t d = c->dims[k];
      if (o == 1)
        o = d;
      else if (d != 1 && d != o)
        ok = false;
    }
  return out;
}

ConstPtr Importer::fold(const NodeProto& n) {
  static const std::set<std::string> foldable = {
      "Constant",        "Identity", "Cast",    "Shape",   "Gather", "Unsqueeze",
      "Squeeze",         "Concat",   "Reshape", "Flatten", "Slice",  "Transpose",
      "ConstantOfShape", "Add",      "Sub",     "Mul",     "Div",    "Pow",
      "Equal",           "Min",      "Max",     "Neg",     "Sqrt",   "Abs",
      "Where",           "Expand",   "Range",   "Floor",   "Ceil"};
  if (!n.domain().empty() && n.domain() != "ai.onnx") return nullptr;
  const std::string& op = n.op_type();
  if (!foldable.count(op)) return nullptr;

  if (op == "Constant") {
    if (const AttributeProto* a = attr(n, "value")) return parse_tensor(a->t(), node_desc(n) + " value");
    if (const AttributeProto* a = attr(n, "value_float")) return make_float({}, {a->f()});
    if (const AttributeProto* a = attr(n, "value_floats"))
      return make_float({static_cast<int64_t>(a->floats_size())}, {a->floats().begin(), a->floats().end()});
    if (const AttributeProto* a = attr(n, "value_int")) return make_int({}, {a->i()});
    if (const AttributeProto* a = attr(n, "value_ints"))
      return make_int({static_cast<int64_t>(a->ints_size())}, {a->ints().begin(), a->ints().end()});
    fail_node(n, "constant kind not supported (sparse or string)");
  }
  if (op == "Shape") {
    Shape s;
    if (const Const* c = constant(n.input(0)))
      s = c->dims;
    else if (const Dyn* d = dyn(n.input(0)))
      s = d->shape;
    else
      return nullptr;
    const int64_t r = static_cast<int64_t>(s.size());
    int64_t start = attr_int(n, "start", 0), end = attr_int(n, "end", r);
    if (start < 0) start += r;
    if (end < 0) end += r;
    start = std::clamp<int64_t>(start, 0, r);
    end = std::clamp<int64_t>(end, start, r);
    return make_int({end - start}, Shape(s.begin() + start, s.begin() + end));
  }

  // Every other foldable op needs all its (present) inputs constant.
  std::vector<const Const*> in;
  for (int k = 0; k < n.input_size(); ++k) {
    if (n.input(k).empty()) {
      in.push_back(nullptr);
      continue;
    }
    const Const* c = constant(n.input(k));
    if (!c) return nullptr;
    in.push_back(c);
  }
  auto input = [&](int k) -> const Const& {
    if (k >= static_cast<int>(in.size()) || !in[uz(k)]) fail_node(n, "missing input " + std::to_string(k));
    return *in[uz(k)];
  };
  const Const& x = input(0);
  const int64_t rank = static_cast<int64_t>(x.dims.size());

  if (op == "Identity") return constant(n.input(0)) ? const_.at(n.input(0)) : nullptr;
  if (op == "Cast") {
    const int64_t to = attr_int(n, "to", TensorProto::FLOAT);
    auto c = std::make_shared<Const>();
    c->dims = x.dims;
    c->is_float = is_float_type(to);
    for (int64_t k = 0; k < x.size(); ++k) {
      if (c->is_float)
        c->f.push_back(static_cast<float>(x.at(k)));
      else if (to == TensorProto::BOOL)
        c->i.push_back(x.at(k) != 0.0 ? 1 : 0);
      else
        c->i.push_back(x.is_float ? static_cast<int64_t>(std::trunc(x.at(k))) : x.i[uz(k)]);
    }
    return c;
  }
  auto check_size = [&](const Shape& s) {
    int64_t count = 1;
    for (int64_t d : s) {
      if (d < 0 || (d > 0 && count > (int64_t{1} << 26) / d))
        fail_node(n, "would create a constant of shape " + dims_str(s));
      count *= d;
    }
  };
  if (op == "ConstantOfShape") {
    Shape s = x.ints();
    check_size(s);
    ConstPtr v = make_float({1}, {0.0f});
    if (const AttributeProto* a = attr(n, "value")) v = parse_tensor(a->t(), node_desc(n) + " value");
    if (v->size() != 1) fail_node(n, "value must hold one element");
    auto c = std::make_shared<Const>();
    c->dims = s;
    c->is_float = v->is_float;
    if (c->is_float)
      c->f.assign(uz(numel(s)), v->f[0]);
    else
      c->i.assign(uz(numel(s)), v->i[0]);
    return c;
  }
  if (op == "Range") {
    const double start = x.at(0), limit = input(1).at(0), delta = input(2).at(0);
    if (delta == 0) fail_node(n, "delta is 0");
    const double steps = std::ceil((limit - start) / delta);
    if (!(steps < static_cast<double>(int64_t{1} << 26))) fail_node(n, "range is too long");
    const int64_t count = std::max<int64_t>(0, static_cast<int64_t>(steps));
    auto c = std::make_shared<Const>();
    c->dims = {count};
    c->is_float = x.is_float;
    for (int64_t k = 0; k < count; ++k) {
      const double v = start + static_cast<double>(k) * delta;
      if (c->is_float)
        c->f.push_back(static_cast<float>(v));
      else
        c->i.push_back(static_cast<int64_t>(v));
    }
    return c;
  }

  // Ops that rearrange data: compute, for each output element, the index of its source element.
  auto gather_by = [&](const Const& src, Shape out_dims, const std::vector<int64_t>& src_index) {
    auto c = std::make_shared<Const>();
    c->dims = std::move(out_dims);
    c->is_float = src.is_float;
    for (int64_t k : src_index) {
      if (c->is_float)
        c->f.push_back(src.f[uz(k)]);
      else
        c->i.push_back(src.i[uz(k)]);
    }
    return c;
  };
  auto iota = [](int64_t count) {
    std::vector<int64_t> v(uz(count));
    for (int64_t k = 0; k < count; ++k) v[uz(k)] = k;
    return v;
  };

  if (op == "Reshape" || op == "Flatten" || op == "Squeeze" || op == "Unsqueeze" || op == "Expand") {
    Shape out;
    if (op == "Reshape") {
      out = reshape_target(n, x.dims, input(1).ints());
    } else if (op == "Flatten") {
      int64_t axis = attr_int(n, "axis", 1);
      if (axis < 0) axis += rank;
      out = {numel(Shape(x.dims.begin(), x.dims.begin() + axis)),
             numel(Shape(x.dims.begin() + axis, x.dims.end()))};
    } else if (op == "Squeeze") {
      const std::vector<int64_t> axes = axes_of(n, 1, rank, false);
      for (int64_t k = 0; k < rank; ++k) {
        const bool listed = std::find(axes.begin(), axes.end(), k) != axes.end();
        if (!(axes.empty() ? x.dims[uz(k)] == 1 : listed)) out.push_back(x.dims[uz(k)]);
      }
    } else if (op == "Unsqueeze") {
      const int64_t out_rank =
          rank + static_cast<int64_t>(has_input(n, 1)
                                          ? input(1).size()
                                          : attr_ints(n, "axes").value_or(std::vector<int64_t>{}).size());
      const std::vector<int64_t> axes = axes_of(n, 1, out_rank, true);
      size_t next = 0;
      for (int64_t k = 0; k < out_rank; ++k)
        out.push_back(std::find(axes.begin(), axes.end(), k) != axes.end() ? 1 : x.dims[next++]);
    } else {  // Expand: broadcast x to the shape
      const Shape target = input(1).ints();
      check_size(target);
      const Const shape_only{true, target, {}, {}};
      bool ok = true;
      out = broadcast_shape({&x, &shape_only}, ok);
      if (!ok) fail_node(n, "cannot expand " + dims_str(x.dims) + " to " + dims_str(target));
      const std::vector<int64_t> ost = strides_of(out), xst = strides_of(x.dims);
      std::vector<int64_t> idx(uz(numel(out)));
      for (int64_t k = 0; k < numel(out); ++k) {
        int64_t src = 0, rem = k;
        for (size_t a = 0; a < out.size(); ++a) {
          const int64_t coord = rem / ost[a];
          rem %= ost[a];
          const int64_t xa = static_cast<int64_t>(a) - static_cast<int64_t>(out.size() - x.dims.size());
          if (xa >= 0 && x.dims[uz(xa)] != 1) src += coord * xst[uz(xa)];
        }
        idx[uz(k)] = src;
      }
      return gather_by(x, out, idx);
    }
    if (numel(out) != x.size()) fail_node(n, "cannot reshape " + dims_str(x.dims) + " to " + dims_str(out));
    return gather_by(x, out, iota(x.size()));
  }
  if (op == "Transpose") {
    std::vector<int64_t> perm = attr_ints(n, "perm").value_or(std::vector<int64_t>{});
    if (perm.empty())
      for (int64_t k = rank; k-- > 0;) perm.push_back(k);
    if (static_cast<int64_t>(perm.size()) != rank) fail_node(n, "perm does not match the rank");
    Shape out;
    for (int64_t p : perm) out.push_back(x.dims[uz(p)]);
    const std::vector<int64_t> ost = strides_of(out), xst = strides_of(x.dims);
    std::vector<int64_t> idx(uz(x.size()));
    for (int64_t k = 0; k < x.size(); ++k) {
      int64_t src = 0, rem = k;
      for (size_t a = 0; a < out.size(); ++a) {
        src += (rem / ost[a]) * xst[uz(perm[a])];
        rem %= ost[a];
      }
      idx[uz(k)] = src;
    }
    return gather_by(x, out, idx);
  }
  if (op == "Gather") {
    int64_t axis = attr_int(n, "axis", 0);
    if (axis < 0) axis += rank;
    if (axis < 0 || axis >= rank) fail_node(n, "axis out of range");
    const Const& ind = input(1);
    Shape out(x.dims.begin(), x.dims.begin() + axis);
    out.insert(out.end(), ind.dims.begin(), ind.dims.end());
    out.insert(out.end(), x.dims.begin() + axis + 1, x.dims.end());
    const int64_t outer = numel(Shape(x.dims.begin(), x.dims.begin() + axis));
    const int64_t inner = numel(Shape(x.dims.begin() + axis + 1, x.dims.end()));
    const int64_t dim = x.dims[uz(axis)];
    std::vector<int64_t> idx;
    for (int64_t o = 0; o < outer; ++o)
      for (int64_t j = 0; j < ind.size(); ++j) {
        int64_t g = ind.int_at(j);
        if (g < 0) g += dim;
        if (g < 0 || g >= dim) fail_node(n, "index out of range");
        for (int64_t in_k = 0; in_k < inner; ++in_k) idx.push_back((o * dim + g) * inner + in_k);
      }
    return gather_by(x, out, idx);
  }
  if (op == "Concat") {
    int64_t axis = attr_int(n, "axis", 0);
    if (axis < 0) axis += rank;
    if (axis < 0 || axis >= rank) fail_node(n, "axis out of range");
    Shape out = x.dims;
    out[uz(axis)] = 0;
    for (const Const* c : in) {
      if (!c) continue;
      if (c->dims.size() != x.dims.size() || c->is_float != x.is_float) fail_node(n, "inputs do not match");
      out[uz(axis)] += c->dims[uz(axis)];
    }
    const int64_t outer = numel(Shape(out.begin(), out.begin() + axis));
    auto c = std::make_shared<Const>();
    c->dims = out;
    c->is_float = x.is_float;
    for (int64_t o = 0; o < outer; ++o)
      for (const Const* s : in) {
        if (!s) continue;
        const int64_t chunk = numel(Shape(s->dims.begin() + axis, s->dims.end()));
        for (int64_t k = 0; k < chunk; ++k) {
          if (c->is_float)
            c->f.push_back(s->f[uz(o * chunk + k)]);
          else
            c->i.push_back(s->i[uz(o * chunk + k)]);
        }
      }
    return c;
  }
  if (op == "Slice") {
    const std::vector<SliceSpec> spec = slice_spec(n, x.dims);
    Shape out;
    for (const SliceSpec& s : spec)
      out.push_back(std::max<int64_t>(0, (s.end - s.start + s.step + (s.step > 0 ? -1 : 1)) / s.step));
    const std::vector<int64_t> ost = strides_of(out), xst = strides_of(x.dims);
    std::vector<int64_t> idx(uz(numel(out)));
    for (int64_t k = 0; k < numel(out); ++k) {
      int64_t src = 0, rem = k;
      for (size_t a = 0; a < out.size(); ++a) {
        src += (spec[a].start + (rem / ost[a]) * spec[a].step) * xst[a];
        rem %= ost[a];
      }
      idx[uz(k)] = src;
    }
    return gather_by(x, out, idx);
  }

  // Elementwise ops with numpy broadcasting, computed in double.
  std::vector<const Const*> args;
  for (const Const* c : in)
    if (c) args.push_back(c);
  bool ok = true;
  const Shape out = broadcast_shape(args, ok);
  if (!ok) fail_node(n, "inputs cannot be broadcast together");
  bool result_float = false;
  for (size_t k = (op == "Where" ? 1 : 0); k < args.size(); ++k)
    result_float = result_float || args[k]->is_float;
  if (op == "Equal") result_float = false;
  std::function<double(const std::vector<double>&)> fn;
  if (op == "Add")
    fn = [](const std::vector<double>& v) { return v[0] + v[1]; };
  else if (op == "Sub")
    fn = [](const std::vector<double>& v) { return v[0] - v[1]; };
  else if (op == "Mul")
    fn = [](const std::vector<double>& v) { return v[0] * v[1]; };
  else if (op == "Div")
    fn = [result_float](const std::vector<double>& v) {
      return result_float ? v[0] / v[1] : std::trunc(v[0] / v[1]);
    };
  else if (op == "Pow")
    fn = [](const std::vector<double>& v) { return std::pow(v[0], v[1]); };
  else if (op == "Equal")
    fn = [](const std::vector<double>& v) { return v[0] == v[1] ? 1.0 : 0.0; };
  else if (op == "Min")
    fn = [](const std::vector<double>& v) { return *std::min_element(v.begin(), v.end()); };
  else if (op == "Max")
    fn = [](const std::vector<double>& v) { return *std::max_element(v.begin(), v.end()); };
  else if (op == "Neg")
    fn = [](const std::vector<double>& v) { return -v[0]; };
  else if (op == "Sqrt")
    fn = [](const std::vector<double>& v) { return std::sqrt(v[0]); };
  else if (op == "Abs")
    fn = [](const std::vector<double>& v) { return std::abs(v[0]); };
  else if (op == "Floor")
    fn = [](const std::vector<double>& v) { return std::floor(v[0]); };
  else if (op == "Ceil")
    fn = [](const std::vector<double>& v) { return std::ceil(v[0]); };
  else if (op == "Where")
    fn = [](const std::vector<double>& v) { return v[0] != 0.0 ? v[1] : v[2]; };
  else
    return nullptr;
  auto c = std::make_shared<Const>();
  c->dims = out;
  c->is_float = result_float;
  const std::vector<int64_t> ost = strides_of(out);
  std::vector<double> vals(args.size());
  for (int64_t k = 0; k < numel(out); ++k) {
    for (size_t a = 0; a < args.size(); ++a) {
      const Const& s = *args[a];
      const std::vector<int64_t> sst = strides_of(s.dims);
      int64_t src = 0, rem = k;
      for (size_t d = 0; d < out.size(); ++d) {
        const int64_t coord = rem / ost[d];
        rem %= ost[d];
        const int64_t sd = static_cast<int64_t>(d) - static_cast<int64_t>(out.size() - s.dims.size());
        if (sd >= 0 && s.dims[uz(sd)] != 1) src += coord * sst[uz(sd)];
      }
      vals[a] = s.at(src);
    }
    const double r = fn(vals);
    if (result_float)
      c->f.push_back(static_cast<float>(r));
    else
      c->i.push_back(static_cast<int64_t>(r));
  }
  return c;
}

// Per-axis slice ranges (ONNX semantics: negative indices count from the end, then clamped), for every
// axis of the input; axes the node does not slice get the full range.
std::vector<SliceSpec> Importer::slice_spec(const NodeProto& n, const Shape& in) {
  const int64_t rank = static_cast<int64_t>(in.size());
  std::vector<int64_t> starts, ends, axes, steps;
  if (has_input(n, 1)) {  // opset >= 10
    starts = const_input(n, 1, "starts").ints();
    ends = const_input(n, 2, "ends").ints();
    if (has_input(n, 3)) axes = const_input(n, 3, "axes").ints();
    if (has_input(n, 4)) steps = const_input(n, 4, "steps").ints();
  } else {
    starts = attr_ints(n, "starts").value_or(std::vector<int64_t>{});
    ends = attr_ints(n, "ends").value_or(std::vector<int64_t>{});
    axes = attr_ints(n, "axes").value_or(std::vector<int64_t>{});
  }
  if (starts.size() != ends.size()) fail_node(n, "starts and ends differ in length");
  if (axes.empty())
    for (size_t k = 0; k < starts.size(); ++k) axes.push_back(static_cast<int64_t>(k));
  if (steps.empty()) steps.assign(starts.size(), 1);
  if (axes.size() != starts.size() || steps.size() != starts.size())
    fail_node(n, "slice parameters differ in length");
  std::vector<SliceSpec> spec(in.size());
  for (size_t a = 0; a < in.size(); ++a) spec[a] = {0, in[a], 1};
  for (size_t k = 0; k < starts.size(); ++k) {
    int64_t axis = axes[k];
    if (axis < 0) axis += rank;
    if (axis < 0 || axis >= rank) fail_node(n, "slice axis out of range");
    const int64_t dim = in[uz(axis)], step = steps[k];
    if (step == 0) fail_node(n, "slice step is 0");
    auto wrap = [dim](int64_t v) { return v < 0 ? (v < -dim ? -1 : v + dim) : v; };
    int64_t s = wrap(starts[k]), e = wrap(ends[k]);
    if (step > 0) {
      s = std::clamp<int64_t>(s, 0, dim);
      e = std::clamp<int64_t>(e, 0, dim);
    } else {
      s = std::clamp<int64_t>(s, 0, dim - 1);
      e = std::clamp<int64_t>(e, -1, dim - 1);
    }
    spec[uz(axis)] = {s, e, step};
  }
  return spec;
}

// The [start, end) a Slice takes along `axis`; every other axis must be kept whole, with step 1 (else fails,
// naming the pattern `what`).
std::pair<int64_t, int64_t> Importer::slice_range(const NodeProto& n, const Shape& in, size_t axis,
                                                  const std::string& what) {
  const std::vector<SliceSpec> spec = slice_spec(n, in);
  for (size_t a = 0; a < spec.size(); ++a) {
    const bool whole = spec[a].start == 0 && spec[a].end == in[a] && spec[a].step == 1;
    if (a != axis && !whole)
      fail_node(n, what + ": expected a slice along axis " + std::to_string(axis) + " only");
    if (a == axis && spec[a].step != 1) fail_node(n, what + ": expected a slice with step 1");
  }
  return {spec[axis].start, std::max(spec[axis].start, spec[axis].end)};
}

// ---------------------------------------------------------------------------------------------------
// Values

const Dyn& Importer::dyn_input(const NodeProto& n, int k) {
  if (!has_input(n, k)) fail_node(n, "missing input " + std::to_string(k));
  const Dyn* d = dyn(n.input(k));
  if (!d) {
    if (constant(n.input(k)))
      fail_node(n, "input '" + n.input(k) + "' is a constant; an activation was expected");
    fail_node(
        n, "input '" + n.input(k) + "' is not produced by an earlier node (graph not topologically sorted?)");
  }
  return *d;
}

// The IR node holding input k, checking that the ONNX layout of the tensor is the IR node's layout
// (the ONNX shape is the IR shape, with or without the leading batch 1).
int Importer::ir_input(const NodeProto& n, int k, size_t rank) {
  const Dyn& d = dyn_input(n, k);
  if (rank && d.shape.size() != rank)
    fail_node(n, "input '" + n.input(k) + "' has shape " + dims_str(d.shape) + ", expected rank " +
                     std::to_string(rank));
  const Shape& irs = b_->shape(d.ir);
  const bool same = d.shape == irs ||
                    (!d.shape.empty() && d.shape[0] == 1 && Shape(d.shape.begin() + 1, d.shape.end()) == irs);
  if (!same)
    fail_node(n, "input '" + n.input(k) + "' has ONNX shape " + dims_str(d.shape) +
                     " but its data is laid out as " + dims_str(irs) +
                     " by the layer that computes it (reshapes between layers are not supported)");
  return d.ir;
}

// The IR node holding input k of a Linear, which works on the last axis: the ONNX shape may differ from the
// IR node's in the leading axes when the last axis and the element count agree. Every relabel keeps the
// row-major order, so the rows are the same (torch's sequence-first [T, 1, D] view of [T, D] tokens).
int Importer::ir_rows_input(const NodeProto& n, int k) {
  const Dyn& d = dyn_input(n, k);
  const Shape& irs = b_->shape(d.ir);
  if (!d.shape.empty() && !irs.empty() && d.shape.back() == irs.back() && numel(d.shape) == numel(irs))
    return d.ir;
  return ir_input(n, k, 0);  // fails, naming both shapes
}

int Importer::only_user(const std::string& v, const char* op, const NodeProto& ctx, const std::string& what) {
  const std::vector<int>& u = users(v);
  if (u.size() != 1 || is_output(v) || node(u[0]).op_type() != op) {
    std::string found;
    for (int i : u) found += (found.empty() ? "" : ", ") + node_desc(node(i));
    if (is_output(v)) found += (found.empty() ? "" : ", ") + std::string("the graph output");
    fail_node(ctx, what + ": expected '" + v + "' to feed exactly one " + op + " node, found " +
                       (found.empty() ? "no consumer" : found));
  }
  return u[0];
}

void Importer::check_unused_outputs(const NodeProto& n, int from) const {
  for (int k = from; k < n.output_size(); ++k)
    if (!n.output(k).empty() && (!users(n.output(k)).empty() || is_output(n.output(k))))
      fail_node(n,
                "output " + std::to_string(k) + " ('" + n.output(k) + "') is used, which is not supported");
}

// ---------------------------------------------------------------------------------------------------
// Names

// torch's scoped name "/backbone/stages.2/op_list.1/main/qkv/conv/Conv" -> module
// "stages.2.op_list.1.main.qkv" (components joined by '.', a component that extends its parent replaces it:
// "aggreg.0/aggreg.0.0" -> "aggreg.0.0"; "backbone." dropped; for layers, a trailing ConvLayer/LinearLayer
// ".conv"/".linear" dropped).
std::string Importer::module_path(const NodeProto& n, bool layer) const {
  std::vector<std::string> comps, mod;
  std::stringstream ss(n.name());
  for (std::string c; std::getline(ss, c, '/');)
    if (!c.empty()) comps.push_back(c);
  if (comps.size() <= 1) return "";
  comps.pop_back();
  for (const std::string& c : comps) {
    if (!mod.empty() && c.rfind(mod.back() + ".", 0) == 0)
      mod.back() = c;
    else
      mod.push_back(c);
  }
  if (mod.size() > 1 && mod.front() == "backbone") mod.erase(mod.begin());
  if (layer && mod.size() > 1 && (mod.back() == "conv" || mod.back() == "linear")) mod.pop_back();
  std::string s;
  for (const std::string& c : mod) s += (s.empty() ? "" : ".") + c;
  return s;
}

std::string Importer::layer_name(const NodeProto& n) {
  static const std::set<std::string> layers = {
      "Conv", "Gemm", "MatMul", "GlobalAveragePool", "MaxPool", "ReduceMean", "LayerNormalization"};
  std::string leaf = n.name();
  const size_t slash = leaf.find_last_of('/');
  if (slash != std::string::npos) leaf = leaf.substr(slash + 1);
  const bool layer = layers.count(n.op_type()) > 0;
  std::string mod = module_path(n, layer);
  std::string name;
  if (mod.empty()) {
    name = !leaf.empty() ? leaf : n.output_size() ? n.output(0) : n.op_type();
  } else if (layer && leaf == n.op_type()) {
    name = mod;
  } else {
    std::string suffix = leaf;
    std::transform(suffix.begin(), suffix.end(), suffix.begin(),
                   [](unsigned char c) { return std::tolower(c); });
    name = mod + "." + suffix;
  }
  return unique(name);
}

std::string Importer::unique(std::string name) {
  if (names_.count(name)) {
    int k = 2;
    while (names_.count(name + "_" + std::to_string(k))) ++k;
    name += "_" + std::to_string(k);
  }
  names_.insert(name);
  return name;
}

// ---------------------------------------------------------------------------------------------------
// Fusion: BatchNorm, LayerNorm, activations

// Elementwise chains x -> ... -> y are identified by evaluating them: the nodes after x's producer that
// read only x, values computed from x and scalar constants are collected in order; whenever x and the
// intermediate values are used only inside the collected nodes except for one value y, the chain x -> y is
// evaluated on a grid and compared with the IR's activations.
std::optional<std::pair<Act, std::string>> Importer::match_activation(const std::string& x,
                                                                      const std::vector<Act>& candidates) {
  if (is_output(x) || users(x).empty()) return std::nullopt;
  std::set<std::string> live = {x};
  std::vector<int> chain;
  std::set<int> in_chain;
  const int start = producer_.count(x) ? producer_.at(x) + 1 : 0;
  for (int i = start; i < g_.node_size() && chain.size() < 16; ++i) {
    if (done_[uz(i)]) continue;
    const NodeProto& n = node(i);
    bool reads_live = false,
         admissible = elementwise_ops().count(n.op_type()) > 0 && n.domain().empty() && n.output_size() == 1;
    for (const std::string& in : n.input()) {
      if (in.empty()) continue;
      if (live.count(in))
        reads_live = true;
      else if (!const_scalar(in))
        admissible = false;
    }
    if (!reads_live) continue;
    if (!admissible) return std::nullopt;
    chain.push_back(i);
    in_chain.insert(i);
    live.insert(n.output(0));
    std::vector<std::string> escaping;
    for (const std::string& v : live) {
      bool escapes = is_output(v);
      for (int u : users(v)) escapes = escapes || !in_chain.count(u);
      if (escapes) escaping.push_back(v);
    }
    if (escaping.size() != 1 || escaping[0] == x) continue;
    const std::optional<std::vector<double>> y = probe(x, chain, escaping[0]);
    if (!y) return std::nullopt;
    for (Act a : candidates) {
      bool match = true;
      for (size_t k = 0; k < y->size() && match; ++k) {
        const double xv = -10.0 + 0.025 * static_cast<double>(k), r = ref_act(a, xv);
        match = std::abs((*y)[k] - r) <= 1e-5 * std::max(1.0, std::abs(r));
      }
      if (match) {
        for (int c : chain) done_[uz(c)] = true;
        return std::make_pair(a, escaping[0]);
      }
    }
  }
  return std::nullopt;
}

// Evaluates the elementwise chain on x = -10, -9.975, ..., 10 (in double).
std::optional<std::vector<double>> Importer::probe(const std::string& x, const std::vector<int>& nodes,
                                                   const std::string& y) {
  std::map<std::string, std::vector<double>> vals;
  std::vector<double>& xs = vals[x];
  for (int k = 0; k <= 800; ++k) xs.push_back(-10.0 + 0.025 * k);
  const size_t count = xs.size();
  for (int i : nodes) {
    const NodeProto& n = node(i);
    std::vector<std::vector<double>> in;
    for (const std::string& v : n.input()) {
      if (v.empty()) {
        in.emplace_back();
        continue;
      }
      auto it = vals.find(v);
      in.push_back(it != vals.end() ? it->second : std::vector<double>(count, *const_scalar(v)));
    }
    auto arg = [&](size_t k, size_t j, double def) {
      return k < in.size() && !in[k].empty() ? in[k][j] : def;
    };
    const std::string& op = n.op_type();
    std::vector<double> out(count);
    const double alpha = attr_float(n, "alpha", 0.2f), beta = attr_float(n, "beta", 0.5f);
    const double lo = attr_float(n, "min", -std::numeric_limits<float>::max());
    const double hi = attr_float(n, "max", std::numeric_limits<float>::max());
    for (size_t j = 0; j < count; ++j) {
      const double a = arg(0, j, 0.0), b = arg(1, j, 0.0);
      double r;
      if (op == "Relu")
        r = a > 0 ? a : 0;
      else if (op == "HardSwish")
        r = a * std::max(0.0, std::min(1.0, a / 6.0 + 0.5));
      else if (op == "HardSigmoid")
        r = std::max(0.0, std::min(1.0, alpha * a + beta));
      else if (op == "Sigmoid")
        r = 1.0 / (1.0 + std::exp(-a));
      else if (op == "Tanh")
        r = std::tanh(a);
      else if (op == "Erf")
        r = std::erf(a);
      else if (op == "Sqrt")
        r = std::sqrt(a);
      else if (op == "Neg")
        r = -a;
      else if (op == "Abs")
        r = std::abs(a);
      else if (op == "Exp")
        r = std::exp(a);
      else if (op == "Add")
        r = a + b;
      else if (op == "Sub")
        r = a - b;
      else if (op == "Mul")
        r = a * b;
      else if (op == "Div")
        r = a / b;
      else if (op == "Pow")
        r = std::pow(a, b);
      else if (op == "Min")
        r = std::min(a, b);
      else if (op == "Max")
        r = std::max(a, b);
      else if (op == "Clip")
        r = std::min(std::max(a, arg(1, j, lo)), arg(2, j, hi));
      else
        return std::nullopt;
      out[j] = r;
    }
    vals[n.output(0)] = std::move(out);
  }
  return vals.at(y);
}

// LayerNormalization, or torch's opset < 17 decomposition, reading x (last axis of `features`).
std::optional<LnMatch> Importer::match_layer_norm(const std::string& x, int64_t rank, int64_t features) {
  if (is_output(x)) return std::nullopt;
  const std::vector<int>& u = users(x);
  auto op_is = [&](int i, const char* op) { return node(i).op_type() == op && node(i).domain().empty(); };
  auto sole = [&](const std::string& v, const char* op) -> int {
    const std::vector<int>& uv = users(v);
    return uv.size() == 1 && !is_output(v) && op_is(uv[0], op) ? uv[0] : -1;
  };
  auto per_feature = [&](const std::string& v, std::vector<float>& out) {
    const Const* c = constant(v);
    if (!c || !c->is_float || (c->size() != features && c->size() != 1)) return false;
    out.resize(uz(features));
    for (int64_t k = 0; k < features; ++k) out[uz(k)] = c->f[uz(c->size() == 1 ? 0 : k)];
    return true;
  };
  auto other = [&](const NodeProto& n, const std::string& v) -> std::string {
    if (n.input_size() != 2) return "";
    return n.input(0) == v ? n.input(1) : n.input(1) == v ? n.input(0) : "";
  };
  LnMatch m;
  m.gamma.assign(uz(features), 1.0f);
  m.beta.assign(uz(features), 0.0f);

  // x may have other users (a pre-norm ViT's residual reads it too); the caller decides whether a fusion
  // needs x to feed only the LayerNorm.
  const auto ln_node = std::find_if(
      u.begin(), u.end(), [&](int i) { return op_is(i, "LayerNormalization") && node(i).input(0) == x; });
  if (ln_node != u.end()) {
    const NodeProto& n = node(*ln_node);
    int64_t axis = attr_int(n, "axis", -1);
    if (axis < 0) axis += rank;
    if (axis != rank - 1) return std::nullopt;
    if (!per_feature(n.input(1), m.gamma) || (has_input(n, 2) && !per_feature(n.input(2), m.beta)))
      fail_node(n, "scale and bias must be constants of " + std::to_string(features) + " values");
    check_unused_outputs(n, 1);
    m.eps = attr_float(n, "epsilon", 1e-5f);
    m.nodes = {*ln_node};
    m.out = n.output(0);
    return m;
  }
  // x -> ReduceMean (mean) -> Sub (d = x - mean) -> Pow 2 -> ReduceMean (var) -> Add eps -> Sqrt -> Div d /
  // std
  //   [-> Mul gamma] [-> Add beta]
  auto last_axis_mean = [&](int i) {
    const NodeProto& n = node(i);
    return axes_of(n, 1, rank, false) == std::vector<int64_t>{rank - 1} && attr_int(n, "keepdims", 1) == 1;
  };
  int r1 = -1, sub = -1;
  for (int i : u) {
    if (!op_is(i, "ReduceMean") || !last_axis_mean(i)) continue;
    const int s = sole(node(i).output(0), "Sub");
    if (s >= 0 && node(s).input(0) == x && node(s).input(1) == node(i).output(0)) {
      r1 = i, sub = s;
      break;
    }
  }
  if (r1 < 0) return std::nullopt;
  const NodeProto& s = node(sub);
  const std::string d = s.output(0);
  const std::vector<int>& du = users(d);
  if (du.size() != 2 || is_output(d)) return std::nullopt;
  int sq = -1, div = -1;
  for (int i : du) {
    if (op_is(i, "Pow") && node(i).input(0) == d && const_scalar(node(i).input(1)) == 2.0)
      sq = i;
    else if (op_is(i, "Mul") && node(i).input(0) == d && node(i).input(1) == d)
      sq = i;
    else if (op_is(i, "Div") && node(i).input(0) == d)
      div = i;
  }
  if (sq < 0 || div < 0) return std::nullopt;
  const int r2 = sole(node(sq).output(0), "ReduceMean");
  if (r2 < 0 || !last_axis_mean(r2)) return std::nullopt;
  const int add = sole(node(r2).output(0), "Add");
  if (add < 0) return std::nullopt;
  const std::optional<double> eps = const_scalar(other(node(add), node(r2).output(0)));
  const int sqrt = sole(node(add).output(0), "Sqrt");
  if (!eps || sqrt < 0 || sole(node(sqrt).output(0), "Div") != div ||
      node(div).input(1) != node(sqrt).output(0))
    return std::nullopt;
  m.eps = static_cast<float>(*eps);
  m.nodes = {r1, sub, sq, r2, add, sqrt, div};
  m.out = node(div).output(0);
  if (const int mul = sole(m.out, "Mul"); mul >= 0 && per_feature(other(node(mul), m.out), m.gamma)) {
    m.nodes.push_back(mul);
    m.out = node(mul).output(0);
    if (const int ab = sole(m.out, "Add"); ab >= 0 && per_feature(other(node(ab), m.out), m.beta)) {
      m.nodes.push_back(ab);
      m.out = node(ab).output(0);
    }
  }
  return m;
}

Epilogue Importer::conv_epilogue(const std::string& v, int64_t channels) {
  Epilogue e;
  e.out = v;
  const std::vector<int>& u = users(v);
  if (u.size() == 1 && !is_output(v) && node(u[0]).op_type() == "BatchNormalization" &&
      node(u[0]).input(0) == v) {
    const NodeProto& bn = node(u[0]);
    if (attr_int(bn, "training_mode", 0) != 0)
      fail_node(bn, "training-mode BatchNormalization is not supported");
    check_unused_outputs(bn, 1);
    const char* keys[] = {"bn.gamma", "bn.beta", "bn.mean", "bn.var"};
    const char* what[] = {"scale", "bias", "mean", "var"};
    for (int k = 0; k < 4; ++k) {
      const Const& c = const_input(bn, k + 1, what[k]);
      if (!c.is_float || c.size() != channels)
        fail_node(bn, std::string(what[k]) + " must hold " + std::to_string(channels) + " floats");
      Tensor t({channels});
      std::copy(c.f.begin(), c.f.end(), t.data.begin());
      e.norm_params[keys[k]] = std::move(t);
    }
    e.norm = Norm::BatchNorm;
    e.eps = attr_float(bn, "epsilon", 1e-5f);
    done_[uz(u[0])] = true;
    e.out = bn.output(0);
  }
  if (auto act = match_activation(e.out)) std::tie(e.act, e.out) = *act;
  return e;
}

Epilogue Importer::linear_epilogue(const std::string& v, int64_t rank, int64_t features) {
  Epilogue e;
  e.out = v;
  std::optional<LnMatch> ln = match_layer_norm(v, rank, features);
  // fused only when the Linear feeds nothing but the LayerNorm; otherwise it stays a standalone LayerNorm
  if (ln && (is_output(v) || std::any_of(users(v).begin(), users(v).end(), [&](int i) {
               return std::find(ln->nodes.begin(), ln->nodes.end(), i) == ln->nodes.end();
             })))
    ln.reset();
  if (ln) {
    e.norm = Norm::LayerNorm;
    e.eps = ln->eps;
    Tensor gamma({features}), beta({features});
    gamma.data = ln->gamma;
    beta.data = ln->beta;
    e.norm_params["ln.gamma"] = std::move(gamma);
    e.norm_params["ln.beta"] = std::move(beta);
    for (int i : ln->nodes) done_[uz(i)] = true;
    e.out = ln->out;
  }
  if (auto act = match_activation(e.out)) std::tie(e.act, e.out) = *act;
  return e;
}

// ---------------------------------------------------------------------------------------------------
// Ops

void Importer::conv(int idx) {
  const NodeProto& n = node(idx);
  if (b_->shape(dyn_input(n, 0).ir).size() == 1) return se_conv(idx);
  const int in = ir_input(n, 0, 4);
  const Shape xs = dyn_input(n, 0).shape;
  const Const& w = const_input(n, 1, "weight");
  if (!w.is_float || w.dims.size() != 4)
    fail_node(n, "weight must be a float tensor [Cout, Cin/groups, k, k]");
  const int64_t cout = w.dims[0], k = w.dims[2];
  if (w.dims[3] != k) fail_node(n, "non-square kernel " + dims_str(w.dims) + " is not supported");
  if (auto ks = attr_ints(n, "kernel_shape"); ks && *ks != std::vector<int64_t>{k, k})
    fail_node(n, "kernel_shape does not match the weight " + dims_str(w.dims));
  const std::vector<int64_t> strides = attr_ints(n, "strides").value_or(std::vector<int64_t>{1, 1});
  const std::vector<int64_t> dil = attr_ints(n, "dilations").value_or(std::vector<int64_t>{1, 1});
  const std::string auto_pad = attr_string(n, "auto_pad", "NOTSET");
  std::vector<int64_t> pads = auto_pad == "VALID"
                                  ? std::vector<int64_t>{0, 0, 0, 0}
                                  : attr_ints(n, "pads").value_or(std::vector<int64_t>{0, 0, 0, 0});
  if (strides.size() != 2 || strides[0] != strides[1]) fail_node(n, "unequal strides are not supported");
  if (dil != std::vector<int64_t>{1, 1}) fail_node(n, "dilated convolutions are not supported");
  if (auto_pad != "NOTSET" && auto_pad != "VALID" && !auto_pad.empty())
    fail_node(n, "auto_pad " + auto_pad + " is not supported (export with explicit pads)");
  std::string folded;
  if (auto it = folded_pads_.find(n.input(0)); it != folded_pads_.end() && pads.size() == 4) {
    for (size_t side = 0; side < 4; ++side) pads[side] += it->second[side];
    folded = " (with the zeros of the Pad before it: top " + std::to_string(it->second[0]) + ", left " +
             std::to_string(it->second[1]) + ", bottom " + std::to_string(it->second[2]) + ", right " +
             std::to_string(it->second[3]) + ")";
  }
  if (pads.size() != 4 || std::any_of(pads.begin(), pads.end(), [&](int64_t p) { return p != pads[0]; }))
    fail_node(n, "asymmetric padding is not supported, pads " + dims_str(pads) + folded);
  const int64_t groups = attr_int(n, "group", 1);
  if (groups <= 0 || xs[1] != w.dims[1] * groups)
    fail_node(n, "weight " + dims_str(w.dims) + " with groups " + std::to_string(groups) +
                     " does not fit input " + dims_str(xs));
  const Const* bias = has_input(n, 2) ? &const_input(n, 2, "bias") : nullptr;
  if (bias && (!bias->is_float || bias->size() != cout))
    fail_node(n, "bias must hold " + std::to_string(cout) + " floats");

  const std::string name = layer_name(n);
  Epilogue e = conv_epilogue(n.output(0), cout);
  const int ir =
      b_->conv(name, in, cout, static_cast<int>(k), static_cast<int>(strides[0]), static_cast<int>(groups),
               bias != nullptr, e.norm, e.act, static_cast<int>(pads[0]));
  NodeExtra& x = extra_[ir];
  x.params = std::move(e.norm_params);
  x.set_weights(w.dims, w.f, bias ? std::optional(bias->f) : std::nullopt);
  if (e.norm != Norm::None) x.norm_eps = e.eps;
  Shape out = {1};
  for (int64_t d : b_->shape(ir)) out.push_back(d);
  bind(e.out, ir, out);
}

// A Pad of zeros on H and W whose only consumer is a Conv: its zeros are the conv's padding, so the Pad
// moves no data and the conv adds them to its pads (which must then be symmetric, as the IR's Conv2d).
void Importer::pad(int idx) {
  const NodeProto& n = node(idx);
  const Dyn x = dyn_input(n, 0);
  const std::vector<int> users_of = users(n.output(0));
  if (x.shape.size() != 4 || users_of.size() != 1 || is_output(n.output(0)) ||
      node(users_of[0]).op_type() != "Conv" || node(users_of[0]).input(0) != n.output(0))
    fail_node(
        n,
        "a Pad is only supported as zeros on H and W of [1, C, H, W] feeding one Conv, whose padding it "
        "becomes");
  if (attr_string(n, "mode", "constant") != "constant")
    fail_node(n, "only a Pad of constant zeros is supported, mode is " + attr_string(n, "mode", "constant"));
  if (has_input(n, 3)) fail_node(n, "a Pad with axes is not supported");
  const std::vector<int64_t> p =
      opset_ >= 11 ? const_input(n, 1, "pads").ints() : attr_ints(n, "pads").value_or(std::vector<int64_t>{});
  const std::optional<double> value =
      opset_ >= 11 ? (has_input(n, 2) ? const_scalar(n.input(2)) : std::optional<double>(0.0))
                   : std::optional<double>(attr_float(n, "value", 0.0f));
  if (!value || *value != 0.0) fail_node(n, "only a Pad of constant zeros is supported");
  if (p.size() != 8 || p[0] || p[1] || p[4] || p[5] ||
      std::any_of(p.begin(), p.end(), [](int64_t v) { return v < 0; }))
    fail_node(n, "only non-negative pads of H and W are supported, pads " + dims_str(p));
  folded_pads_[n.output(0)] = {p[2], p[3], p[6], p[7]};
  bind(n.output(0), x.ir, x.shape);  // the conv reads the unpadded input and pads it itself
}

// The IR node holding input k, a vector [C] (a global average pool's output or a Linear's) that ONNX sees as
// [1, C, 1, 1] or [1, C].
int Importer::vector_input(const NodeProto& n, int k) {
  const Dyn& d = dyn_input(n, k);
  const Shape& irs = b_->shape(d.ir);
  if (irs.size() != 1 || d.shape.size() < 2 || d.shape[0] != 1 || d.shape[1] != irs[0] ||
      numel(d.shape) != irs[0])
    fail_node(n, "input '" + n.input(k) + "' has ONNX shape " + dims_str(d.shape) +
                     " but its data is laid out as " + dims_str(irs) + " by the layer that computes it");
  return d.ir;
}

// A 1x1 Conv on a pooled [1, C, 1, 1] vector (squeeze-excite's fc1 / fc2): a Linear on the IR's [C], with the
// same MACs (Cout x Cin) and its activation fused.
void Importer::se_conv(int idx) {
  const NodeProto& n = node(idx);
  const int in = vector_input(n, 0);
  if (folded_pads_.count(n.input(0))) fail_node(n, "a Pad before a Conv on a pooled vector is not supported");
  const int64_t cin = b_->shape(in)[0];
  const Const& w = const_input(n, 1, "weight");
  const std::vector<int64_t> pads = attr_ints(n, "pads").value_or(std::vector<int64_t>{0, 0, 0, 0});
  if (!w.is_float || w.dims.size() != 4 || w.dims[1] != cin || w.dims[2] != 1 || w.dims[3] != 1 ||
      attr_int(n, "group", 1) != 1 || std::any_of(pads.begin(), pads.end(), [](int64_t p) { return p != 0; }))
    fail_node(n,
              "a Conv on a pooled [1, C, 1, 1] vector must be a 1x1 conv without groups or padding (weight "
              "[Cout, " +
                  std::to_string(cin) + ", 1, 1]), got weight " + dims_str(w.dims));
  const int64_t cout = w.dims[0];
  const Const* bias = has_input(n, 2) ? &const_input(n, 2, "bias") : nullptr;
  if (bias && (!bias->is_float || bias->size() != cout))
    fail_node(n, "bias must hold " + std::to_string(cout) + " floats");
  const std::string name = layer_name(n);
  Epilogue e = conv_epilogue(n.output(0), cout);
  if (e.norm != Norm::None)
    fail_node(n, "a BatchNormalization after a Conv on a pooled vector is not supported");
  const int ir = b_->linear(name, in, cout, bias != nullptr, Norm::None, e.act);
  extra_[ir].set_weights({cout, cin}, w.f, bias ? std::optional(bias->f) : std::nullopt);
  bind(e.out, ir, {1, cout, 1, 1});
}

// Squeeze-excite's gate: Mul of a feature map [1, C, H, W] and a pooled vector [1, C, 1, 1] (either order)
// -> ChannelMul.
void Importer::channel_mul(int idx) {
  const NodeProto& n = node(idx);
  const int gate_k = b_->shape(dyn_input(n, 1).ir).size() == 1 ? 1 : 0;
  const int x = ir_input(n, 1 - gate_k, 4);
  const int ir = b_->channel_mul(layer_name(n), x, vector_input(n, gate_k));
  bind(n.output(0), ir, dyn_input(n, 1 - gate_k).shape);
}

void Importer::finish_linear(const std::string& name, int in, const Shape& in_shape,
                             std::vector<float> weight, int64_t out_f, int64_t in_f,
                             std::optional<std::vector<float>> bias, const std::string& out) {
  Epilogue e = linear_epilogue(out, static_cast<int64_t>(in_shape.size()), out_f);
  const int ir = b_->linear(name, in, out_f, bias.has_value(), e.norm, e.act);
  NodeExtra& x = extra_[ir];
  x.params = std::move(e.norm_params);
  x.set_weights({out_f, in_f}, std::move(weight), bias);
  if (e.norm != Norm::None) x.norm_eps = e.eps;
  Shape s = in_shape;
  s.back() = out_f;
  bind(e.out, ir, s);
}

void Importer::gemm(int idx, const std::string& name) {
  const NodeProto& n = node(idx);
  const int in = ir_input(n, 0, 2);
  const Shape xs = dyn_input(n, 0).shape;
  const Const& w = const_input(n, 1, "weight");
  if (attr_int(n, "transA", 0)) fail_node(n, "transA is not supported");
  if (!w.is_float || w.dims.size() != 2) fail_node(n, "weight must be a float matrix");
  const bool tb = attr_int(n, "transB", 0) != 0;
  const int64_t out_f = tb ? w.dims[0] : w.dims[1], in_f = tb ? w.dims[1] : w.dims[0];
  if (in_f != xs[1]) fail_node(n, "weight " + dims_str(w.dims) + " does not fit input " + dims_str(xs));
  const float alpha = attr_float(n, "alpha", 1.0f), beta = attr_float(n, "beta", 1.0f);
  std::vector<float> weight(uz(out_f * in_f));
  for (int64_t o = 0; o < out_f; ++o)
    for (int64_t i = 0; i < in_f; ++i)
      weight[uz(o * in_f + i)] = alpha * w.f[uz(tb ? o * in_f + i : i * out_f + o)];
  std::optional<std::vector<float>> bias;
  if (has_input(n, 2)) {
    const Const& c = const_input(n, 2, "bias");
    if (!c.is_float || (c.size() != out_f && c.size() != 1))
      fail_node(n, "bias must hold " + std::to_string(out_f) + " floats");
    bias.emplace(uz(out_f));
    for (int64_t o = 0; o < out_f; ++o) (*bias)[uz(o)] = beta * c.f[uz(c.size() == 1 ? 0 : o)];
  }
  finish_linear(name.empty() ? layer_name(n) : name, in, xs, std::move(weight), out_f, in_f, std::move(bias),
                n.output(0));
}

void Importer::matmul(int idx, const std::string& name) {
  const NodeProto& n = node(idx);
  const Const* w = has_input(n, 1) ? constant(n.input(1)) : nullptr;
  if (!w || constant(n.input(0)))
    fail_node(n, "MatMul of two activations outside a recognised LiteMLA attention pattern is not supported");
  const int in = ir_rows_input(n, 0);
  const Shape xs = dyn_input(n, 0).shape;
  if (!w->is_float || w->dims.size() != 2 || xs.empty() || w->dims[0] != xs.back())
    fail_node(n, "weight " + dims_str(w->dims) + " does not fit input " + dims_str(xs));
  const int64_t in_f = w->dims[0], out_f = w->dims[1];
  std::vector<float> weight(uz(out_f * in_f));
  for (int64_t o = 0; o < out_f; ++o)
    for (int64_t i = 0; i < in_f; ++i) weight[uz(o * in_f + i)] = w->f[uz(i * out_f + o)];
  // nn.Linear exports as MatMul + Add when its input is not 2-D (or it has no bias)
  std::string out = n.output(0);
  std::optional<std::vector<float>> bias;
  const std::vector<int>& u = users(out);
  if (u.size() == 1 && !is_output(out) && node(u[0]).op_type() == "Add") {
    const NodeProto& a = node(u[0]);
    const std::string other = a.input(0) == out ? a.input(1) : a.input(0);
    const Const* c = constant(other);
    if (c && c->is_float && c->size() == out_f && c->dims.size() <= 2 && c->dims.back() == out_f) {
      bias = c->f;
      done_[uz(u[0])] = true;
      out = a.output(0);
    }
  }
  std::string layer = name;
  if (layer.empty()) {  // torch's nn.MultiheadAttention: the packed in_proj feeds the q, k, v Slices
    const std::vector<int> qkv = data_users(out);
    const bool in_proj = qkv.size() == 3 && std::all_of(qkv.begin(), qkv.end(),
                                                        [&](int i) { return node(i).op_type() == "Slice"; });
    const std::string mod = module_path(n, false);
    layer = in_proj ? unique(mod.empty() ? "in_proj" : mod + ".in_proj") : layer_name(n);
  }
  finish_linear(layer, in, xs, std::move(weight), out_f, in_f, std::move(bias), out);
}

void Importer::add(int idx) {
  const NodeProto& n = node(idx);
  for (int k = 0; k < 2 && n.input_size() == 2; ++k)
    if (constant(n.input(k)) && dyn(n.input(1 - k))) return pos_embed(idx, k);
  if (n.input_size() != 2 || !dyn(n.input(0)) || !dyn(n.input(1)))
    fail_node(n,
              "only the sum of two activations (a residual) is supported; an Add of a constant must be a "
              "Linear bias or part of a LayerNorm / LiteMLA pattern");
  const Dyn a = dyn_input(n, 0), b = dyn_input(n, 1);
  if (a.shape != b.shape)
    fail_node(n,
              "broadcasting add of " + dims_str(a.shape) + " and " + dims_str(b.shape) + " is not supported");
  const int ia = ir_input(n, 0, 0), ib = ir_input(n, 1, 0);
  const std::string name = layer_name(n);
  // A ReLU after the sum (a ResNet block's) fuses into the add; other activations stay unsupported there.
  const auto act = match_activation(n.output(0), {Act::ReLU});
  bind(act ? act->second : n.output(0), b_->add(name, ia, ib, act ? act->first : Act::None), a.shape);
}

void Importer::max_pool(int idx) {
  const NodeProto& n = node(idx);
  const int in = ir_input(n, 0, 4);
  check_unused_outputs(n, 1);  // the optional Indices output
  const std::vector<int64_t> ks = attr_ints(n, "kernel_shape").value_or(std::vector<int64_t>{});
  const std::vector<int64_t> strides = attr_ints(n, "strides").value_or(std::vector<int64_t>{1, 1});
  const std::vector<int64_t> dil = attr_ints(n, "dilations").value_or(std::vector<int64_t>{1, 1});
  const std::vector<int64_t> pads = attr_ints(n, "pads").value_or(std::vector<int64_t>{0, 0, 0, 0});
  const std::string auto_pad = attr_string(n, "auto_pad", "NOTSET");
  if (ks.size() != 2 || ks[0] != ks[1] || ks[0] < 1 || ks[0] > 64)
    fail_node(n, "only square kernels of 1..64 are supported, kernel_shape " + dims_str(ks));
  if (strides.size() != 2 || strides[0] != strides[1] || strides[0] < 1 || strides[0] > 64)
    fail_node(n, "only equal strides of 1..64 are supported");
  if (dil != std::vector<int64_t>{1, 1}) fail_node(n, "dilated max pooling is not supported");
  if (attr_int(n, "ceil_mode", 0) != 0) fail_node(n, "ceil_mode 1 is not supported");
  if (auto_pad != "NOTSET" && auto_pad != "VALID" && !auto_pad.empty())
    fail_node(n, "auto_pad " + auto_pad + " is not supported (export with explicit pads)");
  if (pads.size() != 4 || std::any_of(pads.begin(), pads.end(), [&](int64_t p) { return p != pads[0]; }))
    fail_node(n, "asymmetric padding is not supported");
  const int64_t pad = auto_pad == "VALID" ? 0 : pads[0];
  if (pad < 0 || pad >= ks[0]) fail_node(n, "padding must lie in [0, kernel)");
  const int ir = b_->max_pool(layer_name(n), in, static_cast<int>(ks[0]), static_cast<int>(strides[0]),
                              static_cast<int>(pad));
  Shape out = {1};
  for (int64_t d : b_->shape(ir)) out.push_back(d);
  bind(n.output(0), ir, out);
}

void Importer::concat(int idx) {
  const NodeProto& n = node(idx);
  if (n.input_size() == 2 && constant(n.input(0)) && dyn(n.input(1))) return class_token(idx);
  const Dyn first = dyn_input(n, 0);
  int64_t axis = attr_int(n, "axis", 1);
  if (axis < 0) axis += static_cast<int64_t>(first.shape.size());
  if (first.shape.size() != 4 || axis != 1)
    fail_node(n, "only channel concatenation of [1,C,H,W] tensors is supported");
  std::vector<int> ins;
  for (int k = 0; k < n.input_size(); ++k) ins.push_back(ir_input(n, k, 4));
  const int ir = b_->concat(layer_name(n), ins);
  Shape out = {1};
  for (int64_t d : b_->shape(ir)) out.push_back(d);
  bind(n.output(0), ir, out);
}

void Importer::reduce_mean(int idx) {
  const NodeProto& n = node(idx);
  const Dyn x = dyn_input(n, 0);
  const int64_t rank = static_cast<int64_t>(x.shape.size());
  const std::vector<int64_t> axes = axes_of(n, 1, rank, false);
  if (rank == 4 && axes == std::vector<int64_t>{2, 3}) {  // global average pooling
    const int ir = b_->global_avg_pool(layer_name(n), ir_input(n, 0, 4));
    bind(n.output(0), ir, attr_int(n, "keepdims", 1) ? Shape{1, x.shape[1], 1, 1} : Shape{1, x.shape[1]});
    return;
  }
  if (axes == std::vector<int64_t>{rank - 1}) {  // a standalone LayerNorm decomposition
    std::optional<LnMatch> ln = match_layer_norm(n.input(0), rank, x.shape.back());
    if (ln && ln->nodes.front() == idx) return emit_layer_norm(n, *ln, x);
  }
  fail_node(n,
            "only a mean over H and W of [1,C,H,W] (global average pooling) or a LayerNorm decomposition is "
            "supported");
}

void Importer::layer_norm(int idx) {
  const NodeProto& n = node(idx);
  const Dyn x = dyn_input(n, 0);
  std::optional<LnMatch> ln =
      match_layer_norm(n.input(0), static_cast<int64_t>(x.shape.size()), x.shape.back());
  if (!ln || ln->nodes.front() != idx)
    fail_node(n, "only LayerNormalization over the last axis is supported");
  emit_layer_norm(n, *ln, x);
}

// A LayerNorm that does not follow a Linear: the IR's standalone LayerNorm op.
void Importer::emit_layer_norm(const NodeProto& n, const LnMatch& ln, const Dyn& x) {
  const int ir = b_->layer_norm(layer_name(n), ir_input(n, 0, 0), ln.eps);
  NodeExtra& e = extra_[ir];
  const int64_t f = x.shape.back();
  e.params["ln.gamma"] = Tensor({f});
  e.params["ln.gamma"].data = ln.gamma;
  e.params["ln.beta"] = Tensor({f});
  e.params["ln.beta"].data = ln.beta;
  e.norm_eps = ln.eps;
  for (int i : ln.nodes) done_[uz(i)] = true;
  bind(ln.out, ir, x.shape);
}

// Ops that relabel the shape of a tensor without moving data (row-major order is unchanged).
void Importer::view(int idx) {
  const NodeProto& n = node(idx);
  const std::string& op = n.op_type();
  const Dyn x = dyn_input(n, 0);
  const int64_t rank = static_cast<int64_t>(x.shape.size());
  Shape out;
  if (op == "Identity" || op == "Dropout") {
    check_unused_outputs(n, 1);
    out = x.shape;
  } else if (op == "Cast") {
    if (attr_int(n, "to", 0) != TensorProto::FLOAT) fail_node(n, "only a cast to float32 is supported");
    out = x.shape;
  } else if (op == "Flatten") {
    int64_t axis = attr_int(n, "axis", 1);
    if (axis < 0) axis += rank;
    out = {numel(Shape(x.shape.begin(), x.shape.begin() + axis)),
           numel(Shape(x.shape.begin() + axis, x.shape.end()))};
  } else if (op == "Squeeze") {
    const std::vector<int64_t> axes = axes_of(n, 1, rank, false);
    for (int64_t k = 0; k < rank; ++k) {
      const bool listed = std::find(axes.begin(), axes.end(), k) != axes.end();
      if (!(axes.empty() ? x.shape[uz(k)] == 1 : listed)) out.push_back(x.shape[uz(k)]);
    }
  } else if (op == "Unsqueeze") {
    const int64_t count =
        static_cast<int64_t>(has_input(n, 1) ? const_input(n, 1, "axes").size()
                                             : attr_ints(n, "axes").value_or(std::vector<int64_t>{}).size());
    const std::vector<int64_t> axes = axes_of(n, 1, rank + count, true);
    size_t next = 0;
    for (int64_t k = 0; k < rank + count; ++k)
      out.push_back(std::find(axes.begin(), axes.end(), k) != axes.end() ? 1 : x.shape[next++]);
  } else {  // Reshape
    out = reshape_target(n, x.shape, const_input(n, 1, "shape").ints());
    for (int u : users(n.output(0))) {
      if (node(u).op_type() == "Slice") return lite_mla(idx, x, out);
      if (node(u).op_type() == "Transpose" && out.size() == 5) return vit_attention(idx, x, out);
    }
  }
  if (numel(out) != numel(x.shape))
    fail_node(n, "cannot reshape " + dims_str(x.shape) + " to " + dims_str(out));
  bind(n.output(0), x.ir, out);
}

// LiteMLA's relu_linear_att, as the official code writes it (efficientvit/models/nn/ops.py):
//   qkv = reshape(qkv, (B, -1, 3*dim, H*W)); q, k, v = qkv[:, :, :dim], qkv[:, :, dim:2dim], qkv[:, :, 2dim:]
//   q, k = relu(q), relu(k); v = pad(v, (0, 0, 0, 1), value=1); vk = v @ k^T; out = vk @ q
//   out = out[:, :, :-1] / (out[:, :, -1:] + eps); reshape(out, (B, -1, H, W))
void Importer::lite_mla(int idx, const Dyn& x, const Shape& t) {
  const NodeProto& r = node(idx);
  const std::string what = "LiteMLA pattern";
  auto bad = [&](const NodeProto& at, const std::string& msg) { fail_node(at, what + ": " + msg); };
  const int in = ir_input(r, 0, 4);
  if (t.size() != 4 || t[0] != 1 || t[2] % 3 || t[3] != x.shape[2] * x.shape[3])
    bad(r, "expected a reshape of [1,C,H,W] to [1, heads, 3*dim, H*W], got " + dims_str(x.shape) + " -> " +
               dims_str(t));
  const int64_t groups = t[1], d = t[2] / 3, h = x.shape[2], w = x.shape[3];
  std::vector<int> nodes = {idx};

  // q, k, v slices along axis 2
  const std::string qkv = r.output(0);
  const std::vector<int> sl = users(qkv);
  if (sl.size() != 3 || is_output(qkv))
    bad(r, "expected the reshaped tensor to feed exactly three Slices (q, k, v)");
  int qs = -1, ks = -1, vs = -1;
  for (int s : sl) {
    const NodeProto& sn = node(s);
    if (sn.op_type() != "Slice" || sn.input(0) != qkv) bad(sn, "expected a Slice of '" + qkv + "'");
    const auto [a, b] = slice_range(sn, t, 2, what);
    if (a == 0 && b == d)
      qs = s;
    else if (a == d && b == 2 * d)
      ks = s;
    else if (a == 2 * d && b == 3 * d)
      vs = s;
    else
      bad(sn, "slice [" + std::to_string(a) + ", " + std::to_string(b) +
                  ") of axis 2 is not q [0, d), k [d, 2d) or v [2d, 3d) with d = " + std::to_string(d));
  }
  if (qs < 0 || ks < 0 || vs < 0) bad(r, "expected one slice each for q, k and v");
  nodes.insert(nodes.end(), {qs, ks, vs});

  // kernel: ReLU(q), ReLU(k), k^T, v padded with a row of ones
  const int qr = only_user(node(qs).output(0), "Relu", node(qs), what);
  const int kr = only_user(node(ks).output(0), "Relu", node(ks), what);
  const int kt = only_user(node(kr).output(0), "Transpose", node(kr), what);
  if (attr_ints(node(kt), "perm") != std::vector<int64_t>{0, 1, 3, 2})
    bad(node(kt), "expected perm [0, 1, 3, 2]");
  const int pad = only_user(node(vs).output(0), "Pad", node(vs), what);
  {
    const NodeProto& p = node(pad);
    if (attr_string(p, "mode", "constant") != "constant") bad(p, "expected a constant pad");
    if (has_input(p, 3)) bad(p, "Pad with explicit axes is not supported");
    const std::vector<int64_t> pads = has_input(p, 1) ? const_input(p, 1, "pads").ints()
                                                      : attr_ints(p, "pads").value_or(std::vector<int64_t>{});
    const double value =
        has_input(p, 2) ? const_input(p, 2, "constant_value").at(0) : attr_float(p, "value", 0.0f);
    if (pads != std::vector<int64_t>{0, 0, 0, 0, 0, 0, 1, 0} || value != 1.0)
      bad(p,
          "expected v to be padded with one row of ones at the end of axis 2 (pads [0,0,0,0,0,0,1,0], value "
          "1)");
  }
  nodes.insert(nodes.end(), {qr, kr, kt, pad});

  // vk = v' k^T; out = vk q
  const int m1 = only_user(node(pad).output(0), "MatMul", node(pad), what);
  if (node(m1).input(0) != node(pad).output(0) || node(m1).input(1) != node(kt).output(0) ||
      users(node(kt).output(0)).size() != 1)
    bad(node(m1), "expected MatMul(padded v, k^T)");
  const int m2 = only_user(node(m1).output(0), "MatMul", node(m1), what);
  if (node(m2).input(0) != node(m1).output(0) || node(m2).input(1) != node(qr).output(0) ||
      users(node(qr).output(0)).size() != 1 || is_output(node(qr).output(0)))
    bad(node(m2), "expected MatMul(v k^T, q)");
  nodes.insert(nodes.end(), {m1, m2});

  // out[:, :, :-1] / (out[:, :, -1:] + eps)
  const std::string o = node(m2).output(0);
  const Shape os = {1, groups, d + 1, h * w};
  const std::vector<int> osl = users(o);
  if (osl.size() != 2 || is_output(o))
    bad(node(m2), "expected its output to feed exactly two Slices (dividends, divisor)");
  int num = -1, den = -1;
  for (int s : osl) {
    const NodeProto& sn = node(s);
    if (sn.op_type() != "Slice" || sn.input(0) != o) bad(sn, "expected a Slice of '" + o + "'");
    const auto [a, b] = slice_range(sn, os, 2, what);
    if (a == 0 && b == d)
      num = s;
    else if (a == d && b == d + 1)
      den = s;
    else
      bad(sn, "slice [" + std::to_string(a) + ", " + std::to_string(b) +
                  ") of axis 2 is neither [0, d) nor the last row");
  }
  if (num < 0 || den < 0) bad(node(m2), "expected slices of the dividends [0, d) and the divisor row d");
  const int add = only_user(node(den).output(0), "Add", node(den), what);
  const NodeProto& an = node(add);
  const std::string eps_in = an.input(0) == node(den).output(0) ? an.input(1) : an.input(0);
  const std::optional<double> eps = const_scalar(eps_in);
  if (!eps) bad(an, "expected the divisor plus a scalar constant eps");
  if (std::abs(*eps - 1e-15) > 1e-6 * 1e-15) {
    std::ostringstream e;
    e << "eps is " << *eps << ", but the IR's AttnNormalize uses 1e-15 (the official LiteMLA value)";
    bad(an, e.str());
  }
  const int div = only_user(an.output(0), "Div", an, what);
  if (node(div).input(0) != node(num).output(0) || node(div).input(1) != an.output(0) ||
      users(node(num).output(0)).size() != 1 || is_output(node(num).output(0)))
    bad(node(div), "expected Div(dividends, divisor + eps)");
  const int back = only_user(node(div).output(0), "Reshape", node(div), what);
  {
    const NodeProto& rb = node(back);
    Shape s = const_input(rb, 1, "shape").ints();
    const Shape expect = {1, groups * d, h, w};
    int64_t known = 1, infer = -1;
    for (size_t k = 0; k < s.size(); ++k) {
      if (s[k] == 0 && !attr_int(rb, "allowzero", 0)) s[k] = k < 4 ? os[k] : 0;
      if (s[k] == -1)
        infer = static_cast<int64_t>(k);
      else
        known *= s[k];
    }
    if (infer >= 0 && known > 0) s[uz(infer)] = groups * d * h * w / known;
    if (s != expect) bad(rb, "expected a reshape back to " + dims_str(expect) + ", got " + dims_str(s));
  }
  nodes.insert(nodes.end(), {num, den, add, div, back});

  // The IR decomposition, exactly as the zoo builds it (quant/zoo.cpp, lite_mla).
  std::string base = module_path(r, false);
  if (base.empty()) base = r.name().empty() ? "attn" : r.name();
  const int kernel = b_->attn_kernel(unique(base + ".kernel"), in, d);
  const int vk =
      b_->matmul(unique(base + ".matmul_vk"), kernel, {2 * d, d + 1, false}, kernel, {d, d, true}, 1.0f);
  const int out = b_->matmul(unique(base + ".matmul_out"), vk, {0, 0, false}, kernel, {0, d, false}, 1.0f);
  const int y = b_->attn_normalize(unique(base + ".normalize"), out, d, h, w);
  for (int i : nodes) done_[uz(i)] = true;
  bind(node(back).output(0), y, {1, groups * d, h, w});
}

// A standard multi-head self-attention as timm's DeiT writes it, from the qkv Linear's output to the merged
// heads:
//   Reshape [1,T,3*h*dh] -> [1,T,3,h,dh]; Transpose perm (2,0,3,1,4); q, k, v by Split (axis 0) + Squeeze,
//   or by three Gathers of axis 0; then the heads as attention_heads() matches them.
void Importer::vit_attention(int idx, const Dyn& x, const Shape& t) {
  const NodeProto& r = node(idx);
  const std::string what = "multi-head attention pattern";
  auto bad = [&](const NodeProto& at, const std::string& msg) { fail_node(at, what + ": " + msg); };
  const int in = ir_input(r, 0, 3);
  if (t.size() != 5 || t[0] != 1 || t[1] != x.shape[1] || t[2] != 3 || 3 * t[3] * t[4] != x.shape[2])
    bad(r, "expected a reshape of [1,T,3*h*dh] to [1,T,3,h,dh], got " + dims_str(x.shape) + " -> " +
               dims_str(t));
  AttnHeads a;
  a.rank = 4, a.tokens = t[1], a.heads = t[3], a.dh = t[4];
  std::vector<int> nodes = {idx};
  const int tr = only_user(r.output(0), "Transpose", r, what);
  if (attr_ints(node(tr), "perm") != std::vector<int64_t>{2, 0, 3, 1, 4})
    bad(node(tr), "expected perm [2, 0, 3, 1, 4]");
  nodes.push_back(tr);

  // q, k, v: [1, h, T, dh] each
  std::string qkv[3];
  const std::string stacked = node(tr).output(0);
  const std::vector<int>& su = users(stacked);
  if (is_output(stacked)) bad(node(tr), "its output is the graph output");
  if (su.size() == 1 && node(su[0]).op_type() == "Split") {
    const NodeProto& sp = node(su[0]);
    const std::vector<int64_t> sizes = has_input(sp, 1)
                                           ? const_input(sp, 1, "split").ints()
                                           : attr_ints(sp, "split").value_or(std::vector<int64_t>{});
    if (attr_int(sp, "axis", 0) != 0 || sp.output_size() != 3 ||
        !(sizes.empty() || sizes == std::vector<int64_t>{1, 1, 1}))
      bad(sp, "expected a split of axis 0 into q, k and v");
    nodes.push_back(su[0]);
    for (int k = 0; k < 3; ++k) {
      const int sq = only_user(sp.output(k), "Squeeze", sp, what);
      if (axes_of(node(sq), 1, 5, true) != std::vector<int64_t>{0})
        bad(node(sq), "expected a squeeze of axis 0");
      nodes.push_back(sq);
      qkv[k] = node(sq).output(0);
    }
  } else {
    for (int g : su) {
      const NodeProto& gn = node(g);
      const Const* index = gn.op_type() == "Gather" && attr_int(gn, "axis", 0) == 0 && gn.input(0) == stacked
                               ? constant(gn.input(1))
                               : nullptr;
      const int64_t k = index && index->dims.empty() ? index->int_at(0) : -1;
      if (k < 0 || k > 2 || !qkv[k].empty())
        bad(gn, "expected q, k and v taken from axis 0 by one Split + Squeezes or by three Gathers");
      qkv[k] = gn.output(0);
      nodes.push_back(g);
    }
    if (qkv[0].empty() || qkv[1].empty() || qkv[2].empty()) bad(node(tr), "expected q, k and v from axis 0");
  }
  a.q = qkv[0], a.k = qkv[1], a.v = qkv[2];
  std::string base = module_path(r, false);
  if (base.empty()) base = r.name().empty() ? "attn" : r.name();
  attention_heads(in, std::move(nodes), a, base, what);
}

// torch's nn.MultiheadAttention (self-attention, packed in_proj, as torchvision's ViT encoder layers use it)
// exported at opset 13 by torch 1.13, from the in_proj's output [T,1,3*h*dh] (sequence-first tokens) to the
// out_proj:
//   three Slices of the last axis (q [0, D), k [D, 2D), v [2D, 3D), D = h*dh); each Reshape [T,h,dh];
//   q and v Transpose perm (1,0,2) -> [h,T,dh]; k Transpose perm (1,2,0) -> k^T [h,dh,T] (or (1,0,2), then
//   k^T below); the heads as attention_heads() matches them; then the out_proj Linear (Gemm, or MatMul by a
//   constant) that reads the merged heads is named "<module>.out_proj". The three Slices follow a Linear
//   (the in_proj), whose output bears the same layout as timm's qkv: q, k, v, each h heads of dh.
void Importer::mha_attention(int idx) {
  const NodeProto& first = node(idx);
  const std::string what = "multi-head attention pattern";
  auto bad = [&](const NodeProto& at, const std::string& msg) { fail_node(at, what + ": " + msg); };
  const std::string qkv = first.input(0);
  const Dyn x = dyn_input(first, 0);
  const std::vector<int> sl = data_users(qkv);
  if (b_->node(x.ir).op != OpKind::Linear || x.shape.empty() || sl.size() != 3 || is_output(qkv))
    fail_node(first,
              "unsupported op Slice here: a Slice of an activation is only supported inside a multi-head "
              "attention (q, k and v sliced from a Linear's output) or LiteMLA pattern");
  const int in = ir_rows_input(first, 0);
  const int64_t rank = static_cast<int64_t>(x.shape.size()), width = x.shape.back();
  const int64_t tokens = numel(x.shape) / width, d = width / 3;
  if (width % 3) bad(first, "expected a Linear's output [T, 3*h*dh], got " + dims_str(x.shape));
  std::vector<int> nodes;
  AttnHeads a;
  a.rank = 3, a.tokens = tokens;
  std::string* parts[3] = {&a.q, &a.k, &a.v};
  for (int s : sl) {
    const NodeProto& sn = node(s);
    if (sn.op_type() != "Slice" || sn.input(0) != qkv) bad(sn, "expected a Slice of '" + qkv + "'");
    const auto [lo, hi] = slice_range(sn, x.shape, uz(rank - 1), what);
    const int64_t which = lo / d;  // d >= 1: width is a positive multiple of 3
    if (lo % d || hi != lo + d || !parts[which]->empty())
      bad(sn, "slice [" + std::to_string(lo) + ", " + std::to_string(hi) +
                  ") of the last axis is not q [0, " + std::to_string(d) + "), k or v");
    const int rs = only_user(sn.output(0), "Reshape", sn, what);
    Shape rx = x.shape;
    rx.back() = d;
    const Shape heads = reshape_target(node(rs), rx, const_input(node(rs), 1, "shape").ints());
    if (heads.size() != 3 || heads[0] != tokens || heads[1] * heads[2] != d ||
        (a.heads && heads[1] != a.heads))
      bad(node(rs), "expected a reshape to [T, h, dh] = [" + std::to_string(tokens) + ", h, " +
                        std::to_string(d) + " / h], the same h for q, k and v; got " + dims_str(heads));
    a.heads = heads[1], a.dh = heads[2];
    const int tr = only_user(node(rs).output(0), "Transpose", node(rs), what);
    const std::optional<std::vector<int64_t>> perm = attr_ints(node(tr), "perm");
    const bool kt = which == 1 && perm == std::vector<int64_t>{1, 2, 0};
    if (!kt && perm != std::vector<int64_t>{1, 0, 2})
      bad(node(tr), std::string("expected perm [1, 0, 2]") + (which == 1 ? " or [1, 2, 0]" : ""));
    if (which == 1) a.k_transposed = kt;
    *parts[which] = node(tr).output(0);
    nodes.insert(nodes.end(), {s, rs, tr});
  }
  std::string base = module_path(first, false);
  if (base.empty()) base = first.name().empty() ? "attn" : first.name();
  const std::string merged = attention_heads(in, std::move(nodes), a, base, what);

  const std::vector<int>& u = users(merged);
  if (u.size() == 1 && !is_output(merged) && node(u[0]).input(0) == merged) {
    const int proj = u[0];
    if (node(proj).op_type() == "Gemm" || node(proj).op_type() == "MatMul") {
      done_[uz(proj)] = true;
      const std::string name = unique(base + ".out_proj");
      node(proj).op_type() == "Gemm" ? gemm(proj, name) : matmul(proj, name);
    }
  }
}

// The heads of a multi-head self-attention, from q, k (or k^T, `k_transposed`) and v, [1,h,T,dh] each with
// timm's batch axis (`rank` 4) or [h,T,dh] without it (3, torch's nn.MultiheadAttention), to the merged
// heads:
//   [q Mul or Div by a scalar]; [Transpose(k) of the last two axes]; MatMul(q, k^T); [Mul or Div by a
//   scalar]; Softmax over the last axis; MatMul(attn, v); Transpose of the heads and tokens axes
//   ((0,2,1,3) or (1,0,2)); Reshape to [T, h*dh] (with any unit axes)
// -> HeadSplit of `in` (the qkv Linear: q, k, v, each h heads of dh), MatMul q k^T (scaled), Softmax, MatMul
// attn v, HeadMerge, exactly as quant/zoo.cpp builds DeiT. Marks `nodes` (the caller's part of the
// pattern) and its own done; returns the merged heads' ONNX value.
std::string Importer::attention_heads(int in, std::vector<int> nodes, const AttnHeads& a,
                                      const std::string& base, const std::string& what) {
  auto bad = [&](const NodeProto& at, const std::string& msg) { fail_node(at, what + ": " + msg); };
  const int64_t tokens = a.tokens, heads = a.heads, dh = a.dh;
  const std::vector<int64_t> swap_last =
      a.rank == 4 ? std::vector<int64_t>{0, 1, 3, 2} : std::vector<int64_t>{0, 2, 1};
  const std::vector<int64_t> merge_perm =
      a.rank == 4 ? std::vector<int64_t>{0, 2, 1, 3} : std::vector<int64_t>{1, 0, 2};
  auto perm_str = [](const std::vector<int64_t>& p) {
    std::string s;
    for (int64_t v : p) s += (s.empty() ? "" : ", ") + std::to_string(v);
    return "[" + s + "]";
  };

  // A scalar factor: x * c or x / c with c a constant, as the only consumer of x.
  auto scalar_factor = [&](const std::string& v, double& factor) -> std::string {
    const std::vector<int>& u = users(v);
    if (u.size() != 1 || is_output(v)) return v;
    const NodeProto& m = node(u[0]);
    if (m.op_type() != "Mul" && m.op_type() != "Div") return v;
    const bool first = m.input(0) == v;
    const std::optional<double> c = const_scalar(m.input(first ? 1 : 0));
    if (!c || (m.op_type() == "Div" && !first)) return v;
    factor *= m.op_type() == "Mul" ? *c : 1.0 / *c;
    nodes.push_back(u[0]);
    return m.output(0);
  };
  double scale = 1.0;
  const std::string q = scalar_factor(a.q, scale);
  std::string kt = a.k;
  if (!a.k_transposed) {
    const int t = only_user(a.k, "Transpose", node(producer_.at(a.k)), what);
    if (attr_ints(node(t), "perm") != swap_last) bad(node(t), "expected perm " + perm_str(swap_last));
    nodes.push_back(t);
    kt = node(t).output(0);
  }
  const int qk = only_user(kt, "MatMul", node(producer_.at(kt)), what);
  if (node(qk).input(0) != q || node(qk).input(1) != kt || users(q).size() != 1)
    bad(node(qk), "expected MatMul(q, k^T)");
  nodes.push_back(qk);
  const std::string scores = scalar_factor(node(qk).output(0), scale);
  const int sm = only_user(scores, "Softmax", node(nodes.back()), what);
  {
    int64_t axis = attr_int(node(sm), "axis", opset_ >= 13 ? -1 : 1);
    if (axis < 0) axis += a.rank;
    if (axis != a.rank - 1) bad(node(sm), "expected a softmax over the last axis (the keys)");
  }
  const int av = only_user(node(sm).output(0), "MatMul", node(sm), what);
  if (node(av).input(0) != node(sm).output(0) || node(av).input(1) != a.v || users(a.v).size() != 1 ||
      is_output(a.v))
    bad(node(av), "expected MatMul(softmax, v)");
  const int tb = only_user(node(av).output(0), "Transpose", node(av), what);
  if (attr_ints(node(tb), "perm") != merge_perm) bad(node(tb), "expected perm " + perm_str(merge_perm));
  const int back = only_user(node(tb).output(0), "Reshape", node(tb), what);
  Shape heads_shape = {tokens, heads, dh};
  if (a.rank == 4) heads_shape.insert(heads_shape.begin(), 1);
  const Shape merged = reshape_target(node(back), heads_shape, const_input(node(back), 1, "shape").ints());
  if (merged.back() != heads * dh)  // the rows are the tokens, however the leading axes are labelled
    bad(node(back), "expected a reshape of the heads back to the tokens [" + std::to_string(tokens) + ", " +
                        std::to_string(heads * dh) + "], got " + dims_str(merged));
  nodes.insert(nodes.end(), {sm, av, tb, back});

  const int split = b_->head_split(unique(base + ".split"), in, heads);
  const int attn = b_->matmul(unique(base + ".matmul_qk"), split, {0, dh, true}, split, {dh, dh, false},
                              static_cast<float>(scale));
  const int probs = b_->softmax(unique(base + ".softmax"), attn);
  const int ctx =
      b_->matmul(unique(base + ".matmul_av"), probs, {0, 0, false}, split, {2 * dh, dh, true}, 1.0f);
  const int out = b_->head_merge(unique(base + ".merge"), ctx);
  for (int i : nodes) done_[uz(i)] = true;
  bind(node(back).output(0), out, merged);
  return node(back).output(0);
}

// The ViT token ops are named after their role, in the module they belong to ("cls_token", "pos_embed").
std::string Importer::token_op_name(const NodeProto& n, const char* what) {
  const std::string mod = module_path(n, false);
  return unique(mod.empty() ? what : mod + "." + what);
}

// The patch embedding's tokens: the conv's [1, D, H, W] output viewed as [1, D, H*W], transposed to
// [1, H*W, D] -> PatchTokens. A transpose that moves only axes of size 1 keeps the row-major order: it
// relabels the tensor, as a Reshape does (torch's [1, T, D] <-> [T, 1, D] around nn.MultiheadAttention).
void Importer::transpose(int idx) {
  const NodeProto& n = node(idx);
  const Dyn x = dyn_input(n, 0);
  const Shape& irs = b_->shape(x.ir);
  {
    const size_t rank = x.shape.size();
    std::vector<int64_t> perm = attr_ints(n, "perm").value_or(std::vector<int64_t>{});
    if (perm.empty())
      for (size_t k = rank; k-- > 0;) perm.push_back(static_cast<int64_t>(k));
    std::vector<int64_t> sorted = perm, moved;  // moved: the axes of size > 1, in output order
    std::sort(sorted.begin(), sorted.end());
    Shape out;
    bool is_perm = perm.size() == rank;
    for (size_t k = 0; k < sorted.size() && is_perm; ++k) is_perm = sorted[k] == static_cast<int64_t>(k);
    for (size_t k = 0; k < perm.size() && is_perm; ++k) {
      out.push_back(x.shape[uz(perm[k])]);
      if (out.back() != 1) moved.push_back(perm[k]);
    }
    if (!is_perm) fail_node(n, "perm is not a permutation of the input's " + std::to_string(rank) + " axes");
    if (std::is_sorted(moved.begin(), moved.end())) return bind(n.output(0), x.ir, out);
  }
  if (x.shape.size() != 3 || x.shape[0] != 1 || attr_ints(n, "perm") != std::vector<int64_t>{0, 2, 1} ||
      irs.size() != 3 || irs[0] != x.shape[1] || irs[1] * irs[2] != x.shape[2])
    fail_node(
        n,
        "unsupported Transpose: only the patch embedding's [1, D, H*W] -> [1, H*W, D] (perm [0, 2, 1] of "
        "a conv output), a transpose that moves only axes of size 1 and the transposes inside a multi-head "
        "attention or LiteMLA pattern are supported");
  const int ir = b_->patch_tokens(token_op_name(n, "patch_tokens"), x.ir);
  bind(n.output(0), ir, {1, x.shape[2], x.shape[1]});
}

// The class token: Concat(learned [1, 1, D], tokens [1, T, D]) on axis 1 -> ClassToken.
void Importer::class_token(int idx) {
  const NodeProto& n = node(idx);
  const Dyn x = dyn_input(n, 1);
  const Const& token = *constant(n.input(0));
  int64_t axis = attr_int(n, "axis", 1);
  if (axis < 0) axis += static_cast<int64_t>(x.shape.size());
  if (x.shape.size() != 3 || axis != 1 || !token.is_float || token.dims != Shape{1, 1, x.shape[2]})
    fail_node(
        n, "only a learned class token [1, 1, D] prepended on axis 1 to tokens [1, T, D] is supported, got " +
               dims_str(token.dims) + " and " + dims_str(x.shape) + " on axis " + std::to_string(axis));
  const int ir = b_->class_token(token_op_name(n, "cls_token"), ir_input(n, 1, 3));
  Tensor t({x.shape[2]});
  t.data = token.f;
  extra_[ir].params["token"] = std::move(t);
  bind(n.output(0), ir, {1, x.shape[1] + 1, x.shape[2]});
}

// The position embedding: tokens [1, T, D] + a learned [1, T, D] -> PosEmbed.
void Importer::pos_embed(int idx, int const_k) {
  const NodeProto& n = node(idx);
  const Dyn x = dyn_input(n, 1 - const_k);
  const Const& pos = *constant(n.input(const_k));
  const Shape td(x.shape.begin() + (x.shape.empty() ? 0 : 1), x.shape.end());
  if (x.shape.size() != 3 || !pos.is_float || (pos.dims != x.shape && pos.dims != td))
    fail_node(
        n,
        "an Add of a constant is supported as a Linear bias, inside a LayerNorm / LiteMLA pattern, or as a "
        "position embedding of tokens [1, T, D] with a [1, T, D] constant; got " +
            dims_str(x.shape) + " + " + dims_str(pos.dims));
  const int ir = b_->pos_embed(token_op_name(n, "pos_embed"), ir_input(n, 1 - const_k, 3));
  Tensor t(td);
  t.data = pos.f;
  extra_[ir].params["pos"] = std::move(t);
  bind(n.output(0), ir, x.shape);
}

// The class token's row: Gather of a scalar index on axis 1 of [1, T, D] -> TokenSelect.
void Importer::gather(int idx) {
  const NodeProto& n = node(idx);
  const Dyn x = dyn_input(n, 0);
  const Const* index = has_input(n, 1) ? constant(n.input(1)) : nullptr;
  int64_t axis = attr_int(n, "axis", 0);
  if (axis < 0) axis += static_cast<int64_t>(x.shape.size());
  if (x.shape.size() != 3 || x.shape[0] != 1 || axis != 1 || !index || !index->dims.empty())
    fail_node(n, "only the selection of one token (a scalar index on axis 1 of [1, T, D]) is supported");
  int64_t k = index->int_at(0);
  if (k < 0) k += x.shape[1];
  const int ir = b_->token_select(token_op_name(n, "token_select"), ir_input(n, 0, 3), k);
  bind(n.output(0), ir, {1, x.shape[2]});
}

void Importer::process(int idx) {
  const NodeProto& n = node(idx);
  const std::string& op = n.op_type();
  if (!n.domain().empty() && n.domain() != "ai.onnx")
    fail_node(n, "ops of domain '" + n.domain() + "' are not supported");
  if (n.output_size() == 0) fail_node(n, "has no output");
  if (op == "Conv") return conv(idx);
  if (op == "Pad") return pad(idx);
  if (op == "Gemm") return gemm(idx);
  if (op == "MatMul") return matmul(idx);
  if (op == "Add") return add(idx);
  if (op == "MaxPool") return max_pool(idx);
  if (op == "Concat") return concat(idx);
  if (op == "Transpose") return transpose(idx);
  if (op == "Gather") return gather(idx);
  if (op == "Slice") return mha_attention(idx);
  if (op == "Softmax" || op == "Split")
    fail_node(n,
              "unsupported op " + op + " here: it is only supported inside a multi-head attention pattern");
  if (op == "GlobalAveragePool") {
    const int ir = b_->global_avg_pool(layer_name(n), ir_input(n, 0, 4));
    bind(n.output(0), ir, {1, b_->shape(ir)[0], 1, 1});
    return;
  }
  if (op == "ReduceMean") return reduce_mean(idx);
  if (op == "LayerNormalization") return layer_norm(idx);
  if (op == "Reshape" || op == "Flatten" || op == "Squeeze" || op == "Unsqueeze" || op == "Identity" ||
      op == "Dropout" || op == "Cast")
    return view(idx);
  if (op == "BatchNormalization")
    fail_node(n, "a BatchNormalization is only supported right after a Conv that feeds nothing else");
  if (op == "Mul" && n.input_size() == 2 && dyn(n.input(0)) && dyn(n.input(1))) {
    const Dyn &a = dyn_input(n, 0), &b = dyn_input(n, 1);
    const bool gate = a.shape.size() == 4 && b.shape.size() == 4 && a.shape[1] == b.shape[1] &&
                      ((a.shape[2] == 1 && a.shape[3] == 1) != (b.shape[2] == 1 && b.shape[3] == 1));
    if (gate) return channel_mul(idx);
  }
  if (elementwise_ops().count(op))
    fail_node(
        n,
        "unsupported op here: elementwise ops are only supported as an activation (ReLU, ReLU6, HardSwish, "
        "GELU, Sigmoid, HardSigmoid, SiLU) fused into the Conv / Gemm / MatMul (+norm) that feeds only it (a "
        "Relu also into a residual Add), as a squeeze-excite gate (Mul of [1, C, H, W] and [1, C, 1, 1]), or "
        "inside a LayerNorm or LiteMLA pattern");
  fail_node(n, "unsupported op " + op);
}

Graph Importer::run() {
  const int count = g_.node_size();
  if (count == 0) fail("not a valid ONNX model: the graph has no nodes");
  done_.assign(uz(count), false);

  for (const TensorProto& t : g_.initializer())
    const_[t.name()] = parse_tensor(t, "initializer '" + t.name() + "'");
  for (int i = 0; i < count; ++i)
    for (const std::string& o : node(i).output())
      if (!o.empty()) producer_[o] = i;

  // The image input: the one graph input that is not an initializer, fixed shape [1, C, H, W].
  const onnx::ValueInfoProto* input = nullptr;
  for (const onnx::ValueInfoProto& v : g_.input()) {
    if (const_.count(v.name())) continue;
    if (input)
      fail("the model has more than one input ('" + input->name() + "', '" + v.name() +
           "'); one image input is supported");
    input = &v;
  }
  if (!input) fail("the model has no input");
  if (!input->type().has_tensor_type() || input->type().tensor_type().elem_type() != TensorProto::FLOAT)
    fail("input '" + input->name() + "' is not a float32 tensor");
  Shape in_shape;
  const auto& dims = input->type().tensor_type().shape().dim();
  for (int k = 0; k < dims.size(); ++k) {
    if (!dims[k].has_dim_value())
      fail("input '" + input->name() + "' has a dynamic dimension " + std::to_string(k) +
           (dims[k].dim_param().empty() ? "" : " ('" + dims[k].dim_param() + "')") +
           "; only fixed shapes are supported: export with a fixed batch of 1 and no dynamic_axes");
    in_shape.push_back(dims[k].dim_value());
  }
  if (in_shape.size() != 4)
    fail("input '" + input->name() + "' has shape " + dims_str(in_shape) + ", expected [1, C, H, W]");
  if (in_shape[0] != 1)
    fail("input '" + input->name() + "' has batch " + std::to_string(in_shape[0]) + "; batch must be 1");
  for (int64_t d : in_shape)
    if (d <= 0) fail("input '" + input->name() + "' has an empty dimension");

  if (g_.output_size() != 1)
    fail("the model has " + std::to_string(g_.output_size()) + " outputs; exactly one is supported");
  const std::string output = g_.output(0).name();
  outputs_.insert(output);

  // Liveness: only nodes that contribute to the output are imported.
  std::set<std::string> needed = {output};
  std::vector<bool> live(uz(count), false);
  for (int i = count; i-- > 0;) {
    const NodeProto& n = node(i);
    for (const std::string& o : n.output())
      if (needed.count(o)) live[uz(i)] = true;
    if (!live[uz(i)]) {
      done_[uz(i)] = true;
      continue;
    }
    for (const std::string& in : n.input())
      if (!in.empty()) needed.insert(in);
  }
  for (int i = 0; i < count; ++i) {
    if (!live[uz(i)]) continue;
    for (const std::string& in : node(i).input()) {
      if (in.empty()) continue;
      std::vector<int>& u = users_[in];
      if (u.empty() || u.back() != i) u.push_back(i);
    }
  }

  std::string model = std::filesystem::path(path_).stem().string();
  b_.emplace(model.empty() ? "onnx" : model, static_cast<int>(in_shape[2]),
             Shape(in_shape.begin() + 1, in_shape.end()));
  names_.insert("input");
  bind(input->name(), 0, in_shape);

  try {
    for (int i = 0; i < count; ++i) {
      if (done_[uz(i)]) continue;
      current_ = i;
      const NodeProto& n = node(i);
      done_[uz(i)] = true;
      if (n.output_size() > 0 && constant(n.output(0))) continue;  // folded
      process(i);
    }
  } catch (const std::invalid_argument& e) {
    const std::string msg = e.what();
    if (msg.rfind("ONNX import", 0) == 0) throw;
    fail(node_desc(node(current_)) + ": " + msg);  // a shape error of the GraphBuilder
  }

  const Dyn* out = dyn(output);
  if (!out)
    fail("the output '" + output + "' is " + (constant(output) ? "a constant" : "not produced by any node"));
  Graph graph = b_->finish();
  if (out->ir != static_cast<int>(graph.nodes.size()) - 1)
    fail("the output '" + output + "' is not computed by the last layer");
  const Shape& irs = graph.nodes.back().out_shape;
  if (!(out->shape == irs || (out->shape.size() == irs.size() + 1 && out->shape[0] == 1 &&
                              Shape(out->shape.begin() + 1, out->shape.end()) == irs)))
    fail("the output '" + output + "' has shape " + dims_str(out->shape) + " but the last layer produces " +
         dims_str(irs));
  if (g_.output(0).type().tensor_type().has_shape()) {  // declared dims (symbolic ones aside) must agree
    const auto& od = g_.output(0).type().tensor_type().shape().dim();
    bool agree = od.size() == static_cast<int>(out->shape.size());
    for (int k = 0; agree && k < od.size(); ++k)
      agree = !od[k].has_dim_value() || od[k].dim_value() == out->shape[uz(k)];
    if (!agree)
      fail("the output '" + output + "' is declared with another shape than the " + dims_str(out->shape) +
           " it computes");
  }
  for (auto& [i, e] : extra_) {
    Node& n = graph.nodes[uz(i)];
    n.params = std::move(e.params);
    if (e.norm_eps) n.norm_eps = *e.norm_eps;
  }
  graph.validate();
  return graph;
}

}  // namespace

Graph import_onnx(const std::string& path) {
  auto fail = [&](const std::string& what) {
    throw std::invalid_argument("ONNX import of '" + path + "': " + what);
  };
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) fail("file not found");
  if (std::filesystem::is_directory(path, ec)) fail("is a directory, not an ONNX file");
  constexpr uint64_t kMaxOnnxBytes = uint64_t{2} << 30;  // protobuf's limit for one message
  std::string bytes;
  try {
    bytes = read_input_file(path, kMaxOnnxBytes);
  } catch (const ConfigError& e) {  // not a regular file (a FIFO would block, /dev/zero never ends), too big
    throw std::invalid_argument(std::string("ONNX import: ") + e.what());
  }
  if (bytes.empty()) fail("the file is empty");
  onnx::ModelProto model;
  if (!model.ParseFromString(bytes))
    fail("not a valid ONNX model: protobuf parsing failed (the file is corrupt, truncated or not ONNX)");
  if (!model.has_graph() || model.graph().node_size() == 0)
    fail("not a valid ONNX model: it contains no graph nodes (the file is truncated or not ONNX)");
  bool opset = false;
  for (const onnx::OperatorSetIdProto& o : model.opset_import())
    opset = opset || o.domain().empty() || o.domain() == "ai.onnx";
  if (!opset) fail("not a valid ONNX model: it declares no ai.onnx opset");
  return Importer(path, model).run();
}

}  // namespace vitsim::quant
