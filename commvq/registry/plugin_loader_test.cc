#include "commvq/registry/plugin_loader.h"

#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include "commvq/base/status_matchers.h"
#include "commvq/quantizer/quantizer_test_util.h"
#include "commvq/quantizer/serialized_quantizer.h"
#include "commvq/registry/builtin_quantizers.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace commvq {
namespace {

using ::commvq::testing::IsOk;
using ::commvq::testing::StatusIs;
using ::testing::HasSubstr;

std::string PluginPath(const std::string& name) {
  const char* srcdir = std::getenv("TEST_SRCDIR");
  return std::string(srcdir ? srcdir : ".") + "/commvq/testing/plugins/lib" +
         name + ".so";
}

std::unique_ptr<QuantizerRegistry> RegistryWithBuiltins() {
  auto registry = std::make_unique<QuantizerRegistry>();
  EXPECT_THAT(registry->Register(BuiltinQuantizerFactories()), IsOk());
  return registry;
}

using ::commvq::testing::Encoded;
using ::commvq::testing::RoundTrip;

TEST(PluginLoaderTest, LoadsTheExamplePluginAndItsQuantizerWorks) {
  auto registry = RegistryWithBuiltins();
  ASSERT_THAT(LoadQuantizerPlugin(PluginPath("sign_plugin"), *registry), IsOk());
  CVQ_ASSERT_OK_AND_ASSIGN(const QuantizerFactory* factory,
                           registry->Find("sign"));
  EXPECT_EQ(factory->description().options.at(0).name, "scale");

  // Channel 0 has mean 10, channel 1 mean -4; the sign of the centred value
  // and the per-vector scale reconstruct each vector.
  const std::vector<float> x = {11, -3, 9, -5, 12, -2, 8, -6};
  CVQ_ASSERT_OK_AND_ASSIGN(
      auto q, registry->Train("sign", TensorView(x.data(), DType::kF32, {4, 2})));
  EXPECT_EQ(q->spec(), "sign:scale=mean_abs");
  EXPECT_EQ(q->layout().code_bytes, 1);
  EXPECT_EQ(q->layout().side_bytes, 4);
  EXPECT_EQ(q->ParameterBytes(), 8);
  const Encoded e = RoundTrip(*q, x);
  EXPECT_THAT(e.decoded, ::testing::ElementsAre(11, -3, 9, -5, 12, -2, 8, -6));

  // Serialization goes through the plugin's payload.
  CVQ_ASSERT_OK_AND_ASSIGN(std::string bytes, q->Serialize());
  CVQ_ASSERT_OK_AND_ASSIGN(auto restored, registry->Deserialize(bytes));
  const Encoded again = RoundTrip(*restored, x);
  EXPECT_EQ(again.codes, e.codes);
  EXPECT_EQ(again.decoded, e.decoded);

  // Options reach the plugin, and the host validates them first. Mean is
  // (-1, 0); centred rows (2, 0) and (-2, 0) both have max |x - mean| 2.
  const std::vector<float> y = {1, 0, -3, 0};
  CVQ_ASSERT_OK_AND_ASSIGN(
      auto q_max, registry->Train("sign:scale=max_abs",
                                  TensorView(y.data(), DType::kF32, {2, 2})));
  EXPECT_THAT(RoundTrip(*q_max, y).decoded,
              ::testing::ElementsAre(1, 2, -3, 2));
  EXPECT_THAT(registry->Train("sign:scale=median",
                              TensorView(y.data(), DType::kF32, {2, 2})),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("expected one of mean_abs|max_abs")));
  // Plugin errors keep their code and carry the plugin's message.
  EXPECT_THAT(registry->Deserialize(FrameQuantizer("sign", 3, "xy")),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("plugin quantizer 'sign': payload has 2 "
                                 "bytes: expected 12")));
}

TEST(PluginLoaderTest, WrongAbiVersionIsRefused) {
  auto registry = RegistryWithBuiltins();
  EXPECT_THAT(LoadQuantizerPlugin(PluginPath("wrong_abi_plugin"), *registry),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("built for plugin ABI version 999: this "
                                 "library implements version 1")));
  EXPECT_EQ(registry->List().size(), BuiltinQuantizerFactories().size());
}

TEST(PluginLoaderTest, MissingEntryPointIsRefused) {
  auto registry = RegistryWithBuiltins();
  EXPECT_THAT(LoadQuantizerPlugin(PluginPath("no_entry_point_plugin"), *registry),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("does not export cvq_plugin_init")));
}

TEST(PluginLoaderTest, DuplicateNamesRegisterNothing) {
  auto registry = RegistryWithBuiltins();
  EXPECT_THAT(LoadQuantizerPlugin(PluginPath("duplicate_name_plugin"), *registry),
              StatusIs(absl::StatusCode::kAlreadyExists,
                       HasSubstr("'int' is already registered")));
  EXPECT_THAT(registry->Find("sign_copy"),
              StatusIs(absl::StatusCode::kNotFound, ::testing::_));
  // Loading the same plugin twice is a duplicate too.
  ASSERT_THAT(LoadQuantizerPlugin(PluginPath("sign_plugin"), *registry), IsOk());
  EXPECT_THAT(LoadQuantizerPlugin(PluginPath("sign_plugin"), *registry),
              StatusIs(absl::StatusCode::kAlreadyExists, HasSubstr("'sign'")));
}

TEST(PluginLoaderTest, MissingOrUnloadableFilesAndImplicitPaths) {
  auto registry = RegistryWithBuiltins();
  EXPECT_THAT(LoadQuantizerPlugin("/nonexistent/libnothing.so", *registry),
              StatusIs(absl::StatusCode::kNotFound,
                       HasSubstr("'/nonexistent/libnothing.so' does not "
                                 "exist")));
  EXPECT_THAT(LoadQuantizerPlugin("libsign_plugin.so", *registry),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("has no '/'")));
  const std::string text_file =
      std::string(std::getenv("TEST_TMPDIR")) + "/not_a_plugin.so";
  std::ofstream(text_file) << "not an ELF file";
  EXPECT_THAT(LoadQuantizerPlugin(text_file, *registry),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("cannot be loaded")));
}

}  // namespace
}  // namespace commvq
