"""The reference of bench_envs_gym_bridge: Gymnasium's own vector env stepping the same envs.

    python gym_vector.py --env CartPole-v1 --num-envs 64 --seconds 3 [--autoreset same_step]

Prints one JSON line: steps/s of gymnasium.vector.SyncVectorEnv with uniformly random actions
drawn before timing (as the mnemo side does), after a warm-up. Two rates: slots_per_s counts every
env of every step() call; steps_per_s counts the transitions, that is the slots where an env
stepped. With next_step autoreset (gymnasium's default) the call after an episode's end only
resets that env, so those slots are no transitions; with same_step, and on mnemo's side, every
slot is one.
"""
import argparse
import json
import time

import gymnasium as gym
import numpy as np


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--env", default="CartPole-v1")
    p.add_argument("--num-envs", type=int, default=64)
    p.add_argument("--seconds", type=float, default=3.0)
    p.add_argument("--autoreset", default="next_step", choices=["next_step", "same_step"])
    a = p.parse_args()
    kwargs = {}
    if a.autoreset == "same_step":
        kwargs["autoreset_mode"] = gym.vector.AutoresetMode.SAME_STEP
    envs = gym.vector.SyncVectorEnv([lambda: gym.make(a.env) for _ in range(a.num_envs)], **kwargs)
    envs.reset(seed=1)
    envs.action_space.seed(12345)
    actions = [envs.action_space.sample() for _ in range(16)]
    for i in range(20):
        _, _, terminated, truncated, _ = envs.step(actions[i % 16])
    slots, steps, k = 0, 0, 0
    # envs whose next slot is a reset (next_step mode)
    resetting = int(np.count_nonzero(terminated | truncated)) if a.autoreset == "next_step" else 0
    t0 = time.perf_counter()
    while True:
        for _ in range(16):
            _, _, terminated, truncated, _ = envs.step(actions[k % 16])
            k += 1
            steps += a.num_envs - resetting
            if a.autoreset == "next_step":
                resetting = int(np.count_nonzero(terminated | truncated))
        slots += 16 * a.num_envs
        elapsed = time.perf_counter() - t0
        if elapsed >= a.seconds:
            break
    print(json.dumps({"bench": "gym_vector", "env": a.env, "num_envs": a.num_envs, "autoreset": a.autoreset,
                      "gymnasium": gym.__version__, "steps_per_s": steps / elapsed, "slots_per_s": slots / elapsed}))


if __name__ == "__main__":
    main()
