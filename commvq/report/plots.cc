#include "commvq/report/plots.h"

#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "commvq/base/status_macros.h"
#include "commvq/io/atomic_file.h"

extern char** environ;

namespace commvq {
namespace {

// Shared look: a 900x600 PNG, grid, legend outside the clutter.
std::string Header(const std::string& png, const std::string& title,
                   const std::string& xlabel, const std::string& ylabel) {
  return absl::StrCat("set terminal pngcairo size 900,600 font 'sans,11'\n",
                      "set output '", png, "'\n", "set title '", title, "'\n",
                      "set xlabel '", xlabel, "'\n", "set ylabel '", ylabel,
                      "'\n", "set grid\n", "set key outside right top\n");
}

std::string Block(const std::string& name, const std::string& rows) {
  return absl::StrCat("$", name, " << EOD\n", rows, "EOD\n");
}

// One colour per method, the same in every plot (index into
// report.methods); ten, so that the nine methods of the default run never
// share one (gnuplot's own cycle repeats after eight).
std::string MethodColour(size_t index) {
  static constexpr const char* kPalette[] = {
      "#000000", "#1f77b4", "#17becf", "#ff7f0e", "#d62728",
      "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#bcbd22"};
  constexpr size_t kColours = sizeof(kPalette) / sizeof(kPalette[0]);
  return absl::StrCat("lc rgb '", kPalette[index % kColours], "'");
}

PlotScript PplPlot(const ReproductionReport& report) {
  // Per method: a filled point with the window, an open one without, in the
  // method's colour; a legend instead of labels, which overlapped where
  // methods have nearly the same bits and perplexity.
  std::string blocks;
  std::vector<std::string> series;
  double lowest = HUGE_VAL, highest = 0;
  for (size_t i = 0; i < report.methods.size(); ++i) {
    const MethodResult& m = report.methods[i];
    if (!std::isfinite(m.bits_per_element)) continue;
    bool titled = false;
    for (const auto& [ppl, point] :
         {std::pair<double, int>{m.ppl, 7}, {m.ppl_window0, 6}}) {
      if (!std::isfinite(ppl)) continue;
      lowest = std::min(lowest, ppl);
      highest = std::max(highest, ppl);
      const std::string name = absl::StrCat(point == 7 ? "w" : "z", i);
      absl::StrAppend(&blocks,
                      Block(name, absl::StrFormat("\"%s\" %.4f %.5f\n", m.name,
                                                  m.bits_per_element, ppl)));
      series.push_back(absl::StrCat(
          "$", name, " using 2:3 with points pt ", point, " ps 1.8 ",
          MethodColour(i), " ",
          titled ? "notitle" : absl::StrCat("title '", m.name, "'")));
      titled = true;
    }
  }
  PlotScript plot{"ppl_vs_bits.png", ""};
  if (series.empty()) return plot;
  plot.script = Header(plot.png,
                       absl::StrCat("Perplexity vs stored bits per element (",
                                    report.model, ")"),
                       "stored bits per key/value element (log scale)",
                       "perplexity (decode mode)");
  absl::StrAppend(&plot.script, "set logscale x 2\nset xrange [0.7:24]\n",
                  "set offsets 0, 0, graph 0.05, graph 0.05\n");
  // A method that breaks the model (window 0 at 1 bit) would squash the
  // others into one line.
  if (highest > 3 * lowest) {
    absl::StrAppend(&plot.script, "set logscale y\n",
                    "set ylabel 'perplexity (decode mode, log scale)'\n");
  }
  // Legend entries for the two point shapes (NaN draws nothing).
  series.push_back(
      absl::StrCat("NaN with points pt 7 ps 1.8 lc rgb 'gray' "
                   "title 'filled: window ",
                   report.window, "'"));
  series.push_back(
      "NaN with points pt 6 ps 1.8 lc rgb 'gray' title 'open: window 0'");
  absl::StrAppend(&plot.script, blocks, "plot ", absl::StrJoin(series, ", "),
                  "\n");
  return plot;
}

PlotScript MemoryPlot(const ReproductionReport& report) {
  PlotScript plot{"kv_memory.png", ""};
  if (report.max_context <= 0) return plot;
  std::vector<std::string> series;
  std::string blocks;
  for (size_t i = 0; i < report.methods.size(); ++i) {
    const MethodResult& m = report.methods[i];
    if (!std::isfinite(m.kv_bytes_per_token())) continue;
    std::string rows;
    constexpr int kPoints = 32;
    for (int p = 0; p <= kPoints; ++p) {
      const int64_t context = report.max_context * p / kPoints;
      absl::StrAppendFormat(&rows, "%d %.6f\n", context,
                            KvBytesAtContext(report, m, context) / (1 << 20));
    }
    const std::string name = absl::StrCat("m", i);
    absl::StrAppend(&blocks, Block(name, rows));
    series.push_back(absl::StrCat("$", name, " using 1:2 with lines lw 2 ",
                                  MethodColour(i), " title '", m.name, "'"));
  }
  if (series.empty()) return plot;
  plot.script =
      Header(plot.png,
             absl::StrCat("KV-cache memory vs context (", report.model,
                          ", window ", report.window, ")"),
             "context length (tokens)", "KV cache (MiB, log scale)");
  absl::StrAppend(&plot.script, "set logscale y\n", blocks, "plot ",
                  absl::StrJoin(series, ", "), "\n");
  return plot;
}

PlotScript DecodePlot(const ReproductionReport& report) {
  PlotScript plot{"decode_time.png", ""};
  std::vector<std::string> series;
  std::string blocks;
  for (size_t i = 0; i < report.methods.size(); ++i) {
    const MethodResult& m = report.methods[i];
    std::string rows;
    for (const DecodeTiming& t : m.decode) {
      if (std::isfinite(t.microseconds)) {
        absl::StrAppendFormat(&rows, "%d %.3f\n", t.context, t.microseconds);
      }
    }
    if (rows.empty()) continue;
    const std::string name = absl::StrCat("m", i);
    absl::StrAppend(&blocks, Block(name, rows));
    series.push_back(absl::StrCat("$", name,
                                  " using 1:2 with linespoints lw 2 ",
                                  MethodColour(i), " title '", m.name, "'"));
  }
  if (series.empty()) return plot;
  plot.script = Header(
      plot.png, "Decode attention on the CPU (one token, all layers)",
      "context length (tokens)", "time per decoded token (microseconds)");
  absl::StrAppend(&plot.script, "set logscale xy\n", blocks, "plot ",
                  absl::StrJoin(series, ", "), "\n");
  return plot;
}

// Runs `program script` in `dir`; its exit status, or -1 when it cannot be
// started.
int RunIn(const std::string& dir, const std::string& program,
          const std::string& script) {
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  // gnuplot writes the output file relative to its working directory; the
  // script is read from there too. (posix_spawn has no chdir before glibc
  // 2.29's addchdir_np, which Debian 12 has.)
  posix_spawn_file_actions_addchdir_np(&actions, dir.c_str());
  std::string program_copy = program, script_copy = script;
  char* argv[] = {program_copy.data(), script_copy.data(), nullptr};
  pid_t pid = 0;
  const int started =
      posix_spawnp(&pid, program.c_str(), &actions, nullptr, argv, environ);
  posix_spawn_file_actions_destroy(&actions);
  if (started != 0) return -1;
  int status = 0;
  if (waitpid(pid, &status, 0) < 0 || !WIFEXITED(status)) return -1;
  return WEXITSTATUS(status);
}

}  // namespace

std::vector<PlotScript> PlotScripts(const ReproductionReport& report) {
  std::vector<PlotScript> plots;
  for (PlotScript plot :
       {PplPlot(report), MemoryPlot(report), DecodePlot(report)}) {
    if (!plot.script.empty()) plots.push_back(std::move(plot));
  }
  return plots;
}

absl::StatusOr<std::vector<std::string>> DrawPlots(
    const ReproductionReport& report, const std::string& dir,
    const std::string& gnuplot) {
  std::vector<std::string> written;
  for (const PlotScript& plot : PlotScripts(report)) {
    const std::string script =
        absl::StrCat(absl::StripSuffix(plot.png, ".png"), ".gp");
    CVQ_RETURN_IF_ERROR(
        WriteFileAtomically(absl::StrCat(dir, "/", script), plot.script));
    const int status = RunIn(dir, gnuplot, script);
    if (status != 0) {
      return absl::FailedPreconditionError(absl::StrCat(
          "cannot draw ", plot.png, ": '", gnuplot, " ", script, "' in ", dir,
          status < 0 ? " could not be started" : " failed",
          " (expected gnuplot with the pngcairo terminal: apt-get install "
          "gnuplot-nox, as setup.sh does)"));
    }
    written.push_back(plot.png);
  }
  return written;
}

}  // namespace commvq
