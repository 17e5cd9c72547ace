// Test fixture: a real Supervisor without cgroups on a private state dir,
// using the built rackos-monitor; every workload it started is killed and the
// dir removed afterwards. Shared by the node API and link handler tests.
#pragma once

#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>
#include <thread>

#include "shim/node_api.h"
#include "shim/supervisor.h"

namespace rackos::shim {

class SupervisorFixture : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = "/tmp/rackos-sup-test-" + std::to_string(::getpid());
    sup_ = std::make_unique<Supervisor>(SupervisorConfig{.node = "test", .state_dir = dir_, .monitor_path = MONITOR_BINARY,
                                                         .cpu_millis = 2000, .memory_bytes = 1ll << 30},
                                        nullptr);
    ASSERT_TRUE(sup_->init());
    status_.enforcement = "enforcement off: test";
  }
  void TearDown() override {
    for (auto& [id, p] : sup_->processes()) {
      if (p.pid.pid > 0 && p.state != ProcState::exited) ::kill(p.pid.pid, SIGKILL);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    sup_->check(1);
    sup_.reset();
    std::system(("rm -rf " + dir_).c_str());
  }

  // A start of `argv` as process `id` of service "svc" (cpu 100m:1, memory 16Mi:64Mi).
  static StartRequest start_request(const std::string& id, std::vector<std::string> argv,
                                    OnPartition op = OnPartition::keep) {
    StartRequest r;
    r.spec.id = id;
    r.spec.service = "svc";
    r.spec.envelope.cpu_millis = {100, 1000, 1000};
    r.spec.envelope.memory_bytes = {16 << 20, 64 << 20, 64 << 20};
    r.spec.on_partition = op;
    r.argv = std::move(argv);
    return r;
  }

  std::string dir_;
  std::unique_ptr<Supervisor> sup_;
  NodeStatus status_;
};

}  // namespace rackos::shim
