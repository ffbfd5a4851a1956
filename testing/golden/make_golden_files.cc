// Writes the golden codebook files of the current format version into the
// folder given as the only argument. Run once per released version and
// commit the output; golden_files_test keeps loading every released version:
//   bazel run //testing/golden:make_golden_files -- $PWD/testing/golden
#include <cstdio>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "commvq/io/codebook_file.h"
#include "commvq/registry/registry.h"
#include "testing/golden/golden_contents.h"

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: make_golden_files OUTPUT_FOLDER\n");
    return 2;
  }
  const std::string folder = argv[1];
  const std::string version = absl::StrCat(commvq::kCodebookFileVersion);
  commvq::GoldenTensors tensors;
  auto contents = commvq::MakeGoldenContents(tensors);
  if (!contents.ok()) {
    std::fprintf(stderr, "%s\n", contents.status().ToString().c_str());
    return 1;
  }
  for (const auto& [name, file_contents] :
       std::vector<std::pair<std::string, commvq::CodebookFileContents>>{
           {"small", contents->small}, {"empty", contents->empty}}) {
    const std::string path =
        absl::StrCat(folder, "/codebook_v", version, "_", name, ".cvqcb");
    const absl::Status status = commvq::WriteCodebookFile(path, file_contents);
    if (!status.ok()) {
      std::fprintf(stderr, "%s\n", status.ToString().c_str());
      return 1;
    }
    std::printf("wrote %s\n", path.c_str());
  }
  return 0;
}
