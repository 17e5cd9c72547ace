// Building ServiceSpecs from text: YAML documents (`rackos apply -f`) and the
// CLI's flag strings (`rackos run --cpu 500m:2:4 --mem 64Mi:1Gi`). Parsing
// collects every problem, one error a line, and returns no spec when there is
// any: a bad spec changes nothing. Also prints a spec back in normal form.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"
#include "core/service_spec.h"

namespace rackos {

// One or more services, as YAML documents separated by `---` (or one document
// holding a `services:` list). Errors read "line 7: memory.max: ...".
// `admit`: also apply the admission limits (sizes, smallest envelope) — for
// specs users submit; the controller reloading its own store passes false.
Result<std::vector<ServiceSpec>> parse_services_yaml(std::string_view yaml_text, bool admit = true);

// "500m:2:4" -> {500, 2000, 4000}; "1:2" -> burst = max; "2" -> min=max=burst.
// `auto:MAX[:BURST]` (a learned min) only when `learned` is given: it is set,
// and the range's min is where learning starts.
Result<Range> parse_cpu_range(std::string_view text, LearnedMin* learned = nullptr);
Result<Range> parse_memory_range(std::string_view text, LearnedMin* learned = nullptr);
// "2:5" -> {2,5}; "3" -> {3,3}.
Result<InstanceRange> parse_instance_range(std::string_view text);
// "zone=eu1", "zone=eu1|eu2", "rack!=r3", "ssd".
Result<Constraint> parse_constraint(std::string_view text);

// The flags of `rackos run`, as the user typed them.
struct CliServiceArgs {
  std::string name;
  std::vector<std::string> command;
  std::string cpu = "100m:1";          // MIN:MAX[:BURST]
  std::string memory = "64Mi:256Mi";   // MIN:MAX[:BURST]
  std::string instances = "1";         // A[:B]
  std::string priority = "normal";
  std::string restart = "always";
  std::string on_partition;            // empty: the default for the instance count
  std::vector<std::string> env;        // KEY=VALUE
  std::vector<std::string> resources;  // NAME=COUNT
  std::vector<std::string> constraints;
  std::string workdir;
  std::string user;                    // empty: the node's unprivileged workload user
};
Result<ServiceSpec> parse_service_cli(const CliServiceArgs& args);

// The normalized YAML form of a spec (what `rackos validate` prints).
std::string format_service_yaml(const ServiceSpec& spec);

}  // namespace rackos
