// The D4RL layout: read_d4rl and write_d4rl. See dataset.h.
#include "replay/datasets/dataset.h"

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "replay/datasets/hdf5.h"

namespace mnemo::replay {
namespace fs = std::filesystem;

namespace {

using hdf5::create_group;
using hdf5::FileId;
using hdf5::GroupId;
using hdf5::Hdf5Scope;
using hdf5::open_file;
using hdf5::read_d4rl_file;
using hdf5::Where;
using hdf5::write_array;
using hdf5::write_hdf5_atomically;
using hdf5::write_string_dataset;

}  // namespace

namespace hdf5 {

Dataset read_d4rl_file(hid_t file, const Where& w) {
  Dataset d;
  if (kind_of(file, "rewards") == ObjKind::kMissing && has_episode_groups(file, w))
    w.fail("rewards", "is missing: the file holds episode_<id> groups, the Minari layout");
  Field rewards = open_field(file, "rewards", w, "rewards");
  expect_rank(rewards, 1, w);
  const std::int64_t n = rewards.shape[0];
  const std::string why = "the length of 'rewards'";
  Field obs = open_field(file, "observations", w, "observations");
  expect_min_rank(obs, 1, w);
  expect_rows(obs, n, why, w);
  Field actions = open_field(file, "actions", w, "actions");
  expect_min_rank(actions, 1, w);
  expect_rows(actions, n, why, w);
  Field terminals = open_field(file, "terminals", w, "terminals");
  expect_rank(terminals, 1, w);
  expect_rows(terminals, n, why, w);
  std::optional<Field> timeouts;
  if (kind_of(file, "timeouts") != ObjKind::kMissing) {
    timeouts = open_field(file, "timeouts", w, "timeouts");
    expect_rank(*timeouts, 1, w);
    expect_rows(*timeouts, n, why, w);
  }
  std::vector<Field> infos;
  std::vector<std::string> info_names;
  if (kind_of(file, "infos") != ObjKind::kMissing) {
    ObjectId g = open_group(file, "infos", w, "infos");
    collect_fields(g.get(), "infos", 0, w, infos, info_names, "");
    for (const Field& f : infos) {
      expect_min_rank(f, 1, w);
      expect_rows(f, n, why, w);
    }
  }
  // Every size checked: now read.
  d.rewards = read_field(rewards, DType::kFloat32, w);
  d.observations = read_field(obs, observation_dtype(obs.type), w);
  d.actions = read_field(actions, action_dtype(actions.type), w);
  d.terminals = read_field(terminals, DType::kBool, w);
  d.timeouts = timeouts ? read_field(*timeouts, DType::kBool, w) : Array::zeros(DType::kBool, {n});
  for (std::size_t i = 0; i < infos.size(); ++i) d.infos[info_names[i]] = read_field(infos[i], info_dtype(infos[i].type), w);
  if (kind_of(file, "metadata") == ObjKind::kGroup) {
    ObjectId g = open_group(file, "metadata", w, "metadata");
    read_metadata_group(g.get(), "metadata", 0, w, d.metadata);
  }
  return d;
}

}  // namespace hdf5

Dataset read_d4rl(const fs::path& path) {
  Hdf5Scope scope;
  const Where w{path};
  FileId f = open_file(path, w);
  Dataset d = read_d4rl_file(f.get(), w);
  d.validate();
  return d;
}

void write_d4rl(const fs::path& path, const Dataset& d) {
  d.validate();
  Hdf5Scope scope;
  const Where w{path};
  write_hdf5_atomically(path, w, [&](hid_t f) {
    write_array(f, "observations", d.observations, w, "observations");
    write_array(f, "actions", d.actions, w, "actions");
    write_array(f, "rewards", d.rewards, w, "rewards");
    write_array(f, "terminals", d.terminals, w, "terminals");
    write_array(f, "timeouts", d.timeouts, w, "timeouts");
    if (!d.infos.empty()) {
      GroupId g = create_group(f, "infos", w);
      for (const auto& [name, a] : d.infos) write_array(g.get(), name, a, w, "infos/" + name);
    }
    if (!d.metadata.empty()) {
      GroupId g = create_group(f, "metadata", w);
      for (const auto& [name, v] : d.metadata) write_string_dataset(g.get(), name, v, w, "metadata/" + name);
    }
  });
}

}  // namespace mnemo::replay
