#include "commvq/report/report.h"

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace commvq {

const MethodResult* ReproductionReport::Find(const std::string& name) const {
  for (const MethodResult& method : methods) {
    if (method.name == name) return &method;
  }
  return nullptr;
}

double KvBytesAtContext(const ReproductionReport& report,
                        const MethodResult& method, int64_t context) {
  const int64_t in_window = std::min(context, report.window);
  return method.fixed_bytes + in_window * report.fp16_bytes_per_token +
         (context - in_window) * method.kv_bytes_per_token();
}

namespace {

bool Known(double x) { return std::isfinite(x); }

std::string Fixed(double x, int digits) {
  return Known(x) ? absl::StrFormat("%.*f", digits, x) : "n/a";
}

std::string Scientific(double x) {
  return Known(x) ? absl::StrFormat("%.2e", x) : "n/a";
}

// Relative perplexity increase over fp16, in percent.
double IncreasePercent(double ppl, double fp16_ppl) {
  return 100.0 * (ppl / fp16_ppl - 1.0);
}

double Fp16Ppl(const ReproductionReport& report) {
  const MethodResult* fp16 = report.Find("fp16");
  return fp16 == nullptr ? kMissing : fp16->ppl;
}

Goal MakeGoal(std::string description, bool known, bool met,
              std::string detail) {
  Goal goal;
  goal.description = std::move(description);
  goal.state = !known ? Goal::kUnknown : met ? Goal::kMet : Goal::kNotMet;
  goal.detail = known ? std::move(detail) : "a measurement is missing";
  return goal;
}

double PplOf(const ReproductionReport& report, const std::string& name) {
  const MethodResult* method = report.Find(name);
  return method == nullptr ? kMissing : method->ppl;
}

double PasskeyOf(const ReproductionReport& report, const std::string& name) {
  const MethodResult* method = report.Find(name);
  return method == nullptr ? kMissing : method->passkey_accuracy;
}

std::string GoalStateName(Goal::State state) {
  switch (state) {
    case Goal::kMet: return "met";
    case Goal::kNotMet: return "not met";
    case Goal::kUnknown: break;
  }
  return "unknown";
}

}  // namespace

std::vector<Goal> EvaluateGoals(const ReproductionReport& report) {
  const double fp16 = Fp16Ppl(report);
  const double c1 = PplOf(report, "commvq-1"), c2 = PplOf(report, "commvq-2");
  const double k1 = PplOf(report, "kivi-1"), k2 = PplOf(report, "kivi-2");
  std::vector<Goal> goals;
  goals.push_back(MakeGoal(
      "CommVQ-2 perplexity increase no larger than KIVI-2's (3.00 bits)",
      Known(fp16) && Known(c2) && Known(k2), c2 - fp16 <= k2 - fp16,
      absl::StrFormat("commvq-2 %+.3f, kivi-2 %+.3f over fp16 %.3f", c2 - fp16,
                      k2 - fp16, fp16)));
  goals.push_back(MakeGoal(
      "CommVQ-2 perplexity within 2% of fp16", Known(fp16) && Known(c2),
      c2 <= 1.02 * fp16,
      absl::StrFormat("%+.2f%%", IncreasePercent(c2, fp16))));
  goals.push_back(MakeGoal(
      "CommVQ-1 perplexity increase at most a third of KIVI-1's (2.00 bits)",
      Known(fp16) && Known(c1) && Known(k1),
      c1 - fp16 <= (k1 - fp16) / 3.0,
      absl::StrFormat("commvq-1 %+.3f, kivi-1 %+.3f (a third: %+.3f)",
                      c1 - fp16, k1 - fp16, (k1 - fp16) / 3.0)));
  const double p2 = PasskeyOf(report, "commvq-2");
  const double pf = PasskeyOf(report, "fp16");
  goals.push_back(MakeGoal("CommVQ-2 passkey accuracy equal to fp16's",
                           Known(p2) && Known(pf), p2 == pf,
                           absl::StrFormat("commvq-2 %.0f%%, fp16 %.0f%%",
                                           100 * p2, 100 * pf)));
  return goals;
}

JsonValue ReportJson(const ReproductionReport& report) {
  JsonValue root = JsonValue::Object();
  root.Set("model", JsonValue::String(report.model));
  root.Set("max_context", JsonValue::Number(report.max_context));
  root.Set("window", JsonValue::Number(report.window));
  root.Set("fp16_ppl", JsonValue::Number(Fp16Ppl(report)));
  root.Set("seconds", JsonValue::Number(report.seconds));
  root.Set("command", JsonValue::String(report.command));
  JsonValue& settings = root.Set("settings", JsonValue::Object());
  for (const auto& [name, value] : report.settings) {
    settings.Set(name, JsonValue::String(value));
  }
  JsonValue& methods = root.Set("methods", JsonValue::Array());
  for (const MethodResult& m : report.methods) {
    JsonValue& j = methods.Append(JsonValue::Object());
    j.Set("name", JsonValue::String(m.name));
    j.Set("key_spec", JsonValue::String(m.key_spec));
    j.Set("value_spec", JsonValue::String(m.value_spec));
    j.Set("nominal_bits", JsonValue::Number(m.nominal_bits));
    j.Set("bits_per_element", JsonValue::Number(m.bits_per_element));
    j.Set("ppl", JsonValue::Number(m.ppl));
    j.Set("ppl_window0", JsonValue::Number(m.ppl_window0));
    j.Set("passkey_accuracy", JsonValue::Number(m.passkey_accuracy));
    j.Set("kv_bytes_per_token", JsonValue::Number(m.kv_bytes_per_token()));
    j.Set("key_bytes_per_token", JsonValue::Number(m.key_bytes_per_token));
    j.Set("value_bytes_per_token", JsonValue::Number(m.value_bytes_per_token));
    j.Set("fixed_bytes", JsonValue::Number(m.fixed_bytes));
    j.Set("kv_bytes_at_max_context",
          JsonValue::Number(KvBytesAtContext(report, m, report.max_context)));
    j.Set("key_relative_mse", JsonValue::Number(m.key_relative_mse));
    j.Set("value_relative_mse", JsonValue::Number(m.value_relative_mse));
    j.Set("attention_output_error",
          JsonValue::Number(m.attention_output_error));
    JsonValue& decode = j.Set("decode", JsonValue::Array());
    for (const DecodeTiming& t : m.decode) {
      JsonValue& point = decode.Append(JsonValue::Object());
      point.Set("context", JsonValue::Number(t.context));
      point.Set("microseconds", JsonValue::Number(t.microseconds));
    }
    JsonValue& notes = j.Set("notes", JsonValue::Array());
    for (const std::string& note : m.notes) {
      notes.Append(JsonValue::String(note));
    }
  }
  JsonValue& goals = root.Set("goals", JsonValue::Array());
  for (const Goal& goal : EvaluateGoals(report)) {
    JsonValue& j = goals.Append(JsonValue::Object());
    j.Set("description", JsonValue::String(goal.description));
    j.Set("state", JsonValue::String(GoalStateName(goal.state)));
    j.Set("detail", JsonValue::String(goal.detail));
  }
  return root;
}

std::string ReportTable(const ReproductionReport& report) {
  const double fp16 = Fp16Ppl(report);
  int64_t decode_context = 0;
  for (const MethodResult& m : report.methods) {
    for (const DecodeTiming& t : m.decode) {
      decode_context = std::max(decode_context, t.context);
    }
  }
  std::vector<std::vector<std::string>> rows = {
      {"method", "bits/elem", "paper bits", "KV bytes/token",
       absl::StrCat("ppl (window ", report.window, ")"), "vs fp16",
       "ppl (window 0)", "passkey", "key rel MSE", "value rel MSE",
       "attn out err",
       absl::StrCat("KV MiB @ ", report.max_context),
       decode_context > 0 ? absl::StrCat("decode us @ ", decode_context)
                          : "decode us"}};
  for (const MethodResult& m : report.methods) {
    double decode_us = kMissing;
    for (const DecodeTiming& t : m.decode) {
      if (t.context == decode_context) decode_us = t.microseconds;
    }
    const double increase = IncreasePercent(m.ppl, fp16);
    rows.push_back(
        {m.name, Fixed(m.bits_per_element, 2), Fixed(m.nominal_bits, 2),
         Fixed(m.kv_bytes_per_token(), 0), Fixed(m.ppl, 3),
         Known(increase) ? absl::StrFormat("%+.1f%%", increase) : "n/a",
         Fixed(m.ppl_window0, 3),
         Known(m.passkey_accuracy)
             ? absl::StrFormat("%.0f%%", 100 * m.passkey_accuracy)
             : "n/a",
         Scientific(m.key_relative_mse), Scientific(m.value_relative_mse),
         Scientific(m.attention_output_error),
         Fixed(KvBytesAtContext(report, m, report.max_context) / (1 << 20), 1),
         Fixed(decode_us, 0)});
  }
  std::vector<size_t> width(rows[0].size(), 0);
  for (const auto& row : rows) {
    for (size_t c = 0; c < row.size(); ++c) {
      width[c] = std::max(width[c], row[c].size());
    }
  }
  std::string out;
  const auto append_row = [&](const std::vector<std::string>& row) {
    out += "|";
    for (size_t c = 0; c < row.size(); ++c) {
      // The method name is left-aligned, numbers right-aligned.
      const std::string pad(width[c] - row[c].size(), ' ');
      absl::StrAppend(&out, " ", c == 0 ? row[c] + pad : pad + row[c], " |");
    }
    out += "\n";
  };
  append_row(rows[0]);
  out += "|";
  for (size_t c = 0; c < width.size(); ++c) {
    absl::StrAppend(&out, c == 0 ? ":" : "", std::string(width[c] + 1, '-'),
                    c == 0 ? "|" : ":|");
  }
  out += "\n";
  for (size_t r = 1; r < rows.size(); ++r) append_row(rows[r]);
  return out;
}

std::string ReportMarkdown(const ReproductionReport& report,
                           const std::vector<std::string>& plot_files) {
  std::string md = absl::StrCat("# CommVQ reproduction: ", report.model,
                                "\n\nMade by `", report.command, "` in ",
                                absl::StrFormat("%.0f", report.seconds),
                                " s.\n\n| setting | value |\n|---|---|\n");
  for (const auto& [name, value] : report.settings) {
    absl::StrAppend(&md, "| ", name, " | ", value, " |\n");
  }
  absl::StrAppend(&md, "\n## Results\n\n", ReportTable(report), "\n");
  absl::StrAppend(
      &md,
      "- **bits/elem**: stored bits per key/value element, side data (scales, "
      "zero points, norms) included, mean of keys and values; **paper "
      "bits** is the count papers quote.\n"
      "- **KV bytes/token**: keys + values of all layers for one token "
      "outside the full-precision window.\n"
      "- **ppl**: perplexity of the evaluation text in decode mode (one "
      "token per forward call) through the method's cache, with the most "
      "recent ",
      report.window,
      " tokens kept in full precision, and with none (window 0).\n"
      "- **passkey**: fraction of passkey trials answered exactly; the "
      "prompt is prefilled in full precision in one call and the answer is "
      "decoded on the method's cache (the official CommVQ runtime's policy): "
      "the digits after the first are generated attending to the compressed "
      "prompt.\n"
      "- **key/value rel MSE**, **attn out err**: held-out reconstruction "
      "error of pre-RoPE keys and values and relative error of the attention "
      "output with the model's real queries, means over layers.\n"
      "- **KV MiB @ N**: the whole KV cache at the model's maximum context, "
      "window and codebooks included.\n"
      "- **decode us @ N**: CPU time of decode attention (one new token, all "
      "layers and heads) over N cached tokens.\n\n## Goals\n\n");
  for (const Goal& goal : EvaluateGoals(report)) {
    absl::StrAppend(&md, "- ", goal.description, ": **",
                    GoalStateName(goal.state), "** (", goal.detail, ")\n");
  }
  bool any_note = false;
  for (const MethodResult& m : report.methods) {
    for (const std::string& note : m.notes) {
      if (!any_note) md += "\n## Missing measurements\n\n";
      any_note = true;
      absl::StrAppend(&md, "- ", m.name, ": ", note, "\n");
    }
  }
  if (!plot_files.empty()) md += "\n## Plots\n\n";
  for (const std::string& file : plot_files) {
    absl::StrAppend(&md, "![", file, "](", file, ")\n\n");
  }
  return md;
}

}  // namespace commvq
