// A client of the shim's node API (see node_api.h): connect to
// <state-dir>/shim.sock, send one JSON request a line, read one answer.
// Used by the CLI, the tests and the controller.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "core/result.h"

namespace rackos::shim {

class NodeClient {
 public:
  explicit NodeClient(std::string socket_path, int timeout_ms = 5000)
      : path_(std::move(socket_path)), timeout_ms_(timeout_ms) {}
  ~NodeClient();
  NodeClient(const NodeClient&) = delete;
  NodeClient& operator=(const NodeClient&) = delete;

  // Sends a request and returns the answer; {"ok":false,...} answers are
  // returned as they are. Errors are connection problems, named with the path.
  Result<nlohmann::json> call(const nlohmann::json& request);
  // Like call, but an {"ok":false} answer becomes an Error with its text.
  Result<nlohmann::json> call_ok(const nlohmann::json& request);

 private:
  Result<bool> connect_once();
  std::string path_;
  int timeout_ms_;
  int fd_ = -1;
  std::string buf_;
};

}  // namespace rackos::shim
