// Offline datasets over the HDF5 C API. See dataset.h.
//
// Every HDF5 handle lives in an Hid (closed on scope exit, so an exception thrown halfway through
// a file closes everything it opened), HDF5's own error printing is switched off for the duration
// of each call (its stack is folded into the mnemo::Error instead), and every size comes from the
// file's declared dataspace and is checked before anything is allocated or read.
#include "replay/dataset.h"

#include <hdf5.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>
#include <mutex>
#include <new>
#include <optional>
#include <sstream>
#include <type_traits>
#include <utility>

#include "core/atomic_file.h"
#include "core/check.h"
#include "core/json.h"

namespace mnemo::replay {
namespace fs = std::filesystem;

namespace {

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
std::string hdf5_detail() {
  struct Acc {
    std::string outer, inner;
  } acc;
  H5Ewalk2(
      H5E_DEFAULT, H5E_WALK_DOWNWARD,
      [](unsigned n, const H5E_error2_t* e, void* data) -> herr_t {
        auto* a = static_cast<Acc*>(data);
        if (e->desc != nullptr && e->desc[0] != '\0') {
          if (n == 0) a->outer = e->desc;
          a->inner = e->desc;
        }
        return 0;
      },
      &acc);
  H5Eclear2(H5E_DEFAULT);
  if (acc.outer.empty()) return "";
  if (acc.inner.empty() || acc.inner == acc.outer) return acc.outer;
  return acc.outer + ": " + acc.inner;
}

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
  fs::path file;

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

std::string join_key(const std::string& prefix, const std::string& name) {
  return prefix.empty() ? name : prefix + "/" + name;
}

// ------------------------------------------------------------------------------------------------
// Types

// What a numeric HDF5 type holds. Anything else (strings, compounds, float16, ...) is rejected.
struct Numeric {
  enum Kind { kFloat, kSigned, kUnsigned, kBool };
  Kind kind = kFloat;
  std::size_t size = 4;
};

const char* class_name(H5T_class_t c) {
  switch (c) {
    case H5T_INTEGER: return "integer";
    case H5T_FLOAT: return "float";
    case H5T_TIME: return "time";
    case H5T_STRING: return "string";
    case H5T_BITFIELD: return "bitfield";
    case H5T_OPAQUE: return "opaque";
    case H5T_COMPOUND: return "compound";
    case H5T_REFERENCE: return "reference";
    case H5T_ENUM: return "enum";
    case H5T_VLEN: return "variable-length";
    case H5T_ARRAY: return "array";
    default: return "unknown";
  }
}

// h5py's bool: an enum over a one-byte integer with exactly the values 0 and 1.
bool is_h5py_bool(hid_t type) {
  if (H5Tget_class(type) != H5T_ENUM) return false;
  TypeId base(H5Tget_super(type));
  if (!base.valid() || H5Tget_class(base.get()) != H5T_INTEGER || H5Tget_size(base.get()) != 1) return false;
  if (H5Tget_nmembers(type) != 2) return false;
  bool seen[2] = {false, false};
  for (unsigned i = 0; i < 2; ++i) {
    signed char v = 0;
    if (H5Tget_member_value(type, i, &v) < 0 || v < 0 || v > 1) return false;
    seen[static_cast<int>(v)] = true;
  }
  return seen[0] && seen[1];
}

Numeric numeric_type(hid_t type, const Where& w, const std::string& key) {
  const H5T_class_t c = H5Tget_class(type);
  const std::size_t size = H5Tget_size(type);
  switch (c) {
    case H5T_INTEGER:
      if (size != 1 && size != 2 && size != 4 && size != 8)
        w.fail(key, "has a " + std::to_string(size * 8) + "-bit integer type (expected 8, 16, 32 or 64 bits)");
      return {H5Tget_sign(type) == H5T_SGN_NONE ? Numeric::kUnsigned : Numeric::kSigned, size};
    case H5T_FLOAT:
      if (size != 4 && size != 8)
        w.fail(key, "has a " + std::to_string(size * 8) + "-bit float type (float32 and float64 are supported)");
      return {Numeric::kFloat, size};
    case H5T_ENUM:
      if (is_h5py_bool(type)) return {Numeric::kBool, 1};
      w.fail(key, "has an enum type that is not h5py's bool (FALSE=0, TRUE=1)");
    default:
      w.fail(key, std::string("has a non-numeric type (") + class_name(c) + ")");
  }
}

// Whether numeric_type() accepts `type` (metadata skips what it does not, instead of failing).
bool is_supported_numeric(hid_t type) {
  const std::size_t size = H5Tget_size(type);
  switch (H5Tget_class(type)) {
    case H5T_INTEGER: return size == 1 || size == 2 || size == 4 || size == 8;
    case H5T_FLOAT: return size == 4 || size == 8;
    case H5T_ENUM: return is_h5py_bool(type);
    default: return false;
  }
}

hid_t native_type(DType d) {
  switch (d) {
    case DType::kUInt8: return H5T_NATIVE_UINT8;
    case DType::kInt32: return H5T_NATIVE_INT32;
    case DType::kInt64: return H5T_NATIVE_INT64;
    case DType::kFloat32: return H5T_NATIVE_FLOAT;
    case DType::kFloat64: return H5T_NATIVE_DOUBLE;
    case DType::kBool: break;  // an enum, built by bool_type()
  }
  throw Error("no native HDF5 type for dtype " + std::string(dtype_name(d)));
}

hid_t file_type(DType d) {
  switch (d) {
    case DType::kUInt8: return H5T_STD_U8LE;
    case DType::kInt32: return H5T_STD_I32LE;
    case DType::kInt64: return H5T_STD_I64LE;
    case DType::kFloat32: return H5T_IEEE_F32LE;
    case DType::kFloat64: return H5T_IEEE_F64LE;
    case DType::kBool: break;
  }
  throw Error("no HDF5 file type for dtype " + std::string(dtype_name(d)));
}

// h5py's bool type: an int8 enum with FALSE = 0 and TRUE = 1, so numpy reads it as bool.
TypeId bool_type(const Where& w, const std::string& key) {
  TypeId t(w.check(H5Tenum_create(H5T_NATIVE_INT8), key, "cannot create the bool enum type"));
  const signed char f = 0, tr = 1;
  w.check_status(H5Tenum_insert(t.get(), "FALSE", &f), key, "cannot create the bool enum type");
  w.check_status(H5Tenum_insert(t.get(), "TRUE", &tr), key, "cannot create the bool enum type");
  return t;
}

// ------------------------------------------------------------------------------------------------
// Reading

enum class ObjKind { kMissing, kGroup, kDataset, kOther };

// An object of a group, opened once: what it is decides how it is used, and the handle serves
// as a group or dataset id (H5Oopen returns the one its type needs).
struct Object {
  ObjKind kind = ObjKind::kMissing;
  ObjectId id;
};

Object open_object(hid_t loc, const std::string& name) {
  Object o;
  // H5Lexists on a plain name (no '/') cannot fail on a missing intermediate group.
  if (H5Lexists(loc, name.c_str(), H5P_DEFAULT) <= 0) return o;
  o.id = ObjectId(H5Oopen(loc, name.c_str(), H5P_DEFAULT));
  if (!o.id.valid()) {
    H5Eclear2(H5E_DEFAULT);
    o.kind = ObjKind::kOther;  // a dangling soft or external link
    return o;
  }
  switch (H5Iget_type(o.id.get())) {
    case H5I_GROUP: o.kind = ObjKind::kGroup; break;
    case H5I_DATASET: o.kind = ObjKind::kDataset; break;
    default: o.kind = ObjKind::kOther; break;
  }
  return o;
}

ObjKind kind_of(hid_t loc, const std::string& name) { return open_object(loc, name).kind; }

// Link names of a group, in name order. One pass of H5Literate: looking names up by index is
// linear per call in old-style groups, quadratic over a Minari file's thousands of episodes.
std::vector<std::string> link_names(hid_t group, const Where& w, const std::string& key) {
  std::vector<std::string> names;
  hsize_t idx = 0;
  const herr_t r = H5Literate(
      group, H5_INDEX_NAME, H5_ITER_INC, &idx,
      [](hid_t, const char* name, const H5L_info_t*, void* data) -> herr_t {
        static_cast<std::vector<std::string>*>(data)->emplace_back(name);
        return 0;
      },
      &names);
  if (r < 0) w.fail_hdf5(key, "cannot list the group");
  return names;
}

ObjectId open_group(hid_t loc, const std::string& name, const Where& w, const std::string& key) {
  Object o = open_object(loc, name);
  if (o.kind == ObjKind::kMissing) w.fail(key, "is missing");
  if (o.kind != ObjKind::kGroup) w.fail(key, "is not a group");
  return std::move(o.id);
}

// The declared extent of a dataspace, each dimension checked to fit int64 and the element count
// checked for overflow.
Shape extent(hid_t space, const Where& w, const std::string& key) {
  const H5S_class_t cls = H5Sget_simple_extent_type(space);
  if (cls == H5S_NULL) w.fail(key, "has an empty (null) dataspace");
  if (cls == H5S_SCALAR) return {};
  const int rank = H5Sget_simple_extent_ndims(space);
  if (rank < 0) w.fail_hdf5(key, "cannot read the dataspace");
  std::vector<hsize_t> dims(static_cast<std::size_t>(rank));
  if (H5Sget_simple_extent_dims(space, dims.data(), nullptr) < 0) w.fail_hdf5(key, "cannot read the dataspace");
  Shape s;
  for (hsize_t d : dims) {
    if (d > static_cast<hsize_t>(std::numeric_limits<std::int64_t>::max()))
      w.fail(key, "declares a dimension of " + std::to_string(d) + ", too large");
    s.push_back(static_cast<std::int64_t>(d));
  }
  try {
    shape_numel(s);
  } catch (const Error&) {
    w.fail(key, "declares the shape " + shape_str(s) + ", whose element count overflows");
  }
  return s;
}

// An opened dataset with its checked type and shape; nothing read yet.
struct Field {
  ObjectId id;
  Numeric type;
  Shape shape;
  std::string key;
};

Field open_field(hid_t loc, const std::string& name, const Where& w, const std::string& key) {
  Object o = open_object(loc, name);
  if (o.kind == ObjKind::kMissing) w.fail(key, "is missing");
  if (o.kind == ObjKind::kGroup)
    w.fail(key, "is a group, expected a dataset (dict or tuple spaces are not supported)");
  if (o.kind != ObjKind::kDataset) w.fail(key, "is not a dataset");
  Field f;
  f.key = key;
  f.id = std::move(o.id);
  TypeId t(w.check(H5Dget_type(f.id.get()), key, "cannot read the dataset's type"));
  f.type = numeric_type(t.get(), w, key);
  SpaceId s(w.check(H5Dget_space(f.id.get()), key, "cannot read the dataset's dataspace"));
  f.shape = extent(s.get(), w, key);
  return f;
}

void expect_rank(const Field& f, std::size_t rank, const Where& w) {
  if (f.shape.size() != rank)
    w.fail(f.key, "has rank " + std::to_string(f.shape.size()) + " (shape " + shape_str(f.shape) + "), expected " +
                      std::to_string(rank));
}

void expect_min_rank(const Field& f, std::size_t rank, const Where& w) {
  if (f.shape.size() < rank)
    w.fail(f.key, "has rank " + std::to_string(f.shape.size()) + " (shape " + shape_str(f.shape) +
                      "), expected at least " + std::to_string(rank));
}

void expect_rows(const Field& f, std::int64_t rows, const std::string& what, const Where& w) {
  if (f.shape.empty() || f.shape[0] != rows)
    w.fail(f.key, "has " + (f.shape.empty() ? std::string("no rows") : std::to_string(f.shape[0]) + " rows") +
                      " (shape " + shape_str(f.shape) + "), expected " + std::to_string(rows) + " (" + what + ")");
}

Array allocate(DType dtype, const Shape& shape, const Where& w, const std::string& key) {
  try {
    // Bytes can still overflow size_t after the element count fit int64.
    const std::int64_t n = shape_numel(shape);
    if (n > 0 && static_cast<std::uint64_t>(n) > std::numeric_limits<std::size_t>::max() / dtype_size(dtype))
      w.fail(key, "needs an array of shape " + shape_str(shape) + ", too large to hold in memory");
    return Array::zeros(dtype, shape);
  } catch (const std::bad_alloc&) {
    w.fail(key, "needs an array of shape " + shape_str(shape) + ", too large to hold in memory");
  }
}

// The dtype each role converts to (dataset.h): observations float32 unless uint8, actions int64
// unless floats, infos keep theirs (widened to a dtype Array has).
DType observation_dtype(const Numeric& t) {
  return t.kind == Numeric::kUnsigned && t.size == 1 ? DType::kUInt8 : DType::kFloat32;
}
DType action_dtype(const Numeric& t) { return t.kind == Numeric::kFloat ? DType::kFloat32 : DType::kInt64; }
DType info_dtype(const Numeric& t) {
  switch (t.kind) {
    case Numeric::kFloat: return t.size == 4 ? DType::kFloat32 : DType::kFloat64;
    case Numeric::kBool: return DType::kBool;
    case Numeric::kUnsigned:
      if (t.size == 1) return DType::kUInt8;
      return t.size == 2 ? DType::kInt32 : DType::kInt64;
    case Numeric::kSigned: return t.size <= 4 ? DType::kInt32 : DType::kInt64;
  }
  return DType::kFloat64;
}

// Reads a whole dataset into an array of `target` dtype. HDF5 converts between integer and float
// types; h5py's bool enum is read as bytes and converted here, since HDF5 does not convert enums
// to numbers.
Array read_field(const Field& f, DType target, const Where& w) {
  const Shape& shape = f.shape;
  SpaceId file_space(w.check(H5Dget_space(f.id.get()), f.key, "cannot read the dataset's dataspace"));
  std::vector<hsize_t> mem_dims(shape.begin(), shape.end());
  SpaceId mem_space(shape.empty() ? H5Screate(H5S_SCALAR)
                                  : H5Screate_simple(static_cast<int>(mem_dims.size()), mem_dims.data(), nullptr));
  w.check(mem_space.get(), f.key, "cannot create a dataspace");
  Array out = allocate(target, shape, w, f.key);
  if (out.numel() == 0) return out;

  auto read_into = [&](hid_t mem_type, void* buf) {
    w.check_status(H5Dread(f.id.get(), mem_type, mem_space.get(), file_space.get(), H5P_DEFAULT, buf), f.key,
                   "cannot read the data");
  };
  const std::size_t n = static_cast<std::size_t>(out.numel());
  if (f.type.kind == Numeric::kBool) {
    TypeId t(w.check(H5Dget_type(f.id.get()), f.key, "cannot read the dataset's type"));
    TypeId mem(w.check(H5Tget_native_type(t.get(), H5T_DIR_ASCEND), f.key, "cannot read the dataset's type"));
    std::vector<std::uint8_t> bytes(n);
    read_into(mem.get(), bytes.data());
    auto fill = [&](auto* dst) {
      for (std::size_t i = 0; i < n; ++i) dst[i] = static_cast<std::remove_pointer_t<decltype(dst)>>(bytes[i] != 0);
    };
    switch (target) {
      case DType::kBool: fill(out.data<bool>()); break;
      case DType::kUInt8: fill(out.data<std::uint8_t>()); break;
      case DType::kInt32: fill(out.data<std::int32_t>()); break;
      case DType::kInt64: fill(out.data<std::int64_t>()); break;
      case DType::kFloat32: fill(out.data<float>()); break;
      case DType::kFloat64: fill(out.data<double>()); break;
    }
    return out;
  }
  if (target == DType::kBool) {
    // Any nonzero number is true (flags stored as floats or integers by other writers).
    std::vector<double> values(n);
    read_into(H5T_NATIVE_DOUBLE, values.data());
    bool* dst = out.data<bool>();
    for (std::size_t i = 0; i < n; ++i) dst[i] = values[i] != 0.0;
    return out;
  }
  read_into(native_type(target), out.raw());
  return out;
}

// A string from a dataset or attribute of string type (fixed-length or variable-length, one
// element). `read(mem_type, buf)` reads the element.
template <class Read>
std::string read_string(hid_t type, hid_t space, Read read, const Where& w, const std::string& key) {
  const hssize_t n = H5Sget_simple_extent_npoints(space);
  if (n != 1) w.fail(key, "is a string array, expected one string");
  TypeId mem(w.check(H5Tcopy(H5T_C_S1), key, "cannot create a string type"));
  H5Tset_cset(mem.get(), H5Tget_cset(type));
  if (H5Tis_variable_str(type) > 0) {
    w.check_status(H5Tset_size(mem.get(), H5T_VARIABLE), key, "cannot create a string type");
    char* p = nullptr;
    w.check_status(read(mem.get(), &p), key, "cannot read the string");
    std::string s = p != nullptr ? std::string(p) : std::string();
    if (p != nullptr) H5free_memory(p);
    return s;
  }
  const std::size_t size = H5Tget_size(type);
  if (size == 0 || size > (1u << 24)) w.fail(key, "declares a string of " + std::to_string(size) + " bytes");
  w.check_status(H5Tset_size(mem.get(), size + 1), key, "cannot create a string type");
  w.check_status(H5Tset_strpad(mem.get(), H5T_STR_NULLTERM), key, "cannot create a string type");
  std::string buf(size + 1, '\0');
  w.check_status(read(mem.get(), buf.data()), key, "cannot read the string");
  buf.resize(std::strlen(buf.c_str()));
  return buf;
}

constexpr std::int64_t kMaxMetadataElements = 16;

// A small numeric array or scalar as text ("3", "0.5", "[1, 2]"); `read(mem_type, buf)` reads it.
template <class Read>
std::string format_numeric(const Numeric& t, const Shape& shape, Read read, const Where& w, const std::string& key) {
  const std::int64_t n = shape_numel(shape);
  std::ostringstream os;
  if (!shape.empty()) os << "[";
  if (t.kind == Numeric::kFloat) {
    std::vector<double> v(static_cast<std::size_t>(n));
    w.check_status(read(H5T_NATIVE_DOUBLE, v.data()), key, "cannot read the value");
    for (std::int64_t i = 0; i < n; ++i) os << (i ? ", " : "") << json::number(v[static_cast<std::size_t>(i)]);
  } else if (t.kind == Numeric::kUnsigned && t.size == 8) {
    std::vector<std::uint64_t> v(static_cast<std::size_t>(n));
    w.check_status(read(H5T_NATIVE_UINT64, v.data()), key, "cannot read the value");
    for (std::int64_t i = 0; i < n; ++i) os << (i ? ", " : "") << v[static_cast<std::size_t>(i)];
  } else {
    std::vector<std::int64_t> v(static_cast<std::size_t>(n));
    w.check_status(read(H5T_NATIVE_INT64, v.data()), key, "cannot read the value");
    for (std::int64_t i = 0; i < n; ++i) os << (i ? ", " : "") << v[static_cast<std::size_t>(i)];
  }
  if (!shape.empty()) os << "]";
  return os.str();
}

// One metadata dataset as text, or nullopt when it is not metadata-sized (skipped).
std::optional<std::string> read_metadata_value(hid_t loc, const std::string& name, const Where& w,
                                               const std::string& key) {
  ObjectId d(w.check(H5Dopen2(loc, name.c_str(), H5P_DEFAULT), key, "cannot open the dataset"));
  TypeId t(w.check(H5Dget_type(d.get()), key, "cannot read the dataset's type"));
  SpaceId s(w.check(H5Dget_space(d.get()), key, "cannot read the dataset's dataspace"));
  auto read = [&](hid_t mem, void* buf) { return H5Dread(d.get(), mem, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf); };
  const H5T_class_t c = H5Tget_class(t.get());
  if (c == H5T_STRING) {
    if (H5Sget_simple_extent_npoints(s.get()) != 1) return std::nullopt;
    return read_string(t.get(), s.get(), read, w, key);
  }
  if (!is_supported_numeric(t.get())) return std::nullopt;
  const Shape shape = extent(s.get(), w, key);
  if (shape_numel(shape) > kMaxMetadataElements) return std::nullopt;
  const Numeric num = numeric_type(t.get(), w, key);
  if (num.kind == Numeric::kBool) {
    Field f{std::move(d), num, shape, key};
    const Array a = read_field(f, DType::kBool, w);
    std::string out = shape.empty() ? "" : "[";
    for (std::int64_t i = 0; i < a.numel(); ++i) out += std::string(i ? ", " : "") + (a.data<bool>()[i] ? "true" : "false");
    return shape.empty() ? out : out + "]";
  }
  return format_numeric(num, shape, read, w, key);
}

constexpr int kMaxDepth = 8;          // nested groups followed (HDF5 links can form cycles)
constexpr std::size_t kMaxEntries = 4096;

// metadata/<name> datasets, nested groups joined with '/'.
void read_metadata_group(hid_t group, const std::string& prefix, int depth, const Where& w,
                         std::map<std::string, std::string>& out) {
  if (depth > kMaxDepth) return;
  for (const std::string& name : link_names(group, w, prefix)) {
    if (out.size() >= kMaxEntries) return;
    const std::string key = join_key(prefix, name);
    const ObjKind k = kind_of(group, name);
    if (k == ObjKind::kGroup) {
      ObjectId g = open_group(group, name, w, key);
      read_metadata_group(g.get(), key, depth + 1, w, out);
    } else if (k == ObjKind::kDataset) {
      if (auto v = read_metadata_value(group, name, w, key)) out[key.substr(std::string("metadata/").size())] = *v;
    }
  }
}

// Attributes of an object as metadata (strings as they are, small numeric values as text),
// except those named in `skip`.
void read_attributes(hid_t obj, const std::string& key, const std::vector<std::string>& skip, const Where& w,
                     std::map<std::string, std::string>& out) {
  std::vector<std::string> names;
  hsize_t idx = 0;
  const herr_t r = H5Aiterate2(
      obj, H5_INDEX_NAME, H5_ITER_INC, &idx,
      [](hid_t, const char* name, const H5A_info_t*, void* data) -> herr_t {
        auto* v = static_cast<std::vector<std::string>*>(data);
        v->push_back(name);
        return v->size() >= kMaxEntries ? 1 : 0;
      },
      &names);
  if (r < 0) w.fail_hdf5(key, "cannot list the attributes");
  for (const std::string& name : names) {
    if (std::find(skip.begin(), skip.end(), name) != skip.end()) continue;
    const std::string akey = key + "@" + name;
    AttrId a(w.check(H5Aopen(obj, name.c_str(), H5P_DEFAULT), akey, "cannot open the attribute"));
    TypeId t(w.check(H5Aget_type(a.get()), akey, "cannot read the attribute's type"));
    SpaceId s(w.check(H5Aget_space(a.get()), akey, "cannot read the attribute's dataspace"));
    auto read = [&](hid_t mem, void* buf) { return H5Aread(a.get(), mem, buf); };
    const H5T_class_t c = H5Tget_class(t.get());
    if (c == H5T_STRING) {
      if (H5Sget_simple_extent_npoints(s.get()) == 1) out[name] = read_string(t.get(), s.get(), read, w, akey);
    } else if ((c == H5T_INTEGER || c == H5T_FLOAT) && is_supported_numeric(t.get())) {
      const Shape shape = extent(s.get(), w, akey);
      if (shape_numel(shape) <= kMaxMetadataElements)
        out[name] = format_numeric(numeric_type(t.get(), w, akey), shape, read, w, akey);
    }
  }
}

// An integer attribute of `obj`, or nullopt when absent.
std::optional<std::int64_t> int_attribute(hid_t obj, const std::string& name, const Where& w, const std::string& key) {
  const htri_t exists = H5Aexists(obj, name.c_str());
  if (exists < 0) w.fail_hdf5(key, "cannot read attribute " + name);
  if (exists == 0) return std::nullopt;
  const std::string akey = key + "@" + name;
  AttrId a(w.check(H5Aopen(obj, name.c_str(), H5P_DEFAULT), akey, "cannot open the attribute"));
  TypeId t(w.check(H5Aget_type(a.get()), akey, "cannot read the attribute's type"));
  SpaceId s(w.check(H5Aget_space(a.get()), akey, "cannot read the attribute's dataspace"));
  if (H5Tget_class(t.get()) != H5T_INTEGER || H5Sget_simple_extent_npoints(s.get()) != 1)
    w.fail(akey, "is not an integer");
  std::int64_t v = 0;
  w.check_status(H5Aread(a.get(), H5T_NATIVE_INT64, &v), akey, "cannot read the attribute");
  return v;
}

// Every numeric dataset under `group` (nested groups joined with '/'), for infos. Infos that are
// not numbers (strings, say) have no place in a Dataset and are skipped.
void collect_fields(hid_t group, const std::string& prefix, int depth, const Where& w, std::vector<Field>& out,
                    std::vector<std::string>& names, const std::string& name_prefix) {
  if (depth > kMaxDepth) w.fail(prefix, "nests groups deeper than " + std::to_string(kMaxDepth));
  for (const std::string& name : link_names(group, w, prefix)) {
    if (out.size() >= kMaxEntries) w.fail(prefix, "holds more than " + std::to_string(kMaxEntries) + " datasets");
    const std::string key = join_key(prefix, name);
    Object o = open_object(group, name);
    if (o.kind == ObjKind::kGroup) {
      collect_fields(o.id.get(), key, depth + 1, w, out, names, join_key(name_prefix, name));
    } else if (o.kind == ObjKind::kDataset) {
      TypeId t(w.check(H5Dget_type(o.id.get()), key, "cannot read the dataset's type"));
      if (!is_supported_numeric(t.get())) continue;
      out.push_back(open_field(group, name, w, key));
      names.push_back(join_key(name_prefix, name));
    }
  }
}

FileId open_file(const fs::path& path, const Where& w) {
  std::error_code ec;
  if (!fs::exists(path, ec)) throw Error(path.string() + ": no such file");
  if (!fs::is_regular_file(path, ec)) throw Error(path.string() + ": not a regular file");
  const hid_t f = H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
  if (f < 0) {
    const std::string detail = hdf5_detail();
    throw Error(path.string() + ": not a readable HDF5 file" + (detail.empty() ? "" : " (HDF5: " + detail + ")"));
  }
  return FileId(f);
}

bool has_episode_groups(hid_t file, const Where& w) {
  for (const std::string& name : link_names(file, w, "/"))
    if (name.rfind("episode_", 0) == 0) return true;
  return false;
}

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

Shape with_rows(std::int64_t rows, const Shape& like) {
  Shape s = like;
  s[0] = rows;
  return s;
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

fs::path minari_file(const fs::path& path) {
  std::error_code ec;
  if (!fs::is_directory(path, ec)) return path;
  for (const fs::path& p : {path / "data" / "main_data.hdf5", path / "main_data.hdf5"})
    if (fs::exists(p, ec)) return p;
  throw Error(path.string() + ": a directory without data/main_data.hdf5 or main_data.hdf5 (not a Minari dataset)");
}

// ------------------------------------------------------------------------------------------------
// Writing

// Link creation that makes missing groups on the way ("a/b/c" creates a and a/b).
PlistId intermediate_groups(const Where& w) {
  PlistId p(w.check(H5Pcreate(H5P_LINK_CREATE), "/", "cannot create a property list"));
  w.check_status(H5Pset_create_intermediate_group(p.get(), 1), "/", "cannot create a property list");
  return p;
}

void check_name(const std::string& name, const Where& w, const std::string& key) {
  if (name.empty() || name.front() == '/' || name.back() == '/' || name.find("//") != std::string::npos ||
      name == "." || name.find('\0') != std::string::npos)
    w.fail(key, "is not a valid HDF5 name");
}

constexpr std::size_t kChunkBytes = 1 << 20;

// Writes `a` as dataset `name` of `loc`. Larger arrays are chunked by rows and deflated (h5py and
// every HDF5 build read gzip), which shrinks pixel datasets many times over.
void write_array(hid_t loc, const std::string& name, const Array& a, const Where& w, const std::string& key) {
  check_name(name, w, key);
  std::vector<hsize_t> dims(a.shape().begin(), a.shape().end());
  SpaceId space(dims.empty() ? H5Screate(H5S_SCALAR) : H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr));
  w.check(space.get(), key, "cannot create a dataspace");
  PlistId create(w.check(H5Pcreate(H5P_DATASET_CREATE), key, "cannot create a property list"));
  if (!dims.empty() && dims[0] > 0 && a.nbytes() > 64 * 1024 && H5Zfilter_avail(H5Z_FILTER_DEFLATE) > 0) {
    std::vector<hsize_t> chunk = dims;
    const std::size_t row_bytes = std::max<std::size_t>(a.nbytes() / dims[0], 1);
    chunk[0] = std::clamp<hsize_t>(kChunkBytes / row_bytes, 1, dims[0]);
    w.check_status(H5Pset_chunk(create.get(), static_cast<int>(chunk.size()), chunk.data()), key, "cannot set chunking");
    w.check_status(H5Pset_deflate(create.get(), 4), key, "cannot set compression");
  }
  TypeId bool_t;
  hid_t ftype, mtype;
  if (a.dtype() == DType::kBool) {
    bool_t = bool_type(w, key);
    ftype = mtype = bool_t.get();  // a native int8 enum: bool's 0/1 bytes as they are in memory
  } else {
    ftype = file_type(a.dtype());
    mtype = native_type(a.dtype());
  }
  PlistId lcpl = intermediate_groups(w);
  DatasetId d(w.check(H5Dcreate2(loc, name.c_str(), ftype, space.get(), lcpl.get(), create.get(), H5P_DEFAULT), key,
                      "cannot create the dataset"));
  if (a.numel() > 0)
    w.check_status(H5Dwrite(d.get(), mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, a.raw()), key, "cannot write the data");
}

TypeId utf8_string_type(const Where& w, const std::string& key) {
  TypeId t(w.check(H5Tcopy(H5T_C_S1), key, "cannot create a string type"));
  w.check_status(H5Tset_size(t.get(), H5T_VARIABLE), key, "cannot create a string type");
  w.check_status(H5Tset_cset(t.get(), H5T_CSET_UTF8), key, "cannot create a string type");
  return t;
}

// A scalar variable-length UTF-8 string dataset: what h5py writes for `f[name] = "text"`.
void write_string_dataset(hid_t loc, const std::string& name, const std::string& value, const Where& w,
                          const std::string& key) {
  check_name(name, w, key);
  TypeId t = utf8_string_type(w, key);
  SpaceId s(w.check(H5Screate(H5S_SCALAR), key, "cannot create a dataspace"));
  PlistId lcpl = intermediate_groups(w);
  DatasetId d(w.check(H5Dcreate2(loc, name.c_str(), t.get(), s.get(), lcpl.get(), H5P_DEFAULT, H5P_DEFAULT), key,
                      "cannot create the dataset"));
  const char* p = value.c_str();
  w.check_status(H5Dwrite(d.get(), t.get(), H5S_ALL, H5S_ALL, H5P_DEFAULT, &p), key, "cannot write the string");
}

void write_string_attribute(hid_t obj, const std::string& name, const std::string& value, const Where& w,
                            const std::string& key) {
  TypeId t = utf8_string_type(w, key);
  SpaceId s(w.check(H5Screate(H5S_SCALAR), key, "cannot create a dataspace"));
  AttrId a(w.check(H5Acreate2(obj, name.c_str(), t.get(), s.get(), H5P_DEFAULT, H5P_DEFAULT), key,
                   "cannot create the attribute"));
  const char* p = value.c_str();
  w.check_status(H5Awrite(a.get(), t.get(), &p), key, "cannot write the attribute");
}

void write_int_attribute(hid_t obj, const std::string& name, std::int64_t value, const Where& w, const std::string& key) {
  SpaceId s(w.check(H5Screate(H5S_SCALAR), key, "cannot create a dataspace"));
  AttrId a(w.check(H5Acreate2(obj, name.c_str(), H5T_STD_I64LE, s.get(), H5P_DEFAULT, H5P_DEFAULT), key,
                   "cannot create the attribute"));
  w.check_status(H5Awrite(a.get(), H5T_NATIVE_INT64, &value), key, "cannot write the attribute");
}

GroupId create_group(hid_t loc, const std::string& name, const Where& w) {
  return GroupId(w.check(H5Gcreate2(loc, name.c_str(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), name,
                         "cannot create the group"));
}

// Lets HDF5 write the temporary file (truncating the empty one AtomicFile made, which keeps its
// name unique), lets `fill` write into it, closes it (checked: a failed close can mean unwritten
// data) and publishes it.
template <class Fill>
void write_hdf5_atomically(const fs::path& path, const Where& w, Fill fill) {
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

// Rows [begin, end) of `a` as an array sharing its memory.
Array rows_of(const Array& a, std::int64_t begin, std::int64_t end) {
  const std::size_t row_bytes = a.shape()[0] > 0 ? a.nbytes() / static_cast<std::size_t>(a.shape()[0]) : 0;
  return Array::wrap(a.dtype(), with_rows(end - begin, a.shape()),
                     static_cast<char*>(a.raw()) + static_cast<std::size_t>(begin) * row_bytes, a.owner());
}

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
// I/O

Dataset read_d4rl(const fs::path& path) {
  Hdf5Scope scope;
  const Where w{path};
  FileId f = open_file(path, w);
  Dataset d = read_d4rl_file(f.get(), w);
  d.validate();
  return d;
}

Dataset read_minari(const fs::path& path) {
  Hdf5Scope scope;
  const fs::path file = minari_file(path);
  const Where w{file};
  FileId f = open_file(file, w);
  Dataset d = read_minari_file(f.get(), w);
  d.validate();
  return d;
}

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

void write_minari(const fs::path& path, const Dataset& d) {
  d.validate();
  std::error_code ec;
  fs::path file = path;
  if (fs::is_directory(path, ec)) {
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
}

}  // namespace mnemo::replay
