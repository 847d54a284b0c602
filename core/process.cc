#include "core/process.h"

#include <fcntl.h>
#include <spawn.h>
#include <sys/prctl.h>
#include <unistd.h>
#include <sys/wait.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <filesystem>

#include "core/check.h"

extern char** environ;

namespace mnemo {
namespace fs = std::filesystem;

namespace {

std::vector<std::string>& startup_environment() {
  static std::vector<std::string> env;
  return env;
}

bool mpi_variable(const std::string& entry) {
  for (const char* prefix : {"OMPI_", "PMIX_", "PMI_", "OPAL_PREFIX"})
    if (entry.rfind(prefix, 0) == 0) return true;
  return false;
}

// The startup environment, or the current one when main() did not remember it (tests).
std::vector<std::string> child_environment() {
  std::vector<std::string> env = startup_environment();
  if (env.empty())
    for (char** e = environ; *e != nullptr; ++e) env.emplace_back(*e);
  return env;
}

}  // namespace

std::string startup_variable(const std::string& name) {
  for (const std::string& e : child_environment())
    if (e.size() > name.size() && e.compare(0, name.size(), name) == 0 && e[name.size()] == '=')
      return e.substr(name.size() + 1);
  return "";
}

void remember_startup_environment(char** envp) {
  auto& env = startup_environment();
  env.clear();
  for (char** e = envp; e != nullptr && *e != nullptr; ++e) env.emplace_back(*e);
}

std::string self_exe() {
  std::error_code ec;
  fs::path p = fs::read_symlink("/proc/self/exe", ec);
  if (ec) throw Error("cannot find the mnemo executable (/proc/self/exe): " + ec.message());
  return p.string();
}

pid_t spawn_process(const std::string& exe, const std::vector<std::string>& args, const SpawnOptions& options) {
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  if (!options.output.empty()) {
    posix_spawn_file_actions_addopen(&fa, 1, options.output.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    posix_spawn_file_actions_adddup2(&fa, 1, 2);
  }
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  std::vector<std::string> argv_s = {exe};
  argv_s.insert(argv_s.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& a : argv_s) argv.push_back(a.data());
  argv.push_back(nullptr);
  std::vector<std::string> env = child_environment();
  for (const std::string& entry : options.set_env) {
    const std::string name = entry.substr(0, entry.find('=') + 1);
    env.erase(std::remove_if(env.begin(), env.end(), [&](const std::string& e) { return e.rfind(name, 0) == 0; }),
              env.end());
    env.push_back(entry);
  }
  std::vector<char*> envp;
  for (auto& e : env)
    if (!options.without_mpi || !mpi_variable(e)) envp.push_back(e.data());
  envp.push_back(nullptr);
  pid_t pid = 0;
  const bool search = exe.find('/') == std::string::npos;
  const int rc = (search ? posix_spawnp : posix_spawn)(&pid, exe.c_str(), &fa, nullptr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&fa);
  if (rc != 0) throw Error("cannot start " + exe + ": " + std::strerror(rc));
  return pid;
}

void stop_with_parent(pid_t parent) {
  if (prctl(PR_SET_PDEATHSIG, SIGTERM) != 0) throw Error(std::string("prctl(PR_SET_PDEATHSIG): ") + std::strerror(errno));
  if (getppid() != parent) throw Error("the supervising process " + std::to_string(parent) + " is gone");
}

std::string describe_exit(int status) {
  if (WIFEXITED(status)) return "exit code " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status))
    return "killed by signal " + std::to_string(WTERMSIG(status)) + " (" + strsignal(WTERMSIG(status)) + ")";
  return "status " + std::to_string(status);
}

}  // namespace mnemo
