// rackos: one binary, many subcommands (in the way k3s ships one binary).
#include <cstdio>

#include "cli/commands.h"
#include "rackos_version.h"

namespace rackos::cli {

void add_version(CLI::App& app) {
  auto* cmd = app.add_subcommand("version", "Print the version and the wire protocol version");
  cmd->callback([] { std::printf("rackos %s (wire protocol v%d)\n", RACKOS_VERSION, RACKOS_WIRE_VERSION); });
}

}  // namespace rackos::cli

int main(int argc, char** argv) {
  CLI::App app{"rackos: a rack of Linux servers as one pile of CPU and RAM"};
  app.require_subcommand(1);
  rackos::cli::add_version(app);
  rackos::cli::add_validate(app);
  rackos::cli::add_plan(app);
  rackos::cli::add_shim(app, argc, argv);
  rackos::cli::add_sim(app);
  rackos::cli::add_controller(app, argc, argv);
  rackos::cli::add_up(app);
  rackos::cli::add_cluster_commands(app);
  rackos::cli::add_auth_commands(app);
  rackos::cli::add_explain(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::fprintf(stderr, "rackos: %s\n", e.what());
    return 2;
  }
  return 0;
}
