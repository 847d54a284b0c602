"""Minari and h5py against mnemo's offline datasets (datasets_test.cc drives it).

    datasets_reference.py check-minari DATASET_ID EXPECTED.json
        minari.load_dataset(DATASET_ID) (under $MINARI_DATASETS_PATH) must hold exactly the
        episodes of EXPECTED.json, which mnemo wrote from the dataset it collected.
    datasets_reference.py write-minari DATASET_ID OUT.json
        Records CartPole-v1 episodes with Minari's own DataCollector and writes what the env loop
        saw to OUT.json, for mnemo to read the dataset and compare.
    datasets_reference.py write-d4rl FILE OUT.json
        Writes a D4RL-layout file with h5py (observations, actions, rewards, terminals, timeouts,
        infos/, metadata/: D4RL's key set) from a CartPole-v1 loop, and what it wrote to OUT.json.

Episodes in the JSON: {"observations": [[...] * (T + 1)], "actions", "rewards", "terminations",
"truncations"} (the last observation is the one after the final step).
"""
import json
import sys

import gymnasium as gym
import numpy as np


def cartpole_episodes(env, count, collector=None):
    env.action_space.seed(5)
    episodes = []
    for k in range(count):
        obs, _ = env.reset(seed=100 + k)
        ep = {"observations": [obs.tolist()], "actions": [], "rewards": [], "terminations": [], "truncations": []}
        done = False
        while not done:
            a = int(env.action_space.sample())
            obs, r, term, trunc, _ = env.step(a)
            for key, v in (("observations", obs.tolist()), ("actions", a), ("rewards", float(r)),
                           ("terminations", bool(term)), ("truncations", bool(trunc))):
                ep[key].append(v)
            done = term or trunc
        episodes.append(ep)
    return episodes


def check_minari(dataset_id, expected_path):
    import minari

    expected = json.load(open(expected_path))
    d = minari.load_dataset(dataset_id)
    failures = []
    got = list(d.iterate_episodes())
    if len(got) != len(expected) or d.total_episodes != len(expected):
        failures.append("%d episodes (total_episodes %d), expected %d" % (len(got), d.total_episodes, len(expected)))
    for i, (e, want) in enumerate(zip(got, expected)):
        for key, dtype in (("observations", np.float32), ("actions", np.int64), ("rewards", np.float32),
                           ("terminations", np.bool_), ("truncations", np.bool_)):
            a, b = np.asarray(getattr(e, key)), np.asarray(want[key], dtype=dtype)
            if a.shape != b.shape or not np.array_equal(a.astype(dtype), b):
                failures.append("episode %d %s: minari %s%s, mnemo %s%s" % (i, key, a.dtype, a.shape, b.dtype, b.shape))
    print("datasets_reference: minari.load_dataset(%r): %d episodes, %d steps, %s, %s: %s" % (
        dataset_id, d.total_episodes, d.total_steps, d.observation_space, d.action_space,
        "equal" if not failures else "%d differences" % len(failures)))
    for f in failures[:10]:
        print("  " + f)
    return 1 if failures else 0


def write_minari(dataset_id, out):
    from minari import DataCollector

    env = DataCollector(gym.make("CartPole-v1"), record_infos=False)
    episodes = cartpole_episodes(env, 6)
    env.create_dataset(dataset_id=dataset_id, algorithm_name="random", author="mnemo tests",
                       author_email="tests@mnemo", code_permalink="tests/interop", description="interop test")
    json.dump(episodes, open(out, "w"))
    return 0


def write_d4rl(path, out):
    import h5py

    episodes = cartpole_episodes(gym.make("CartPole-v1"), 6)
    rows = {k: [] for k in ("observations", "actions", "rewards", "terminals", "timeouts")}
    for ep in episodes:
        rows["observations"] += ep["observations"][:-1]
        rows["actions"] += ep["actions"]
        rows["rewards"] += ep["rewards"]
        rows["terminals"] += ep["terminations"]
        rows["timeouts"] += ep["truncations"]
    with h5py.File(path, "w") as f:
        f["observations"] = np.asarray(rows["observations"], dtype=np.float32)
        f["actions"] = np.asarray(rows["actions"], dtype=np.int64)
        f["rewards"] = np.asarray(rows["rewards"], dtype=np.float32)
        f["terminals"] = np.asarray(rows["terminals"], dtype=bool)
        f["timeouts"] = np.asarray(rows["timeouts"], dtype=bool)
        f["infos/step"] = np.arange(len(rows["rewards"]), dtype=np.float32)
        f["metadata/algorithm"] = "random"
        f["metadata/env"] = "CartPole-v1"
    json.dump(episodes, open(out, "w"))
    return 0


if __name__ == "__main__":
    mode, a, b = sys.argv[1:4]
    sys.exit({"check-minari": check_minari, "write-minari": write_minari, "write-d4rl": write_d4rl}[mode](a, b))
