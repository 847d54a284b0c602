// Data-parallel language-model pretraining under `mpirun -np 2`: the ranks stay identical, count
// each other's tokens, and `pretrain_lm` shares one run directory.
#include <gtest/gtest.h>
#include <mpi.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "core/models/safetensors.h"
#include "launch/pretrain_lm.h"
#include "learners/lm.h"

namespace mnemo {
namespace {
namespace fs = std::filesystem;

// One directory for both ranks, named after rank 0's process.
fs::path shared_dir() {
  int pid = static_cast<int>(::getpid());
  MPI_Bcast(&pid, 1, MPI_INT, 0, MPI_COMM_WORLD);
  return fs::temp_directory_path() / ("mnemo-mpi-lm-" + std::to_string(pid));
}

fs::path write_corpus(const fs::path& dir) {
  int rank = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  const fs::path p = dir / "corpus.txt";
  if (rank == 0) {
    fs::create_directories(dir);
    std::ofstream out(p);
    for (int d = 0; d < 200; ++d) out << "document " << d << " says hello to document " << (d * 7) % 200 << ".\n\n";
  }
  MPI_Barrier(MPI_COMM_WORLD);
  return p;
}

TEST(MpiPretrainLmTest, RanksStayIdenticalAndShareTheirTokens) {
  MPI_Comm world_comm = MPI_COMM_WORLD;
  auto comm = make_mpi_communicator(&world_comm);
  ASSERT_EQ(comm->size(), 2);
  const fs::path dir = shared_dir();
  learners::LMContext ctx;
  ctx.gpt.n_layer = 1;
  ctx.gpt.n_head = 2;
  ctx.gpt.n_embd = 16;
  ctx.gpt.n_positions = 32;
  ctx.gpt.vocab_size = nn::ByteTokenizer::kVocabSize;
  ctx.gpt.dropout = 0.1;  // different masks per rank; the averaged update keeps them equal
  ctx.options.block_size = 16;
  ctx.options.batch_size = 4;
  ctx.options.steps = 8;
  ctx.options.checkpoint_every = 0;
  ctx.corpus = std::make_shared<learners::LMCorpus>(learners::load_corpus(write_corpus(dir), 0.05, 16));
  ctx.comm = comm.get();
  ctx.run_dir = dir / "trainer";
  ctx.progress = false;
  ctx.seed = 5;
  learners::LMTrainer trainer(std::move(ctx));
  trainer.run();
  EXPECT_EQ(trainer.counters().tokens, 8 * 4 * 16 * 2);
  for (const auto& p : trainer.model().named_parameters()) {
    auto mine = p.value().detach().clone();
    auto sum = mine.clone();
    comm->allreduce_sum(sum);
    EXPECT_TRUE(torch::equal(sum, mine * 2)) << p.key() << " differs between ranks";
  }
  comm->barrier();
  if (comm->rank() == 0) fs::remove_all(dir);
}

TEST(MpiPretrainLmTest, PretrainLmWritesOneRunDirectoryAndWeights) {
  const fs::path dir = shared_dir();
  const fs::path corpus = write_corpus(dir);
  launch::PretrainArgs args;
  args.corpus = corpus.string();
  args.run_dir = (dir / "run").string();
  args.overrides = {"gpt.n_layer=1", "gpt.n_embd=32", "lm.block_size=16", "lm.batch_size=4", "lm.steps=6",
                    "run.progress=false", "run.log_level=warn"};
  const launch::PretrainResult r = launch::pretrain_lm(args);
  EXPECT_EQ(r.counters.steps, 6);
  EXPECT_EQ(r.counters.tokens, 6 * 4 * 16 * 2);
  int rank = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  EXPECT_TRUE(fs::exists(dir / "run" / "logs" / ("rank-" + std::to_string(rank) + ".log")));
  if (rank == 0) {
    const SafeTensors w = load_safetensors(dir / "run" / "lm.safetensors");
    EXPECT_EQ(w.metadata.at("n_embd"), "32");
  }
  MPI_Barrier(MPI_COMM_WORLD);
  if (rank == 0) fs::remove_all(dir);
}

}  // namespace
}  // namespace mnemo
