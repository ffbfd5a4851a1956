// The report's PNG plots, drawn by gnuplot (Debian's gnuplot-nox, installed
// by setup.sh) from self-contained scripts with the data inline:
//   ppl_vs_bits.png     perplexity vs stored bits per element, every method
//                       (with the window and without);
//   kv_memory.png       KV-cache memory vs context length up to the model's
//                       maximum;
//   decode_time.png     decode-attention time vs context length.
// Methods without the numbers a plot needs are left out of it; a plot with
// no data at all is not drawn.
#ifndef COMMVQ_REPORT_PLOTS_H_
#define COMMVQ_REPORT_PLOTS_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "commvq/report/report.h"

namespace commvq {

struct PlotScript {
  std::string png;     // file name, e.g. "ppl_vs_bits.png"
  std::string script;  // gnuplot commands writing `png` in the working folder
};

// The scripts of the plots that have data.
std::vector<PlotScript> PlotScripts(const ReproductionReport& report);

// Writes each script to `dir`/<name>.gp and runs `gnuplot` (a program name
// looked up on PATH, or a path) on it in `dir`. Returns the PNG file names
// written. FailedPrecondition naming the program when it cannot be run or
// fails (the scripts stay in `dir` to be run by hand).
absl::StatusOr<std::vector<std::string>> DrawPlots(
    const ReproductionReport& report, const std::string& dir,
    const std::string& gnuplot);

}  // namespace commvq

#endif  // COMMVQ_REPORT_PLOTS_H_
