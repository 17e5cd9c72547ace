// The subcommands of `rackos`, each registered on the CLI11 app by one function.
#pragma once

#include <CLI/CLI.hpp>

namespace rackos::cli {

void add_version(CLI::App& app);
void add_validate(CLI::App& app);
void add_plan(CLI::App& app);
void add_shim(CLI::App& app, int argc, char** argv);
void add_sim(CLI::App& app);

}  // namespace rackos::cli
