#include "core/net/params.h"

#include <limits>

#include <chrono>
#include <map>
#include <mutex>
#include <sstream>
#include <thread>

#include "core/log.h"
#include "core/net/transport.h"
#include "core/net/wire.h"

namespace mnemo {

namespace {

using Clock = std::chrono::steady_clock;

std::string seconds_text(Clock::duration d) {
  std::ostringstream os;
  os.precision(1);
  os << std::fixed << std::chrono::duration<double>(d).count() << " s";
  return os.str();
}

}  // namespace

struct ParameterServer::Impl {
  struct Member {
    std::int64_t envs = 0;
    Clock::time_point last;
    bool stopped = false;
    std::int64_t incarnation = 0;
  };

  zmq::socket_t socket{transport::context(), zmq::socket_type::router};
  std::string endpoint;
  std::mutex mu;
  Array params;
  std::int64_t version = -1;
  std::int64_t base_version = -1;
  std::atomic<bool> stopping{false};
  std::atomic<bool> quit{false};
  std::thread thread;
  wire::Limits limits;
  // The roster (under mu).
  std::map<std::int64_t, Member> roster;
  std::int64_t next_id = 0;
  std::int64_t epoch = -1;
  std::int64_t epoch_envs = 0;
  std::int64_t timeout_ms = 0;
  std::atomic<std::int64_t> lost{0};
  std::vector<EvalReport> reports;  // under mu
  std::int64_t replans = 0;          // under mu
  std::int64_t replan_version = -1;  // under mu: the version of the last replan (-1: none yet)
  std::int64_t sampled = -1;         // under mu: the updates whose sequences the learner holds (note_sampled)

  std::string roster_text() const {
    return std::to_string(roster.size()) + " actor(s) with " + std::to_string(epoch_envs) + " envs";
  }

  // A change of the roster starts an epoch at the current version (mu held).
  void new_epoch(std::int64_t at = -1) {
    epoch = std::max(at, version);
    epoch_envs = 0;
    for (const auto& m : roster) epoch_envs += m.second.envs;
  }

  void remove(std::int64_t id, const std::string& why) {
    roster.erase(id);
    ++lost;
    new_epoch();
    MNEMO_WARN("actor ", id, " ", why, " at update ", version, "; ", roster_text(), " go on");
  }

  // Marks actor `id` alive (mu held); an id the roster does not hold joins it.
  void heard(std::int64_t id, std::int64_t envs, std::int64_t incarnation, bool stop) {
    auto it = roster.find(id);
    if (it == roster.end()) {
      it = roster.emplace(id, Member{envs, Clock::now(), false, incarnation}).first;
      next_id = std::max(next_id, id + 1);
      new_epoch();
      MNEMO_INFO("actor ", id, " joined at update ", version, " with ", envs, " envs; ", roster_text());
    } else if (it->second.incarnation != incarnation) {
      it->second = Member{envs, Clock::now(), false, incarnation};
      new_epoch();
      MNEMO_INFO("actor ", id, " rejoined at update ", version, " (restart ", incarnation, "); ", roster_text());
    }
    it->second.last = Clock::now();
    if (stop) it->second.stopped = true;
  }

  // Declares actors silent for longer than the timeout lost (mu held). Not while stopping: actors
  // that have seen the stop go quiet on purpose.
  void check_roster() {
    if (timeout_ms <= 0 || stopping.load()) return;
    const auto now = Clock::now();
    std::vector<std::pair<std::int64_t, Clock::duration>> silent;
    for (const auto& m : roster)
      if (now - m.second.last > std::chrono::milliseconds(timeout_ms)) silent.emplace_back(m.first, now - m.second.last);
    for (const auto& s : silent) remove(s.first, "lost: no contact for " + seconds_text(s.second));
  }

  void serve() {
    log::set_thread_role("params");
    // Requests are tiny: a bounded receive protects the learner from garbage.
    auto recv_limits = transport::RecvLimits::for_wire(wire::Limits{1 << 20, 8, 2, 64}, 1);
    while (!quit.load()) {
      std::optional<transport::Incoming> in;
      try {
        in = transport::recv(socket, recv_limits, 50);
      } catch (const zmq::error_t& e) {
        if (quit.load()) break;
        MNEMO_WARN("parameter server: receive failed: ", e.what());
        continue;
      }
      {
        std::lock_guard<std::mutex> lock(mu);
        check_roster();
      }
      if (!in || in->frames.empty()) continue;
      std::string routing(static_cast<const char*>(in->frames[0].data), in->frames[0].size);
      std::uint64_t request_id = 0;  // answered in an error reply too, so the client can match it
      try {
        if (in->rejected) throw Error(in->reason);
        std::vector<wire::Frame> body(in->frames.begin() + 1, in->frames.end());
        wire::Message req = wire::decode(std::move(body), limits);
        request_id = req.request_id;
        if (req.type != wire::MsgType::kGetParams)
          throw Error(std::string("unexpected request ") + wire::msg_type_name(req.type));
        std::int64_t have = req.at("have_version").item<std::int64_t>();
        wire::Message rep(wire::MsgType::kParams, req.request_id);
        const bool stop = stopping.load();
        {
          std::lock_guard<std::mutex> lock(mu);
          std::int64_t id = req.has("actor") ? req.at("actor").item<std::int64_t>() : -1;
          const std::int64_t envs = req.has("envs") ? req.at("envs").item<std::int64_t>() : 0;
          const std::int64_t incarnation = req.has("incarnation") ? req.at("incarnation").item<std::int64_t>() : 0;
          if (envs < 0 || envs > (std::int64_t{1} << 24)) throw Error("envs out of range: " + std::to_string(envs));
          if (req.has("join")) {
            id = next_id;  // taken by heard() below
            rep.add("actor_id", Array::scalar<std::int64_t>(id));
          }
          if (req.has("report")) {
            const Array& v = req.at("report");
            const std::string names = wire::array_text(req.at("report_names"));
            if (v.dtype() != DType::kFloat64 || v.numel() < 1 || v.numel() > 33)
              throw Error("report: expected 1 to 33 float64 values");
            EvalReport r;
            r.version = static_cast<std::int64_t>(v.data<double>()[0]);
            std::size_t start = 0;
            for (std::int64_t i = 1; i < v.numel(); ++i) {
              const std::size_t end = names.find(',', start);
              r.values[names.substr(start, end == std::string::npos ? std::string::npos : end - start)] = v.data<double>()[i];
              if (end == std::string::npos && i + 1 < v.numel()) throw Error("report: fewer names than values");
              start = end == std::string::npos ? names.size() : end + 1;
            }
            if (reports.size() < 1024) reports.push_back(std::move(r));
          }
          if (req.has("replan")) {
            // The share of the first update whose sequences the learner does not hold yet: one it
            // has already sampled for is not made again (that would be one share too many).
            ++replans;
            replan_version = std::max(version, sampled);
            new_epoch(replan_version);
            MNEMO_WARN(wire::array_text(req.at("replan")), " at update ", replan_version,
                       ": the actors make the next update's share again");
          }
          if (req.has("leave")) {
            if (id >= 0 && roster.count(id) != 0) {
              if (stop)
                roster.erase(id);
              else
                remove(id, "left (" + wire::array_text(req.at("leave")) + ")");
            }
          } else if (id >= 0) {
            heard(id, envs, incarnation, stop);
          }
          rep.add("version", Array::scalar<std::int64_t>(version));
          rep.add("base_version", Array::scalar<std::int64_t>(base_version));
          rep.add("epoch", Array::scalar<std::int64_t>(epoch));
          rep.add("epoch_envs", Array::scalar<std::int64_t>(epoch_envs));
          rep.add("replans", Array::scalar<std::int64_t>(replans));
          rep.add("plan", Array::scalar<std::int64_t>(std::max(replan_version, base_version)));
          if (version > have && params.numel() > 0) rep.add("params", params);
        }
        rep.add("stop", Array::scalar<std::uint8_t>(stop ? 1 : 0));
        transport::send_routed(socket, routing, rep, /*payload_checksums=*/!limits.allow_unchecked_payload);
      } catch (const std::exception& e) {
        MNEMO_WARN("parameter server: rejected a request from ", transport::peer_name(in->peer), ": ", e.what());
        wire::Message err(wire::MsgType::kError, request_id);
        err.add("message", wire::text_array(e.what()));
        transport::send_routed(socket, routing, err);
      }
    }
  }
};

ParameterServer::ParameterServer(const std::string& endpoint, const transport::CurveServer& curve)
    : impl_(std::make_unique<Impl>()) {
  transport::configure_server_socket(impl_->socket, wire::Limits{1 << 20, 8, 2, 64});
  transport::configure_curve(impl_->socket, curve);
  impl_->endpoint = transport::bind_any(impl_->socket, endpoint);
  // In-process peers go without payload checksums (wire.h).
  impl_->limits.allow_unchecked_payload = transport::in_process(impl_->endpoint);
  impl_->thread = std::thread([this] { impl_->serve(); });
}

ParameterServer::~ParameterServer() {
  impl_->quit = true;
  if (impl_->thread.joinable()) impl_->thread.join();
}

std::string ParameterServer::endpoint() const { return impl_->endpoint; }

void ParameterServer::publish(Array params, std::int64_t version) {
  std::lock_guard<std::mutex> lock(impl_->mu);
  impl_->params = std::move(params);
  if (impl_->base_version < 0) impl_->base_version = version;
  impl_->version = version;
  if (impl_->epoch < 0) impl_->epoch = version;  // the first epoch starts with the session
}

void ParameterServer::set_stopping() { impl_->stopping = true; }

void ParameterServer::expect_actors(std::int64_t count, std::int64_t envs_each, std::int64_t timeout_ms) {
  std::lock_guard<std::mutex> lock(impl_->mu);
  impl_->timeout_ms = timeout_ms;
  // Never heard of yet: allowed three timeouts from now to start.
  const auto start = Clock::now() + 2 * std::chrono::milliseconds(timeout_ms);
  for (std::int64_t id = 0; id < count; ++id) impl_->roster[id] = Impl::Member{envs_each, start, false, 0};
  impl_->next_id = std::max(impl_->next_id, count);
  impl_->epoch_envs = 0;
  for (const auto& m : impl_->roster) impl_->epoch_envs += m.second.envs;
}

std::int64_t ParameterServer::live_actors() const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  return static_cast<std::int64_t>(impl_->roster.size());
}

void ParameterServer::note_sampled(std::int64_t updates) {
  std::lock_guard<std::mutex> lock(impl_->mu);
  impl_->sampled = std::max(impl_->sampled, updates);
}

std::int64_t ParameterServer::plan() const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  return std::max(impl_->replan_version, impl_->base_version);
}

std::vector<std::int64_t> ParameterServer::live_actor_ids() const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  std::vector<std::int64_t> ids;
  for (const auto& m : impl_->roster) ids.push_back(m.first);
  return ids;
}

bool ParameterServer::all_actors_stopped() const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  for (const auto& m : impl_->roster)
    if (!m.second.stopped) return false;
  return true;
}

std::int64_t ParameterServer::lost_actors() const { return impl_->lost.load(); }

std::vector<EvalReport> ParameterServer::take_reports() {
  std::lock_guard<std::mutex> lock(impl_->mu);
  std::vector<EvalReport> out;
  out.swap(impl_->reports);
  return out;
}

struct ParameterClient::Impl {
  zmq::socket_t socket{transport::context(), zmq::socket_type::dealer};
  std::int64_t timeout_ms;
  std::uint64_t next_id = 1;
  wire::Limits limits;
  std::int64_t actor = -1;
  std::int64_t envs = 0;
  std::int64_t incarnation = 0;
  std::vector<std::pair<std::string, Array>> extra_fields;  // sent with the next request only

  FetchedParams request(std::int64_t have_version, const char* extra, const std::string& extra_text,
                        std::int64_t timeout);
};

ParameterClient::ParameterClient(const std::string& endpoint, std::int64_t timeout_ms,
                                 const transport::CurveClient& curve)
    : impl_(std::make_unique<Impl>()) {
  impl_->timeout_ms = timeout_ms;
  impl_->socket.set(zmq::sockopt::linger, 0);
  transport::configure_curve(impl_->socket, curve);
  impl_->socket.connect(endpoint);
  impl_->limits.allow_unchecked_payload = transport::in_process(endpoint);
}

ParameterClient::~ParameterClient() = default;

FetchedParams ParameterClient::fetch(std::int64_t have_version) {
  return impl_->request(have_version, nullptr, "", impl_->timeout_ms);
}

void ParameterClient::set_identity(std::int64_t actor_id, std::int64_t envs, std::int64_t incarnation) {
  impl_->actor = actor_id;
  impl_->envs = envs;
  impl_->incarnation = incarnation;
}

std::int64_t ParameterClient::join(std::int64_t envs) {
  impl_->envs = envs;
  FetchedParams p = impl_->request(std::numeric_limits<std::int64_t>::max(), "join", "", impl_->timeout_ms);
  if (p.actor_id < 0) throw Error("parameter server: join answered without an actor id");
  impl_->actor = p.actor_id;
  return p.actor_id;
}

void ParameterClient::report(std::int64_t version, const std::map<std::string, double>& values) {
  MNEMO_CHECK(values.size() <= 32, "report: at most 32 values");
  Array v = Array::zeros(DType::kFloat64, {static_cast<std::int64_t>(values.size()) + 1});
  double* d = static_cast<double*>(v.raw());
  d[0] = static_cast<double>(version);
  std::string names;
  std::size_t i = 1;
  for (const auto& kv : values) {
    MNEMO_CHECK(kv.first.find(',') == std::string::npos, "report: a name with a comma: ", kv.first);
    names += (names.empty() ? "" : ",") + kv.first;
    d[i++] = kv.second;
  }
  impl_->extra_fields = {{"report", v}, {"report_names", wire::text_array(names)}};
  try {
    impl_->request(std::numeric_limits<std::int64_t>::max(), nullptr, "", impl_->timeout_ms);
  } catch (...) {
    impl_->extra_fields.clear();
    throw;
  }
  impl_->extra_fields.clear();
}

void ParameterClient::replan(const std::string& why) {
  impl_->request(std::numeric_limits<std::int64_t>::max(), "replan", why, impl_->timeout_ms);
}

void ParameterClient::leave(const std::string& reason, std::int64_t timeout_ms) {
  if (impl_->actor < 0) return;
  try {
    impl_->request(std::numeric_limits<std::int64_t>::max(), "leave", reason, timeout_ms);
  } catch (const std::exception&) {
    // A learner that is gone cannot be told.
  }
}

FetchedParams ParameterClient::Impl::request(std::int64_t have_version, const char* extra,
                                             const std::string& extra_text, std::int64_t timeout) {
  std::uint64_t id = next_id++;
  wire::Message req(wire::MsgType::kGetParams, id);
  req.add("have_version", Array::scalar<std::int64_t>(have_version));
  if (actor >= 0 || extra != nullptr) {
    req.add("actor", Array::scalar<std::int64_t>(actor));
    req.add("envs", Array::scalar<std::int64_t>(envs));
    req.add("incarnation", Array::scalar<std::int64_t>(incarnation));
  }
  if (extra != nullptr) req.add(extra, wire::text_array(extra_text.empty() ? std::string("-") : extra_text));
  for (const auto& f : extra_fields) req.add(f.first, f.second);
  transport::send(socket, req, /*wait=*/true, /*payload_checksums=*/!limits.allow_unchecked_payload);
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout);
  auto recv_limits = transport::RecvLimits::for_wire(limits, 0);
  while (true) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) throw TimeoutError("parameter server did not answer within " +
                                              std::to_string(timeout) + " ms");
    auto frames = transport::recv_frames(socket, recv_limits, left.count());
    if (!frames) continue;
    wire::Message rep = wire::decode(std::move(*frames), limits);
    if (rep.request_id != id) continue;  // a late reply to an earlier, timed-out request
    if (rep.type == wire::MsgType::kError) throw Error("parameter server: " + wire::array_text(rep.at("message")));
    FetchedParams out;
    out.version = rep.at("version").item<std::int64_t>();
    out.base_version = rep.at("base_version").item<std::int64_t>();
    out.stop = rep.at("stop").item<std::int64_t>() != 0;
    if (rep.has("epoch")) out.epoch = rep.at("epoch").item<std::int64_t>();
    if (rep.has("epoch_envs")) out.epoch_envs = rep.at("epoch_envs").item<std::int64_t>();
    if (rep.has("actor_id")) out.actor_id = rep.at("actor_id").item<std::int64_t>();
    if (rep.has("replans")) out.replans = rep.at("replans").item<std::int64_t>();
    if (rep.has("plan")) out.plan = rep.at("plan").item<std::int64_t>();
    if (rep.has("params")) out.params = rep.at("params");
    return out;
  }
}

}  // namespace mnemo
