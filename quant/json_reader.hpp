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

/// Deepest nesting of arrays and objects accepted in any JSON input (the shipped files need fewer than 8
/// levels; a bound keeps every recursive walk of a value, such as dump(), far from the stack's end).
constexpr int kMaxJsonDepth = 128;
/// Largest JSON input file read (configs, recipes, sweep specs and result.json files are kilobytes).
constexpr uint64_t kMaxJsonFileBytes = uint64_t{64} << 20;

/// At most `max_chars` characters of `text` for an error message: control characters, '\\' and bytes
/// outside printable ASCII escaped as \xNN (nothing from a file reaches the terminal raw), and
/// "... (N bytes)" when it was cut.
std::string excerpt(const std::string& text, size_t max_chars = 64);
/// Whether `text` holds no control character (C0, DEL, or C1 in UTF-8): names read from files are printed
/// as they are, so a name that could drive the terminal is refused where it is read.
bool printable(const std::string& text);

/// A JSON value's type with a bounded excerpt, for "expected X, found Y" messages: "an integer (7)",
/// "string ("abc")", "array ([1,2,...)".
std::string describe_json(const nlohmann::json& j);
std::string describe_json(const nlohmann::ordered_json& j);

/// The content of the regular file `path`, at most `max_bytes` long. Throws ConfigError "<path>: ..." for a
/// missing file, a file that is not a regular file (a FIFO or a device would block or never end), or one
/// larger than `max_bytes`.
std::string read_input_file(const std::string& path, uint64_t max_bytes);

/// Parses JSON text read from `source`. Throws ConfigError "<source>: malformed JSON: ..." for a syntax
/// error (with its byte offset), nesting deeper than `max_depth`, or a number beyond the double range;
/// the message quotes at most a bounded excerpt of the input.
nlohmann::json parse_json_text(const std::string& text, const std::string& source,
                               int max_depth = kMaxJsonDepth);
/// The same, keeping the keys in file order.
nlohmann::ordered_json parse_ordered_json_text(const std::string& text, const std::string& source,
                                               int max_depth = kMaxJsonDepth);

/// Reads and parses a JSON file (read_input_file, then parse_json_text). A top-level "$schema" string is
/// dropped: it only tells editors where the file's JSON Schema is (docs/*.schema.json), so it is neither an
/// unknown key nor part of what is hashed or copied. A "$schema" of another type, or below the top level,
/// stays and is refused as an unknown key.
nlohmann::json read_json_file(const std::string& path);

/// Directory of the bundled configs: $VITSIM_CONFIG_DIR if set, else the source tree's configs/.
std::string bundled_config_dir();

/// Where a named config lives: `name_or_path` if it is a file, else `<dir>/<name>.json` if that is one;
/// "" if neither.
std::string find_named_json(const std::string& name_or_path, const std::string& dir);
/// The names of the .json files in `dir`, sorted, ", "-separated ("none" if there are none), for the message
/// of a name find_named_json did not find.
std::string known_json_names(const std::string& dir);
/// find_named_json, or a ConfigError "<name>: cannot open the file, and no <kind> of that name in <dir>
/// (known: ...)" when it finds nothing: the one message every named config kind gives.
std::string require_named_json(const std::string& name_or_path, const std::string& dir,
                               const std::string& kind);

/// A view of one JSON object at a path, remembering which keys were read.
class JsonReader {
 public:
  JsonReader(const nlohmann::json& object, std::string file, std::string path = "");

  bool has(const std::string& key) const;
  /// A string without control characters (printable()).
  std::string string(const std::string& key, const std::string& fallback);
  std::string string(const std::string& key);  // required
  bool boolean(const std::string& key, bool fallback);
  int integer(const std::string& key, int fallback, int min, int max);
  /// An integer in [min, max] that is also a power of two.
  int power_of_two(const std::string& key, int fallback, int min, int max);
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
  /// An array of printable strings, or a single string read as a one-element array (empty when absent).
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
  std::string printable_string(const std::string& at, const nlohmann::json& v) const;

  const nlohmann::json& object_;
  std::string file_, path_;
  std::set<std::string> read_;
};

}  // namespace vitsim::quant
