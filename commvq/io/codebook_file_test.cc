#include "commvq/io/codebook_file.h"

#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "commvq/base/byte_io.h"
#include "commvq/base/crc32c.h"
#include "commvq/base/status_matchers.h"
#include "commvq/proto/codebook_file.pb.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace commvq {
namespace {

using ::commvq::testing::IsOk;
using ::commvq::testing::StatusIs;
using ::testing::HasSubstr;

constexpr auto kInvalid = absl::StatusCode::kInvalidArgument;

// A small file: two plain tensors and two quantizers.
class CodebookFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (int i = 0; i < 12; ++i) floats_.push_back(0.25f * i - 1.0f);
    bytes_ = {1, 2, 3, 4, 5};
    samples_.resize(8 * 64);
    for (size_t i = 0; i < samples_.size(); ++i) {
      samples_[i] = static_cast<float>((i * 37) % 23) - 11.0f;
    }
    const TensorView samples(samples_.data(), DType::kF32, {8, 64});
    auto key = QuantizerRegistry::Default().Train("int:bits=2", samples);
    auto value = QuantizerRegistry::Default().Train("fp16", samples);
    ASSERT_THAT(key, IsOk());
    ASSERT_THAT(value, IsOk());
    key_ = *std::move(key);
    value_ = *std::move(value);

    contents_.model = {"tiny-llama", 2, 4, 2, 32, 10000.0,
                       PairLayout::kInterleaved};
    contents_.provenance.trainer = "unit test";
    contents_.provenance.seed = 7;
    contents_.provenance.extra = {{"note", "hello"}};
    contents_.tensors = {
        {"codebook", TensorView(floats_.data(), DType::kF32, {3, 4})},
        {"bytes", TensorView(bytes_.data(), DType::kU8, {5})},
    };
    contents_.quantizers = {{"layer.0.key", 0, CacheRole::kKey, key_.get()},
                            {"layer.0.value", 0, CacheRole::kValue,
                             value_.get()}};
    auto serialized = SerializeCodebookFile(contents_);
    ASSERT_THAT(serialized, IsOk());
    file_bytes_ = *std::move(serialized);
  }

  std::vector<float> floats_;
  std::vector<uint8_t> bytes_;
  std::vector<float> samples_;
  std::unique_ptr<Quantizer> key_, value_;
  CodebookFileContents contents_;
  std::string file_bytes_;
};

TEST_F(CodebookFileTest, RoundTripKeepsEverything) {
  CVQ_ASSERT_OK_AND_ASSIGN(CodebookFile file, CodebookFile::Parse(file_bytes_));
  EXPECT_EQ(file.version(), kCodebookFileVersion);
  EXPECT_EQ(file.model().model_name, "tiny-llama");
  EXPECT_EQ(file.model().num_kv_heads, 2);
  EXPECT_EQ(file.model().head_dim, 32);
  EXPECT_EQ(file.model().rope_theta, 10000.0);
  EXPECT_EQ(file.model().pair_layout, PairLayout::kInterleaved);
  EXPECT_EQ(file.provenance().trainer, "unit test");
  EXPECT_EQ(file.provenance().seed, 7u);
  EXPECT_EQ(file.provenance().extra.at("note"), "hello");
  ASSERT_EQ(file.tensors().size(), 4u);  // 2 plain + 2 quantizer blobs

  CVQ_ASSERT_OK_AND_ASSIGN(TensorView codebook, file.Tensor("codebook"));
  EXPECT_EQ(codebook.shape(), Shape({3, 4}));
  EXPECT_EQ(reinterpret_cast<uintptr_t>(codebook.data()) % 64, 0u);
  EXPECT_EQ(std::vector<float>(codebook.span<float>().begin(),
                               codebook.span<float>().end()),
            floats_);
  CVQ_ASSERT_OK_AND_ASSIGN(TensorView bytes, file.Tensor("bytes"));
  EXPECT_EQ(reinterpret_cast<uintptr_t>(bytes.data()) % 64, 0u);
  EXPECT_EQ(bytes.span<uint8_t>()[4], 5);

  ASSERT_EQ(file.quantizers().size(), 2u);
  EXPECT_EQ(file.quantizers()[0].spec, "int:bits=2,group_size=32");
  EXPECT_EQ(file.quantizers()[1].role, CacheRole::kValue);
  CVQ_ASSERT_OK_AND_ASSIGN(auto key, file.LoadQuantizer("layer.0.key"));
  EXPECT_EQ(key->spec(), key_->spec());
  EXPECT_THAT(file.LoadQuantizer("layer.9.key"),
              StatusIs(absl::StatusCode::kNotFound,
                       HasSubstr("it has: layer.0.key, layer.0.value")));
  EXPECT_THAT(file.Tensor("nope"),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("'nope'")));
}

TEST_F(CodebookFileTest, EqualContentsGiveEqualBytes) {
  // Enough provenance entries that a hash-ordered map would almost surely
  // write two copies differently.
  for (int i = 0; i < 64; ++i) {
    contents_.provenance.extra[absl::StrCat("key", i)] = absl::StrCat(i);
  }
  CVQ_ASSERT_OK_AND_ASSIGN(const std::string first,
                           SerializeCodebookFile(contents_));
  for (int copy = 0; copy < 4; ++copy) {
    CodebookFileContents again = contents_;
    CVQ_ASSERT_OK_AND_ASSIGN(const std::string bytes,
                             SerializeCodebookFile(again));
    EXPECT_EQ(bytes, first) << "copy " << copy;
  }
}

TEST_F(CodebookFileTest, OpenMapsTheWrittenFile) {
  const std::string path =
      std::string(std::getenv("TEST_TMPDIR")) + "/model.cvqcb";
  ASSERT_THAT(WriteCodebookFile(path, contents_), IsOk());
  CVQ_ASSERT_OK_AND_ASSIGN(CodebookFile file, CodebookFile::Open(path));
  CVQ_ASSERT_OK_AND_ASSIGN(TensorView codebook, file.Tensor("codebook"));
  EXPECT_EQ(codebook.span<float>()[11], floats_[11]);
  CodebookFile copy = file;  // shares the mapping
  CVQ_ASSERT_OK_AND_ASSIGN(auto value, copy.LoadQuantizer("layer.0.value"));
  EXPECT_EQ(value->name(), "fp16");
  EXPECT_THAT(CodebookFile::Open(path + ".missing"),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr(".missing")));
}

TEST_F(CodebookFileTest, WriterRejectsBadContents) {
  CodebookFileContents bad = contents_;
  bad.tensors.push_back(bad.tensors[0]);
  EXPECT_THAT(SerializeCodebookFile(bad),
              StatusIs(kInvalid, HasSubstr("'codebook' is used twice")));
  bad = contents_;
  bad.tensors[0].first = "quantizer/x";
  EXPECT_THAT(SerializeCodebookFile(bad),
              StatusIs(kInvalid, HasSubstr("reserved prefix")));
  bad = contents_;
  bad.quantizers[1].name = "layer.0.key";
  EXPECT_THAT(SerializeCodebookFile(bad),
              StatusIs(kInvalid, HasSubstr("'layer.0.key' is used twice")));
  bad = contents_;
  bad.quantizers[0].quantizer = nullptr;
  EXPECT_THAT(SerializeCodebookFile(bad), StatusIs(kInvalid, HasSubstr("key")));
  bad = contents_;
  bad.tensors[0].second = TensorView(nullptr, DType::kF32, {3, 4});
  EXPECT_THAT(SerializeCodebookFile(bad),
              StatusIs(kInvalid, HasSubstr("codebook: data is null")));
}

TEST_F(CodebookFileTest, EveryTruncationIsAnError) {
  for (size_t size = 0; size < file_bytes_.size(); ++size) {
    EXPECT_THAT(CodebookFile::Parse(file_bytes_.substr(0, size)),
                StatusIs(kInvalid, ::testing::_))
        << "size " << size;
  }
}

TEST_F(CodebookFileTest, EveryFlippedByteIsAnError) {
  // Header and blobs are checksummed; padding bytes are not data.
  CVQ_ASSERT_OK_AND_ASSIGN(CodebookFile file, CodebookFile::Parse(file_bytes_));
  std::vector<bool> covered(file_bytes_.size(), false);
  for (size_t i = 0; i < 16; ++i) covered[i] = true;
  uint32_t header_size;
  std::memcpy(&header_size, file_bytes_.data() + 12, 4);
  for (size_t i = 16; i < 20 + header_size; ++i) covered[i] = true;
  for (const TensorInfo& t : file.tensors()) {
    for (uint64_t i = t.offset; i < t.offset + t.length; ++i) covered[i] = true;
  }
  for (size_t i = 0; i < file_bytes_.size(); ++i) {
    if (!covered[i]) continue;
    std::string flipped = file_bytes_;
    flipped[i] ^= 0x20;
    EXPECT_THAT(CodebookFile::Parse(flipped), StatusIs(kInvalid, ::testing::_))
        << "byte " << i;
  }
}

// Builds a file around `header` with a valid header checksum, so the
// reader's semantic checks (not the checksum) must catch the problem.
std::string Assemble(const proto::CodebookFileHeader& header,
                     const std::string& data, uint32_t version = 1) {
  proto::CodebookFileHeader sized = header;
  sized.set_data_size(data.size());
  std::string header_bytes;
  sized.SerializeToString(&header_bytes);
  std::string out;
  ByteWriter writer(&out);
  writer.WriteBytes(kCodebookFileMagic);
  writer.Write<uint32_t>(version);
  writer.Write<uint32_t>(static_cast<uint32_t>(header_bytes.size()));
  writer.WriteBytes(header_bytes);
  writer.Write<uint32_t>(Crc32c(header_bytes));
  out.resize((out.size() + 63) / 64 * 64, '\0');
  return out + data;
}

class MalformedHeaderTest : public ::testing::Test {
 protected:
  // One valid f32 tensor "t" of shape [4] at offset 0.
  void SetUp() override {
    data_.assign(64, '\0');
    for (int i = 0; i < 16; ++i) data_[i] = static_cast<char>(i);
    proto::TensorEntry* t = header_.add_tensors();
    t->set_name("t");
    t->set_dtype(0);
    t->add_shape(4);
    t->set_offset(0);
    t->set_length(16);
    t->set_crc32c(Crc32c(data_.substr(0, 16)));
  }
  absl::Status Parse(uint32_t version = 1) {
    return CodebookFile::Parse(Assemble(header_, data_, version)).status();
  }
  proto::CodebookFileHeader header_;
  std::string data_;
};

TEST_F(MalformedHeaderTest, ValidBaseline) { EXPECT_THAT(Parse(), IsOk()); }

TEST_F(MalformedHeaderTest, MagicAndVersion) {
  std::string bytes = Assemble(header_, data_);
  bytes[0] = 'X';
  EXPECT_THAT(CodebookFile::Parse(bytes).status(),
              StatusIs(kInvalid, HasSubstr("bad magic")));
  EXPECT_THAT(Parse(2), StatusIs(kInvalid, HasSubstr("unknown version 2: this "
                                                     "reader supports "
                                                     "versions 1 to 1")));
  EXPECT_THAT(Parse(0), StatusIs(kInvalid, HasSubstr("unknown version 0")));
}

TEST_F(MalformedHeaderTest, HeaderThatDoesNotParse) {
  const std::string junk = "\xff\xff\xff\xff\xff";
  std::string out;
  ByteWriter writer(&out);
  writer.WriteBytes(kCodebookFileMagic);
  writer.Write<uint32_t>(1);
  writer.Write<uint32_t>(static_cast<uint32_t>(junk.size()));
  writer.WriteBytes(junk);
  writer.Write<uint32_t>(Crc32c(junk));
  out.resize(64, '\0');
  EXPECT_THAT(CodebookFile::Parse(out).status(),
              StatusIs(kInvalid, HasSubstr("header does not parse")));
}

TEST_F(MalformedHeaderTest, HeaderSizeBeyondLimitOrFile) {
  std::string out;
  ByteWriter writer(&out);
  writer.WriteBytes(kCodebookFileMagic);
  writer.Write<uint32_t>(1);
  writer.Write<uint32_t>(0xFFFFFFF0u);
  EXPECT_THAT(CodebookFile::Parse(out).status(),
              StatusIs(kInvalid, HasSubstr("exceeds the limit")));
  std::string bytes = Assemble(header_, data_);
  bytes[12] += 100;  // header size now points past the real header
  EXPECT_THAT(CodebookFile::Parse(bytes).status(), StatusIs(kInvalid, ::testing::_));
}

TEST_F(MalformedHeaderTest, OffsetsAndLengthsOutOfRange) {
  header_.mutable_tensors(0)->set_offset(64);
  EXPECT_THAT(Parse(), StatusIs(kInvalid, HasSubstr("lie outside the 64-byte "
                                                    "data section")));
  header_.mutable_tensors(0)->set_offset(0xFFFFFFFFFFFFFFC0ull);
  EXPECT_THAT(Parse(), StatusIs(kInvalid, HasSubstr("lie outside")));
}

TEST_F(MalformedHeaderTest, MisalignedBlob) {
  header_.mutable_tensors(0)->set_offset(4);
  EXPECT_THAT(Parse(), StatusIs(kInvalid, HasSubstr("tensor 't': offset 4 is "
                                                    "not a multiple of 64")));
}

TEST_F(MalformedHeaderTest, OverlappingTensors) {
  proto::TensorEntry* u = header_.add_tensors();
  *u = header_.tensors(0);
  u->set_name("u");
  EXPECT_THAT(Parse(), StatusIs(kInvalid, HasSubstr("tensors 't' and 'u' "
                                                    "overlap")));
  u->set_name("t");
  EXPECT_THAT(Parse(), StatusIs(kInvalid, HasSubstr("'t' appears twice")));
}

TEST_F(MalformedHeaderTest, DtypeAndShapeMismatch) {
  header_.mutable_tensors(0)->set_dtype(9);
  EXPECT_THAT(Parse(), StatusIs(kInvalid, HasSubstr("unknown dtype value 9")));
  header_.mutable_tensors(0)->set_dtype(1);  // f16: 8 bytes, not 16
  EXPECT_THAT(Parse(), StatusIs(kInvalid, HasSubstr("length 16 does not match "
                                                    "shape [4] of f16")));
  header_.mutable_tensors(0)->set_dtype(0);
  header_.mutable_tensors(0)->set_shape(0, -4);
  EXPECT_THAT(Parse(), StatusIs(kInvalid, HasSubstr("negative dimension")));
}

TEST_F(MalformedHeaderTest, AbsurdSizes) {
  header_.mutable_tensors(0)->set_shape(0, int64_t{1} << 60);
  EXPECT_THAT(Parse(), StatusIs(kInvalid, HasSubstr("needs more bytes than")));
  header_.mutable_tensors(0)->set_shape(0, int64_t{1} << 40);
  header_.mutable_tensors(0)->add_shape(int64_t{1} << 40);
  EXPECT_THAT(Parse(), StatusIs(kInvalid, HasSubstr("more than 2^63")));
}

TEST_F(MalformedHeaderTest, ChecksumMismatch) {
  data_[3] ^= 1;
  EXPECT_THAT(Parse(), StatusIs(kInvalid, HasSubstr("tensor 't': checksum "
                                                    "mismatch")));
  std::string bytes = Assemble(header_, data_);
  bytes[17] ^= 1;  // inside the header
  EXPECT_THAT(CodebookFile::Parse(bytes).status(),
              StatusIs(kInvalid, HasSubstr("header checksum mismatch")));
}

TEST_F(MalformedHeaderTest, InvalidModelShape) {
  header_.mutable_model()->set_num_heads(9);
  header_.mutable_model()->set_num_kv_heads(4);
  EXPECT_THAT(Parse(), StatusIs(kInvalid, HasSubstr("9 heads is not a "
                                                    "multiple of 4 KV heads")));
  header_.mutable_model()->set_num_kv_heads(3);
  header_.mutable_model()->set_head_dim(63);
  EXPECT_THAT(Parse(), StatusIs(kInvalid, HasSubstr("head_dim 63 is odd")));
  header_.mutable_model()->set_head_dim(64);
  header_.mutable_model()->set_rope_theta(-1);
  EXPECT_THAT(Parse(), StatusIs(kInvalid, HasSubstr("rope_theta -1")));
}

TEST_F(MalformedHeaderTest, QuantizerEntries) {
  proto::QuantizerEntry* q = header_.add_quantizers();
  q->set_name("layer.0.key");
  q->set_spec("int");
  q->set_dim(4);
  q->set_serialized_tensor("missing");
  EXPECT_THAT(Parse(), StatusIs(kInvalid, HasSubstr("its tensor 'missing' is "
                                                    "not in the file")));
  q->set_serialized_tensor("t");
  EXPECT_THAT(Parse(), StatusIs(kInvalid, HasSubstr("not a 1-D u8 tensor")));
  q->set_spec("Bad Spec");
  EXPECT_THAT(Parse(), StatusIs(kInvalid, HasSubstr("quantizer 'layer.0.key'")));
  q->set_spec("int");
  q->set_dim(0);
  EXPECT_THAT(Parse(), StatusIs(kInvalid, HasSubstr("dim 0")));
  q->set_dim(4);
  q->set_role(static_cast<proto::CacheRole>(7));
  EXPECT_THAT(Parse(), StatusIs(kInvalid, HasSubstr("unknown cache role 7")));
}

}  // namespace
}  // namespace commvq
