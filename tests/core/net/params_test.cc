// Tests of the parameter server: CURVE on its socket, and its roster: actors named on fetches stay in it, silent ones are
// lost, joining and leaving ones change it, and every change starts an epoch at the current
// version with the live actors' envs. Waits are on conditions with deadlines.
#include "core/net/params.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <limits>
#include <thread>

#include "core/check.h"
#include "core/net/transport.h"

namespace mnemo {
namespace {

constexpr std::int64_t kAny = std::numeric_limits<std::int64_t>::max();

bool eventually(const std::function<bool()>& done, int seconds = 30) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
  while (std::chrono::steady_clock::now() < deadline) {
    if (done()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return done();
}

Array params_of(float v) {
  Array a = Array::zeros(DType::kFloat32, {3});
  for (int i = 0; i < 3; ++i) static_cast<float*>(a.raw())[i] = v;
  return a;
}

TEST(ParameterServerTest, CurveServesOnlyAuthorizedClients) {
  ASSERT_TRUE(transport::curve_available());
  transport::CurveServer server_keys{transport::curve_keypair(), {}};
  transport::CurveClient client{server_keys.keys.public_key, transport::curve_keypair()};
  server_keys.authorized = {client.keys.public_key};
  ParameterServer server("tcp://127.0.0.1:*", server_keys);
  server.publish(params_of(3), 1);
  EXPECT_EQ(ParameterClient(server.endpoint(), 10000, client).fetch(-1).version, 1);
  // A stranger's key and a plaintext client never complete the handshake: the fetch times out.
  transport::CurveClient stranger{server_keys.keys.public_key, transport::curve_keypair()};
  EXPECT_THROW(ParameterClient(server.endpoint(), 300, stranger).fetch(-1), TimeoutError);
  EXPECT_THROW(ParameterClient(server.endpoint(), 300).fetch(-1), TimeoutError);
}

TEST(ParameterRosterTest, TheExpectedActorsMakeTheFirstEpochAtTheBaseVersion) {
  ParameterServer server("inproc://roster-first");
  server.expect_actors(2, 4, 0);
  server.publish(params_of(1), 7);
  ParameterClient a(server.endpoint(), 5000);
  a.set_identity(0, 4);
  FetchedParams p = a.fetch(-1);
  EXPECT_EQ(p.version, 7);
  EXPECT_EQ(p.base_version, 7);
  EXPECT_EQ(p.epoch, 7);
  EXPECT_EQ(p.epoch_envs, 8);
  EXPECT_EQ(server.live_actors(), 2);
  // A healthy run never changes epoch, however far the versions go.
  server.publish(params_of(2), 8);
  EXPECT_EQ(a.fetch(7).epoch, 7);
}

TEST(ParameterRosterTest, AnActorThatIsNeverHeardOfIsLostAndTheOthersTakeItsEnvs) {
  ParameterServer server("inproc://roster-lost");
  server.expect_actors(2, 4, /*timeout_ms=*/300);
  server.publish(params_of(1), 0);
  server.publish(params_of(2), 5);
  std::atomic<bool> quit{false};
  std::thread alive([&] {
    ParameterClient a(server.endpoint(), 5000);
    a.set_identity(0, 4);
    while (!quit.load()) {
      a.fetch(kAny);
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  });
  EXPECT_TRUE(eventually([&] { return server.lost_actors() >= 1; }));
  ParameterClient probe(server.endpoint(), 5000);
  probe.set_identity(0, 4);
  // Actor 0 keeps fetching: whatever else happened, the roster ends up with it alone.
  EXPECT_TRUE(eventually([&] {
    FetchedParams p = probe.fetch(kAny);
    return server.live_actors() == 1 && p.epoch_envs == 4 && p.epoch == 5;
  }));
  quit = true;
  alive.join();
}

TEST(ParameterRosterTest, JoiningTakesAFreshIdAndLeavingRemovesIt) {
  ParameterServer server("inproc://roster-join");
  server.expect_actors(2, 4, 0);
  server.publish(params_of(1), 3);
  ParameterClient joiner(server.endpoint(), 5000);
  EXPECT_EQ(joiner.join(2), 2);
  FetchedParams p = joiner.fetch(kAny);
  EXPECT_EQ(p.epoch_envs, 10);
  EXPECT_EQ(p.epoch, 3);
  EXPECT_EQ(server.live_actors(), 3);
  server.publish(params_of(2), 4);
  joiner.leave("done here");
  EXPECT_EQ(server.live_actors(), 2);
  EXPECT_EQ(server.lost_actors(), 1);
  ParameterClient other(server.endpoint(), 5000);
  other.set_identity(0, 4);
  p = other.fetch(kAny);
  EXPECT_EQ(p.epoch, 4);
  EXPECT_EQ(p.epoch_envs, 8);
}

TEST(ParameterRosterTest, ARestartedActorRejoinsWithANewEpoch) {
  ParameterServer server("inproc://roster-restart");
  server.expect_actors(1, 4, 0);
  server.publish(params_of(1), 0);
  ParameterClient first(server.endpoint(), 5000);
  first.set_identity(0, 4, 0);
  EXPECT_EQ(first.fetch(kAny).epoch, 0);
  server.publish(params_of(2), 6);
  ParameterClient second(server.endpoint(), 5000);
  second.set_identity(0, 4, 1);
  FetchedParams p = second.fetch(kAny);
  EXPECT_EQ(p.epoch, 6);
  EXPECT_EQ(p.epoch_envs, 4);
  EXPECT_EQ(server.live_actors(), 1);
}

TEST(ParameterRosterTest, StoppingCountsEveryLiveActorThatHasSeenTheStop) {
  ParameterServer server("inproc://roster-stop");
  server.expect_actors(2, 4, 0);
  server.publish(params_of(1), 0);
  ParameterClient a(server.endpoint(), 5000), b(server.endpoint(), 5000);
  a.set_identity(0, 4);
  b.set_identity(1, 4);
  a.fetch(kAny);
  server.set_stopping();
  EXPECT_FALSE(server.all_actors_stopped());
  EXPECT_TRUE(a.fetch(kAny).stop);
  EXPECT_FALSE(server.all_actors_stopped());
  EXPECT_TRUE(b.fetch(kAny).stop);
  EXPECT_TRUE(server.all_actors_stopped());
}

TEST(ParameterRosterTest, ABadEnvCountIsRejectedWithAnError) {
  ParameterServer server("inproc://roster-bad");
  server.publish(params_of(1), 0);
  ParameterClient a(server.endpoint(), 5000);
  a.set_identity(0, -3);
  try {
    a.fetch(kAny);
    FAIL() << "a fetch with -3 envs was accepted";
  } catch (const TimeoutError&) {
    FAIL() << "the error reply did not reach the client";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("envs out of range"), std::string::npos) << e.what();
  }
  EXPECT_EQ(server.live_actors(), 0);
}

}  // namespace
}  // namespace mnemo
