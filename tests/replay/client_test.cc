// Tests of the replay service as clients see it: pipelined inserts bounded in flight, prefetch,
// compression, sharding, several tables, priorities and rate-limit switches over the wire, typed
// errors, reconnects after a server restart, many concurrent clients, slow and vanishing clients,
// a flood of inserts that must not grow memory, and CURVE encryption with authentication.
#include "replay/client.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <functional>
#include <future>
#include <set>
#include <thread>

#include "core/config.h"
#include "core/net/transport.h"
#include "core/net/wire.h"
#include "replay/server.h"

namespace mnemo::replay {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;

Item make_item(float v, std::int64_t bytes = 64) {
  Array obs = Array::zeros(DType::kFloat32, {bytes / 4});
  std::fill(obs.data<float>(), obs.data<float>() + obs.numel(), v);
  return {{"obs", obs}};
}

float value_of(const Batch& b, std::int64_t i) { return b.at("obs").data<float>()[i * b.at("obs").shape()[1]]; }

std::string unique_inproc() {
  static std::atomic<int> counter{0};
  return "inproc://replay-client-test-" + std::to_string(counter++);
}

ServerOptions server_options(const std::string& sampler = "fifo", std::int64_t max_size = 8) {
  ServerOptions o;
  o.bind = unique_inproc();
  o.table.sampler = sampler;
  o.table.max_size = max_size;
  return o;
}

ClientOptions client_options(std::int64_t timeout_ms = 5000) {
  ClientOptions o;
  o.timeout_ms = timeout_ms;
  return o;
}

// Polls `pred` until it holds or `timeout` passes. The default is generous: it only bounds how long
// a failing test takes, and a loaded CI machine can be slow to schedule the server thread.
bool eventually(const std::function<bool()>& pred, std::chrono::milliseconds timeout = 20s) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (pred()) return true;
    std::this_thread::sleep_for(2ms);
  }
  return pred();
}

TEST(ClientTest, PipelinedInsertsKeepAtMostMaxInFlight) {
  Server server(server_options("fifo", /*max_size=*/2));
  server.start();
  ClientOptions co = client_options(10000);
  co.max_in_flight_inserts = 4;
  std::atomic<std::int64_t> max_seen{0};
  auto producer = std::async(std::launch::async, [&] {
    Client actor(server.endpoint(), co);
    for (int i = 0; i < 12; ++i) {
      actor.insert(make_item(static_cast<float>(i)));
      max_seen = std::max(max_seen.load(), actor.in_flight_inserts());
    }
    actor.flush();
    return actor.in_flight_inserts();
  });
  // Two items stored, four parked: the actor now waits for an acknowledgement instead of sending more.
  ASSERT_TRUE(eventually([&] { return server.stats().pending == 4; }));
  EXPECT_EQ(producer.wait_for(0ms), std::future_status::timeout);
  EXPECT_LE(server.stats().pending, 4);
  Client learner(server.endpoint(), client_options());
  std::vector<float> seen;
  for (int i = 0; i < 6; ++i) {
    Batch b = learner.sample(2);
    seen.push_back(value_of(b, 0));
    seen.push_back(value_of(b, 1));
  }
  ASSERT_EQ(producer.wait_for(10s), std::future_status::ready);
  EXPECT_EQ(producer.get(), 0);
  EXPECT_LE(max_seen.load(), 4);
  for (int i = 0; i < 12; ++i) EXPECT_EQ(seen[static_cast<std::size_t>(i)], static_cast<float>(i));
}

TEST(ClientTest, PipelinedInsertFailuresSurfaceOnALaterCall) {
  Server server(server_options("uniform", /*max_size=*/8));
  server.start();
  ClientOptions co = client_options();
  co.max_in_flight_inserts = 8;
  Client client(server.endpoint(), co);
  client.insert(make_item(0, /*bytes=*/64));
  client.insert(make_item(0, /*bytes=*/128));  // signature mismatch, reported later
  try {
    client.flush();
    FAIL() << "expected the mismatch";
  } catch (const std::exception& e) {
    EXPECT_TRUE(IsSignatureMismatch(e)) << e.what();
  }
  EXPECT_EQ(client.info().size, 1);
}

TEST(ClientTest, PrefetchKeepsSamplesInFlightAndReturnsThemInOrder) {
  Server server(server_options("fifo", /*max_size=*/16));
  server.start();
  Client actor(server.endpoint(), client_options());
  for (int i = 0; i < 8; ++i) actor.insert(make_item(static_cast<float>(i)));
  ClientOptions co = client_options();
  co.prefetch = 2;
  Client learner(server.endpoint(), co);
  EXPECT_EQ(value_of(learner.sample(1), 0), 0.0f);
  // The two prefetched requests were served too.
  ASSERT_TRUE(eventually([&] { return server.stats().samples == 3; }));
  for (int i = 1; i < 6; ++i) EXPECT_EQ(value_of(learner.sample(1), 0), static_cast<float>(i));
}

TEST(ClientTest, CompressesLargeFieldsAndSamplesThemBack) {
  Server server(server_options("uniform", /*max_size=*/8));
  server.start();
  for (const char* codec : {"lz4", "zstd"}) {
    ClientOptions co = client_options();
    co.compression = codec;
    co.compress_min_bytes = 1024;
    co.table = "";
    Client client(server.endpoint(), co);
    client.insert(make_item(3.5f, /*bytes=*/64 * 1024));
  }
  const Info info = Client(server.endpoint(), client_options()).info();
  EXPECT_EQ(info.size, 2);
  EXPECT_LT(info.bytes, 2 * 64 * 1024 / 10);
  Batch b = Client(server.endpoint(), client_options()).sample(3);
  for (std::int64_t i = 0; i < 3 * 16 * 1024; ++i) ASSERT_EQ(b.at("obs").data<float>()[i], 3.5f);
}

TEST(ClientTest, ShardedClientSpreadsInsertsAndSamplesFromEveryShard) {
  Server a(server_options("prioritized", 64)), b(server_options("prioritized", 64));
  a.start();
  b.start();
  Client client(a.endpoint() + "," + b.endpoint(), client_options());
  for (int i = 0; i < 10; ++i) client.insert(make_item(static_cast<float>(i)), /*priority=*/1.0);
  EXPECT_EQ(a.stats().size, 5);
  EXPECT_EQ(b.stats().size, 5);
  EXPECT_EQ(client.info().size, 10);
  Batch batch = client.sample(6);
  ASSERT_EQ(batch.size(), 6);
  std::set<std::uint64_t> shards;
  double total_p = 0;
  for (std::size_t i = 0; i < batch.keys.size(); ++i) {
    shards.insert(batch.keys[i] >> 56);
    total_p += batch.probabilities[i];
  }
  EXPECT_EQ(shards, (std::set<std::uint64_t>{0, 1}));
  EXPECT_NEAR(total_p, 6 * 0.2 / 2, 1e-9);  // each item: its shard's 1/5, times the shard's half of the batch
  EXPECT_EQ(client.update_priorities(batch.keys, std::vector<double>(6, 2.0)), 6);
}

std::vector<Item> items_valued(int n, int from = 0) {
  std::vector<Item> items;
  for (int i = 0; i < n; ++i) items.push_back(make_item(static_cast<float>(from + i)));
  return items;
}

TEST(ClientTest, InsertManySendsOneRequestThatInsertsTheItemsInOrder) {
  Server server(server_options("fifo", 16));
  server.start();
  ClientOptions co = client_options();
  co.max_in_flight_inserts = 4;
  Client client(server.endpoint(), co);
  std::vector<Item> items = items_valued(5);
  client.insert_many(items);
  EXPECT_EQ(client.in_flight_inserts(), 1);  // one request for the five items
  // The caller may reuse its buffers at once: the items were copied into the request.
  for (auto& item : items) std::fill(item[0].second.data<float>(), item[0].second.data<float>() + 16, -1.0f);
  client.flush();
  EXPECT_EQ(client.info().inserts, 5);
  Batch b = client.sample(5);
  for (int i = 0; i < 5; ++i) EXPECT_EQ(value_of(b, i), static_cast<float>(i));
  std::vector<Item> mixed = items_valued(2);
  mixed.push_back(make_item(9, 128));
  try {
    client.insert_many(mixed);
    FAIL() << "items of different shapes were accepted";
  } catch (const ReplayError& e) {
    EXPECT_NE(std::string(e.what()).find("item 2"), std::string::npos) << e.what();
  }
  EXPECT_THROW(client.insert_many(items_valued(2), std::vector<double>{1.0}), ReplayError);
}

TEST(ClientTest, InsertManySplitsRequestsAtMaxBatchMb) {
  Server server(server_options("fifo", 16));
  server.start();
  ClientOptions co = client_options();
  co.max_in_flight_inserts = 8;
  co.max_batch_mb = 1;
  Client client(server.endpoint(), co);
  std::vector<Item> big;
  for (int i = 0; i < 5; ++i) big.push_back(make_item(static_cast<float>(i), 400 * 1024));
  client.insert_many(big);
  EXPECT_EQ(client.in_flight_inserts(), 3);  // 2 + 2 + 1 items of 0.4 MiB under 1 MiB
  client.flush();
  Batch b = client.sample(5);
  for (int i = 0; i < 5; ++i) EXPECT_EQ(value_of(b, i), static_cast<float>(i));
}

TEST(ClientTest, InsertManyWaitsForRoomAndGoesInPartByPart) {
  Server server(server_options("fifo", /*max_size=*/2));
  server.start();
  Client consumer(server.endpoint(), client_options(10000));
  // A sample parked on the empty table first: the part of the batch that goes in must serve it.
  auto first = std::async(std::launch::async, [&] { return value_of(consumer.sample(1), 0); });
  ASSERT_TRUE(eventually([&] { return server.stats().pending == 1; }));
  Client producer(server.endpoint(), client_options(10000));
  auto done = std::async(std::launch::async, [&] { producer.insert_many(items_valued(5)); });
  ASSERT_EQ(first.wait_for(20s), std::future_status::ready);
  EXPECT_EQ(first.get(), 0.0f);
  // The FIFO queue holds 2: each sample makes room for the next item of the parked batch.
  for (int i = 1; i < 5; ++i) EXPECT_EQ(value_of(consumer.sample(1), 0), static_cast<float>(i));
  ASSERT_EQ(done.wait_for(20s), std::future_status::ready);
  done.get();
}

TEST(ClientTest, InsertManyTimeoutSaysHowManyItemsWentIn) {
  Server server(server_options("fifo", /*max_size=*/2));
  server.start();
  Client client(server.endpoint(), client_options(300));
  try {
    client.insert_many(items_valued(5));
    FAIL() << "a batch larger than the queue went in";
  } catch (const RateLimiterTimeoutError& e) {
    EXPECT_NE(std::string(e.what()).find("batch insert of 5 items (2 inserted)"), std::string::npos) << e.what();
  }
  EXPECT_EQ(client.info().size, 2);
}

TEST(ClientTest, InsertManySpreadsItemsOverShardsWithTheirPriorities) {
  ServerOptions o = server_options("prioritized", 64);
  o.table.priority_exponent = 1.0;
  Server a(o), b(server_options("prioritized", 64));
  a.start();
  b.start();
  Client client(a.endpoint() + "," + b.endpoint(), client_options());
  std::vector<double> priorities;
  for (int i = 0; i < 10; ++i) priorities.push_back(i == 0 ? 1.0 : 0.0);
  client.insert_many(items_valued(10), priorities);
  EXPECT_EQ(a.stats().size, 5);
  EXPECT_EQ(b.stats().size, 5);
  // Shard a got items 0, 2, 4, 6, 8: only item 0 has any priority there.
  Client only_a(a.endpoint(), client_options());
  Batch batch = only_a.sample(4);
  for (int i = 0; i < 4; ++i) EXPECT_EQ(value_of(batch, i), 0.0f);
  // A batch refused part-way says how much of it went in.
  const std::int64_t before = only_a.info().size;
  try {
    only_a.insert_many(items_valued(3), std::vector<double>{1.0, -1.0, 1.0});
    FAIL() << "a negative priority was accepted";
  } catch (const ReplayError& e) {
    EXPECT_NE(std::string(e.what()).find("(1 of 3 items of the batch were inserted)"), std::string::npos) << e.what();
  }
  EXPECT_EQ(only_a.info().size, before + 1);
}

TEST(ClientTest, ServesSeveralTablesByName) {
  ServerOptions o = server_options("fifo", 4);
  o.tables = config::parse_yaml("offline: {sampler: uniform, max_size: 10}\nrecent: {sampler: lifo}\n", "test");
  Server server(o);
  server.start();
  Client client(server.endpoint(), client_options());
  client.insert(make_item(1), /*priority=*/1.0, "offline");
  client.insert(make_item(2), /*priority=*/1.0, "offline");
  client.insert(make_item(3));
  EXPECT_EQ(client.info("offline").size, 2);
  EXPECT_EQ(client.info().size, 1);
  EXPECT_EQ(client.info().tables, (std::vector<std::string>{"default", "offline", "recent"}));
  EXPECT_EQ(client.sample(1, "offline").table, "offline");
  try {
    client.sample(1, "nope");
    FAIL() << "expected an error";
  } catch (const ReplayError& e) {
    EXPECT_EQ(e.code(), ErrorCode::kNotFound);
    EXPECT_NE(std::string(e.what()).find("offline"), std::string::npos) << e.what();
  }
  ServerOptions dup = server_options();
  dup.tables = config::parse_yaml("default: {}\n", "test");
  EXPECT_THROW(dup.validate(), ConfigError);
}

TEST(ClientTest, UpdatesPrioritiesAndReportsProbabilitiesOverTheWire) {
  ServerOptions o = server_options("prioritized", 8);
  o.table.priority_exponent = 1.0;
  Server server(o);
  server.start();
  Client client(server.endpoint(), client_options());
  for (int i = 0; i < 4; ++i) client.insert(make_item(static_cast<float>(i)), /*priority=*/1.0);
  EXPECT_EQ(client.update_priorities({0, 1, 2, 3}, {1.0, 0.0, 0.0, 0.0}), 4);
  Batch b = client.sample(5);
  for (std::size_t i = 0; i < 5; ++i) {
    EXPECT_EQ(b.keys[i], 0u);
    EXPECT_DOUBLE_EQ(b.probabilities[i], 1.0);
    EXPECT_DOUBLE_EQ(b.weights[i], 1.0);
  }
  EXPECT_THROW(client.update_priorities({0}, {-1.0}), ReplayError);
}

TEST(ClientTest, PrefillsWithRateLimitingSwitchedOff) {
  ServerOptions o = server_options("uniform", 1000);
  o.table.rate_limiter.kind = "ratio";
  o.table.rate_limiter.samples_per_insert = 1.0;
  o.table.rate_limiter.error_buffer = 5;
  Server server(o);
  server.start();
  // Every call here must succeed, so the timeout is generous (a short one fails under load).
  Client client(server.endpoint(), client_options());
  client.set_rate_limited(false);
  for (int i = 0; i < 50; ++i) client.insert(make_item(static_cast<float>(i)));  // far past the buffer
  EXPECT_FALSE(client.info().rate_limited);
  client.set_rate_limited(true);
  EXPECT_TRUE(client.info().rate_limited);
  client.insert(make_item(99));
  EXPECT_EQ(client.sample(2).size(), 2);
}

TEST(ClientTest, ErrorsCarryTheirKind) {
  Server server(server_options("fifo", 4));
  server.start();
  Client client(server.endpoint(), client_options(/*timeout_ms=*/200));
  try {
    client.sample(1);
    FAIL();
  } catch (const std::exception& e) {
    EXPECT_TRUE(IsRateLimiterTimeout(e)) << e.what();
    EXPECT_NE(std::string(e.what()).find("rate limiter"), std::string::npos) << e.what();
  }
  Client nobody("tcp://127.0.0.1:1", client_options(/*timeout_ms=*/200));
  try {
    nobody.info();
    FAIL();
  } catch (const std::exception& e) {
    EXPECT_TRUE(IsDeadlineExceeded(e)) << e.what();
  }
}

// The port of a tcp endpoint, to bind a restarted server at the same address.
std::string port_of(const std::string& endpoint) { return endpoint.substr(endpoint.rfind(':') + 1); }

TEST(ClientTest, ResendsUnansweredRequestsAfterTheConnectionDrops) {
  // A "server" that takes the request and dies without answering.
  zmq::socket_t fake(transport::context(), zmq::socket_type::router);
  fake.set(zmq::sockopt::linger, 0);
  const std::string ep = transport::bind_any(fake, "tcp://127.0.0.1:*");
  Client client(ep, client_options(/*timeout_ms=*/10000));
  auto info = std::async(std::launch::async, [&] { return client.info(); });
  ASSERT_TRUE(transport::recv(fake, transport::RecvLimits{}, /*timeout_ms=*/5000));
  fake.close();
  ServerOptions o = server_options();
  o.bind = "tcp://127.0.0.1:" + port_of(ep);
  std::unique_ptr<Server> server;
  ASSERT_TRUE(eventually([&] {
    try {
      server = std::make_unique<Server>(o);
      return true;
    } catch (const Error&) {
      return false;  // the port is not free yet
    }
  }));
  server->start();
  ASSERT_EQ(info.wait_for(10s), std::future_status::ready);
  EXPECT_EQ(info.get().size, 0);
  EXPECT_GE(client.reconnects(), 1);
}

TEST(ClientTest, KeepsWorkingAcrossAServerRestartFromItsCheckpoint) {
  const fs::path dir = fs::temp_directory_path() / ("mnemo-client-restart-" + std::to_string(::getpid()));
  fs::remove_all(dir);
  ServerOptions o = server_options("uniform", 100);
  o.bind = "tcp://127.0.0.1:*";
  o.checkpoint_dir = dir.string();
  auto first = std::make_unique<Server>(o);
  first->start();
  const std::string ep = first->endpoint();
  Client actor(ep, client_options(/*timeout_ms=*/10000));
  for (int i = 0; i < 5; ++i) actor.insert(make_item(static_cast<float>(i)));
  first.reset();  // stops and writes its last checkpoint
  o.bind = ep;
  o.resume = true;
  std::unique_ptr<Server> second;
  std::string why;
  ASSERT_TRUE(eventually([&] {
    try {
      second = std::make_unique<Server>(o);
      return true;
    } catch (const Error& e) {
      why = e.what();
      return false;  // the port is not free yet
    }
  })) << why;
  second->start();
  actor.insert(make_item(5));  // the same client, reconnected underneath
  // Inserts are at-least-once across a restart (client.h): when the old socket had already
  // reconnected to the new server before the client saw the drop, item 5 arrives twice.
  const std::int64_t size = actor.info().size;
  EXPECT_GE(size, 6);  // the 5 restored items and the new one
  EXPECT_LE(size, 7);
  EXPECT_EQ(actor.sample(4).size(), 4);
  fs::remove_all(dir);
}

TEST(ClientTest, ManyConcurrentClientsAreServedWithinBoundedTime) {
  Server server(server_options("uniform", 1000));
  server.start();
  constexpr int kClients = 16, kOps = 40;
  std::vector<std::future<int>> done;
  for (int c = 0; c < kClients; ++c)
    done.push_back(std::async(std::launch::async, [&, c] {
      Client client(server.endpoint(), client_options(10000));
      int sampled = 0;
      for (int i = 0; i < kOps; ++i) {
        client.insert(make_item(static_cast<float>(c)));
        sampled += static_cast<int>(client.sample(2).size());
      }
      return sampled;
    }));
  for (auto& d : done) {
    ASSERT_EQ(d.wait_for(30s), std::future_status::ready);
    EXPECT_EQ(d.get(), 2 * kOps);
  }
  EXPECT_EQ(server.stats().inserts, kClients * kOps);
}

TEST(ClientTest, AClientThatNeverReadsRepliesDoesNotStallOthers) {
  Server server(server_options("uniform", 100));
  server.start();
  zmq::socket_t rude(transport::context(), zmq::socket_type::dealer);
  rude.set(zmq::sockopt::linger, 0);
  rude.connect(server.endpoint());
  wire::Message info(wire::MsgType::kInfo, /*id=*/1);
  for (int i = 0; i < 3000; ++i)
    if (!transport::send(rude, info, /*wait=*/false)) break;  // never reads a single reply
  Client polite(server.endpoint(), client_options(5000));
  polite.insert(make_item(1));
  EXPECT_EQ(polite.sample(1).size(), 1);
}

TEST(ClientTest, AClientVanishingMidRequestLeavesTheServerServing) {
  Server server(server_options("fifo", 8));
  server.start();
  {
    zmq::socket_t gone(transport::context(), zmq::socket_type::dealer);
    gone.set(zmq::sockopt::linger, 0);
    gone.connect(server.endpoint());
    wire::Message sample(wire::MsgType::kSample, /*id=*/1);
    sample.add(kCountField, Array::scalar<std::int64_t>(1));
    // Long enough that a loaded machine still sees the request parked.
    sample.add(kTimeoutField, Array::scalar<std::int64_t>(1500));
    ASSERT_TRUE(transport::send(gone, sample));
    ASSERT_TRUE(eventually([&] { return server.stats().pending == 1; }));
  }  // closed while its sample is parked
  ASSERT_TRUE(eventually([&] { return server.stats().pending == 0; }, 20s));  // expired
  // The timeout reply goes nowhere. It is counted as lost only when ZeroMQ has already seen the
  // peer go (EHOSTUNREACH); otherwise it is dropped with the peer's pipe. Nothing orders the two.
  EXPECT_LE(server.stats().lost_replies, 1);
  Client client(server.endpoint(), client_options());
  client.insert(make_item(4));
  EXPECT_EQ(value_of(client.sample(1), 0), 4.0f);
}

TEST(ClientTest, AFloodOfInsertsCannotGrowTheServersMemory) {
  ServerOptions o = server_options("fifo", /*max_size=*/4);
  o.max_pending = 32;
  o.max_pending_per_client = 8;
  Server server(o);
  server.start();
  zmq::socket_t flood(transport::context(), zmq::socket_type::dealer);
  flood.set(zmq::sockopt::linger, 0);
  flood.connect(server.endpoint());
  constexpr int kFlood = 400;
  std::int64_t max_pending = 0;
  for (int i = 0; i < kFlood; ++i) {
    wire::Message insert(wire::MsgType::kInsert, static_cast<std::uint64_t>(i + 1));
    insert.add("obs", Array::zeros(DType::kFloat32, {256}));
    insert.add(kTimeoutField, Array::scalar<std::int64_t>(60000));
    ASSERT_TRUE(transport::send(flood, insert));
    max_pending = std::max(max_pending, server.stats().pending);
  }
  ASSERT_TRUE(eventually([&] { return server.stats().requests >= kFlood; }));
  // `requests` counts a message before it is handled: wait for the last one's refusal too.
  ASSERT_TRUE(eventually([&] { return server.stats().refused >= kFlood - 4 - 8; }));
  EXPECT_LE(std::max(max_pending, server.stats().pending), 8);
  EXPECT_EQ(server.stats().size, 4);
  EXPECT_EQ(server.stats().refused, kFlood - 4 - 8);
  // Another client still gets its own parking room: it waits for the queue, it is not refused.
  Client other(server.endpoint(), client_options(/*timeout_ms=*/200));
  try {
    other.insert(make_item(0, /*bytes=*/1024));
    FAIL();
  } catch (const std::exception& e) {
    EXPECT_TRUE(IsRateLimiterTimeout(e)) << e.what();
  }
}

TEST(ClientTest, CurveEncryptsAndAuthenticatesClients) {
  ASSERT_TRUE(transport::curve_available());
  const fs::path dir = fs::temp_directory_path() / ("mnemo-curve-" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  transport::write_curve_key_files((dir / "server").string(), transport::curve_keypair());
  transport::write_curve_key_files((dir / "client").string(), transport::curve_keypair());
  transport::write_curve_key_files((dir / "stranger").string(), transport::curve_keypair());
  EXPECT_EQ(fs::status(dir / "server.key").permissions() & fs::perms::others_read, fs::perms::none);
  ServerOptions o = server_options("uniform", 8);
  o.bind = "tcp://127.0.0.1:*";
  o.curve_secret_key_file = (dir / "server.key").string();
  o.curve_authorized_keys = {(dir / "client.pub").string()};
  Server server(o);
  server.start();
  ClientOptions co = client_options(10000);
  co.curve_server_key_file = (dir / "server.pub").string();
  co.curve_key_file = (dir / "client.key").string();
  Client client(server.endpoint(), co);
  client.insert(make_item(1));
  EXPECT_EQ(client.info().size, 1);
  ClientOptions bad = client_options(300);
  bad.curve_server_key_file = (dir / "server.pub").string();
  bad.curve_key_file = (dir / "stranger.key").string();
  EXPECT_THROW(Client(server.endpoint(), bad).info(), DeadlineExceededError);
  EXPECT_THROW(Client(server.endpoint(), client_options(300)).info(), DeadlineExceededError);  // plaintext
  bad.curve_key_file = (dir / "stranger.pub").string();  // no secret key in a .pub file
  EXPECT_THROW(Client(server.endpoint(), bad), ConfigError);
  EXPECT_THROW(transport::read_curve_key_file((dir / "missing.key").string()), Error);
  fs::remove_all(dir);
}

}  // namespace
}  // namespace mnemo::replay
