#include "quant/recipe.hpp"

#include "quant/json_reader.hpp"
#include "quant/mixed_scheme.hpp"

namespace vitsim::quant {

namespace {

Recipe read_recipe(const nlohmann::json& j, const std::string& origin) {
  JsonReader r(j, origin);
  Recipe recipe;
  recipe.name = r.string("name");
  recipe.description = r.string("description", "");
  recipe.weight_bits = r.integer("weight_bits", 8, 2, 8);
  recipe.activation_bits = r.integer("activation_bits", 8, 2, 8);
  const std::string calibrator = r.string("calibrator", "minmax");
  try {
    recipe.calibrator = parse_calibrator(calibrator);
  } catch (const std::invalid_argument& e) {
    r.fail("calibrator", e.what());
  }

  JsonReader att = r.object("attention");
  recipe.attention.bits = att.integer("bits", 8, 2, 8);
  recipe.attention.per_branch = att.boolean("per_branch", true);
  recipe.attention.separate_ksum = att.boolean("separate_ksum", true);
  recipe.attention.divisor =
      att.choice("divisor", "log2", {"log2", "uniform"}) == "log2" ? DivisorMode::Log2 : DivisorMode::Uniform;
  recipe.attention.log2_rounding =
      att.choice("log2_rounding", "hardware", {"hardware", "sqrt2"}) == "hardware" ? Log2Rounding::Hardware
                                                                                   : Log2Rounding::Sqrt2;
  recipe.attention.divisor_bits = att.integer("divisor_bits", 8, 2, 16);
  att.reject_unknown_keys();

  JsonReader mig = r.object("channel_migration");
  recipe.migration.enabled = mig.boolean("enabled", false);
  recipe.migration.power_of_two = mig.boolean("power_of_two", false);
  recipe.migration.quantile = mig.number("quantile", 0.99, 0.5, 1.0);
  recipe.migration.min_factor = mig.number("min", 0.1, 1e-6, 1.0);
  recipe.migration.max_factor = mig.number("max", 64.0, 1.0, 1e6);
  mig.reject_unknown_keys();

  JsonReader shift = r.object("filter_shift");
  recipe.filter_shift = shift.boolean("enabled", false);
  shift.reject_unknown_keys();

  recipe.float_layernorm = r.boolean("float_layernorm", true);
  if (!recipe.float_layernorm)
    r.fail("float_layernorm",
           "a LayerNorm fused into a Linear has no integer semantics: it must stay FP32 (true)");

  JsonReader sm = r.object("softmax");
  recipe.vit.softmax_log2 = sm.choice("output", "uniform", {"uniform", "log2"}) == "log2";
  recipe.vit.softmax_bits =
      sm.integer("bits", recipe.vit.softmax_log2 ? 4 : 8, 2, recipe.vit.softmax_log2 ? 5 : 16);
  sm.reject_unknown_keys();
  JsonReader ln = r.object("layernorm");
  recipe.vit.ptf = ln.boolean("ptf", false);
  ln.reject_unknown_keys();
  recipe.vit.gelu_poly = r.choice("gelu", "table", {"table", "poly"}) == "poly";
  recipe.scales = r.choice("scales", "float", {"float", "power-of-two"}) == "float" ? ScaleKind::Float
                                                                                    : ScaleKind::PowerOfTwo;
  recipe.pot_rounding = r.choice("pot_rounding", "nearest", {"nearest", "adaptive"}) == "nearest"
                            ? PotRounding::Nearest
                            : PotRounding::Adaptive;
  JsonReader smooth = r.object("smoothing");
  recipe.smoothing.enabled = smooth.boolean("enabled", false);
  recipe.smoothing.alpha = smooth.number("alpha", 0.5, 0.0, 1.0);
  smooth.reject_unknown_keys();
  JsonReader scheme = r.object("mixed_scheme");
  recipe.mixed_scheme.enabled = scheme.boolean("enabled", false);
  recipe.mixed_scheme.pot_ratio = scheme.number("pot_ratio", 0.5, 0.0, 1.0);
  recipe.mixed_scheme.pot_bits = scheme.integer("pot_bits", 4, 2, 5);
  if (recipe.mixed_scheme.enabled && pot_max_exponent(recipe.mixed_scheme.pot_bits) > recipe.weight_bits - 2)
    scheme.fail("pot_bits", "its largest code 2^" +
                                std::to_string(pot_max_exponent(recipe.mixed_scheme.pot_bits)) +
                                " does not fit weight_bits " + std::to_string(recipe.weight_bits));
  if (recipe.mixed_scheme.enabled && recipe.scales == ScaleKind::PowerOfTwo)
    scheme.fail("enabled",
                "a power-of-two row's scale is max|w| / 2^kmax, not a power of two: mixed-scheme "
                "weights need \"scales\": \"float\"");
  scheme.reject_unknown_keys();
  JsonReader mixed = r.object("mixed_precision");
  recipe.mixed.enabled = mixed.boolean("enabled", false);
  recipe.mixed.high_bits = mixed.integer("high_bits", 8, 2, 8);
  recipe.mixed.budget = mixed.number("budget", 1.1, 1.0, 16.0);
  recipe.mixed.holdout = mixed.number("holdout", 0.25, 0.05, 0.95);
  recipe.mixed.population = mixed.integer("population", 8, 2, 256);
  recipe.mixed.generations = mixed.integer("generations", 6, 0, 1000);
  recipe.mixed.seed = mixed.integer("seed", 0, 0, 2147483647);
  if (recipe.mixed.enabled && recipe.mixed.high_bits <= recipe.weight_bits)
    mixed.fail("high_bits", "the promoted width must exceed weight_bits (" +
                                std::to_string(recipe.weight_bits) + "), found " +
                                std::to_string(recipe.mixed.high_bits));
  mixed.reject_unknown_keys();
  if (recipe.mixed.enabled && recipe.scales != ScaleKind::PowerOfTwo)
    r.fail("mixed_precision",
           "mixed precision ranks layers by the power-of-two weight search's errors: it needs \"scales\": "
           "\"power-of-two\"");
  if (recipe.pot_rounding == PotRounding::Adaptive && recipe.scales != ScaleKind::PowerOfTwo)
    r.fail("pot_rounding",
           "adaptive rounding picks power-of-two exponents: it needs \"scales\": \"power-of-two\"");
  r.reject_unknown_keys();
  recipe.source_json = j.dump();
  return recipe;
}

}  // namespace

Recipe parse_recipe(const std::string& json_text, const std::string& origin) {
  return read_recipe(parse_json_text(json_text, origin), origin);
}

Recipe load_recipe(const std::string& path) {
  return read_recipe(read_json_file(path), path);
}

Recipe find_recipe(const std::string& name_or_path, const std::string& config_dir) {
  const std::string path = find_named_json(name_or_path, config_dir);
  if (!path.empty()) return load_recipe(path);
  throw ConfigError("unknown recipe '" + name_or_path + "': not a file, and not in " + config_dir +
                    " (known: " + known_json_names(config_dir) + ")");
}

}  // namespace vitsim::quant
