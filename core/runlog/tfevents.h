// TensorBoard event files: the scalars of metrics.jsonl, readable by `tensorboard --logdir runs`.
//
// The file format is TFRecord framing around hand-encoded `tensorflow.Event` protobufs, so mnemo
// needs neither TensorFlow nor a protobuf library: the handful of fields TensorBoard reads for
// scalars are written directly (see tfevents.cc for the field numbers). The writer plugs into
// MetricsWriter as a sink, which keeps the two outputs identical without MetricsWriter knowing
// about TensorBoard.
#pragma once

#include <cstdint>
#include <filesystem>
#include <mutex>
#include <string>
#include <vector>

#include "core/runlog/metrics.h"

namespace mnemo {

// Appends scalar summaries to <run_dir>/events.out.tfevents.<unix-seconds>.<hostname>.
//
// The first record is the file-version Event ("brain.Event:2") TensorBoard expects. Each
// write_scalars() is one Event (wall time, step, one Summary.Value per scalar with its tag and a
// float simple_value) sent to the OS in one write(2), so TensorBoard sees it while the run goes
// on; flush() also fsyncs. A resumed run gets a new file next to the old one (TensorBoard reads
// every event file of a directory); if the name is already taken (two writers in the same second)
// a ".1", ".2", ... suffix keeps both files.
//
// Values are stored as float, as TensorBoard's scalar plugin does; NaN and infinities are kept
// (TensorBoard shows them), unlike metrics.jsonl where they become null. Thread-safe.
class TfEventsWriter {
 public:
  // Creates the run directory if needed and writes the file-version record. Throws mnemo::Error
  // when the file cannot be created or written.
  explicit TfEventsWriter(std::filesystem::path run_dir);
  ~TfEventsWriter();
  TfEventsWriter(const TfEventsWriter&) = delete;
  TfEventsWriter& operator=(const TfEventsWriter&) = delete;

  // One Event with all `scalars` at `step`; an empty list writes nothing. Tags must be non-empty.
  void write_scalars(std::int64_t step, const Scalars& scalars);
  // Makes the written events durable (fsync), e.g. before a checkpoint.
  void flush();
  // A MetricsSink that forwards every MetricsWriter::write here:
  //   metrics.add_sink(events.sink());
  // The writer must outlive the MetricsWriter it is added to.
  MetricsSink sink();

  const std::filesystem::path& path() const { return path_; }

 private:
  void write_record(const std::string& data);

  std::filesystem::path path_;
  std::mutex mu_;
  int fd_ = -1;
};

namespace tfevents {
// The encoders, exposed so tests can check them against an independent decoder.

// One TFRecord: uint64 length (LE), masked CRC-32C of those 8 bytes, data, masked CRC-32C of data.
std::string frame_record(const std::string& data);
// A serialized Event with wall_time and file_version (the first record of every file).
std::string encode_file_version_event(double wall_time, const std::string& file_version);
// A serialized Event with wall_time, step and a Summary of simple_value scalars.
std::string encode_scalars_event(double wall_time, std::int64_t step, const Scalars& scalars);

// One scalar read back from an event file.
struct ScalarEvent {
  std::int64_t step = 0;
  double wall_time = 0;
  std::string tag;
  double value = 0;
};

// The scalars of an event file, in file order: mnemo's, and those of other writers (PyTorch's and
// TensorFlow's SummaryWriter: `simple_value`, or a scalar `tensor` of float, double, int32 or
// int64 as TF2 writes them). Other summaries (images, histograms, text) are skipped. The input is
// untrusted: every length is checked against the bytes left, both CRCs of every record are
// verified, and a bad one is an Error naming the file and the byte offset. A truncated last
// record (a run still writing) ends the read without error.
std::vector<ScalarEvent> read_scalars(const std::filesystem::path& file);
}  // namespace tfevents

}  // namespace mnemo
