// docs/validation.md's exact anchors hold (the quick subset: SCALE-Sim formulas on random GEMMs and
// ResNet-50, hand closed forms, fast vs cycle mode where nothing is shared, bit-exact functional simulation),
// and the page shows a missed anchor loudly.
#include <algorithm>
#include <catch2/catch.hpp>
#include <cmath>

#include "sim/validate/validation.hpp"
#include "test_support.hpp"

using namespace vitsim;

TEST_CASE("vitsim validate --quick: every exact anchor matches", "[validation]") {
  sim::ValidationOptions options;
  options.quick = true;
  std::vector<std::string> details;
  options.detail = [&details](const std::string& line) { details.push_back(line); };
  const std::vector<sim::ValidationRow> rows = sim::run_validation(options);
  std::map<std::string, int> per_section;
  int exact = 0;
  for (const sim::ValidationRow& r : rows) {
    INFO(r.section << ": " << r.check << ": anchor " << r.anchor << ", vitsim " << r.vitsim << ", difference "
                   << r.difference);
    CHECK(r.pass);
    ++per_section[r.section];
    if (!r.exact) continue;
    CHECK(r.anchor == r.vitsim);
    ++exact;
  }
  CHECK(per_section.size() == 4);  // SCALE-Sim, hand closed forms, modes, bit-exact

  // --verbose's line per random accelerator: its errors, recomputed from the cycles it prints, give the
  // median row.
  REQUIRE(details.size() == 10);
  std::vector<double> errors;
  for (const std::string& line : details) {
    auto number_after = [&line](const std::string& key) {
      const size_t at = line.find(key);
      REQUIRE(at != std::string::npos);
      std::string digits;
      for (size_t i = at + key.size(); i < line.size() && line[i] != ','; ++i)
        if (line[i] != ' ') digits += line[i];
      return std::stod(digits);
    };
    const size_t cycle_at = line.find("): cycle ");
    REQUIRE(cycle_at != std::string::npos);
    std::string cycle_text = line.substr(cycle_at + 9, line.find(", fast ") - cycle_at - 9);
    cycle_text.erase(std::remove(cycle_text.begin(), cycle_text.end(), ','), cycle_text.end());
    std::string fast_text =
        line.substr(line.find(", fast ") + 7, line.find(", error ") - line.find(", fast ") - 7);
    fast_text.erase(std::remove(fast_text.begin(), fast_text.end(), ','), fast_text.end());
    const double cycle = std::stod(cycle_text), fast = std::stod(fast_text);
    CHECK(std::abs(number_after("error ") - 100 * (fast - cycle) / cycle) < 0.006);
    errors.push_back(std::abs(100 * (fast - cycle) / cycle));
  }
  std::sort(errors.begin(), errors.end());
  const auto median_row = std::find_if(rows.begin(), rows.end(), [](const sim::ValidationRow& r) {
    return r.check.find("random accelerators") != std::string::npos && r.check.size() > 8 &&
           r.check.compare(r.check.size() - 8, 8, ", median") == 0;
  });
  REQUIRE(median_row != rows.end());
  CHECK(std::abs(std::stod(median_row->vitsim) - errors[5]) < 0.006);  // percentile(0.5) of 10: index 5
  CHECK(exact >= 12);

  std::vector<sim::ValidationRow> broken = rows;
  broken[0].pass = false;
  const std::string page = sim::validation_markdown(broken, 1.0);
  CHECK_THAT(page, Catch::Contains("**MISMATCH**"));
  CHECK_THAT(page, Catch::Contains(std::to_string(exact - 1) + " of " + std::to_string(exact) +
                                   " exact rows match"));
}

TEST_CASE("vitsim validate writes the page atomically and rejects an unwritable path", "[validation][cli]") {
  test::TempDir dir("validation", "cli");
  const test::Run bad = test::run_vitsim({"validate", "--quick", "--out", dir.file("no/such/dir/v.md")});
  CHECK(bad.code == 2);
  CHECK(dir.entries().empty());
}

TEST_CASE("vitsim validate --out keeps the RTL co-simulation table tools/rtl_validation.py wrote",
          "[validation]") {
  const std::string begin = sim::kRtlSectionBegin, end = sim::kRtlSectionEnd;
  const std::string generated =
      "# Validation\nnew rows\n## RTL\n" + begin + "\nplaceholder\n" + end + "\ntail\n";
  const std::string previous = "# Validation\nold rows\n## RTL\n" + begin + "\n| rtl table |\n" + end + "\n";
  CHECK(sim::keep_rtl_section(generated, previous) ==
        "# Validation\nnew rows\n## RTL\n" + begin + "\n| rtl table |\n" + end + "\ntail\n");
  // Nothing to keep (a new file, or one without the markers): the generated page as it is.
  CHECK(sim::keep_rtl_section(generated, "") == generated);
  CHECK(sim::keep_rtl_section(generated, "# Validation\n" + begin + "\nno end marker\n") == generated);
}
