// The Gymnasium bridge against the pure-Python envs of envs/python/mnemo_envs/examples.py (no
// gymnasium needed): spaces become mnemo specs, a pool through the bridge follows the pool's own
// semantics (auto-reset with final_obs, terminated vs truncated, episode statistics, infos),
// seeds reproduce whatever the number of servers, recorded episodes restore, and every failure
// (a server that exits, hangs or raises, an unrepresentable space, bytes that are no reply) is an
// Error naming the env and the endpoint. Skipped where the Python side lacks numpy or pyzmq.
#include "envs/gym.h"

#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <thread>

#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <optional>

#include <chrono>
#include <filesystem>

#include "core/net/transport.h"
#include "core/process.h"
#include "envs/env_pool.h"
#include "envs/registry.h"
#include "tests/envs/env_test_util.h"

namespace mnemo::envs {
namespace {

// The interpreter the bridge picks by default when it has numpy and pyzmq, else "".
const std::string& test_python() {
  static const std::string py = [] {
    for (const char* p : {"/usr/bin/python3", "python3"})
      if (std::system((std::string(p) + " -c 'import numpy, zmq' >/dev/null 2>&1").c_str()) == 0) return std::string(p);
    return std::string();
  }();
  return py;
}
bool python_ready() { return !test_python().empty(); }

#define REQUIRE_PYTHON() \
  if (!python_ready()) GTEST_SKIP() << "no python3 with numpy and pyzmq (Debian: python3-numpy python3-zmq)"

GymOptions demo(const std::string& kwargs = "") {
  GymOptions o;
  o.id = "mnemo_envs.examples:spaces_demo";
  o.python = test_python();
  if (!kwargs.empty()) o.kwargs = config::parse_yaml(kwargs, "test");
  o.timeout_ms = 20000;
  return o;
}

EnvFactory gym_factory(const GymOptions& o) {
  return [o](std::size_t) { return std::make_unique<GymEnv>(o); };
}

EnvPoolOptions pool_options(std::int64_t n) {
  EnvPoolOptions p;
  p.num_envs = n;
  return p;
}

// Multi-discrete actions [N, 3] for the demo's Tuple(Discrete(3, start=-1), MultiDiscrete([2, 2])).
Array demo_actions(std::int64_t n, std::int64_t move, std::int64_t extra) {
  std::vector<std::int64_t> v;
  for (std::int64_t i = 0; i < n; ++i) v.insert(v.end(), {move + 1, extra, extra});
  return Array::from_vector<std::int64_t>(v, {n, 3});
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

// The demo's fields in spec order.
enum Field { kImage = 0, kCount = 1, kPair0 = 2, kPair1 = 3, kLevel = 4 };

int count_of(const Array& count_field, std::int64_t row) {
  const float* p = count_field.data<float>() + row * 8;
  for (int k = 0; k < 8; ++k)
    if (p[k] == 1.0f) return k;
  return -1;
}

TEST(GymEnvTest, SpacesBecomeNamedFieldsAndTheActionSpaceMnemoRepresents) {
  REQUIRE_PYTHON();
  GymEnv env(demo());
  EXPECT_EQ(env.observation_spec().str(),
            "image:uint8[4, 4, 3], count:float32[8], pair.0:int64[2], pair.1:uint8[2], level:float32[2]");
  EXPECT_EQ(env.action_space().str(), "multi_discrete([3, 2, 2])");
  EXPECT_EQ(env.info_names(), (std::vector<std::string>{"start", "success", "t"}));

  GymOptions cartpole;
  cartpole.id = "mnemo_envs.examples:cartpole";
  GymEnv c(cartpole);
  EXPECT_EQ(c.observation_spec().str(), "obs:float32[4]");
  EXPECT_EQ(c.action_space().str(), "discrete(2)");
  EXPECT_TRUE(c.info_names().empty());
}

TEST(GymEnvTest, ASpaceMnemoCannotRepresentIsRefusedWithTheSpacePrinted) {
  REQUIRE_PYTHON();
  GymOptions o = demo("{which: action}");
  o.id = "mnemo_envs.examples:unsupported";
  const std::string action = error_of([&] { GymEnv env(o); });
  EXPECT_NE(action.find("Tuple(Discrete(2), Box("), std::string::npos) << action;
  EXPECT_NE(action.find("all discrete"), std::string::npos) << action;
  o.kwargs = config::parse_yaml("{which: observation}", "test");
  const std::string obs = error_of([&] { GymEnv env(o); });
  EXPECT_NE(obs.find("cannot represent the space Text(5)"), std::string::npos) << obs;
  EXPECT_NE(obs.find("mnemo_envs.examples:unsupported"), std::string::npos) << obs;
}

TEST(GymEnvTest, APoolSeesThePoolsOwnAutoResetTruncationAndFinalObservations) {
  REQUIRE_PYTHON();
  // Moving down (-1) never reaches the goal: every episode is truncated after `length` steps.
  EnvPool pool(pool_options(3), gym_factory(demo("{length: 4}")));
  const StepBatch* b = &pool.reset(7);
  for (std::int64_t i = 0; i < 3; ++i) {
    EXPECT_EQ(b->first.data<std::uint8_t>()[i], 1);
    EXPECT_EQ(b->obs[kLevel].data<float>()[i * 2 + 1], 0.0f);  // -t/8 with t = 0
  }
  for (int t = 1; t <= 4; ++t) {
    b = &pool.step(demo_actions(3, /*move=*/-1, /*extra=*/1));
    for (std::int64_t i = 0; i < 3; ++i) {
      const bool end = t == 4;
      ASSERT_EQ(b->truncated.data<std::uint8_t>()[i], end ? 1 : 0) << "t " << t;
      ASSERT_EQ(b->terminated.data<std::uint8_t>()[i], 0);
      ASSERT_EQ(b->first.data<std::uint8_t>()[i], end ? 1 : 0);
      // The step's infos, not the next episode's reset: "t" counts the ended episode's steps.
      EXPECT_EQ(b->infos.data<float>()[i * 3 + 2], static_cast<float>(t));
      // obs of the next episode after the end, the ended episode's last one in final_obs.
      EXPECT_EQ(b->obs[kLevel].data<float>()[i * 2 + 1], end ? 0.0f : -t / 8.0f);
      if (end) {
        EXPECT_EQ(b->final_obs[kLevel].data<float>()[i * 2 + 1], -4 / 8.0f);
        EXPECT_EQ(b->final_obs[kPair0].data<std::int64_t>()[i * 2 + 1], 4 % 4);  // t % 4, start removed
        EXPECT_EQ(b->episode_length.data<std::int64_t>()[i], 4);
      }
    }
  }
}

TEST(GymEnvTest, TerminatedEpisodesReportTheirReturnAndInfos) {
  REQUIRE_PYTHON();
  // Moving up (+1, plus 0 or 1 at random) reaches the goal 5 within 5 steps: terminated, not truncated.
  EnvPool pool(pool_options(4), gym_factory(demo("{length: 50, goal: 5}")));
  const StepBatch* b = &pool.reset(3);
  std::vector<double> returns(4, 0.0);
  std::vector<int> ended(4, 0);
  for (int t = 0; t < 6; ++t) {
    b = &pool.step(demo_actions(4, /*move=*/1, /*extra=*/0));
    for (std::int64_t i = 0; i < 4; ++i) {
      returns[i] += b->reward.data<float>()[i];
      ASSERT_EQ(b->truncated.data<std::uint8_t>()[i], 0);
      if (b->terminated.data<std::uint8_t>()[i] == 1 && ended[i]++ == 0) {
        EXPECT_FLOAT_EQ(b->episode_return.data<float>()[i], static_cast<float>(returns[i]));
        EXPECT_GE(count_of(b->final_obs[kCount], i), 5);
        EXPECT_EQ(b->infos.data<float>()[i * 3 + 1], 1.0f);  // success
      }
    }
  }
  for (std::int64_t i = 0; i < 4; ++i) EXPECT_GE(ended[i], 1) << "env " << i;
}

// Every byte of every batch array of `steps` steps of a pool of demo envs.
std::vector<std::string> trajectory(const GymOptions& o, std::int64_t n, std::uint64_t seed, int steps) {
  EnvPool pool(pool_options(n), gym_factory(o));
  std::vector<std::string> out;
  auto keep = [&out](const StepBatch& b) {
    std::string s;
    for (const Array* a : {&b.reward, &b.terminated, &b.truncated, &b.first, &b.infos})
      s.append(static_cast<const char*>(a->raw()), a->nbytes());
    for (const auto& a : b.obs) s.append(static_cast<const char*>(a.raw()), a.nbytes());
    out.push_back(s);
  };
  keep(pool.reset(seed));
  for (int t = 0; t < steps; ++t) keep(pool.step(demo_actions(n, t % 3 - 1, t % 2)));
  return out;
}

TEST(GymEnvTest, TheSameSeedReproducesARunWhateverTheNumberOfServers) {
  REQUIRE_PYTHON();
  GymOptions one = demo("{length: 6}");
  GymOptions three = one;
  three.servers = 3;
  const auto a = trajectory(one, 5, 11, 20);
  EXPECT_EQ(a, trajectory(three, 5, 11, 20));
  EXPECT_NE(a, trajectory(one, 5, 12, 20));
}

TEST(GymEnvTest, AnAsynchronousPoolIsRefusedSinceTheEnvsStepInBatches) {
  REQUIRE_PYTHON();
  EnvPoolOptions p = pool_options(2);
  p.batch_size = 1;
  const std::string msg = error_of([&] { EnvPool pool(p, gym_factory(demo())); });
  EXPECT_NE(msg.find("need a synchronous pool"), std::string::npos) << msg;
}

TEST(GymEnvTest, RecordedEpisodesRestoreAPoolThatGoesOnAsTheOriginal) {
  REQUIRE_PYTHON();
  const GymOptions o = demo("{length: 9}");
  EnvPool a(pool_options(3), gym_factory(o));
  a.record_episodes(true);
  a.reset(5);
  for (int t = 0; t < 5; ++t) a.step(demo_actions(3, t % 3 - 1, 1));
  const std::string saved = a.episodes();
  EnvPool b(pool_options(3), gym_factory(o));
  b.restore_episodes(saved);
  for (int t = 0; t < 8; ++t) {
    const Array act = demo_actions(3, (t + 1) % 3 - 1, 0);
    const StepBatch& x = a.step(act);
    const StepBatch& y = b.step(act);
    for (std::size_t f = 0; f < x.obs.size(); ++f)
      ASSERT_EQ(std::memcmp(x.obs[f].raw(), y.obs[f].raw(), x.obs[f].nbytes()), 0) << "step " << t;
    ASSERT_EQ(std::memcmp(x.reward.raw(), y.reward.raw(), x.reward.nbytes()), 0);
  }
}

TEST(GymEnvTest, OneEnvAloneStepsRendersAndRefusesToStepPastTheEnd) {
  REQUIRE_PYTHON();
  GymEnv env(demo("{length: 2}"));
  testing::ObsBuffers obs(env.observation_spec());
  const std::int64_t action[3] = {0, 0, 0};
  EXPECT_NE(error_of([&] { env.step(action, obs.slot); }).find("before reset"), std::string::npos);
  env.reset(1, obs.slot);
  EXPECT_EQ(env.endpoint().rfind("unix://", 0), 0u) << env.endpoint();
  EXPECT_FALSE(env.step(action, obs.slot).truncated);
  EXPECT_TRUE(env.step(action, obs.slot).truncated);
  EXPECT_NE(error_of([&] { env.step(action, obs.slot); }).find("after the episode ended"), std::string::npos);
  const std::int64_t bad[3] = {3, 0, 0};
  env.reset(2, obs.slot);
  EXPECT_NE(error_of([&] { env.step(bad, obs.slot); }).find("out of range"), std::string::npos);
  Frame frame;
  env.render(frame);
  EXPECT_EQ(frame.height, 8);
  EXPECT_EQ(frame.width, 12);
  EXPECT_EQ(frame.pixel(0, 0)[0], 255);
}

TEST(GymEnvTest, AServerThatExitsIsAnErrorNamingTheEnvTheEndpointAndTheExitStatus) {
  REQUIRE_PYTHON();
  EnvPool pool(pool_options(2), gym_factory(demo("{die_at: 3}")));
  pool.reset(1);
  pool.step(demo_actions(2, 0, 0));  // copy 0's step 2 (the server's info probe was its first)
  const std::string msg = error_of([&] {
    for (int t = 0; t < 3; ++t) pool.step(demo_actions(2, 0, 0));
  });
  EXPECT_NE(msg.find("gym env 'mnemo_envs.examples:spaces_demo' at unix://"), std::string::npos) << msg;
  EXPECT_NE(msg.find("exit code 3"), std::string::npos) << msg;
  EXPECT_NE(error_of([&] { pool.step(demo_actions(2, 0, 0)); }), "");  // unusable after that
}

TEST(GymEnvTest, AServerThatHangsIsAnErrorAfterTheTimeout) {
  REQUIRE_PYTHON();
  GymOptions o = demo("{hang_at: 3}");  // step 1 is the server's info probe
  o.timeout_ms = 2000;  // long enough for the steps before the hang on a loaded machine
  EnvPool pool(pool_options(1), gym_factory(o));
  pool.reset(1);
  pool.step(demo_actions(1, 0, 0));
  const std::string msg = error_of([&] { pool.step(demo_actions(1, 0, 0)); });
  EXPECT_NE(msg.find("no reply within 2000 ms (env.timeout_ms)"), std::string::npos) << msg;
}

TEST(GymEnvTest, AnExceptionInTheEnvReachesTheCallerWithItsMessage) {
  REQUIRE_PYTHON();
  EnvPool pool(pool_options(2), gym_factory(demo("{raise_at: 3}")));  // step 1: the info probe
  pool.reset(1);
  pool.step(demo_actions(2, 0, 0));
  const std::string msg = error_of([&] { pool.step(demo_actions(2, 0, 0)); });
  EXPECT_NE(msg.find("RuntimeError: the env failed on purpose at step 3"), std::string::npos) << msg;
}

TEST(GymEnvTest, AMissingInterpreterOrEnvIsAClearError) {
  REQUIRE_PYTHON();
  GymOptions o = demo();
  o.python = "/nonexistent/python3";
  EXPECT_NE(error_of([&] { GymEnv env(o); }).find("cannot start its server with /nonexistent/python3"),
            std::string::npos);
  o = demo();
  o.id = "no_such_module:make_env";
  const std::string msg = error_of([&] { GymEnv env(o); });
  EXPECT_NE(msg.find("exited while starting"), std::string::npos) << msg;
  EXPECT_NE(msg.find("No module named 'no_such_module'"), std::string::npos) << msg;  // the traceback's last line
}

TEST(GymEnvTest, BadOptionsAreConfigErrorsNamingTheKey) {
  auto bad = [](const std::function<void(GymOptions&)>& set) {
    GymOptions o = demo();
    set(o);
    try {
      o.validate();
    } catch (const ConfigError& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  EXPECT_NE(bad([](GymOptions& o) { o.id.clear(); }).find("env.id"), std::string::npos);
  EXPECT_NE(bad([](GymOptions& o) { o.servers = 0; }).find("env.servers"), std::string::npos);
  EXPECT_NE(bad([](GymOptions& o) { o.endpoints = {"localhost:5555"}; }).find("env.endpoints"), std::string::npos);
  EXPECT_NE(bad([](GymOptions& o) { o.kwargs = config::parse_yaml("[1, 2]", "t"); }).find("env.kwargs"),
            std::string::npos);
  EXPECT_NE(bad([](GymOptions& o) { o.timeout_ms = 0; }).find("env.timeout_ms"), std::string::npos);
  EXPECT_NE(bad([](GymOptions& o) { o.spin_us = -1; }).find("env.spin_us"), std::string::npos);
  EXPECT_EQ(bad([](GymOptions& o) { o.spin_us = 0; }), "");
  // make_env knows the bridge by name, and its options bind like any env's.
  EXPECT_NE(registered_env_names().find("gym"), std::string::npos);
}

// A server at an endpoint the test owns: a valid spec for open requests, whatever `reply`
// returns for every other request.
class FakeServer {
 public:
  explicit FakeServer(std::function<std::vector<zmq::message_t>()> reply)
      : socket_(transport::context(), zmq::socket_type::rep), reply_(std::move(reply)) {
    socket_.set(zmq::sockopt::linger, 0);
    endpoint_ = transport::bind_any(socket_, "tcp://127.0.0.1:*");
    thread_ = std::thread([this] { serve(); });
  }
  ~FakeServer() {
    stop_ = true;
    thread_.join();
  }
  const std::string& endpoint() const { return endpoint_; }

 private:
  void serve() {
    while (!stop_) {
      auto in = transport::recv(socket_, transport::RecvLimits{}, 50);
      if (!in) continue;
      const wire::Message request = wire::decode(std::move(in->frames));
      if (request.type == wire::MsgType::kEnvOpen) {
        wire::Message m(wire::MsgType::kOk);
        m.request_id = request.request_id;
        m.add("spec", wire::text_array(R"J({"observation": [{"name": "obs", "dtype": "float32", "shape": [2]}],
          "action": {"kind": "discrete", "n": 2}, "infos": [], "observation_space": "Box(2)",
          "action_space": "Discrete(2)"})J"));
        transport::send(socket_, m);
        continue;
      }
      std::vector<zmq::message_t> parts = reply_();
      for (std::size_t i = 0; i < parts.size(); ++i)
        socket_.send(parts[i], i + 1 < parts.size() ? zmq::send_flags::sndmore : zmq::send_flags::none);
    }
  }
  zmq::socket_t socket_;
  std::string endpoint_;
  std::function<std::vector<zmq::message_t>()> reply_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

TEST(GymEnvTest, BytesThatAreNoValidReplyAreRejectedWithTheEndpoint) {
  FakeServer fake([] {
    std::vector<zmq::message_t> parts;
    parts.emplace_back(std::string("not a header"));
    return parts;
  });
  GymOptions o;
  o.id = "fake";
  o.endpoints = {fake.endpoint()};
  o.timeout_ms = 5000;
  GymEnv env(o);  // the spec was valid
  testing::ObsBuffers obs(env.observation_spec());
  const std::string msg = error_of([&] { env.reset(1, obs.slot); });
  EXPECT_NE(msg.find("gym env 'fake' at " + fake.endpoint()), std::string::npos) << msg;
  EXPECT_NE(msg.find("no valid reply"), std::string::npos) << msg;
}

TEST(GymEnvTest, AReplyThatDoesNotMatchTheSpecIsRejected) {
  FakeServer fake([] {
    wire::Message m(wire::MsgType::kOk, /*id=*/2);
    m.add("obs:obs", Array::zeros(DType::kFloat32, {1, 3}));  // the spec says [2]
    m.add("infos", Array::zeros(DType::kFloat32, {1, 0}));
    std::vector<zmq::message_t> parts;
    for (const wire::Frame& f : wire::encode(m)) parts.emplace_back(f.data, f.size);
    return parts;
  });
  GymOptions o;
  o.id = "fake-shape";
  o.endpoints = {fake.endpoint()};
  o.timeout_ms = 5000;
  GymEnv env(o);
  testing::ObsBuffers obs(env.observation_spec());
  const std::string msg = error_of([&] { env.reset(1, obs.slot); });
  EXPECT_NE(msg.find("sent 'obs:obs' as float32[1, 3], expected float32[1, 2]"), std::string::npos) << msg;
}

// A cartpole server that a user started by hand, bound at `scheme` + dir/s.sock; pid 0 when it
// did not report ready within 30 s.
struct UserServer {
  std::string dir, endpoint, path;
  pid_t pid = 0;
  explicit UserServer(const std::string& scheme) {
    char d[] = "/tmp/mnemo-gym-test-XXXXXX";
    if (mkdtemp(d) == nullptr) return;
    dir = d;
    path = dir + "/s.sock";
    endpoint = scheme + path;
    const std::string ready = dir + "/ready";
    SpawnOptions so;
    so.set_env = {"PYTHONPATH=" + std::string(MNEMO_SOURCE_DIR) + "/envs/python"};
    pid = spawn_process(test_python(),
                        {"-m", "mnemo_envs.server", "--env", "mnemo_envs.examples:cartpole", "--bind", endpoint,
                         "--ready-file", ready},
                        so);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (!std::filesystem::exists(ready) && std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    if (!std::filesystem::exists(ready)) {
      kill(pid, SIGKILL);
      waitpid(pid, nullptr, 0);
      pid = 0;
    }
  }
  // Waits for the exit a SHUTDOWN asked for; true when it exited with status 0.
  bool exited_cleanly() {
    int status = 0;
    const bool ok = waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0;
    pid = 0;
    return ok;
  }
  ~UserServer() {
    if (pid > 0) {
      kill(pid, SIGKILL);
      waitpid(pid, nullptr, 0);
    }
    if (!dir.empty()) std::filesystem::remove_all(dir);
  }
};

TEST(GymEnvTest, TheServerAnswersBadBytesWithAnErrorAndKeepsServing) {
  REQUIRE_PYTHON();
  UserServer server("ipc://");
  ASSERT_GT(server.pid, 0) << "the server did not start";
  const std::string endpoint = server.endpoint;
  zmq::socket_t req(transport::context(), zmq::socket_type::req);
  req.set(zmq::sockopt::linger, 0);
  req.set(zmq::sockopt::rcvtimeo, 20000);
  req.connect(endpoint);
  auto ask = [&](const std::vector<wire::Frame>& frames) {
    transport::send_frames(req, frames, /*wait=*/true);
    auto in = transport::recv_frames(req, transport::RecvLimits{}, 20000);
    EXPECT_TRUE(in.has_value());
    return wire::decode(std::move(*in));
  };
  const wire::Message bad = ask({wire::Frame::from_string("MNEM but not a header")});
  EXPECT_EQ(bad.type, wire::MsgType::kError);
  EXPECT_NE(wire::array_text(bad.at("message")).find("bad request"), std::string::npos);
  wire::Message unknown(wire::MsgType::kInsert, 5);  // a replay request
  const wire::Message refused = ask(wire::encode(unknown));
  EXPECT_EQ(refused.type, wire::MsgType::kError);
  EXPECT_NE(wire::array_text(refused.at("message")).find("message type 3"), std::string::npos);
  wire::Message open(wire::MsgType::kEnvOpen, 6);
  open.add("num_envs", Array::from_vector<std::int64_t>({2}, {1}));
  const wire::Message ok = ask(wire::encode(open));
  EXPECT_EQ(ok.type, wire::MsgType::kOk);
  EXPECT_EQ(ok.request_id, 6u);
  EXPECT_NE(wire::array_text(ok.at("spec")).find("\"kind\": \"discrete\""), std::string::npos);
  ask(wire::encode(wire::Message(wire::MsgType::kShutdown, 7)));
  EXPECT_TRUE(server.exited_cleanly());
}

// The unix:// stream's framing, written here independently of gym.cc: u32 frame count, u64 size
// per frame, then the bytes.
struct StreamClient {
  int fd = -1;
  explicit StreamClient(const std::string& path) {
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strncpy(addr.sun_path, path.c_str(), sizeof(addr.sun_path) - 1);
    fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
    if (::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)) != 0) {
      ::close(fd);
      fd = -1;
    }
    timeval tv{20, 0};
    if (fd >= 0) setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  }
  ~StreamClient() {
    if (fd >= 0) ::close(fd);
  }
  void write_bytes(const void* p, std::size_t n) { ASSERT_EQ(::send(fd, p, n, MSG_NOSIGNAL), static_cast<ssize_t>(n)); }
  void send(const std::vector<wire::Frame>& frames) {
    const auto count = static_cast<std::uint32_t>(frames.size());
    write_bytes(&count, 4);
    for (const auto& f : frames) {
      const std::uint64_t n = f.size;
      write_bytes(&n, 8);
    }
    for (const auto& f : frames) write_bytes(f.data, f.size);
  }
  // false at the end of the stream (or after 20 s without bytes)
  bool read_bytes(void* p, std::size_t n) {
    for (std::size_t got = 0; got < n;) {
      const ssize_t k = ::recv(fd, static_cast<char*>(p) + got, n - got, 0);
      if (k <= 0) return false;
      got += static_cast<std::size_t>(k);
    }
    return true;
  }
  std::optional<wire::Message> receive() {
    std::uint32_t count = 0;
    if (!read_bytes(&count, 4)) return std::nullopt;
    std::vector<std::uint64_t> sizes(count);
    if (!read_bytes(sizes.data(), 8 * count)) return std::nullopt;
    std::vector<wire::Frame> frames;
    for (auto n : sizes) {
      std::string bytes(n, '\0');
      if (!read_bytes(bytes.data(), n)) return std::nullopt;
      frames.push_back(wire::Frame::from_string(bytes));
    }
    return wire::decode(std::move(frames));
  }
  bool closed_by_peer() {
    char c;
    return ::recv(fd, &c, 1, 0) == 0;
  }
};

TEST(GymEnvTest, AStreamServerRefusesBadFramingServesTheNextClientAndAPoolThroughUnixEndpoints) {
  REQUIRE_PYTHON();
  UserServer server("unix://");
  ASSERT_GT(server.pid, 0) << "the server did not start";
  {
    StreamClient c(server.path);
    ASSERT_GE(c.fd, 0);
    const std::uint32_t none = 0;  // a message of no frames: the stream's framing is lost
    c.write_bytes(&none, 4);
    const auto refused = c.receive();
    ASSERT_TRUE(refused.has_value());
    EXPECT_EQ(refused->type, wire::MsgType::kError);
    EXPECT_NE(wire::array_text(refused->at("message")).find("declares 0 frames"), std::string::npos);
    EXPECT_TRUE(c.closed_by_peer());
  }
  {
    StreamClient c(server.path);  // the server takes the next connection
    ASSERT_GE(c.fd, 0);
    const std::uint32_t many = 1u << 20;
    c.write_bytes(&many, 4);
    const auto refused = c.receive();
    ASSERT_TRUE(refused.has_value());
    EXPECT_NE(wire::array_text(refused->at("message")).find("1048576 frames"), std::string::npos);
  }
  {
    StreamClient c(server.path);
    ASSERT_GE(c.fd, 0);
    c.send({wire::Frame::from_string("MNEM but not a header")});  // framed well: the connection stays
    const auto bad = c.receive();
    ASSERT_TRUE(bad.has_value());
    EXPECT_NE(wire::array_text(bad->at("message")).find("bad request"), std::string::npos);
    wire::Message open(wire::MsgType::kEnvOpen, 6);
    open.add("num_envs", Array::from_vector<std::int64_t>({2}, {1}));
    c.send(wire::encode(open));
    const auto ok = c.receive();
    ASSERT_TRUE(ok.has_value());
    EXPECT_EQ(ok->type, wire::MsgType::kOk);
    EXPECT_EQ(ok->request_id, 6u);
  }
  {
    GymOptions o;
    o.id = "mnemo_envs.examples:cartpole";
    o.endpoints = {server.endpoint};
    o.timeout_ms = 20000;
    EnvPool pool(pool_options(3), gym_factory(o));
    pool.reset(4);
    EXPECT_EQ(pool.observation_spec().str(), "obs:float32[4]");
    EXPECT_EQ(pool.step(Array::from_vector<std::int64_t>({0, 1, 0}, {3})).size(), 3);
  }
  StreamClient c(server.path);  // the pool closed its connection: one more client is served
  ASSERT_GE(c.fd, 0);
  c.send(wire::encode(wire::Message(wire::MsgType::kShutdown, 7)));
  const auto bye = c.receive();
  ASSERT_TRUE(bye.has_value());
  EXPECT_EQ(bye->type, wire::MsgType::kOk);
  EXPECT_TRUE(server.exited_cleanly());
}

}  // namespace
}  // namespace mnemo::envs
