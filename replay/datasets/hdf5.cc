// HDF5 helpers of the offline datasets. See hdf5.h.
#include "replay/datasets/hdf5.h"

#include <algorithm>
#include <cstring>
#include <limits>
#include <new>
#include <sstream>
#include <system_error>
#include <type_traits>

#include "core/json.h"

namespace mnemo::replay::hdf5 {
namespace fs = std::filesystem;

// ------------------------------------------------------------------------------------------------
// Handles and errors

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

namespace {

std::string join_key(const std::string& prefix, const std::string& name) {
  return prefix.empty() ? name : prefix + "/" + name;
}

}  // namespace

// ------------------------------------------------------------------------------------------------
// Types

namespace {

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

}  // namespace

// ------------------------------------------------------------------------------------------------
// Reading

namespace {

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

}  // namespace

ObjKind kind_of(hid_t loc, const std::string& name) { return open_object(loc, name).kind; }

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

namespace {

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

}  // namespace

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

// ------------------------------------------------------------------------------------------------
// Writing

namespace {

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

TypeId utf8_string_type(const Where& w, const std::string& key) {
  TypeId t(w.check(H5Tcopy(H5T_C_S1), key, "cannot create a string type"));
  w.check_status(H5Tset_size(t.get(), H5T_VARIABLE), key, "cannot create a string type");
  w.check_status(H5Tset_cset(t.get(), H5T_CSET_UTF8), key, "cannot create a string type");
  return t;
}

}  // namespace

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

Shape with_rows(std::int64_t rows, const Shape& like) {
  Shape s = like;
  s[0] = rows;
  return s;
}

Array rows_of(const Array& a, std::int64_t begin, std::int64_t end) {
  const std::size_t row_bytes = a.shape()[0] > 0 ? a.nbytes() / static_cast<std::size_t>(a.shape()[0]) : 0;
  return Array::wrap(a.dtype(), with_rows(end - begin, a.shape()),
                     static_cast<char*>(a.raw()) + static_cast<std::size_t>(begin) * row_bytes, a.owner());
}

}  // namespace mnemo::replay::hdf5
