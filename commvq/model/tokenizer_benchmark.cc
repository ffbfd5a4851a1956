// Measures BpeTokenizer::Encode (and Decode) throughput on about 1 MB of
// text, single-threaded:
//
//   bazel run -c opt //commvq/model:tokenizer_benchmark --
//       $PWD/.cache/models/SmolLM2-135M-Instruct.Q4_1.gguf [TEXT_FILE]
//   (one command line)
//
// Without TEXT_FILE the text is generated deterministically: English-like
// prose with numbers and punctuation, interleaved with code.
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <iterator>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "commvq/base/random.h"
#include "commvq/model/tokenizer/bpe_tokenizer.h"
#include "commvq/io/atomic_file.h"
#include "commvq/model/gguf/gguf_file.h"
#include "commvq/model/gguf_tokenizer.h"

namespace commvq {
namespace {

constexpr size_t kGeneratedBytes = 1 << 20;
constexpr int kRepetitions = 7;

constexpr absl::string_view kWords[] = {
    "the",        "of",        "and",        "to",        "in",
    "a",          "is",        "that",       "for",       "it",
    "as",         "was",       "with",       "be",        "by",
    "on",         "not",       "he",         "this",      "are",
    "or",         "his",       "from",       "at",        "which",
    "but",        "have",      "an",         "had",       "they",
    "you",        "were",      "their",      "one",       "all",
    "we",         "can",       "her",        "has",       "there",
    "been",       "if",        "more",       "when",      "will",
    "would",      "who",       "so",         "no",        "quantization",
    "attention",  "cache",     "vector",     "codebook",  "model",
    "tokenizer",  "residual",  "memory",     "bandwidth", "throughput",
    "experiment", "results",   "don't",      "it's",      "we've",
    "they'll",    "I'm",       "you'd",      "Hugging",   "Face",
    "London",     "caf\u00E9", "na\u00EFve", "\u2014",    "\u201Cquoted\u201D",
};

constexpr absl::string_view kCodeLines[] = {
    "for (int i = 0; i < n; ++i) {\n  sum += values[i] * weights[i];\n}\n",
    "def encode(text: str) -> list[int]:\n    return [vocab[t] for t in "
    "split(text)]\n",
    "    if (status.ok()) return absl::OkStatus();\n",
    "x = np.linspace(0.0, 3.14159, num=1024)  # radians\n",
};

std::string GenerateText(size_t size) {
  Rng rng(42);
  std::string text;
  while (text.size() < size) {
    if (rng.UniformInt(10) == 0) {
      absl::StrAppend(&text, kCodeLines[rng.UniformInt(std::size(kCodeLines))]);
      continue;
    }
    const int64_t sentence_words = 5 + rng.UniformInt(20);
    for (int64_t i = 0; i < sentence_words; ++i) {
      if (i > 0) text += ' ';
      if (rng.UniformInt(12) == 0) {
        absl::StrAppend(&text, rng.UniformInt(100000));
      } else {
        absl::StrAppend(&text, kWords[rng.UniformInt(std::size(kWords))]);
      }
      if (rng.UniformInt(9) == 0) text += ',';
    }
    text += rng.UniformInt(6) == 0 ? "?\n\n" : ". ";
  }
  return text;
}

double Seconds(std::chrono::steady_clock::duration duration) {
  return std::chrono::duration<double>(duration).count();
}

int Run(int argc, char** argv) {
  if (argc < 2 || argc > 3) {
    std::fprintf(stderr, "usage: %s MODEL.gguf [TEXT_FILE]\n", argv[0]);
    return 2;
  }
  absl::StatusOr<GgufFile> gguf = GgufFile::Open(argv[1]);
  if (!gguf.ok()) {
    std::fprintf(stderr, "%s\n", gguf.status().ToString().c_str());
    return 1;
  }
  absl::StatusOr<TokenizerVocabulary> vocabulary =
      TokenizerVocabularyFromGguf(*gguf);
  if (!vocabulary.ok()) {
    std::fprintf(stderr, "%s\n", vocabulary.status().ToString().c_str());
    return 1;
  }
  absl::StatusOr<BpeTokenizer> tokenizer =
      BpeTokenizer::Create(*std::move(vocabulary));
  if (!tokenizer.ok()) {
    std::fprintf(stderr, "%s\n", tokenizer.status().ToString().c_str());
    return 1;
  }
  std::string text;
  if (argc == 3) {
    absl::StatusOr<std::string> contents = ReadFile(argv[2]);
    if (!contents.ok()) {
      std::fprintf(stderr, "%s\n", contents.status().ToString().c_str());
      return 1;
    }
    text = *std::move(contents);
  } else {
    text = GenerateText(kGeneratedBytes);
  }

  std::vector<double> encode_seconds;
  std::vector<double> decode_seconds;
  size_t num_tokens = 0;
  for (int repetition = 0; repetition < kRepetitions; ++repetition) {
    const auto start = std::chrono::steady_clock::now();
    const absl::StatusOr<std::vector<int32_t>> ids =
        tokenizer->Encode(text, /*parse_special_tokens=*/true);
    const auto encoded = std::chrono::steady_clock::now();
    const absl::StatusOr<std::string> decoded = tokenizer->Decode(*ids);
    const auto end = std::chrono::steady_clock::now();
    if (!decoded.ok() || *decoded != text) {
      std::fprintf(stderr, "decode(encode(text)) != text\n");
      return 1;
    }
    num_tokens = ids->size();
    encode_seconds.push_back(Seconds(encoded - start));
    decode_seconds.push_back(Seconds(end - encoded));
  }
  std::sort(encode_seconds.begin(), encode_seconds.end());
  std::sort(decode_seconds.begin(), decode_seconds.end());
  const double megabytes = text.size() / 1e6;
  std::printf(
      "%zu bytes -> %zu tokens (%.2f bytes/token), %d runs\n"
      "encode: median %.1f MB/s, best %.1f MB/s (%.2f M tokens/s)\n"
      "decode: median %.1f MB/s\n",
      text.size(), num_tokens, static_cast<double>(text.size()) / num_tokens,
      kRepetitions, megabytes / encode_seconds[kRepetitions / 2],
      megabytes / encode_seconds[0], num_tokens / encode_seconds[0] / 1e6,
      megabytes / decode_seconds[kRepetitions / 2]);
  return 0;
}

}  // namespace
}  // namespace commvq

int main(int argc, char** argv) { return commvq::Run(argc, argv); }
