// SequenceWriter: cuts a stream of steps into fixed-length, optionally overlapping sequences and
// inserts each as one replay item (recurrent replay with burn-in, R2D2-style).
//
// An actor appends one step at a time; once `length` steps are buffered, every `period` steps the
// last `length` steps become an item whose fields have shape [length, ...step shape]. With period <
// length consecutive items overlap by length - period steps, which a recurrent learner uses as
// burn-in to warm up its state. Sequences never span episodes: end_episode() starts afresh, and with
// pad_end emits the episode's tail as a last item padded with zeros, marked by a uint8 "valid" field
// [length] (1 on real steps; present in every item when pad_end is on, so the signature is fixed).
// Overlapping items each carry their own copy of the shared steps.
//
// Thread-safety: none; one writer per actor thread.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "core/array.h"
#include "replay/table.h"

namespace mnemo::replay {

class Client;

struct SequenceWriterOptions {
  std::int64_t length = 80;  // steps per item
  std::int64_t period = 40;  // steps between the starts of consecutive items (<= length)
  bool pad_end = false;      // emit the tail of an episode padded with zeros (adds a "valid" field)
};

class SequenceWriter {
 public:
  using Sink = std::function<void(const Item&)>;
  // `step_spec`: the fields of one step (no time dimension). Throws ConfigError for bad options.
  SequenceWriter(Sink sink, Spec step_spec, SequenceWriterOptions options);
  // Inserts through `client` (which must outlive the writer), with the table's default priority.
  SequenceWriter(Client& client, Spec step_spec, SequenceWriterOptions options);

  // Copies one step in; emits an item when one is due. Throws mnemo::Error when the step does not
  // match step_spec, and whatever the sink throws.
  void append(const Item& step);
  // Ends the current episode (see the header comment).
  void end_episode();
  std::int64_t items_written() const { return items_; }
  // The signature of the items this writer emits.
  Spec item_spec() const;

 private:
  void emit(std::int64_t steps);

  Sink sink_;
  Spec step_spec_;
  SequenceWriterOptions options_;
  std::vector<Array> ring_;         // per field: [length, ...step shape]
  std::vector<std::size_t> step_bytes_;
  std::int64_t buffered_ = 0;       // steps in the ring (<= length)
  std::int64_t head_ = 0;           // ring slot the next step goes to
  std::int64_t since_emit_ = 0;     // steps appended since the last emitted item
  std::int64_t items_ = 0;
};

}  // namespace mnemo::replay
