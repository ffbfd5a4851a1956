// A main() for fuzz targets in ordinary builds: replays the corpus files
// given as arguments, then a deterministic stream of random and mutated
// inputs, through LLVMFuzzerTestOneInput. Lets every build (gcc, asan, tsan)
// run the fuzz targets as regression tests; real fuzzing is --config=fuzz.
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <random>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace {

constexpr int kRandomInputs = 20000;
constexpr size_t kMaxRandomSize = 96;

void Run(const std::string& input) {
  LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t*>(input.data()),
                         input.size());
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> corpus;
  for (int i = 1; i < argc; ++i) {
    std::ifstream file(argv[i], std::ios::binary);
    if (!file) {
      std::fprintf(stderr, "cannot read corpus file %s\n", argv[i]);
      return 1;
    }
    corpus.emplace_back(std::istreambuf_iterator<char>(file),
                        std::istreambuf_iterator<char>());
    Run(corpus.back());
  }
  // Bytes biased towards the characters formats and specs are made of.
  const std::string alphabet = "abcdefghijklmnopqrstuvwxyz0123456789_:=,.+-";
  std::mt19937_64 rng(20251129);
  for (int i = 0; i < kRandomInputs; ++i) {
    std::string input;
    if (!corpus.empty() && i % 2 == 0) {
      input = corpus[rng() % corpus.size()];
      const int edits = 1 + static_cast<int>(rng() % 4);
      for (int e = 0; e < edits && !input.empty(); ++e) {
        const size_t at = rng() % input.size();
        switch (rng() % 3) {
          case 0: input[at] = static_cast<char>(rng()); break;
          case 1: input.erase(at, 1 + rng() % 4); break;
          default: input.insert(at, 1, alphabet[rng() % alphabet.size()]);
        }
      }
    } else {
      const size_t size = rng() % kMaxRandomSize;
      for (size_t j = 0; j < size; ++j) {
        input.push_back(rng() % 8 == 0 ? static_cast<char>(rng())
                                       : alphabet[rng() % alphabet.size()]);
      }
    }
    Run(input);
  }
  std::printf("replayed %zu corpus files and %d generated inputs\n",
              corpus.size(), kRandomInputs);
  return 0;
}
