// The Gymnasium bridge, mnemo's side: server processes, the request/reply exchange, the spec
// cache and the batcher. The protocol is documented in envs/python/mnemo_envs/server.py.
#include "envs/gym.h"

#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <optional>
#include <sstream>
#include <thread>

#include "core/json.h"
#include "core/net/transport.h"
#include "core/process.h"
#include "envs/step_batch.h"

#ifndef MNEMO_PYTHON_DIR
#error "MNEMO_PYTHON_DIR (the folder holding the mnemo_envs package) must be defined by the build"
#endif

namespace mnemo::envs {
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

// What a server says about its env: mnemo's spec and the spaces it came from.
struct GymSpec {
  Spec observation;
  ActionSpace action;
  std::vector<std::string> infos;
  std::string observation_space;  // the spaces as Python prints them, for messages
  std::string action_space;
};

namespace {

constexpr std::size_t kMaxFieldName = 58;  // "final:" + name within the wire's 64-byte names

bool is_int(const std::string& s) {
  if (s.empty()) return false;
  char* end = nullptr;
  errno = 0;
  (void)std::strtoll(s.c_str(), &end, 10);
  return errno == 0 && *end == '\0' && (std::isdigit(static_cast<unsigned char>(s[0])) || s[0] == '-');
}

bool is_float(const std::string& s, double& v) {
  if (s.empty()) return false;
  char* end = nullptr;
  v = std::strtod(s.c_str(), &end);
  return *end == '\0' && std::isfinite(v);
}

// A YAML value as JSON, scalars typed as YAML types them (unquoted true/false/null/numbers).
std::string node_json(const config::Node& n) {
  switch (n.kind) {
    case config::Node::Kind::kNull: return "null";
    case config::Node::Kind::kScalar: {
      if (!n.quoted) {
        if (n.scalar == "true" || n.scalar == "false") return n.scalar;
        if (n.scalar == "null" || n.scalar == "~") return "null";
        if (is_int(n.scalar)) return n.scalar;
        double v = 0;
        if (is_float(n.scalar, v)) return json::number(v);
      }
      return json::quote(n.scalar);
    }
    case config::Node::Kind::kSequence: {
      std::string s = "[";
      for (std::size_t i = 0; i < n.items.size(); ++i) s += (i ? ", " : "") + node_json(n.items[i]);
      return s + "]";
    }
    case config::Node::Kind::kMap: {
      std::string s = "{";
      for (std::size_t i = 0; i < n.map.size(); ++i)
        s += (i ? ", " : "") + json::quote(n.map[i].first) + ": " + node_json(n.map[i].second);
      return s + "}";
    }
  }
  return "null";
}

std::string python_exe(const GymOptions& o) {
  if (!o.python.empty()) return o.python;
  const std::string from_env = startup_variable("MNEMO_PYTHON");
  if (!from_env.empty()) return from_env;
  std::error_code ec;
  if (fs::exists("/usr/bin/python3", ec)) return "/usr/bin/python3";  // where Debian's python3-zmq lives
  return "python3";
}

std::string join(const std::vector<std::string>& v, const char* sep) {
  std::string s;
  for (std::size_t i = 0; i < v.size(); ++i) s += (i ? sep : "") + v[i];
  return s;
}

// The last lines of a log file, for an error message.
std::string log_tail(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return "";
  in.seekg(0, std::ios::end);
  const std::streamoff size = in.tellg();
  const std::streamoff from = std::max<std::streamoff>(0, size - 2000);
  in.seekg(from);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
  std::vector<std::string> lines;
  std::istringstream is(text);
  for (std::string line; std::getline(is, line);) lines.push_back(line);
  if (from > 0 && !lines.empty()) lines.erase(lines.begin());  // a partial first line
  if (lines.size() > 12) lines.erase(lines.begin(), lines.end() - 12);
  std::string out;
  for (const auto& l : lines) out += "\n    " + l;
  return out;
}

Array int64_array(const std::vector<std::int64_t>& v) {
  return Array::from_vector<std::int64_t>(v, {static_cast<std::int64_t>(v.size())});
}

}  // namespace

void GymOptions::validate() const {
  if (id.empty()) throw ConfigError("env.id: name the Gymnasium env (CartPole-v1) or a module:function factory");
  if (kwargs.kind != config::Node::Kind::kNull && kwargs.kind != config::Node::Kind::kMap)
    throw ConfigError("env.kwargs must be a map of keyword arguments (" + kwargs.origin + ")");
  if (servers < 1 || servers > 1024) throw ConfigError("env.servers must be in [1, 1024], got " + std::to_string(servers));
  for (const auto& e : endpoints)
    if (e.find("://") == std::string::npos)
      throw ConfigError("env.endpoints: '" + e +
                        "' is no endpoint (ZeroMQ's tcp://host:port or ipc:///path, or a unix:///path stream socket)");
  for (const auto& k : info_keys)
    if (k.empty() || k.size() > 64 || k.find(',') != std::string::npos)
      throw ConfigError("env.info_keys: '" + k + "' is no info key (1 to 64 characters, no commas)");
  if (timeout_ms < 1) throw ConfigError("env.timeout_ms must be >= 1, got " + std::to_string(timeout_ms));
  if (start_timeout_ms < 1)
    throw ConfigError("env.start_timeout_ms must be >= 1, got " + std::to_string(start_timeout_ms));
  if (spin_us < 0 || spin_us > 1000000)
    throw ConfigError("env.spin_us must be in [0, 1000000], got " + std::to_string(spin_us));
}

// ---------------------------------------------------------------------------------------------
// A unix:// stream connection to a server: one message is u32 frame count, u64 size per frame,
// then the frames' bytes (wire.py's stream_bytes). mnemo's own servers use it: a round trip is
// about a fifth of ZeroMQ's on these machines, which hops through I/O threads on both sides.

class StreamChannel {
 public:
  static constexpr std::uint32_t kMaxFrames = 1024;

  explicit StreamChannel(const std::string& path) {
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (path.size() >= sizeof(addr.sun_path)) throw Error("unix socket path is too long: " + path);
    std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
    fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd_ < 0) throw Error(std::string("cannot make a unix socket: ") + std::strerror(errno));
    if (::connect(fd_, reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)) != 0) {
      const std::string why = std::strerror(errno);
      ::close(fd_);
      fd_ = -1;
      throw Error("cannot connect to " + path + ": " + why);
    }
  }
  ~StreamChannel() {
    if (fd_ >= 0) ::close(fd_);
  }
  StreamChannel(const StreamChannel&) = delete;
  StreamChannel& operator=(const StreamChannel&) = delete;

  // Writes all frames; false when the connection is gone.
  bool send(const std::vector<wire::Frame>& frames) {
    head_.resize(4 + 8 * frames.size());  // head_ and iov_ keep their memory from message to message
    auto& head = head_;
    const auto count = static_cast<std::uint32_t>(frames.size());
    std::memcpy(head.data(), &count, 4);
    for (std::size_t i = 0; i < frames.size(); ++i) {
      const std::uint64_t n = frames[i].size;
      std::memcpy(head.data() + 4 + 8 * i, &n, 8);
    }
    auto& iov = iov_;
    iov.clear();
    iov.push_back({head.data(), head.size()});
    for (const auto& f : frames)
      if (f.size > 0) iov.push_back({const_cast<void*>(f.data), f.size});
    std::size_t first = 0;
    while (first < iov.size()) {
      msghdr mh{};
      mh.msg_iov = iov.data() + first;
      mh.msg_iovlen = std::min<std::size_t>(iov.size() - first, IOV_MAX);
      const ssize_t n = ::sendmsg(fd_, &mh, MSG_NOSIGNAL);
      if (n < 0) {
        if (errno == EINTR) continue;
        return false;
      }
      auto left = static_cast<std::size_t>(n);
      while (first < iov.size() && left >= iov[first].iov_len) left -= iov[first++].iov_len;
      if (first < iov.size()) {
        iov[first].iov_base = static_cast<char*>(iov[first].iov_base) + left;
        iov[first].iov_len -= left;
      }
    }
    return true;
  }

  // True once the server closed the connection.
  bool closed() const { return closed_; }

  // Waits up to `ms` for a message to begin; nullopt when none did. Once one begins it is read
  // whole, `alive` called every 100 ms while its bytes are late (it throws to give up). Throws
  // Error for a closed connection or framing over `max_bytes`.
  template <class Alive>
  std::optional<std::vector<wire::Frame>> receive(long ms, std::size_t max_bytes, Alive&& alive) {
    if (!readable(ms)) return std::nullopt;
    std::uint32_t count = 0;
    read_exact(&count, 4, alive, /*at_start=*/true);
    if (count == 0 || count > kMaxFrames)
      throw Error("sent a stream message of " + std::to_string(count) + " frames (1 to " +
                  std::to_string(kMaxFrames) + ")");
    std::vector<std::uint64_t> sizes(count);
    read_exact(sizes.data(), 8 * count, alive, false);
    std::uint64_t total = 0;
    for (auto n : sizes) {
      if (n > max_bytes || total + n > max_bytes)
        throw Error("sent a stream message over the limit of " + std::to_string(max_bytes) + " bytes");
      total += n;
    }
    auto body = std::shared_ptr<std::uint8_t[]>(new std::uint8_t[std::max<std::uint64_t>(total, 1)]);
    read_exact(body.get(), total, alive, false);
    std::vector<wire::Frame> frames(count);
    std::uint64_t pos = 0;
    for (std::uint32_t i = 0; i < count; ++i) {
      frames[i].data = body.get() + pos;
      frames[i].size = sizes[i];
      frames[i].owner = body;
      pos += sizes[i];
    }
    return frames;
  }

 private:
  bool readable(long ms) {
    pollfd p{fd_, POLLIN, 0};
    for (;;) {
      const int r = ::poll(&p, 1, static_cast<int>(ms));
      if (r < 0 && errno == EINTR) continue;
      if (r < 0) throw Error(std::string("poll failed: ") + std::strerror(errno));
      return r > 0;
    }
  }

  template <class Alive>
  void read_exact(void* out, std::size_t n, Alive& alive, bool at_start) {
    auto* p = static_cast<std::uint8_t*>(out);
    std::size_t got = 0;
    while (got < n) {
      // The bytes are usually there already (a reply arrives whole): poll only when they are not.
      const ssize_t k = ::recv(fd_, p + got, n - got, MSG_DONTWAIT);
      if (k > 0) {
        got += static_cast<std::size_t>(k);
      } else if (k == 0) {
        closed_ = true;
        throw Error(at_start && got == 0 ? "closed the connection" : "closed the connection inside a reply");
      } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
        if (!readable(100)) alive();  // throws once the server is gone or the reply is past its deadline
      } else if (errno != EINTR) {
        throw Error(std::string("connection failed: ") + std::strerror(errno));
      }
    }
  }

  int fd_ = -1;
  bool closed_ = false;
  std::vector<std::uint8_t> head_;
  std::vector<iovec> iov_;
};

// ---------------------------------------------------------------------------------------------
// One server: a process mnemo started (or one already running) and the connection to it: a
// StreamChannel for unix:// endpoints, a ZeroMQ DEALER socket for the others.

class GymServer {
 public:
  // Starts a server process serving the env of `o`; ready() waits until it serves.
  explicit GymServer(const GymOptions& o) : options_(o), socket_(transport::context(), zmq::socket_type::dealer) {
    char dir[] = "/tmp/mnemo-gym-XXXXXX";
    if (mkdtemp(dir) == nullptr) throw Error(std::string("gym env: cannot make a temporary folder: ") + std::strerror(errno));
    dir_ = dir;
    endpoint_ = "unix://" + dir_ + "/env.sock";
    log_ = dir_ + "/server.log";
    std::vector<std::string> args = {"-m",     "mnemo_envs.server", "--env",        o.id,
                                     "--bind", endpoint_,           "--ready-file", dir_ + "/ready",
                                     "--parent", std::to_string(getpid()), "--cleanup", dir_,
                                     "--spin-us", std::to_string(o.spin_us)};
    if (o.kwargs.kind == config::Node::Kind::kMap) args.insert(args.end(), {"--kwargs", node_json(o.kwargs)});
    if (!o.render_mode.empty()) args.insert(args.end(), {"--render-mode", o.render_mode});
    if (!o.info_keys.empty()) args.insert(args.end(), {"--info-keys", join(o.info_keys, ",")});
    SpawnOptions so;
    so.output = log_;
    so.without_mpi = true;
    const std::string path = startup_variable("PYTHONPATH");
    so.set_env = {"PYTHONPATH=" + std::string(MNEMO_PYTHON_DIR) + (path.empty() ? "" : ":" + path),
                  "PYTHONUNBUFFERED=1"};
    python_ = python_exe(o);
    try {
      pid_ = spawn_process(python_, args, so);
    } catch (const Error& e) {
      fs::remove_all(dir_);
      throw Error("gym env '" + o.id + "': cannot start its server with " + python_ + ": " + e.what() +
                  " (set env.python or $MNEMO_PYTHON to an interpreter with numpy and pyzmq)");
    }
    configure_socket();
  }

  // Connects to a server already running at `endpoint`.
  GymServer(const GymOptions& o, const std::string& endpoint)
      : options_(o), endpoint_(endpoint), socket_(transport::context(), zmq::socket_type::dealer) {
    configure_socket();
    connect();
    ready_ = true;
  }

  ~GymServer() {
    if (pid_ > 0) stop_process();
    if (!dir_.empty()) {
      std::error_code ec;
      fs::remove_all(dir_, ec);
    }
  }

  GymServer(const GymServer&) = delete;
  GymServer& operator=(const GymServer&) = delete;

  const std::string& endpoint() const { return endpoint_; }

  // Waits until a started server serves (its ready file appears), up to start_timeout_ms.
  void ready() {
    if (ready_) return;
    const auto deadline = Clock::now() + std::chrono::milliseconds(options_.start_timeout_ms);
    std::error_code ec;
    while (!fs::exists(dir_ + "/ready", ec)) {
      check_alive("while starting");
      if (Clock::now() > deadline)
        fail("did not start within " + std::to_string(options_.start_timeout_ms) + " ms (env.start_timeout_ms)" +
             output());
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    connect();
    ready_ = true;
  }

  void send(wire::Message m) {
    if (!broken_.empty()) fail("is unusable after an earlier error: " + broken_);
    ready();
    m.request_id = next_id_++;
    pending_ = m.request_id;
    std::vector<wire::Frame> frames = wire::encode(m);
    if (stream_) {
      if (!stream_->send(frames)) {
        await_exit("before the request");
        fail("closed the connection before the request");
      }
      return;
    }
    frames.insert(frames.begin(), wire::Frame{});  // the empty delimiter a REP socket expects
    if (!transport::send_frames(socket_, frames, /*wait=*/true)) fail("cannot send a request");
  }

  // The reply to the last request: an Error for an error reply, a dead or silent server, or bytes
  // that do not decode.
  wire::Message receive() {
    const auto deadline = Clock::now() + std::chrono::milliseconds(options_.timeout_ms);
    const wire::Limits limits;
    for (;;) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
      const auto timed_out = [&] {
        fail("no reply within " + std::to_string(options_.timeout_ms) + " ms (env.timeout_ms)" + output());
      };
      if (left <= 0) timed_out();
      std::vector<wire::Frame> frames;
      if (stream_) {
        const auto alive = [&] {
          check_alive("before it replied");
          if (Clock::now() > deadline) timed_out();
        };
        std::optional<std::vector<wire::Frame>> in;
        try {
          in = stream_->receive(std::min<long>(left, 100), limits.max_message_bytes + wire::max_header_bytes(limits), alive);
        } catch (const Error& e) {
          if (!broken_.empty()) throw;  // alive()'s own failure, already named
          if (stream_->closed()) await_exit("before it replied");
          fail(e.what());
        }
        if (!in) {
          check_alive("before it replied");
          continue;
        }
        frames = std::move(*in);
      } else {
        auto in = transport::recv(socket_, transport::RecvLimits::for_wire(limits, 1), std::min<long>(left, 100));
        if (!in) {
          check_alive("before it replied");
          continue;
        }
        if (in->rejected) fail("sent a reply over the limits: " + in->reason);
        frames = std::move(in->frames);
        if (frames.empty() || frames.front().size != 0) fail("sent a reply without the REP delimiter frame");
        frames.erase(frames.begin());
      }
      wire::Message reply;
      try {
        reply = wire::decode(std::move(frames), limits);
      } catch (const wire::WireError& e) {
        fail(std::string("sent bytes that are no valid reply: ") + e.what());
      }
      // Skip a reply to an earlier request; an error about undecodable bytes carries id 0.
      const bool bytes_error = reply.type == wire::MsgType::kError && reply.request_id == 0;
      if (reply.request_id != pending_ && !bytes_error) continue;
      if (reply.type == wire::MsgType::kError)
        throw Error(name() + " failed: " + (reply.has("message") ? wire::array_text(reply.at("message")) : "(no message)"));
      if (reply.type != wire::MsgType::kOk) fail(std::string("answered with a ") + wire::msg_type_name(reply.type) + " message");
      return reply;
    }
  }

  wire::Message call(wire::Message m) {
    send(std::move(m));
    return receive();
  }

  std::string name() const { return "gym env '" + options_.id + "' at " + endpoint_; }

  [[noreturn]] void fail(const std::string& what) {
    broken_ = what;
    throw Error(name() + " " + what);
  }

 private:
  // unix:// endpoints are stream sockets (StreamChannel); the rest are ZeroMQ's.
  void connect() {
    static const std::string kUnix = "unix://";
    if (endpoint_.rfind(kUnix, 0) != 0) {
      socket_.connect(endpoint_);
      return;
    }
    try {
      stream_ = std::make_unique<StreamChannel>(endpoint_.substr(kUnix.size()));
    } catch (const Error& e) {
      fail(e.what());
    }
  }

  void configure_socket() {
    socket_.set(zmq::sockopt::linger, 0);
    socket_.set(zmq::sockopt::maxmsgsize, static_cast<std::int64_t>(wire::Limits{}.max_message_bytes) + (1 << 16));
  }

  std::string output() const {
    if (log_.empty()) return "";
    const std::string tail = log_tail(log_);
    return tail.empty() ? "" : "; its output ends:" + tail;
  }

  void check_alive(const char* when) {
    if (pid_ <= 0) return;
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = 0;
      fail(std::string("exited ") + when + " (" + describe_exit(status) + ", " + python_ + ")" + output());
    }
  }

  // A server that closed its connection is usually on its way out: waits up to 5 s for it to
  // exit, to name its exit status (check_alive throws once it has).
  void await_exit(const char* when) {
    const auto until = Clock::now() + std::chrono::seconds(5);
    while (pid_ > 0 && Clock::now() < until) {
      check_alive(when);
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  }

  // Asks the server to exit, then makes sure it did.
  void stop_process() {
    if (broken_.empty() && ready_) {
      try {
        options_.timeout_ms = 2000;
        call(wire::Message(wire::MsgType::kShutdown));
      } catch (const Error&) {
      }
    }
    for (int sig : {0, SIGTERM, SIGKILL}) {
      if (sig != 0) kill(pid_, sig);
      const auto deadline = Clock::now() + std::chrono::seconds(2);
      while (Clock::now() < deadline) {
        int status = 0;
        const pid_t r = waitpid(pid_, &status, WNOHANG);
        if (r == pid_ || r < 0) return;
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
      }
    }
  }

  GymOptions options_;
  std::string dir_;       // started servers: their socket, ready file and log
  std::string endpoint_;
  std::string log_;
  std::string python_;
  pid_t pid_ = 0;
  bool ready_ = false;
  zmq::socket_t socket_;
  std::unique_ptr<StreamChannel> stream_;  // unix:// endpoints
  std::uint64_t next_id_ = 1;
  std::uint64_t pending_ = 0;
  std::string broken_;  // why the server cannot be used any more; empty while it can
};

namespace {

wire::Message open_request(std::int64_t n) {
  wire::Message m(wire::MsgType::kEnvOpen);
  m.add("num_envs", int64_array({n}));
  return m;
}

// The spec of an open request's reply, checked.
std::shared_ptr<GymSpec> read_spec(GymServer& server, const wire::Message& reply) {
  const std::string where = server.name() + " spec";
  json::Value v;
  try {
    v = json::parse(wire::array_text(reply.at("spec")), where);
  } catch (const Error& e) {
    server.fail(std::string("sent a spec that is no JSON: ") + e.what());
  }
  auto spec = std::make_shared<GymSpec>();
  try {
    if (!v.is_object()) throw Error("the spec is no JSON object");
    auto member = [&](const json::Value& o, const char* key) -> const json::Value& {
      const json::Value* m = o.find(key);
      if (m == nullptr) throw Error(std::string("the spec has no '") + key + "'");
      return *m;
    };
    spec->observation_space = member(v, "observation_space").as_string("observation_space");
    spec->action_space = member(v, "action_space").as_string("action_space");
    const json::Value& obs = member(v, "observation");
    if (!obs.is_array() || obs.items.empty()) throw Error("'observation' must list the fields");
    for (const json::Value& f : obs.items) {
      FieldSpec field;
      field.name = member(f, "name").as_string("field name");
      if (field.name.empty() || field.name.size() > kMaxFieldName)
        throw Error("observation field name '" + field.name + "' is empty or longer than 58 bytes");
      const auto dtype = dtype_from_name(member(f, "dtype").as_string("dtype"));
      if (!dtype || (*dtype != DType::kUInt8 && *dtype != DType::kInt64 && *dtype != DType::kFloat32))
        throw Error("field '" + field.name + "' has a dtype other than uint8, int64, float32");
      field.dtype = *dtype;
      const json::Value& shape = member(f, "shape");
      if (!shape.is_array() || shape.items.size() > 6) throw Error("field '" + field.name + "' has a bad shape");
      for (const json::Value& d : shape.items) field.shape.push_back(d.as_int64("dimension"));
      (void)shape_numel(field.shape);  // throws for negative or overflowing dims
      if (spec->observation.find(field.name) != nullptr) throw Error("field '" + field.name + "' appears twice");
      spec->observation.fields.push_back(field);
    }
    const json::Value& action = member(v, "action");
    const std::string kind = member(action, "kind").as_string("action kind");
    if (kind == "discrete") {
      const std::int64_t n = member(action, "n").as_int64("n");
      if (n < 1) throw Error("discrete action space with n = " + std::to_string(n));
      spec->action = ActionSpace::discrete(n);
    } else if (kind == "multi_discrete") {
      std::vector<std::int64_t> nvec;
      for (const json::Value& x : member(action, "nvec").items) nvec.push_back(x.as_int64("nvec"));
      if (nvec.empty() || std::any_of(nvec.begin(), nvec.end(), [](std::int64_t x) { return x < 1; }))
        throw Error("multi-discrete action space with an empty or non-positive nvec");
      spec->action = ActionSpace::multi_discrete(nvec);
    } else if (kind == "box") {
      std::vector<double> low, high;
      for (const json::Value& x : member(action, "low").items) low.push_back(x.as_double("low"));
      for (const json::Value& x : member(action, "high").items) high.push_back(x.as_double("high"));
      if (low.empty() || low.size() != high.size()) throw Error("box action bounds of different sizes");
      for (std::size_t i = 0; i < low.size(); ++i)
        if (!std::isfinite(low[i]) || !std::isfinite(high[i]) || low[i] > high[i]) throw Error("box action bounds are not finite and ordered");
      spec->action = ActionSpace::box(low, high);
    } else {
      throw Error("unknown action kind '" + kind + "'");
    }
    for (const json::Value& x : member(v, "infos").items) spec->infos.push_back(x.as_string("info name"));
  } catch (const Error& e) {
    server.fail(std::string("sent a spec mnemo cannot use: ") + e.what());
  }
  return spec;
}

// Opens `n` copies on `server` and reads the spec it answers with.
std::shared_ptr<GymSpec> open_copies(GymServer& server, std::int64_t n) {
  return read_spec(server, server.call(open_request(n)));
}

bool same_spec(const GymSpec& a, const GymSpec& b) {
  return a.observation.fields == b.observation.fields && a.action.str() == b.action.str() &&
         a.action.low == b.action.low && a.action.high == b.action.high && a.action.nvec == b.action.nvec &&
         a.infos == b.infos;
}

// Specs by options: reading one starts a server, so each configuration is asked once per process.
std::shared_ptr<const GymSpec> cached_spec(const GymOptions& o) {
  static std::mutex mu;
  static std::map<std::string, std::shared_ptr<const GymSpec>> cache;
  const std::string key = o.id + "\n" + node_json(o.kwargs) + "\n" + join(o.endpoints, ",") + "\n" + python_exe(o) +
                          "\n" + o.render_mode + "\n" + join(o.info_keys, ",");
  {
    std::lock_guard<std::mutex> lock(mu);
    auto it = cache.find(key);
    if (it != cache.end()) return it->second;
  }
  std::shared_ptr<const GymSpec> spec;
  if (o.endpoints.empty()) {
    GymServer probe(o);
    spec = open_copies(probe, 1);
  } else {
    GymServer probe(o, o.endpoints.front());
    spec = open_copies(probe, 1);
  }
  std::lock_guard<std::mutex> lock(mu);
  return cache.emplace(key, spec).first->second;
}

// Checks that reply field `name` is `dtype` of `shape` and returns it.
const Array& expect(GymServer& server, const wire::Message& m, const std::string& name, DType dtype, const Shape& shape) {
  if (!m.has(name)) server.fail("sent a reply without the field '" + name + "'");
  const Array& a = m.at(name);
  if (a.dtype() != dtype || a.shape() != shape)
    server.fail("sent '" + name + "' as " + dtype_name(a.dtype()) + shape_str(a.shape()) + ", expected " +
                dtype_name(dtype) + shape_str(shape));
  return a;
}

Shape rows_of(std::int64_t rows, const Shape& item) {
  Shape s{rows};
  s.insert(s.end(), item.begin(), item.end());
  return s;
}

wire::Message reset_request(const std::vector<std::int64_t>& copies, const std::uint64_t* seeds) {
  wire::Message m(wire::MsgType::kEnvReset);
  m.add("envs", int64_array(copies));
  std::vector<std::int64_t> s(copies.size());
  std::memcpy(s.data(), seeds, s.size() * sizeof(std::int64_t));  // uint64 bits as int64
  m.add("seeds", int64_array(s));
  return m;
}

wire::Message step_request(const std::vector<std::int64_t>& copies, const ActionSpace& space, const char* actions,
                           const std::uint64_t* seeds, bool autoreset) {
  wire::Message m = reset_request(copies, seeds);
  m.type = wire::MsgType::kEnvStep;
  const FieldSpec f = space.field();
  Array a = Array::uninitialized(f.dtype, rows_of(static_cast<std::int64_t>(copies.size()), f.shape));
  std::memcpy(a.raw(), actions, a.nbytes());
  m.add("actions", std::move(a));
  m.add("autoreset", Array::from_vector<std::uint8_t>({autoreset ? std::uint8_t{1} : std::uint8_t{0}}, {1}));
  return m;
}

// Copies the `rows` observations of reply prefix `prefix` ("obs:", "final:") into `dst` fields at
// the rows `to[r]`.
void copy_obs(GymServer& server, const wire::Message& m, const std::string& prefix, const Spec& spec,
              std::int64_t rows, std::vector<Array>& dst, const std::vector<std::size_t>& to) {
  for (std::size_t f = 0; f < spec.fields.size(); ++f) {
    const FieldSpec& field = spec.fields[f];
    const Array& a = expect(server, m, prefix + field.name, field.dtype, rows_of(rows, field.shape));
    const std::size_t bytes = static_cast<std::size_t>(shape_numel(field.shape)) * dtype_size(field.dtype);
    const char* src = static_cast<const char*>(a.raw());
    char* out = static_cast<char*>(dst[f].raw());
    for (std::int64_t r = 0; r < rows; ++r) std::memcpy(out + to[r] * bytes, src + r * bytes, bytes);
  }
}

// Reads one step reply of `rows` rows: results, and the flags checked.
void read_results(GymServer& server, const wire::Message& m, std::int64_t rows, StepResult* results) {
  const float* reward = expect(server, m, "reward", DType::kFloat32, {rows}).data<float>();
  const std::uint8_t* term = expect(server, m, "terminated", DType::kUInt8, {rows}).data<std::uint8_t>();
  const std::uint8_t* trunc = expect(server, m, "truncated", DType::kUInt8, {rows}).data<std::uint8_t>();
  for (std::int64_t r = 0; r < rows; ++r) {
    if (term[r] > 1 || trunc[r] > 1 || (term[r] && trunc[r]))
      server.fail("sent terminated " + std::to_string(term[r]) + " and truncated " + std::to_string(trunc[r]) +
                  " for one step");
    results[r] = StepResult{reward[r], term[r] == 1, trunc[r] == 1};
  }
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// The batcher: a pool's envs spread over its servers, each server asked once per batch.

class GymBatcher : public EnvBatcher {
 public:
  GymBatcher(const GymOptions& o, std::shared_ptr<const GymSpec> spec, const std::vector<Env*>& envs)
      : spec_(std::move(spec)) {
    const std::size_t n = envs.size();
    const std::size_t k = std::min<std::size_t>(n, o.endpoints.empty() ? static_cast<std::size_t>(o.servers)
                                                                         : o.endpoints.size());
    std::vector<std::shared_ptr<GymServer>> servers;
    for (std::size_t s = 0; s < k; ++s)  // all start at once; then each is waited for
      servers.push_back(o.endpoints.empty() ? std::make_shared<GymServer>(o)
                                            : std::make_shared<GymServer>(o, o.endpoints[s]));
    for (std::size_t s = 0; s < k; ++s) {
      Part p{servers[s], s * n / k, (s + 1) * n / k, {}, {}};
      for (std::size_t i = p.begin; i < p.end; ++i) {
        p.copies.push_back(static_cast<std::int64_t>(i - p.begin));
        p.rows.push_back(i);
      }
      p.server->send(open_request(static_cast<std::int64_t>(p.end - p.begin)));
      parts_.push_back(std::move(p));
    }
    for (Part& p : parts_) {
      const std::shared_ptr<GymSpec> got = read_spec(*p.server, p.server->receive());
      if (!same_spec(*got, *spec_))
        p.server->fail("serves spaces " + got->observation_space + ", " + got->action_space + "; the first copy had " +
                       spec_->observation_space + ", " + spec_->action_space);
      for (std::size_t i = p.begin; i < p.end; ++i) {
        auto* env = dynamic_cast<GymEnv*>(envs[i]);
        if (env == nullptr) throw Error("gym env pool: env " + std::to_string(i) + " is no gym env");
        env->server_ = p.server;
        env->copy_ = static_cast<std::int64_t>(i - p.begin);
        env->started_ = false;
      }
    }
    action_bytes_ = detail::action_bytes(spec_->action);
  }

  void run(const char* actions, const std::uint64_t* seeds, StepBatch& out, StepResult* results) override {
    for (Part& p : parts_) {
      p.server->send(actions == nullptr
                         ? reset_request(p.copies, seeds + p.begin)
                         : step_request(p.copies, spec_->action, actions + p.begin * action_bytes_, seeds + p.begin,
                                        /*autoreset=*/true));
    }
    const auto num_infos = static_cast<std::int64_t>(spec_->infos.size());
    for (Part& p : parts_) {
      GymServer& server = *p.server;
      const wire::Message reply = server.receive();
      const auto rows = static_cast<std::int64_t>(p.rows.size());
      copy_obs(server, reply, "obs:", spec_->observation, rows, out.obs, p.rows);
      const Array& infos = expect(server, reply, "infos", DType::kFloat32, {rows, num_infos});
      if (num_infos > 0)
        std::memcpy(out.infos.data<float>() + p.begin * num_infos, infos.raw(), infos.nbytes());
      if (actions == nullptr) continue;
      read_results(server, reply, rows, results + p.begin);
      ended_.clear();
      for (std::size_t row : p.rows)
        if (results[row].terminated || results[row].truncated) ended_.push_back(row);
      copy_obs(server, reply, "final:", spec_->observation, static_cast<std::int64_t>(ended_.size()), out.final_obs, ended_);
    }
  }

 private:
  struct Part {
    std::shared_ptr<GymServer> server;
    std::size_t begin = 0, end = 0;     // the pool's envs [begin, end) are this server's copies 0..
    std::vector<std::int64_t> copies;   // 0..end-begin-1, as the requests name them
    std::vector<std::size_t> rows;      // begin..end-1, the pool rows they fill
  };

  std::shared_ptr<const GymSpec> spec_;
  std::vector<Part> parts_;
  std::size_t action_bytes_ = 0;
  std::vector<std::size_t> ended_;  // the rows whose episode ended, per reply (kept to reuse its memory)
};

// ---------------------------------------------------------------------------------------------
// GymEnv

GymEnv::GymEnv(const GymOptions& options) : options_(options), spec_(cached_spec(options)) {
  infos_.assign(spec_->infos.size(), 0.0f);
}

GymEnv::~GymEnv() = default;

const Spec& GymEnv::observation_spec() const { return spec_->observation; }
const ActionSpace& GymEnv::action_space() const { return spec_->action; }
std::vector<std::string> GymEnv::info_names() const { return spec_->infos; }
void GymEnv::infos(float* out) const { std::copy(infos_.begin(), infos_.end(), out); }

std::string GymEnv::endpoint() const { return server_ ? server_->endpoint() : ""; }

void GymEnv::bind_alone() {
  server_ = options_.endpoints.empty() ? std::make_shared<GymServer>(options_)
                                       : std::make_shared<GymServer>(options_, options_.endpoints.front());
  const std::shared_ptr<GymSpec> got = open_copies(*server_, 1);
  if (!same_spec(*got, *spec_))
    server_->fail("serves spaces " + got->observation_space + ", " + got->action_space + "; expected " +
                  spec_->observation_space + ", " + spec_->action_space);
  copy_ = 0;
}

namespace {

void write_slot(GymServer& server, const wire::Message& m, const Spec& spec, const ObsSlot& out) {
  for (std::size_t f = 0; f < spec.fields.size(); ++f) {
    const FieldSpec& field = spec.fields[f];
    const Array& a = expect(server, m, "obs:" + field.name, field.dtype, rows_of(1, field.shape));
    std::memcpy(out[f], a.raw(), a.nbytes());
  }
}

void read_infos(GymServer& server, const wire::Message& m, std::vector<float>& infos) {
  const Array& a = expect(server, m, "infos", DType::kFloat32, {1, static_cast<std::int64_t>(infos.size())});
  std::copy(a.data<float>(), a.data<float>() + infos.size(), infos.begin());
}

}  // namespace

void GymEnv::reset(std::uint64_t seed, const ObsSlot& out) {
  if (!server_) bind_alone();
  const wire::Message reply = server_->call(reset_request({copy_}, &seed));
  write_slot(*server_, reply, spec_->observation, out);
  read_infos(*server_, reply, infos_);
  started_ = true;
  ended_ = false;
}

StepResult GymEnv::step(const void* action, const ObsSlot& out) {
  if (!started_ || ended_)
    throw Error("gym env '" + options_.id + "': step " + (ended_ ? "after the episode ended" : "before reset") +
                " (reset it first)");
  validate_action(action, spec_->action);
  const std::uint64_t no_seed = 0;
  const wire::Message reply =
      server_->call(step_request({copy_}, spec_->action, static_cast<const char*>(action), &no_seed, /*autoreset=*/false));
  StepResult r;
  read_results(*server_, reply, 1, &r);
  write_slot(*server_, reply, spec_->observation, out);
  read_infos(*server_, reply, infos_);
  ended_ = r.terminated || r.truncated;
  return r;
}

void GymEnv::render(Frame& frame) const {
  if (!server_) throw Error("gym env '" + options_.id + "': render before reset");
  wire::Message m(wire::MsgType::kEnvRender);
  m.add("env", int64_array({copy_}));
  const wire::Message reply = server_->call(std::move(m));
  if (!reply.has("frame")) server_->fail("sent a render reply without 'frame'");
  const Array& a = reply.at("frame");
  const Shape& s = a.shape();
  if (a.dtype() != DType::kUInt8 || s.size() != 3 || s[2] != 3 || s[0] < 1 || s[1] < 1 || s[0] > 16384 || s[1] > 16384)
    server_->fail("sent a frame of " + std::string(dtype_name(a.dtype())) + shape_str(s) + ", expected uint8[H, W, 3]");
  frame.resize(static_cast<int>(s[0]), static_cast<int>(s[1]));
  std::memcpy(frame.rgb.data(), a.raw(), a.nbytes());
}

std::unique_ptr<EnvBatcher> GymEnv::make_batcher(const std::vector<Env*>& envs) const {
  return std::make_unique<GymBatcher>(options_, spec_, envs);
}

}  // namespace mnemo::envs
