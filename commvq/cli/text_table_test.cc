#include "commvq/cli/text_table.h"

#include <sstream>

#include "gtest/gtest.h"

namespace commvq {
namespace cli {
namespace {

TEST(TextTableTest, AlignsColumnsLeftOrRight) {
  TextTable table(
      {{"name", TextTable::Align::kLeft}, {"value", TextTable::Align::kRight}});
  table.AddRow({"a", "1.5"});
  table.AddRow({"longer", "100"});
  std::ostringstream out;
  table.Print(out, "> ");
  EXPECT_EQ(out.str(),
            "> name    value\n"
            "> ------  -----\n"
            "> a         1.5\n"
            "> longer    100\n");
}

TEST(TextTableTest, DropsTrailingSpaces) {
  TextTable table({{"a"}, {"b"}});
  table.AddRow({"x", ""});
  std::ostringstream out;
  table.Print(out);
  EXPECT_EQ(out.str(), "a  b\n-  -\nx\n");
}

}  // namespace
}  // namespace cli
}  // namespace commvq
