// Replay protocol helpers. See protocol.h.
#include "replay/protocol.h"

#include <cstring>
#include <vector>

namespace mnemo::replay {

bool is_reserved_field(const std::string& name) {
  static const char* const reserved[] = {kTimeoutField,    kCountField,         kKeysField,    kMessageField,
                                         kTimedOutField,   kTableField,         kPriorityField, kPrioritiesField,
                                         kProbabilitiesField, kWeightsField,    kCodeField,    kRateLimitedField,
                                         kPathField};
  for (const char* r : reserved)
    if (name == r) return true;
  return name.rfind("__", 0) == 0;
}

void add_item_field(wire::Message& m, const std::string& name, const Array& a, Codec codec, int level,
                    std::size_t min_bytes) {
  if (codec != Codec::kNone && a.nbytes() >= min_bytes && a.nbytes() > 0) {
    Array packed = compress(a, codec, level);
    if (packed.nbytes() < a.nbytes()) {
      std::vector<std::int64_t> meta{static_cast<std::int64_t>(codec), static_cast<std::int64_t>(a.dtype()),
                                     static_cast<std::int64_t>(a.shape().size())};
      meta.insert(meta.end(), a.shape().begin(), a.shape().end());
      m.add(name, std::move(packed));
      m.add(kCompressedPrefix + name, Array::from_vector(meta, {static_cast<std::int64_t>(meta.size())}));
      return;
    }
  }
  m.add(name, a);
}

EncodedItem item_from_request(const wire::Message& m, std::size_t max_logical_bytes) {
  EncodedItem item;
  thread_local std::vector<unsigned char> scratch;
  const std::string prefix = kCompressedPrefix;
  for (const auto& [name, array] : m.fields) {
    if (name.rfind(prefix, 0) == 0) {
      if (!m.has(name.substr(prefix.size())))
        throw ReplayError(ErrorCode::kInvalidArgument, "compression header '" + name + "' has no field");
      continue;
    }
    if (name == kTimeoutField || name == kTableField || name == kPriorityField) continue;
    if (is_reserved_field(name))
      throw ReplayError(ErrorCode::kInvalidArgument, "item field name '" + name + "' is reserved by the replay protocol");
    const std::string meta_name = prefix + name;
    if (!m.has(meta_name)) {
      item.push_back(ItemField::raw(name, array));
      continue;
    }
    const Array& meta = m.at(meta_name);
    auto bad = [&](const std::string& why) {
      return ReplayError(ErrorCode::kInvalidArgument, "compressed field '" + name + "': " + why);
    };
    if (meta.dtype() != DType::kInt64 || meta.shape().size() != 1 || meta.numel() < 3) throw bad("malformed header");
    const std::int64_t* h = meta.data<std::int64_t>();
    if (h[0] <= 0 || h[0] > static_cast<std::int64_t>(Codec::kZstd)) throw bad("unknown codec " + std::to_string(h[0]));
    if (h[1] < 0 || h[1] > 255 || !dtype_valid(static_cast<std::uint8_t>(h[1]))) throw bad("invalid dtype");
    if (h[2] < 0 || h[2] > 8 || meta.numel() != 3 + h[2]) throw bad("invalid ndim");
    if (array.dtype() != DType::kUInt8 || array.shape().size() != 1) throw bad("bytes must be uint8[k]");
    ItemField f;
    f.name = name;
    f.codec = static_cast<Codec>(h[0]);
    f.dtype = static_cast<DType>(h[1]);
    f.shape.assign(h + 3, h + 3 + h[2]);
    std::int64_t numel = 0;
    try {
      numel = shape_numel(f.shape);
    } catch (const Error&) {
      throw bad("invalid shape " + shape_str(f.shape));
    }
    const std::size_t elem = dtype_size(f.dtype);
    if (static_cast<std::uint64_t>(numel) > max_logical_bytes / elem)
      throw bad("declared size " + shape_str(f.shape) + " exceeds the message limit of " +
                std::to_string(max_logical_bytes) + " bytes");
    const std::size_t logical = static_cast<std::size_t>(numel) * elem;
    // Verify now, so that corrupt bytes are refused at insert instead of failing every later sample.
    scratch.resize(logical);
    try {
      decompress(f.codec, array.raw(), array.nbytes(), scratch.data(), logical);
    } catch (const Error& e) {
      throw bad(e.what());
    }
    if (scratch.capacity() > (std::size_t{64} << 20)) std::vector<unsigned char>().swap(scratch);
    f.bytes = array;
    item.push_back(std::move(f));
  }
  return item;
}

std::vector<EncodedItem> items_from_batch_request(const wire::Message& m, bool share) {
  auto bad = [](const std::string& why) { return ReplayError(ErrorCode::kInvalidArgument, "insert_batch: " + why); };
  std::int64_t k = -1;
  std::vector<std::pair<const std::string*, const Array*>> fields;
  for (const auto& [name, array] : m.fields) {
    if (name == kTimeoutField || name == kTableField || name == kPriorityField) continue;
    if (name.rfind(kCompressedPrefix, 0) == 0) throw bad("fields travel uncompressed in a batch ('" + name + "')");
    if (is_reserved_field(name)) throw bad("item field name '" + name + "' is reserved by the replay protocol");
    if (array.shape().empty()) throw bad("field '" + name + "' is not stacked (no leading item dimension)");
    if (k < 0) k = array.shape()[0];
    if (array.shape()[0] != k)
      throw bad("field '" + name + "' holds " + std::to_string(array.shape()[0]) + " items, the batch's first field " +
                std::to_string(k));
    fields.emplace_back(&name, &array);
  }
  if (k < 1) throw bad("no items");
  std::vector<EncodedItem> items(static_cast<std::size_t>(k));
  for (auto& item : items) item.reserve(fields.size());
  for (const auto& [name, array] : fields) {
    Shape shape(array->shape().begin() + 1, array->shape().end());
    const std::size_t row = array->nbytes() / static_cast<std::size_t>(k);
    for (std::int64_t i = 0; i < k; ++i) {
      auto* src = static_cast<char*>(array->raw()) + static_cast<std::size_t>(i) * row;
      Array a;
      if (share) {
        a = Array::wrap(array->dtype(), shape, src, array->owner());
      } else {
        a = Array::uninitialized(array->dtype(), shape);
        if (row > 0) std::memcpy(a.raw(), src, row);
      }
      items[static_cast<std::size_t>(i)].push_back(ItemField::raw(*name, std::move(a)));
    }
  }
  return items;
}

std::vector<double> priorities_from_request(const wire::Message& m, std::size_t count, double default_priority) {
  if (!m.has(kPriorityField)) return std::vector<double>(count, default_priority);
  const Array& a = m.at(kPriorityField);
  const bool one = count == 1 && a.numel() == 1;
  const bool floating = a.dtype() == DType::kFloat64 || a.dtype() == DType::kFloat32;
  if (!floating || !(one || (a.shape().size() == 1 && a.numel() == static_cast<std::int64_t>(count))))
    throw ReplayError(ErrorCode::kInvalidArgument,
                      "field 'priority' must be float64 " +
                          std::string(count == 1 ? "(a scalar)" : "[" + std::to_string(count) + "]") + ", got " +
                          dtype_name(a.dtype()) + shape_str(a.shape()));
  std::vector<double> out(count);
  for (std::size_t i = 0; i < count; ++i)
    out[i] = a.dtype() == DType::kFloat64 ? a.data<double>()[i] : static_cast<double>(a.data<float>()[i]);
  return out;
}

wire::Message error_reply(std::uint64_t request_id, ErrorCode code, const std::string& text, bool timed_out) {
  wire::Message m(wire::MsgType::kError, request_id);
  m.add(kMessageField, wire::text_array(text));
  m.add(kCodeField, Array::scalar<std::int32_t>(static_cast<std::int32_t>(code)));
  if (timed_out) m.add(kTimedOutField, Array::scalar<bool>(true));
  return m;
}

std::int64_t int_field(const wire::Message& m, const char* name) {
  if (!m.has(name))
    throw ReplayError(ErrorCode::kInvalidArgument, std::string(wire::msg_type_name(m.type)) +
                                                        " message has no field '" + name + "'");
  const Array& a = m.at(name);
  if (a.numel() != 1 || !a.shape().empty() || (a.dtype() != DType::kInt64 && a.dtype() != DType::kInt32))
    throw ReplayError(ErrorCode::kInvalidArgument, std::string("field '") + name + "' must be an int64 scalar, got " +
                                                        dtype_name(a.dtype()) + shape_str(a.shape()));
  return a.item<std::int64_t>();
}

}  // namespace mnemo::replay
