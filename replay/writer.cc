// SequenceWriter: ring buffer of steps cut into overlapping items. See writer.h.
#include "replay/writer.h"

#include <cstring>

#include "replay/client.h"

namespace mnemo::replay {

SequenceWriter::SequenceWriter(Sink sink, Spec step_spec, SequenceWriterOptions options)
    : sink_(std::move(sink)), step_spec_(std::move(step_spec)), options_(options) {
  if (options_.length < 1) throw ConfigError("sequence writer: length must be at least 1");
  if (options_.period < 1 || options_.period > options_.length)
    throw ConfigError("sequence writer: period must be in [1, length], got " + std::to_string(options_.period));
  if (step_spec_.fields.empty()) throw ConfigError("sequence writer: the step spec has no fields");
  for (const auto& f : step_spec_.fields) {
    Shape shape{options_.length};
    shape.insert(shape.end(), f.shape.begin(), f.shape.end());
    ring_.push_back(Array::zeros(f.dtype, shape));
    step_bytes_.push_back(static_cast<std::size_t>(shape_numel(f.shape)) * dtype_size(f.dtype));
  }
}

SequenceWriter::SequenceWriter(Client& client, Spec step_spec, SequenceWriterOptions options)
    : SequenceWriter([&client](const Item& item) { client.insert(item); }, std::move(step_spec), options) {}

Spec SequenceWriter::item_spec() const {
  Spec spec;
  for (std::size_t i = 0; i < step_spec_.fields.size(); ++i) spec.fields.push_back({step_spec_.fields[i].name, ring_[i].dtype(), ring_[i].shape()});
  if (options_.pad_end) spec.fields.push_back({"valid", DType::kUInt8, {options_.length}});
  return spec;
}

void SequenceWriter::append(const Item& step) {
  if (step.size() != step_spec_.fields.size())
    throw Error("sequence writer: step has " + std::to_string(step.size()) + " fields, expected " + step_spec_.str());
  for (std::size_t i = 0; i < step_spec_.fields.size(); ++i) {
    const FieldSpec& f = step_spec_.fields[i];
    const Array* a = nullptr;
    for (const auto& s : step)
      if (s.first == f.name) a = &s.second;
    if (a == nullptr) throw Error("sequence writer: step lacks field '" + f.name + "' (" + step_spec_.str() + ")");
    if (a->dtype() != f.dtype || a->shape() != f.shape)
      throw Error("sequence writer: step field '" + f.name + "' is " + dtype_name(a->dtype()) + shape_str(a->shape()) +
                  ", expected " + dtype_name(f.dtype) + shape_str(f.shape));
    std::memcpy(static_cast<char*>(ring_[i].raw()) + static_cast<std::size_t>(head_) * step_bytes_[i], a->raw(),
                step_bytes_[i]);
  }
  head_ = (head_ + 1) % options_.length;
  if (buffered_ < options_.length) ++buffered_;
  ++since_emit_;
  // The first item of an episode is due when the ring fills (since_emit_ == length >= period).
  if (buffered_ == options_.length && since_emit_ >= options_.period) emit(options_.length);
}

void SequenceWriter::end_episode() {
  // The tail: the window the next item would have had, i.e. its overlap with the last item plus the
  // steps appended since (all buffered steps when the episode was shorter than one item).
  if (options_.pad_end && since_emit_ > 0) emit(std::min(buffered_, since_emit_ + (options_.length - options_.period)));
  buffered_ = 0;
  head_ = 0;
  since_emit_ = 0;
}

// Emits the last `steps` buffered steps, oldest first, zero-padded to `length`.
void SequenceWriter::emit(std::int64_t steps) {
  if (steps > buffered_) steps = buffered_;
  Item item;
  item.reserve(ring_.size() + 1);
  const std::int64_t start = (head_ - steps + options_.length) % options_.length;
  for (std::size_t i = 0; i < ring_.size(); ++i) {
    Array out = Array::zeros(ring_[i].dtype(), ring_[i].shape());
    for (std::int64_t t = 0; t < steps; ++t) {
      const std::int64_t slot = (start + t) % options_.length;
      std::memcpy(static_cast<char*>(out.raw()) + static_cast<std::size_t>(t) * step_bytes_[i],
                  static_cast<const char*>(ring_[i].raw()) + static_cast<std::size_t>(slot) * step_bytes_[i], step_bytes_[i]);
    }
    item.emplace_back(step_spec_.fields[i].name, std::move(out));
  }
  if (options_.pad_end) {
    Array valid = Array::zeros(DType::kUInt8, {options_.length});
    std::memset(valid.raw(), 1, static_cast<std::size_t>(steps));
    item.emplace_back("valid", std::move(valid));
  }
  sink_(item);
  since_emit_ = 0;
  ++items_;
}

}  // namespace mnemo::replay
