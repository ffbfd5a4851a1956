#include "commvq/cli/progress_bar.h"

#include <algorithm>
#include <cmath>
#include <utility>

#include "absl/strings/str_format.h"

namespace commvq {
namespace cli {
namespace {

// Runs shorter than this never show a bar.
constexpr std::chrono::milliseconds kQuietPeriod(1000);
// Redrawing on every update would flood a slow terminal.
constexpr std::chrono::milliseconds kRedrawInterval(100);
constexpr int kBarWidth = 30;

}  // namespace

ProgressBar::ProgressBar(std::string label, double total, std::ostream& out,
                         bool is_terminal, Clock clock)
    : label_(std::move(label)),
      total_(total),
      out_(out),
      is_terminal_(is_terminal),
      clock_(std::move(clock)),
      start_(clock_()) {}

ProgressBar::~ProgressBar() { Finish(); }

void ProgressBar::Update(double done) {
  if (!is_terminal_) return;
  std::lock_guard<std::mutex> lock(mu_);
  if (finished_) return;
  const auto now = clock_();
  if (now - start_ < kQuietPeriod) return;
  if (!drawn_.empty() && now - last_draw_ < kRedrawInterval) return;
  std::string text = Render(done, now);
  if (text == drawn_) return;
  // Pad with spaces to cover a longer previous text.
  const size_t width = std::max(text.size(), drawn_.size());
  out_ << '\r' << text << std::string(width - text.size(), ' ') << std::flush;
  drawn_ = std::move(text);
  last_draw_ = now;
}

void ProgressBar::Finish() {
  std::lock_guard<std::mutex> lock(mu_);
  if (finished_) return;
  finished_ = true;
  if (drawn_.empty()) return;
  out_ << '\r' << std::string(drawn_.size(), ' ') << '\r' << std::flush;
  drawn_.clear();
}

std::string ProgressBar::Render(
    double done, std::chrono::steady_clock::time_point now) const {
  const double fraction = std::clamp(done / total_, 0.0, 1.0);
  const int filled = static_cast<int>(fraction * kBarWidth);
  std::string bar(filled, '=');
  if (filled < kBarWidth) {
    bar += '>';
    bar.append(kBarWidth - filled - 1, ' ');
  }
  const auto elapsed =
      std::chrono::duration_cast<std::chrono::seconds>(now - start_);
  return absl::StrFormat("%s [%s] %3d%% %llds", label_, bar,
                         static_cast<int>(std::floor(fraction * 100.0)),
                         static_cast<long long>(elapsed.count()));
}

}  // namespace cli
}  // namespace commvq
