// The subcommands of `rackos`, each registered on the CLI11 app by one
// function, and the few helpers they share.
#pragma once

#include <CLI/CLI.hpp>
#include <string>

#include "core/result.h"

namespace rackos::cli {

void add_version(CLI::App& app);
void add_validate(CLI::App& app);
void add_plan(CLI::App& app);
void add_shim(CLI::App& app, int argc, char** argv);
void add_sim(CLI::App& app);
void add_controller(CLI::App& app, int argc, char** argv);
void add_cluster_commands(CLI::App& app);  // run, apply, ps, nodes, top, logs, stop, scale, drain, node kill, events
void add_up(CLI::App& app);
void add_auth_commands(CLI::App& app);
void add_explain(CLI::App& app);           // a service's learned mins     // token create|list|revoke, user add|list|remove, whoami

// --controller and --config on a subcommand that talks to the controller.
std::string& controller_flag();
void add_controller_flag(CLI::App* cmd);

// The join token in a file (trimmed); an error names the file.
Result<std::string> read_token(const std::string& path);
// This binary's path (for spawning shims and the controller).
std::string self_exe();

}  // namespace rackos::cli
