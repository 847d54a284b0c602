"""Replays what gym_bridge_test.cc's pool saw in Gymnasium's own loop and checks it equals.

    gym_reference.py DIR     (DIR: meta.json and the .bin arrays the test wrote)

For each env copy: env.reset(seed=its first seed), then each recorded action with env.step; where
the pool reported the end of an episode, the next seed's reset. Every observation (converted as
the bridge documents: float Box as float32, Discrete as one-hot), reward, terminated/truncated
flag and final observation must equal the pool's, bit for bit. Exit code 0 when they all do.
"""
import importlib
import json
import os
import sys

import gymnasium as gym
import numpy as np

DTYPES = {"float32": np.float32, "int64": np.int64, "uint8": np.uint8}


def make(env_id):
    if ":" in env_id:
        module, _, name = env_id.partition(":")
        fn = getattr(importlib.import_module(module), name, None)
        if callable(fn):
            return fn()
    return gym.make(env_id)


def as_field(env, obs):
    space = env.observation_space
    if type(space).__name__ == "Discrete":
        one_hot = np.zeros(space.n, dtype=np.float32)
        one_hot[int(obs) - int(space.start)] = 1
        return one_hot
    return np.asarray(obs, dtype=np.float32 if np.asarray(obs).dtype.kind == "f" else None)


def env_action(env, a):
    space = env.action_space
    if type(space).__name__ == "Box":
        return np.clip(a.reshape(space.shape), space.low, space.high).astype(space.dtype)
    return int(a) + int(getattr(space, "start", 0))


def main(folder):
    meta = json.load(open(os.path.join(folder, "meta.json")))
    n, steps = meta["num_envs"], meta["steps"]
    obs_shape, action_shape = tuple(meta["obs_shape"]), tuple(meta["action_shape"])
    obs_dtype, action_dtype = DTYPES[meta["obs_dtype"]], DTYPES[meta["action_dtype"]]

    def load(name, dtype, shape):
        return np.fromfile(os.path.join(folder, name + ".bin"), dtype=dtype).reshape(shape)

    actions = load("actions", action_dtype, (steps, n) + action_shape)
    obs = load("obs", obs_dtype, (steps + 1, n) + obs_shape)
    final_obs = load("final_obs", obs_dtype, (steps, n) + obs_shape)
    reward = load("reward", np.float32, (steps, n))
    terminated = load("terminated", np.uint8, (steps, n))
    truncated = load("truncated", np.uint8, (steps, n))
    failures = []
    episodes = 0
    for i in range(n):
        env = make(meta["id"])
        seeds = iter(meta["seeds"][i])
        o, _ = env.reset(seed=next(seeds))
        if not np.array_equal(as_field(env, o), obs[0, i]):
            failures.append("env %d: first observation %s, the pool saw %s" % (i, as_field(env, o), obs[0, i]))
        for t in range(steps):
            o, r, term, trunc, _ = env.step(env_action(env, actions[t, i]))
            want = (np.float32(r), bool(term), bool(trunc) and not bool(term))
            got = (reward[t, i], bool(terminated[t, i]), bool(truncated[t, i]))
            if want != got:
                failures.append("env %d step %d: reward, terminated, truncated %s, the pool saw %s" % (i, t, want, got))
                break
            if term or trunc:
                episodes += 1
                if not np.array_equal(as_field(env, o), final_obs[t, i]):
                    failures.append("env %d step %d: final observation differs" % (i, t))
                    break
                o, _ = env.reset(seed=next(seeds))
            if not np.array_equal(as_field(env, o), obs[t + 1, i]):
                failures.append("env %d step %d: observation %s, the pool saw %s" % (i, t, as_field(env, o), obs[t + 1, i]))
                break
        env.close()
    print("gym_reference: %s, %d envs x %d steps, %d episodes ended: %s" % (
        meta["id"], n, steps, episodes, "equal" if not failures else "%d differences" % len(failures)))
    for f in failures[:10]:
        print("  " + f)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
