// A one-line progress bar for long-running commands, drawn on a terminal
// only: when the output is a file or a pipe (logs, tests, CI) it writes
// nothing, so progress never mixes with results.
//
// It also stays silent for the first second, so quick runs do not flicker,
// and erases its line when finished, leaving the terminal as it found it.
//
// Thread safety: Update may be called from several threads at once (e.g. a
// TrainOptions::progress callback run on a thread pool).
#ifndef COMMVQ_CLI_PROGRESS_BAR_H_
#define COMMVQ_CLI_PROGRESS_BAR_H_

#include <chrono>
#include <functional>
#include <mutex>
#include <ostream>
#include <string>

namespace commvq {
namespace cli {

class ProgressBar {
 public:
  using Clock = std::function<std::chrono::steady_clock::time_point()>;

  // Shows `label` and progress towards `total` (> 0) units on `out`, only if
  // `is_terminal` (main passes isatty(STDERR_FILENO)). `clock` tells the time;
  // tests pass a fake one.
  ProgressBar(std::string label, double total, std::ostream& out,
              bool is_terminal, Clock clock = std::chrono::steady_clock::now);
  ProgressBar(const ProgressBar&) = delete;
  ProgressBar& operator=(const ProgressBar&) = delete;
  // Finish()es.
  ~ProgressBar();

  // Records that `done` of `total` units are complete (clamped to
  // [0, total]); redraws at most every 100 ms, and only after the first
  // second.
  void Update(double done);

  // Erases the bar's line if it was drawn; later updates draw nothing.
  void Finish();

 private:
  // The bar's text for `done` units at time `now`, e.g.
  // "demo [=============>                ]  45% 3s".
  std::string Render(double done,
                     std::chrono::steady_clock::time_point now) const;

  const std::string label_;
  const double total_;
  std::ostream& out_;
  const bool is_terminal_;
  const Clock clock_;
  const std::chrono::steady_clock::time_point start_;

  std::mutex mu_;
  // Guarded by mu_.
  bool finished_ = false;
  std::string drawn_;  // the text on the line now; empty when none
  std::chrono::steady_clock::time_point last_draw_;
};

}  // namespace cli
}  // namespace commvq

#endif  // COMMVQ_CLI_PROGRESS_BAR_H_
