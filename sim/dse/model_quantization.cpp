#include "sim/dse/model_quantization.hpp"

#include <algorithm>
#include <cctype>

#include "quant/zoo.hpp"
#include "sim/compile/inputs.hpp"

namespace vitsim::sim {

bool plain_name(const std::string& s) {
  if (s.empty() || s[0] == '.') return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.';
  });
}

std::vector<ModelEntry> read_model_entries(quant::JsonReader& r, const std::string& key) {
  r.require(key);
  std::vector<quant::JsonReader> models = r.objects(key);
  if (models.empty()) r.fail(key, "expected at least one {\"model\", \"res\"} entry");
  std::vector<ModelEntry> entries;
  for (size_t i = 0; i < models.size(); ++i) {
    quant::JsonReader& fields = models[i];
    ModelEntry entry;
    entry.model = fields.string("model");
    fields.require("res");
    entry.resolution = fields.integer("res", 0, 1, 8192);
    fields.reject_unknown_keys();
    const std::string at = key + "/" + std::to_string(i);
    for (const ModelEntry& seen : entries)
      if (seen.model == entry.model && seen.resolution == entry.resolution)
        r.fail(at, "duplicate entry " + entry.model + " @" + std::to_string(entry.resolution));
    try {
      quant::build_model(entry.model, entry.resolution);
    } catch (const std::invalid_argument& e) {
      r.fail(at, e.what());
    }
    entries.push_back(entry);
  }
  return entries;
}

CalibrationSpec read_calibration(quant::JsonReader& calib, const CalibrationSpec& fallback) {
  CalibrationSpec c;
  c.source = calib.choice("source", fallback.source, {"synthetic", "fashion-mnist"});
  c.seed = calib.integer("seed", fallback.seed, 0, kMaxSeed);
  c.count = calib.integer("count", fallback.count, 1, 10000);
  calib.reject_unknown_keys();
  return c;
}

quant::Recipe read_recipe(quant::JsonReader& r, const std::string& key, const std::string& name_or_path) {
  try {
    return quant::find_recipe(name_or_path, config_dir() + "/quant");
  } catch (const std::invalid_argument& e) {
    r.fail(key, e.what());
  }
}

quant::QGraph quantize_zoo_model(const ModelEntry& entry, uint64_t weights_seed, const CalibrationSpec& calib,
                                 const quant::Recipe& recipe, const quant::ProgressFn& progress) {
  quant::Graph graph = quant::build_model(entry.model, entry.resolution);
  quant::materialize_synthetic_weights(graph, weights_seed);
  const quant::ImageSet images = load_images(calib.source, "train", calib.count, graph.nodes.at(0).out_shape,
                                             static_cast<uint64_t>(calib.seed));
  return quant::quantize_graph(graph, recipe, images.images, progress);
}

}  // namespace vitsim::sim
