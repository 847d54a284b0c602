// The GPT-2 style transformer, GPT-2 weight I/O, the byte tokenizer and Reid et al.'s k-means
// alignment. See gpt.h.
#include "core/models/gpt.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <set>
#include <sstream>

#include "core/check.h"
#include "core/models/safetensors.h"

namespace mnemo::nn {
namespace {

std::string shape_str(at::IntArrayRef s) {
  std::ostringstream os;
  os << "[";
  for (std::size_t i = 0; i < s.size(); ++i) os << (i ? ", " : "") << s[i];
  os << "]";
  return os.str();
}

// GPT-2's Conv1D: y = x W + b with W stored [in, out]. A module of its own only so that the
// parameters come out as "<name>.weight" / "<name>.bias", as in GPT-2 files.
class Conv1DImpl : public torch::nn::Module {
 public:
  Conv1DImpl(std::int64_t in, std::int64_t out, double std) {
    weight = register_parameter("weight", torch::empty({in, out}));
    bias = register_parameter("bias", torch::zeros({out}));
    torch::NoGradGuard no_grad;
    weight.normal_(0.0, std);
  }
  torch::Tensor weight, bias;
};
TORCH_MODULE(Conv1D);

// The fill value for disallowed attention scores: the dtype's most negative finite value (as
// Hugging Face's GPT-2 does) rather than -inf, so a query with no allowed key (a padded query
// before any real token) gets a uniform, finite softmax instead of NaN.
double masked_score(at::ScalarType t) {
  switch (t) {
    case at::kDouble: return std::numeric_limits<double>::lowest();
    case at::kHalf: return -65504.0;
    case at::kBFloat16: return -3.0e38;  // bfloat16's largest finite magnitude is ~3.39e38
    default: return std::numeric_limits<float>::lowest();
  }
}

// "transformer.h.0.attn.c_attn.weight" -> "h.0.attn.c_attn.weight".
std::string strip_prefix(const std::string& name) {
  static const std::string kPrefix = "transformer.";
  return name.rfind(kPrefix, 0) == 0 ? name.substr(kPrefix.size()) : name;
}

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// Tensors of GPT-2 files that carry no learned value here: the causal-mask buffers of older
// Hugging Face versions and the LM head, which GPT-2 ties to wte.
bool ignored_tensor(const std::string& name) {
  return name == "lm_head.weight" || ends_with(name, ".attn.bias") || ends_with(name, ".attn.masked_bias");
}

// A model parameter's name in GPT-2 files: the embeddings are nn.Embedding modules there.
std::string gpt2_name(const std::string& param) {
  if (param == "wte" || param == "wpe") return param + ".weight";
  return param;
}

}  // namespace

void GPTOptions::validate() const {
  auto positive = [](const char* key, std::int64_t v) {
    if (v < 1) throw ConfigError(std::string("gpt.") + key + " must be at least 1, got " + std::to_string(v));
  };
  positive("n_layer", n_layer);
  positive("n_head", n_head);
  positive("n_embd", n_embd);
  positive("n_positions", n_positions);
  if (vocab_size < 0) throw ConfigError("gpt.vocab_size must be >= 0 (0: no token embedding), got " + std::to_string(vocab_size));
  if (n_embd % n_head != 0)
    throw ConfigError("gpt.n_head (" + std::to_string(n_head) + ") must divide gpt.n_embd (" + std::to_string(n_embd) +
                      ")");
  if (!(dropout >= 0.0 && dropout < 1.0))
    throw ConfigError("gpt.dropout must be in [0, 1), got " + std::to_string(dropout));
  if (!(layer_norm_eps > 0.0)) throw ConfigError("gpt.layer_norm_eps must be positive");
}

GPTBlockImpl::GPTBlockImpl(const GPTOptions& options) : options_(options) {
  options_.validate();
  const std::int64_t d = options_.n_embd;
  // GPT-2 scales the init of the projections into the residual stream by 1/sqrt(2 n_layer): two
  // of them per block add up along the depth.
  const double proj_std = 0.02 / std::sqrt(2.0 * static_cast<double>(options_.n_layer));
  // Registration order is GPT-2's, so named_parameters() lists tensors in the order of its files.
  ln_1 = register_module("ln_1", torch::nn::LayerNorm(torch::nn::LayerNormOptions({d}).eps(options_.layer_norm_eps)));
  auto attn = register_module("attn", std::make_shared<torch::nn::Module>());
  auto c_attn = attn->register_module("c_attn", Conv1D(d, 3 * d, 0.02));
  auto attn_proj = attn->register_module("c_proj", Conv1D(d, d, proj_std));
  ln_2 = register_module("ln_2", torch::nn::LayerNorm(torch::nn::LayerNormOptions({d}).eps(options_.layer_norm_eps)));
  auto mlp = register_module("mlp", std::make_shared<torch::nn::Module>());
  auto c_fc = mlp->register_module("c_fc", Conv1D(d, 4 * d, 0.02));
  auto mlp_proj = mlp->register_module("c_proj", Conv1D(4 * d, d, proj_std));
  attn_drop = register_module("attn_drop", torch::nn::Dropout(options_.dropout));
  resid_drop = register_module("resid_drop", torch::nn::Dropout(options_.dropout));
  c_attn_w = c_attn->weight;
  c_attn_b = c_attn->bias;
  attn_c_proj_w = attn_proj->weight;
  attn_c_proj_b = attn_proj->bias;
  c_fc_w = c_fc->weight;
  c_fc_b = c_fc->bias;
  mlp_c_proj_w = mlp_proj->weight;
  mlp_c_proj_b = mlp_proj->bias;
}

torch::Tensor GPTBlockImpl::forward(const torch::Tensor& x, const torch::Tensor& allowed) {
  MNEMO_CHECK(x.dim() == 3 && x.size(2) == options_.n_embd, "GPTBlock::forward: x must be [B, L, ", options_.n_embd,
              "], got ", shape_str(x.sizes()));
  const std::int64_t B = x.size(0), L = x.size(1), H = options_.n_head, D = options_.n_embd / H;
  MNEMO_CHECK(allowed.dim() == 4 && allowed.size(1) == 1 && allowed.size(2) == L && allowed.size(3) == L &&
                  (allowed.size(0) == 1 || allowed.size(0) == B),
              "GPTBlock::forward: allowed must be [", B, " or 1, 1, ", L, ", ", L, "], got ", shape_str(allowed.sizes()));

  // Attention: q, k, v from one [D, 3D] projection, split per head -> [B, H, L, D/H].
  auto qkv = torch::addmm(c_attn_b, ln_1(x).reshape({B * L, -1}), c_attn_w).view({B, L, 3, H, D});
  auto q = qkv.select(2, 0).transpose(1, 2);
  auto k = qkv.select(2, 1).transpose(1, 2);
  auto v = qkv.select(2, 2).transpose(1, 2);
  auto scores = torch::matmul(q, k.transpose(-2, -1)) * (1.0 / std::sqrt(static_cast<double>(D)));
  scores = scores.masked_fill(allowed.logical_not(), masked_score(scores.scalar_type()));
  auto att = attn_drop(torch::softmax(scores, -1));
  auto y = torch::matmul(att, v).transpose(1, 2).reshape({B * L, H * D});
  auto h = x + resid_drop(torch::addmm(attn_c_proj_b, y, attn_c_proj_w).view({B, L, -1}));

  auto m = torch::addmm(c_fc_b, ln_2(h).reshape({B * L, -1}), c_fc_w);
  m = torch::addmm(mlp_c_proj_b, torch::gelu(m, "tanh"), mlp_c_proj_w).view({B, L, -1});
  return h + resid_drop(m);
}

GPTImpl::GPTImpl(const GPTOptions& options) : options_(options) {
  options_.validate();
  const std::int64_t d = options_.n_embd;
  torch::NoGradGuard no_grad;
  if (options_.vocab_size > 0) wte = register_parameter("wte", torch::empty({options_.vocab_size, d}).normal_(0.0, 0.02));
  wpe = register_parameter("wpe", torch::empty({options_.n_positions, d}).normal_(0.0, 0.02));
  drop = register_module("drop", torch::nn::Dropout(options_.dropout));
  h = register_module("h", torch::nn::ModuleList());
  for (std::int64_t i = 0; i < options_.n_layer; ++i) h->push_back(GPTBlock(options_));
  ln_f = register_module("ln_f", torch::nn::LayerNorm(torch::nn::LayerNormOptions({d}).eps(options_.layer_norm_eps)));
}

torch::Tensor GPTImpl::forward_embeds(const torch::Tensor& x, const torch::Tensor& pad, bool add_positions) {
  MNEMO_CHECK(x.dim() == 3 && x.size(2) == options_.n_embd, "GPT::forward_embeds: x must be [B, L, ", options_.n_embd,
              "], got ", shape_str(x.sizes()));
  const std::int64_t B = x.size(0), L = x.size(1);
  MNEMO_CHECK(L >= 1 && L <= options_.n_positions, "GPT::forward_embeds: sequence length ", L,
              " must be in [1, n_positions = ", options_.n_positions, "]");
  auto allowed = torch::ones({L, L}, x.options().dtype(torch::kBool)).tril().view({1, 1, L, L});
  if (pad.defined()) {
    MNEMO_CHECK(pad.dim() == 2 && pad.size(0) == B && pad.size(1) == L, "GPT::forward_embeds: pad must be [", B, ", ",
                L, "], got ", shape_str(pad.sizes()));
    allowed = allowed.logical_and(pad.to(x.device(), torch::kBool).view({B, 1, 1, L}));
  }
  auto hs = add_positions ? x + wpe.narrow(0, 0, L) : x;
  hs = drop(hs);
  for (const auto& block : *h) hs = block->as<GPTBlockImpl>()->forward(hs, allowed);
  return ln_f(hs);
}

torch::Tensor GPTImpl::forward_tokens(const torch::Tensor& ids, const torch::Tensor& pad) {
  MNEMO_CHECK(options_.vocab_size > 0, "GPT::forward_tokens: the model has no token embedding (vocab_size 0)");
  MNEMO_CHECK(ids.dim() == 2, "GPT::forward_tokens: ids must be [B, L], got ", shape_str(ids.sizes()));
  MNEMO_CHECK(ids.scalar_type() == torch::kLong, "GPT::forward_tokens: ids must be int64");
  if (ids.device().is_cpu() && ids.numel() > 0) {
    // A clear message instead of an index error deep inside embedding (free on the CPU; on an
    // accelerator it would cost a synchronisation every step).
    const auto lo = ids.min().item<std::int64_t>(), hi = ids.max().item<std::int64_t>();
    MNEMO_CHECK(lo >= 0 && hi < options_.vocab_size, "GPT::forward_tokens: token ids must be in [0, ",
                options_.vocab_size, "), got [", lo, ", ", hi, "]");
  }
  return forward_embeds(torch::embedding(wte, ids), pad, /*add_positions=*/true);
}

torch::Tensor GPTImpl::lm_logits(const torch::Tensor& hidden) {
  MNEMO_CHECK(options_.vocab_size > 0, "GPT::lm_logits: the model has no token embedding (vocab_size 0)");
  return torch::matmul(hidden, wte.t());
}

torch::Tensor GPTImpl::lm_loss(const torch::Tensor& ids) {
  MNEMO_CHECK(ids.dim() == 2 && ids.size(1) >= 2, "GPT::lm_loss: ids must be [B, L] with L >= 2, got ",
              shape_str(ids.sizes()));
  const std::int64_t L = ids.size(1);
  auto logits = lm_logits(forward_tokens(ids.narrow(1, 0, L - 1)));
  return torch::nn::functional::cross_entropy(logits.reshape({-1, options_.vocab_size}),
                                              ids.narrow(1, 1, L - 1).reshape({-1}));
}

GPTOptions gpt2_options(const SafeTensors& weights, std::int64_t n_head) {
  std::map<std::string, torch::Tensor> t;
  for (const auto& kv : weights.tensors) t[strip_prefix(kv.first)] = kv.second;
  auto find = [&](const std::string& name) -> const torch::Tensor* {
    auto it = t.find(name);
    return it == t.end() ? nullptr : &it->second;
  };
  const torch::Tensor* wpe = find("wpe.weight");
  if (wpe == nullptr) wpe = find("wpe");
  if (wpe == nullptr || wpe->dim() != 2)
    throw Error("gpt2_options: no 2-D position embedding 'wpe.weight' (is this a GPT-2 file?)");
  GPTOptions o;
  o.n_positions = wpe->size(0);
  o.n_embd = wpe->size(1);
  const torch::Tensor* wte = find("wte.weight");
  if (wte == nullptr) wte = find("wte");
  o.vocab_size = wte != nullptr ? wte->size(0) : 0;
  o.n_layer = 0;
  while (find("h." + std::to_string(o.n_layer) + ".ln_1.weight") != nullptr) ++o.n_layer;
  if (o.n_layer == 0) throw Error("gpt2_options: no transformer blocks ('h.0.ln_1.weight' is missing)");
  o.n_head = n_head;
  auto meta = weights.metadata.find("n_head");
  if (meta != weights.metadata.end()) {
    try {
      std::size_t used = 0;
      o.n_head = std::stoll(meta->second, &used);
      if (used != meta->second.size()) throw std::invalid_argument(meta->second);
    } catch (const std::exception&) {
      throw Error("gpt2_options: metadata n_head is not an integer: '" + meta->second + "'");
    }
  }
  auto eps = weights.metadata.find("layer_norm_eps");
  if (eps != weights.metadata.end()) {
    try {
      o.layer_norm_eps = std::stod(eps->second);
    } catch (const std::exception&) {
      throw Error("gpt2_options: metadata layer_norm_eps is not a number: '" + eps->second + "'");
    }
  }
  o.validate();
  return o;
}

std::vector<std::string> load_gpt2_weights(GPTImpl& model, const SafeTensors& weights, const std::string& origin,
                                           bool skip_wte) {
  // The file's tensors by GPT-2 name, without the "transformer." prefix of GPT2LMHeadModel.
  std::map<std::string, std::pair<std::string, torch::Tensor>> file;  // gpt2 name -> (name in file, tensor)
  std::vector<std::string> unexpected;
  for (const auto& kv : weights.tensors) {
    std::string name = gpt2_name(strip_prefix(kv.first));
    if (ignored_tensor(name)) continue;
    if (!file.emplace(name, std::make_pair(kv.first, kv.second)).second)
      throw Error(origin + ": tensor '" + name + "' appears twice (with and without the 'transformer.' prefix)");
  }
  std::vector<std::string> missing, mismatched, loaded;
  std::vector<std::pair<torch::Tensor, torch::Tensor>> copies;  // (parameter, source)
  std::set<std::string> used;
  for (const auto& p : model.named_parameters(/*recurse=*/true)) {
    const std::string name = gpt2_name(p.key());
    auto it = file.find(name);
    if (it == file.end()) {
      if (!(skip_wte && p.key() == "wte")) missing.push_back(name + " " + shape_str(p.value().sizes()));
      continue;
    }
    used.insert(name);
    const torch::Tensor& src = it->second.second;
    if (src.sizes() != p.value().sizes()) {
      mismatched.push_back(it->second.first + ": file " + shape_str(src.sizes()) + ", model " +
                           shape_str(p.value().sizes()));
      continue;
    }
    if (!src.is_floating_point()) {
      mismatched.push_back(it->second.first + ": dtype " + std::string(c10::toString(src.scalar_type())) +
                           " is not a floating-point type");
      continue;
    }
    copies.emplace_back(p.value(), src);
    loaded.push_back(name);
  }
  for (const auto& kv : file) {
    if (used.count(kv.first) != 0) continue;
    // A DT (no vocabulary) starting from a language model leaves the token embedding behind.
    if (skip_wte && kv.first == "wte.weight") continue;
    unexpected.push_back(kv.second.first + " " + shape_str(kv.second.second.sizes()));
  }
  std::sort(unexpected.begin(), unexpected.end());  // as named in the file
  if (!missing.empty() || !mismatched.empty() || !unexpected.empty()) {
    std::ostringstream os;
    os << origin << ": GPT-2 weights do not match the model (n_layer " << model.options().n_layer << ", n_embd "
       << model.options().n_embd << ", n_positions " << model.options().n_positions << ", vocab_size "
       << model.options().vocab_size << ")";
    auto list = [&os](const char* what, const std::vector<std::string>& items) {
      if (items.empty()) return;
      os << "; " << what << ":";
      for (std::size_t i = 0; i < items.size(); ++i) os << (i ? "," : "") << " " << items[i];
    };
    list("shape mismatch", mismatched);
    list("missing", missing);
    list("unexpected", unexpected);
    throw Error(os.str());
  }
  // Nothing is written until everything matched, so a failed load leaves the model unchanged.
  torch::NoGradGuard no_grad;
  for (auto& c : copies) c.first.copy_(c.second);
  return loaded;
}

std::vector<std::pair<std::string, torch::Tensor>> gpt2_named_tensors(const GPTImpl& model) {
  std::vector<std::pair<std::string, torch::Tensor>> out;
  for (const auto& p : model.named_parameters(/*recurse=*/true)) out.emplace_back(gpt2_name(p.key()), p.value().detach());
  return out;
}

std::vector<std::int64_t> ByteTokenizer::encode(const std::string& text) {
  std::vector<std::int64_t> ids(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) ids[i] = static_cast<unsigned char>(text[i]);
  return ids;
}

std::string ByteTokenizer::decode(const std::vector<std::int64_t>& ids) {
  std::string out;
  out.reserve(ids.size());
  for (std::int64_t id : ids) {
    if (id == kEndOfText) {
      out += "\n\n";
    } else {
      MNEMO_CHECK(id >= 0 && id < 256, "ByteTokenizer::decode: token id ", id, " is outside [0, ", kVocabSize, ")");
      out.push_back(static_cast<char>(static_cast<unsigned char>(id)));
    }
  }
  return out;
}

torch::Tensor kmeans(const torch::Tensor& points, std::int64_t k, std::int64_t iterations, std::uint64_t seed) {
  MNEMO_CHECK(points.dim() == 2 && points.size(0) > 0 && points.size(1) > 0, "kmeans: points must be [N, D], got ",
              shape_str(points.sizes()));
  MNEMO_CHECK(k >= 1, "kmeans: k must be at least 1, got ", k);
  MNEMO_CHECK(k <= points.size(0), "kmeans: k (", k, ") exceeds the number of points (", points.size(0), ")");
  MNEMO_CHECK(iterations >= 0, "kmeans: iterations must be >= 0, got ", iterations);
  torch::NoGradGuard no_grad;
  // On the CPU in float64 whatever the input: a one-off preprocessing step, and the CPU generator
  // makes the result the same for a seed on every device.
  const auto x = points.detach().to(torch::kCPU, torch::kDouble).contiguous();
  const std::int64_t N = x.size(0);
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  const auto x2 = x.pow(2).sum(1);  // [N]
  auto sq_dist = [&](const torch::Tensor& c) {  // [N, k'] squared distances, clamped at 0
    return (x2.unsqueeze(1) - 2.0 * x.matmul(c.t()) + c.pow(2).sum(1).unsqueeze(0)).clamp_min(0.0);
  };

  // k-means++ (Arthur & Vassilvitskii 2007): each next centre is drawn with probability
  // proportional to its squared distance to the nearest centre chosen so far.
  std::vector<std::int64_t> chosen;
  torch::Tensor nearest;  // [N] squared distance to the nearest chosen centre; exactly 0 at chosen points
  auto choose = [&](std::int64_t i) {
    chosen.push_back(i);
    auto d = sq_dist(x.narrow(0, i, 1)).squeeze(1);
    nearest = nearest.defined() ? torch::minimum(nearest, d) : d;
    nearest[i] = 0.0;  // never picked twice, even where rounding leaves a tiny distance
  };
  choose(torch::randint(N, {1}, gen, torch::TensorOptions().dtype(torch::kLong)).item<std::int64_t>());
  while (static_cast<std::int64_t>(chosen.size()) < k) {
    auto weights = nearest;
    if (weights.sum().item<double>() <= 0.0) {
      // Every remaining point coincides with a centre: pick uniformly among the unchosen ones.
      weights = torch::ones({N}, torch::kDouble).index_fill_(0, torch::tensor(chosen, torch::kLong), 0.0);
    }
    choose(torch::multinomial(weights, 1, /*replacement=*/false, gen).item<std::int64_t>());
  }
  auto centres = x.index_select(0, torch::tensor(chosen, torch::kLong));

  // Lloyd iterations; an empty cluster keeps its centre.
  torch::Tensor assign;
  for (std::int64_t it = 0; it < iterations; ++it) {
    auto next_assign = sq_dist(centres).argmin(1);
    if (assign.defined() && next_assign.equal(assign)) break;
    assign = next_assign;
    auto sums = torch::zeros_like(centres).index_add_(0, assign, x);
    auto counts = torch::zeros({k}, torch::kDouble).index_add_(0, assign, torch::ones({N}, torch::kDouble));
    auto nonempty = counts > 0;
    centres = torch::where(nonempty.unsqueeze(1), sums / counts.clamp_min(1.0).unsqueeze(1), centres);
  }
  return centres.to(points.device(), points.scalar_type());
}

torch::Tensor similarity_alignment_loss(const torch::Tensor& inputs, const torch::Tensor& centres) {
  MNEMO_CHECK(centres.dim() == 2 && centres.size(0) >= 1, "similarity_alignment_loss: centres must be [k, D], got ",
              shape_str(centres.sizes()));
  MNEMO_CHECK(inputs.dim() >= 1 && inputs.size(-1) == centres.size(1), "similarity_alignment_loss: inputs must be [..., ",
              centres.size(1), "], got ", shape_str(inputs.sizes()));
  namespace F = torch::nn::functional;
  auto a = F::normalize(inputs.reshape({-1, inputs.size(-1)}), F::NormalizeFuncOptions().dim(1).eps(1e-8));
  auto c = F::normalize(centres, F::NormalizeFuncOptions().dim(1).eps(1e-8)).to(a.dtype());
  auto best = std::get<0>(torch::matmul(a, c.t()).max(1));
  return -best.mean();
}

}  // namespace mnemo::nn
