// Conversions between core values (states, envelopes) and the rackos.v1 wire
// types, shared by the controller, the shim's controller link and the CLI.
#pragma once

#include <string_view>

#include "core/ids.h"
#include "core/service_spec.h"
#include "rackos/v1/types.pb.h"

namespace rackos {

v1::ProcessState to_proto(ProcessState s);
v1::NodeState to_proto(NodeState s);
std::string_view to_string(v1::ProcessState s);
std::string_view to_string(v1::NodeState s);
v1::Envelope to_proto(const Envelope& e);
Envelope from_proto(const v1::Envelope& e);

}  // namespace rackos
