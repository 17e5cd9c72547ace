// Node API client over a Unix socket (see node_client.h).
#include "shim/node_client.h"

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>

namespace rackos::shim {

NodeClient::~NodeClient() {
  if (fd_ >= 0) ::close(fd_);
}

Result<bool> NodeClient::connect_once() {
  if (fd_ >= 0) return true;
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path_.size() >= sizeof addr.sun_path) return Error{"socket path too long: " + path_};
  std::memcpy(addr.sun_path, path_.c_str(), path_.size() + 1);
  fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    int e = errno;
    ::close(fd_);
    fd_ = -1;
    return Error{"cannot reach the shim at " + path_ + ": " + std::strerror(e)};
  }
  return true;
}

Result<nlohmann::json> NodeClient::call(const nlohmann::json& request) {
  // One retry on a fresh connection: the shim may have been replaced.
  for (int attempt = 0; attempt < 2; ++attempt) {
    if (auto c = connect_once(); !c) return c.error();
    std::string line = request.dump() + "\n";
    bool sent = ::send(fd_, line.data(), line.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(line.size());
    auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms_);
    bool broken = !sent;
    while (!broken && buf_.find('\n') == std::string::npos) {
      int left = static_cast<int>(std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now()).count());
      if (left <= 0) {
        ::close(fd_);
        fd_ = -1;
        buf_.clear();
        return Error{"the shim at " + path_ + " did not answer within " + std::to_string(timeout_ms_) + " ms"};
      }
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, left) <= 0) continue;
      char tmp[65536];
      ssize_t n = ::read(fd_, tmp, sizeof tmp);
      if (n <= 0) broken = true;
      else buf_.append(tmp, static_cast<size_t>(n));
    }
    if (broken) {
      ::close(fd_);
      fd_ = -1;
      buf_.clear();
      if (attempt == 0) continue;
      return Error{"the shim at " + path_ + " closed the connection"};
    }
    size_t nl = buf_.find('\n');
    std::string answer = buf_.substr(0, nl);
    buf_.erase(0, nl + 1);
    try {
      return nlohmann::json::parse(answer);
    } catch (const std::exception& e) {
      return Error{"the shim at " + path_ + " sent a bad answer: " + e.what()};
    }
  }
  return Error{"the shim at " + path_ + " is not answering"};
}

Result<nlohmann::json> NodeClient::call_ok(const nlohmann::json& request) {
  auto r = call(request);
  if (!r) return r;
  if (!r->value("ok", false)) return Error{r->value("error", std::string("request failed"))};
  return r;
}

}  // namespace rackos::shim
