#include "core/net/params.h"

#include <mutex>
#include <thread>

#include "core/log.h"
#include "core/net/transport.h"
#include "core/net/wire.h"

namespace mnemo {

struct ParameterServer::Impl {
  zmq::socket_t socket{transport::context(), zmq::socket_type::router};
  std::string endpoint;
  std::mutex mu;
  Array params;
  std::int64_t version = -1;
  std::int64_t base_version = -1;
  std::atomic<bool> stopping{false};
  std::atomic<std::int64_t> stop_replies{0};
  std::atomic<bool> quit{false};
  std::thread thread;
  wire::Limits limits;

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
      if (!in || in->frames.empty()) continue;
      std::string routing(static_cast<const char*>(in->frames[0].data), in->frames[0].size);
      try {
        if (in->rejected) throw Error(in->reason);
        std::vector<wire::Frame> body(in->frames.begin() + 1, in->frames.end());
        wire::Message req = wire::decode(std::move(body), limits);
        if (req.type != wire::MsgType::kGetParams)
          throw Error(std::string("unexpected request ") + wire::msg_type_name(req.type));
        std::int64_t have = req.at("have_version").item<std::int64_t>();
        wire::Message rep(wire::MsgType::kParams, req.request_id);
        {
          std::lock_guard<std::mutex> lock(mu);
          rep.add("version", Array::scalar<std::int64_t>(version));
          rep.add("base_version", Array::scalar<std::int64_t>(base_version));
          if (version > have && params.numel() > 0) rep.add("params", params);
        }
        bool stop = stopping.load();
        rep.add("stop", Array::scalar<std::uint8_t>(stop ? 1 : 0));
        if (stop) stop_replies.fetch_add(1);
        transport::send_routed(socket, routing, rep, /*payload_checksums=*/!limits.allow_unchecked_payload);
      } catch (const std::exception& e) {
        MNEMO_WARN("parameter server: rejected a request from ", transport::peer_name(in->peer), ": ", e.what());
        wire::Message err(wire::MsgType::kError);
        err.add("message", wire::text_array(e.what()));
        transport::send_routed(socket, routing, err);
      }
    }
  }
};

ParameterServer::ParameterServer(const std::string& endpoint) : impl_(std::make_unique<Impl>()) {
  transport::configure_server_socket(impl_->socket, wire::Limits{1 << 20, 8, 2, 64});
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
}

void ParameterServer::set_stopping() { impl_->stopping = true; }
std::int64_t ParameterServer::stop_replies() const { return impl_->stop_replies.load(); }

struct ParameterClient::Impl {
  zmq::socket_t socket{transport::context(), zmq::socket_type::dealer};
  std::int64_t timeout_ms;
  std::uint64_t next_id = 1;
  wire::Limits limits;
};

ParameterClient::ParameterClient(const std::string& endpoint, std::int64_t timeout_ms)
    : impl_(std::make_unique<Impl>()) {
  impl_->timeout_ms = timeout_ms;
  impl_->socket.set(zmq::sockopt::linger, 0);
  impl_->socket.connect(endpoint);
  impl_->limits.allow_unchecked_payload = transport::in_process(endpoint);
}

ParameterClient::~ParameterClient() = default;

FetchedParams ParameterClient::fetch(std::int64_t have_version) {
  std::uint64_t id = impl_->next_id++;
  wire::Message req(wire::MsgType::kGetParams, id);
  req.add("have_version", Array::scalar<std::int64_t>(have_version));
  transport::send(impl_->socket, req, /*wait=*/true, /*payload_checksums=*/!impl_->limits.allow_unchecked_payload);
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(impl_->timeout_ms);
  auto recv_limits = transport::RecvLimits::for_wire(impl_->limits, 0);
  while (true) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) throw TimeoutError("parameter server did not answer within " +
                                              std::to_string(impl_->timeout_ms) + " ms");
    auto frames = transport::recv_frames(impl_->socket, recv_limits, left.count());
    if (!frames) continue;
    wire::Message rep = wire::decode(std::move(*frames), impl_->limits);
    if (rep.request_id != id) continue;  // a late reply to an earlier, timed-out request
    if (rep.type == wire::MsgType::kError) throw Error("parameter server: " + wire::array_text(rep.at("message")));
    FetchedParams out;
    out.version = rep.at("version").item<std::int64_t>();
    out.base_version = rep.at("base_version").item<std::int64_t>();
    out.stop = rep.at("stop").item<std::int64_t>() != 0;
    if (rep.has("params")) out.params = rep.at("params");
    return out;
  }
}

}  // namespace mnemo
