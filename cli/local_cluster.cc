// Starting a cluster on one machine (see local_cluster.h).
#include "cli/local_cluster.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <cstdio>

#include "shim/state_root.h"

namespace rackos::local {

std::vector<std::string> controller_argv(const ControllerLaunch& c) {
  std::vector<std::string> argv{c.exe,          "controller", "--listen",    c.listen,     "--http",
                                c.http,         "--https",    c.https,       "--data-dir", c.data_dir,    "--token-file", c.token_file,
                                "--node-lease", c.lease,      "--allow-fault-injection", "--no-fsync"};
  if (c.insecure) argv.push_back("--insecure-no-tls");
  argv.insert(argv.end(), c.extra.begin(), c.extra.end());
  return argv;
}

std::vector<std::string> shim_argv(const NodeLaunch& n) {
  std::vector<std::string> argv{n.exe,         "shim",         "--node",   n.node,       "--cpu",
                                n.cpu,         "--memory",     n.memory,   "--state-dir", n.state_dir,
                                "--controller", n.controller,  "--token-file", n.token_file, "--node-lease",
                                n.lease,       "--label",      "rack=" + n.rack};
  if (!n.enforce) argv.push_back("--no-enforce");
  if (n.insecure) argv.push_back("--insecure-no-tls");
  return argv;
}

pid_t spawn_daemon(const std::vector<std::string>& argv, const std::string& log) {
  pid_t pid = ::fork();
  if (pid != 0) return pid;
  ::setpgid(0, 0);
  ::prctl(PR_SET_PDEATHSIG, SIGTERM);  // the starter gone: the daemons go too (workloads stay, as designed)
  int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd >= 0) {
    ::dup2(fd, 1);
    ::dup2(fd, 2);
  }
  int devnull = ::open("/dev/null", O_RDONLY);
  if (devnull >= 0) ::dup2(devnull, 0);
  sigset_t none;
  sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  ::execv(args[0], args.data());
  std::fprintf(stderr, "cannot run %s\n", args[0]);
  ::_exit(127);
}

std::string node_state_root(const std::string& name, const std::string& fallback) {
  const std::string root = shim::tmpfs_state_root();
  return root.empty() ? fallback : root + "/" + name;
}

}  // namespace rackos::local
