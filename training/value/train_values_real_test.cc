// Value training on a small slice of the real model's values (layer 0 and
// the last layer, 192 tokens of the evaluation text): the least-squares /
// search rounds and the mlp's straight-through epochs lower their losses.
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <string>
#include <vector>

#include "absl/types/span.h"
#include "commvq/base/float16.h"
#include "commvq/base/status_matchers.h"
#include "commvq/base/thread_pool.h"
#include "commvq/eval/kv_dump.h"
#include "commvq/io/atomic_file.h"
#include "commvq/io/safetensors.h"
#include "commvq/model/gguf/gguf_test_util.h"
#include "commvq/model/loaded_model.h"
#include "commvq/quantizer/commvq_value/codebook_fit.h"
#include "gtest/gtest.h"
#include "training/value/value_mlp_train.h"

namespace commvq {
namespace {

constexpr int64_t kTokens = 192;
// Far fewer code bits than tokens: with Nc >= tokens least squares can
// interpolate the slice and there is nothing left to learn.
constexpr int64_t kCodeBits = 64;

TEST(TrainValuesRealTest, LossesFallOnRealValues) {
  ThreadPool pool(ThreadPool::DefaultNumThreads());
  CVQ_ASSERT_OK_AND_ASSIGN(const std::string model_path, ModelPathFromEnv());
  CVQ_ASSERT_OK_AND_ASSIGN(LoadedModel loaded, LoadModel(model_path, &pool));
  const char* text_dir = std::getenv("COMMVQ_TEXT_DIR");
  ASSERT_NE(text_dir, nullptr) << "COMMVQ_TEXT_DIR is unset: run ./setup.sh";
  CVQ_ASSERT_OK_AND_ASSIGN(const std::string text,
                           ReadFile(std::string(text_dir) + "/evaluation.txt"));
  CVQ_ASSERT_OK_AND_ASSIGN(std::vector<int32_t> tokens,
                           loaded.tokenizer->Encode(text, false));
  ASSERT_GE(static_cast<int64_t>(tokens.size()), kTokens);
  tokens.resize(kTokens);
  const std::string path =
      std::string(std::getenv("TEST_TMPDIR")) + "/dump.safetensors";
  KvDumpOptions options;
  options.model_name = loaded.name;
  options.text = text;
  ASSERT_THAT(WriteKvDump(*loaded.model, tokens, path, options),
              testing::IsOk());
  CVQ_ASSERT_OK_AND_ASSIGN(const SafetensorsFile dump,
                           SafetensorsFile::Open(path));

  const int num_layers = loaded.model->config().num_layers;
  for (int layer : {0, num_layers - 1}) {
    SCOPED_TRACE(layer);
    CVQ_ASSERT_OK_AND_ASSIGN(
        const SafetensorsTensor* tensor,
        dump.Find("layers." + std::to_string(layer) + ".values"));
    const int64_t dim = tensor->shape[1] * tensor->shape[2];
    std::vector<uint16_t> halves(kTokens * dim);
    std::memcpy(halves.data(), tensor->data.data(), halves.size() * 2);
    std::vector<float> values(halves.size());
    HalvesToFloats(halves, absl::MakeSpan(values));
    const std::vector<float> scale =
        ValueChannelScale(values.data(), kTokens, dim);
    std::vector<float> units(values.size());
    for (int64_t t = 0; t < kTokens; ++t) {
      PrescaleToUnit(&values[t * dim], scale.data(), dim, &units[t * dim]);
    }

    ValueCodebookTrainOptions fit;
    fit.iterations = 4;
    fit.pool = &pool;
    CVQ_ASSERT_OK_AND_ASSIGN(
        const ValueCodebookTrainResult search,
        TrainValueCodebookBySearch(units.data(), kTokens, dim, kCodeBits, fit));
    std::cout << "layer " << layer << " search MSE per round:";
    for (double m : search.mse) std::cout << " " << m;
    std::cout << "\n";
    EXPECT_LT(search.mse.back(), search.mse.front());

    ValueMlpTrainOptions train;
    train.distill_epochs = 2;
    train.epochs = 4;
    train.batch = 32;
    train.pool = &pool;
    CVQ_ASSERT_OK_AND_ASSIGN(
        const ValueMlpTrainResult mlp,
        TrainValueMlp(units.data(), kTokens, dim, search.codebook.data(),
                      kCodeBits, search.bits.data(), train));
    std::cout << "layer " << layer << " mlp reconstruction loss per epoch:";
    for (double l : mlp.reconstruction_loss) std::cout << " " << l;
    std::cout << "\n";
    EXPECT_LT(mlp.distill_loss.back(), mlp.distill_loss.front());
    EXPECT_LT(mlp.reconstruction_loss.back(), mlp.reconstruction_loss.front());
  }
}

}  // namespace
}  // namespace commvq
