// A GPT-2 style causal transformer (Radford et al. 2019): the backbone of the Decision
// Transformer (learners/dt.h) and of the language model that `mnemo pretrain-lm` trains, so that
// a DT can start from language-model weights ("Can Wikipedia Help Offline RL?", Reid et al. 2022).
//
// Parameter names and layouts are GPT-2's (Hugging Face `GPT2Model`): wte, wpe,
// h.<i>.ln_1, h.<i>.attn.c_attn, h.<i>.attn.c_proj, h.<i>.ln_2, h.<i>.mlp.c_fc, h.<i>.mlp.c_proj,
// ln_f; the c_* projections are GPT-2's Conv1D, whose weight is stored [in, out] (y = x W + b).
// A GPT-2 safetensors file therefore loads tensor for tensor, without transposes.
//
// Pre-LN blocks: x += attn(ln_1(x)); x += mlp(ln_2(x)); mlp = c_proj(gelu_tanh(c_fc(x))), with
// 4 * n_embd hidden units; attention is causal, scaled by 1/sqrt(head dim), optionally with a
// key padding mask; dropout after embeddings, attention weights and each residual branch.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

namespace mnemo {
struct SafeTensors;
}

namespace mnemo::nn {

struct GPTOptions {
  std::int64_t n_layer = 3;
  std::int64_t n_head = 1;
  std::int64_t n_embd = 128;
  std::int64_t n_positions = 1024;  // rows of wpe: the longest token sequence
  std::int64_t vocab_size = 0;      // rows of wte; 0: no token embedding (inputs are embeddings)
  double dropout = 0.1;
  double layer_norm_eps = 1e-5;
  template <class V>
  void visit(V& v) {
    v("n_layer", n_layer, "transformer blocks");
    v("n_head", n_head, "attention heads (must divide n_embd)");
    v("n_embd", n_embd, "model width");
    v("n_positions", n_positions, "longest token sequence (rows of the position embedding wpe)");
    v("vocab_size", vocab_size, "token vocabulary (rows of wte); 0 for a model fed embeddings only");
    v("dropout", dropout, "dropout on embeddings, attention weights and residual branches");
    v("layer_norm_eps", layer_norm_eps, "layer norm epsilon");
  }
  // Throws ConfigError naming the field for non-positive sizes or n_head not dividing n_embd.
  void validate() const;
};

// One pre-LN transformer block with GPT-2's parameter names.
class GPTBlockImpl : public torch::nn::Module {
 public:
  explicit GPTBlockImpl(const GPTOptions& options);
  // x [B, L, D]; allowed [B or 1, 1, L, L] bool (true: query i may attend to key j) -> [B, L, D].
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& allowed);

 private:
  GPTOptions options_;
  torch::nn::LayerNorm ln_1{nullptr}, ln_2{nullptr};
  torch::Tensor c_attn_w, c_attn_b, attn_c_proj_w, attn_c_proj_b;  // Conv1D [in, out]
  torch::Tensor c_fc_w, c_fc_b, mlp_c_proj_w, mlp_c_proj_b;
  torch::nn::Dropout attn_drop{nullptr}, resid_drop{nullptr};
};
TORCH_MODULE(GPTBlock);

class GPTImpl : public torch::nn::Module {
 public:
  explicit GPTImpl(const GPTOptions& options);
  // The transformer over given input embeddings x [B, L, D] (L <= n_positions): adds wpe when
  // `add_positions`, applies the blocks with a causal mask and, when `pad` is defined ([B, L]
  // bool, true for real tokens), masks padded keys; returns ln_f of the last block [B, L, D].
  // Outputs at padded query positions are defined (finite) but meaningless.
  torch::Tensor forward_embeds(const torch::Tensor& x, const torch::Tensor& pad = {}, bool add_positions = true);
  // Token ids [B, L] int64 -> hidden states [B, L, D] (wte + wpe). Requires vocab_size > 0.
  torch::Tensor forward_tokens(const torch::Tensor& ids, const torch::Tensor& pad = {});
  // Next-token logits from hidden states, with the output layer tied to wte: [B, L, vocab].
  torch::Tensor lm_logits(const torch::Tensor& hidden);
  // Mean cross-entropy of predicting ids[:, 1:] from ids[:, :-1] (ids [B, L], L >= 2).
  torch::Tensor lm_loss(const torch::Tensor& ids);
  const GPTOptions& options() const { return options_; }
  // The token embedding matrix [vocab, D] (undefined when vocab_size == 0).
  const torch::Tensor& token_embeddings() const { return wte; }

 private:
  GPTOptions options_;
  torch::Tensor wte, wpe;
  torch::nn::Dropout drop{nullptr};
  torch::nn::ModuleList h{nullptr};
  torch::nn::LayerNorm ln_f{nullptr};
};
TORCH_MODULE(GPT);

// Options matching the tensors of a GPT-2 checkpoint (n_layer, n_embd, n_positions and
// vocab_size from the shapes, n_head from the metadata key "n_head" when present, else
// `n_head`). Names may carry the "transformer." prefix of GPT2LMHeadModel. A "layer_norm_eps"
// metadata key (written by `mnemo pretrain-lm`) sets layer_norm_eps; dropout keeps its default.
GPTOptions gpt2_options(const SafeTensors& weights, std::int64_t n_head);

// Copies GPT-2-named tensors into `model`. Every parameter of the model must be present with the
// same shape; the "transformer." prefix, "lm_head.weight" (tied to wte) and the attention mask
// buffers of older files ("attn.bias", "attn.masked_bias") are accepted and ignored. With
// `skip_wte`, the token embedding is not required (a DT has no vocabulary). Throws mnemo::Error
// naming the file, the tensor and both shapes on a mismatch, and listing unexpected tensors.
// Returns the names loaded (GPT-2 names without the prefix: "wte.weight", "h.0.ln_1.weight", ...).
// Nothing is copied unless every tensor matches; other floating dtypes are converted on copy.
std::vector<std::string> load_gpt2_weights(GPTImpl& model, const SafeTensors& weights, const std::string& origin,
                                           bool skip_wte = false);
// The model's parameters under GPT-2 names, for save_safetensors.
std::vector<std::pair<std::string, torch::Tensor>> gpt2_named_tensors(const GPTImpl& model);

// A byte-level tokenizer: each UTF-8 byte is a token (vocabulary 256), plus kEndOfText between
// documents. Lossless for any text, so no vocabulary file is needed.
struct ByteTokenizer {
  static constexpr std::int64_t kEndOfText = 256;
  static constexpr std::int64_t kVocabSize = 257;
  static std::vector<std::int64_t> encode(const std::string& text);
  static std::string decode(const std::vector<std::int64_t>& ids);  // kEndOfText -> "\n\n"
};

// k-means (k-means++ initialisation, Lloyd iterations) of the rows of `points` [N, D] into k
// centres [k, D], deterministic for a seed. Reid et al. cluster the LM's token embeddings.
torch::Tensor kmeans(const torch::Tensor& points, std::int64_t k, std::int64_t iterations, std::uint64_t seed);

// Reid et al.'s similarity alignment loss: for each input embedding (rows of `inputs` [..., D]),
// the cosine similarity to its most similar centre; the loss is minus the mean over inputs, so
// every input representation is pulled towards some language embedding.
torch::Tensor similarity_alignment_loss(const torch::Tensor& inputs, const torch::Tensor& centres);

}  // namespace mnemo::nn
