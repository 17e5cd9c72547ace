// `rackos validate -f FILE`: parse and check service specs; print each in
// normal form (exit 0) or every problem, one a line, naming the file (exit 1).
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "cli/commands.h"
#include "core/spec_parse.h"

namespace rackos::cli {

void add_validate(CLI::App& app) {
  auto* cmd = app.add_subcommand("validate", "Check service specs in a YAML file and print them normalized");
  static std::string file;
  cmd->add_option("-f,--file", file, "YAML file with one or more services ('-' for stdin)")->required();
  cmd->callback([] {
    std::stringstream text;
    if (file == "-") {
      text << std::cin.rdbuf();
    } else {
      std::ifstream in(file);
      if (!in) {
        std::fprintf(stderr, "rackos validate: cannot read %s\n", file.c_str());
        std::exit(1);
      }
      text << in.rdbuf();
    }
    auto specs = parse_services_yaml(text.str());
    if (!specs) {
      std::istringstream lines(specs.error().message);
      std::string line;
      while (std::getline(lines, line)) std::fprintf(stderr, "%s: %s\n", file.c_str(), line.c_str());
      std::exit(1);
    }
    bool first = true;
    for (const auto& spec : *specs) {
      if (!first) std::printf("---\n");
      first = false;
      std::fputs(format_service_yaml(spec).c_str(), stdout);
    }
  });
}

}  // namespace rackos::cli
