// Uses CommVQ's C++ targets from another workspace: reads a codebook file,
// trains a quantizer through the registry and checks a round trip.
#include <cmath>
#include <iostream>
#include <vector>

#include "commvq/io/codebook_file.h"
#include "commvq/registry/registry.h"

int main(int argc, char** argv) {
  if (argc != 2) return 2;
  auto file = commvq::CodebookFile::Open(argv[1]);
  if (!file.ok() || file->quantizers().size() != 2) {
    std::cerr << "codebook file: " << file.status() << "\n";
    return 1;
  }
  std::vector<float> x(4 * 8);
  for (size_t i = 0; i < x.size(); ++i) x[i] = std::sin(0.3f * i);
  const commvq::TensorView samples(x.data(), commvq::DType::kF32, {4, 8});
  auto q = commvq::QuantizerRegistry::Default().Train("int:bits=8,group_size=8",
                                                      samples);
  if (!q.ok()) {
    std::cerr << q.status() << "\n";
    return 1;
  }
  const commvq::CodeLayout& l = (*q)->layout();
  std::vector<uint8_t> codes(4 * l.code_bytes), side(4 * l.side_bytes);
  std::vector<float> y(x.size());
  const commvq::MutableTensorView c(codes.data(), commvq::DType::kU8,
                                    {4, l.code_bytes});
  const commvq::MutableTensorView s(side.data(), commvq::DType::kU8,
                                    {4, l.side_bytes});
  if (!(*q)->Encode(samples, c, s).ok() ||
      !(*q)->Decode(
               c, s,
               commvq::MutableTensorView(y.data(), commvq::DType::kF32, {4, 8}))
           .ok()) {
    return 1;
  }
  for (size_t i = 0; i < x.size(); ++i) {
    if (std::fabs(x[i] - y[i]) > 0.01f) {
      std::cerr << "element " << i << ": " << x[i] << " decoded as " << y[i]
                << "\n";
      return 1;
    }
  }
  std::cout << "CommVQ C++ from another workspace: " << file->model().model_name
            << ", 8-bit round trip ok\n";
  return 0;
}
