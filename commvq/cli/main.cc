// Entry point of the `commvq` tool; everything else lives in cli.h.
#include <unistd.h>

#include <iostream>
#include <string>
#include <vector>

#include "commvq/cli/cli.h"

int main(int argc, char** argv) {
  const std::vector<std::string> args(argv + 1, argv + argc);
  return commvq::cli::RunCli(
      args, {std::cout, std::cerr, isatty(STDERR_FILENO) == 1});
}
