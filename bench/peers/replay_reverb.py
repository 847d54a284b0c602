"""Replay insert and sample: mnemo's replay service (bench_replay_throughput) against Reverb
(dm-reverb) with an equivalent table, over tcp loopback, in one run (bench/peers/run.sh).

    replay_reverb.py MNEMO_BUILD_DIR OUT.jsonl [--seconds S]
    (run with build/peers-reverb/bin/python: Reverb needs TensorFlow 2.15 and numpy 1.x)

The table on both sides: uniform sampler, FIFO remover, 512 items, a min-size rate limiter of 1
(mnemo's default for a uniform sampler; Reverb's MinSize(1)). Items are one uint8 array of 1 KiB
or 64 KiB; 1 and 4 clients; S seconds per measurement (default 2).

- insert: each client inserts item after item with at most 16 unacknowledged (mnemo:
  max_in_flight_inserts 16; Reverb: a TrajectoryWriter, one create_item per appended step, then
  flush(block_until_num_items=16)).
- sample: from a table prefilled with 512 items, each client takes batches of 8 with 32 items in
  flight (mnemo: prefetch 4 batches of 8; Reverb: its recommended TrajectoryDataset with
  max_in_flight_samples_per_worker 32, batched by 8).

What differs: mnemo's bench drives its C++ client from threads of the server's process; Reverb's
clients are Python, each in its own process (the GIL would serialise threads), with the server
in this process. Reverb always compresses chunks, so its items are random bytes (constant bytes
would compress to almost nothing); mnemo sends items uncompressed (its default), where the
content does not matter.
"""
import argparse
import json
import os
import subprocess
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
TABLE, MAX_SIZE, IN_FLIGHT, BATCH, PREFETCH_ITEMS = "t", 512, 16, 8, 32


def random_item(nbytes, seed):
    import numpy as np
    return np.random.default_rng(seed).integers(0, 256, nbytes, dtype=np.uint8)


def client_main(op, address, nbytes, seconds, seed):
    """One Reverb client process: sets up, prints "ready", waits for a line on stdin, runs
    `seconds`, prints {"n": items, "dt": seconds}."""
    import reverb
    import tensorflow as tf
    client = reverb.Client(address)
    if op == "insert":
        item = random_item(nbytes, seed)
        writer = client.trajectory_writer(num_keep_alive_refs=1)

        def one():
            writer.append({"obs": item})
            writer.create_item(TABLE, 1.0, {"obs": writer.history["obs"][-1]})
            writer.flush(block_until_num_items=IN_FLIGHT)
            return 1
    else:
        ds = reverb.TrajectoryDataset(address, TABLE, dtypes={"obs": tf.uint8}, shapes={"obs": tf.TensorShape([nbytes])},
                                      max_in_flight_samples_per_worker=PREFETCH_ITEMS).batch(BATCH)
        it = iter(ds)

        def one():
            return int(next(it).data["obs"].shape[0])
    one()  # connected and warm
    print("ready", flush=True)
    sys.stdin.readline()
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        n += one()
    if op == "insert":
        writer.flush()
        writer.close()
    dt = time.perf_counter() - t0
    print(json.dumps({"n": n, "dt": dt}), flush=True)


def reverb_rate(op, nbytes, clients, seconds):
    import reverb
    table = reverb.Table(TABLE, sampler=reverb.selectors.Uniform(), remover=reverb.selectors.Fifo(), max_size=MAX_SIZE,
                         rate_limiter=reverb.rate_limiters.MinSize(1))
    server = reverb.Server(tables=[table])
    address = "localhost:%d" % server.port
    try:
        if op == "sample":
            with reverb.Client(address).trajectory_writer(num_keep_alive_refs=1) as w:
                for i in range(MAX_SIZE):
                    w.append({"obs": random_item(nbytes, 1000 + i)})
                    w.create_item(TABLE, 1.0, {"obs": w.history["obs"][-1]})
                    w.flush(block_until_num_items=IN_FLIGHT)
                w.flush()
        procs = [subprocess.Popen([sys.executable, __file__, "--client", op, address, str(nbytes), str(seconds), str(c)],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True) for c in range(clients)]
        try:
            for p in procs:
                line = p.stdout.readline()
                if line.strip() != "ready":
                    raise RuntimeError("a Reverb client failed to start (exit %s)" % p.wait())
            for p in procs:
                p.stdin.write("go\n")
                p.stdin.flush()
            results = [json.loads(p.stdout.readline()) for p in procs]
            for p in procs:
                p.wait(timeout=60)
        finally:
            for p in procs:
                if p.poll() is None:
                    p.kill()
                    p.wait()
        return sum(r["n"] for r in results) / max(r["dt"] for r in results)
    finally:
        server.stop()


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "--client":
        op, address, nbytes, seconds, seed = sys.argv[2:7]
        client_main(op, address, int(nbytes), float(seconds), int(seed))
        return 0
    p = argparse.ArgumentParser()
    p.add_argument("build")
    p.add_argument("out")
    p.add_argument("--seconds", type=float, default=2.0)
    a = p.parse_args()
    load = os.getloadavg()[0]
    try:
        import importlib.metadata
        import reverb  # noqa: F401 (fails here when it cannot run)
        version = importlib.metadata.version("dm-reverb")
    except Exception as e:  # reported, never faked
        r = {"bench": "peers_replay", "peer": "reverb", "error": "%s: %s" % (type(e).__name__, e), "loadavg_1m": load}
        with open(a.out, "a") as f:
            f.write(json.dumps(r) + "\n")
        print("Reverb cannot run here: %s" % r["error"])
        return 1
    exe = os.path.join(a.build, "bench", "bench_replay_throughput")
    lines = subprocess.run([exe, "--transport", "tcp", "--seconds", str(a.seconds)], capture_output=True, text=True,
                           check=True).stdout.splitlines()
    mnemo = {(r["op"], r["item_bytes"], r["clients"]): r["items_per_s"]
             for r in (json.loads(l) for l in lines if l.startswith("{"))}
    rows = []
    for nbytes in (1024, 65536):
        for clients in (1, 4):
            for op in ("insert", "sample"):
                rv = reverb_rate(op, nbytes, clients, a.seconds)
                m = mnemo[("replay_" + op, nbytes, clients)]
                r = {"bench": "peers_replay", "peer": "reverb", "version": version, "op": op, "transport": "tcp",
                     "item_bytes": nbytes, "clients": clients, "mnemo_items_per_s": m, "reverb_items_per_s": rv,
                     "ratio": m / rv, "seconds": a.seconds, "loadavg_1m": load}
                rows.append(r)
                print(json.dumps(r), flush=True)
    with open(a.out, "a") as f:
        for r in rows:
            f.write(json.dumps(r) + "\n")
    print("\nReplay over tcp loopback, items/s (load average at start %.2f)" % load)
    print("%-8s %6s %8s %12s %14s %14s" % ("op", "item", "clients", "mnemo", "Reverb " + version, "mnemo / Reverb"))
    for r in rows:
        print("%-8s %5dK %8d %12.0f %14.0f %13.2fx" % (r["op"], r["item_bytes"] // 1024, r["clients"],
                                                       r["mnemo_items_per_s"], r["reverb_items_per_s"], r["ratio"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
