// Offline datasets: transitions in D4RL's flat layout, read from and written to HDF5 (D4RL files
// and Minari's main_data.hdf5), with episode splitting, returns-to-go and summary statistics.
//
// D4RL layout: one HDF5 file with equal-length datasets observations [N, ...], actions [N, ...],
// rewards [N], terminals [N], timeouts [N], optional infos/<name> [N, ...] and metadata/<name>
// (strings or small arrays). Episodes lie back to back; one ends at a step whose terminal or
// timeout flag is set. Minari layout: main_data.hdf5 with one group episode_<id> per episode,
// holding observations [T+1, ...] (the last one is the final observation), actions [T, ...],
// rewards [T], terminations [T], truncations [T] and an optional infos group whose datasets have
// T+1 rows (the first from the reset, as Minari's DataCollector records them) or T rows.
//
// Reading accepts what h5py and Minari write: float32/64, int8/16/32/64, uint8/16/32/64 and h5py's
// bool (an int8 enum FALSE=0/TRUE=1); float16, strings and compound types are rejected. D4RL's
// `timeouts` is optional (older D4RL files lack it; it then reads as all false). metadata/ keeps
// strings, numeric scalars and arrays of up to 16 elements (as text); larger arrays (D4RL stores
// policy weights there) are skipped, and so are infos that are not numbers.
//
// Files are untrusted input: a missing key, a wrong rank, a dtype that is not numeric or lengths
// that disagree throw mnemo::Error naming the file and the key; nothing is read past what the
// file declares.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "core/array.h"

namespace mnemo::replay {

// N transitions, episodes back to back. Dtypes after reading: observations float32 (uint8 stays
// uint8, for pixels), actions int64 when stored as integers (discrete) else float32, rewards
// float32, terminals and timeouts kBool; infos keep their numeric dtype.
struct Dataset {
  Array observations;
  Array actions;
  Array rewards;
  Array terminals;
  Array timeouts;
  std::map<std::string, Array> infos;
  std::map<std::string, std::string> metadata;  // e.g. env, policy, episodes, mnemo version
  // Optional ([E, ...] like observations, one row per episode of split_episodes, or undefined:
  // raw() == nullptr): the observation after each episode's last step. Minari stores it as row T
  // of an episode's observations; D4RL has no place for it and ignores it.
  Array final_observations;
  std::int64_t size() const;                     // N
  // Throws mnemo::Error naming the key whose leading dimension differs from rewards' N, or
  // whose dtype is not the one listed above.
  void validate() const;
  bool has_final_observations() const { return final_observations.raw() != nullptr; }
};

// An episode: transitions [begin, end) of a Dataset.
struct Episode {
  std::int64_t begin = 0;
  std::int64_t end = 0;
  double ret = 0.0;           // undiscounted return
  bool terminated = false;    // ended by a terminal (not a timeout, not the end of the data)
  std::int64_t length() const { return end - begin; }
};

// Episodes in order. A step with terminal or timeout set ends one; transitions after the last
// such step form a final (truncated) episode.
std::vector<Episode> split_episodes(const Dataset& d);

// Undiscounted (gamma = 1: Decision Transformer's) or discounted returns-to-go per transition:
// rtg[t] = r[t] + gamma * rtg[t+1] within each episode. Size N, float32.
std::vector<float> returns_to_go(const Dataset& d, const std::vector<Episode>& episodes, double gamma = 1.0);

struct DatasetStats {
  std::int64_t transitions = 0;
  std::int64_t episodes = 0;
  std::int64_t terminated = 0;  // episodes ended by a terminal
  std::int64_t min_length = 0, max_length = 0;
  double mean_length = 0.0;
  double min_return = 0.0, max_return = 0.0, mean_return = 0.0, std_return = 0.0;
  std::vector<double> return_quantiles;  // at 0.1, 0.25, 0.5, 0.75, 0.9
  std::vector<double> obs_mean, obs_std;  // per flattened observation dimension (std floored at 1e-6)
};
DatasetStats dataset_stats(const Dataset& d);
// Human-readable summary (what `mnemo dataset info` prints).
std::string format_stats(const Dataset& d, const DatasetStats& s);

// D4RL layout. Writing is atomic (temporary file, rename): a failure leaves no partial file.
// terminals/timeouts are written as h5py's bool (an int8 enum FALSE/TRUE) so Python reads them
// as numpy bools.
Dataset read_d4rl(const std::filesystem::path& path);
void write_d4rl(const std::filesystem::path& path, const Dataset& d);

// Minari layout: `path` is main_data.hdf5 or the dataset directory holding data/main_data.hdf5
// (or main_data.hdf5). Episodes are read in id order; each drops its final observation (kept in
// final_observations). Episodes without steps are skipped; an episode whose last step has neither
// flag set is marked as timed out there, so that its end survives the flat layout. Root attributes
// other than total_episodes/total_steps become metadata.
Dataset read_minari(const std::filesystem::path& path);
// Writes main_data.hdf5 (atomically) with the root attributes total_episodes and total_steps;
// the final observation of each episode repeats its last one when the dataset has none. `path` is
// the file, or a dataset directory (an existing one or a path ending in '/'): then
// <path>/data/main_data.hdf5 and the data/metadata.json that minari.load_dataset reads (counts,
// format, the spaces in Minari's serialization, the dataset id: the path below
// $MINARI_DATASETS_PATH, else the directory's name). `action_space` is Minari's serialization of
// the action space (minari.serialization.serialize_space); empty: derived from the actions.
// Observations are described as an unbounded Box (the dtype's range for integers). Infos get T+1
// rows, the first (the reset's) zero. Metadata become string attributes of the root.
void write_minari(const std::filesystem::path& path, const Dataset& d, const std::string& action_space = "");

// The datasets back to back, in order, as one: the episodes of parts[0], then those of parts[1],
// ... `names` (one per part, e.g. the files) name the parts in errors and in the metadata. Every
// part must have the same observation and action dtype and trailing shape, and the same infos
// (names, dtypes, trailing shapes); otherwise mnemo::Error names the part and the key. A part whose
// last transition ends no episode gets a timeout there, so that its last episode stays its own.
// Final observations are kept when every part has them. Metadata: the values all parts agree on,
// plus merged_from (the names joined by ", ") and merged_episodes (each part's episode count).
Dataset concat_datasets(const std::vector<Dataset>& parts, const std::vector<std::string>& names);

// Either layout, detected from the file (a directory or a file with episode_* groups: Minari).
Dataset read_dataset(const std::filesystem::path& path);

}  // namespace mnemo::replay
