// The `mnemo` executable: initialises MPI (a single rank when not started by mpirun) and runs
// the command line. `mnemo actor` and `mnemo replay-shard` are no MPI processes (the children of actor
// and replay ranks, or processes joining a running job), so they start without MPI.
#include <mpi.h>

#include <string>
#include <vector>

#include "launch/cli.h"
#include "core/process.h"

int main(int argc, char** argv, char** envp) {
  mnemo::remember_startup_environment(envp);
  const bool mpi = !(argc > 1 && (std::string(argv[1]) == "actor" || std::string(argv[1]) == "replay-shard"));
  int provided = 0;
  if (mpi) MPI_Init_thread(&argc, &argv, MPI_THREAD_FUNNELED, &provided);
  std::vector<std::string> args(argv + 1, argv + argc);
  int rc = mnemo::launch::run_cli(args);
  int finalized = 0;
  if (mpi) MPI_Finalized(&finalized);
  if (mpi && !finalized) MPI_Finalize();
  return rc;
}
