#include "commvq/cli/reproduce_stages.h"

#include <chrono>
#include <sstream>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "commvq/base/crc32c.h"
#include "commvq/base/status_macros.h"
#include "commvq/io/atomic_file.h"
#include "commvq/report/json.h"

namespace commvq {
namespace cli {
namespace {

bool FileExists(const std::string& path) {
  return MappedFile::Open(path).ok();
}

}  // namespace

StageRunner::StageRunner(std::string dir, CommandRunner runner,
                         std::ostream& log, int total, std::string program)
    : dir_(std::move(dir)), runner_(std::move(runner)), log_(log),
      total_(total), program_(std::move(program)) {}

absl::StatusOr<std::string> StageRunner::Fingerprint(const std::string& path) {
  auto it = fingerprints_.find(path);
  if (it != fingerprints_.end()) return it->second;
  auto file = MappedFile::Open(path);
  if (!file.ok()) {
    return absl::Status(file.status().code(),
                        absl::StrCat("input of a stage: ", file.status().message()));
  }
  const std::string fingerprint = absl::StrFormat(
      "%d %08x", file->data().size(), Crc32c(file->data()));
  fingerprints_[path] = fingerprint;
  return fingerprint;
}

absl::StatusOr<std::string> StageRunner::Key(const Stage& stage) {
  CVQ_ASSIGN_OR_RETURN(const std::string program, Fingerprint(program_));
  std::string key =
      absl::StrCat("program ", program, "\n", absl::StrJoin(stage.args, " "));
  for (const std::string& input : stage.inputs) {
    CVQ_ASSIGN_OR_RETURN(const std::string fingerprint, Fingerprint(input));
    absl::StrAppend(&key, "\ninput ", input, " ", fingerprint);
  }
  return key;
}

absl::StatusOr<StageResult> StageRunner::Run(const Stage& stage) {
  ++started_;
  log_ << absl::StrFormat("[%2d/%d] %s ...", started_, total_, stage.label)
       << std::flush;
  absl::StatusOr<std::string> key_or = Key(stage);
  if (!key_or.ok()) {
    log_ << " not run\n";
    return key_or.status();
  }
  const std::string& key = *key_or;
  const std::string record_path = absl::StrCat(dir_, "/", stage.id, ".json");

  // A record with the same key, and outputs still in place, is the result.
  if (auto record_text = ReadFile(record_path); record_text.ok()) {
    auto record = ParseJson(*record_text);
    bool outputs_exist = true;
    for (const std::string& output : stage.outputs) {
      outputs_exist = outputs_exist && FileExists(output);
    }
    const JsonValue* recorded_key = record.ok() ? record->Find("key") : nullptr;
    const JsonValue* out = record.ok() ? record->Find("stdout") : nullptr;
    if (outputs_exist && recorded_key != nullptr && out != nullptr &&
        recorded_key->string_value() == key) {
      StageResult result;
      result.stdout_text = out->string_value();
      result.seconds = GetJsonNumber(*record, "seconds").value_or(0.0);
      result.cached = true;
      log_ << " cached\n";
      return result;
    }
  }

  if (stage.prepare) CVQ_RETURN_IF_ERROR(stage.prepare());
  std::vector<std::string> args = stage.args;
  args.insert(args.end(), stage.run_args.begin(), stage.run_args.end());
  std::ostringstream out, err;
  const CliIo io{out, err, /*err_is_terminal=*/false};
  const auto start = std::chrono::steady_clock::now();
  const int status = runner_(args, io);
  const double seconds = std::chrono::duration<double>(
                             std::chrono::steady_clock::now() - start)
                             .count();
  ++runs_;
  // Outputs were (re)written: their fingerprints must be read again.
  for (const std::string& output : stage.outputs) fingerprints_.erase(output);
  if (status != 0) {
    log_ << absl::StrFormat(" failed after %.1f s\n", seconds);
    // The first line is the command's error; usage text may follow.
    std::string message = err.str();
    message = message.substr(0, message.find('\n'));
    return absl::InternalError(absl::StrCat(stage.label, " failed (commvq ",
                                            absl::StrJoin(args, " "), "): ",
                                            message));
  }
  log_ << absl::StrFormat(" %.1f s\n", seconds);
  JsonValue record = JsonValue::Object();
  record.Set("key", JsonValue::String(key));
  record.Set("seconds", JsonValue::Number(seconds));
  record.Set("stdout", JsonValue::String(out.str()));
  CVQ_RETURN_IF_ERROR(WriteFileAtomically(record_path, record.Serialize(1)));
  StageResult result;
  result.stdout_text = out.str();
  result.seconds = seconds;
  return result;
}

}  // namespace cli
}  // namespace commvq
