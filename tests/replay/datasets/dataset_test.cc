// Tests of offline datasets: episode splitting, returns-to-go and statistics on hand-checked
// cases; D4RL and Minari files written and read back exactly; a file laid out as h5py writes it
// (made here with raw HDF5 calls) read correctly; malformed files rejected with the key named.
#include "replay/datasets/dataset.h"

#include <gtest/gtest.h>
#include <hdf5.h>
#include <unistd.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <string>
#include <tuple>
#include <vector>

namespace mnemo::replay {
namespace {
namespace fs = std::filesystem;

class DatasetTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("mnemo-dataset-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  fs::path path(const std::string& name) const { return dir_ / name; }

  fs::path dir_;
};

template <class T>
std::vector<T> values(const Array& a) {
  return std::vector<T>(a.data<T>(), a.data<T>() + a.numel());
}

Array bools(const std::vector<int>& v) {
  Array a = Array::zeros(DType::kBool, {static_cast<std::int64_t>(v.size())});
  for (std::size_t i = 0; i < v.size(); ++i) a.data<bool>()[i] = v[i] != 0;
  return a;
}

std::vector<int> ints(const Array& a) {
  std::vector<int> out;
  for (std::int64_t i = 0; i < a.numel(); ++i) out.push_back(a.data<bool>()[i] ? 1 : 0);
  return out;
}

// N transitions with observations [N, 2], the given rewards and flags, discrete actions.
Dataset make(const std::vector<float>& rewards, const std::vector<int>& terminals, const std::vector<int>& timeouts) {
  const auto n = static_cast<std::int64_t>(rewards.size());
  Dataset d;
  d.rewards = Array::from_vector(rewards, {n});
  d.terminals = bools(terminals);
  d.timeouts = bools(timeouts);
  std::vector<float> obs;
  std::vector<std::int64_t> actions;
  for (std::int64_t i = 0; i < n; ++i) {
    obs.push_back(static_cast<float>(i));
    obs.push_back(static_cast<float>(-2 * i));
    actions.push_back(i % 3);
  }
  d.observations = Array::from_vector(obs, {n, 2});
  d.actions = Array::from_vector(actions, {n});
  return d;
}

void expect_same(const Dataset& a, const Dataset& b) {
  ASSERT_EQ(a.size(), b.size());
  for (auto [name, x, y] : {std::tuple{"observations", &a.observations, &b.observations},
                            std::tuple{"actions", &a.actions, &b.actions}, std::tuple{"rewards", &a.rewards, &b.rewards},
                            std::tuple{"terminals", &a.terminals, &b.terminals},
                            std::tuple{"timeouts", &a.timeouts, &b.timeouts}}) {
    SCOPED_TRACE(name);
    ASSERT_EQ(x->dtype(), y->dtype());
    ASSERT_EQ(x->shape(), y->shape());
    EXPECT_EQ(std::memcmp(x->raw(), y->raw(), x->nbytes()), 0);
  }
  ASSERT_EQ(a.infos.size(), b.infos.size());
  for (const auto& [name, x] : a.infos) {
    SCOPED_TRACE("infos/" + name);
    ASSERT_EQ(b.infos.count(name), 1u);
    const Array& y = b.infos.at(name);
    ASSERT_EQ(x.dtype(), y.dtype());
    ASSERT_EQ(x.shape(), y.shape());
    EXPECT_EQ(std::memcmp(x.raw(), y.raw(), x.nbytes()), 0);
  }
  EXPECT_EQ(a.metadata, b.metadata);
}

// ---------------------------------------------------------------------------------------------
// Raw HDF5, the way h5py lays files out.

struct RawFile {
  explicit RawFile(const fs::path& p) : id(H5Fcreate(p.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT)) {}
  ~RawFile() { H5Fclose(id); }
  hid_t id;
};

void raw_write(hid_t loc, const char* name, hid_t file_type, hid_t mem_type, const std::vector<hsize_t>& dims,
               const void* data) {
  hid_t space = dims.empty() ? H5Screate(H5S_SCALAR) : H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr);
  hid_t lcpl = H5Pcreate(H5P_LINK_CREATE);
  H5Pset_create_intermediate_group(lcpl, 1);
  hid_t d = H5Dcreate2(loc, name, file_type, space, lcpl, H5P_DEFAULT, H5P_DEFAULT);
  ASSERT_GE(d, 0) << name;
  ASSERT_GE(H5Dwrite(d, mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, data), 0) << name;
  H5Dclose(d);
  H5Pclose(lcpl);
  H5Sclose(space);
}

// numpy's bool as h5py stores it: an enum over int8 with FALSE = 0 and TRUE = 1.
hid_t h5py_bool() {
  hid_t t = H5Tenum_create(H5T_NATIVE_INT8);
  signed char f = 0, tr = 1;
  H5Tenum_insert(t, "FALSE", &f);
  H5Tenum_insert(t, "TRUE", &tr);
  return t;
}

void raw_bools(hid_t loc, const char* name, const std::vector<signed char>& v) {
  hid_t t = h5py_bool();
  raw_write(loc, name, t, t, {v.size()}, v.data());
  H5Tclose(t);
}

// A fixed-length byte string, as h5py writes numpy's bytes_ (D4RL's metadata/algorithm).
void raw_fixed_string(hid_t loc, const char* name, const std::string& s) {
  hid_t t = H5Tcopy(H5T_C_S1);
  H5Tset_size(t, s.size());
  H5Tset_strpad(t, H5T_STR_NULLPAD);
  raw_write(loc, name, t, t, {}, s.data());
  H5Tclose(t);
}

void raw_int_attr(hid_t obj, const char* name, std::int64_t v) {
  hid_t space = H5Screate(H5S_SCALAR);
  hid_t a = H5Acreate2(obj, name, H5T_STD_I64LE, space, H5P_DEFAULT, H5P_DEFAULT);
  H5Awrite(a, H5T_NATIVE_INT64, &v);
  H5Aclose(a);
  H5Sclose(space);
}

std::int64_t raw_read_int_attr(hid_t obj, const char* name) {
  std::int64_t v = -1;
  hid_t a = H5Aopen(obj, name, H5P_DEFAULT);
  EXPECT_GE(a, 0) << name;
  H5Aread(a, H5T_NATIVE_INT64, &v);
  H5Aclose(a);
  return v;
}

std::vector<hsize_t> raw_dims(hid_t loc, const char* name) {
  hid_t d = H5Dopen2(loc, name, H5P_DEFAULT);
  EXPECT_GE(d, 0) << name;
  hid_t s = H5Dget_space(d);
  std::vector<hsize_t> dims(static_cast<std::size_t>(H5Sget_simple_extent_ndims(s)));
  H5Sget_simple_extent_dims(s, dims.data(), nullptr);
  H5Sclose(s);
  H5Dclose(d);
  return dims;
}

// A valid D4RL-layout file of 4 steps written with raw calls; `skip` leaves one key out.
void write_raw_d4rl(const fs::path& p, const std::string& skip = "") {
  RawFile f(p);
  const std::vector<double> obs = {0.5, 1.5, 2.5, 3.5, 4.5, 5.5, 6.5, 7.5};
  const std::vector<std::int32_t> actions = {1, 0, 2, 1};
  const std::vector<double> rewards = {1.0, 0.0, 0.5, 2.0};
  if (skip != "observations") raw_write(f.id, "observations", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, {4, 2}, obs.data());
  if (skip != "actions") raw_write(f.id, "actions", H5T_STD_I32LE, H5T_NATIVE_INT32, {4}, actions.data());
  if (skip != "rewards") raw_write(f.id, "rewards", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, {4}, rewards.data());
  if (skip != "terminals") raw_bools(f.id, "terminals", {0, 1, 0, 0});
  if (skip != "timeouts") raw_bools(f.id, "timeouts", {0, 0, 0, 1});
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

// ---------------------------------------------------------------------------------------------
// Episodes, returns-to-go, statistics

TEST_F(DatasetTest, SplitsEpisodesOnTerminalsAndTimeouts) {
  // Episodes: [0, 2) terminal, [2, 5) timeout, [5, 7) runs off the end of the data.
  Dataset d = make({1, 2, 3, 4, 5, 6, 7}, {0, 1, 0, 0, 0, 0, 0}, {0, 0, 0, 0, 1, 0, 0});
  const std::vector<Episode> eps = split_episodes(d);
  ASSERT_EQ(eps.size(), 3u);
  EXPECT_EQ(eps[0].begin, 0);
  EXPECT_EQ(eps[0].end, 2);
  EXPECT_TRUE(eps[0].terminated);
  EXPECT_DOUBLE_EQ(eps[0].ret, 3.0);
  EXPECT_EQ(eps[1].begin, 2);
  EXPECT_EQ(eps[1].end, 5);
  EXPECT_FALSE(eps[1].terminated);
  EXPECT_DOUBLE_EQ(eps[1].ret, 12.0);
  EXPECT_EQ(eps[2].begin, 5);
  EXPECT_EQ(eps[2].end, 7);
  EXPECT_FALSE(eps[2].terminated);
  EXPECT_EQ(eps[2].length(), 2);
  EXPECT_DOUBLE_EQ(eps[2].ret, 13.0);
}

TEST_F(DatasetTest, SplitsNoTrailingEpisodeWhenTheLastStepEndsOne) {
  Dataset d = make({1, 1, 1}, {0, 0, 1}, {1, 0, 0});
  const std::vector<Episode> eps = split_episodes(d);
  ASSERT_EQ(eps.size(), 2u);
  EXPECT_EQ(eps[0].length(), 1);
  EXPECT_FALSE(eps[0].terminated);
  EXPECT_EQ(eps[1].length(), 2);
  EXPECT_TRUE(eps[1].terminated);
  EXPECT_TRUE(split_episodes(make({}, {}, {})).empty());
}

TEST_F(DatasetTest, UndiscountedReturnsToGoSumTheRestOfEachEpisode) {
  Dataset d = make({1, 2, 3, 4, 5}, {0, 0, 1, 0, 0}, {0, 0, 0, 0, 0});
  const std::vector<float> rtg = returns_to_go(d, split_episodes(d));
  // Episode [0, 3): 6, 5, 3; episode [3, 5): 9, 5. Nothing crosses the boundary.
  EXPECT_EQ(rtg, (std::vector<float>{6, 5, 3, 9, 5}));
}

TEST_F(DatasetTest, DiscountedReturnsToGoUseGamma) {
  Dataset d = make({1, 2, 3, 4, 5}, {0, 0, 1, 0, 0}, {0, 0, 0, 0, 0});
  const std::vector<float> rtg = returns_to_go(d, split_episodes(d), /*gamma=*/0.9);
  ASSERT_EQ(rtg.size(), 5u);
  EXPECT_FLOAT_EQ(rtg[2], 3.0f);
  EXPECT_FLOAT_EQ(rtg[1], 2.0f + 0.9f * 3.0f);                 // 4.7
  EXPECT_FLOAT_EQ(rtg[0], 1.0f + 0.9f * 2.0f + 0.81f * 3.0f);  // 5.23
  EXPECT_FLOAT_EQ(rtg[4], 5.0f);
  EXPECT_FLOAT_EQ(rtg[3], 4.0f + 0.9f * 5.0f);  // 8.5
}

TEST_F(DatasetTest, StatsOnASmallDatasetMatchHandComputedValues) {
  // Episodes: length 2 return 3 (terminal), length 3 return 12 (timeout), length 1 return 0 (cut).
  Dataset d = make({1, 2, 3, 4, 5, 0}, {0, 1, 0, 0, 0, 0}, {0, 0, 0, 0, 1, 0});
  const DatasetStats s = dataset_stats(d);
  EXPECT_EQ(s.transitions, 6);
  EXPECT_EQ(s.episodes, 3);
  EXPECT_EQ(s.terminated, 1);
  EXPECT_EQ(s.min_length, 1);
  EXPECT_EQ(s.max_length, 3);
  EXPECT_DOUBLE_EQ(s.mean_length, 2.0);
  EXPECT_DOUBLE_EQ(s.min_return, 0.0);
  EXPECT_DOUBLE_EQ(s.max_return, 12.0);
  EXPECT_DOUBLE_EQ(s.mean_return, 5.0);
  // Population std of {3, 12, 0}: sqrt(((3-5)^2 + (12-5)^2 + (0-5)^2) / 3) = sqrt(26).
  EXPECT_NEAR(s.std_return, std::sqrt(26.0), 1e-12);
  // Sorted returns {0, 3, 12}; numpy's linear quantiles.
  ASSERT_EQ(s.return_quantiles.size(), 5u);
  EXPECT_NEAR(s.return_quantiles[0], 0.6, 1e-12);  // 0.1 * 2 = 0.2 -> 0 + 0.2 * 3
  EXPECT_NEAR(s.return_quantiles[2], 3.0, 1e-12);
  EXPECT_NEAR(s.return_quantiles[4], 10.2, 1e-12);  // 1.8 -> 3 + 0.8 * 9
  // Observations (i, -2i) for i = 0..5: mean (2.5, -5), population std sqrt(35/12) and twice it.
  ASSERT_EQ(s.obs_mean.size(), 2u);
  EXPECT_NEAR(s.obs_mean[0], 2.5, 1e-12);
  EXPECT_NEAR(s.obs_mean[1], -5.0, 1e-12);
  EXPECT_NEAR(s.obs_std[0], std::sqrt(35.0 / 12.0), 1e-12);
  EXPECT_NEAR(s.obs_std[1], 2 * std::sqrt(35.0 / 12.0), 1e-12);

  const std::string text = format_stats(d, s);
  EXPECT_NE(text.find("6 transitions, 3 episodes (1 terminated"), std::string::npos) << text;
  EXPECT_NE(text.find("mean 5"), std::string::npos) << text;
  EXPECT_NE(text.find("observations  float32 [6, 2]"), std::string::npos) << text;
}

TEST_F(DatasetTest, ObservationStdIsFlooredForConstantDimensions) {
  Dataset d = make({1, 1}, {0, 1}, {0, 0});
  std::fill(d.observations.data<float>(), d.observations.data<float>() + 4, 7.0f);
  const DatasetStats s = dataset_stats(d);
  EXPECT_DOUBLE_EQ(s.obs_std[0], 1e-6);
}

TEST_F(DatasetTest, ValidateNamesTheKeyWhoseLengthDiffers) {
  Dataset d = make({1, 2, 3}, {0, 0, 1}, {0, 0, 0});
  d.actions = Array::from_vector(std::vector<std::int64_t>{0, 1}, {2});
  EXPECT_NE(error_of([&] { d.validate(); }).find("'actions'"), std::string::npos);
  Dataset e = make({1, 2, 3}, {0, 0, 1}, {0, 0, 0});
  e.terminals = Array::from_vector(std::vector<float>{0, 0, 1}, {3});
  EXPECT_NE(error_of([&] { e.validate(); }).find("'terminals' has dtype float32"), std::string::npos);
}

// ---------------------------------------------------------------------------------------------
// Round trips

TEST_F(DatasetTest, D4rlRoundTripKeepsContinuousActionsInfosAndMetadata) {
  Dataset d = make({0.5f, -1, 2, 3.25f}, {0, 1, 0, 0}, {0, 0, 0, 1});
  d.actions = Array::from_vector(std::vector<float>{0.1f, -0.2f, 0.3f, 0.4f, -0.5f, 0.6f, 0.7f, 0.8f}, {4, 2});
  d.infos["success"] = Array::from_vector(std::vector<float>{0, 1, 0, 0}, {4});
  d.infos["has_key"] = bools({0, 1, 1, 1});
  d.infos["count"] = Array::from_vector(std::vector<std::int32_t>{7, 8, 9, 10}, {4});
  d.infos["qpos"] = Array::from_vector(std::vector<double>{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}, {4, 3});
  d.metadata = {{"env", "pendulum"}, {"policy", "random"}, {"nested/key", "value"}};
  write_d4rl(path("d.h5"), d);
  const Dataset back = read_d4rl(path("d.h5"));
  expect_same(d, back);
  EXPECT_FALSE(back.has_final_observations());
}

TEST_F(DatasetTest, D4rlRoundTripKeepsDiscreteActionsAndPixelObservations) {
  const std::int64_t n = 300;  // big enough (300 * 48 * 48 * 3 bytes) to be chunked and compressed
  Dataset d;
  d.observations = Array::zeros(DType::kUInt8, {n, 48, 48, 3});
  for (std::int64_t i = 0; i < d.observations.numel(); ++i) d.observations.data<std::uint8_t>()[i] = static_cast<std::uint8_t>((i * 7) % 251);
  std::vector<std::int64_t> actions;
  std::vector<float> rewards;
  std::vector<int> term, tout;
  for (std::int64_t i = 0; i < n; ++i) {
    actions.push_back(i % 3);
    rewards.push_back(i % 10 == 9 ? 1.0f : 0.0f);
    term.push_back(i % 10 == 9);
    tout.push_back(0);
  }
  d.actions = Array::from_vector(actions, {n});
  d.rewards = Array::from_vector(rewards, {n});
  d.terminals = bools(term);
  d.timeouts = bools(tout);
  write_d4rl(path("pixels.h5"), d);
  const Dataset back = read_d4rl(path("pixels.h5"));
  EXPECT_EQ(back.observations.dtype(), DType::kUInt8);
  EXPECT_EQ(back.actions.dtype(), DType::kInt64);
  expect_same(d, back);
  EXPECT_LT(fs::file_size(path("pixels.h5")), d.observations.nbytes());  // deflated
}

TEST_F(DatasetTest, D4rlFlagsAreStoredAsH5pyBools) {
  write_d4rl(path("d.h5"), make({1, 2}, {0, 1}, {0, 0}));
  hid_t file = H5Fopen(path("d.h5").c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
  ASSERT_GE(file, 0);
  for (const char* key : {"terminals", "timeouts"}) {
    hid_t d = H5Dopen2(file, key, H5P_DEFAULT);
    hid_t t = H5Dget_type(d);
    EXPECT_EQ(H5Tget_class(t), H5T_ENUM) << key;
    hid_t base = H5Tget_super(t);
    EXPECT_EQ(H5Tget_size(base), 1u);
    EXPECT_EQ(H5Tget_sign(base), H5T_SGN_2);
    char name[16];
    signed char v = 1;
    ASSERT_GE(H5Tenum_nameof(t, &v, name, sizeof name), 0);
    EXPECT_STREQ(name, "TRUE");
    v = 0;
    ASSERT_GE(H5Tenum_nameof(t, &v, name, sizeof name), 0);
    EXPECT_STREQ(name, "FALSE");
    H5Tclose(base);
    H5Tclose(t);
    H5Dclose(d);
  }
  H5Fclose(file);
}

TEST_F(DatasetTest, MinariRoundTripKeepsEpisodesInfosFinalObservationsAndMetadata) {
  // Two episodes, ended by a terminal and a timeout.
  Dataset d = make({1, 2, 3, 4, 5}, {0, 1, 0, 0, 0}, {0, 0, 0, 0, 1});
  d.infos["success"] = Array::from_vector(std::vector<float>{0, 1, 0, 0, 0}, {5});
  d.metadata = {{"env", "catch"}, {"mnemo_version", "0.1.0"}};
  d.final_observations = Array::from_vector(std::vector<float>{100, 101, 200, 201}, {2, 2});
  write_minari(path("main_data.hdf5"), d);
  const Dataset back = read_minari(path("main_data.hdf5"));
  expect_same(d, back);
  ASSERT_TRUE(back.has_final_observations());
  EXPECT_EQ(values<float>(back.final_observations), (std::vector<float>{100, 101, 200, 201}));
}

TEST_F(DatasetTest, MinariFileHasEpisodeGroupsWithTPlusOneObservationsAndCounts) {
  Dataset d = make({1, 2, 3, 4, 5}, {0, 1, 0, 0, 0}, {0, 0, 0, 0, 1});
  d.infos["success"] = Array::from_vector(std::vector<float>{0, 1, 0, 0, 0}, {5});
  write_minari(path("m.hdf5"), d);
  hid_t f = H5Fopen(path("m.hdf5").c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
  ASSERT_GE(f, 0);
  EXPECT_EQ(raw_read_int_attr(f, "total_episodes"), 2);
  EXPECT_EQ(raw_read_int_attr(f, "total_steps"), 5);
  hid_t e1 = H5Gopen2(f, "episode_1", H5P_DEFAULT);
  ASSERT_GE(e1, 0);
  EXPECT_EQ(raw_read_int_attr(e1, "id"), 1);
  EXPECT_EQ(raw_read_int_attr(e1, "total_steps"), 3);
  EXPECT_EQ(raw_dims(e1, "observations"), (std::vector<hsize_t>{4, 2}));
  EXPECT_EQ(raw_dims(e1, "actions"), (std::vector<hsize_t>{3}));
  EXPECT_EQ(raw_dims(e1, "terminations"), (std::vector<hsize_t>{3}));
  EXPECT_EQ(raw_dims(e1, "infos/success"), (std::vector<hsize_t>{4}));  // the reset's row first
  // Without final observations the last one repeats: rows (4, -8) twice.
  std::vector<float> obs(8);
  hid_t od = H5Dopen2(e1, "observations", H5P_DEFAULT);
  H5Dread(od, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, obs.data());
  H5Dclose(od);
  EXPECT_EQ(obs, (std::vector<float>{2, -4, 3, -6, 4, -8, 4, -8}));
  H5Gclose(e1);
  H5Fclose(f);
}

TEST_F(DatasetTest, MinariDirectoryIsWrittenAndReadThroughDataMainData) {
  fs::create_directories(path("ds"));
  Dataset d = make({1, 2}, {0, 1}, {0, 0});
  write_minari(path("ds"), d);
  EXPECT_TRUE(fs::exists(path("ds") / "data" / "main_data.hdf5"));
  expect_same(d, read_minari(path("ds")));
  expect_same(d, read_dataset(path("ds")));
}

TEST_F(DatasetTest, ReadDatasetDetectsTheLayout) {
  Dataset d = make({1, 2, 3}, {0, 1, 0}, {0, 0, 1});
  write_d4rl(path("a.h5"), d);
  write_minari(path("b.h5"), d);
  expect_same(d, read_dataset(path("a.h5")));
  const Dataset m = read_dataset(path("b.h5"));
  expect_same(d, m);
  EXPECT_TRUE(m.has_final_observations());
  EXPECT_FALSE(read_dataset(path("a.h5")).has_final_observations());
}

TEST_F(DatasetTest, ReadsAFileInTheH5pyLayoutWithBoolEnumFloat64ObsAndInt32Actions) {
  write_raw_d4rl(path("h5py.h5"));
  {
    // Metadata as D4RL writes it: a fixed-length byte string, a number, and policy weights that
    // are too large to be metadata; plus one info.
    hid_t f = H5Fopen(path("h5py.h5").c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
    ASSERT_GE(f, 0);
    raw_fixed_string(f, "metadata/algorithm", "SAC");
    const std::int64_t iteration = 42;
    raw_write(f, "metadata/iteration", H5T_STD_I64LE, H5T_NATIVE_INT64, {}, &iteration);
    std::vector<float> weights(256, 0.5f);
    raw_write(f, "metadata/policy/fc0/weight", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, {16, 16}, weights.data());
    const std::vector<std::int16_t> goal = {3, -4, 5, 6};
    raw_write(f, "infos/goal", H5T_STD_I16LE, H5T_NATIVE_INT16, {4}, goal.data());
    raw_fixed_string(f, "infos/note", "text");  // not a number: skipped
    H5Fclose(f);
  }
  const Dataset d = read_d4rl(path("h5py.h5"));
  EXPECT_EQ(d.size(), 4);
  EXPECT_EQ(d.observations.dtype(), DType::kFloat32);
  EXPECT_EQ(d.observations.shape(), (Shape{4, 2}));
  EXPECT_EQ(values<float>(d.observations), (std::vector<float>{0.5f, 1.5f, 2.5f, 3.5f, 4.5f, 5.5f, 6.5f, 7.5f}));
  EXPECT_EQ(d.actions.dtype(), DType::kInt64);
  EXPECT_EQ(values<std::int64_t>(d.actions), (std::vector<std::int64_t>{1, 0, 2, 1}));
  EXPECT_EQ(values<float>(d.rewards), (std::vector<float>{1, 0, 0.5f, 2}));
  EXPECT_EQ(ints(d.terminals), (std::vector<int>{0, 1, 0, 0}));
  EXPECT_EQ(ints(d.timeouts), (std::vector<int>{0, 0, 0, 1}));
  ASSERT_EQ(d.infos.size(), 1u);
  ASSERT_EQ(d.infos.count("goal"), 1u);
  EXPECT_EQ(d.infos.at("goal").dtype(), DType::kInt32);
  EXPECT_EQ(values<std::int32_t>(d.infos.at("goal")), (std::vector<std::int32_t>{3, -4, 5, 6}));
  EXPECT_EQ(d.metadata.at("algorithm"), "SAC");
  EXPECT_EQ(d.metadata.at("iteration"), "42");
  EXPECT_EQ(d.metadata.count("policy/fc0/weight"), 0u);
  const std::vector<Episode> eps = split_episodes(d);
  ASSERT_EQ(eps.size(), 2u);
  EXPECT_TRUE(eps[0].terminated);
  EXPECT_DOUBLE_EQ(eps[1].ret, 2.5);
}

TEST_F(DatasetTest, MissingTimeoutsReadAsFalseLikeOlderD4rlFiles) {
  write_raw_d4rl(path("old.h5"), /*skip=*/"timeouts");
  const Dataset d = read_d4rl(path("old.h5"));
  EXPECT_EQ(ints(d.timeouts), (std::vector<int>{0, 0, 0, 0}));
}

TEST_F(DatasetTest, MinariEpisodeEndingWithoutFlagIsMarkedTimedOut) {
  {
    RawFile f(path("m.hdf5"));
    for (int e = 0; e < 2; ++e) {
      const std::string g = "episode_" + std::to_string(e);
      hid_t grp = H5Gcreate2(f.id, g.c_str(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
      const std::vector<float> obs = {0, 1, 2};
      const std::vector<std::int64_t> act = {0, 1};
      const std::vector<double> rew = {1, 1};
      raw_write(grp, "observations", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, {3}, obs.data());
      raw_write(grp, "actions", H5T_STD_I64LE, H5T_NATIVE_INT64, {2}, act.data());
      raw_write(grp, "rewards", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, {2}, rew.data());
      raw_bools(grp, "terminations", {0, 0});
      raw_bools(grp, "truncations", {0, 0});
      H5Gclose(grp);
    }
  }
  const Dataset d = read_minari(path("m.hdf5"));
  EXPECT_EQ(ints(d.timeouts), (std::vector<int>{0, 1, 0, 1}));
  EXPECT_EQ(split_episodes(d).size(), 2u);
  EXPECT_EQ(d.observations.shape(), (Shape{4}));  // scalar observations, [N]
  EXPECT_EQ(values<float>(d.final_observations), (std::vector<float>{2, 2}));
}

TEST_F(DatasetTest, MinariInfosStoredAsSerializedStringsAreSkipped) {
  write_minari(path("m.hdf5"), make({1, 2}, {0, 1}, {0, 0}));
  {
    // Some Minari versions store each step's info dict as one JSON string.
    hid_t f = H5Fopen(path("m.hdf5").c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
    hid_t t = H5Tcopy(H5T_C_S1);
    H5Tset_size(t, 2);
    const char text[6] = {'{', '}', '{', '}', '{', '}'};
    raw_write(f, "episode_0/infos", t, t, {3}, text);
    H5Tclose(t);
    H5Fclose(f);
  }
  const Dataset d = read_minari(path("m.hdf5"));
  EXPECT_EQ(d.size(), 2);
  EXPECT_TRUE(d.infos.empty());
}

TEST_F(DatasetTest, MinariEpisodesAreReadInNumericIdOrder) {
  Dataset d = make({1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}, {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1},
                   {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0});
  write_minari(path("m.hdf5"), d);  // episode_0 .. episode_11: "episode_10" sorts before "episode_2" by name
  expect_same(d, read_minari(path("m.hdf5")));
}

// ---------------------------------------------------------------------------------------------
// Malformed files and failed writes

// Merging: the parts' episodes back to back, a part's unended last episode closed by a timeout,
// infos and final observations concatenated, metadata kept where the parts agree.
TEST_F(DatasetTest, ConcatPutsThePartsEpisodesBackToBack) {
  Dataset a = make({1, 2, 3}, {0, 1, 0}, {0, 0, 0});  // a terminated episode, then one left open
  Dataset b = make({10, 20}, {0, 0}, {0, 1});
  a.infos["success"] = Array::from_vector(std::vector<float>{0, 1, 0}, {3});
  b.infos["success"] = Array::from_vector(std::vector<float>{0, 0}, {2});
  a.final_observations = Array::from_vector(std::vector<float>{7, 8, 9, 10}, {2, 2});
  b.final_observations = Array::from_vector(std::vector<float>{11, 12}, {1, 2});
  a.metadata = {{"env", "pendulum"}, {"policy", "runs/early"}};
  b.metadata = {{"env", "pendulum"}, {"policy", "runs/late"}};
  const Dataset m = concat_datasets({a, b}, {"a.h5", "b.h5"});
  ASSERT_EQ(m.size(), 5);
  EXPECT_EQ(values<float>(m.rewards), (std::vector<float>{1, 2, 3, 10, 20}));
  EXPECT_EQ(values<float>(m.observations), (std::vector<float>{0, 0, 1, -2, 2, -4, 0, 0, 1, -2}));
  EXPECT_EQ(values<std::int64_t>(m.actions), (std::vector<std::int64_t>{0, 1, 2, 0, 1}));
  EXPECT_EQ(ints(m.terminals), (std::vector<int>{0, 1, 0, 0, 0}));
  EXPECT_EQ(ints(m.timeouts), (std::vector<int>{0, 0, 1, 0, 1}));
  const auto episodes = split_episodes(m);
  ASSERT_EQ(episodes.size(), 3u);
  EXPECT_EQ(episodes[1].ret, 3.0);
  EXPECT_EQ(episodes[2].ret, 30.0);
  EXPECT_EQ(values<float>(m.infos.at("success")), (std::vector<float>{0, 1, 0, 0, 0}));
  EXPECT_EQ(values<float>(m.final_observations), (std::vector<float>{7, 8, 9, 10, 11, 12}));
  EXPECT_EQ(m.metadata.at("env"), "pendulum");
  EXPECT_EQ(m.metadata.count("policy"), 0u);
  EXPECT_EQ(m.metadata.at("merged_from"), "a.h5, b.h5");
  EXPECT_EQ(m.metadata.at("merged_episodes"), "2, 1");
  // A part without final observations: the merge has none.
  b.final_observations = Array();
  EXPECT_FALSE(concat_datasets({a, b}, {"a.h5", "b.h5"}).has_final_observations());
  // The merge is written and read back like any dataset.
  write_d4rl(path("m.h5"), m);
  expect_same(read_d4rl(path("m.h5")), concat_datasets({a, b}, {"a.h5", "b.h5"}));
}

TEST_F(DatasetTest, ConcatRefusesPartsThatDisagreeNamingTheKey) {
  auto message = [](const std::vector<Dataset>& parts) {
    try {
      concat_datasets(parts, {"a.h5", "b.h5"});
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  const Dataset a = make({1, 2}, {0, 1}, {0, 0});
  Dataset wide = make({1, 2}, {0, 1}, {0, 0});
  wide.observations = Array::zeros(DType::kFloat32, {2, 3});
  EXPECT_NE(message({a, wide}).find("'observations' of b.h5 is float32 [2, 3], of a.h5 float32 [2, 2]"),
            std::string::npos)
      << message({a, wide});
  Dataset continuous = make({1, 2}, {0, 1}, {0, 0});
  continuous.actions = Array::zeros(DType::kFloat32, {2});
  EXPECT_NE(message({a, continuous}).find("'actions' of b.h5"), std::string::npos);
  Dataset with_infos = make({1, 2}, {0, 1}, {0, 0});
  with_infos.infos["success"] = Array::zeros(DType::kFloat32, {2});
  EXPECT_NE(message({a, with_infos}).find("the infos of b.h5 are [success], of a.h5 []"), std::string::npos)
      << message({a, with_infos});
}

TEST_F(DatasetTest, MissingKeyIsNamed) {
  for (const char* key : {"observations", "actions", "rewards", "terminals"}) {
    const fs::path p = path(std::string("no-") + key + ".h5");
    write_raw_d4rl(p, key);
    const std::string msg = error_of([&] { read_d4rl(p); });
    EXPECT_NE(msg.find(p.string()), std::string::npos) << msg;
    EXPECT_NE(msg.find(std::string("'") + key + "' is missing"), std::string::npos) << msg;
  }
}

TEST_F(DatasetTest, MismatchedLengthIsNamed) {
  write_raw_d4rl(path("bad.h5"), /*skip=*/"actions");
  {
    hid_t f = H5Fopen(path("bad.h5").c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
    const std::vector<std::int32_t> actions = {1, 0, 2};
    raw_write(f, "actions", H5T_STD_I32LE, H5T_NATIVE_INT32, {3}, actions.data());
    H5Fclose(f);
  }
  const std::string msg = error_of([&] { read_d4rl(path("bad.h5")); });
  EXPECT_NE(msg.find("'actions' has 3 rows"), std::string::npos) << msg;
  EXPECT_NE(msg.find("expected 4"), std::string::npos) << msg;
}

TEST_F(DatasetTest, WrongRankIsNamed) {
  write_raw_d4rl(path("bad.h5"), /*skip=*/"rewards");
  {
    hid_t f = H5Fopen(path("bad.h5").c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
    const std::vector<float> rewards(8, 1.0f);
    raw_write(f, "rewards", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, {4, 2}, rewards.data());
    H5Fclose(f);
  }
  const std::string msg = error_of([&] { read_d4rl(path("bad.h5")); });
  EXPECT_NE(msg.find("'rewards' has rank 2"), std::string::npos) << msg;
}

TEST_F(DatasetTest, NonNumericTypeIsNamed) {
  write_raw_d4rl(path("bad.h5"), /*skip=*/"observations");
  {
    hid_t f = H5Fopen(path("bad.h5").c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
    hid_t t = H5Tcopy(H5T_C_S1);
    H5Tset_size(t, 4);
    const char text[16] = {'a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j', 'k', 'l', 'm', 'n', 'o', 'p'};
    raw_write(f, "observations", t, t, {4}, text);
    H5Tclose(t);
    H5Fclose(f);
  }
  const std::string msg = error_of([&] { read_d4rl(path("bad.h5")); });
  EXPECT_NE(msg.find("'observations' has a non-numeric type (string)"), std::string::npos) << msg;
}

TEST_F(DatasetTest, Float16IsRejectedWithTheKey) {
  write_raw_d4rl(path("bad.h5"), /*skip=*/"rewards");
  {
    hid_t f = H5Fopen(path("bad.h5").c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
    // IEEE half precision, as h5py stores numpy's float16.
    hid_t t = H5Tcopy(H5T_IEEE_F32LE);
    H5Tset_fields(t, 15, 10, 5, 0, 10);
    H5Tset_precision(t, 16);
    H5Tset_size(t, 2);
    H5Tset_ebias(t, 15);
    const std::vector<std::uint16_t> half(4, 0x3C00);  // 1.0
    raw_write(f, "rewards", t, t, {4}, half.data());
    H5Tclose(t);
    H5Fclose(f);
  }
  const std::string msg = error_of([&] { read_d4rl(path("bad.h5")); });
  EXPECT_NE(msg.find("'rewards' has a 16-bit float type"), std::string::npos) << msg;
}

TEST_F(DatasetTest, MinariEpisodeWhoseObservationsAreNotTPlusOneIsNamed) {
  write_minari(path("m.hdf5"), make({1, 2, 3}, {0, 1, 1}, {0, 0, 0}));
  {
    hid_t f = H5Fopen(path("m.hdf5").c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
    H5Ldelete(f, "episode_1/observations", H5P_DEFAULT);
    const std::vector<float> obs = {9, 9};  // one row, like the episode's 1 step: no final observation
    raw_write(f, "episode_1/observations", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, {1, 2}, obs.data());
    H5Fclose(f);
  }
  const std::string msg = error_of([&] { read_minari(path("m.hdf5")); });
  EXPECT_NE(msg.find("'episode_1/observations' has 1 rows, expected 2"), std::string::npos) << msg;
}

TEST_F(DatasetTest, MinariTotalEpisodesThatDisagreeWithTheFileIsNamed) {
  write_minari(path("m.hdf5"), make({1, 2}, {1, 1}, {0, 0}));
  {
    hid_t f = H5Fopen(path("m.hdf5").c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
    H5Adelete(f, "total_episodes");
    raw_int_attr(f, "total_episodes", 5);
    H5Fclose(f);
  }
  const std::string msg = error_of([&] { read_minari(path("m.hdf5")); });
  EXPECT_NE(msg.find("'total_episodes'"), std::string::npos) << msg;
}

TEST_F(DatasetTest, FileThatIsNotHdf5IsNamed) {
  std::ofstream(path("text.h5")) << "not an HDF5 file\n";
  const std::string msg = error_of([&] { read_dataset(path("text.h5")); });
  EXPECT_NE(msg.find(path("text.h5").string() + ": not a readable HDF5 file"), std::string::npos) << msg;
  EXPECT_NE(error_of([&] { read_d4rl(path("missing.h5")); }).find("no such file"), std::string::npos);
}

TEST_F(DatasetTest, FailedWriteLeavesNoFile) {
  Dataset d = make({1, 2}, {0, 1}, {0, 0});
  d.metadata["bad//name"] = "x";  // fails after the arrays are written
  const std::string msg = error_of([&] { write_d4rl(path("out.h5"), d); });
  EXPECT_NE(msg.find("'metadata/bad//name'"), std::string::npos) << msg;
  EXPECT_TRUE(fs::is_empty(dir_)) << "a partial or temporary file was left behind";
  // An existing file stays as it was.
  Dataset good = make({1}, {1}, {0});
  write_d4rl(path("out.h5"), good);
  EXPECT_THROW(write_d4rl(path("out.h5"), d), Error);
  expect_same(good, read_d4rl(path("out.h5")));
}

}  // namespace
}  // namespace mnemo::replay
