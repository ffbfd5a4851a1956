// Where a command writes its results, errors and progress.
#ifndef COMMVQ_CLI_CLI_IO_H_
#define COMMVQ_CLI_CLI_IO_H_

#include <ostream>

namespace commvq {
namespace cli {

// Where commands write. Results go to `out`; usage errors, failures and the
// progress bar go to `err`.
struct CliIo {
  std::ostream& out;
  std::ostream& err;
  // Whether `err` is a terminal, i.e. whether to draw progress bars.
  bool err_is_terminal = false;
};

}  // namespace cli
}  // namespace commvq

#endif  // COMMVQ_CLI_CLI_IO_H_
