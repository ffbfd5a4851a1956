#include "commvq/cli/reproduce_train.h"

#include <cstdlib>
#include <sstream>
#include <string>
#include <vector>

#include "commvq/base/float16.h"
#include "commvq/base/status_matchers.h"
#include "commvq/io/codebook_file.h"
#include "commvq/io/safetensors.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace commvq {
namespace cli {
namespace {

using ::commvq::testing::IsOk;
using ::commvq::testing::StatusIs;
using ::testing::HasSubstr;

constexpr int kTokens = 64, kKvHeads = 2, kHeadDim = 4;

// A KV dump of 2 layers in the dump-kv format, with made-up values.
std::string WriteDump(const std::string& name,
                      const std::string& pair_layout = "interleaved") {
  static std::vector<uint16_t> data;
  data.resize(kTokens * kKvHeads * kHeadDim);
  for (size_t i = 0; i < data.size(); ++i) {
    data[i] = FloatToHalfBits(static_cast<float>((i * 37) % 11) - 5.0f);
  }
  std::vector<NamedTensor> tensors;
  for (const char* tensor : {"layers.0.keys", "layers.0.values",
                             "layers.1.keys", "layers.1.values"}) {
    tensors.push_back({tensor, TensorView(data.data(), DType::kF16,
                                          {kTokens, kKvHeads, kHeadDim})});
  }
  const std::string path = std::string(std::getenv("TEST_TMPDIR")) + "/" + name;
  EXPECT_THAT(WriteSafetensors(path, tensors,
                               {{"num_layers", "2"},
                                {"num_heads", "4"},
                                {"num_kv_heads", "2"},
                                {"head_dim", "4"},
                                {"rope_theta", "10000"},
                                {"pair_layout", pair_layout},
                                {"model", "tiny"}}),
              IsOk());
  return path;
}

absl::Status Train(std::vector<std::string> args) {
  auto flags = ParseFlags(TrainCodebooksFlags(), args);
  if (!flags.ok()) return flags.status();
  std::ostringstream out, err;
  return RunTrainCodebooks(*flags, "", CliIo{out, err, false});
}

TEST(TrainCodebooksTest, WritesEveryLayersKeyAndValueQuantizers) {
  const std::string dump = WriteDump("dump.safetensors");
  const std::string out = dump + ".cvqcb";
  ASSERT_THAT(Train({"--kv", dump, "--keys", "rvq:stages=2,bits=3",
                     "--values", "int:bits=2,group_size=4", "--samples", "32",
                     "--threads", "1", "--out", out}),
              IsOk());
  auto file = CodebookFile::Open(out);
  ASSERT_THAT(file, IsOk());
  EXPECT_EQ(file->model().num_layers, 2);
  EXPECT_EQ(file->model().num_kv_heads, kKvHeads);
  EXPECT_EQ(file->model().pair_layout, PairLayout::kInterleaved);
  EXPECT_EQ(file->provenance().num_samples, 32);
  for (const char* name : {"layer.0.key", "layer.1.key"}) {
    auto q = file->LoadQuantizer(name);
    ASSERT_THAT(q, IsOk()) << name;
    EXPECT_THAT((*q)->spec(), HasSubstr("rvq"));
    EXPECT_EQ((*q)->dim(), kKvHeads * kHeadDim);
  }
  auto value = file->LoadQuantizer("layer.1.value");
  ASSERT_THAT(value, IsOk());
  EXPECT_THAT((*value)->spec(), HasSubstr("int"));
}

TEST(TrainCodebooksTest, BadInputsAreErrorsNamingThem) {
  const std::string dump = WriteDump("bad.safetensors", "diagonal");
  EXPECT_THAT(Train({"--kv", dump, "--keys", "fp16", "--values", "fp16"}),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("--out is missing")));
  EXPECT_THAT(Train({"--kv", dump, "--keys", "fp16", "--values", "fp16",
                     "--out", dump + ".cvqcb"}),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("pair_layout 'diagonal'")));
  const std::string good = WriteDump("good.safetensors");
  const absl::Status unknown = Train(
      {"--kv", good, "--keys", "nope", "--values", "fp16", "--out", good + ".cvqcb"});
  EXPECT_FALSE(unknown.ok());
  EXPECT_THAT(unknown.message(), HasSubstr("layer 0 keys"));
}

}  // namespace
}  // namespace cli
}  // namespace commvq
