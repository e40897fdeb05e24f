#pragma once

// A program run as a child process by the recovery tests (kill -9, crash
// hooks, restarts with the same command).

#include <csignal>
#include <stdexcept>
#include <string>
#include <vector>

#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

extern char** environ;

namespace flow::kafka::test {

/// A child process running `args` (argv[0] first) with this process's
/// environment plus `env` ("NAME=value"); killed (SIGKILL) and reaped by
/// the destructor if still running.
class child {
public:
  explicit child(const std::vector<std::string>& args,
                 const std::vector<std::string>& env = {}) {
    std::vector<char*> argv;
    for (auto& a : args)
      argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    std::vector<char*> envp;
    for (char** e = environ; *e; ++e)
      envp.push_back(*e);
    for (auto& e : env)
      envp.push_back(const_cast<char*>(e.c_str()));
    envp.push_back(nullptr);
    if (posix_spawn(&pid_, argv[0], nullptr, nullptr, argv.data(), envp.data()))
      throw std::runtime_error("cannot start " + args[0]);
  }
  ~child() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      wait();
    }
  }
  child(const child&) = delete;
  child& operator=(const child&) = delete;

  void signal(int sig) { ::kill(pid_, sig); }
  /// The exit code, or 128 + the signal that ended it.
  int wait() {
    int status = 0;
    ::waitpid(pid_, &status, 0);
    pid_ = -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  }
  /// As wait(), if the child has ended; -1 if it still runs.
  int poll() {
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) != pid_) return -1;
    pid_ = -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  }

private:
  pid_t pid_ = -1;
};

} // namespace flow::kafka::test
