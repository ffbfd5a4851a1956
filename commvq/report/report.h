// The results of `commvq reproduce` and their written forms: report.json,
// report.md (also the table printed on stdout) and the goals of the
// reproduction checked against the numbers. Pure data and formatting: the
// pipeline (commvq/cli/reproduce*) fills a ReproductionReport, these
// functions never run anything.
//
// Missing measurements (a stage that failed or a method without that
// measurement) are NaN; they are written as null in JSON and "n/a" in text.
#ifndef COMMVQ_REPORT_REPORT_H_
#define COMMVQ_REPORT_REPORT_H_

#include <cstdint>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "commvq/report/json.h"

namespace commvq {

inline constexpr double kMissing = std::numeric_limits<double>::quiet_NaN();

// Decode-attention time of one method at one context length.
struct DecodeTiming {
  int64_t context = 0;      // cached tokens
  double microseconds = 0;  // per decoded token, all layers
};

struct MethodResult {
  std::string name;  // fp16, commvq-1, kivi-2, ...
  // Quantizer specs of keys and values (registry syntax or a codebook file).
  std::string key_spec;
  std::string value_spec;
  // The bit count papers quote (KIVI-2: 3.00 with its group overhead).
  double nominal_bits = kMissing;
  // Measured: stored bits per key/value element, side data included, the
  // mean of keys and values (CodeLayout::BitsPerElement).
  double bits_per_element = kMissing;
  // Perplexity in decode mode with the full-precision window, and without.
  double ppl = kMissing;
  double ppl_window0 = kMissing;
  double passkey_accuracy = kMissing;  // in [0, 1]
  // Stored bytes per token, all layers, outside the full-precision window.
  double key_bytes_per_token = kMissing;
  double value_bytes_per_token = kMissing;
  // Bytes that do not grow with the context (codebooks), all layers.
  double fixed_bytes = 0.0;
  // Means over layers on the evaluation dump (eval/kv_quality.h).
  double key_relative_mse = kMissing;
  double value_relative_mse = kMissing;
  double attention_output_error = kMissing;
  std::vector<DecodeTiming> decode;
  // Why measurements are missing ("ppl: <error>"), one per failed stage.
  std::vector<std::string> notes;

  double kv_bytes_per_token() const {
    return key_bytes_per_token + value_bytes_per_token;
  }
};

struct ReproductionReport {
  std::string model;        // model name
  int64_t max_context = 0;  // the model's trained context length
  int64_t window = 0;       // full-precision window of the `ppl` column
  // Bytes per token of the fp16 cache (2 bytes x keys and values x layers x
  // KV heads x head_dim): what the window tokens cost.
  double fp16_bytes_per_token = 0.0;
  // How the numbers were made: (setting, value) pairs shown in report.md,
  // e.g. ("evaluation tokens", "512").
  std::vector<std::pair<std::string, std::string>> settings;
  std::vector<MethodResult> methods;
  double seconds = 0.0;  // wall time of the whole run
  std::string command;   // the command line that made the report

  // The method named `name`, or null.
  const MethodResult* Find(const std::string& name) const;
};

// KV bytes of `method` holding `context` tokens: its fixed bytes, the most
// recent min(context, window) tokens at fp16, the rest at the method's bytes
// per token.
double KvBytesAtContext(const ReproductionReport& report,
                        const MethodResult& method, int64_t context);

// One goal of the reproduction (issue 10) and whether the numbers meet it.
struct Goal {
  std::string description;
  enum State { kMet, kNotMet, kUnknown } state = kUnknown;
  std::string detail;  // the numbers compared
};

// The goals, from fp16, commvq-1/2 and kivi-1/2 (kUnknown when a number is
// missing):
//  - ppl increase of commvq-2 at most kivi-2's, and ppl within 2% of fp16;
//  - ppl increase of commvq-1 at most a third of kivi-1's;
//  - passkey accuracy of commvq-2 equal to fp16's.
std::vector<Goal> EvaluateGoals(const ReproductionReport& report);

// report.json: {"model", "max_context", "window", "fp16_ppl", "seconds",
// "command", "settings": {..}, "methods": [{"name", "key_spec",
// "value_spec", "nominal_bits", "bits_per_element", "ppl", "ppl_window0",
// "passkey_accuracy", "kv_bytes_per_token", "key_bytes_per_token",
// "value_bytes_per_token", "fixed_bytes", "kv_bytes_at_max_context",
// "key_relative_mse", "value_relative_mse", "attention_output_error",
// "decode": [{"context", "microseconds"}], "notes": [..]}], "goals":
// [{"description", "state" ("met" | "not met" | "unknown"), "detail"}]}.
JsonValue ReportJson(const ReproductionReport& report);

// The results table (markdown, columns padded so it also reads as plain
// text), one row per method, ending in '\n'.
std::string ReportTable(const ReproductionReport& report);

// report.md: settings, the table, what the columns mean, the goals, notes of
// failed stages, and the plots (`plot_files`, relative paths; may be empty).
std::string ReportMarkdown(const ReproductionReport& report,
                           const std::vector<std::string>& plot_files);

}  // namespace commvq

#endif  // COMMVQ_REPORT_REPORT_H_
