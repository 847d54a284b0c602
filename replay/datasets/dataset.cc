// Offline datasets: checks, episodes, returns-to-go, statistics and read_dataset. See dataset.h.
#include "replay/datasets/dataset.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <initializer_list>
#include <limits>
#include <sstream>
#include <string>
#include <system_error>
#include <vector>

#include "core/check.h"
#include "replay/datasets/hdf5.h"

namespace mnemo::replay {
namespace fs = std::filesystem;

namespace {

using hdf5::FileId;
using hdf5::has_episode_groups;
using hdf5::Hdf5Scope;
using hdf5::open_file;
using hdf5::read_d4rl_file;
using hdf5::read_minari_file;
using hdf5::Where;

// ------------------------------------------------------------------------------------------------
// Statistics

double quantile(const std::vector<double>& sorted, double q) {
  // Linear interpolation between closest ranks (numpy's default).
  if (sorted.empty()) return 0.0;
  const double pos = q * static_cast<double>(sorted.size() - 1);
  const auto lo = static_cast<std::size_t>(std::floor(pos));
  const std::size_t hi = std::min(lo + 1, sorted.size() - 1);
  return sorted[lo] + (pos - static_cast<double>(lo)) * (sorted[hi] - sorted[lo]);
}

std::string fmt(const char* f, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, f, v);
  return buf;
}

std::string describe(const Array& a) { return std::string(dtype_name(a.dtype())) + " " + shape_str(a.shape()); }

}  // namespace

// --------------------------------------------------------------------------------------------------
// Dataset

std::int64_t Dataset::size() const { return rewards.shape().empty() ? 0 : rewards.shape()[0]; }

void Dataset::validate() const {
  auto fail = [](const std::string& key, const std::string& what) { throw Error("dataset: '" + key + "' " + what); };
  if (rewards.shape().size() != 1) fail("rewards", "has shape " + shape_str(rewards.shape()) + ", expected [N]");
  const std::int64_t n = size();
  auto rows = [&](const std::string& key, const Array& a, bool vector) {
    if (a.shape().empty() || a.shape()[0] != n)
      fail(key, "has shape " + shape_str(a.shape()) + ", expected " + std::to_string(n) + " rows like 'rewards'");
    if (vector && a.shape().size() != 1) fail(key, "has shape " + shape_str(a.shape()) + ", expected [N]");
  };
  auto dtype = [&](const std::string& key, const Array& a, std::initializer_list<DType> ok) {
    if (std::find(ok.begin(), ok.end(), a.dtype()) == ok.end()) fail(key, std::string("has dtype ") + dtype_name(a.dtype()));
  };
  dtype("rewards", rewards, {DType::kFloat32});
  rows("observations", observations, false);
  dtype("observations", observations, {DType::kFloat32, DType::kUInt8});
  rows("actions", actions, false);
  dtype("actions", actions, {DType::kInt64, DType::kFloat32});
  rows("terminals", terminals, true);
  dtype("terminals", terminals, {DType::kBool});
  rows("timeouts", timeouts, true);
  dtype("timeouts", timeouts, {DType::kBool});
  for (const auto& [name, a] : infos) rows("infos/" + name, a, false);
  for (const auto* a : {&observations, &actions, &rewards, &terminals, &timeouts})
    MNEMO_CHECK(a->raw() != nullptr || a->numel() == 0, "array without memory");
  if (has_final_observations()) {
    std::int64_t episodes = 0;
    const bool* term = terminals.data<bool>();
    const bool* tout = timeouts.data<bool>();
    for (std::int64_t i = 0; i < n; ++i)
      if (term[i] || tout[i]) ++episodes;
    if (n > 0 && !term[n - 1] && !tout[n - 1]) ++episodes;
    const Shape& s = final_observations.shape();
    if (s.size() != observations.shape().size() || !std::equal(s.begin() + 1, s.end(), observations.shape().begin() + 1) ||
        s[0] != episodes)
      fail("final_observations", "has shape " + shape_str(s) + ", expected one row per episode (" +
                                     std::to_string(episodes) + ") like 'observations' " + shape_str(observations.shape()));
    if (final_observations.dtype() != observations.dtype())
      fail("final_observations", std::string("has dtype ") + dtype_name(final_observations.dtype()) + ", 'observations' " +
                                     dtype_name(observations.dtype()));
  }
}

std::vector<Episode> split_episodes(const Dataset& d) {
  d.validate();
  std::vector<Episode> out;
  const std::int64_t n = d.size();
  const float* r = d.rewards.data<float>();
  const bool* term = d.terminals.data<bool>();
  const bool* tout = d.timeouts.data<bool>();
  Episode e;
  for (std::int64_t i = 0; i < n; ++i) {
    e.ret += r[i];
    if (term[i] || tout[i]) {
      e.end = i + 1;
      e.terminated = term[i];
      out.push_back(e);
      e = Episode{};
      e.begin = i + 1;
    }
  }
  if (e.begin < n) {
    e.end = n;
    out.push_back(e);
  }
  return out;
}

std::vector<float> returns_to_go(const Dataset& d, const std::vector<Episode>& episodes, double gamma) {
  const std::int64_t n = d.size();
  MNEMO_CHECK(d.rewards.dtype() == DType::kFloat32, "rewards are ", dtype_name(d.rewards.dtype()));
  const float* r = d.rewards.data<float>();
  std::vector<float> rtg(static_cast<std::size_t>(n), 0.0f);
  for (const Episode& e : episodes) {
    MNEMO_CHECK(0 <= e.begin && e.begin <= e.end && e.end <= n, "episode [", e.begin, ", ", e.end, ") outside [0, ", n, ")");
    double acc = 0.0;  // accumulated in double so long episodes stay exact
    for (std::int64_t t = e.end - 1; t >= e.begin; --t) {
      acc = r[t] + gamma * acc;
      rtg[static_cast<std::size_t>(t)] = static_cast<float>(acc);
    }
  }
  return rtg;
}

DatasetStats dataset_stats(const Dataset& d) {
  DatasetStats s;
  const std::vector<Episode> eps = split_episodes(d);
  s.transitions = d.size();
  s.episodes = static_cast<std::int64_t>(eps.size());
  if (!eps.empty()) {
    std::vector<double> returns;
    s.min_length = std::numeric_limits<std::int64_t>::max();
    double length_sum = 0, return_sum = 0;
    for (const Episode& e : eps) {
      if (e.terminated) ++s.terminated;
      s.min_length = std::min(s.min_length, e.length());
      s.max_length = std::max(s.max_length, e.length());
      length_sum += static_cast<double>(e.length());
      return_sum += e.ret;
      returns.push_back(e.ret);
    }
    const double k = static_cast<double>(eps.size());
    s.mean_length = length_sum / k;
    s.mean_return = return_sum / k;
    double sq = 0;
    for (double x : returns) sq += (x - s.mean_return) * (x - s.mean_return);
    s.std_return = std::sqrt(sq / k);
    std::sort(returns.begin(), returns.end());
    s.min_return = returns.front();
    s.max_return = returns.back();
    for (double q : {0.1, 0.25, 0.5, 0.75, 0.9}) s.return_quantiles.push_back(quantile(returns, q));
  }
  const std::int64_t n = d.size();
  if (n > 0) {
    const auto dim = static_cast<std::size_t>(d.observations.numel() / n);
    std::vector<double> sum(dim, 0.0), sq(dim, 0.0);
    auto accumulate = [&](const auto* x) {
      for (std::int64_t i = 0; i < n; ++i)
        for (std::size_t j = 0; j < dim; ++j) sum[j] += static_cast<double>(x[static_cast<std::size_t>(i) * dim + j]);
      for (std::size_t j = 0; j < dim; ++j) sum[j] /= static_cast<double>(n);
      for (std::int64_t i = 0; i < n; ++i)
        for (std::size_t j = 0; j < dim; ++j) {
          const double dx = static_cast<double>(x[static_cast<std::size_t>(i) * dim + j]) - sum[j];
          sq[j] += dx * dx;
        }
    };
    if (d.observations.dtype() == DType::kUInt8)
      accumulate(d.observations.data<std::uint8_t>());
    else
      accumulate(d.observations.data<float>());
    s.obs_mean = sum;
    s.obs_std.resize(dim);
    for (std::size_t j = 0; j < dim; ++j) s.obs_std[j] = std::max(std::sqrt(sq[j] / static_cast<double>(n)), 1e-6);
  }
  return s;
}

std::string format_stats(const Dataset& d, const DatasetStats& s) {
  std::ostringstream os;
  os << s.transitions << " transitions, " << s.episodes << " episodes (" << s.terminated << " terminated, "
     << (s.episodes - s.terminated) << " truncated or cut)\n";
  os << "  observations  " << describe(d.observations) << "\n";
  os << "  actions       " << describe(d.actions);
  if (d.actions.dtype() == DType::kInt64 && d.actions.numel() > 0) {
    const std::int64_t* a = d.actions.data<std::int64_t>();
    const auto [lo, hi] = std::minmax_element(a, a + d.actions.numel());
    os << ", values " << *lo << ".." << *hi;
  }
  os << "\n";
  for (const auto& [name, a] : d.infos) os << "  infos/" << name << std::string(name.size() < 7 ? 7 - name.size() : 1, ' ') << describe(a) << "\n";
  if (s.episodes > 0) {
    os << "\nepisode length  min " << s.min_length << "  mean " << fmt("%.1f", s.mean_length) << "  max " << s.max_length
       << "\n";
    os << "episode return  min " << fmt("%.3g", s.min_return) << "  mean " << fmt("%.3g", s.mean_return) << "  std "
       << fmt("%.3g", s.std_return) << "  max " << fmt("%.3g", s.max_return) << "\n";
    os << "return quantiles  p10 " << fmt("%.3g", s.return_quantiles[0]) << "  p25 " << fmt("%.3g", s.return_quantiles[1])
       << "  p50 " << fmt("%.3g", s.return_quantiles[2]) << "  p75 " << fmt("%.3g", s.return_quantiles[3]) << "  p90 "
       << fmt("%.3g", s.return_quantiles[4]) << "\n";
  }
  // Scalar infos summarised by their mean (success rates and the like), per step and at episode ends.
  if (!d.infos.empty() && s.episodes > 0) {
    const std::vector<Episode> eps = split_episodes(d);
    bool header = false;
    for (const auto& [name, a] : d.infos) {
      if (a.shape().size() != 1) continue;
      auto value = [&](std::int64_t i) {
        switch (a.dtype()) {
          case DType::kUInt8: return static_cast<double>(a.data<std::uint8_t>()[i]);
          case DType::kBool: return a.data<bool>()[i] ? 1.0 : 0.0;
          case DType::kInt32: return static_cast<double>(a.data<std::int32_t>()[i]);
          case DType::kInt64: return static_cast<double>(a.data<std::int64_t>()[i]);
          case DType::kFloat32: return static_cast<double>(a.data<float>()[i]);
          case DType::kFloat64: return a.data<double>()[i];
        }
        return 0.0;
      };
      double at_end = 0;
      for (const Episode& e : eps) at_end += value(e.end - 1);
      if (!header) os << "\ninfos at episode ends (mean)\n";
      header = true;
      os << "  " << name << "  " << fmt("%.3f", at_end / static_cast<double>(eps.size())) << "\n";
    }
  }
  if (!s.obs_mean.empty()) {
    const std::size_t shown = std::min<std::size_t>(s.obs_mean.size(), 8);
    os << "\nobservation mean/std (" << (shown < s.obs_mean.size() ? "first " + std::to_string(shown) + " of " : "")
       << s.obs_mean.size() << " dims)\n";
    for (std::size_t j = 0; j < shown; ++j)
      os << "  [" << j << "] " << fmt("%.4g", s.obs_mean[j]) << " / " << fmt("%.4g", s.obs_std[j]) << "\n";
  }
  if (!d.metadata.empty()) {
    os << "\nmetadata\n";
    for (const auto& [k, v] : d.metadata) {
      // Long values (a resolved config, Minari's env_spec JSON) are cut: this is a summary.
      std::string shown = v.substr(0, v.find('\n'));
      if (shown.size() > 100) shown = shown.substr(0, 97) + "...";
      if (shown.size() < v.size())
        shown += " (" + std::to_string(v.size()) + " bytes" +
                 (v.find('\n') != std::string::npos
                      ? ", " + std::to_string(std::count(v.begin(), v.end(), '\n') + 1) + " lines"
                      : std::string()) +
                 ")";
      os << "  " << k << ": " << shown << "\n";
    }
  }
  return os.str();
}

// --------------------------------------------------------------------------------------------------
// Concatenation

namespace {

Shape trailing(const Shape& s) { return s.empty() ? Shape{} : Shape(s.begin() + 1, s.end()); }

// The rows of `arrays` (equal dtypes and trailing shapes, checked by the caller) one after another.
Array concat_rows(const std::vector<const Array*>& arrays) {
  std::int64_t rows = 0;
  for (const Array* a : arrays) rows += a->shape()[0];
  Shape shape = arrays.front()->shape();
  shape[0] = rows;
  Array out = Array::uninitialized(arrays.front()->dtype(), shape);
  auto* dst = static_cast<unsigned char*>(out.raw());
  for (const Array* a : arrays) {
    if (a->nbytes() > 0) std::memcpy(dst, a->raw(), a->nbytes());
    dst += a->nbytes();
  }
  return out;
}

}  // namespace

Dataset concat_datasets(const std::vector<Dataset>& parts, const std::vector<std::string>& names) {
  MNEMO_CHECK(!parts.empty() && parts.size() == names.size(), "concat_datasets needs one name per part");
  const Dataset& first = parts.front();
  auto same = [&](std::size_t i, const std::string& key, const Array& a, const Array& b) {
    if (a.dtype() != b.dtype() || trailing(a.shape()) != trailing(b.shape()))
      throw Error("dataset merge: '" + key + "' of " + names[i] + " is " + describe(a) + ", of " + names[0] + " " +
                  describe(b) + " (the parts must agree on dtypes and shapes after the first dimension)");
  };
  for (std::size_t i = 0; i < parts.size(); ++i) {
    const Dataset& d = parts[i];
    d.validate();
    same(i, "observations", d.observations, first.observations);
    same(i, "actions", d.actions, first.actions);
    std::vector<std::string> keys, first_keys;
    for (const auto& kv : d.infos) keys.push_back(kv.first);
    for (const auto& kv : first.infos) first_keys.push_back(kv.first);
    if (keys != first_keys) {
      auto join = [](const std::vector<std::string>& v) {
        std::string out;
        for (const auto& k : v) out += (out.empty() ? "" : ", ") + k;
        return "[" + out + "]";
      };
      throw Error("dataset merge: the infos of " + names[i] + " are " + join(keys) + ", of " + names[0] + " " +
                  join(first_keys) + " (the parts must have the same infos)");
    }
    for (const auto& [key, a] : d.infos) same(i, "infos/" + key, a, first.infos.at(key));
  }

  auto gather = [&](auto member) {
    std::vector<const Array*> arrays;
    for (const auto& d : parts) arrays.push_back(&(d.*member));
    return concat_rows(arrays);
  };
  Dataset out;
  out.observations = gather(&Dataset::observations);
  out.actions = gather(&Dataset::actions);
  out.rewards = gather(&Dataset::rewards);
  out.terminals = gather(&Dataset::terminals);
  out.timeouts = gather(&Dataset::timeouts);
  for (const auto& kv : first.infos) {
    std::vector<const Array*> arrays;
    for (const auto& d : parts) arrays.push_back(&d.infos.at(kv.first));
    out.infos[kv.first] = concat_rows(arrays);
  }
  // Each part's last episode ends where the part does.
  std::int64_t end = 0;
  for (const auto& d : parts) {
    end += d.size();
    if (d.size() > 0 && !out.terminals.data<bool>()[end - 1]) out.timeouts.data<bool>()[end - 1] = true;
  }
  if (std::all_of(parts.begin(), parts.end(), [](const Dataset& d) { return d.has_final_observations(); })) {
    // Every part now ends an episode at its last transition, so its episodes and final
    // observations still correspond one to one.
    std::vector<const Array*> arrays;
    for (const auto& d : parts) arrays.push_back(&d.final_observations);
    out.final_observations = concat_rows(arrays);
  }

  for (const auto& [key, value] : first.metadata) {
    const bool agreed = std::all_of(parts.begin(), parts.end(), [&](const Dataset& d) {
      auto it = d.metadata.find(key);
      return it != d.metadata.end() && it->second == value;
    });
    if (agreed) out.metadata[key] = value;
  }
  std::string from, episodes;
  for (std::size_t i = 0; i < parts.size(); ++i) {
    from += (i ? ", " : "") + names[i];
    episodes += (i ? ", " : "") + std::to_string(split_episodes(parts[i]).size());
  }
  out.metadata["merged_from"] = from;
  out.metadata["merged_episodes"] = episodes;
  out.validate();
  return out;
}

// --------------------------------------------------------------------------------------------------
// Reading either layout

Dataset read_dataset(const fs::path& path) {
  std::error_code ec;
  if (fs::is_directory(path, ec)) return read_minari(path);
  Hdf5Scope scope;
  const Where w{path};
  FileId f = open_file(path, w);
  Dataset d = has_episode_groups(f.get(), w) ? read_minari_file(f.get(), w) : read_d4rl_file(f.get(), w);
  d.validate();
  return d;
}

}  // namespace mnemo::replay
