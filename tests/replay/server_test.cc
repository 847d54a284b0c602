// Tests of the replay Server and Client over inproc:// and tcp:// loopback: the request/reply
// protocol, parking of requests that cannot be served yet, timeouts, interruption, shutdown, and
// that garbage from a peer is answered and logged without disturbing other clients.
#include "replay/server.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <functional>
#include <future>
#include <optional>
#include <random>
#include <thread>

#include "core/net/transport.h"
#include "core/net/wire.h"
#include "replay/client.h"

namespace mnemo::replay {
namespace {

using namespace std::chrono_literals;

Item make_item(float v, std::int64_t steps = 4) {
  Array obs = Array::zeros(DType::kFloat32, {steps, 3});
  std::fill(obs.data<float>(), obs.data<float>() + obs.numel(), v);
  Array reward = Array::zeros(DType::kFloat32, {steps});
  std::fill(reward.data<float>(), reward.data<float>() + steps, v);
  return {{"obs", obs}, {"reward", reward}};
}

float first_obs(const Batch& b, std::int64_t i) { return b.at("obs").data<float>()[i * b.at("obs").numel() / b.size()]; }

std::string unique_inproc() {
  static std::atomic<int> counter{0};
  return "inproc://replay-server-test-" + std::to_string(counter++);
}

ServerOptions options_for(const std::string& bind, std::int64_t max_size = 8) {
  ServerOptions o;
  o.bind = bind == "inproc" ? unique_inproc() : bind;
  o.table.max_size = max_size;
  return o;
}

ClientOptions with_timeout(std::int64_t ms) {
  ClientOptions o;
  o.timeout_ms = ms;
  return o;
}

// Polls `pred` until it holds or `timeout` passes; never a bare sleep. The default is generous: it
// only bounds how long a failing test takes.
bool eventually(const std::function<bool()>& pred, std::chrono::milliseconds timeout = 20s) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (pred()) return true;
    std::this_thread::sleep_for(2ms);
  }
  return pred();
}

class ServerTransportTest : public ::testing::TestWithParam<std::string> {};

INSTANTIATE_TEST_SUITE_P(Transports, ServerTransportTest, ::testing::Values("inproc", "tcp://127.0.0.1:*"),
                         [](const auto& info) { return info.param == "inproc" ? "Inproc" : "TcpLoopback"; });

TEST_P(ServerTransportTest, InsertsAndSamplesItemsInFifoOrder) {
  Server server(options_for(GetParam()));
  server.start();
  Client client(server.endpoint(), with_timeout(5000));
  for (int i = 0; i < 3; ++i) client.insert(make_item(static_cast<float>(i)));
  Batch batch = client.sample(2);
  EXPECT_EQ(batch.keys, (std::vector<std::uint64_t>{0, 1}));
  EXPECT_EQ(batch.at("obs").shape(), (Shape{2, 4, 3}));
  EXPECT_EQ(batch.at("reward").shape(), (Shape{2, 4}));
  EXPECT_EQ(first_obs(batch, 0), 0.0f);
  EXPECT_EQ(first_obs(batch, 1), 1.0f);
  const Info info = client.info();
  EXPECT_EQ(info.size, 1);
  EXPECT_EQ(info.max_size, 8);
  EXPECT_EQ(info.inserts, 3);
  EXPECT_EQ(info.samples, 2);
  EXPECT_EQ(info.pending, 0);
}

TEST_P(ServerTransportTest, SampleWaitsUntilEnoughItemsArrive) {
  Server server(options_for(GetParam()));
  server.start();
  auto sampled = std::async(std::launch::async, [&] {
    Client learner(server.endpoint(), with_timeout(10000));
    return learner.sample(2);
  });
  ASSERT_TRUE(eventually([&] { return server.stats().pending == 1; }));
  Client actor(server.endpoint(), with_timeout(5000));
  actor.insert(make_item(1));
  EXPECT_EQ(sampled.wait_for(0ms), std::future_status::timeout);  // one item is not enough
  actor.insert(make_item(2));
  ASSERT_EQ(sampled.wait_for(10s), std::future_status::ready);
  Batch batch = sampled.get();
  EXPECT_EQ(first_obs(batch, 0), 1.0f);
  EXPECT_EQ(first_obs(batch, 1), 2.0f);
  EXPECT_EQ(server.stats().pending, 0);
}

TEST_P(ServerTransportTest, InsertWaitsWhileFullUntilASampleFreesRoom) {
  Server server(options_for(GetParam(), /*max_size=*/2));
  server.start();
  Client learner(server.endpoint(), with_timeout(5000));
  learner.insert(make_item(0));
  learner.insert(make_item(1));
  auto inserted = std::async(std::launch::async, [&] {
    Client actor(server.endpoint(), with_timeout(10000));
    actor.insert(make_item(2));
  });
  ASSERT_TRUE(eventually([&] { return server.stats().pending == 1; }));
  EXPECT_EQ(inserted.wait_for(0ms), std::future_status::timeout);
  Batch first = learner.sample(1);
  EXPECT_EQ(first_obs(first, 0), 0.0f);
  ASSERT_EQ(inserted.wait_for(10s), std::future_status::ready);
  inserted.get();
  Batch rest = learner.sample(2);
  EXPECT_EQ(rest.keys, (std::vector<std::uint64_t>{1, 2}));
  EXPECT_EQ(first_obs(rest, 1), 2.0f);
}

// Sends `frames` from a raw DEALER socket and returns the decoded reply.
// The type field of a header frame (after the u32 magic and u16 version).
std::uint16_t header_type_bits(const wire::Frame& header) {
  std::uint16_t type = 0;
  std::memcpy(&type, static_cast<const char*>(header.data) + 6, sizeof(type));
  return type;
}

// Sends the frames from a raw DEALER and decodes the reply. `checksummed` (when set) is what the
// reply's payload checksums must be: present over tcp, left out over inproc.
wire::Message raw_exchange(zmq::socket_t& raw, const std::vector<wire::Frame>& frames,
                           std::optional<bool> checksummed = std::nullopt) {
  EXPECT_TRUE(transport::send_frames(raw, frames, /*wait=*/true));
  auto reply = transport::recv_frames(raw, transport::RecvLimits{}, /*timeout_ms=*/5000);
  if (!reply) {
    ADD_FAILURE() << "no reply from the server";
    return wire::Message();
  }
  if (checksummed) {
    EXPECT_EQ((header_type_bits(reply->front()) & wire::kNoPayloadChecksums) == 0, *checksummed);
  }
  wire::Limits limits;
  limits.allow_unchecked_payload = true;  // this test's socket is a peer of either kind
  return wire::decode(std::move(*reply), limits);
}

std::string error_text(const wire::Message& m) {
  EXPECT_EQ(m.type, wire::MsgType::kError);
  return m.has(kMessageField) ? wire::array_text(m.at(kMessageField)) : "";
}

TEST_P(ServerTransportTest, AnswersGarbageWithErrorsAndKeepsServing) {
  Server server(options_for(GetParam()));
  server.start();
  zmq::socket_t raw(transport::context(), zmq::socket_type::dealer);
  raw.set(zmq::sockopt::linger, 0);
  raw.connect(server.endpoint());

  std::mt19937 rng(/*seed=*/5);
  for (int i = 0; i < 5; ++i) {
    std::string junk(1 + rng() % 200, '\0');
    for (char& c : junk) c = static_cast<char>(rng());
    EXPECT_FALSE(error_text(raw_exchange(raw, {wire::Frame::from_string(junk)})).empty());
  }
  // A valid header whose payload frame is missing.
  wire::Message insert(wire::MsgType::kInsert, /*id=*/11);
  insert.add("obs", Array::zeros(DType::kFloat32, {4, 3}));
  std::vector<wire::Frame> frames = wire::encode(insert);
  frames.pop_back();
  EXPECT_NE(error_text(raw_exchange(raw, frames)).find("payload frames"), std::string::npos);
  // Well-formed messages the server cannot act on.
  wire::Message params(wire::MsgType::kParams, /*id=*/12);
  wire::Message reply = raw_exchange(raw, wire::encode(params));
  EXPECT_EQ(reply.request_id, 12u);
  EXPECT_NE(error_text(reply).find("params"), std::string::npos);
  wire::Message no_count(wire::MsgType::kSample, /*id=*/13);
  EXPECT_NE(error_text(raw_exchange(raw, wire::encode(no_count))).find("'n'"), std::string::npos);
  wire::Message float_count(wire::MsgType::kSample, /*id=*/14);
  float_count.add("n", Array::scalar<float>(2.0f));
  EXPECT_NE(error_text(raw_exchange(raw, wire::encode(float_count))).find("int64"), std::string::npos);

  EXPECT_GE(server.stats().bad_requests, 9);
  Client client(server.endpoint(), with_timeout(5000));
  client.insert(make_item(3));
  EXPECT_EQ(first_obs(client.sample(1), 0), 3.0f);
}

// Payload checksums are left out in-process only: an inproc server takes messages without them
// and answers without them; a tcp server refuses them and always checksums its replies.
TEST_P(ServerTransportTest, PayloadChecksumsAreOptionalOnlyInProcess) {
  const bool inproc = GetParam() == "inproc";
  Server server(options_for(GetParam()));
  server.start();
  zmq::socket_t raw(transport::context(), zmq::socket_type::dealer);
  raw.set(zmq::sockopt::linger, 0);
  raw.connect(server.endpoint());
  auto insert = [](std::uint64_t id, float value) {
    wire::Message m(wire::MsgType::kInsert, id);
    for (const auto& [name, a] : make_item(value)) m.add(name, a);
    m.add(kTimeoutField, Array::scalar<std::int64_t>(1000));
    return m;
  };
  // With checksums: accepted everywhere.
  wire::Message checked = raw_exchange(raw, wire::encode(insert(1, 1.0f)), /*checksummed=*/!inproc);
  EXPECT_EQ(checked.type, wire::MsgType::kOk);
  // Without: accepted in-process, refused over tcp.
  wire::Message unchecked = raw_exchange(raw, wire::encode(insert(2, 2.0f), /*payload_checksums=*/false),
                                         /*checksummed=*/!inproc);
  if (inproc) {
    EXPECT_EQ(unchecked.type, wire::MsgType::kOk);
  } else {
    EXPECT_NE(error_text(unchecked).find("not in-process"), std::string::npos) << error_text(unchecked);
  }
  EXPECT_EQ(server.stats().bad_requests, inproc ? 0 : 1);
  Client client(server.endpoint(), with_timeout(5000));
  EXPECT_EQ(client.info().size, inproc ? 2 : 1);
}

TEST(ServerTest, RefusesMalformedBatchInsertsAndKeepsServing) {
  Server server(options_for("tcp://127.0.0.1:*"));
  server.start();
  zmq::socket_t raw(transport::context(), zmq::socket_type::dealer);
  raw.set(zmq::sockopt::linger, 0);
  raw.connect(server.endpoint());
  auto batch = [](std::uint64_t id) { return wire::Message(wire::MsgType::kInsertBatch, id); };
  wire::Message uneven = batch(1);
  uneven.add("obs", Array::zeros(DType::kFloat32, {3, 4}));
  uneven.add("reward", Array::zeros(DType::kFloat32, {2, 4}));
  EXPECT_NE(error_text(raw_exchange(raw, wire::encode(uneven))).find("'reward' holds 2 items"), std::string::npos);
  wire::Message unstacked = batch(2);
  unstacked.add("obs", Array::scalar<float>(1.0f));
  EXPECT_NE(error_text(raw_exchange(raw, wire::encode(unstacked))).find("not stacked"), std::string::npos);
  wire::Message empty = batch(3);
  EXPECT_NE(error_text(raw_exchange(raw, wire::encode(empty))).find("no items"), std::string::npos);
  wire::Message bad_priorities = batch(4);
  bad_priorities.add("obs", Array::zeros(DType::kFloat32, {3, 4}));
  bad_priorities.add(kPriorityField, Array::from_vector(std::vector<double>{1, 2}, {2}));
  EXPECT_NE(error_text(raw_exchange(raw, wire::encode(bad_priorities))).find("'priority' must be float64 [3]"),
            std::string::npos);
  EXPECT_EQ(server.stats().size, 0);
  Client client(server.endpoint(), with_timeout(5000));
  client.insert_many({make_item(1), make_item(2)});
  EXPECT_EQ(client.info().size, 2);
}

TEST(ServerTest, RefusesAMessageOverTheSizeLimitAndKeepsServing) {
  ServerOptions o = options_for("inproc");
  o.max_message_mb = 1;
  Server server(o);
  server.start();
  Client client(server.endpoint(), with_timeout(5000));
  Item big;  // three fields under the limit each, over it together
  for (const char* name : {"a", "b", "c"}) big.emplace_back(name, Array::zeros(DType::kUInt8, {600 * 1024}));
  try {
    client.insert(big);
    FAIL() << "expected the server to refuse the item";
  } catch (const TimeoutError& e) {
    FAIL() << "expected an error reply, got a timeout: " << e.what();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("exceeds the limit"), std::string::npos) << e.what();
  }
  client.insert(make_item(1));
  EXPECT_EQ(client.info().size, 1);
}

TEST(ServerTest, ReportsSignatureMismatchToTheClientAndKeepsServing) {
  Server server(options_for("inproc"));
  server.start();
  Client client(server.endpoint(), with_timeout(5000));
  client.insert(make_item(0, /*steps=*/4));
  try {
    client.insert(make_item(0, /*steps=*/5));
    FAIL() << "expected a signature error";
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("'obs'"), std::string::npos) << msg;
    EXPECT_NE(msg.find("[5, 3]"), std::string::npos) << msg;
    EXPECT_NE(msg.find("[4, 3]"), std::string::npos) << msg;
  }
  client.insert(make_item(1));
  EXPECT_EQ(client.info().size, 2);
  EXPECT_EQ(server.stats().bad_requests, 1);
}

TEST(ServerTest, RefusesReservedFieldNamesAndImpossibleSampleSizes) {
  Server server(options_for("inproc", /*max_size=*/4));
  server.start();
  Client client(server.endpoint(), with_timeout(5000));
  Item item = make_item(0);
  item.emplace_back("keys", Array::zeros(DType::kInt64, {4}));
  EXPECT_THROW(client.insert(item), Error);
  try {
    client.sample(5);
    FAIL() << "expected an error";
  } catch (const TimeoutError&) {
    FAIL() << "an impossible sample must fail at once, not time out";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("at most 4"), std::string::npos) << e.what();
  }
}

TEST(ServerTest, ParkedSampleTimesOutWithTimeoutError) {
  Server server(options_for("inproc"));
  server.start();
  // Short enough to expire soon, long enough that the insert and info below (which must succeed
  // with the same client) are not at the mercy of a loaded machine.
  Client client(server.endpoint(), with_timeout(1000));
  EXPECT_THROW(client.sample(1), TimeoutError);
  // On a loaded machine the client's own deadline can beat the server's timeout reply; the
  // server expires the parked sample either way.
  ASSERT_TRUE(eventually([&] { return server.stats().expired == 1; }));
  EXPECT_EQ(server.stats().pending, 0);
  client.insert(make_item(4));  // the client and the server are both still usable
  EXPECT_EQ(client.info().size, 1);
}

TEST(ServerTest, ClientTimesOutWhenNoServerAnswers) {
  Client client("tcp://127.0.0.1:1", with_timeout(200));
  const auto start = std::chrono::steady_clock::now();
  EXPECT_THROW(client.info(), TimeoutError);
  // It gives up (after its timeout and the grace for a late server reply) rather than hanging.
  EXPECT_LT(std::chrono::steady_clock::now() - start, 60s);
}

TEST(ServerTest, StopFlagInterruptsAWaitingInsert) {
  Server server(options_for("inproc", /*max_size=*/1));
  server.start();
  Client actor(server.endpoint(), with_timeout(30000));
  actor.insert(make_item(0));
  std::atomic<bool> stop{false};
  actor.set_stop_flag(&stop);
  auto inserted = std::async(std::launch::async, [&] { actor.insert(make_item(1)); });
  ASSERT_TRUE(eventually([&] { return server.stats().pending == 1; }));
  stop = true;
  ASSERT_EQ(inserted.wait_for(20s), std::future_status::ready);
  EXPECT_THROW(inserted.get(), StoppedError);
}

TEST(ServerTest, DiscardsRepliesToAbandonedRequests) {
  Server server(options_for("inproc"));
  server.start();
  Client learner(server.endpoint(), with_timeout(30000));
  std::atomic<bool> stop{false};
  learner.set_stop_flag(&stop);
  auto sampled = std::async(std::launch::async, [&] { return learner.sample(1); });
  ASSERT_TRUE(eventually([&] { return server.stats().pending == 1; }));
  stop = true;
  ASSERT_EQ(sampled.wait_for(20s), std::future_status::ready);
  EXPECT_THROW(sampled.get(), StoppedError);
  learner.set_stop_flag(nullptr);
  // The abandoned sample is still parked; this insert satisfies it and its reply goes to the
  // learner's socket, where the next call must skip it.
  Client actor(server.endpoint(), with_timeout(5000));
  actor.insert(make_item(9));
  ASSERT_TRUE(eventually([&] { return server.stats().samples == 1; }));
  const Info info = learner.info();
  EXPECT_EQ(info.samples, 1);
  EXPECT_EQ(info.size, 0);
}

TEST(ServerTest, ShutdownRequestMakesRunReturnAndFailsParkedRequests) {
  Server server(options_for("tcp://127.0.0.1:*"));
  auto running = std::async(std::launch::async, [&] { server.run(); });
  auto sampled = std::async(std::launch::async, [&] {
    Client learner(server.endpoint(), with_timeout(10000));
    learner.sample(1);
  });
  ASSERT_TRUE(eventually([&] { return server.stats().pending == 1; }));
  Client(server.endpoint(), with_timeout(5000)).shutdown_server();
  ASSERT_EQ(running.wait_for(20s), std::future_status::ready);
  running.get();
  ASSERT_EQ(sampled.wait_for(20s), std::future_status::ready);
  try {
    sampled.get();
    FAIL() << "expected the parked sample to fail";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("shutting down"), std::string::npos) << e.what();
  }
}

TEST(ServerTest, StopMakesRunReturn) {
  Server server(options_for("inproc"));
  auto running = std::async(std::launch::async, [&] { server.run(); });
  ASSERT_TRUE(eventually([&] {
    Client probe(server.endpoint(), with_timeout(100));
    try {
      probe.info();
      return true;
    } catch (const TimeoutError&) {
      return false;
    }
  }));
  server.stop();
  ASSERT_EQ(running.wait_for(20s), std::future_status::ready);
}

TEST(ServerTest, EndpointHasTheBoundPort) {
  Server server(options_for("tcp://127.0.0.1:*"));
  EXPECT_EQ(server.endpoint().rfind("tcp://127.0.0.1:", 0), 0u);
  EXPECT_EQ(server.endpoint().find('*'), std::string::npos);
}

TEST(ServerTest, BadOptionsAreConfigErrors) {
  ServerOptions o = options_for("inproc");
  o.table.sampler = "bogus";
  EXPECT_THROW(Server server(o), ConfigError);
  o = options_for("inproc");
  o.max_message_mb = 0;
  EXPECT_THROW(Server server(o), ConfigError);
  ClientOptions c;
  c.timeout_ms = -1;
  EXPECT_THROW(Client client("inproc://x", c), ConfigError);
}

}  // namespace
}  // namespace mnemo::replay
