#include "commvq/report/json.h"

#include <cmath>
#include <limits>

#include "commvq/base/status_matchers.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace commvq {
namespace {

using ::commvq::testing::IsOk;
using ::commvq::testing::IsOkAndHolds;
using ::commvq::testing::StatusIs;
using ::testing::HasSubstr;

TEST(JsonTest, ParsesEveryKindOfValue) {
  auto v = ParseJson(
      R"( {"a": 1.5e2, "b": [true, false, null], "c": "x\"\\\n\u00e9", )"
      R"("d": {}, "e": [], "f": -0.25} )");
  ASSERT_THAT(v, IsOk());
  EXPECT_EQ(v->Find("a")->number(), 150.0);
  ASSERT_EQ(v->Find("b")->items().size(), 3u);
  EXPECT_TRUE(v->Find("b")->items()[0].bool_value());
  EXPECT_EQ(v->Find("b")->items()[1].type(), JsonValue::Type::kBool);
  EXPECT_FALSE(v->Find("b")->items()[1].bool_value());
  EXPECT_TRUE(v->Find("b")->items()[2].is_null());
  EXPECT_EQ(v->Find("c")->string_value(), "x\"\\\n\xc3\xa9");
  EXPECT_EQ(v->Find("d")->type(), JsonValue::Type::kObject);
  EXPECT_EQ(v->Find("e")->type(), JsonValue::Type::kArray);
  EXPECT_EQ(v->Find("f")->number(), -0.25);
  EXPECT_EQ(v->Find("missing"), nullptr);
}

TEST(JsonTest, SerializeRoundTripsAndKeepsMemberOrder) {
  JsonValue root = JsonValue::Object();
  root.Set("z", JsonValue::Number(3));
  root.Set("a", JsonValue::String("tab\there \"q\""));
  JsonValue& list = root.Set("list", JsonValue::Array());
  list.Append(JsonValue::Number(0.1));
  list.Append(JsonValue::Bool(true));
  list.Append(JsonValue());
  root.Set("z", JsonValue::Number(4));  // replaces, keeps the position
  EXPECT_EQ(root.Serialize(),
            R"({"z":4,"a":"tab\there \"q\"","list":[0.1,true,null]})");
  for (int indent : {0, 2}) {
    auto back = ParseJson(root.Serialize(indent));
    ASSERT_THAT(back, IsOk());
    EXPECT_EQ(back->Serialize(), root.Serialize());
  }
}

TEST(JsonTest, NonFiniteNumbersBecomeNull) {
  EXPECT_TRUE(JsonValue::Number(std::nan("")).is_null());
  EXPECT_TRUE(
      JsonValue::Number(std::numeric_limits<double>::infinity()).is_null());
}

TEST(JsonTest, MalformedInputNamesTheOffset) {
  for (const char* bad : {"", "{", "[1,]", "{\"a\" 1}", "{a: 1}", "01x",
                          "\"open", "1.", "-", "[1] 2", "\"\\q\"", "tru"}) {
    EXPECT_THAT(ParseJson(bad),
                StatusIs(absl::StatusCode::kInvalidArgument,
                         HasSubstr("malformed JSON at byte")))
        << bad;
  }
  EXPECT_THAT(ParseJson(std::string(100, '[') + std::string(100, ']')),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("64 levels")));
}

TEST(JsonTest, GetJsonNumberNamesTheMember) {
  auto v = ParseJson(R"({"ppl": 12.5, "name": "x"})");
  ASSERT_THAT(v, IsOk());
  EXPECT_THAT(GetJsonNumber(*v, "ppl"), IsOkAndHolds(12.5));
  EXPECT_THAT(GetJsonNumber(*v, "name"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("\"name\"")));
  EXPECT_THAT(GetJsonNumber(*v, "nope"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("no such member")));
}

}  // namespace
}  // namespace commvq
