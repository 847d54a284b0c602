// Child processes: the `mnemo` executable itself started again with other arguments (sweep
// trials, supervised actors), with the environment the process started with.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

namespace mnemo {

// Remembers the environment of main() for children: the one this process started with, before
// MPI_Init added its own variables (a child inheriting a singleton's PMIx variables would try to
// join its job).
void remember_startup_environment(char** envp);

// The path of the running executable (/proc/self/exe). Throws Error when it cannot be read.
std::string self_exe();

struct SpawnOptions {
  std::string output;        // append stdout and stderr to this file; empty: inherit them
  bool without_mpi = false;  // drop the MPI launcher's variables (OMPI_*, PMIX_*, PMI_*): the child is no rank
  std::vector<std::string> set_env;  // "NAME=value" entries replacing (or adding) those variables
};

// Starts `exe args...` with stdin from /dev/null; an `exe` without a '/' is looked up on PATH.
// Throws Error when it cannot start.
pid_t spawn_process(const std::string& exe, const std::vector<std::string>& args, const SpawnOptions& options);

// The value of variable `name` in the environment children get (see SpawnOptions), or "".
std::string startup_variable(const std::string& name);

// For a supervised child: SIGTERM arrives when process `parent` dies (Linux PR_SET_PDEATHSIG), so
// that no child outlives its rank. Throws Error when `parent` is already gone.
void stop_with_parent(pid_t parent);

// "exit code 3", "killed by signal 9 (Killed)": a waitpid() status for log lines.
std::string describe_exit(int status);

}  // namespace mnemo
