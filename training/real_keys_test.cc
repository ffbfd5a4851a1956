// Exact structured key encoding on real keys: SmolLM2-135M's pre-RoPE keys
// (a KV dump of the start of the calibration text), codebooks trained on
// them by EM, and every head of every token encoded by the structured
// encoder, the blocked-GEMM brute force and the scalar brute-force oracle:
// all three must give the same codes. Needs ./setup.sh (the model).
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "commvq/base/float16.h"
#include "commvq/base/status_matchers.h"
#include "commvq/base/thread_pool.h"
#include "commvq/eval/kv_dump.h"
#include "commvq/io/atomic_file.h"
#include "commvq/io/safetensors.h"
#include "commvq/model/loaded_model.h"
#include "commvq/quantizer/commvq_key/key_codebook.h"
#include "commvq/quantizer/commvq_key/structured_encode.h"
#include "commvq/quantizer/vector_norm.h"
#include "gtest/gtest.h"
#include "kernels/cpu/key_encode_gemm.h"
#include "kernels/reference/key_encode_reference.h"
#include "training/train_keys.h"

namespace commvq {
namespace {

using ::commvq::testing::IsOk;

constexpr int64_t kTokens = 160;

std::string EnvPath(const char* variable, const char* file) {
  const char* dir = std::getenv(variable);
  EXPECT_NE(dir, nullptr) << variable << " is unset: run ./setup.sh";
  return dir == nullptr ? "" : std::string(dir) + "/" + file;
}

TEST(RealKeysTest, StructuredCodesEqualBruteForceOnSmolLm2Keys) {
  ThreadPool pool(ThreadPool::DefaultNumThreads());
  CVQ_ASSERT_OK_AND_ASSIGN(
      LoadedModel loaded,
      LoadModel(EnvPath("COMMVQ_MODEL_DIR", "SmolLM2-135M-Instruct.Q4_1.gguf"),
                &pool));
  CVQ_ASSERT_OK_AND_ASSIGN(
      const std::string text,
      ReadFile(EnvPath("COMMVQ_TEXT_DIR", "calibration.txt")));
  CVQ_ASSERT_OK_AND_ASSIGN(std::vector<int32_t> tokens,
                           loaded.tokenizer->Encode(text, false));
  ASSERT_GE(static_cast<int64_t>(tokens.size()), kTokens);
  tokens.resize(kTokens);
  const std::string path =
      std::string(std::getenv("TEST_TMPDIR")) + "/real_keys.safetensors";
  KvDumpOptions dump_options;
  dump_options.model_name = loaded.name;
  dump_options.text = text;
  ASSERT_THAT(WriteKvDump(*loaded.model, tokens, path, dump_options), IsOk());
  CVQ_ASSERT_OK_AND_ASSIGN(const SafetensorsFile dump,
                           SafetensorsFile::Open(path));

  const LlamaConfig& config = loaded.model->config();
  const int64_t heads = config.num_kv_heads;
  const int64_t head_dim = config.head_dim;
  const int64_t dim = heads * head_dim;
  for (int layer : {0, config.num_layers / 2, config.num_layers - 1}) {
    SCOPED_TRACE(absl::StrCat("layer ", layer));
    CVQ_ASSERT_OK_AND_ASSIGN(
        const SafetensorsTensor* tensor,
        dump.Find(absl::StrCat("layers.", layer, ".keys")));
    ASSERT_EQ(tensor->dtype, DType::kF16);
    std::vector<uint16_t> halves(kTokens * dim);
    std::memcpy(halves.data(), tensor->data.data(), halves.size() * 2);
    std::vector<float> keys(kTokens * dim);
    HalvesToFloats(halves, absl::MakeSpan(keys));

    // 2-bit codebooks (11 stages at head_dim 64), captured stage by stage.
    TrainKeysOptions options;
    options.num_kv_heads = heads;
    options.head_dim = head_dim;
    options.layout = PairLayout::kInterleaved;
    options.stages = KeyStagesForBits(2, head_dim, 6);
    options.em.iterations = 3;
    options.pool = &pool;
    std::vector<KeyCodebook> codebooks;
    options.on_stage = [&](absl::Span<const KeyCodebook> so_far) {
      codebooks.assign(so_far.begin(), so_far.end());
      return absl::OkStatus();
    };
    ASSERT_THAT(TrainCommvqKeyLayer(keys.data(), kTokens, options).status(),
                IsOk());
    ASSERT_EQ(static_cast<int64_t>(codebooks.size()), heads * options.stages);

    // Unit keys, as the quantizer encodes them; [tokens, heads, head_dim].
    std::vector<float> units(keys.size());
    for (int64_t t = 0; t < kTokens; ++t) {
      ASSERT_THAT(
          NormalizeToUnit(&keys[t * dim], dim, &units[t * dim], "test", "key")
              .status(),
          IsOk());
    }
    for (int64_t h = 0; h < heads; ++h) {
      const absl::Span<const KeyCodebook> stages =
          absl::MakeConstSpan(codebooks).subspan(h * options.stages,
                                                 options.stages);
      const StructuredKeyEncoder structured(stages);
      const GemmKeyEncoder gemm(stages);
      const ReferenceKeyEncoder reference(stages);
      std::vector<float> rows(kTokens * head_dim);
      for (int64_t t = 0; t < kTokens; ++t) {
        std::memcpy(&rows[t * head_dim], &units[t * dim + h * head_dim],
                    head_dim * sizeof(float));
      }
      std::vector<uint16_t> fast(kTokens * options.stages);
      std::vector<uint16_t> brute(kTokens * options.stages);
      structured.EncodeRows(rows.data(), kTokens, fast.data());
      gemm.EncodeBatch(rows.data(), kTokens, brute.data(), &pool);
      int64_t mismatches = 0;
      std::vector<uint16_t> oracle(options.stages);
      for (int64_t t = 0; t < kTokens; ++t) {
        reference.Encode(&rows[t * head_dim], oracle.data());
        for (int s = 0; s < options.stages; ++s) {
          const int64_t i = t * options.stages + s;
          if (fast[i] == oracle[s] && brute[i] == oracle[s]) continue;
          if (mismatches++ < 5) {
            ADD_FAILURE() << "head " << h << ", token " << t << ", stage " << s
                          << ": structured " << fast[i] << ", gemm " << brute[i]
                          << ", reference " << oracle[s];
          }
        }
      }
      EXPECT_EQ(mismatches, 0);
    }
  }
}

}  // namespace
}  // namespace commvq
