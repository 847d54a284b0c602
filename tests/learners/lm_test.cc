// Tests of language-model pretraining: documents and tokens of a corpus, the held-out split,
// random windows, the learning-rate schedule, and the trainer (loss goes down, GPT-2 weights
// out, an exact resume).
#include "learners/lm.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <random>

#include "core/models/safetensors.h"
#include "core/runlog/checkpoint.h"
#include "core/runlog/metrics.h"

namespace mnemo::learners {
namespace {
namespace fs = std::filesystem;

std::vector<std::int64_t> values(const torch::Tensor& t) {
  auto l = t.to(torch::kLong).contiguous();
  return std::vector<std::int64_t>(l.data_ptr<std::int64_t>(), l.data_ptr<std::int64_t>() + l.numel());
}

// A corpus of short documents from a tiny grammar: learnable in a few dozen steps.
std::string grammar_corpus(int documents, unsigned seed) {
  const char* adj[] = {"quick", "lazy", "red", "small", "happy", "old"};
  const char* noun[] = {"fox", "dog", "cat", "bird", "robot", "agent"};
  const char* verb[] = {"jumps over", "chases", "sees", "follows"};
  std::mt19937 rng(seed);
  auto pick = [&rng](const auto& list) { return list[rng() % (sizeof(list) / sizeof(list[0]))]; };
  std::string text;
  for (int d = 0; d < documents; ++d) {
    if (d > 0) text += "\n\n";
    for (int s = 0; s < 3; ++s) {
      if (s > 0) text += "\n";
      text += std::string("the ") + pick(adj) + " " + pick(noun) + " " + pick(verb) + " the " + pick(adj) + " " +
              pick(noun) + ".";
    }
  }
  return text;
}

class LMTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("mnemo-lm-" + std::to_string(::getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  fs::path write(const std::string& name, const std::string& text) {
    const fs::path p = dir_ / name;
    std::ofstream(p, std::ios::binary) << text;
    return p;
  }

  std::string corpus_error(const std::string& text, double val_fraction, std::int64_t block_size) {
    try {
      load_corpus(write("bad.txt", text), val_fraction, block_size);
    } catch (const ConfigError& e) {
      return e.what();
    }
    ADD_FAILURE() << "the corpus was accepted";
    return "";
  }

  // A small, fast model and schedule; dropout 0 unless a test needs it.
  LMContext context(const fs::path& run_dir, std::int64_t steps) {
    LMContext ctx;
    ctx.gpt.n_layer = 2;
    ctx.gpt.n_head = 2;
    ctx.gpt.n_embd = 32;
    ctx.gpt.n_positions = 64;
    ctx.gpt.vocab_size = nn::ByteTokenizer::kVocabSize;
    ctx.gpt.dropout = 0.0;
    ctx.options.block_size = 32;
    ctx.options.batch_size = 8;
    ctx.options.steps = steps;
    ctx.options.lr = 3e-3;
    ctx.options.warmup = 5;
    ctx.options.eval_every = 10;
    ctx.options.eval_batches = 2;
    ctx.options.log_every = 5;
    ctx.options.checkpoint_every = 0;
    ctx.corpus = std::make_shared<LMCorpus>(load_corpus(write("corpus.txt", grammar_corpus(200, 1)), 0.05, 32));
    ctx.comm = &comm_;
    ctx.run_dir = run_dir;
    ctx.progress = false;
    return ctx;
  }

  fs::path dir_;
  SingleCommunicator comm_;
};

TEST(SplitDocumentsTest, BlankLinesSeparateDocumentsAndLinesWithinOneAreKept) {
  EXPECT_EQ(split_documents("a\nb\n\n\n  \t\nc\r\n\r\nd\n"), (std::vector<std::string>{"a\nb", "c\r", "d"}));
  EXPECT_EQ(split_documents("\n\nonly\n\n"), (std::vector<std::string>{"only"}));
  EXPECT_TRUE(split_documents("").empty());
  EXPECT_TRUE(split_documents(" \n\n\t\n").empty());
}

TEST(SplitDocumentsTest, DocumentsAreJoinedWithEndOfText) {
  auto t = tokenize_documents({"ab", "c"});
  EXPECT_EQ(t.scalar_type(), torch::kShort);
  EXPECT_EQ(values(t), (std::vector<std::int64_t>{'a', 'b', nn::ByteTokenizer::kEndOfText, 'c'}));
  // Bytes above 127 stay positive ids.
  EXPECT_EQ(values(tokenize_documents({"\xff"})), (std::vector<std::int64_t>{255}));
}

TEST_F(LMTest, TheLastFractionOfTheTokensIsHeldOut) {
  const std::string text = grammar_corpus(50, 2);
  const LMCorpus c = load_corpus(write("c.txt", text), /*val_fraction=*/0.1, /*block_size=*/16);
  const auto all = values(tokenize_documents(split_documents(text)));
  const auto n_val = static_cast<std::size_t>(static_cast<double>(all.size()) * 0.1);
  EXPECT_EQ(static_cast<std::size_t>(c.val.numel()), n_val);
  EXPECT_EQ(values(c.train), std::vector<std::int64_t>(all.begin(), all.end() - static_cast<std::ptrdiff_t>(n_val)));
  EXPECT_EQ(values(c.val), std::vector<std::int64_t>(all.end() - static_cast<std::ptrdiff_t>(n_val), all.end()));
  EXPECT_EQ(c.documents, 50);
  EXPECT_EQ(c.bytes, static_cast<std::int64_t>(text.size()));
  // Without validation everything trains.
  EXPECT_EQ(load_corpus(write("c.txt", text), /*val_fraction=*/0.0, /*block_size=*/16).train.numel(),
            static_cast<std::int64_t>(all.size()));
}

TEST_F(LMTest, MissingEmptyAndTooShortCorporaAreConfigErrors) {
  EXPECT_THROW(load_corpus(dir_ / "nope.txt", 0.05, 16), ConfigError);
  EXPECT_THROW(load_corpus("", 0.05, 16), ConfigError);
  EXPECT_NE(corpus_error("", 0.05, 16).find("holds no text"), std::string::npos);
  EXPECT_NE(corpus_error("\n \n\n", 0.05, 16).find("holds no text"), std::string::npos);
  const std::string err = corpus_error(std::string(100, 'x'), 0.05, 16);
  EXPECT_NE(err.find("100 tokens"), std::string::npos) << err;
  EXPECT_NE(err.find("lm.block_size + 1 = 17"), std::string::npos) << err;
  // 100 tokens are enough to train on windows of 17 when nothing is held out.
  EXPECT_NO_THROW(load_corpus(write("ok.txt", std::string(100, 'x')), 0.0, 16));
}

TEST(SampleWindowsTest, WindowsAreConsecutiveTokensAndDeterministicForASeed) {
  auto tokens = torch::arange(1000, torch::kShort);
  auto gen = at::make_generator<at::CPUGeneratorImpl>(7);
  auto w = sample_windows(tokens, /*batch=*/64, /*block_size=*/9, gen);
  ASSERT_EQ(w.sizes().vec(), (std::vector<std::int64_t>{64, 10}));
  EXPECT_EQ(w.scalar_type(), torch::kLong);
  EXPECT_TRUE(torch::equal(w.narrow(1, 1, 9) - w.narrow(1, 0, 9), torch::ones({64, 9}, torch::kLong)));
  EXPECT_GE(w.min().item<std::int64_t>(), 0);
  EXPECT_LE(w.max().item<std::int64_t>(), 999);
  auto gen2 = at::make_generator<at::CPUGeneratorImpl>(7);
  EXPECT_TRUE(torch::equal(w, sample_windows(tokens, 64, 9, gen2)));
  // A stream of exactly block_size + 1 tokens has one window.
  auto one = sample_windows(torch::arange(10, torch::kShort), /*batch=*/3, /*block_size=*/9, gen);
  EXPECT_TRUE(torch::equal(one, torch::arange(10, torch::kLong).expand({3, 10})));
  EXPECT_THROW(sample_windows(torch::arange(9, torch::kShort), 1, 9, gen), Error);
}

TEST(LearningRateTest, WarmsUpLinearlyThenDecaysByCosineToTheFloor) {
  LMOptions o;
  o.lr = 1e-3;
  o.warmup = 10;
  o.steps = 110;
  o.min_lr_ratio = 0.1;
  EXPECT_DOUBLE_EQ(lm_learning_rate(o, 0), 1e-4);
  EXPECT_DOUBLE_EQ(lm_learning_rate(o, 4), 5e-4);
  EXPECT_DOUBLE_EQ(lm_learning_rate(o, 9), 1e-3);
  EXPECT_DOUBLE_EQ(lm_learning_rate(o, 10), 1e-3);
  EXPECT_NEAR(lm_learning_rate(o, 10 + 99 / 2.0), 0.55e-3, 1e-5);  // halfway: mean of lr and floor
  EXPECT_NEAR(lm_learning_rate(o, 109), 1e-4, 1e-12);
  for (std::int64_t s = 10; s < 109; ++s) EXPECT_GE(lm_learning_rate(o, s), lm_learning_rate(o, s + 1)) << s;
  o.warmup = 0;
  EXPECT_DOUBLE_EQ(lm_learning_rate(o, 0), 1e-3);
}

TEST(LMOptionsTest, BadOptionsAreConfigErrorsNamingTheField) {
  auto message = [](LMOptions o) -> std::string {
    try {
      o.validate();
    } catch (const ConfigError& e) {
      return e.what();
    }
    return "";
  };
  LMOptions o;
  EXPECT_EQ(message(o), "");
  o.block_size = 0;
  EXPECT_NE(message(o).find("lm.block_size"), std::string::npos);
  o = LMOptions();
  o.val_fraction = 0.7;
  EXPECT_NE(message(o).find("lm.val_fraction"), std::string::npos);
  o = LMOptions();
  o.beta2 = 1.0;
  EXPECT_NE(message(o).find("lm.beta2"), std::string::npos);
}

TEST_F(LMTest, TrainingLowersTheLossAndWritesGpt2WeightsWithMetadata) {
  torch::manual_seed(0);
  const fs::path run = dir_ / "run";
  fs::create_directories(run);
  MetricsWriter metrics(run);
  LMContext ctx = context(run, /*steps=*/40);
  ctx.metrics = &metrics;
  LMTrainer trainer(std::move(ctx));
  trainer.run();
  EXPECT_EQ(trainer.counters().steps, 40);
  EXPECT_EQ(trainer.counters().tokens, 40 * 8 * 32);
  EXPECT_NEAR(trainer.first_val_loss(), std::log(257.0), 0.3);
  EXPECT_LT(trainer.last_val_loss(), 0.6 * trainer.first_val_loss());
  EXPECT_LT(trainer.last_loss(), trainer.first_loss());
  EXPECT_GT(trainer.tokens_per_second(), 0.0);

  const SafeTensors weights = load_safetensors(trainer.weights_path());
  EXPECT_EQ(weights.metadata.at("format"), "gpt2");
  EXPECT_EQ(weights.metadata.at("tokenizer"), "byte");
  EXPECT_EQ(weights.metadata.at("n_head"), "2");
  EXPECT_EQ(weights.metadata.at("n_layer"), "2");
  EXPECT_EQ(weights.metadata.at("n_embd"), "32");
  EXPECT_EQ(weights.metadata.at("n_positions"), "64");
  EXPECT_EQ(weights.metadata.at("vocab_size"), "257");
  nn::GPT loaded(nn::gpt2_options(weights, /*n_head=*/1));
  EXPECT_EQ(load_gpt2_weights(*loaded, weights, "lm.safetensors").size(), trainer.model().parameters().size());
  for (const auto& [name, t] : nn::gpt2_named_tensors(*loaded)) EXPECT_TRUE(torch::equal(t, weights.at(name))) << name;

  // Metrics: the validation loss at step 0 and at the end, training rows every log_every steps.
  std::ifstream in(metrics.jsonl_path());
  std::vector<std::string> lines;
  for (std::string l; std::getline(in, l);) lines.push_back(l);
  ASSERT_EQ(lines.size(), 1u + 40 / 5);
  EXPECT_NE(lines.front().find("\"step\": 0"), std::string::npos) << lines.front();
  EXPECT_NE(lines.front().find("\"val_loss\""), std::string::npos) << lines.front();
  for (const char* key : {"\"loss\"", "\"bits_per_byte\"", "\"tokens_per_s\"", "\"val_loss\"", "\"lr\""})
    EXPECT_NE(lines.back().find(key), std::string::npos) << key << " in " << lines.back();
  CheckpointManager mgr(run / "checkpoints");
  ASSERT_TRUE(mgr.latest().has_value());
  EXPECT_EQ(mgr.latest()->step, 40);
}

TEST_F(LMTest, AResumedRunEndsWithTheSameWeightsAsAnUninterruptedOne) {
  auto train = [&](const fs::path& run, bool resume, std::int64_t checkpoint_every) {
    LMContext ctx = context(run, /*steps=*/20);
    ctx.gpt.dropout = 0.1;  // the dropout masks must follow the steps too
    ctx.options.checkpoint_every = checkpoint_every;
    ctx.options.keep_checkpoints = 5;
    ctx.resume = resume;
    auto trainer = std::make_unique<LMTrainer>(std::move(ctx));
    trainer->run();
    return trainer;
  };
  auto straight = train(dir_ / "straight", /*resume=*/false, /*checkpoint_every=*/10);
  // A preemption after step 10: only the checkpoint of step 10 survives.
  auto broken = train(dir_ / "broken", /*resume=*/false, /*checkpoint_every=*/10);
  CheckpointManager mgr(dir_ / "broken" / "checkpoints");
  fs::remove_all(mgr.step_dir(20));
  fs::remove(dir_ / "broken" / "lm.safetensors");
  auto resumed = train(dir_ / "broken", /*resume=*/true, /*checkpoint_every=*/10);
  EXPECT_EQ(resumed->counters().steps, 20);
  EXPECT_EQ(resumed->counters().tokens, straight->counters().tokens);
  const auto a = straight->model().named_parameters(), b = resumed->model().named_parameters();
  for (const auto& p : a) EXPECT_TRUE(torch::equal(p.value(), b[p.key()])) << p.key();
  EXPECT_TRUE(fs::exists(dir_ / "broken" / "lm.safetensors"));
}

TEST_F(LMTest, ResumeWithoutACheckpointIsAnError) {
  LMContext ctx = context(dir_ / "empty-run", /*steps=*/5);
  ctx.resume = true;
  LMTrainer trainer(std::move(ctx));
  EXPECT_THROW(trainer.run(), Error);
}

TEST_F(LMTest, AnInterruptWritesACheckpointButNoWeightsFile) {
  std::atomic<bool> stop{true};
  LMContext ctx = context(dir_ / "stopped", /*steps=*/50);
  ctx.interrupt = &stop;
  LMTrainer trainer(std::move(ctx));
  trainer.run();
  EXPECT_EQ(trainer.counters().steps, 1);
  EXPECT_FALSE(fs::exists(trainer.weights_path()));
  CheckpointManager mgr(dir_ / "stopped" / "checkpoints");
  ASSERT_TRUE(mgr.latest().has_value());
  EXPECT_EQ(mgr.latest()->step, 1);
}

TEST_F(LMTest, ModelAndCorpusMismatchesAreConfigErrors) {
  LMContext small_vocab = context(dir_ / "x", /*steps=*/5);
  small_vocab.gpt.vocab_size = 256;
  EXPECT_THROW(LMTrainer{small_vocab}, ConfigError);
  LMContext long_block = context(dir_ / "x", /*steps=*/5);
  long_block.options.block_size = 65;
  EXPECT_THROW(LMTrainer{long_block}, ConfigError);
}

}  // namespace
}  // namespace mnemo::learners
