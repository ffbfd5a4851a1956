#include "commvq/registry/plugin_quantizer.h"

#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "commvq/base/bit_packing.h"
#include "commvq/base/status_macros.h"
#include "commvq/quantizer/quantizer_spec.h"

namespace commvq {
namespace {

constexpr size_t kErrorSize = 512;

// Turns a plugin's return code and message into a Status.
absl::Status PluginStatus(absl::string_view plugin, int32_t code,
                          const char* error) {
  if (code == 0) return absl::OkStatus();
  const std::string message(error, strnlen(error, kErrorSize));
  if (code < 0 || code > static_cast<int32_t>(absl::StatusCode::kUnauthenticated)) {
    return absl::InternalError(absl::StrCat("plugin quantizer '", plugin,
                                            "' returned invalid status code ",
                                            code, ": ", message));
  }
  return absl::Status(static_cast<absl::StatusCode>(code),
                      absl::StrCat("plugin quantizer '", plugin, "': ", message));
}

// Option values in declaration order, as the C table expects them.
std::vector<const char*> OptionValues(const OptionSchema& schema,
                                      const ResolvedOptions& options) {
  std::vector<const char*> values;
  for (const OptionDef& def : schema) {
    values.push_back(options.GetString(def.name).c_str());
  }
  return values;
}

class PluginQuantizer final : public Quantizer {
 public:
  PluginQuantizer(std::string spec, CodeLayout layout,
                  const cvq_plugin_quantizer* table, void* state)
      : Quantizer(std::move(spec), layout), table_(table), state_(state) {}
  ~PluginQuantizer() override { table_->destroy(state_); }

  int64_t ParameterBytes() const override {
    return table_->parameter_bytes(state_);
  }

 protected:
  absl::Status EncodeBlocks(const float* x, int64_t num_vectors,
                            uint8_t* codes, uint8_t* side) const override {
    char error[kErrorSize] = {0};
    return PluginStatus(table_->name,
                        table_->encode(state_, x, num_vectors, codes, side,
                                       error, kErrorSize),
                        error);
  }

  absl::Status DecodeBlocks(const uint8_t* codes, const uint8_t* side,
                            int64_t num_vectors, float* out) const override {
    char error[kErrorSize] = {0};
    return PluginStatus(table_->name,
                        table_->decode(state_, codes, side, num_vectors, out,
                                       error, kErrorSize),
                        error);
  }

  absl::StatusOr<std::string> SerializePayload() const override {
    char error[kErrorSize] = {0};
    size_t size = 0;
    // The size query may report an error code as long as it sets the size
    // (the C ABI convention for "buffer too small").
    const int32_t query =
        table_->serialize(state_, nullptr, 0, &size, error, kErrorSize);
    if (size == 0) {
      CVQ_RETURN_IF_ERROR(PluginStatus(table_->name, query, error));
      return std::string();
    }
    std::string payload(size, '\0');
    CVQ_RETURN_IF_ERROR(PluginStatus(
        table_->name,
        table_->serialize(state_, reinterpret_cast<uint8_t*>(payload.data()),
                          payload.size(), &size, error, kErrorSize),
        error));
    if (size != payload.size()) {
      return absl::InternalError(absl::StrCat(
          "plugin quantizer '", table_->name, "' reported payload size ",
          payload.size(), ", then wrote ", size, " bytes"));
    }
    return payload;
  }

 private:
  const cvq_plugin_quantizer* table_;
  void* state_;
};

class PluginQuantizerFactory final : public QuantizerFactory {
 public:
  PluginQuantizerFactory(const cvq_plugin_quantizer* table,
                         QuantizerDescription description)
      : table_(table), description_(std::move(description)) {}

  const QuantizerDescription& description() const override {
    return description_;
  }

  absl::StatusOr<std::unique_ptr<Quantizer>> Train(
      const ResolvedOptions& options, const TensorView& samples,
      const TrainOptions& train) const override {
    return Create(options, samples.dim(1),
                  [&](const char* const* values, void** state, char* error) {
                    return table_->train(values, samples.span<float>().data(),
                                         samples.dim(0), samples.dim(1),
                                         train.seed, state, error, kErrorSize);
                  });
  }

  absl::StatusOr<std::unique_ptr<Quantizer>> Deserialize(
      const ResolvedOptions& options, int64_t dim,
      absl::string_view payload) const override {
    return Create(options, dim,
                  [&](const char* const* values, void** state, char* error) {
                    return table_->deserialize(
                        values, dim,
                        reinterpret_cast<const uint8_t*>(payload.data()),
                        payload.size(), state, error, kErrorSize);
                  });
  }

 private:
  // Runs the plugin's train or deserialize (`make`, given the option values,
  // the state out-parameter and the error buffer) and wraps the new state.
  template <typename MakeState>
  absl::StatusOr<std::unique_ptr<Quantizer>> Create(
      const ResolvedOptions& options, int64_t dim, MakeState make) const {
    char error[kErrorSize] = {0};
    void* state = nullptr;
    const std::vector<const char*> values =
        OptionValues(description_.options, options);
    CVQ_RETURN_IF_ERROR(
        PluginStatus(table_->name, make(values.data(), &state, error), error));
    return Wrap(options, dim, state);
  }

  // Takes ownership of `state`; checks the layout the plugin reports.
  absl::StatusOr<std::unique_ptr<Quantizer>> Wrap(
      const ResolvedOptions& options, int64_t dim, void* state) const {
    cvq_plugin_layout l{};
    table_->layout(state, &l);
    if (l.code_bits < 0 || l.code_bytes != PackedBytes(l.code_bits, 1) ||
        l.side_bytes < 0 || l.block_vectors < 1) {
      table_->destroy(state);
      return absl::InternalError(absl::StrCat(
          "plugin quantizer '", table_->name, "' reported an invalid layout "
          "(code_bits ", l.code_bits, ", code_bytes ", l.code_bytes,
          ", side_bytes ", l.side_bytes, ", block_vectors ", l.block_vectors,
          "): expected code_bytes = ceil(code_bits / 8), side_bytes >= 0, "
          "block_vectors >= 1"));
    }
    return std::unique_ptr<Quantizer>(std::make_unique<PluginQuantizer>(
        options.canonical_spec(),
        CodeLayout{dim, l.code_bits, l.code_bytes, l.side_bytes,
                   l.block_vectors},
        table_, state));
  }

  const cvq_plugin_quantizer* table_;
  QuantizerDescription description_;
};

absl::StatusOr<OptionDef> ConvertOption(absl::string_view plugin,
                                        const cvq_plugin_option& option) {
  auto bad = [&](absl::string_view why) {
    return absl::InvalidArgumentError(
        absl::StrCat("plugin quantizer '", plugin, "': option ",
                     option.name ? absl::StrCat("'", option.name, "'")
                                 : std::string("with a null name"),
                     " ", why));
  };
  if (option.name == nullptr) return bad("is invalid");
  // An option name must be usable as a spec key.
  absl::StatusOr<QuantizerSpec> parsed =
      ParseQuantizerSpec(absl::StrCat("x:", option.name, "=0"));
  if (!parsed.ok()) return bad("has a name that is not [a-z0-9_]+");
  if (option.type < CVQ_PLUGIN_OPTION_INT || option.type > CVQ_PLUGIN_OPTION_BOOL) {
    return bad(absl::StrCat("has unknown type ", option.type,
                            ": expected 0 (int), 1 (float), 2 (string) or "
                            "3 (bool)"));
  }
  OptionDef def;
  def.name = option.name;
  def.type = static_cast<OptionType>(option.type);
  if (option.default_value != nullptr) def.default_value = option.default_value;
  def.help = option.help ? option.help : "";
  if (option.min <= option.max) {
    def.min = option.min;
    def.max = option.max;
  }
  if (option.choices != nullptr) {
    def.choices = absl::StrSplit(option.choices, '|', absl::SkipEmpty());
  }
  return def;
}

}  // namespace

absl::StatusOr<std::unique_ptr<QuantizerFactory>> MakePluginQuantizerFactory(
    const cvq_plugin_quantizer* table) {
  if (table == nullptr) {
    return absl::InvalidArgumentError("plugin quantizer table is null");
  }
  if (table->struct_size < sizeof(cvq_plugin_quantizer)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "plugin quantizer table has struct_size ", table->struct_size,
        ": expected at least ", sizeof(cvq_plugin_quantizer)));
  }
  if (table->name == nullptr || !ParseQuantizerSpec(table->name).ok() ||
      absl::string_view(table->name).find(':') != absl::string_view::npos) {
    return absl::InvalidArgumentError(absl::StrCat(
        "plugin quantizer name ",
        table->name ? absl::StrCat("'", table->name, "'") : "(null)",
        " is invalid: expected [a-z0-9_]+"));
  }
  if (!table->train || !table->deserialize || !table->destroy ||
      !table->layout || !table->parameter_bytes || !table->serialize ||
      !table->encode || !table->decode) {
    return absl::InvalidArgumentError(absl::StrCat(
        "plugin quantizer '", table->name, "' has a null function pointer"));
  }
  if (table->num_options > 0 && table->options == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat(
        "plugin quantizer '", table->name, "' declares ", table->num_options,
        " options but its option table is null"));
  }
  QuantizerDescription description;
  description.name = table->name;
  description.summary = table->summary ? table->summary : "";
  for (uint32_t i = 0; i < table->num_options; ++i) {
    CVQ_ASSIGN_OR_RETURN(OptionDef def,
                         ConvertOption(table->name, table->options[i]));
    description.options.push_back(std::move(def));
  }
  return std::unique_ptr<QuantizerFactory>(
      std::make_unique<PluginQuantizerFactory>(table, std::move(description)));
}

}  // namespace commvq
