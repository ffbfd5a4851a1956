#include "commvq/registry/registry.h"

#include <memory>
#include <set>
#include <string>
#include <vector>

#include "commvq/base/status_matchers.h"
#include "commvq/quantizer/int_quantizer.h"
#include "commvq/quantizer/serialized_quantizer.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace commvq {
namespace {

using ::commvq::testing::IsOk;
using ::commvq::testing::StatusIs;
using ::testing::HasSubstr;

constexpr auto kInvalid = absl::StatusCode::kInvalidArgument;

std::vector<std::string> Names(const QuantizerRegistry& registry) {
  std::vector<std::string> names;
  for (const QuantizerDescription* d : registry.List()) names.push_back(d->name);
  return names;
}

TEST(RegistryTest, DefaultHoldsTheBuiltinsSorted) {
  EXPECT_THAT(Names(QuantizerRegistry::Default()),
              ::testing::IsSupersetOf({"bf16", "fp16", "int"}));
  const std::vector<std::string> names = Names(QuantizerRegistry::Default());
  EXPECT_TRUE(std::is_sorted(names.begin(), names.end()));
  EXPECT_EQ(std::set<std::string>(names.begin(), names.end()).size(),
            names.size());
}

TEST(RegistryTest, TrainFromSpecAndDeserializeRoundTrip) {
  const QuantizerRegistry& registry = QuantizerRegistry::Default();
  std::vector<float> x(4 * 64);
  for (size_t i = 0; i < x.size(); ++i) x[i] = static_cast<float>(i % 17) - 8;
  const TensorView samples(x.data(), DType::kF32, {4, 64});
  CVQ_ASSERT_OK_AND_ASSIGN(auto q, registry.Train("int:group_size=16", samples));
  EXPECT_EQ(q->spec(), "int:bits=2,group_size=16");
  EXPECT_EQ(q->name(), "int");
  CVQ_ASSERT_OK_AND_ASSIGN(std::string bytes, q->Serialize());
  CVQ_ASSERT_OK_AND_ASSIGN(auto restored, registry.Deserialize(bytes));
  EXPECT_EQ(restored->spec(), q->spec());
  EXPECT_EQ(restored->layout().code_bytes, q->layout().code_bytes);
  EXPECT_EQ(restored->layout().side_bytes, q->layout().side_bytes);
}

TEST(RegistryTest, BadSpecsAndSamplesAreNamed) {
  const QuantizerRegistry& registry = QuantizerRegistry::Default();
  std::vector<float> x(64, 1.0f);
  const TensorView samples(x.data(), DType::kF32, {1, 64});
  EXPECT_THAT(registry.Train("nope:bits=2", samples),
              StatusIs(absl::StatusCode::kNotFound,
                       HasSubstr("unknown quantizer 'nope': registered are "
                                 "bf16, commvq_key, commvq_value, fp16, "
                                 "fp8, int, kivi, rvq")));
  EXPECT_THAT(registry.Train("int:bits=0", samples),
              StatusIs(kInvalid, HasSubstr("option 'bits'")));
  EXPECT_THAT(registry.Train("int:colour=red", samples),
              StatusIs(kInvalid, HasSubstr("unknown option 'colour'")));
  EXPECT_THAT(registry.Train("int:bits", samples),
              StatusIs(kInvalid, HasSubstr("no '='")));
  EXPECT_THAT(registry.Train("int", TensorView(x.data(), DType::kF32, {64})),
              StatusIs(kInvalid, HasSubstr("samples: expected shape [*, *]")));
  EXPECT_THAT(registry.Train("int", TensorView(x.data(), DType::kF32, {64, 0})),
              StatusIs(kInvalid, HasSubstr("dim is 0")));
  EXPECT_THAT(registry.Train("int", TensorView(nullptr, DType::kF32, {1, 64})),
              StatusIs(kInvalid, HasSubstr("samples: data is null")));
  x[10] = std::nanf("");
  EXPECT_THAT(registry.Train("int", samples),
              StatusIs(kInvalid, HasSubstr("samples: element [0, 10] is nan")));
}

TEST(RegistryTest, DeserializeRejectsUnknownQuantizersAndOptions) {
  const QuantizerRegistry& registry = QuantizerRegistry::Default();
  EXPECT_THAT(registry.Deserialize("garbage"),
              StatusIs(kInvalid, HasSubstr("bad magic 'garb'")));
  EXPECT_THAT(registry.Deserialize("CV"),
              StatusIs(kInvalid, HasSubstr("truncated")));
  EXPECT_THAT(registry.Deserialize(FrameQuantizer("nope", 4, "")),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("'nope'")));
  EXPECT_THAT(registry.Deserialize(FrameQuantizer("int:bits=99", 4, "")),
              StatusIs(kInvalid, HasSubstr("'bits'")));
  EXPECT_THAT(registry.Deserialize(FrameQuantizer("int", 64, "extra")),
              StatusIs(kInvalid, HasSubstr("expected an empty payload")));
}

TEST(RegistryTest, RegistrationIsAllOrNothing) {
  QuantizerRegistry registry;
  CVQ_ASSERT_OK(registry.Register(MakeIntQuantizerFactory()));
  EXPECT_THAT(registry.Register(MakeIntQuantizerFactory()),
              StatusIs(absl::StatusCode::kAlreadyExists,
                       HasSubstr("'int' is already registered")));
  EXPECT_THAT(Names(registry), ::testing::ElementsAre("int"));
  EXPECT_THAT(registry.Find("int"), IsOk());
  EXPECT_THAT(registry.Find("fp16"),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("'fp16'")));
}

}  // namespace
}  // namespace commvq
