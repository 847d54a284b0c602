// The Minari layout: read_minari and write_minari. See dataset.h.
#include "replay/datasets/dataset.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <limits>
#include <optional>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include "core/atomic_file.h"
#include "core/check.h"
#include "core/json.h"
#include "replay/datasets/hdf5.h"

namespace mnemo::replay {
namespace fs = std::filesystem;

namespace {

using hdf5::allocate;
using hdf5::collect_fields;
using hdf5::create_group;
using hdf5::expect_min_rank;
using hdf5::expect_rank;
using hdf5::expect_rows;
using hdf5::Field;
using hdf5::FileId;
using hdf5::GroupId;
using hdf5::Hdf5Scope;
using hdf5::int_attribute;
using hdf5::kind_of;
using hdf5::ObjectId;
using hdf5::ObjKind;
using hdf5::open_field;
using hdf5::open_file;
using hdf5::open_group;
using hdf5::read_minari_file;
using hdf5::rows_of;
using hdf5::Where;
using hdf5::with_rows;
using hdf5::write_array;
using hdf5::write_hdf5_atomically;
using hdf5::write_int_attribute;
using hdf5::write_string_attribute;

// "episode_<digits>" -> id; nullopt for other names.
std::optional<std::int64_t> episode_id(const std::string& name) {
  static const std::string prefix = "episode_";
  if (name.compare(0, prefix.size(), prefix) != 0) return std::nullopt;
  const std::string digits = name.substr(prefix.size());
  if (digits.empty() || digits.size() > 15 ||
      !std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; }))
    return std::nullopt;
  return std::stoll(digits);
}

// The rows of `src` ([R, ...]) from `row` on, copied into `dst` at row `at`.
void copy_rows(const Array& src, std::int64_t row, std::int64_t count, Array& dst, std::int64_t at) {
  if (count == 0) return;
  const std::size_t row_bytes = src.shape()[0] > 0 ? src.nbytes() / static_cast<std::size_t>(src.shape()[0]) : 0;
  std::memcpy(static_cast<char*>(dst.raw()) + static_cast<std::size_t>(at) * row_bytes,
              static_cast<const char*>(src.raw()) + static_cast<std::size_t>(row) * row_bytes,
              static_cast<std::size_t>(count) * row_bytes);
}

// One Minari episode group with its fields opened and checked against each other.
struct MinariEpisode {
  std::int64_t id = 0;
  std::string name;
  std::int64_t steps = 0;
  Field obs, actions, rewards, terms, truncs;
  std::vector<Field> infos;
  std::vector<std::string> info_names;

  // Closes the datasets (shapes and types stay): a file may hold thousands of episodes, and
  // keeping every one open between checking and reading would hold thousands of HDF5 objects.
  void close() {
    for (Field* f : {&obs, &actions, &rewards, &terms, &truncs}) f->id.reset();
    for (Field& f : infos) f.id.reset();
  }
};

MinariEpisode open_episode(hid_t file, const std::string& name, std::int64_t id, const Where& w) {
  MinariEpisode e;
  e.id = id;
  e.name = name;
  ObjectId group = open_group(file, name, w, name);
  const hid_t g = group.get();
  const std::string& p = name;
  e.rewards = open_field(g, "rewards", w, p + "/rewards");
  expect_rank(e.rewards, 1, w);
  e.steps = e.rewards.shape[0];
  const std::string why = "the length of '" + p + "/rewards'";
  e.actions = open_field(g, "actions", w, p + "/actions");
  expect_min_rank(e.actions, 1, w);
  expect_rows(e.actions, e.steps, why, w);
  e.terms = open_field(g, "terminations", w, p + "/terminations");
  expect_rank(e.terms, 1, w);
  expect_rows(e.terms, e.steps, why, w);
  e.truncs = open_field(g, "truncations", w, p + "/truncations");
  expect_rank(e.truncs, 1, w);
  expect_rows(e.truncs, e.steps, why, w);
  e.obs = open_field(g, "observations", w, p + "/observations");
  expect_min_rank(e.obs, 1, w);
  if (e.obs.shape[0] != e.steps + 1)
    w.fail(e.obs.key, "has " + std::to_string(e.obs.shape[0]) + " rows, expected " + std::to_string(e.steps + 1) +
                          " (one more than the episode's " + std::to_string(e.steps) +
                          " steps: Minari keeps the final observation)");
  if (const auto steps = int_attribute(g, "total_steps", w, p))
    if (*steps != e.steps)
      w.fail(p + "@total_steps", "says " + std::to_string(*steps) + " steps, '" + p + "/rewards' has " +
                                     std::to_string(e.steps));
  // Infos as a group of datasets; newer Minari versions may store them as one dataset of
  // serialized strings, which holds nothing numeric to read and is skipped.
  if (kind_of(g, "infos") == ObjKind::kGroup) {
    ObjectId ig = open_group(g, "infos", w, p + "/infos");
    collect_fields(ig.get(), p + "/infos", 0, w, e.infos, e.info_names, "");
    for (const Field& f : e.infos) {
      expect_min_rank(f, 1, w);
      if (f.shape[0] != e.steps + 1 && f.shape[0] != e.steps)
        w.fail(f.key, "has " + std::to_string(f.shape[0]) + " rows, expected " + std::to_string(e.steps + 1) +
                          " (reset + steps) or " + std::to_string(e.steps));
    }
  }
  return e;
}

fs::path minari_file(const fs::path& path) {
  std::error_code ec;
  if (!fs::is_directory(path, ec)) return path;
  for (const fs::path& p : {path / "data" / "main_data.hdf5", path / "main_data.hdf5"})
    if (fs::exists(p, ec)) return p;
  throw Error(path.string() + ": a directory without data/main_data.hdf5 or main_data.hdf5 (not a Minari dataset)");
}

}  // namespace

namespace hdf5 {

Dataset read_minari_file(hid_t file, const Where& w) {
  // Episodes in id order, each checked (then closed) before anything is read.
  std::vector<std::pair<std::int64_t, std::string>> names;
  for (const std::string& name : link_names(file, w, "/")) {
    if (name.rfind("episode_", 0) != 0) continue;
    const auto id = episode_id(name);
    if (!id) w.fail(name, "is not named episode_<id> with a decimal id");
    names.emplace_back(*id, name);
  }
  std::sort(names.begin(), names.end());
  for (std::size_t i = 1; i < names.size(); ++i)
    if (names[i].first == names[i - 1].first) w.fail(names[i].second, "repeats the id of " + names[i - 1].second);
  if (const auto total = int_attribute(file, "total_episodes", w, "/"))
    if (*total != static_cast<std::int64_t>(names.size()))
      w.fail("total_episodes", "says " + std::to_string(*total) + " episodes, the file holds " +
                                   std::to_string(names.size()));

  std::vector<MinariEpisode> eps;
  std::int64_t n = 0, kept = 0;
  for (const auto& [id, name] : names) {
    MinariEpisode e = open_episode(file, name, id, w);
    e.close();
    if (n > std::numeric_limits<std::int64_t>::max() - e.steps) w.fail(name, "brings the total step count past int64");
    n += e.steps;
    if (e.steps > 0) ++kept;
    eps.push_back(std::move(e));
  }
  if (const auto total = int_attribute(file, "total_steps", w, "/"))
    if (*total != n) w.fail("total_steps", "says " + std::to_string(*total) + " steps, the episodes hold " + std::to_string(n));

  Dataset d;
  if (eps.empty()) w.fail("episode_0", "is missing (no episode_<id> groups)");
  // Shapes and dtypes come from the first episode; every other must agree.
  const MinariEpisode& first = eps.front();
  const DType obs_dtype = observation_dtype(first.obs.type);
  const DType act_dtype = action_dtype(first.actions.type);
  for (const MinariEpisode& e : eps) {
    auto same_item = [&](const Field& f, const Field& ref, DType want, DType got) {
      if (!std::equal(f.shape.begin() + 1, f.shape.end(), ref.shape.begin() + 1, ref.shape.end()))
        w.fail(f.key, "has items of shape " + shape_str(Shape(f.shape.begin() + 1, f.shape.end())) + ", '" + ref.key +
                          "' has " + shape_str(Shape(ref.shape.begin() + 1, ref.shape.end())));
      if (want != got)
        w.fail(f.key, std::string("reads as ") + dtype_name(got) + ", '" + ref.key + "' as " + dtype_name(want));
    };
    same_item(e.obs, first.obs, obs_dtype, observation_dtype(e.obs.type));
    same_item(e.actions, first.actions, act_dtype, action_dtype(e.actions.type));
    if (e.info_names != first.info_names)
      w.fail(e.name + "/infos", "has infos different from those of '" + first.name + "/infos'");
    for (std::size_t k = 0; k < e.infos.size(); ++k)
      same_item(e.infos[k], first.infos[k], info_dtype(first.infos[k].type), info_dtype(e.infos[k].type));
  }
  d.observations = allocate(obs_dtype, with_rows(n, first.obs.shape), w, "observations");
  d.final_observations = allocate(obs_dtype, with_rows(kept, first.obs.shape), w, "observations");
  d.actions = allocate(act_dtype, with_rows(n, first.actions.shape), w, "actions");
  d.rewards = allocate(DType::kFloat32, {n}, w, "rewards");
  d.terminals = allocate(DType::kBool, {n}, w, "terminations");
  d.timeouts = allocate(DType::kBool, {n}, w, "truncations");
  for (std::size_t k = 0; k < first.infos.size(); ++k)
    d.infos[first.info_names[k]] =
        allocate(info_dtype(first.infos[k].type), with_rows(n, first.infos[k].shape), w, first.infos[k].key);

  std::int64_t at = 0, ep_index = 0;
  for (const MinariEpisode& checked : eps) {
    if (checked.steps == 0) continue;
    const MinariEpisode e = open_episode(file, checked.name, checked.id, w);
    // The file is open read-only; a reopened episode is the one checked above.
    bool same = e.steps == checked.steps && e.obs.shape == checked.obs.shape &&
                e.actions.shape == checked.actions.shape && e.info_names == checked.info_names;
    for (std::size_t k = 0; same && k < e.infos.size(); ++k) same = e.infos[k].shape == checked.infos[k].shape;
    if (!same) w.fail(checked.name, "changed while being read");
    const Array obs = read_field(e.obs, obs_dtype, w);
    copy_rows(obs, 0, e.steps, d.observations, at);
    copy_rows(obs, e.steps, 1, d.final_observations, ep_index);
    copy_rows(read_field(e.actions, act_dtype, w), 0, e.steps, d.actions, at);
    copy_rows(read_field(e.rewards, DType::kFloat32, w), 0, e.steps, d.rewards, at);
    copy_rows(read_field(e.terms, DType::kBool, w), 0, e.steps, d.terminals, at);
    copy_rows(read_field(e.truncs, DType::kBool, w), 0, e.steps, d.timeouts, at);
    for (std::size_t k = 0; k < e.infos.size(); ++k) {
      // T+1 rows: the first is the reset's; the step infos follow.
      const Field& f = e.infos[k];
      Array& dst = d.infos[e.info_names[k]];
      copy_rows(read_field(f, dst.dtype(), w), f.shape[0] - e.steps, e.steps, dst, at);
    }
    at += e.steps;
    // The flat layout knows an episode's end only from its flags.
    const std::int64_t last = at - 1;
    if (!d.terminals.data<bool>()[last] && !d.timeouts.data<bool>()[last]) d.timeouts.data<bool>()[last] = true;
    ++ep_index;
  }
  read_attributes(file, "/", {"total_episodes", "total_steps"}, w, d.metadata);
  return d;
}

}  // namespace hdf5

Dataset read_minari(const fs::path& path) {
  Hdf5Scope scope;
  const fs::path file = minari_file(path);
  const Where w{file};
  FileId f = open_file(file, w);
  Dataset d = read_minari_file(f.get(), w);
  d.validate();
  return d;
}

namespace {

// `value` repeated over `shape` as nested JSON lists (Minari's Box bounds have the space's shape).
std::string nested(const Shape& shape, std::size_t dim, const std::string& value) {
  if (dim == shape.size()) return value;
  std::string s = "[";
  for (std::int64_t i = 0; i < shape[dim]; ++i) s += (i ? ", " : "") + nested(shape, dim + 1, value);
  return s + "]";
}

// Minari's serialization (minari.serialization.serialize_space) of a Box holding `a`'s rows:
// unbounded for floats, the dtype's range for integers.
std::string box_of_rows(const Array& a) {
  const Shape item(a.shape().begin() + 1, a.shape().end());
  std::string low = "-Infinity", high = "Infinity";
  switch (a.dtype()) {
    case DType::kUInt8: low = "0", high = "255"; break;
    case DType::kBool: low = "0", high = "1"; break;
    case DType::kInt32: low = std::to_string(std::numeric_limits<std::int32_t>::min()), high = std::to_string(std::numeric_limits<std::int32_t>::max()); break;
    case DType::kInt64: low = std::to_string(std::numeric_limits<std::int64_t>::min()), high = std::to_string(std::numeric_limits<std::int64_t>::max()); break;
    default: break;
  }
  return "{\"type\": \"Box\", \"dtype\": \"" + std::string(dtype_name(a.dtype())) + "\", \"shape\": " + shape_str(item) +
         ", \"low\": " + nested(item, 0, low) + ", \"high\": " + nested(item, 0, high) + "}";
}

// The action space as Minari serializes it, when the caller did not say: Discrete or
// MultiDiscrete over the values the actions take, an unbounded Box for float actions.
std::string actions_space(const Dataset& d) {
  const Array& a = d.actions;
  if (a.dtype() != DType::kInt64) return box_of_rows(a);
  std::vector<std::int64_t> top(a.shape().size() > 1 ? static_cast<std::size_t>(a.numel() / std::max<std::int64_t>(a.shape()[0], 1)) : 1, 0);
  for (std::int64_t i = 0; i < a.numel(); ++i)
    top[static_cast<std::size_t>(i) % top.size()] = std::max(top[static_cast<std::size_t>(i) % top.size()], a.data<std::int64_t>()[i] + 1);
  if (a.shape().size() == 1) return "{\"type\": \"Discrete\", \"dtype\": \"int64\", \"start\": 0, \"n\": " + std::to_string(top[0]) + "}";
  return "{\"type\": \"MultiDiscrete\", \"dtype\": \"int64\", \"nvec\": " + shape_str(top) + ", \"start\": " +
         shape_str(std::vector<std::int64_t>(top.size(), 0)) + "}";
}

}  // namespace

void write_minari(const fs::path& path, const Dataset& d, const std::string& action_space) {
  d.validate();
  std::error_code ec;
  fs::path file = path;
  // A dataset directory: an existing one, or a path ending in '/'.
  const bool directory = fs::is_directory(path, ec) || (!path.empty() && path.string().back() == '/');
  if (directory) {
    fs::create_directories(path / "data", ec);
    if (ec) throw Error(path.string() + ": cannot create data/: " + ec.message());
    file = path / "data" / "main_data.hdf5";
  }
  const std::vector<Episode> eps = split_episodes(d);
  Hdf5Scope scope;
  const Where w{file};
  write_hdf5_atomically(file, w, [&](hid_t f) {
    write_int_attribute(f, "total_episodes", static_cast<std::int64_t>(eps.size()), w, "total_episodes");
    write_int_attribute(f, "total_steps", d.size(), w, "total_steps");
    for (const auto& [name, v] : d.metadata) {
      if (name == "total_episodes" || name == "total_steps") continue;  // computed above
      write_string_attribute(f, name, v, w, "@" + name);
    }
    for (std::size_t i = 0; i < eps.size(); ++i) {
      const Episode& e = eps[i];
      const std::string p = "episode_" + std::to_string(i);
      GroupId g = create_group(f, p, w);
      write_int_attribute(g.get(), "id", static_cast<std::int64_t>(i), w, p + "@id");
      write_int_attribute(g.get(), "total_steps", e.length(), w, p + "@total_steps");
      // T+1 observations: the episode's own, then its final one.
      Array obs = allocate(d.observations.dtype(), with_rows(e.length() + 1, d.observations.shape()), w, p + "/observations");
      copy_rows(d.observations, e.begin, e.length(), obs, 0);
      if (d.has_final_observations())
        copy_rows(d.final_observations, static_cast<std::int64_t>(i), 1, obs, e.length());
      else
        copy_rows(d.observations, e.end - 1, 1, obs, e.length());
      write_array(g.get(), "observations", obs, w, p + "/observations");
      write_array(g.get(), "actions", rows_of(d.actions, e.begin, e.end), w, p + "/actions");
      write_array(g.get(), "rewards", rows_of(d.rewards, e.begin, e.end), w, p + "/rewards");
      write_array(g.get(), "terminations", rows_of(d.terminals, e.begin, e.end), w, p + "/terminations");
      write_array(g.get(), "truncations", rows_of(d.timeouts, e.begin, e.end), w, p + "/truncations");
      if (!d.infos.empty()) {
        GroupId ig = create_group(g.get(), "infos", w);
        for (const auto& [name, a] : d.infos) {
          // Minari's collector records the reset's info first; mnemo's flat layout has none, so
          // that row is zero.
          Array rows = allocate(a.dtype(), with_rows(e.length() + 1, a.shape()), w, p + "/infos/" + name);
          copy_rows(a, e.begin, e.length(), rows, 1);
          write_array(ig.get(), name, rows, w, p + "/infos/" + name);
        }
      }
    }
  });
  if (!directory) return;
  // What minari.load_dataset reads besides the data (MinariStorage.read, MinariDataset): the
  // counts, the format, both spaces in Minari's serialization, the id and the format version.
  fs::path root = fs::absolute(path.string().back() == '/' ? path.parent_path() : path);
  std::string id = root.filename().string();
  if (const char* base = std::getenv("MINARI_DATASETS_PATH"); base != nullptr && *base != '\0') {
    const fs::path rel = root.lexically_relative(fs::absolute(base));
    if (!rel.empty() && *rel.begin() != "..") id = rel.generic_string();
  }
  const std::string meta = "{\"dataset_id\": " + json::quote(id) + ", \"minari_version\": \"0.5.0\", \"data_format\": \"hdf5\"" +
                           ", \"total_episodes\": " + std::to_string(eps.size()) + ", \"total_steps\": " + std::to_string(d.size()) +
                           ", \"observation_space\": " + json::quote(box_of_rows(d.observations)) +
                           ", \"action_space\": " + json::quote(action_space.empty() ? actions_space(d) : action_space) +
                           ", \"algorithm_name\": " + json::quote(d.metadata.count("policy") ? d.metadata.at("policy") : "mnemo") + "}";
  write_file_atomic(path / "data" / "metadata.json", meta);
}

}  // namespace mnemo::replay
