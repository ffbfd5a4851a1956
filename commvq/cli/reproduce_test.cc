// The reproduce pipeline with a fake command runner: stages, caching,
// notes of failed stages and the written report, without the model.
#include "commvq/cli/reproduce.h"

#include <cstdlib>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "commvq/base/status_matchers.h"
#include "commvq/io/atomic_file.h"
#include "commvq/io/safetensors.h"
#include "commvq/kvcache/cache_spec.h"
#include "commvq/model/gguf/gguf_test_util.h"
#include "commvq/report/json.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace commvq {
namespace cli {
namespace {

using ::commvq::testing::IsOk;
using ::commvq::testing::StatusIs;
using ::testing::HasSubstr;
using ::testing::Not;

std::string ArgAfter(absl::Span<const std::string> args,
                     absl::string_view flag) {
  for (size_t i = 0; i + 1 < args.size(); ++i) {
    if (args[i] == flag) return args[i + 1];
  }
  return "";
}

// Plays the commands the pipeline runs, with made-up numbers that depend on
// the method, and counts them.
class FakeCommands {
 public:
  int operator()(absl::Span<const std::string> args, const CliIo& io) {
    const std::string command =
        args[0] == "bench" ? absl::StrCat("bench ", args[1]) : args[0];
    ++calls[command];
    const std::string cache = ArgAfter(args, "--cache");
    if (command == "dump-kv") {
      const float data[4] = {1, 2, 3, 4};
      const TensorView tensor(data, DType::kF32, {1, 1, 4});
      const absl::Status s = WriteSafetensors(
          ArgAfter(args, "--out"), {{"layers.0.keys", tensor}},
          {{"num_layers", "2"}, {"num_kv_heads", "1"}, {"head_dim", "4"}});
      return s.ok() ? 0 : 1;
    }
    if (command == "train-keys" || command == "train-codebooks") {
      return WriteFileAtomically(ArgAfter(args, "--out"), "keys").ok() ? 0 : 1;
    }
    if (command == "train-values") {
      // Extends the copy of the key codebooks the pipeline made.
      auto keys = ReadFile(ArgAfter(args, "--out"));
      if (!keys.ok() || *keys != "keys") return 1;
      return WriteFileAtomically(ArgAfter(args, "--out"), "keys+values").ok()
                 ? 0
                 : 1;
    }
    if (command == "eval-kv") {
      const bool commvq = !ArgAfter(args, "--key_codebooks").empty();
      const std::string bits = commvq ? "1.5" : "3";
      io.out << "{\"layers\": [{\"key_bits_per_element\": " << bits
             << ", \"value_bits_per_element\": " << bits
             << ", \"key_relative_mse\": 0.1, \"value_relative_mse\": 0.2, "
                "\"attention_output_relative_error\": 0.3}]}\n";
      return 0;
    }
    if (command == "eval-ppl") {
      // 10 for fp16, 10.1 for CommVQ, 11 for the rest (12 without window).
      const double ppl = absl::StartsWith(cache, "fp16")     ? 10.0
                         : absl::StartsWith(cache, "commvq") ? 10.1
                         : absl::EndsWith(cache, "window=0") ? 12.0
                                                             : 11.0;
      io.out << "{\"ppl\": " << ppl << "}\n";
      return 0;
    }
    if (command == "eval-passkey") {
      // Every method's passkey runs with the official runtime's policy: the
      // whole prompt in one full-precision prefill, with the method's window.
      const absl::StatusOr<CacheSpec> spec = ParseCacheSpec(cache);
      if (!spec.ok() || ArgAfter(args, "--chunk") != "0" ||
          (!spec->full_precision && (!spec->options.full_precision_prefill ||
                                     spec->options.window != 128))) {
        io.err << "fake: unexpected passkey protocol, cache " << cache << "\n";
        return 1;
      }
      ++passkey_prefill_full;
      io.out << "{\"passkey_accuracy\": 1}\n";
      return 0;
    }
    if (command == "bench decode" && absl::StartsWith(cache, "fp16")) {
      io.out << "{\"contexts\": [{\"context\": 64, \"microseconds\": 5}]}\n";
      return 0;
    }
    io.err << "fake: no " << command << "\nmore text\n";
    return 2;
  }

  std::map<std::string, int> calls;
  int passkey_prefill_full = 0;
};

class ReproduceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::string(std::getenv("TEST_TMPDIR")) + "/" +
           ::testing::UnitTest::GetInstance()->current_test_info()->name();
    const std::string model =
        GgufTestFileBuilder()
            .Add("general.architecture", GgufString("llama"))
            .Add("general.name", GgufString("Tiny"))
            .Add("llama.context_length",
                 GgufScalar(GgufValueType::kUint32, uint32_t{4096}))
            .Build();
    ASSERT_THAT(WriteFileAtomically(dir_ + ".gguf", model), IsOk());
    ASSERT_THAT(WriteFileAtomically(dir_ + ".cal.txt", "calibration"), IsOk());
    ASSERT_THAT(WriteFileAtomically(dir_ + ".eval.txt", "evaluation"), IsOk());
  }

  absl::Status Run(std::vector<std::string> extra, std::string* out = nullptr) {
    std::vector<std::string> args = {
        "--model=" + dir_ + ".gguf", "--calibration_text=" + dir_ + ".cal.txt",
        "--evaluation_text=" + dir_ + ".eval.txt", "--out=" + dir_,
        "--gnuplot=false", "--threads=1"};
    args.insert(args.end(), extra.begin(), extra.end());
    auto flags = ParseFlags(ReproduceFlags(), args);
    if (!flags.ok()) return flags.status();
    std::ostringstream stdout_stream;
    const CliIo io{stdout_stream, log_, false};
    const absl::Status status = RunReproduce(
        *flags, io, [this](absl::Span<const std::string> a, const CliIo& i) {
          return commands_(a, i);
        });
    if (out != nullptr) *out = stdout_stream.str();
    return status;
  }

  int Calls() const {
    int n = 0;
    for (const auto& [name, count] : commands_.calls) n += count;
    return n;
  }

  std::string dir_;
  std::ostringstream log_;
  FakeCommands commands_;
};

TEST_F(ReproduceTest, WritesTheReportWithEveryMethod) {
  std::string out;
  ASSERT_THAT(Run({}, &out), IsOk());
  // 2 dumps, CommVQ keys and values at 2 bit widths, rvq at 2, 9 methods x
  // (quality, 2 ppl, passkey, bench) less fp16's second ppl.
  EXPECT_EQ(Calls(), 2 + 4 + 2 + 9 * 5 - 1);
  EXPECT_EQ(commands_.calls["train-codebooks"], 2);
  EXPECT_EQ(commands_.calls["train-values"], 2);
  EXPECT_EQ(commands_.passkey_prefill_full, 9);
  EXPECT_THAT(out, HasSubstr("| commvq-2 "));
  EXPECT_THAT(out, HasSubstr("[met]     CommVQ-2 perplexity within 2% of fp16"));
  EXPECT_THAT(log_.str(), HasSubstr("no plots"));

  auto json = ReadFile(dir_ + "/report.json");
  ASSERT_THAT(json, IsOk());
  auto report = ParseJson(*json);
  ASSERT_THAT(report, IsOk());
  EXPECT_EQ(report->Find("fp16_ppl")->number(), 10.0);
  EXPECT_EQ(report->Find("max_context")->number(), 4096);
  EXPECT_EQ(report->Find("model")->string_value(), "Tiny");
  std::vector<std::string> names;
  for (const JsonValue& m : report->Find("methods")->items()) {
    names.push_back(m.Find("name")->string_value());
  }
  EXPECT_EQ(absl::StrJoin(names, ","),
            "fp16,commvq-1,commvq-2,kivi-1,kivi-2,int4,fp8,rvq-1,rvq-2");
  const JsonValue& commvq1 = report->Find("methods")->items()[1];
  EXPECT_EQ(commvq1.Find("ppl")->number(), 10.1);
  EXPECT_EQ(commvq1.Find("bits_per_element")->number(), 1.5);
  // 1.5 bits x 4 elements x 2 layers, keys and values.
  EXPECT_EQ(commvq1.Find("kv_bytes_per_token")->number(), 3.0);
  // The trained file holds keys and values.
  EXPECT_EQ(commvq1.Find("fixed_bytes")->number(), 11);
  const JsonValue& kivi1 = report->Find("methods")->items()[3];
  EXPECT_EQ(kivi1.Find("ppl")->number(), 11);
  EXPECT_EQ(kivi1.Find("ppl_window0")->number(), 12);
  // A failed stage leaves its number missing, with the command's first
  // error line as the note.
  EXPECT_TRUE(kivi1.Find("decode")->items().empty());
  EXPECT_THAT(kivi1.Find("notes")->Serialize(),
              HasSubstr("fake: no bench decode"));
  EXPECT_THAT(kivi1.Find("notes")->Serialize(), Not(HasSubstr("more text")));
  EXPECT_EQ(report->Find("methods")->items()[0].Find("decode")->items().size(),
            1u);

  auto md = ReadFile(dir_ + "/report.md");
  ASSERT_THAT(md, IsOk());
  EXPECT_THAT(*md, HasSubstr("## Goals"));
}

TEST_F(ReproduceTest, SecondRunReusesEveryStage) {
  ASSERT_THAT(Run({}), IsOk());
  const int first = Calls();
  std::string out;
  ASSERT_THAT(Run({}, &out), IsOk());
  // Only the stages that failed (bench decode of 8 methods) run again.
  EXPECT_EQ(Calls() - first, 8);
  EXPECT_THAT(out, HasSubstr("| commvq-2 "));
  EXPECT_THAT(log_.str(), HasSubstr("cached"));
}

TEST_F(ReproduceTest, ChangedSettingsAndInputsRerunWhatDependsOnThem) {
  ASSERT_THAT(Run({"--methods=fp16,kivi-2"}), IsOk());
  commands_.calls.clear();
  ASSERT_THAT(Run({"--methods=fp16,kivi-2", "--ppl_tokens=64"}), IsOk());
  EXPECT_EQ(commands_.calls["eval-ppl"], 3);
  EXPECT_EQ(commands_.calls["eval-kv"], 0);
  EXPECT_EQ(commands_.calls["dump-kv"], 0);

  // A new evaluation text: the dump reruns; it has the same bytes (fake), so
  // the key/value error stays cached, while the perplexity reads the text.
  ASSERT_THAT(WriteFileAtomically(dir_ + ".eval.txt", "other"), IsOk());
  commands_.calls.clear();
  ASSERT_THAT(Run({"--methods=fp16,kivi-2", "--ppl_tokens=64"}), IsOk());
  EXPECT_EQ(commands_.calls["dump-kv"], 1);
  EXPECT_EQ(commands_.calls["eval-kv"], 0);
  EXPECT_EQ(commands_.calls["eval-ppl"], 3);
  EXPECT_EQ(commands_.calls["eval-passkey"], 0);

  // A deleted output invalidates its record.
  ASSERT_EQ(std::remove((dir_ + "/kv_calibration.safetensors").c_str()), 0);
  commands_.calls.clear();
  ASSERT_THAT(Run({"--methods=fp16,kivi-2", "--ppl_tokens=64"}), IsOk());
  EXPECT_EQ(commands_.calls["dump-kv"], 1);
}

TEST_F(ReproduceTest, JsonFlagPrintsTheReport) {
  std::string out;
  ASSERT_THAT(Run({"--methods=fp16,commvq-2", "--json"}, &out), IsOk());
  auto report = ParseJson(out);
  ASSERT_THAT(report, IsOk());
  EXPECT_EQ(report->Find("methods")->items().size(), 2u);
  EXPECT_EQ(report->Find("methods")->items()[1].Find("name")->string_value(),
            "commvq-2");
}

TEST_F(ReproduceTest, FailedTrainingIsANoteOfTheCommvqMethod) {
  // Values fail when the key file is not what the fake expects.
  ASSERT_THAT(Run({"--methods=commvq-1"}), IsOk());
  ASSERT_THAT(WriteFileAtomically(dir_ + "/commvq-1.keys.cvqcb", "other"),
              IsOk());
  ASSERT_THAT(Run({"--methods=commvq-1"}), IsOk());
  auto report = ParseJson(*ReadFile(dir_ + "/report.json"));
  ASSERT_THAT(report, IsOk());
  EXPECT_THAT(report->Find("methods")->items()[0].Find("notes")->Serialize(),
              HasSubstr("train CommVQ values, 1 bit failed"));
}

TEST_F(ReproduceTest, BadFlagsAreErrorsNamingThem) {
  EXPECT_THAT(Run({"--methods=fp16,kivi-3"}),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("unknown method 'kivi-3'")));
  EXPECT_THAT(Run({"--bench_contexts=64,x"}),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("--bench_contexts")));
  EXPECT_EQ(Calls(), 0);
}

}  // namespace
}  // namespace cli
}  // namespace commvq
