// Typed reading of JSON configuration with errors that name the file, the JSON path, what was expected
// and what was found; unknown keys are errors (a misspelt option must not be silently ignored).
#pragma once

#include <nlohmann/json.hpp>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

namespace vitsim::quant {

/// A configuration error; what() is "<file>: <json path>: <problem>".
class ConfigError : public std::invalid_argument {
 public:
  using std::invalid_argument::invalid_argument;
};

/// Parses a JSON file; throws ConfigError for a missing file or malformed JSON (with line and column).
nlohmann::json read_json_file(const std::string& path);

/// Directory of the bundled configs: $VITSIM_CONFIG_DIR if set, else the source tree's configs/.
std::string bundled_config_dir();

/// Where a named config lives: `name_or_path` if it is a file, else `<dir>/<name>.json` if that is one;
/// "" if neither.
std::string find_named_json(const std::string& name_or_path, const std::string& dir);
/// The names of the .json files in `dir`, sorted, ", "-separated ("none" if there are none), for the message
/// of a name find_named_json did not find.
std::string known_json_names(const std::string& dir);

/// A view of one JSON object at a path, remembering which keys were read.
class JsonReader {
 public:
  JsonReader(const nlohmann::json& object, std::string file, std::string path = "");

  bool has(const std::string& key) const;
  std::string string(const std::string& key, const std::string& fallback);
  std::string string(const std::string& key);  // required
  bool boolean(const std::string& key, bool fallback);
  int integer(const std::string& key, int fallback, int min, int max);
  double number(const std::string& key, double fallback, double min, double max);
  /// A string that must be one of `allowed`.
  std::string choice(const std::string& key, const std::string& fallback,
                     const std::set<std::string>& allowed);
  /// A nested object (an empty one when absent).
  JsonReader object(const std::string& key);
  /// A required nested object: "required key is missing" when absent.
  JsonReader required_object(const std::string& key);
  /// An array of objects, each a reader at path <key>/<index> (empty when absent).
  std::vector<JsonReader> objects(const std::string& key);
  /// An array of integers, each in [min, max] (`fallback` when absent).
  std::vector<int> integers(const std::string& key, const std::vector<int>& fallback, int min, int max);
  /// An array of strings, or a single string read as a one-element array (empty when absent).
  std::vector<std::string> strings(const std::string& key);
  /// The value at `key` as it is, of any type (nullptr when absent), for callers that check it themselves.
  const nlohmann::json* value(const std::string& key);
  /// Throws "required key is missing" unless the key is present.
  void require(const std::string& key) const;
  /// Throws if the object has keys that were never read.
  void reject_unknown_keys() const;

  [[noreturn]] void fail(const std::string& key, const std::string& problem) const;
  const std::string& file() const { return file_; }

 private:
  const nlohmann::json* find(const std::string& key, nlohmann::json::value_t type, const char* expected);

  const nlohmann::json& object_;
  std::string file_, path_;
  std::set<std::string> read_;
};

}  // namespace vitsim::quant
