// Supervisor tests with real monitors: a start handed to a monitor by a shim
// that then died ends cancelled (never an unknown copy); monitors enforce the
// node lease for at-most-one workloads themselves; retained logs are capped
// per node, and a service's records can be forgotten once they exit.
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>

#include <filesystem>
#include <fstream>

#include "shim/cgroup_files.h"
#include "shim/launch_spec.h"
#include "shim/node_lease.h"
#include "shim/supervisor_fixture.h"

extern char** environ;

namespace rackos::shim {
namespace {

class SupervisorTest : public SupervisorFixture {
 protected:
  StartRequest request(const std::string& id, std::vector<std::string> argv, OnPartition op = OnPartition::keep) {
    return start_request(id, std::move(argv), op);
  }
  // Runs the loop's part until `id` has exited (or the time is up).
  bool wait_exit(const std::string& id, int ms = 3000) {
    for (int i = 0; i < ms / 10; ++i) {
      auto it = sup_->processes().find(id);
      if (it == sup_->processes().end() || it->second.state == ProcState::exited) return true;
      sup_->pidfd_ready(id, monotonic_ms());
      sup_->check(monotonic_ms());
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return false;
  }
  // A supervisor whose at-most-one workloads' monitors enforce the node lease
  // in `lease_` (armed until now + `armed_ms`), killing `grace_ms` after it lapses.
  void supervise_with_lease(int64_t armed_ms, int64_t grace_ms) {
    const std::string lease_path = dir_ + "/lease";
    ASSERT_TRUE(NodeLease::open_writer(lease_path, lease_));
    lease_.renew(lease_clock_ms() + armed_ms);
    sup_ = std::make_unique<Supervisor>(SupervisorConfig{.node = "test", .state_dir = dir_, .monitor_path = MONITOR_BINARY,
                                                         .cpu_millis = 2000, .memory_bytes = 1ll << 30,
                                                         .lease_file = lease_path, .fence_grace_ms = grace_ms,
                                                         .workload_user = ""},  // writes in the test's dir: as root
                                        nullptr);  // no cgroups: the freeze is SIGSTOP
    ASSERT_TRUE(sup_->init());
  }
  NodeLease lease_;
};

// Live processes whose argv is exactly `argv`.
std::vector<int> find_processes(const std::vector<std::string>& argv) {
  std::string want;
  for (const auto& a : argv) want += a + '\0';
  std::vector<int> out;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator("/proc", ec)) {
    const int pid = std::atoi(e.path().filename().c_str());
    if (pid <= 0) continue;
    auto cmd = read_file(e.path().string() + "/cmdline");  // a process may exit mid-read: an error, not a throw
    if (cmd && *cmd == want && process_start_ticks(pid) != 0) out.push_back(pid);
  }
  return out;
}

TEST_F(SupervisorTest, AStartHandedToAStalledMonitorByADeadShimNeverRuns) {
  // What a shim does before handing a launch to a spare monitor...
  const std::string id = "t-0.1";
  const std::string pdir = dir_ + "/procs/" + id;
  ASSERT_TRUE(make_dir(pdir));
  ProcessSpec spec;
  spec.id = id;
  spec.service = "t";
  spec.envelope.cpu_millis = {100, 1000, 1000};
  spec.envelope.memory_bytes = {16 << 20, 64 << 20, 64 << 20};
  ASSERT_TRUE(write_atomic(pdir + "/spec.json", to_json(spec)));
  const std::vector<std::string> argv{"sleep", std::to_string(800000 + ::getpid() % 100000)};
  LaunchSpec launch;
  launch.argv = argv;
  ASSERT_TRUE(write_atomic(pdir + "/launch.json", to_json(launch)));
  int in[2];
  ASSERT_EQ(::pipe2(in, O_CLOEXEC), 0);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, in[0], 0);
  std::string mon = MONITOR_BINARY, spare = "--spare";
  char* args[] = {mon.data(), spare.data(), nullptr};
  pid_t mpid = 0;
  ASSERT_EQ(posix_spawn(&mpid, args[0], &fa, nullptr, args, environ), 0);
  posix_spawn_file_actions_destroy(&fa);
  ::close(in[0]);
  // ...the monitor stalls (a loaded machine) as the shim hands it the launch
  // and dies.
  ::kill(mpid, SIGSTOP);
  const std::string line = pdir + "\n";
  ASSERT_EQ(::write(in[1], line.data(), line.size()), static_cast<ssize_t>(line.size()));
  ::close(in[1]);
  // The next shim adopts: no pid.json, no exit.json.
  Supervisor next(SupervisorConfig{.node = "test", .state_dir = dir_, .monitor_path = MONITOR_BINARY,
                                   .cpu_millis = 2000, .memory_bytes = 1ll << 30},
                  nullptr);
  ASSERT_TRUE(next.init());
  next.adopt_all(monotonic_ms());
  ASSERT_EQ(next.processes().count(id), 1u);
  EXPECT_EQ(next.processes().at(id).state, ProcState::exited);
  // The monitor wakes up: it must not start what the node has given up on.
  ::kill(mpid, SIGCONT);
  int st = 0;
  for (int i = 0; i < 300 && ::waitpid(mpid, &st, WNOHANG) == 0; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  const auto running = find_processes(argv);
  for (int pid : running) ::kill(pid, SIGKILL);
  EXPECT_TRUE(running.empty()) << "a launch the node recorded as never run is running (pid " << running.front() << ")";
  EXPECT_FALSE(std::filesystem::exists(pdir + "/pid.json"));
}

TEST_F(SupervisorTest, AMissingWorkdirIsNamedInTheStartError) {
  StartRequest r = request("nowhere", {"sleep", "1"});
  r.workdir = "/nonexistent/dir";
  auto started = sup_->start(r, monotonic_ms());
  ASSERT_FALSE(started);  // the monitor answers "error ..." at once
  const std::string why = started.error().message;
  EXPECT_NE(why.find("cannot enter its working directory /nonexistent/dir: No such file or directory"), std::string::npos)
      << why;
}

TEST_F(SupervisorTest, AStaleReadinessOfALiveProcessIsIgnored) {
  // The loop may report a pidfd ready from an fd number closed and reused
  // within one epoll batch: a live process must not be taken for exited.
  ASSERT_TRUE(sup_->start(request("live", {"sleep", "600"}), monotonic_ms()));
  sup_->pidfd_ready("live", monotonic_ms());
  sup_->check(monotonic_ms());
  EXPECT_EQ(sup_->processes().at("live").exit_seen_ms, -1);
  EXPECT_EQ(sup_->processes().at("live").state, ProcState::running);
}

// The scheduler state of a pid from /proc/PID/stat ('T': stopped), or 0 if gone.
char proc_state(int pid) {
  auto text = read_file("/proc/" + std::to_string(pid) + "/stat");
  if (!text) return 0;
  const size_t close = text->rfind(')');
  return close == std::string::npos || close + 2 >= text->size() ? 0 : (*text)[close + 2];
}

// Waits until `pred` holds (checked every 5 ms) or `ms` pass; returns when it held (lease clock), -1 if not.
template <typename Pred>
int64_t wait_for(Pred pred, int64_t ms) {
  const int64_t end = lease_clock_ms() + ms;
  while (lease_clock_ms() < end) {
    if (pred()) return lease_clock_ms();
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return pred() ? lease_clock_ms() : -1;
}

TEST_F(SupervisorTest, MonitorsFreezeAtMostOneWorkloadsPastTheLeaseThawOnRenewalAndKillAfterTheGrace) {
  ASSERT_NO_FATAL_FAILURE(supervise_with_lease(400, 800));
  NodeLease& lease = lease_;
  ASSERT_TRUE(sup_->start(request("one", {"sleep", "600"}, OnPartition::stop), monotonic_ms()));
  ASSERT_TRUE(sup_->start(request("many", {"sleep", "600"}, OnPartition::keep), monotonic_ms()));
  const int one = sup_->processes().at("one").pid.pid;
  const int many = sup_->processes().at("many").pid.pid;
  // Renewed: both run on past the first deadline. Nothing here drives the
  // supervisor's loop: the monitors act on their own.
  for (int i = 0; i < 8; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    lease.renew(lease_clock_ms() + 400);
  }
  EXPECT_NE(proc_state(one), 'T');
  // Not renewed (the shim is stalled): the at-most-one workload is frozen by
  // the deadline, the other keeps running.
  int64_t deadline = lease.deadline();
  int64_t frozen_at = wait_for([&] { return proc_state(one) == 'T'; }, 1000);
  ASSERT_GT(frozen_at, 0) << "the at-most-one workload ran on past the lease";
  EXPECT_LT(frozen_at - deadline, 200) << "frozen " << frozen_at - deadline << " ms after the deadline";
  EXPECT_TRUE(sup_->is_frozen(sup_->processes().at("one"))) << "the monitor marks it frozen for the shim";
  EXPECT_NE(proc_state(many), 'T');
  // Renewed within the grace (a new active controller answered): thawed, the same process.
  lease.renew(lease_clock_ms() + 400);
  ASSERT_GT(wait_for([&] { return proc_state(one) != 'T'; }, 300), 0) << "not thawed by the renewed lease";
  EXPECT_NE(proc_state(one), 0) << "thawed, not killed";
  EXPECT_FALSE(sup_->is_frozen(sup_->processes().at("one")));
  // Not renewed for the lease and the grace: frozen, then killed.
  deadline = lease.deadline();
  ASSERT_GT(wait_for([&] { return proc_state(one) == 'T'; }, 1000), 0);
  const int64_t gone_at = wait_for([&] { return proc_state(one) == 0 || proc_state(one) == 'Z'; }, 3000);
  ASSERT_GT(gone_at, 0) << "a frozen at-most-one workload outlived the lease and the grace";
  EXPECT_GE(gone_at - deadline, 800) << "killed before the grace ran out";
  EXPECT_LT(gone_at - deadline, 1200) << "killed " << gone_at - deadline << " ms after the deadline";
  EXPECT_NE(proc_state(many), 0);
  ASSERT_TRUE(wait_exit("one"));
  const auto& ex = *sup_->processes().at("one").exit;
  EXPECT_TRUE(ex.fenced);
  EXPECT_EQ(ex.signal, SIGKILL);
  EXPECT_NE(sup_->events().back().message.find("fenced"), std::string::npos) << sup_->events().back().message;
}

TEST_F(SupervisorTest, StoppingAFrozenWorkloadKillsItWithoutThawingItFirst) {
  // The controller placed it elsewhere while the node was cut off: on
  // reconnection its stale copy must die frozen, never run another instruction.
  ASSERT_NO_FATAL_FAILURE(supervise_with_lease(200, 60'000));
  // It counts while it runs; a thaw before the kill would show as one more line.
  const std::string out = dir_ + "/ticks";
  ASSERT_TRUE(sup_->start(request("one", {"sh", "-c", "while :; do echo x >> " + out + "; sleep 0.01; done"}, OnPartition::stop),
                          monotonic_ms()));
  const int one = sup_->processes().at("one").pid.pid;
  ASSERT_GT(wait_for([&] { return proc_state(one) == 'T'; }, 1000), 0);
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  const auto before = read_file(out);
  ASSERT_TRUE(before);
  ASSERT_TRUE(sup_->stop("one", 10'000, monotonic_ms()));  // even with a grace: frozen means killed now
  ASSERT_TRUE(wait_exit("one"));
  EXPECT_EQ(sup_->processes().at("one").exit->signal, SIGKILL);
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  auto after = read_file(out);
  ASSERT_TRUE(after);
  EXPECT_EQ(*after, *before) << "the frozen copy ran again before it died";
}

TEST_F(SupervisorTest, RetainedLogsAreCappedPerNodeAndForgottenRecordsGo) {
  sup_ = std::make_unique<Supervisor>(SupervisorConfig{.node = "test", .state_dir = dir_, .monitor_path = MONITOR_BINARY,
                                                       .cpu_millis = 2000, .memory_bytes = 1ll << 30,
                                                       .retained_log_bytes = 300 << 10},
                                      nullptr);
  ASSERT_TRUE(sup_->init());
  // Each writes 128 KiB and exits: three fit under 300 KiB, the fourth pushes the oldest out.
  for (int i = 0; i < 4; ++i) {
    const std::string id = "log-" + std::to_string(i);
    ASSERT_TRUE(sup_->start(request(id, {"sh", "-c", "head -c 131072 /dev/zero"}), monotonic_ms()));
    ASSERT_TRUE(wait_exit(id));
  }
  EXPECT_LE(sup_->retained_log_bytes(), 300 << 10);
  EXPECT_EQ(sup_->processes().count("log-0"), 0u) << "the oldest exited record should have gone";
  EXPECT_FALSE(std::filesystem::exists(dir_ + "/procs/log-0"));
  EXPECT_EQ(sup_->processes().count("log-3"), 1u);
  // A record marked to go (its service is gone) goes once it has exited.
  ASSERT_TRUE(sup_->start(request("bye", {"sleep", "0.1"}), monotonic_ms()));
  sup_->forget_when_exited("bye");
  ASSERT_TRUE(wait_exit("bye"));
  sup_->check(monotonic_ms());
  EXPECT_EQ(sup_->processes().count("bye"), 0u);
  EXPECT_FALSE(std::filesystem::exists(dir_ + "/procs/bye"));
}

}  // namespace
}  // namespace rackos::shim
