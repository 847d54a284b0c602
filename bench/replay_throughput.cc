// Replay throughput: inserts/s, samples/s and bytes/s of the replay service for 1 KiB and 64 KiB
// items, over inproc:// and tcp loopback, with 1 and 4 clients, next to raw ZeroMQ moving the same
// message sizes over the same transport in the same run (the reference the ratios are against).
//
//   bench_replay_throughput [--seconds S] [--transport inproc|tcp] [--bytes 1024|65536] [--clients 1|4]
//                           [--op insert|insert_many|sample] [--repeat N]
//   (default 1 second per measurement; the filters pick rows, raw ZeroMQ always runs first;
//   --repeat: N rounds of raw + replay, medians reported)
//
// Each measurement prints one JSON line; a table follows. Raw ZeroMQ: DEALER senders stream
// messages to one ROUTER that counts them (one way, no acknowledgements, no checksums: the upper
// bound for moving bytes through ZeroMQ). Each message is built from the sender's buffer with
// zmq_msg_init_size + memcpy, the way a plain ZeroMQ program sends a buffer it keeps reusing; the
// replay client copies too (it must: the caller may reuse its buffer once insert() returns). A
// zero-copy reference would be meaningless over inproc://, where it moves pointers, not bytes.
// Replay insert: Clients with 16 inserts in flight insert into a uniform table of 512 items
// (evicting, so memory stays bounded); replay insert_many: the same with 16 items per
// insert_many() call (one request each, as an actor sends its unroll). Replay sample: Clients with a
// prefetch of 4 sample batches of 8 items from a prefilled uniform table. Ring copy (1-client
// groups): one thread memcpy-ing the item into a ring of 512 slots, the memory-bound ceiling of
// writing items into a table of that size (raw ZeroMQ over inproc recycles a few cache-hot buffers).
#include <zmq.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "core/log.h"
#include "core/net/transport.h"
#include "replay/client.h"
#include "replay/server.h"

namespace {

using Clock = std::chrono::steady_clock;
using mnemo::Array;
using mnemo::DType;
namespace replay = mnemo::replay;
namespace transport = mnemo::transport;

double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

struct Result {
  std::string what, transport;
  std::size_t bytes = 0;
  int clients = 0;
  double items_per_s = 0, bytes_per_s = 0, ratio = 0;
};

std::string endpoint_for(const std::string& transport_name) {
  static int counter = 0;
  return transport_name == "inproc" ? "inproc://bench-replay-" + std::to_string(counter++) : "tcp://127.0.0.1:*";
}

// The memory bound of a table: one thread copying a hot item of `bytes` into the slots of a
// ring as large as the bench's tables (512 items), as an insert must; no ZeroMQ, no bookkeeping.
Result ring_copy(std::size_t bytes, double seconds) {
  constexpr std::size_t kSlots = 512;
  std::vector<char> src(bytes, 7), ring(kSlots * bytes);
  long n = 0;
  const auto start = Clock::now();
  while ((n & 63) != 0 || seconds_since(start) < seconds) {
    std::memcpy(ring.data() + (static_cast<std::size_t>(n) % kSlots) * bytes, src.data(), bytes);
    ++n;
  }
  Result r{"ring_copy", "-", bytes, 1};
  r.items_per_s = n / seconds_since(start);
  r.bytes_per_s = r.items_per_s * static_cast<double>(bytes);
  return r;
}

// Raw ZeroMQ: `clients` DEALERs stream messages of `bytes` to one ROUTER for about `seconds`.
Result raw_zmq(const std::string& tname, std::size_t bytes, int clients, double seconds) {
  zmq::socket_t router(transport::context(), zmq::socket_type::router);
  router.set(zmq::sockopt::rcvhwm, 1000);
  const std::string ep = transport::bind_any(router, endpoint_for(tname));
  std::vector<char> payload(bytes, 'x');
  std::atomic<bool> stop{false};
  std::atomic<long> sent{0};
  std::atomic<int> alive{clients};
  std::vector<std::thread> senders;
  for (int c = 0; c < clients; ++c)
    senders.emplace_back([&] {
      struct Done {
        std::atomic<int>& n;
        ~Done() { --n; }
      } done{alive};
      zmq::socket_t dealer(transport::context(), zmq::socket_type::dealer);
      dealer.set(zmq::sockopt::linger, 0);
      dealer.connect(ep);
      while (!stop.load()) {
        zmq::message_t m(payload.data(), payload.size());  // copies, like a sender reusing its buffer
        if (dealer.send(m, zmq::send_flags::dontwait)) {
          ++sent;
        } else {
          zmq_pollitem_t item{dealer.handle(), 0, ZMQ_POLLOUT, 0};
          zmq_poll(&item, 1, 10);
        }
      }
    });
  long received = 0;
  Clock::time_point start;
  bool started = false;
  zmq::message_t m;
  while (true) {
    if (!router.recv(m, zmq::recv_flags::none)) continue;  // routing id
    if (!router.recv(m, zmq::recv_flags::none)) continue;  // payload
    if (!started) {
      started = true;
      start = Clock::now();
      continue;
    }
    ++received;
    if ((received & 63) == 0 && seconds_since(start) >= seconds) break;
  }
  const double dt = seconds_since(start);
  stop = true;
  // Keep reading until every sender has closed: libzmq 4.3.4 aborted in session_base.cpp when
  // tcp senders closed against a receiver that had stopped reading with full pipes.
  while (alive.load() > 0)
    if (!router.recv(m, zmq::recv_flags::dontwait)) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  for (auto& t : senders) t.join();
  while (router.recv(m, zmq::recv_flags::dontwait)) {
  }
  Result r{"raw_zmq", tname, bytes, clients};
  r.items_per_s = received / dt;
  r.bytes_per_s = r.items_per_s * static_cast<double>(bytes);
  return r;
}

replay::ServerOptions server_options(const std::string& tname) {
  replay::ServerOptions o;
  o.bind = endpoint_for(tname);
  o.max_message_mb = 64;
  o.table.sampler = "uniform";
  o.table.remover = "fifo";
  o.table.max_size = 512;
  return o;
}

replay::Item item_of(std::size_t bytes) {
  Array a = Array::zeros(DType::kUInt8, {static_cast<std::int64_t>(bytes)});
  std::memset(a.raw(), 7, bytes);
  return {{"obs", a}};
}

// Items per insert_many() call in the batched insert measurement (an actor inserts one item per
// env of its unroll in one call).
constexpr int kInsertBatch = 16;

// batch 0: insert() item by item; batch k: insert_many() of k items per call.
Result replay_insert(const std::string& tname, std::size_t bytes, int clients, double seconds, int batch = 0) {
  replay::Server server(server_options(tname));
  server.start();
  const std::string ep = server.endpoint();
  std::atomic<bool> stop{false};
  std::atomic<long> inserted{0};
  std::vector<std::thread> threads;
  const auto start = Clock::now();
  for (int c = 0; c < clients; ++c)
    threads.emplace_back([&] {
      replay::ClientOptions co;
      co.max_in_flight_inserts = 16;
      replay::Client client(ep, co);
      const replay::Item item = item_of(bytes);
      const std::vector<replay::Item> items(static_cast<std::size_t>(std::max(batch, 1)), item);
      long n = 0;
      while (!stop.load()) {
        if (batch > 0) {
          client.insert_many(items);
          n += batch;
        } else {
          client.insert(item);
          ++n;
        }
      }
      client.flush();
      inserted += n;
    });
  while (seconds_since(start) < seconds) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  stop = true;
  for (auto& t : threads) t.join();
  const double dt = seconds_since(start);
  Result r{batch > 0 ? "replay_insert_many" : "replay_insert", tname, bytes, clients};
  r.items_per_s = inserted.load() / dt;
  r.bytes_per_s = r.items_per_s * static_cast<double>(bytes);
  return r;
}

Result replay_sample(const std::string& tname, std::size_t bytes, int clients, double seconds) {
  replay::Server server(server_options(tname));
  server.start();
  const std::string ep = server.endpoint();
  {
    replay::ClientOptions co;
    co.max_in_flight_inserts = 16;
    replay::Client filler(ep, co);
    for (int i = 0; i < 512; ++i) filler.insert(item_of(bytes));
    filler.flush();
  }
  constexpr int kBatch = 8;
  std::atomic<bool> stop{false};
  std::atomic<long> sampled{0};
  std::vector<std::thread> threads;
  const auto start = Clock::now();
  for (int c = 0; c < clients; ++c)
    threads.emplace_back([&] {
      replay::ClientOptions co;
      co.prefetch = 4;
      replay::Client client(ep, co);
      long n = 0;
      while (!stop.load()) n += client.sample(kBatch).size();
      sampled += n;
    });
  while (seconds_since(start) < seconds) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  stop = true;
  for (auto& t : threads) t.join();
  const double dt = seconds_since(start);
  Result r{"replay_sample", tname, bytes, clients};
  r.items_per_s = sampled.load() / dt;
  r.bytes_per_s = r.items_per_s * static_cast<double>(bytes);
  return r;
}

void print_json(const Result& r) {
  std::printf(
      "{\"bench\": \"replay_throughput\", \"op\": \"%s\", \"transport\": \"%s\", \"item_bytes\": %zu, "
      "\"clients\": %d, \"items_per_s\": %.1f, \"bytes_per_s\": %.1f, \"ratio_vs_raw_zmq\": %.3f}\n",
      r.what.c_str(), r.transport.c_str(), r.bytes, r.clients, r.items_per_s, r.bytes_per_s, r.ratio);
  std::fflush(stdout);
}

}  // namespace

int main(int argc, char** argv) {
  double seconds = 1.0;
  std::string only_transport, only_op;
  long only_bytes = 0, only_clients = 0;
  int repeat = 1;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--seconds" && i + 1 < argc) {
      seconds = std::atof(argv[++i]);
    } else if (a == "--transport" && i + 1 < argc) {
      only_transport = argv[++i];
    } else if (a == "--bytes" && i + 1 < argc) {
      only_bytes = std::atol(argv[++i]);
    } else if (a == "--clients" && i + 1 < argc) {
      only_clients = std::atol(argv[++i]);
    } else if (a == "--op" && i + 1 < argc) {
      only_op = argv[++i];
    } else if (a == "--repeat" && i + 1 < argc) {
      repeat = std::max(1, std::atoi(argv[++i]));
    } else {
      std::fprintf(stderr, "usage: %s [--seconds S] [--transport inproc|tcp] [--bytes 1024|65536] [--clients 1|4] "
                   "[--op insert|insert_many|sample] [--repeat N]\n",
                   argv[0]);
      return 2;
    }
  }
  mnemo::log::set_level(mnemo::log::Level::kWarn);
  std::vector<Result> all;
  for (const std::string tname : {"inproc", "tcp"})
    for (std::size_t bytes : {std::size_t{1024}, std::size_t{64 * 1024}})
      for (int clients : {1, 4}) {
        if ((!only_transport.empty() && tname != only_transport) ||
            (only_bytes != 0 && static_cast<long>(bytes) != only_bytes) || (only_clients != 0 && clients != only_clients))
          continue;
        // Rounds of [raw, replay ops]: each op's ratio is against the raw figure of its own round,
        // and the table reports medians over rounds (a shared VM swings several-fold between runs).
        std::vector<std::vector<Result>> rounds;
        for (int round = 0; round < repeat; ++round) {
          std::vector<Result> row;
          Result raw = raw_zmq(tname, bytes, clients, seconds);
          raw.ratio = 1.0;
          row.push_back(raw);
          if (only_op.empty() || only_op == "insert") row.push_back(replay_insert(tname, bytes, clients, seconds));
          if (only_op.empty() || only_op == "insert_many")
            row.push_back(replay_insert(tname, bytes, clients, seconds, kInsertBatch));
          if (only_op.empty() || only_op == "sample") row.push_back(replay_sample(tname, bytes, clients, seconds));
          if (clients == 1 && only_op.empty()) row.push_back(ring_copy(bytes, seconds));
          for (Result& r : row) {
            r.ratio = r.bytes_per_s / raw.bytes_per_s;
            print_json(r);
          }
          rounds.push_back(row);
        }
        for (std::size_t op = 0; op < rounds[0].size(); ++op) {
          Result m = rounds[0][op];
          auto median = [&](double Result::*field) {
            std::vector<double> v;
            for (const auto& row : rounds) v.push_back(row[op].*field);
            std::sort(v.begin(), v.end());
            return v.size() % 2 ? v[v.size() / 2] : 0.5 * (v[v.size() / 2 - 1] + v[v.size() / 2]);
          };
          m.items_per_s = median(&Result::items_per_s);
          m.bytes_per_s = median(&Result::bytes_per_s);
          m.ratio = median(&Result::ratio);
          all.push_back(m);
        }
      }
  if (repeat > 1) std::printf("\nmedians over %d rounds (ratio: median of the per-round ratios)", repeat);
  std::printf("\n%-18s %-9s %9s %7s %14s %12s %9s\n", "op", "transport", "item", "clients", "items/s", "MiB/s",
              "vs raw");
  for (const Result& r : all)
    std::printf("%-18s %-9s %8zuK %7d %14.0f %12.1f %8.0f%%\n", r.what.c_str(), r.transport.c_str(), r.bytes / 1024,
                r.clients, r.items_per_s, r.bytes_per_s / (1 << 20), 100 * r.ratio);
  return 0;
}
