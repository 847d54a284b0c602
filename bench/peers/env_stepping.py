"""Env stepping against the peers: mnemo's EnvPool, EnvPool (the envpool package) and Gymnasium's
vector envs, the same envs, sizes, thread counts and modes in one run (bench/peers/run.sh).

    env_stepping.py MNEMO_BUILD_DIR OUT.jsonl [--seconds S]

For CartPole-v1 and Pendulum-v1 at 64, 256, 1024 and 4096 envs, uniformly random actions drawn
before timing:
- mnemo: bench_envs_pool (synchronous at 1 and 2 threads, asynchronous at 2 threads with batches
  of a quarter of the envs), driven from C++;
- envpool: the same three modes (num_threads 1 / 2, batch_size = num_envs / num_envs // 4 with
  send/recv), driven from Python, its native interface;
- gymnasium: SyncVectorEnv (one thread), and AsyncVectorEnv at 64 envs only (one process per env,
  so 2 cores cannot hold more).
Writes one JSON line per measurement and prints a table of mnemo / peer ratios.
"""
import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np

ENVS = {"CartPole-v1": "cartpole", "Pendulum-v1": "pendulum"}
SIZES = [64, 256, 1024, 4096]


def actions_for(space, rows, rng, count=16):
    if hasattr(space, "n"):
        return [rng.integers(0, int(space.n), size=rows).astype(np.int32) for _ in range(count)]
    low, high = space.low, space.high
    return [rng.uniform(low, high, size=(rows,) + space.shape).astype(np.float32) for _ in range(count)]


def timed(step, actions, rows, seconds):
    for i in range(10):
        step(actions[i % len(actions)])
    steps, k, t0 = 0, 0, time.perf_counter()
    while True:
        for _ in range(16):
            step(actions[k % len(actions)])
            k += 1
        steps += 16 * rows
        elapsed = time.perf_counter() - t0
        if elapsed >= seconds:
            return steps / elapsed


def envpool_runs(env_id, n, seconds):
    import envpool

    out = []
    for mode, threads in (("sync", 1), ("sync", 2), ("async", 2)):
        batch = n if mode == "sync" else n // 4
        e = envpool.make(env_id, env_type="gymnasium", num_envs=n, batch_size=batch, num_threads=threads, seed=1)
        rng = np.random.default_rng(1)
        acts = actions_for(e.action_space, batch, rng)
        if mode == "sync":
            e.reset()
            sps = timed(lambda a: e.step(a), acts, n, seconds)
        else:
            e.async_reset()
            state = {"ids": e.recv()[-1]["env_id"]}

            def step(a):
                e.send(a, state["ids"])
                state["ids"] = e.recv()[-1]["env_id"]
            sps = timed(step, acts, batch, seconds)
        e.close()
        out.append({"peer": "envpool", "version": envpool.__version__, "mode": mode, "threads": threads,
                    "batch": batch, "steps_per_s": sps})
    return out


def gymnasium_runs(env_id, n, seconds):
    import gymnasium as gym

    out = []
    kinds = [("SyncVectorEnv", gym.vector.SyncVectorEnv)] + ([("AsyncVectorEnv", gym.vector.AsyncVectorEnv)] if n <= 64 else [])
    for name, cls in kinds:
        e = cls([lambda: gym.make(env_id) for _ in range(n)])
        e.reset(seed=1)
        e.action_space.seed(1)
        acts = [e.action_space.sample() for _ in range(16)]
        sps = timed(lambda a: e.step(a), acts, n, seconds)
        e.close()
        out.append({"peer": "gymnasium." + name, "version": gym.__version__, "mode": "sync" if name[0] == "S" else "async",
                    "threads": 1 if name[0] == "S" else n, "batch": n, "steps_per_s": sps})
    return out


def mnemo_runs(build, name, n, seconds):
    exe = os.path.join(build, "bench", "bench_envs_pool")
    lines = subprocess.run([exe, "--envs", name, "--num-envs", str(n), "--seconds", str(seconds)],
                           capture_output=True, text=True, check=True).stdout.splitlines()
    out = []
    for line in lines:
        if line.startswith("{") and '"env"' in line:
            r = json.loads(line)
            out.append({"peer": "mnemo", "mode": r["mode"], "threads": r["threads"], "batch": r["batch"],
                        "steps_per_s": r["steps_per_s"]})
    return out


def main():
    p = argparse.ArgumentParser()
    p.add_argument("build")
    p.add_argument("out")
    p.add_argument("--seconds", type=float, default=1.0)
    a = p.parse_args()
    load = os.getloadavg()[0]
    rows = []
    with open(a.out, "a") as f:
        for env_id, name in ENVS.items():
            for n in SIZES:
                for r in mnemo_runs(a.build, name, n, a.seconds) + envpool_runs(env_id, n, a.seconds) + \
                        gymnasium_runs(env_id, n, a.seconds):
                    r.update({"bench": "peers_env_stepping", "env": env_id, "num_envs": n, "loadavg_1m": load})
                    f.write(json.dumps(r) + "\n")
                    rows.append(r)
                    print(json.dumps(r), flush=True)
    print("\nenv stepping, steps/s and mnemo / peer (load average at start %.2f)" % load)
    print("%-12s %5s %-9s %12s %12s %8s %14s %8s" % ("env", "envs", "mode", "mnemo", "envpool", "ratio",
                                                     "gym SyncVec", "ratio"))
    for env_id in ENVS:
        for n in SIZES:
            def pick(peer, mode, threads):
                return next((r["steps_per_s"] for r in rows if r["env"] == env_id and r["num_envs"] == n and
                             r["peer"] == peer and r["mode"] == mode and r["threads"] == threads), None)
            gym_sync = pick("gymnasium.SyncVectorEnv", "sync", 1)
            for mode, threads in (("sync", 1), ("sync", 2), ("async", 2)):
                m, e = pick("mnemo", mode, threads), pick("envpool", mode, threads)
                g = gym_sync if (mode, threads) == ("sync", 1) else None
                print("%-12s %5d %-9s %12.4g %12.4g %7.1fx %14s %8s" % (
                    env_id, n, "%s %dt" % (mode, threads), m, e, m / e, "%.4g" % g if g else "",
                    "%.0fx" % (m / g) if g else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
