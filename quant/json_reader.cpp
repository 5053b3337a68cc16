#include "quant/json_reader.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <set>
#include <sstream>

namespace vitsim::quant {

namespace {
const nlohmann::json& empty_object() {
  static const nlohmann::json empty = nlohmann::json::object();
  return empty;
}

template <class Json>
std::string describe(const Json& j) {
  if (j.is_number_integer()) return "an integer (" + excerpt(j.dump()) + ")";
  if (j.is_number()) return "a number (" + excerpt(j.dump()) + ")";
  // The parser bounds the depth, so dump() cannot exhaust the stack; only its first characters are shown.
  return std::string(j.type_name()) + " (" + excerpt(j.dump()) + ")";
}

/// An integer value; one beyond int64 (a large unsigned) saturates, so a range check reports it instead
/// of seeing it wrapped to a negative number.
int64_t saturated_int64(const nlohmann::json& j) {
  if (j.is_number_unsigned() && j.get<uint64_t>() > static_cast<uint64_t>(INT64_MAX)) return INT64_MAX;
  return j.get<int64_t>();
}

/// Nesting depth of JSON text (brackets outside strings); stops counting past `limit`.
int json_depth(const std::string& text, int limit) {
  int depth = 0, max_depth = 0;
  bool in_string = false, escape = false;
  for (char c : text) {
    if (in_string) {
      if (escape)
        escape = false;
      else if (c == '\\')
        escape = true;
      else if (c == '"')
        in_string = false;
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      max_depth = std::max(max_depth, ++depth);
      if (max_depth > limit) return max_depth;
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
  return max_depth;
}

template <class Json>
Json parse_bounded(const std::string& text, const std::string& source, int max_depth) {
  const std::string prefix = source + ": malformed JSON: ";
  if (json_depth(text, max_depth) > max_depth)
    throw ConfigError(prefix + "nested deeper than " + std::to_string(max_depth) + " levels");
  try {
    return Json::parse(text);
  } catch (const nlohmann::json::parse_error& e) {  // its message quotes the last token read: bounded here
    throw ConfigError(prefix + excerpt(e.what(), 200));
  } catch (const nlohmann::json::out_of_range& e) {  // a number beyond the double range
    const std::string what = e.what();
    const size_t quote = what.find('\'');
    const std::string number = quote == std::string::npos ? what : what.substr(quote + 1);
    throw ConfigError(prefix + "number out of range: " + excerpt(number.substr(0, number.rfind('\''))));
  }
}
}  // namespace

std::string bundled_config_dir() {
  const char* env = std::getenv("VITSIM_CONFIG_DIR");
  return env && *env ? env : VITSIM_SOURCE_DIR "/configs";
}

std::string excerpt(const std::string& text, size_t max_chars) {
  std::string out;
  size_t i = 0;
  for (; i < text.size() && out.size() < max_chars; ++i) {
    const unsigned char c = static_cast<unsigned char>(text[i]);
    if (c >= 0x20 && c < 0x7f && c != '\\') {
      out += static_cast<char>(c);
    } else {
      static const char kHex[] = "0123456789abcdef";
      out += "\\x";
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  if (i < text.size()) out += "... (" + std::to_string(text.size()) + " bytes)";
  return out;
}

bool printable(const std::string& text) {
  for (size_t i = 0; i < text.size(); ++i) {
    const unsigned char c = static_cast<unsigned char>(text[i]);
    const unsigned char next = i + 1 < text.size() ? static_cast<unsigned char>(text[i + 1]) : 0;
    if (c < 0x20 || c == 0x7f || (c == 0xc2 && next >= 0x80 && next < 0xa0)) return false;
  }
  return true;
}

std::string describe_json(const nlohmann::json& j) {
  return describe(j);
}
std::string describe_json(const nlohmann::ordered_json& j) {
  return describe(j);
}

std::string read_input_file(const std::string& path, uint64_t max_bytes) {
  // O_NONBLOCK: opening a FIFO must not wait for a writer; the fstat below then refuses it.
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) throw ConfigError(excerpt(path, 256) + ": cannot open the file: " + std::strerror(errno));
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{fd};
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode))
    throw ConfigError(excerpt(path, 256) + ": not a regular file");
  if (static_cast<uint64_t>(st.st_size) > max_bytes)
    throw ConfigError(excerpt(path, 256) + ": " + std::to_string(st.st_size) + " bytes, more than the " +
                      std::to_string(max_bytes) + " accepted");
  std::string text(static_cast<size_t>(st.st_size), '\0');
  size_t done = 0;
  while (done < text.size()) {
    const ssize_t n = ::read(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) throw ConfigError(excerpt(path, 256) + ": read error (the file changed while read?)");
    done += static_cast<size_t>(n);
  }
  return text;
}

nlohmann::json parse_json_text(const std::string& text, const std::string& source, int max_depth) {
  return parse_bounded<nlohmann::json>(text, source, max_depth);
}

nlohmann::ordered_json parse_ordered_json_text(const std::string& text, const std::string& source,
                                               int max_depth) {
  return parse_bounded<nlohmann::ordered_json>(text, source, max_depth);
}

nlohmann::json read_json_file(const std::string& path) {
  nlohmann::json j = parse_json_text(read_input_file(path, kMaxJsonFileBytes), excerpt(path, 256));
  if (j.is_object()) {
    const auto schema = j.find("$schema");
    if (schema != j.end() && schema->is_string()) j.erase(schema);
  }
  return j;
}

JsonReader::JsonReader(const nlohmann::json& object, std::string file, std::string path)
    : object_(object.is_object() ? object : empty_object()), file_(std::move(file)), path_(std::move(path)) {
  if (!object.is_object())
    throw ConfigError(file_ + ": " + (path_.empty() ? "/" : path_) + ": expected an object, found " +
                      describe_json(object));
}

void JsonReader::fail(const std::string& key, const std::string& problem) const {
  throw ConfigError(file_ + ": " + path_ + "/" + excerpt(key) + ": " + problem);
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
  if (!ok) fail(key, std::string("expected ") + expected + ", found " + describe_json(*it));
  return &*it;
}

std::string JsonReader::string(const std::string& key, const std::string& fallback) {
  const auto* v = find(key, nlohmann::json::value_t::string, "a string");
  return v ? printable_string(key, *v) : fallback;
}

std::string JsonReader::string(const std::string& key) {
  const auto* v = find(key, nlohmann::json::value_t::string, "a string");
  if (!v) fail(key, "required key is missing");
  return printable_string(key, *v);
}

std::string JsonReader::printable_string(const std::string& at, const nlohmann::json& v) const {
  const std::string& s = v.get_ref<const std::string&>();
  if (!printable(s)) fail(at, "\"" + excerpt(s) + "\" holds control characters");
  return s;
}

bool JsonReader::boolean(const std::string& key, bool fallback) {
  const auto* v = find(key, nlohmann::json::value_t::boolean, "true or false");
  return v ? v->get<bool>() : fallback;
}

int JsonReader::integer(const std::string& key, int fallback, int min, int max) {
  const auto* v = find(key, nlohmann::json::value_t::number_integer, "an integer");
  if (!v) return fallback;
  const int64_t x = saturated_int64(*v);
  if (x < min || x > max)
    fail(key, "expected an integer in [" + std::to_string(min) + ", " + std::to_string(max) + "], found " +
                  std::to_string(x));
  return static_cast<int>(x);
}

int JsonReader::power_of_two(const std::string& key, int fallback, int min, int max) {
  const int v = integer(key, fallback, min, max);
  if (v <= 0 || (v & (v - 1)) != 0) fail(key, "expected a power of two, found " + std::to_string(v));
  return v;
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
    fail(key, "expected one of " + list + ", found \"" + excerpt(value) + "\"");
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
    if (!e.is_number_integer()) fail(at, "expected an integer, found " + describe_json(e));
    const int64_t x = saturated_int64(e);
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
  if (it->is_string()) return {printable_string(key, *it)};
  if (!it->is_array()) fail(key, "expected a string or an array of strings, found " + describe_json(*it));
  for (size_t i = 0; i < it->size(); ++i) {
    const nlohmann::json& e = (*it)[i];
    if (!e.is_string()) fail(key + "/" + std::to_string(i), "expected a string, found " + describe_json(e));
    out.push_back(printable_string(key + "/" + std::to_string(i), e));
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

std::string require_named_json(const std::string& name_or_path, const std::string& dir,
                               const std::string& kind) {
  std::string path = find_named_json(name_or_path, dir);
  if (path.empty())
    throw ConfigError(name_or_path + ": cannot open the file, and no " + kind + " of that name in " + dir +
                      " (known: " + known_json_names(dir) + ")");
  return path;
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
