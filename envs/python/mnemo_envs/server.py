"""The env server: copies of one environment served to a mnemo pool over ZeroMQ or a Unix socket.

    python3 -m mnemo_envs.server --env CartPole-v1 --bind tcp://127.0.0.1:5555
    python3 -m mnemo_envs.server --env mypackage.envs:make_env --kwargs '{"level": 3}' --bind ipc:///tmp/e.sock
    python3 -m mnemo_envs.server --env CartPole-v1 --bind unix:///tmp/e.sock

One client at a time (a REP socket, or one connection at a time on a unix:// stream socket, which
is what mnemo uses for the servers it starts: a round trip costs a fifth of ZeroMQ's, which hops
through I/O threads). On the stream, a message is u32 frame count, u64 size per frame, then the
frames' bytes, little-endian (wire.py's read_stream/stream_bytes). Requests and replies are mnemo
wire messages (wire.py):

  ENV_OPEN   num_envs int64[1]               -> spec (JSON text): fields, action space, info names
  ENV_RESET  envs int64[k], seeds int64[k]   -> obs:NAME [k, ...], infos float32[k, I]
  ENV_STEP   envs, actions [k, ...], seeds, autoreset uint8[1]
             -> obs:NAME, reward float32[k], terminated uint8[k], truncated uint8[k],
                infos float32[k, I], final:NAME [e, ...] (the e rows that ended, in order)
  ENV_RENDER env int64[1]                    -> frame uint8[H, W, 3]
  SHUTDOWN                                   -> ok, then the server exits

Stepping follows mnemo's pool, not Gymnasium's vector envs: with autoreset, a copy whose step
ended the episode (terminated or truncated) is reset at once with its row's seed, obs holds the
new episode's first observation and final:NAME the ended episode's last one; infos are the step's
(the transition's), not the reset's. Without autoreset (a single env stepped by itself) an ended
copy must be reset before it steps again. Seeds are uint64 bits carried as int64.

Anything wrong with a request (bad bytes, unknown copies, actions outside the space, an env that
raises) is answered with an ERROR message naming it; the server keeps serving.
"""
import argparse
import dataclasses
import importlib
import inspect
import json
import os
import select
import shutil
import signal
import socket as sockets
import sys
import time
import traceback

import numpy as np
import zmq

from . import spaces, wire


def make_factory(env, kwargs, render_mode):
    """A function making one copy. `env` is a Gymnasium id ("CartPole-v1", or Gymnasium's own
    "module:EnvId" that imports a module registering it, "minigrid:MiniGrid-MemoryS7-v0"), or
    "module:function" naming a callable (a function or an env class) that returns an env.

    Copies made from an id get every wrapper gymnasium.make applies but two: PassiveEnvChecker
    and OrderEnforcing. They only check, and the server checks the same things itself (spaces
    when it opens the copies and on every observation; no step before a reset). Each costs a
    call layer per step: together about a sixth of a CartPole step."""
    name = env
    if ":" in env:
        module, _, name = env.partition(":")
        fn = getattr(importlib.import_module(module), name, None)
        if callable(fn):
            call = dict(kwargs)
            try:
                takes_render_mode = "render_mode" in inspect.signature(fn).parameters
            except (TypeError, ValueError):
                takes_render_mode = False
            if render_mode and takes_render_mode:
                call["render_mode"] = render_mode
            return lambda: fn(**call)
    import gymnasium  # only needed for ids

    call = dict(kwargs)
    if render_mode:
        call["render_mode"] = render_mode
    def make():  # an unknown id fails here, when the client opens the copies, as gymnasium.make would
        spec = dataclasses.replace(gymnasium.spec(name), order_enforce=False)  # registered by the module above
        return gymnasium.make(spec, disable_env_checker=True, **call)
    return make


def numeric(value):
    """The float of a numeric scalar info (bool, int, float, numpy scalar or 0-d array), else None."""
    if isinstance(value, (bool, int, float, np.number, np.bool_)):
        return float(value)
    if isinstance(value, np.ndarray) and value.ndim == 0 and value.dtype.kind in "biuf":
        return float(value)
    return None


class Server:
    def __init__(self, args):
        self.args = args
        self.kwargs = json.loads(args.kwargs) if args.kwargs else {}
        if not isinstance(self.kwargs, dict):
            raise SystemExit("--kwargs must be a JSON object, got %r" % args.kwargs)
        self.factory = make_factory(args.env, self.kwargs, args.render_mode or None)
        self.envs = []
        self.done = []  # per copy: the episode ended and the copy has not been reset since
        self.started = []  # per copy: reset at least once
        self.obs = None
        self.acts = None
        self.info_names = [k for k in args.info_keys.split(",") if k] if args.info_keys else None

    # -- requests ---------------------------------------------------------------------------
    def open(self, fields):
        n = self.scalar(fields, "num_envs")
        if not 1 <= n <= self.args.max_envs:
            raise ValueError("num_envs %d is outside 1..%d (--max-envs)" % (n, self.args.max_envs))
        for e in self.envs:
            e.close()
        self.envs = [self.factory() for _ in range(n)]
        first = self.envs[0]
        self.obs = spaces.ObsLayout(first.observation_space)
        self.acts = spaces.ActionLayout(first.action_space)
        for i, e in enumerate(self.envs[1:], 1):
            if repr(e.observation_space) != repr(first.observation_space) or repr(e.action_space) != repr(
                    first.action_space):
                raise ValueError("copy %d has spaces %r, %r; copy 0 has %r, %r" % (
                    i, e.observation_space, e.action_space, first.observation_space, first.action_space))
        if self.info_names is None:
            self.info_names = self.discover_infos(first)
        self.done = [False] * n
        self.started = [False] * n
        spec = {
            "env": self.args.env,
            "num_envs": n,
            "observation": self.obs.spec(),
            "action": self.acts.spec(),
            "infos": self.info_names,
            "observation_space": repr(first.observation_space),
            "action_space": repr(first.action_space),
            "render": bool(self.args.render_mode),
        }
        return [("spec", wire.text(json.dumps(spec)))]

    def discover_infos(self, env):
        """Names of the numeric scalar infos of a reset and one step (the copy is reset again before use)."""
        _, info = env.reset(seed=0)
        names = [k for k, v in info.items() if numeric(v) is not None]
        _, _, _, _, info = env.step(self.acts.action(np.zeros(self.acts.width, dtype=self.acts.dtype())))
        names += [k for k, v in info.items() if numeric(v) is not None and k not in names]
        return [k for k in names if not k.startswith("_") and len(k.encode()) <= 64]

    def reset(self, fields):
        ids = self.ids(fields)
        seeds = self.seeds(fields, len(ids))
        out = self.obs.buffers(len(ids))
        infos = np.zeros((len(ids), len(self.info_names)), dtype=np.float32)
        write = self.obs.writer(out)
        for row, (i, seed) in enumerate(zip(ids, seeds)):
            obs, info = self.envs[i].reset(seed=seed)
            write(obs, row)
            self.write_infos(info, infos, row)
            self.done[i] = False
            self.started[i] = True
        return self.obs_fields("obs:", out) + [("infos", infos)]

    def step(self, fields):
        ids = self.ids(fields)
        k = len(ids)
        seeds = self.seeds(fields, k)
        autoreset = bool(self.scalar(fields, "autoreset"))
        actions = self.field(fields, "actions")
        want = (k,) + self.acts.shape()
        if actions.dtype != self.acts.dtype() or actions.shape != want:
            raise ValueError("actions are %s%s, expected %s%s" % (actions.dtype, list(actions.shape),
                                                                 self.acts.dtype(), list(want)))
        for i in ids:
            if not self.started[i] or self.done[i]:
                raise ValueError("copy %d must be reset before it steps (%s)" % (
                    i, "its episode ended" if self.done[i] else "never reset"))
        env_actions = self.acts.actions(actions)  # all checked before any copy moves
        observations, rewards, ended, finals = [], [], [], []
        infos = np.zeros((k, len(self.info_names)), dtype=np.float32)
        envs, done, info_names = self.envs, self.done, self.info_names
        for row, i in enumerate(ids):
            obs, r, term, trunc, info = envs[i].step(env_actions[row])
            rewards.append(r)
            if info_names:
                self.write_infos(info, infos, row)
            if term or trunc:
                ended.append((row, bool(term)))
                if autoreset:
                    finals.append(obs)
                    obs, _ = envs[i].reset(seed=seeds[row])
                else:
                    done[i] = True
            observations.append(obs)
        try:
            reward = np.asarray(rewards, dtype=np.float32).reshape(k)
        except (TypeError, ValueError):
            raise ValueError("rewards must be numbers, got %r" % (rewards,)) from None
        terminated = np.zeros(k, dtype=np.uint8)
        truncated = np.zeros(k, dtype=np.uint8)
        for row, term in ended:
            terminated[row] = term
            truncated[row] = not term
        return (self.obs_fields("obs:", self.obs.batch(observations)) +
                [("reward", reward), ("terminated", terminated), ("truncated", truncated), ("infos", infos)] +
                self.obs_fields("final:", self.obs.batch(finals)))

    def render(self, fields):
        i = self.scalar(fields, "env")
        if not 0 <= i < len(self.envs):
            raise ValueError("copy %d does not exist (%d copies)" % (i, len(self.envs)))
        if not self.args.render_mode:
            raise ValueError("this server was started without --render-mode")
        frame = np.asarray(self.envs[i].render())
        if frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] not in (3, 4):
            raise ValueError("render() returned %s%s, expected an RGB image uint8[H, W, 3]" % (
                frame.dtype, list(frame.shape)))
        return [("frame", np.ascontiguousarray(frame[:, :, :3]))]

    # -- helpers ----------------------------------------------------------------------------
    def require_open(self):
        if not self.envs:
            raise ValueError("no envs yet: open them first (ENV_OPEN)")

    @staticmethod
    def field(fields, name):
        if name not in fields:
            raise ValueError("request has no field %r (fields: %s)" % (name, ", ".join(fields) or "none"))
        return fields[name]

    def scalar(self, fields, name):
        a = self.field(fields, name)
        if a.size != 1 or a.dtype.kind not in "iub":
            raise ValueError("field %r must be one integer, got %s%s" % (name, a.dtype, list(a.shape)))
        return int(a.reshape(-1)[0])

    def ids(self, fields):
        self.require_open()
        ids = self.field(fields, "envs")
        if ids.dtype != np.int64 or ids.ndim != 1 or ids.size == 0:
            raise ValueError("envs must be int64[k], k > 0, got %s%s" % (ids.dtype, list(ids.shape)))
        out = ids.tolist()  # Python ints: cheaper to check and to index with than numpy's
        if min(out) < 0 or max(out) >= len(self.envs):
            raise ValueError("envs %s outside 0..%d" % (out, len(self.envs) - 1))
        if len(set(out)) != len(out):
            raise ValueError("envs %s name a copy twice" % out)
        return out

    def seeds(self, fields, k):
        s = self.field(fields, "seeds")
        if s.dtype != np.int64 or s.shape != (k,):
            raise ValueError("seeds must be int64[%d], got %s%s" % (k, s.dtype, list(s.shape)))
        return s.view(np.uint64).tolist()

    def write_infos(self, info, infos, row):
        for col, name in enumerate(self.info_names):
            v = numeric(info.get(name)) if isinstance(info, dict) else None
            infos[row, col] = 0.0 if v is None else v

    def obs_fields(self, prefix, buffers):
        return [(prefix + name, buf) for (_, _, name, _, _), buf in zip(self.obs.leaves, buffers)]

    # -- the loop ---------------------------------------------------------------------------
    def handle(self, frames):
        try:
            msg_type, request_id, fields = wire.decode(frames, max_bytes=self.args.max_message_bytes)
        except wire.WireError as e:
            return wire.encode(wire.ERROR, 0, [("message", wire.text("bad request: %s" % e))]), False
        try:
            if msg_type == wire.SHUTDOWN:
                return wire.encode(wire.OK, request_id, []), True
            handlers = {wire.ENV_OPEN: self.open, wire.ENV_RESET: self.reset, wire.ENV_STEP: self.step,
                        wire.ENV_RENDER: self.render}
            if msg_type not in handlers:
                raise ValueError("the env server does not answer message type %d" % msg_type)
            return wire.encode(wire.OK, request_id, handlers[msg_type](fields)), False
        except Exception as e:  # an env's own error, reported to the client, not fatal to the server
            where = traceback.extract_tb(e.__traceback__)[-1]
            text = "%s: %s (%s:%d)" % (type(e).__name__, e, os.path.basename(where.filename), where.lineno)
            return wire.encode(wire.ERROR, request_id, [("message", wire.text(text))]), False

    def serve(self, socket):
        parent = self.args.parent
        poller = zmq.Poller()
        poller.register(socket, zmq.POLLIN)
        while True:
            if not poller.poll(1000):
                if parent and os.getppid() != parent:
                    return "orphaned"  # the mnemo process that started this server is gone
                continue
            frames = socket.recv_multipart(copy=False)
            reply, stop = self.handle([f.buffer for f in frames])
            socket.send_multipart(reply, copy=False)
            if stop:
                return

    @staticmethod
    def spin_for(conn, seconds):
        """Polls `conn` without sleeping for up to `seconds`: a client stepping in a tight loop sends
        its next request within tens of microseconds, and catching it awake saves the wake-up a
        blocking wait costs (tens of microseconds more on a virtual machine)."""
        until = time.perf_counter() + seconds
        while True:
            ready, _, _ = select.select([conn], [], [], 0)
            if ready or time.perf_counter() > until:
                return ready

    def serve_stream(self, listener):
        """serve() for a unix:// listening socket: one connection at a time, until SHUTDOWN."""
        parent = self.args.parent
        limit = self.args.max_message_bytes + (1 << 16)
        spin = self.args.spin_us / 1e6
        conn = None
        while True:
            ready = self.spin_for(conn, spin) if conn is not None and spin > 0 else None
            if not ready:
                ready, _, _ = select.select([conn or listener], [], [], 1.0)
            if not ready:
                if parent and os.getppid() != parent:
                    return "orphaned"
                continue
            if conn is None:
                conn, _ = listener.accept()
                continue
            try:
                frames = wire.read_stream(conn, limit)
            except wire.WireError as e:  # a stream that lost its framing cannot be read on: drop it
                try:
                    conn.sendall(wire.stream_bytes(wire.encode(wire.ERROR, 0, [("message", wire.text(
                        "bad request: %s" % e))])))
                except OSError:
                    pass
                frames = None
            except OSError:
                frames = None
            if frames is None:  # the client closed the connection (or broke it): wait for the next
                conn.close()
                conn = None
                continue
            reply, stop = self.handle(frames)
            try:
                conn.sendall(wire.stream_bytes(reply))
            except OSError:
                conn.close()
                conn = None
            if stop:
                return


def main(argv=None):
    p = argparse.ArgumentParser(prog="python3 -m mnemo_envs.server", description=__doc__.split("\n\n")[0])
    p.add_argument("--env", required=True, help="a Gymnasium id (CartPole-v1) or module:function returning an env")
    p.add_argument("--bind", required=True, help="endpoint to bind: ZeroMQ (tcp://127.0.0.1:5555, ipc:///path) or a "
                                                    "unix:///path stream socket")
    p.add_argument("--kwargs", default="", help="JSON object of keyword arguments for gymnasium.make or the factory")
    p.add_argument("--render-mode", default="", help="render_mode of the copies (rgb_array for frames); empty: none")
    p.add_argument("--info-keys", default=None, help="comma-separated info keys to pass on (default: the numeric "
                                                     "scalar infos of a probe reset and step)")
    p.add_argument("--max-envs", type=int, default=65536, help="most copies a client may open")
    p.add_argument("--max-message-bytes", type=int, default=256 << 20, help="largest request accepted")
    p.add_argument("--spin-us", type=int, default=0, help="unix:// only: after a reply, poll for the next request "
                                                          "without sleeping for up to this many microseconds")
    p.add_argument("--parent", type=int, default=0, help="exit when this process is no longer the parent")
    p.add_argument("--ready-file", default="", help="write the bound endpoint here once serving")
    p.add_argument("--cleanup", default="", help="a folder to remove when the parent is gone (its socket and log)")
    args = p.parse_args(argv)
    if not 0 <= args.spin_us <= 1000000:
        p.error("--spin-us must be in [0, 1000000], got %d" % args.spin_us)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    server = Server(args)
    if args.bind.startswith("unix://"):
        socket = sockets.socket(sockets.AF_UNIX, sockets.SOCK_STREAM)
        socket.bind(args.bind[len("unix://"):])
        socket.listen(1)
        endpoint = args.bind
    else:
        socket = zmq.Context.instance().socket(zmq.REP)
        socket.setsockopt(zmq.LINGER, 0)
        socket.setsockopt(zmq.MAXMSGSIZE, args.max_message_bytes + (1 << 16))
        socket.bind(args.bind)
        endpoint = socket.getsockopt_string(zmq.LAST_ENDPOINT)
    if args.ready_file:
        tmp = args.ready_file + ".tmp"
        with open(tmp, "w") as f:
            f.write(endpoint + "\n")
        os.rename(tmp, args.ready_file)
    print("mnemo_envs.server: serving %s on %s (checksums in %s)" % (
        args.env, endpoint, "C" if wire.fast_checksums() else "Python"), file=sys.stderr, flush=True)
    try:
        ended = server.serve_stream(socket) if endpoint.startswith("unix://") else server.serve(socket)
    finally:
        for e in server.envs:
            e.close()
        socket.close()
    if ended == "orphaned" and args.cleanup:
        shutil.rmtree(args.cleanup, ignore_errors=True)


if __name__ == "__main__":
    main()
