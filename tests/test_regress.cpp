// `vitsim regress`: golden tables are written deterministically, compared exactly, and every kind of drift
// (a moved value, a missing or stale table) fails with a message that says what moved and how to update;
// a bad matrix exits 2 naming the JSON path. A tiny matrix (EfficientViT-B0 @64) keeps each case fast.
#include <algorithm>
#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "quant/zoo.hpp"
#include "test_support.hpp"

using vitsim::test::Run;
using vitsim::test::run_vitsim;
using vitsim::test::TempDir;

namespace {

const std::string kTinyMatrix = R"({
  "accels": ["trio-vit", "systolic-32x32-os"],
  "models": [{"model": "efficientvit-b0", "res": 64}],
  "recipe": "trio-w8a8",
  "weights": {"seed": 0},
  "calibration": {"source": "synthetic", "seed": 1, "count": 1},
  "timing": "fast"
})";

void write(const std::string& path, const std::string& text) {
  std::ofstream(path, std::ios::binary) << text;
}

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

std::vector<std::string> fields_of(const std::string& line) {
  std::vector<std::string> fields;
  std::string f;
  std::istringstream in(line);
  while (std::getline(in, f, ',')) fields.push_back(f);
  return fields;
}

// The position of `name` in a table's column header (layers.csv's columns, sim/run/report_files.hpp).
size_t column(const std::string& header, const std::string& name) {
  const std::vector<std::string> columns = fields_of(header);
  const size_t at = static_cast<size_t>(std::find(columns.begin(), columns.end(), name) - columns.begin());
  REQUIRE(at < columns.size());
  return at;
}

// A traces folder holding the tiny matrix, with its tables written by --update.
struct TinyTraces {
  TempDir dir;
  explicit TinyTraces(const std::string& tag) : dir("regress", tag) {
    write(dir.file("matrix.json"), kTinyMatrix);
    const Run r = run_vitsim({"regress", "--update", "--traces", dir.path.string()});
    INFO(r.out << r.err);
    REQUIRE(r.code == 0);
  }
  std::string table(const std::string& accel) const {
    return (dir.path / accel / "efficientvit-b0@64.csv").string();
  }
  Run regress(std::vector<std::string> extra = {}) const {
    std::vector<std::string> args = {"regress", "--traces", dir.path.string()};
    args.insert(args.end(), extra.begin(), extra.end());
    return run_vitsim(args);
  }
};

}  // namespace

TEST_CASE(
    "vitsim regress --update writes integer tables that compare equal, and two updates give the same bytes",
    "[regress]") {
  const TinyTraces a("update_a"), b("update_b");
  for (const std::string accel : {"trio-vit", "systolic-32x32-os"}) {
    INFO(accel);
    const std::string text = slurp(a.table(accel));
    REQUIRE(!text.empty());
    CHECK(text == slurp(b.table(accel)));  // deterministic, byte for byte

    // Every row has the header's fields, every counter is an integer, and the totals row adds up.
    std::istringstream in(text);
    std::string line, header;
    std::vector<std::string> totals;
    int64_t macs = 0;
    while (std::getline(in, line)) {
      if (line[0] == '#') continue;
      if (header.empty()) {
        header = line;
        continue;
      }
      const std::vector<std::string> f = fields_of(line);
      REQUIRE(f.size() == fields_of(header).size());
      for (size_t i = column(header, "start"); i < f.size(); ++i) {  // the counters
        INFO(line);
        CHECK(f[i].find_first_not_of("-0123456789") == std::string::npos);
      }
      if (f[0] == "total")
        totals = f;
      else
        macs += std::stoll(f[column(header, "macs")]);
    }
    REQUIRE(!totals.empty());
    CHECK(std::stoll(totals[column(header, "macs")]) == macs);
    CHECK(macs == vitsim::quant::build_model("efficientvit-b0", 64).macs());
    CHECK_THAT(text, Catch::Contains("# totals: cycles " + totals[column(header, "span_cycles")] + ","));
  }

  const Run compare = a.regress();
  INFO(compare.out << compare.err);
  CHECK(compare.code == 0);
  CHECK_THAT(compare.out, Catch::Contains("ok        trio-vit/efficientvit-b0@64") &&
                              Catch::Contains("2 table(s): 2 ok, 0 drifted, 0 missing"));
  CHECK_THAT(compare.err, Catch::Contains("[1/1] efficientvit-b0 @64"));

  const std::string before = slurp(a.table("trio-vit"));
  const Run again = a.regress({"--update"});
  CHECK(again.code == 0);
  CHECK_THAT(again.out, Catch::Contains("unchanged trio-vit/efficientvit-b0@64") &&
                            Catch::Contains("0 updated, 0 created, 2 unchanged"));
  CHECK(slurp(a.table("trio-vit")) == before);
}

TEST_CASE("vitsim regress names the layer, column, golden and new value and the delta of a moved value",
          "[regress]") {
  const TinyTraces t("moved");
  // Raise the golden busy cycles of the first layer that has any by 7.
  std::istringstream in(slurp(t.table("trio-vit")));
  std::string line, header, edited, layer, busy;
  while (std::getline(in, line)) {
    std::vector<std::string> f = fields_of(line);
    if (line[0] != '#' && header.empty()) header = line;
    const size_t b = header.empty() ? 0 : column(header, "busy");
    if (layer.empty() && line != header && line[0] != '#' && f[0] != "total" && std::stoll(f[b]) > 0) {
      layer = "layer " + f[0] + " " + f[1];
      busy = f[b];
      f[b] = std::to_string(std::stoll(busy) + 7);
      line.clear();
      for (size_t i = 0; i < f.size(); ++i) line += (i ? "," : "") + f[i];
    }
    edited += line + "\n";
  }
  REQUIRE(!layer.empty());
  write(t.table("trio-vit"), edited);

  const Run r = t.regress();
  INFO(r.out << r.err);
  CHECK(r.code == 1);
  CHECK_THAT(r.out, Catch::Contains("DRIFT     trio-vit/efficientvit-b0@64") &&
                        Catch::Contains("1 value(s) moved in 1 row(s); total cycles unchanged") &&
                        Catch::Contains(layer + "  busy: " + std::to_string(std::stoll(busy) + 7) + " -> " +
                                        busy + " (-7, -") &&
                        Catch::Contains("ok        systolic-32x32-os/efficientvit-b0@64") &&
                        Catch::Contains("vitsim regress --update"));

  // --only leaves the drifted table out; --update puts it back and says it changed.
  CHECK(t.regress({"--only", "systolic"}).code == 0);
  const Run update = t.regress({"--update", "--only", "trio-vit"});
  CHECK(update.code == 0);
  CHECK_THAT(update.out, Catch::Contains("updated   trio-vit/efficientvit-b0@64: 1 value(s) moved"));
  CHECK(t.regress().code == 0);
}

TEST_CASE("vitsim regress: a missing table fails with the update hint, a stale one is reported, then removed",
          "[regress]") {
  const TinyTraces t("missing");
  std::filesystem::remove(t.table("systolic-32x32-os"));
  const Run missing = t.regress();
  INFO(missing.out << missing.err);
  CHECK(missing.code == 1);
  CHECK_THAT(missing.out,
             Catch::Contains("MISSING   systolic-32x32-os/efficientvit-b0@64: no golden table at") &&
                 Catch::Contains("1 ok, 0 drifted, 1 missing") &&
                 Catch::Contains("regenerate the tables with `vitsim regress --update"));

  write((t.dir.path / "trio-vit" / "efficientvit-b9@64.csv").string(), "index\n");
  const Run update = t.regress({"--update"});
  CHECK(update.code == 0);
  CHECK_THAT(update.out, Catch::Contains("created   systolic-32x32-os/efficientvit-b0@64") &&
                             Catch::Contains("removed   ") && Catch::Contains("efficientvit-b9@64.csv"));
  CHECK(!std::filesystem::exists(t.dir.path / "trio-vit" / "efficientvit-b9@64.csv"));
  write((t.dir.path / "systolic-32x32-os" / "old@32.csv").string(), "index\n");
  const Run stale = t.regress();
  CHECK(stale.code == 1);
  CHECK_THAT(stale.out, Catch::Contains("STALE") && Catch::Contains("old@32.csv: not in"));
}

TEST_CASE("vitsim regress: a bad matrix or flag exits 2 naming the file and the JSON path", "[regress]") {
  TempDir dir("regress", "bad");
  const std::string matrix = dir.file("matrix.json");
  const auto regress_with = [&](const std::string& text, std::vector<std::string> extra = {}) {
    write(matrix, text);
    std::vector<std::string> args = {"regress", "--traces", dir.path.string()};
    args.insert(args.end(), extra.begin(), extra.end());
    return run_vitsim(args);
  };
  const auto replaced = [](std::string text, const std::string& from, const std::string& to) {
    const size_t at = text.find(from);
    REQUIRE(at != std::string::npos);
    return text.replace(at, from.size(), to);
  };

  const Run res = regress_with(replaced(kTinyMatrix, "\"res\": 64", "\"res\": \"64\""));
  CHECK(res.code == 2);
  CHECK_THAT(res.err, Catch::Contains(matrix + ": /models/0/res: expected an integer"));

  const Run model = regress_with(replaced(kTinyMatrix, "\"res\": 64", "\"res\": 100"));
  CHECK(model.code == 2);
  CHECK_THAT(model.err, Catch::Contains(matrix + ": /models/0: ") && Catch::Contains("100"));

  const Run accel = regress_with(replaced(kTinyMatrix, "\"systolic-32x32-os\"", "\"no-such-accel\""));
  CHECK(accel.code == 2);
  CHECK_THAT(accel.err, Catch::Contains(matrix + ": /accels/1: ") && Catch::Contains("no-such-accel"));

  const Run count = regress_with(replaced(kTinyMatrix, "\"count\": 1", "\"count\": 0"));
  CHECK(count.code == 2);
  CHECK_THAT(count.err, Catch::Contains(matrix + ": /calibration/count: expected an integer in [1, "));

  const Run unknown = regress_with(replaced(kTinyMatrix, "\"timing\"", "\"timin\": \"fast\", \"timing\""));
  CHECK(unknown.code == 2);
  CHECK_THAT(unknown.err, Catch::Contains(matrix + ": /timin: unknown key"));

  const Run malformed = regress_with("{\"accels\": [");
  CHECK(malformed.code == 2);
  CHECK_THAT(malformed.err, Catch::Contains(matrix + ": malformed JSON"));

  const Run only = regress_with(kTinyMatrix, {"--only", "deit"});
  CHECK(only.code == 2);
  CHECK_THAT(only.err, Catch::Contains("--only 'deit' matches none of the 2 tables"));

  std::filesystem::remove(matrix);
  const Run none = run_vitsim({"regress", "--traces", dir.path.string()});
  CHECK(none.code == 2);
  CHECK_THAT(none.err, Catch::Contains(matrix + ": cannot open the file"));
  CHECK(dir.entries().empty());  // no table was written by any failed run
}

TEST_CASE("vitsim regress: a group has its own recipe and presets, and a table belongs to one group",
          "[regress]") {
  TempDir dir("regress", "groups");
  const std::string matrix = dir.file("matrix.json");
  // The tiny matrix, plus B0 @32 quantized with naive-w8a8 on trio-vit only.
  std::string text = kTinyMatrix;
  text.insert(text.rfind('}'), R"(,
  "groups": [{"recipe": "naive-w8a8", "accels": ["trio-vit"], "models": [{"model": "efficientvit-b0", "res": 32}]}])");
  write(matrix, text);
  const Run update = run_vitsim({"regress", "--update", "--traces", dir.path.string()});
  INFO(update.out << update.err);
  REQUIRE(update.code == 0);
  CHECK_THAT(update.out, Catch::Contains("created   trio-vit/efficientvit-b0@32"));
  CHECK_THAT(update.err, Catch::Contains("@32: PTQ (naive-w8a8"));
  CHECK_THAT(slurp(dir.file("trio-vit/efficientvit-b0@32.csv")), Catch::Contains("naive-w8a8 on trio-vit"));
  CHECK_FALSE(std::filesystem::exists(dir.file("systolic-32x32-os/efficientvit-b0@32.csv")));
  CHECK(run_vitsim({"regress", "--traces", dir.path.string()}).code == 0);
  // The same table in two groups is a bad matrix.
  text.replace(text.find("\"res\": 32"), 9, "\"res\": 64");
  write(matrix, text);
  const Run twice = run_vitsim({"regress", "--traces", dir.path.string()});
  CHECK(twice.code == 2);
  CHECK_THAT(twice.err,
             Catch::Contains(matrix + ": /groups/0: the table trio-vit/efficientvit-b0@64 is already in "
                                      "an earlier group"));
}
