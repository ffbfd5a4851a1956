#include "commvq/report/report.h"

#include <string>

#include "commvq/base/status_matchers.h"
#include "commvq/report/json.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace commvq {
namespace {

using ::commvq::testing::IsOk;
using ::testing::HasSubstr;
using ::testing::Not;

MethodResult Method(const std::string& name, double bits, double ppl,
                    double passkey) {
  MethodResult m;
  m.name = name;
  m.nominal_bits = bits;
  m.bits_per_element = bits;
  m.ppl = ppl;
  m.ppl_window0 = ppl + 1;
  m.passkey_accuracy = passkey;
  m.key_bytes_per_token = bits * 100;
  m.value_bytes_per_token = bits * 100;
  m.key_relative_mse = 0.01;
  m.value_relative_mse = 0.02;
  m.attention_output_error = 0.03;
  return m;
}

// fp16 10.0; commvq-2 10.1 (+1%), kivi-2 10.3; commvq-1 10.5, kivi-1 13.0.
ReproductionReport FakeReport() {
  ReproductionReport r;
  r.model = "Tiny";
  r.max_context = 1000;
  r.window = 100;
  r.fp16_bytes_per_token = 3200;
  r.settings = {{"evaluation tokens", "512"}};
  r.command = "commvq reproduce";
  r.methods = {Method("fp16", 16, 10.0, 1.0), Method("commvq-1", 1, 10.5, 0.8),
               Method("commvq-2", 2, 10.1, 1.0), Method("kivi-1", 2, 13.0, 0.2),
               Method("kivi-2", 3, 10.3, 1.0)};
  r.methods[1].fixed_bytes = 5000;
  r.methods[1].decode = {{1024, 50.0}, {2048, 90.0}};
  return r;
}

TEST(ReportTest, KvBytesAtContextCountsWindowFixedAndCompressedTokens) {
  const ReproductionReport r = FakeReport();
  const MethodResult& c1 = r.methods[1];  // 200 bytes per token
  EXPECT_DOUBLE_EQ(KvBytesAtContext(r, c1, 0), 5000);
  EXPECT_DOUBLE_EQ(KvBytesAtContext(r, c1, 60), 5000 + 60 * 3200);
  EXPECT_DOUBLE_EQ(KvBytesAtContext(r, c1, 1000),
                   5000 + 100 * 3200 + 900 * 200);
}

TEST(ReportTest, GoalsCompareTheNumbers) {
  ReproductionReport r = FakeReport();
  std::vector<Goal> goals = EvaluateGoals(r);
  ASSERT_EQ(goals.size(), 4u);
  for (const Goal& goal : goals) EXPECT_EQ(goal.state, Goal::kMet) << goal.description;
  EXPECT_THAT(goals[1].detail, HasSubstr("+1.00%"));

  r.methods[2].ppl = 10.25;  // +2.5%: still below kivi-2 but not within 2%
  r.methods[1].ppl = 12.0;   // +2.0 > (13 - 10) / 3
  r.methods[2].passkey_accuracy = 0.8;
  goals = EvaluateGoals(r);
  EXPECT_EQ(goals[0].state, Goal::kMet);
  EXPECT_EQ(goals[1].state, Goal::kNotMet);
  EXPECT_EQ(goals[2].state, Goal::kNotMet);
  EXPECT_EQ(goals[3].state, Goal::kNotMet);

  r.methods[4].ppl = kMissing;  // kivi-2 missing
  EXPECT_EQ(EvaluateGoals(r)[0].state, Goal::kUnknown);
}

TEST(ReportTest, JsonHasTheIssueSchema) {
  const ReproductionReport r = FakeReport();
  auto parsed = ParseJson(ReportJson(r).Serialize(2));
  ASSERT_THAT(parsed, IsOk());
  EXPECT_EQ(parsed->Find("fp16_ppl")->number(), 10.0);
  const JsonValue* methods = parsed->Find("methods");
  ASSERT_NE(methods, nullptr);
  ASSERT_EQ(methods->items().size(), r.methods.size());
  for (size_t i = 0; i < r.methods.size(); ++i) {
    const JsonValue& m = methods->items()[i];
    EXPECT_EQ(m.Find("name")->string_value(), r.methods[i].name);
    for (const char* key : {"bits_per_element", "ppl", "ppl_window0",
                            "passkey_accuracy", "kv_bytes_per_token",
                            "kv_bytes_at_max_context"}) {
      ASSERT_NE(m.Find(key), nullptr) << key;
      EXPECT_EQ(m.Find(key)->type(), JsonValue::Type::kNumber) << key;
    }
  }
  const JsonValue& c1 = methods->items()[1];
  EXPECT_EQ(c1.Find("kv_bytes_per_token")->number(), 200);
  EXPECT_EQ(c1.Find("decode")->items()[1].Find("microseconds")->number(), 90);
  EXPECT_EQ(parsed->Find("goals")->items()[0].Find("state")->string_value(),
            "met");
}

TEST(ReportTest, MissingNumbersAreNullAndNa) {
  ReproductionReport r = FakeReport();
  r.methods[3].ppl = kMissing;
  r.methods[3].notes = {"ppl: --cache=x is not available"};
  auto parsed = ParseJson(ReportJson(r).Serialize());
  ASSERT_THAT(parsed, IsOk());
  EXPECT_TRUE(parsed->Find("methods")->items()[3].Find("ppl")->is_null());
  EXPECT_THAT(ReportTable(r), HasSubstr("n/a"));
  const std::string md = ReportMarkdown(r, {});
  EXPECT_THAT(md, HasSubstr("## Missing measurements"));
  EXPECT_THAT(md, HasSubstr("kivi-1: ppl: --cache=x is not available"));
  EXPECT_THAT(md, HasSubstr("**unknown**"));
}

TEST(ReportTest, TableHasOneAlignedRowPerMethod) {
  const ReproductionReport r = FakeReport();
  const std::string table = ReportTable(r);
  std::vector<std::string> lines;
  size_t start = 0;
  for (size_t end; (end = table.find('\n', start)) != std::string::npos;
       start = end + 1) {
    lines.push_back(table.substr(start, end - start));
  }
  ASSERT_EQ(lines.size(), 2 + r.methods.size());
  for (const std::string& line : lines) {
    EXPECT_EQ(line.size(), lines[0].size()) << line;
  }
  EXPECT_THAT(lines[0], HasSubstr("ppl (window 100)"));
  EXPECT_THAT(lines[0], HasSubstr("decode us @ 2048"));
  EXPECT_THAT(lines[4], HasSubstr("commvq-2"));
  EXPECT_THAT(lines[4], HasSubstr("+1.0%"));
  EXPECT_THAT(lines[4], HasSubstr("10.100"));
}

TEST(ReportTest, MarkdownHasSettingsGoalsAndPlots) {
  const std::string md = ReportMarkdown(FakeReport(), {"ppl_vs_bits.png"});
  EXPECT_THAT(md, HasSubstr("| evaluation tokens | 512 |"));
  EXPECT_THAT(md, HasSubstr("**met**"));
  EXPECT_THAT(md, HasSubstr("![ppl_vs_bits.png](ppl_vs_bits.png)"));
  EXPECT_THAT(md, Not(HasSubstr("Missing measurements")));
}

}  // namespace
}  // namespace commvq
