// The JSON view of processes and nodes: one shape for `rackos ps --json`,
// `rackos nodes --json` and the controller's /state, so scripts can read either.
#pragma once

#include <nlohmann/json.hpp>

#include "rackos/v1/types.pb.h"

namespace rackos {

nlohmann::json process_json(const v1::ProcessInfo& p);
nlohmann::json node_json(const v1::NodeInfo& n);

}  // namespace rackos
