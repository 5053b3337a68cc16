#include "quant/json_reader.hpp"

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

namespace vitsim::quant {

namespace {
const nlohmann::json& empty_object() {
  static const nlohmann::json empty = nlohmann::json::object();
  return empty;
}

std::string type_of(const nlohmann::json& j) {
  if (j.is_number_integer()) return "an integer (" + j.dump() + ")";
  if (j.is_number()) return "a number (" + j.dump() + ")";
  return std::string(j.type_name()) + " (" + j.dump() + ")";
}
}  // namespace

std::string bundled_config_dir() {
  const char* env = std::getenv("VITSIM_CONFIG_DIR");
  return env && *env ? env : VITSIM_SOURCE_DIR "/configs";
}

nlohmann::json read_json_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw ConfigError(path + ": cannot open the file");
  try {
    return nlohmann::json::parse(in);
  } catch (const nlohmann::json::parse_error& e) {
    throw ConfigError(path + ": malformed JSON: " + e.what());
  }
}

JsonReader::JsonReader(const nlohmann::json& object, std::string file, std::string path)
    : object_(object.is_object() ? object : empty_object()), file_(std::move(file)), path_(std::move(path)) {
  if (!object.is_object())
    throw ConfigError(file_ + ": " + (path_.empty() ? "/" : path_) + ": expected an object, found " +
                      type_of(object));
}

void JsonReader::fail(const std::string& key, const std::string& problem) const {
  throw ConfigError(file_ + ": " + path_ + "/" + key + ": " + problem);
}

bool JsonReader::has(const std::string& key) const {
  return object_.contains(key);
}

const nlohmann::json* JsonReader::find(const std::string& key, nlohmann::json::value_t type,
                                       const char* expected) {
  read_.insert(key);
  auto it = object_.find(key);
  if (it == object_.end()) return nullptr;
  const bool ok = type == nlohmann::json::value_t::number_float     ? it->is_number()
                  : type == nlohmann::json::value_t::number_integer ? it->is_number_integer()
                                                                    : it->type() == type;
  if (!ok) fail(key, std::string("expected ") + expected + ", found " + type_of(*it));
  return &*it;
}

std::string JsonReader::string(const std::string& key, const std::string& fallback) {
  const auto* v = find(key, nlohmann::json::value_t::string, "a string");
  return v ? v->get<std::string>() : fallback;
}

std::string JsonReader::string(const std::string& key) {
  const auto* v = find(key, nlohmann::json::value_t::string, "a string");
  if (!v) fail(key, "required key is missing");
  return v->get<std::string>();
}

bool JsonReader::boolean(const std::string& key, bool fallback) {
  const auto* v = find(key, nlohmann::json::value_t::boolean, "true or false");
  return v ? v->get<bool>() : fallback;
}

int JsonReader::integer(const std::string& key, int fallback, int min, int max) {
  const auto* v = find(key, nlohmann::json::value_t::number_integer, "an integer");
  if (!v) return fallback;
  const int64_t x = v->get<int64_t>();
  if (x < min || x > max)
    fail(key, "expected an integer in [" + std::to_string(min) + ", " + std::to_string(max) + "], found " +
                  std::to_string(x));
  return static_cast<int>(x);
}

double JsonReader::number(const std::string& key, double fallback, double min, double max) {
  const auto* v = find(key, nlohmann::json::value_t::number_float, "a number");
  if (!v) return fallback;
  const double x = v->get<double>();
  if (!(x >= min && x <= max)) {
    std::ostringstream msg;
    msg << "expected a number in [" << min << ", " << max << "], found " << x;
    fail(key, msg.str());
  }
  return x;
}

std::string JsonReader::choice(const std::string& key, const std::string& fallback,
                               const std::set<std::string>& allowed) {
  const std::string value = string(key, fallback);
  if (!allowed.count(value)) {
    std::string list;
    for (const std::string& a : allowed) list += (list.empty() ? "" : ", ") + a;
    fail(key, "expected one of " + list + ", found \"" + value + "\"");
  }
  return value;
}

JsonReader JsonReader::object(const std::string& key) {
  const auto* v = find(key, nlohmann::json::value_t::object, "an object");
  return JsonReader(v ? *v : empty_object(), file_, path_ + "/" + key);
}

JsonReader JsonReader::required_object(const std::string& key) {
  require(key);
  return object(key);
}

const nlohmann::json* JsonReader::value(const std::string& key) {
  read_.insert(key);
  const auto it = object_.find(key);
  return it == object_.end() ? nullptr : &*it;
}

void JsonReader::require(const std::string& key) const {
  if (!has(key)) fail(key, "required key is missing");
}

std::vector<JsonReader> JsonReader::objects(const std::string& key) {
  std::vector<JsonReader> out;
  const auto* v = find(key, nlohmann::json::value_t::array, "an array of objects");
  if (!v) return out;
  for (size_t i = 0; i < v->size(); ++i)
    out.emplace_back((*v)[i], file_, path_ + "/" + key + "/" + std::to_string(i));
  return out;
}

std::vector<int> JsonReader::integers(const std::string& key, const std::vector<int>& fallback, int min,
                                      int max) {
  const auto* v = find(key, nlohmann::json::value_t::array, "an array of integers");
  if (!v) return fallback;
  std::vector<int> out;
  for (size_t i = 0; i < v->size(); ++i) {
    const nlohmann::json& e = (*v)[i];
    const std::string at = key + "/" + std::to_string(i);
    if (!e.is_number_integer()) fail(at, "expected an integer, found " + type_of(e));
    const int64_t x = e.get<int64_t>();
    if (x < min || x > max)
      fail(at, "expected an integer in [" + std::to_string(min) + ", " + std::to_string(max) + "], found " +
                   std::to_string(x));
    out.push_back(static_cast<int>(x));
  }
  return out;
}

std::vector<std::string> JsonReader::strings(const std::string& key) {
  read_.insert(key);
  std::vector<std::string> out;
  auto it = object_.find(key);
  if (it == object_.end()) return out;
  if (it->is_string()) return {it->get<std::string>()};
  if (!it->is_array()) fail(key, "expected a string or an array of strings, found " + type_of(*it));
  for (size_t i = 0; i < it->size(); ++i) {
    const nlohmann::json& e = (*it)[i];
    if (!e.is_string()) fail(key + "/" + std::to_string(i), "expected a string, found " + type_of(e));
    out.push_back(e.get<std::string>());
  }
  return out;
}

void JsonReader::reject_unknown_keys() const {
  for (auto it = object_.begin(); it != object_.end(); ++it)
    if (!read_.count(it.key())) {
      std::string known;
      for (const std::string& k : read_) known += (known.empty() ? "" : ", ") + k;
      fail(it.key(), "unknown key (known keys here: " + known + ")");
    }
}

std::string find_named_json(const std::string& name_or_path, const std::string& dir) {
  namespace fs = std::filesystem;
  if (fs::is_regular_file(name_or_path)) return name_or_path;
  const fs::path candidate = fs::path(dir) / (name_or_path + ".json");
  return fs::is_regular_file(candidate) ? candidate.string() : std::string();
}

std::string known_json_names(const std::string& dir) {
  namespace fs = std::filesystem;
  std::set<std::string> known;
  if (fs::is_directory(dir))
    for (const auto& entry : fs::directory_iterator(dir))
      if (entry.path().extension() == ".json") known.insert(entry.path().stem().string());
  std::string list;
  for (const std::string& k : known) list += (list.empty() ? "" : ", ") + k;
  return list.empty() ? "none" : list;
}

}  // namespace vitsim::quant
