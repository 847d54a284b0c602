// Tests of the GPT backbone: GPT-2's parameter names, shapes and init; causal and padding masks;
// GPT-2 safetensors files (Hugging Face layout) in and out; the language-model loss; the byte
// tokenizer; k-means and Reid et al.'s similarity alignment loss.
#include "core/models/gpt.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <set>

#include "core/models/safetensors.h"

namespace mnemo::nn {
namespace {
namespace fs = std::filesystem;

GPTOptions small_options(std::int64_t vocab = 11) {
  GPTOptions o;
  o.n_layer = 2;
  o.n_head = 2;
  o.n_embd = 8;
  o.n_positions = 16;
  o.vocab_size = vocab;
  o.dropout = 0.0;
  return o;
}

std::vector<std::int64_t> shape(const torch::Tensor& t) { return t.sizes().vec(); }

// The tensors of GPT-2 (Hugging Face GPT2Model) for the given sizes, in the order of its files.
std::vector<std::pair<std::string, std::vector<std::int64_t>>> gpt2_layout(const GPTOptions& o) {
  const std::int64_t d = o.n_embd;
  std::vector<std::pair<std::string, std::vector<std::int64_t>>> out;
  if (o.vocab_size > 0) out.push_back({"wte.weight", {o.vocab_size, d}});
  out.push_back({"wpe.weight", {o.n_positions, d}});
  for (std::int64_t i = 0; i < o.n_layer; ++i) {
    const std::string p = "h." + std::to_string(i) + ".";
    out.push_back({p + "ln_1.weight", {d}});
    out.push_back({p + "ln_1.bias", {d}});
    out.push_back({p + "attn.c_attn.weight", {d, 3 * d}});
    out.push_back({p + "attn.c_attn.bias", {3 * d}});
    out.push_back({p + "attn.c_proj.weight", {d, d}});
    out.push_back({p + "attn.c_proj.bias", {d}});
    out.push_back({p + "ln_2.weight", {d}});
    out.push_back({p + "ln_2.bias", {d}});
    out.push_back({p + "mlp.c_fc.weight", {d, 4 * d}});
    out.push_back({p + "mlp.c_fc.bias", {4 * d}});
    out.push_back({p + "mlp.c_proj.weight", {4 * d, d}});
    out.push_back({p + "mlp.c_proj.bias", {d}});
  }
  out.push_back({"ln_f.weight", {d}});
  out.push_back({"ln_f.bias", {d}});
  return out;
}

// Random values in every parameter, so that a copy that maps a tensor to the wrong place shows.
void randomise(GPTImpl& model) {
  torch::NoGradGuard no_grad;
  for (auto& p : model.parameters()) p.normal_(0.0, 0.5);
}

class GPTFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("mnemo-gpt-" + std::to_string(::getpid()));
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  // A file laid out as Hugging Face's GPT2LMHeadModel.save_pretrained writes one: "transformer."
  // prefixes, the causal-mask buffers attn.bias and attn.masked_bias, and the tied lm_head.
  fs::path write_hf_file(const GPT& model, const std::string& name,
                         const std::map<std::string, std::string>& metadata = {{"format", "pt"}}) {
    std::vector<std::pair<std::string, torch::Tensor>> tensors;
    const auto& o = model->options();
    for (const auto& [n, t] : gpt2_named_tensors(*model)) tensors.emplace_back("transformer." + n, t);
    for (std::int64_t i = 0; i < o.n_layer; ++i) {
      const std::string p = "transformer.h." + std::to_string(i) + ".attn.";
      tensors.emplace_back(p + "bias", torch::ones({o.n_positions, o.n_positions}, torch::kFloat)
                                           .tril()
                                           .view({1, 1, o.n_positions, o.n_positions}));
      tensors.emplace_back(p + "masked_bias", torch::tensor(-1e4f));
    }
    tensors.emplace_back("lm_head.weight", model->token_embeddings().detach().clone());
    const fs::path path = dir_ / name;
    save_safetensors(path, tensors, metadata);
    return path;
  }

  std::string load_error(GPTImpl& model, const SafeTensors& weights, bool skip_wte = false) {
    try {
      load_gpt2_weights(model, weights, "test.safetensors", skip_wte);
    } catch (const Error& e) {
      return e.what();
    }
    ADD_FAILURE() << "the weights loaded without an error";
    return "";
  }

  fs::path dir_;
};

TEST(GPTTest, ParameterNamesAndShapesAreGpt2s) {
  const auto o = small_options();
  GPT model(o);
  const auto params = model->named_parameters(/*recurse=*/true);
  const auto layout = gpt2_layout(o);
  ASSERT_EQ(params.size(), layout.size());
  for (std::size_t i = 0; i < layout.size(); ++i) {
    // named_parameters() calls the embeddings "wte" / "wpe"; GPT-2 files say "wte.weight".
    std::string expected = layout[i].first;
    if (expected == "wte.weight" || expected == "wpe.weight") expected = expected.substr(0, 3);
    EXPECT_EQ(params[i].key(), expected);
    EXPECT_EQ(shape(params[i].value()), layout[i].second) << expected;
  }
  const auto named = gpt2_named_tensors(*model);
  ASSERT_EQ(named.size(), layout.size());
  for (std::size_t i = 0; i < layout.size(); ++i) {
    EXPECT_EQ(named[i].first, layout[i].first);
    EXPECT_EQ(shape(named[i].second), layout[i].second);
  }
}

TEST(GPTTest, WithoutAVocabularyThereIsNoTokenEmbedding) {
  GPT model(small_options(/*vocab=*/0));
  EXPECT_FALSE(model->token_embeddings().defined());
  EXPECT_EQ(model->named_parameters().find("wte"), nullptr);
  EXPECT_THROW(model->forward_tokens(torch::zeros({1, 3}, torch::kLong)), Error);
}

TEST(GPTTest, InitialisationFollowsGpt2) {
  torch::manual_seed(0);
  GPTOptions o = small_options(/*vocab=*/300);
  o.n_embd = 64;
  o.n_layer = 4;
  o.n_positions = 256;
  GPT model(o);
  const double proj_std = 0.02 / std::sqrt(2.0 * 4);
  for (const auto& p : model->named_parameters()) {
    const std::string& n = p.key();
    const auto& t = p.value();
    if (n.find("ln_") != std::string::npos) {
      const double fill = n.find(".weight") != std::string::npos ? 1.0 : 0.0;
      EXPECT_TRUE(t.eq(fill).all().item<bool>()) << n;
    } else if (n.find(".bias") != std::string::npos) {
      EXPECT_TRUE(t.eq(0).all().item<bool>()) << n;
    } else {
      const double expected = n.find("c_proj") != std::string::npos ? proj_std : 0.02;
      EXPECT_NEAR(t.std().item<double>(), expected, 0.08 * expected) << n;
      EXPECT_NEAR(t.mean().item<double>(), 0.0, 0.1 * expected) << n;
    }
  }
}

TEST(GPTTest, ChangingAFutureTokenLeavesEarlierOutputsUnchanged) {
  torch::manual_seed(1);
  GPT model(small_options());
  model->train();  // dropout 0: training mode must still be causal
  auto ids = torch::randint(11, {2, 10}, torch::kLong);
  auto out = model->forward_tokens(ids);
  const std::int64_t t = 6;
  auto changed = ids.clone();
  changed.index_put_({torch::indexing::Slice(), t}, (ids.select(1, t) + 1) % 11);
  auto out2 = model->forward_tokens(changed);
  EXPECT_TRUE(torch::allclose(out.narrow(1, 0, t), out2.narrow(1, 0, t), /*rtol=*/0.0, /*atol=*/1e-6));
  EXPECT_FALSE(torch::allclose(out.narrow(1, t, 1), out2.narrow(1, t, 1)));
}

TEST(GPTTest, ChangingAFutureEmbeddingLeavesEarlierOutputsUnchanged) {
  torch::manual_seed(2);
  GPT model(small_options(/*vocab=*/0));
  model->train();
  auto x = torch::randn({3, 12, 8});
  auto out = model->forward_embeds(x);
  for (std::int64_t t : {0, 5, 11}) {
    auto y = x.clone();
    y.select(1, t).normal_();
    auto out2 = model->forward_embeds(y);
    EXPECT_TRUE(torch::allclose(out.narrow(1, 0, t), out2.narrow(1, 0, t), /*rtol=*/0.0, /*atol=*/1e-6)) << t;
    EXPECT_FALSE(torch::allclose(out.narrow(1, t, 1), out2.narrow(1, t, 1))) << t;
  }
}

TEST(GPTTest, PaddedKeysChangeNothingForRealQueries) {
  torch::manual_seed(3);
  GPT model(small_options(/*vocab=*/0));
  model->eval();
  const std::int64_t P = 4, L = 6;
  auto x = torch::randn({2, L, 8});
  auto reference = model->forward_embeds(x, {}, /*add_positions=*/false);
  // Left padding with garbage: the real tokens come after padded keys they could otherwise see.
  auto pad = torch::cat({torch::zeros({2, P}, torch::kBool), torch::ones({2, L}, torch::kBool)}, 1);
  for (int trial = 0; trial < 2; ++trial) {
    auto padded = torch::cat({torch::randn({2, P, 8}) * 10.0, x}, 1);
    auto out = model->forward_embeds(padded, pad, /*add_positions=*/false);
    EXPECT_TRUE(torch::allclose(out.narrow(1, P, L), reference, /*rtol=*/1e-5, /*atol=*/1e-5));
    // Padded queries see no real key; their outputs are meaningless but must stay finite.
    EXPECT_TRUE(torch::isfinite(out).all().item<bool>());
  }
}

TEST(GPTTest, PaddingInTheMiddleOfOneSequenceOnlyAffectsThatSequence) {
  torch::manual_seed(4);
  GPT model(small_options(/*vocab=*/0));
  model->eval();
  auto x = torch::randn({2, 8, 8});
  auto pad = torch::ones({2, 8}, torch::kBool);
  pad[1][3] = false;
  auto masked = model->forward_embeds(x, pad);
  auto plain = model->forward_embeds(x);
  EXPECT_TRUE(torch::allclose(masked[0], plain[0], /*rtol=*/1e-6, /*atol=*/1e-6));
  EXPECT_TRUE(torch::allclose(masked[1].narrow(0, 0, 3), plain[1].narrow(0, 0, 3), /*rtol=*/1e-6, /*atol=*/1e-6));
  // Later queries of sequence 1 lose key 3, and changing its embedding no longer matters to them.
  EXPECT_FALSE(torch::allclose(masked[1].narrow(0, 4, 4), plain[1].narrow(0, 4, 4)));
  auto y = x.clone();
  y[1][3].normal_();
  auto masked2 = model->forward_embeds(y, pad);
  EXPECT_TRUE(torch::allclose(masked2[1].narrow(0, 4, 4), masked[1].narrow(0, 4, 4), /*rtol=*/1e-5, /*atol=*/1e-5));
}

TEST(GPTTest, BadInputShapesAreErrorsThatNameTheShapes) {
  GPT model(small_options());
  try {
    model->forward_embeds(torch::zeros({1, 17, 8}));
    ADD_FAILURE() << "a sequence longer than n_positions was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("n_positions = 16"), std::string::npos) << e.what();
  }
  EXPECT_THROW(model->forward_embeds(torch::zeros({1, 4, 7})), Error);
  EXPECT_THROW(model->forward_embeds(torch::zeros({1, 4, 8}), torch::ones({1, 5}, torch::kBool)), Error);
  EXPECT_THROW(model->forward_tokens(torch::full({1, 4}, 11, torch::kLong)), Error);
  EXPECT_THROW(model->lm_loss(torch::zeros({2, 1}, torch::kLong)), Error);
}

TEST(GPTTest, ValidateRejectsBadOptionsNamingTheField) {
  auto message = [](GPTOptions o) -> std::string {
    try {
      o.validate();
    } catch (const ConfigError& e) {
      return e.what();
    }
    return "";
  };
  GPTOptions o = small_options();
  EXPECT_EQ(message(o), "");
  o.n_head = 3;
  EXPECT_NE(message(o).find("gpt.n_head"), std::string::npos);
  o = small_options();
  o.n_layer = 0;
  EXPECT_NE(message(o).find("gpt.n_layer"), std::string::npos);
  o = small_options();
  o.vocab_size = -1;
  EXPECT_NE(message(o).find("gpt.vocab_size"), std::string::npos);
  o = small_options();
  o.dropout = 1.0;
  EXPECT_NE(message(o).find("gpt.dropout"), std::string::npos);
  o = small_options();
  o.n_positions = 0;
  EXPECT_THROW(GPT{o}, ConfigError);
}

TEST(GPTTest, LmLossDecreasesWhenOverfittingATinyText) {
  torch::manual_seed(5);
  GPTOptions o;
  o.n_layer = 2;
  o.n_head = 2;
  o.n_embd = 32;
  o.n_positions = 64;
  o.vocab_size = ByteTokenizer::kVocabSize;
  o.dropout = 0.0;
  GPT model(o);
  const auto ids = ByteTokenizer::encode("the cat sat on the mat. the cat sat on the mat. the cat sat.");
  auto batch = torch::tensor(ids, torch::kLong).unsqueeze(0);
  torch::optim::Adam opt(model->parameters(), torch::optim::AdamOptions(3e-3));
  const double first = model->lm_loss(batch).item<double>();
  EXPECT_NEAR(first, std::log(257.0), 0.5);  // near uniform at initialisation
  double last = first;
  for (int step = 0; step < 150; ++step) {
    auto loss = model->lm_loss(batch);
    opt.zero_grad();
    loss.backward();
    opt.step();
    last = loss.item<double>();
  }
  EXPECT_LT(last, 0.5) << "from " << first;
}

TEST(GPTTest, LmLogitsAreTiedToTheTokenEmbedding) {
  GPT model(small_options());
  auto h = torch::randn({2, 3, 8});
  EXPECT_TRUE(torch::allclose(model->lm_logits(h), torch::matmul(h, model->token_embeddings().t())));
  EXPECT_EQ(shape(model->lm_logits(h)), (std::vector<std::int64_t>{2, 3, 11}));
}

TEST_F(GPTFileTest, AHuggingFaceGpt2FileLoadsAndMapsEveryTensor) {
  torch::manual_seed(6);
  GPT source(small_options());
  randomise(*source);
  const auto path = write_hf_file(source, "gpt2.safetensors");
  const SafeTensors weights = load_safetensors(path);
  const GPTOptions o = gpt2_options(weights, /*n_head=*/2);
  GPT target(o);
  const auto loaded = load_gpt2_weights(*target, weights, path.string());
  const auto layout = gpt2_layout(small_options());
  ASSERT_EQ(loaded.size(), layout.size());
  std::set<std::string> names(loaded.begin(), loaded.end());
  for (const auto& [name, sizes] : layout) EXPECT_EQ(names.count(name), 1u) << name;
  // Every tensor of the file reached the parameter of the same GPT-2 name, value for value.
  const auto target_named = gpt2_named_tensors(*target);
  for (const auto& [name, t] : target_named)
    EXPECT_TRUE(torch::equal(t, weights.at("transformer." + name))) << name;
  source->eval();
  target->eval();
  auto ids = torch::randint(11, {2, 9}, torch::kLong);
  EXPECT_TRUE(torch::equal(source->forward_tokens(ids), target->forward_tokens(ids)));
}

TEST_F(GPTFileTest, Gpt2NamedTensorsRoundTripThroughSafetensorsWithoutPrefix) {
  torch::manual_seed(7);
  GPT source(small_options());
  randomise(*source);
  const fs::path path = dir_ / "plain.safetensors";
  save_safetensors(path, gpt2_named_tensors(*source), {{"n_head", "2"}});
  const SafeTensors weights = load_safetensors(path);
  EXPECT_EQ(weights.tensors.count("wte.weight"), 1u);
  EXPECT_EQ(weights.tensors.count("h.1.mlp.c_proj.weight"), 1u);
  GPT target(gpt2_options(weights, /*n_head=*/1));  // the metadata's n_head wins
  EXPECT_EQ(target->options().n_head, 2);
  load_gpt2_weights(*target, weights, path.string());
  for (const auto& [name, t] : gpt2_named_tensors(*target)) EXPECT_TRUE(torch::equal(t, weights.at(name))) << name;
}

TEST_F(GPTFileTest, AHalfPrecisionFileLoadsByConversion) {
  torch::manual_seed(12);
  GPT source(small_options());
  std::vector<std::pair<std::string, torch::Tensor>> half;
  for (const auto& [name, t] : gpt2_named_tensors(*source)) half.emplace_back(name, t.to(torch::kHalf));
  const fs::path path = dir_ / "half.safetensors";
  save_safetensors(path, half);
  const SafeTensors weights = load_safetensors(path);
  GPT target(small_options());
  load_gpt2_weights(*target, weights, path.string());
  for (const auto& [name, t] : gpt2_named_tensors(*target)) {
    EXPECT_EQ(t.scalar_type(), torch::kFloat) << name;
    EXPECT_TRUE(torch::equal(t, weights.at(name).to(torch::kFloat))) << name;
  }
}

TEST_F(GPTFileTest, Gpt2OptionsInfersSizesFromTheShapes) {
  GPTOptions o = small_options(/*vocab=*/23);
  o.n_layer = 3;
  o.n_embd = 12;
  o.n_head = 3;
  o.n_positions = 20;
  GPT model(o);
  const SafeTensors weights = load_safetensors(write_hf_file(model, "sizes.safetensors"));
  const GPTOptions inferred = gpt2_options(weights, /*n_head=*/3);
  EXPECT_EQ(inferred.n_layer, 3);
  EXPECT_EQ(inferred.n_embd, 12);
  EXPECT_EQ(inferred.n_positions, 20);
  EXPECT_EQ(inferred.vocab_size, 23);
  EXPECT_EQ(inferred.n_head, 3);
  // An n_head that does not divide the width is a configuration error.
  EXPECT_THROW(gpt2_options(weights, /*n_head=*/5), ConfigError);
  SafeTensors no_wpe = weights;
  no_wpe.tensors.erase("transformer.wpe.weight");
  EXPECT_THROW(gpt2_options(no_wpe, /*n_head=*/3), Error);
}

TEST_F(GPTFileTest, AWrongShapeIsAnErrorNamingTheTensorAndBothShapes) {
  GPT model(small_options());
  SafeTensors weights = load_safetensors(write_hf_file(model, "shape.safetensors"));
  weights.tensors["transformer.h.1.attn.c_attn.weight"] = torch::zeros({24, 8});  // transposed
  GPT target(small_options());
  const auto before = target->named_parameters()["h.0.ln_1.weight"].clone();
  const std::string err = load_error(*target, weights);
  EXPECT_NE(err.find("test.safetensors"), std::string::npos) << err;
  EXPECT_NE(err.find("transformer.h.1.attn.c_attn.weight"), std::string::npos) << err;
  EXPECT_NE(err.find("file [24, 8], model [8, 24]"), std::string::npos) << err;
  // Nothing is copied when anything fails to match.
  EXPECT_TRUE(torch::equal(before, target->named_parameters()["h.0.ln_1.weight"]));
}

TEST_F(GPTFileTest, AMissingTensorIsAnErrorNamingIt) {
  GPT model(small_options());
  SafeTensors weights = load_safetensors(write_hf_file(model, "missing.safetensors"));
  weights.tensors.erase("transformer.h.0.mlp.c_fc.bias");
  GPT target(small_options());
  const std::string err = load_error(*target, weights);
  EXPECT_NE(err.find("missing: h.0.mlp.c_fc.bias [32]"), std::string::npos) << err;
}

TEST_F(GPTFileTest, UnexpectedTensorsAreListed) {
  GPT model(small_options());
  SafeTensors weights = load_safetensors(write_hf_file(model, "extra.safetensors"));
  weights.tensors["transformer.h.2.ln_1.weight"] = torch::zeros({8});
  weights.tensors["score.weight"] = torch::zeros({2, 8});
  GPT target(small_options());
  const std::string err = load_error(*target, weights);
  EXPECT_NE(err.find("unexpected: score.weight [2, 8], transformer.h.2.ln_1.weight [8]"), std::string::npos) << err;
}

TEST_F(GPTFileTest, SkipWteLoadsALanguageModelIntoAModelWithoutVocabulary) {
  torch::manual_seed(8);
  GPT lm(small_options());
  randomise(*lm);
  const SafeTensors weights = load_safetensors(write_hf_file(lm, "lm.safetensors"));
  GPTOptions o = gpt2_options(weights, /*n_head=*/2);
  o.vocab_size = 0;  // a Decision Transformer feeds embeddings
  GPT dt(o);
  const auto loaded = load_gpt2_weights(*dt, weights, "lm.safetensors", /*skip_wte=*/true);
  EXPECT_EQ(loaded.size(), gpt2_layout(small_options()).size() - 1);
  EXPECT_TRUE(torch::equal(dt->named_parameters()["h.1.attn.c_proj.weight"],
                           lm->named_parameters()["h.1.attn.c_proj.weight"]));
  // Without skip_wte the file's token embedding has nowhere to go.
  GPT dt2(o);
  EXPECT_NE(load_error(*dt2, weights).find("unexpected: transformer.wte.weight"), std::string::npos);
}

TEST(ByteTokenizerTest, RoundTripsArbitraryBytes) {
  std::string all;
  for (int b = 0; b < 256; ++b) all.push_back(static_cast<char>(b));
  const auto ids = ByteTokenizer::encode(all);
  ASSERT_EQ(ids.size(), 256u);
  for (int b = 0; b < 256; ++b) EXPECT_EQ(ids[static_cast<std::size_t>(b)], b);
  EXPECT_EQ(ByteTokenizer::decode(ids), all);
  auto gen = torch::randint(256, {4096}, torch::kLong);
  std::string random(4096, '\0');
  for (int i = 0; i < 4096; ++i) random[static_cast<std::size_t>(i)] = static_cast<char>(gen[i].item<int>());
  EXPECT_EQ(ByteTokenizer::decode(ByteTokenizer::encode(random)), random);
  const std::string utf8 = "na\xc3\xafve \xe2\x9c\x93\n\ttab";
  EXPECT_EQ(ByteTokenizer::decode(ByteTokenizer::encode(utf8)), utf8);
  EXPECT_TRUE(ByteTokenizer::encode("").empty());
}

TEST(ByteTokenizerTest, EndOfTextDecodesToABlankLineAndOutOfRangeIdsThrow) {
  EXPECT_EQ(ByteTokenizer::decode({'a', ByteTokenizer::kEndOfText, 'b'}), "a\n\nb");
  EXPECT_THROW(ByteTokenizer::decode({257}), Error);
  EXPECT_THROW(ByteTokenizer::decode({-1}), Error);
}

TEST(KMeansTest, FindsWellSeparatedClusters) {
  torch::manual_seed(9);
  auto truth = torch::tensor({{10.0f, 0.0f, 0.0f}, {0.0f, -10.0f, 0.0f}, {0.0f, 0.0f, 10.0f}, {-10.0f, 10.0f, -10.0f}});
  auto labels = torch::arange(200, torch::kLong) % 4;
  auto points = truth.index_select(0, labels) + 0.1f * torch::randn({200, 3});
  auto centres = kmeans(points, /*k=*/4, /*iterations=*/50, /*seed=*/3);
  ASSERT_EQ(shape(centres), (std::vector<std::int64_t>{4, 3}));
  EXPECT_EQ(centres.scalar_type(), torch::kFloat);
  // Each true centre has exactly one found centre near it.
  auto dist = torch::cdist(truth, centres);
  auto nearest = std::get<1>(dist.min(1));
  EXPECT_EQ(std::get<0>(torch::_unique(nearest)).numel(), 4);
  EXPECT_LT(std::get<0>(dist.min(1)).max().item<float>(), 0.1f);
}

TEST(KMeansTest, IsDeterministicForASeed) {
  torch::manual_seed(10);
  auto points = torch::randn({300, 5});
  auto a = kmeans(points, /*k=*/7, /*iterations=*/10, /*seed=*/42);
  torch::manual_seed(999);  // the global RNG plays no part
  auto b = kmeans(points, /*k=*/7, /*iterations=*/10, /*seed=*/42);
  EXPECT_TRUE(torch::equal(a, b));
  EXPECT_FALSE(torch::equal(a, kmeans(points, /*k=*/7, /*iterations=*/10, /*seed=*/43)));
}

TEST(KMeansTest, KAsLargeAsNReturnsThePointsAndLargerKIsAnError) {
  auto points = torch::tensor({{0.0f, 0.0f}, {1.0f, 0.0f}, {1.0f, 0.0f}});  // with a duplicate
  auto centres = kmeans(points, /*k=*/3, /*iterations=*/5, /*seed=*/1);
  auto sorted = std::get<0>(centres.select(1, 0).sort());
  EXPECT_TRUE(torch::equal(sorted, torch::tensor({0.0f, 1.0f, 1.0f})));
  try {
    kmeans(points, /*k=*/4, /*iterations=*/5, /*seed=*/1);
    ADD_FAILURE() << "k > N was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("k (4) exceeds the number of points (3)"), std::string::npos) << e.what();
  }
}

TEST(SimilarityAlignmentTest, LossIsMinusOneWhenInputsEqualCentresAndGradientsFlowToInputs) {
  torch::manual_seed(11);
  auto centres = torch::randn({5, 6});
  auto inputs = centres.index_select(0, torch::tensor({3, 0, 4, 4}, torch::kLong)).view({2, 2, 6});
  EXPECT_NEAR(similarity_alignment_loss(inputs, centres).item<double>(), -1.0, 1e-6);
  // Scaling changes nothing (cosine similarity).
  EXPECT_NEAR(similarity_alignment_loss(inputs * 3.0, centres).item<double>(), -1.0, 1e-6);

  auto x = torch::randn({4, 3, 6}, torch::requires_grad());
  auto loss = similarity_alignment_loss(x, centres);
  EXPECT_GT(loss.item<double>(), -1.0);
  loss.backward();
  ASSERT_TRUE(x.grad().defined());
  EXPECT_GT(x.grad().abs().sum().item<double>(), 0.0);
  // A gradient step pulls the inputs towards their centres.
  auto stepped = (x - 0.5 * x.grad()).detach();
  EXPECT_LT(similarity_alignment_loss(stepped, centres).item<double>(), loss.item<double>());
}

TEST(SimilarityAlignmentTest, MismatchedWidthsAreAnError) {
  EXPECT_THROW(similarity_alignment_loss(torch::zeros({2, 5}), torch::zeros({3, 6})), Error);
}

}  // namespace
}  // namespace mnemo::nn
