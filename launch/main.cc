// The `mnemo` executable: initialises MPI (a single rank when not started by mpirun) and runs
// the command line.
#include <mpi.h>

#include <string>
#include <vector>

#include "launch/cli.h"
#include "launch/sweep.h"

int main(int argc, char** argv, char** envp) {
  mnemo::launch::remember_startup_environment(envp);
  int provided = 0;
  MPI_Init_thread(&argc, &argv, MPI_THREAD_FUNNELED, &provided);
  std::vector<std::string> args(argv + 1, argv + argc);
  int rc = mnemo::launch::run_cli(args);
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (!finalized) MPI_Finalize();
  return rc;
}
