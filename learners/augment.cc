#include "learners/augment.h"

#include <cmath>
#include <utility>

#include "core/check.h"
#include "core/models/encoders.h"

namespace mnemo::learners {
namespace {

constexpr const char* kImageOps[] = {"shift", "crop", "cutout", "jitter", "grayscale", "flip"};
constexpr const char* kVectorOps[] = {"amplitude", "noise"};
constexpr const char* kColourOps[] = {"jitter", "grayscale"};

template <std::size_t N>
bool one_of(const std::string& s, const char* const (&names)[N]) {
  for (const char* n : names)
    if (s == n) return true;
  return false;
}

// Per-row draws, made on the CPU from the caller's generator whatever the frames' device.
torch::Tensor uniform(at::Generator& gen, std::int64_t n, double low, double high) {
  return torch::rand({n}, gen, torch::kFloat64) * (high - low) + low;
}
torch::Tensor integers(at::Generator& gen, std::int64_t n, std::int64_t high) {  // [0, high)
  return torch::randint(high, {n}, gen, torch::kLong);
}
torch::Tensor coin(at::Generator& gen, std::int64_t n, double p) { return torch::rand({n}, gen, torch::kFloat64) < p; }

void check_image(const torch::Tensor& x, const char* op) {
  MNEMO_CHECK(x.dim() == 5, "augment ", op, ": frames must be [N, K, H, W, C], got ", nn::sizes_str(x.sizes()));
}

// Pixels of x [N, K, H, W, C] picked per row: out[n, k, i, j] = x[n, k, rows[n, i], cols[n, j]].
// rows [N, H] and cols [N, W] are int64 on the CPU. Two index_selects per row copy whole image
// rows, then pixels (a single gather over the batch is several times slower on the CPU).
torch::Tensor pick(const torch::Tensor& x, const torch::Tensor& rows, const torch::Tensor& cols) {
  auto out = torch::empty_like(x);
  const auto r = rows.to(x.device()), c = cols.to(x.device());
  for (int64_t n = 0; n < x.size(0); ++n) {
    auto xn = x.select(0, n);
    auto on = out.select(0, n);
    torch::index_select_out(on, torch::index_select(xn, 1, r.select(0, n)), 2, c.select(0, n));
  }
  return out;
}

// Float results back to the frames' dtype, as images: integral, in [0, 255].
torch::Tensor as_image(const torch::Tensor& f, at::ScalarType dtype) {
  return f.clamp(0, 255).round().to(dtype);
}

// [N] per-row values, shaped to broadcast over [N, ...] of rank `dim`.
torch::Tensor per_row(const torch::Tensor& v, std::int64_t dim, const torch::Tensor& like) {
  std::vector<std::int64_t> shape(static_cast<std::size_t>(dim), 1);
  shape[0] = v.size(0);
  return v.to(like.device(), like.scalar_type()).reshape(shape);
}

// Luminance (ITU-R 601, as torchvision) of RGB triples: [..., 3] float -> [..., 1].
torch::Tensor luminance(const torch::Tensor& rgb) {
  auto w = torch::tensor({0.299, 0.587, 0.114}, rgb.options());
  return (rgb * w).sum(-1, /*keepdim=*/true);
}

// x [N, K, H, W, C] float with C = 3G -> [N, K, H, W, G, 3].
torch::Tensor triples(const torch::Tensor& x) {
  auto s = x.sizes().vec();
  MNEMO_CHECK(s[4] % 3 == 0, "augment: colour transforms need RGB channels (a multiple of 3), got ", s[4]);
  return x.reshape({s[0], s[1], s[2], s[3], s[4] / 3, 3});
}

}  // namespace

void AugmentOptions::validate(const std::string& path) const {
  auto bad = [&](const std::string& key, const std::string& why) { throw ConfigError(path + "." + key + " " + why); };
  for (const auto& op : ops)
    if (!one_of(op, kImageOps) && !one_of(op, kVectorOps))
      bad("ops", "has unknown transform '" + op +
                     "' (valid: shift, crop, cutout, jitter, grayscale, flip, amplitude, noise)");
  if (draw != "sequence" && draw != "frame") bad("draw", "must be sequence or frame, got '" + draw + "'");
  if (shift_pad < 0) bad("shift_pad", "must be >= 0");
  if (!(crop_scale > 0 && crop_scale <= 1)) bad("crop_scale", "must be in (0, 1]");
  if (!(cutout_min >= 0 && cutout_min <= cutout_max && cutout_max <= 1))
    bad("cutout_min", "and cutout_max must satisfy 0 <= cutout_min <= cutout_max <= 1");
  for (auto [key, value] : {std::pair<const char*, double>{"brightness", brightness}, {"contrast", contrast},
                            {"saturation", saturation}})
    if (!(value >= 0 && value <= 1)) bad(key, "must be in [0, 1]");
  if (!(hue >= 0 && hue <= 0.5)) bad("hue", "must be in [0, 0.5]");
  if (!(grayscale_p >= 0 && grayscale_p <= 1)) bad("grayscale_p", "must be in [0, 1]");
  if (!(flip_p >= 0 && flip_p <= 1)) bad("flip_p", "must be in [0, 1]");
  if (!(amplitude_low > 0 && amplitude_low <= amplitude_high))
    bad("amplitude_low", "and amplitude_high must satisfy 0 < amplitude_low <= amplitude_high");
  if (!(noise_std >= 0)) bad("noise_std", "must be >= 0");
}

namespace augment {

torch::Tensor shift(const torch::Tensor& x, std::int64_t pad, at::Generator& gen) {
  check_image(x, "shift");
  if (pad <= 0) return x;
  const auto N = x.size(0), H = x.size(2), W = x.size(3);
  // Padding with the edge pixels and cropping back at offset d is reading pixel clamp(i + d - pad).
  auto dy = integers(gen, N, 2 * pad + 1) - pad, dx = integers(gen, N, 2 * pad + 1) - pad;
  auto rows = (torch::arange(H, torch::kLong).unsqueeze(0) + dy.unsqueeze(1)).clamp(0, H - 1);
  auto cols = (torch::arange(W, torch::kLong).unsqueeze(0) + dx.unsqueeze(1)).clamp(0, W - 1);
  return pick(x, rows, cols);
}

torch::Tensor crop(const torch::Tensor& x, double scale, at::Generator& gen) {
  check_image(x, "crop");
  const auto N = x.size(0), H = x.size(2), W = x.size(3);
  const auto h = std::max<std::int64_t>(1, std::llround(scale * static_cast<double>(H)));
  const auto w = std::max<std::int64_t>(1, std::llround(scale * static_cast<double>(W)));
  if (h >= H && w >= W) return x;
  auto y0 = integers(gen, N, H - h + 1), x0 = integers(gen, N, W - w + 1);
  // Nearest-neighbour resize of the h x w window back to H x W: output pixel i reads the window's
  // pixel floor((i + 1/2) h / H).
  auto src = [](std::int64_t out, std::int64_t in) { return torch::div((2 * torch::arange(out, torch::kLong) + 1) * in, 2 * out, "floor");
  };
  auto rows = y0.unsqueeze(1) + src(H, h).unsqueeze(0);
  auto cols = x0.unsqueeze(1) + src(W, w).unsqueeze(0);
  return pick(x, rows, cols);
}

torch::Tensor cutout(const torch::Tensor& x, double min_frac, double max_frac, at::Generator& gen) {
  check_image(x, "cutout");
  if (max_frac <= 0) return x;
  const auto N = x.size(0), H = x.size(2), W = x.size(3);
  auto side = [&](std::int64_t n) { return (uniform(gen, N, min_frac, max_frac) * static_cast<double>(n)).round().to(torch::kLong); };
  auto bh = side(H), bw = side(W);
  auto y0 = (torch::rand({N}, gen, torch::kFloat64) * (H - bh + 1).to(torch::kFloat64)).floor().to(torch::kLong);
  auto x0 = (torch::rand({N}, gen, torch::kFloat64) * (W - bw + 1).to(torch::kFloat64)).floor().to(torch::kLong);
  auto i = torch::arange(H, torch::kLong).unsqueeze(0), j = torch::arange(W, torch::kLong).unsqueeze(0);
  auto in_rows = (i >= y0.unsqueeze(1)) & (i < (y0 + bh).unsqueeze(1));  // [N, H]
  auto in_cols = (j >= x0.unsqueeze(1)) & (j < (x0 + bw).unsqueeze(1));  // [N, W]
  auto box = (in_rows.unsqueeze(2) & in_cols.unsqueeze(1)).reshape({N, 1, H, W, 1}).to(x.device());
  return x.masked_fill(box, 0);
}

torch::Tensor jitter(const torch::Tensor& x, double brightness, double contrast, double saturation, double hue,
                     at::Generator& gen) {
  check_image(x, "jitter");
  if (brightness <= 0 && contrast <= 0 && saturation <= 0 && hue <= 0) return x;
  const auto N = x.size(0);
  auto f = triples(x.to(torch::kFloat32));  // [N, K, H, W, G, 3]
  auto clamp = [](const torch::Tensor& t) { return t.clamp(0, 255); };
  // Each factor is drawn for every row, whether or not its transform is on, so that turning one on
  // does not change the draws of the others.
  auto fb = uniform(gen, N, 1 - brightness, 1 + brightness), fc = uniform(gen, N, 1 - contrast, 1 + contrast);
  auto fs = uniform(gen, N, 1 - saturation, 1 + saturation), turn = uniform(gen, N, -hue, hue);
  if (brightness > 0) f = clamp(f * per_row(fb, 6, f));
  if (contrast > 0) {
    // Towards the mean luminance of each frame (and RGB group), as torchvision.
    auto mean = luminance(f).mean({2, 3}, /*keepdim=*/true);
    f = clamp((f - mean) * per_row(fc, 6, f) + mean);
  }
  if (saturation > 0) {
    auto gray = luminance(f);
    f = clamp((f - gray) * per_row(fs, 6, f) + gray);
  }
  if (hue > 0) {
    // A rotation of the chroma plane of YIQ: RGB -> YIQ, rotate (I, Q) by 2 pi turn, -> RGB.
    auto yiq = torch::tensor({0.299, 0.587, 0.114, 0.596, -0.274, -0.322, 0.211, -0.523, 0.312}, torch::kFloat64)
                   .reshape({3, 3});
    auto theta = turn * (2 * M_PI);
    auto c = theta.cos(), s = theta.sin(), one = torch::ones_like(c), zero = torch::zeros_like(c);
    auto rot = torch::stack({one, zero, zero, zero, c, -s, zero, s, c}, 1).reshape({N, 3, 3});
    auto m = torch::matmul(torch::matmul(torch::inverse(yiq).unsqueeze(0), rot), yiq.unsqueeze(0));  // [N, 3, 3]
    // rgb' = m rgb for every pixel of row n.
    f = clamp(torch::einsum("nkhwgj,nij->nkhwgi", {f, m.to(f.device(), f.scalar_type())}));
  }
  return as_image(f.reshape(x.sizes()), x.scalar_type());
}

torch::Tensor grayscale(const torch::Tensor& x, double p, at::Generator& gen) {
  check_image(x, "grayscale");
  if (p <= 0) return x;
  auto flag = coin(gen, x.size(0), p);
  auto f = triples(x.to(torch::kFloat32));
  auto gray = luminance(f).expand_as(f);
  auto out = torch::where(per_row(flag, 6, f).to(torch::kBool), gray, f);
  return as_image(out.reshape(x.sizes()), x.scalar_type());
}

torch::Tensor flip(const torch::Tensor& x, double p, at::Generator& gen) {
  check_image(x, "flip");
  if (p <= 0) return x;
  const auto N = x.size(0), H = x.size(2), W = x.size(3);
  auto flag = coin(gen, N, p).to(torch::kLong).unsqueeze(1);
  auto j = torch::arange(W, torch::kLong).unsqueeze(0);
  auto cols = flag * (W - 1 - j) + (1 - flag) * j;
  auto rows = torch::arange(H, torch::kLong).unsqueeze(0).expand({N, H});
  return pick(x, rows, cols);
}

torch::Tensor amplitude(const torch::Tensor& x, double low, double high, at::Generator& gen) {
  MNEMO_CHECK(x.dim() >= 2, "augment amplitude: frames must be [N, K, ...], got ", nn::sizes_str(x.sizes()));
  if (low == 1 && high == 1) return x;
  return x * per_row(uniform(gen, x.size(0), low, high), x.dim(), x);
}

torch::Tensor noise(const torch::Tensor& x, double std, at::Generator& gen) {
  if (std <= 0) return x;
  return x + std * torch::randn(x.sizes(), gen, torch::kFloat32).to(x.device(), x.scalar_type());
}

}  // namespace augment

Augmenter::Augmenter(AugmentOptions options, const Spec& obs_spec, std::string path) : o_(std::move(options)) {
  o_.validate(path);
  const auto img = nn::image_shape(obs_spec);
  image_ = img.has_value();
  if (image_) frame_ = {img->height, img->width, img->channels};
  else frame_ = {nn::obs_dim(obs_spec)};
  for (const auto& op : o_.ops) {
    if (image_ && one_of(op, kVectorOps))
      throw ConfigError(path + ".ops: '" + op + "' is a transform of vector observations; these are uint8 images " +
                        nn::sizes_str(frame_) + " (use shift, crop, cutout, jitter, grayscale or flip)");
    if (!image_ && one_of(op, kImageOps))
      throw ConfigError(path + ".ops: '" + op + "' is a transform of images (a single uint8 [H, W, C] field); these " +
                        "observations are vectors of " + std::to_string(frame_[0]) + " values (use amplitude or noise)");
    if (image_ && one_of(op, kColourOps) && img->channels % 3 != 0)
      throw ConfigError(path + ".ops: '" + op + "' needs RGB channels (a multiple of 3), these images have " +
                        std::to_string(img->channels));
  }
}

torch::Tensor Augmenter::apply(const torch::Tensor& x, at::Generator& gen) const {
  torch::NoGradGuard no_grad;
  torch::Tensor y = x;
  for (const auto& op : o_.ops) {
    if (op == "shift") y = augment::shift(y, o_.shift_pad, gen);
    else if (op == "crop") y = augment::crop(y, o_.crop_scale, gen);
    else if (op == "cutout") y = augment::cutout(y, o_.cutout_min, o_.cutout_max, gen);
    else if (op == "jitter") y = augment::jitter(y, o_.brightness, o_.contrast, o_.saturation, o_.hue, gen);
    else if (op == "grayscale") y = augment::grayscale(y, o_.grayscale_p, gen);
    else if (op == "flip") y = augment::flip(y, o_.flip_p, gen);
    else if (op == "amplitude") y = augment::amplitude(y, o_.amplitude_low, o_.amplitude_high, gen);
    else if (op == "noise") y = augment::noise(y, o_.noise_std, gen);
  }
  return y;
}

torch::Tensor Augmenter::apply_flat(const torch::Tensor& obs, at::Generator& gen) const {
  MNEMO_CHECK(obs.dim() == 3, "augment: observations must be [N, K, obs_dim], got ", nn::sizes_str(obs.sizes()));
  std::vector<std::int64_t> shape{obs.size(0), obs.size(1)};
  shape.insert(shape.end(), frame_.begin(), frame_.end());
  return apply(obs.reshape(shape), gen).reshape(obs.sizes());
}

SequenceBatch Augmenter::apply(const SequenceBatch& b, at::Generator& gen) const {
  if (!enabled()) return b;
  const int64_t T = b.obs.size(0), B = b.obs.size(1);
  // [T (+1), B, D] -> rows of the draws: [B, T (+1), D] per sequence, [(T (+1)) B, 1, D] per frame.
  auto steps = b.next_obs.defined() ? torch::cat({b.obs, b.next_obs}, 0) : b.obs;
  const int64_t S = steps.size(0);
  torch::Tensor rows = o_.draw == "sequence" ? steps.transpose(0, 1) : steps.reshape({S * B, 1, steps.size(2)});
  auto out = apply_flat(rows.contiguous(), gen);
  out = o_.draw == "sequence" ? out.transpose(0, 1) : out.reshape({S, B, steps.size(2)});
  SequenceBatch a = b;
  a.obs = out.narrow(0, 0, T).contiguous();
  if (b.next_obs.defined()) a.next_obs = out.narrow(0, T, 1).contiguous();
  return a;
}

}  // namespace mnemo::learners
