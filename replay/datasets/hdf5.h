// HDF5 helpers of the offline datasets: handles, errors, types, reading and writing primitives.
//
// Private to replay/datasets: this header includes <hdf5.h>, which must not leak into dataset.h
// (HDF5's include directory is private to mnemo_datasets). d4rl.cc, minari.cc and dataset.cc use
// it; nothing outside replay/datasets includes it.
//
// Every HDF5 handle lives in an Hid (closed on scope exit, so an exception thrown halfway through
// a file closes everything it opened), HDF5's own error printing is switched off for the duration
// of each call (its stack is folded into the mnemo::Error instead), and every size comes from the
// file's declared dataspace and is checked before anything is allocated or read.
#pragma once

#include <hdf5.h>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/array.h"
#include "core/atomic_file.h"
#include "core/check.h"
#include "replay/datasets/dataset.h"

namespace mnemo::replay::hdf5 {

// ------------------------------------------------------------------------------------------------
// Handles and errors

// Owns one hid_t and closes it with `Close` (H5Fclose, H5Dclose, ...). Move-only.
template <herr_t (*Close)(hid_t)>
class Hid {
 public:
  Hid() = default;
  explicit Hid(hid_t id) : id_(id) {}
  Hid(Hid&& o) noexcept : id_(std::exchange(o.id_, H5I_INVALID_HID)) {}
  Hid& operator=(Hid&& o) noexcept {
    if (this != &o) {
      reset();
      id_ = std::exchange(o.id_, H5I_INVALID_HID);
    }
    return *this;
  }
  Hid(const Hid&) = delete;
  Hid& operator=(const Hid&) = delete;
  ~Hid() { reset(); }

  hid_t get() const { return id_; }
  bool valid() const { return id_ >= 0; }
  void reset() {
    if (id_ >= 0) Close(id_);
    id_ = H5I_INVALID_HID;
  }
  // Gives up ownership (for closing with a checked call).
  hid_t release() { return std::exchange(id_, H5I_INVALID_HID); }

 private:
  hid_t id_ = H5I_INVALID_HID;
};

using FileId = Hid<H5Fclose>;
using ObjectId = Hid<H5Oclose>;  // groups and datasets opened with H5Oopen, or created
using GroupId = Hid<H5Gclose>;
using DatasetId = Hid<H5Dclose>;
using SpaceId = Hid<H5Sclose>;
using TypeId = Hid<H5Tclose>;
using AttrId = Hid<H5Aclose>;
using PlistId = Hid<H5Pclose>;

// HDF5's error stack after a failed call, as "outer call: innermost cause", then cleared.
std::string hdf5_detail();

// Switches HDF5's automatic error printing off for one public call (and back on after it): a
// failure becomes one mnemo::Error instead of a stack dump on stderr. Debian's HDF5 is built
// thread-safe, where this setting is per thread; other builds get one lock around every call.
class Hdf5Scope {
 public:
  Hdf5Scope() : lock_(mutex()) {
    H5Eget_auto2(H5E_DEFAULT, &func_, &data_);
    H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
  }
  ~Hdf5Scope() {
    H5Eclear2(H5E_DEFAULT);
    H5Eset_auto2(H5E_DEFAULT, func_, data_);
  }
  Hdf5Scope(const Hdf5Scope&) = delete;
  Hdf5Scope& operator=(const Hdf5Scope&) = delete;

 private:
#ifdef H5_HAVE_THREADSAFE
  struct NoMutex {
    void lock() {}
    void unlock() {}
  };
  static NoMutex& mutex() {
    static NoMutex m;
    return m;
  }
  std::lock_guard<NoMutex> lock_;
#else
  static std::mutex& mutex() {
    static std::mutex m;
    return m;
  }
  std::lock_guard<std::mutex> lock_;
#endif
  H5E_auto2_t func_ = nullptr;
  void* data_ = nullptr;
};

// The file an operation works on, for messages that name the file and the key.
struct Where {
  std::filesystem::path file;

  // `what` continues the sentence: fail("rewards", "is missing").
  [[noreturn]] void fail(const std::string& key, const std::string& what) const {
    throw Error(file.string() + ": '" + key + "' " + what);
  }
  // After a failed HDF5 call, with HDF5's reason: fail_hdf5("rewards", "cannot read the data").
  [[noreturn]] void fail_hdf5(const std::string& key, const std::string& what) const {
    const std::string detail = hdf5_detail();
    throw Error(file.string() + ": '" + key + "': " + what + (detail.empty() ? "" : " (HDF5: " + detail + ")"));
  }
  hid_t check(hid_t id, const std::string& key, const std::string& what) const {
    if (id < 0) fail_hdf5(key, what);
    return id;
  }
  void check_status(herr_t status, const std::string& key, const std::string& what) const {
    if (status < 0) fail_hdf5(key, what);
  }
};

// ------------------------------------------------------------------------------------------------
// Types

// What a numeric HDF5 type holds. Anything else (strings, compounds, float16, ...) is rejected.
struct Numeric {
  enum Kind { kFloat, kSigned, kUnsigned, kBool };
  Kind kind = kFloat;
  std::size_t size = 4;
};

// ------------------------------------------------------------------------------------------------
// Reading

enum class ObjKind { kMissing, kGroup, kDataset, kOther };

ObjKind kind_of(hid_t loc, const std::string& name);

// Link names of a group, in name order. One pass of H5Literate: looking names up by index is
// linear per call in old-style groups, quadratic over a Minari file's thousands of episodes.
std::vector<std::string> link_names(hid_t group, const Where& w, const std::string& key);

ObjectId open_group(hid_t loc, const std::string& name, const Where& w, const std::string& key);

// An opened dataset with its checked type and shape; nothing read yet.
struct Field {
  ObjectId id;
  Numeric type;
  Shape shape;
  std::string key;
};

Field open_field(hid_t loc, const std::string& name, const Where& w, const std::string& key);

void expect_rank(const Field& f, std::size_t rank, const Where& w);
void expect_min_rank(const Field& f, std::size_t rank, const Where& w);
void expect_rows(const Field& f, std::int64_t rows, const std::string& what, const Where& w);

Array allocate(DType dtype, const Shape& shape, const Where& w, const std::string& key);

// The dtype each role converts to (dataset.h): observations float32 unless uint8, actions int64
// unless floats, infos keep theirs (widened to a dtype Array has).
DType observation_dtype(const Numeric& t);
DType action_dtype(const Numeric& t);
DType info_dtype(const Numeric& t);

// Reads a whole dataset into an array of `target` dtype. HDF5 converts between integer and float
// types; h5py's bool enum is read as bytes and converted here, since HDF5 does not convert enums
// to numbers.
Array read_field(const Field& f, DType target, const Where& w);

// metadata/<name> datasets, nested groups joined with '/'.
void read_metadata_group(hid_t group, const std::string& prefix, int depth, const Where& w,
                         std::map<std::string, std::string>& out);

// Attributes of an object as metadata (strings as they are, small numeric values as text),
// except those named in `skip`.
void read_attributes(hid_t obj, const std::string& key, const std::vector<std::string>& skip, const Where& w,
                     std::map<std::string, std::string>& out);

// An integer attribute of `obj`, or nullopt when absent.
std::optional<std::int64_t> int_attribute(hid_t obj, const std::string& name, const Where& w, const std::string& key);

// Every numeric dataset under `group` (nested groups joined with '/'), for infos. Infos that are
// not numbers (strings, say) have no place in a Dataset and are skipped.
void collect_fields(hid_t group, const std::string& prefix, int depth, const Where& w, std::vector<Field>& out,
                    std::vector<std::string>& names, const std::string& name_prefix);

FileId open_file(const std::filesystem::path& path, const Where& w);

// Whether the file holds episode_* groups (the Minari layout).
bool has_episode_groups(hid_t file, const Where& w);

// The readers of an open file, one per layout (d4rl.cc, minari.cc): read_dataset detects the
// layout on the file it opened and calls one of them.
Dataset read_d4rl_file(hid_t file, const Where& w);
Dataset read_minari_file(hid_t file, const Where& w);

// ------------------------------------------------------------------------------------------------
// Writing

// Writes `a` as dataset `name` of `loc`. Larger arrays are chunked by rows and deflated (h5py and
// every HDF5 build read gzip), which shrinks pixel datasets many times over.
void write_array(hid_t loc, const std::string& name, const Array& a, const Where& w, const std::string& key);

// A scalar variable-length UTF-8 string dataset: what h5py writes for `f[name] = "text"`.
void write_string_dataset(hid_t loc, const std::string& name, const std::string& value, const Where& w,
                          const std::string& key);

void write_string_attribute(hid_t obj, const std::string& name, const std::string& value, const Where& w,
                            const std::string& key);

void write_int_attribute(hid_t obj, const std::string& name, std::int64_t value, const Where& w, const std::string& key);

GroupId create_group(hid_t loc, const std::string& name, const Where& w);

// Lets HDF5 write the temporary file (truncating the empty one AtomicFile made, which keeps its
// name unique), lets `fill` write into it, closes it (checked: a failed close can mean unwritten
// data) and publishes it.
template <class Fill>
void write_hdf5_atomically(const std::filesystem::path& path, const Where& w, Fill fill) {
  AtomicFile out(path);
  {
    FileId f(H5Fcreate(out.temp_path().c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT));
    if (!f.valid()) {
      const std::string detail = hdf5_detail();
      throw Error(path.string() + ": cannot create " + out.temp_path().string() +
                  (detail.empty() ? "" : " (HDF5: " + detail + ")"));
    }
    fill(f.get());
    if (H5Fclose(f.release()) < 0) {
      const std::string detail = hdf5_detail();
      throw Error(path.string() + ": cannot finish writing" + (detail.empty() ? "" : " (HDF5: " + detail + ")"));
    }
  }
  out.commit();
}

// `like` with its leading dimension set to `rows`.
Shape with_rows(std::int64_t rows, const Shape& like);

// Rows [begin, end) of `a` as an array sharing its memory.
Array rows_of(const Array& a, std::int64_t begin, std::int64_t end);

}  // namespace mnemo::replay::hdf5
