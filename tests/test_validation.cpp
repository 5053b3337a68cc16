// docs/validation.md's exact anchors hold (the quick subset: SCALE-Sim formulas on random GEMMs and
// ResNet-50, hand closed forms, fast vs cycle mode where nothing is shared, bit-exact functional simulation),
// and the page shows a missed anchor loudly.
#include <catch2/catch.hpp>

#include "sim/validate/validation.hpp"
#include "test_support.hpp"

using namespace vitsim;

TEST_CASE("vitsim validate --quick: every exact anchor matches", "[validation]") {
  sim::ValidationOptions options;
  options.quick = true;
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
