#include "commvq/cli/quantizer_list.h"

#include <memory>
#include <sstream>
#include <string>

#include "commvq/registry/registry.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace commvq {
namespace cli {
namespace {

using ::testing::ContainsRegex;
using ::testing::HasSubstr;

TEST(QuantizerListTest, ListsBuiltinsWithTheirOptions) {
  std::ostringstream out;
  PrintQuantizerList(QuantizerRegistry::Default(), out);
  const std::string text = out.str();
  EXPECT_THAT(text, HasSubstr("\nint: "));
  EXPECT_THAT(text, HasSubstr("\nfp16: "));
  EXPECT_THAT(text, HasSubstr("\nbf16: "));
  // Name, type, default and help of int's options, on one line.
  EXPECT_THAT(text, ContainsRegex("bits +an integer in \\[1, 8\\] +2 +code "
                                  "bits per element"));
  EXPECT_THAT(text, HasSubstr("group_size"));
}

// Only describes itself: listing never trains or deserializes.
class DescriptionOnlyFactory final : public QuantizerFactory {
 public:
  DescriptionOnlyFactory() {
    description_.name = "fake";
    description_.summary = "a test quantizer";
    OptionDef mode;
    mode.name = "mode";
    mode.type = OptionType::kString;
    mode.help = "how to fake";
    mode.choices = {"fast", "slow"};
    description_.options = {mode};
  }
  const QuantizerDescription& description() const override {
    return description_;
  }
  absl::StatusOr<std::unique_ptr<Quantizer>> Train(
      const ResolvedOptions&, const TensorView&,
      const TrainOptions&) const override {
    return absl::UnimplementedError("fake");
  }
  absl::StatusOr<std::unique_ptr<Quantizer>> Deserialize(
      const ResolvedOptions&, int64_t, absl::string_view) const override {
    return absl::UnimplementedError("fake");
  }

 private:
  QuantizerDescription description_;
};

TEST(QuantizerListTest, MarksOptionsWithoutDefaultAsRequired) {
  QuantizerRegistry registry;
  ASSERT_TRUE(
      registry.Register(std::make_unique<DescriptionOnlyFactory>()).ok());
  std::ostringstream out;
  PrintQuantizerList(registry, out);
  EXPECT_THAT(out.str(), HasSubstr("\nfake: a test quantizer\n"));
  EXPECT_THAT(out.str(),
              ContainsRegex("mode +one of fast\\|slow +required +how to fake"));
}

TEST(QuantizerListTest, EmptyRegistryListsNothing) {
  QuantizerRegistry registry;
  std::ostringstream out;
  PrintQuantizerList(registry, out);
  EXPECT_EQ(out.str(),
            "Quantizers (spec syntax: NAME or NAME:KEY=VALUE,...):\n");
}

}  // namespace
}  // namespace cli
}  // namespace commvq
