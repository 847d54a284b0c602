"""Environments that implement the Gymnasium API without depending on gymnasium: the bridge's
test targets, and examples of what a served env needs (observation_space, action_space,
reset(seed=...) -> (obs, info), step(action) -> (obs, reward, terminated, truncated, info),
render() with render_mode "rgb_array", close()).

    python3 -m mnemo_envs.server --env mnemo_envs.examples:cartpole --bind ipc:///tmp/cartpole.sock
"""
import math
import os
import time

import numpy as np

from . import spaces


class CartPole:
    """Gymnasium's CartPole-v1 (the same dynamics, bounds, reward and 500-step truncation) in plain
    Python. With masked=True only the position and the angle are observed (POPGym's stateless
    CartPole, SB3-contrib's NoVel): the velocities must be remembered. For failure tests, die_at
    > 0 makes the process exit (code 3) at that step of a copy's life, once only when die_once
    names a file (which the death creates)."""

    def __init__(self, masked=False, max_episode_steps=500, render_mode=None, die_at=0, die_once=""):
        self.gravity, self.masscart, self.masspole, self.length = 9.8, 1.0, 0.1, 0.5
        self.total_mass = self.masscart + self.masspole
        self.polemass_length = self.masspole * self.length
        self.force_mag, self.tau = 10.0, 0.02
        self.theta_threshold = 12 * 2 * math.pi / 360
        self.x_threshold = 2.4
        self.masked = masked
        self.max_episode_steps = max_episode_steps
        self.render_mode = render_mode
        high = np.array([self.x_threshold * 2, np.finfo(np.float32).max, self.theta_threshold * 2,
                         np.finfo(np.float32).max], dtype=np.float32)
        if masked:
            high = high[[0, 2]]
        self.observation_space = spaces.Box(-high, high, dtype=np.float32)
        self.action_space = spaces.Discrete(2)
        self.state = None
        self.steps = 0
        self.rng = np.random.default_rng()
        self.die_at, self.die_once, self.life_steps = die_at, die_once, 0

    def _obs(self):
        s = np.array(self.state, dtype=np.float32)
        return s[[0, 2]] if self.masked else s

    def reset(self, seed=None, options=None):
        if seed is not None:
            self.rng = np.random.default_rng(seed)
        self.state = self.rng.uniform(low=-0.05, high=0.05, size=(4,))
        self.steps = 0
        return self._obs(), {}

    def step(self, action):
        if not (0 <= int(action) < 2):
            raise ValueError("action %r is outside Discrete(2)" % (action,))
        self.life_steps += 1
        if self.die_at and self.life_steps == self.die_at and not (self.die_once and os.path.exists(self.die_once)):
            if self.die_once:
                open(self.die_once, "w").close()
            os._exit(3)
        x, x_dot, theta, theta_dot = self.state
        force = self.force_mag if int(action) == 1 else -self.force_mag
        costheta, sintheta = math.cos(theta), math.sin(theta)
        temp = (force + self.polemass_length * theta_dot ** 2 * sintheta) / self.total_mass
        thetaacc = (self.gravity * sintheta - costheta * temp) / (
            self.length * (4.0 / 3.0 - self.masspole * costheta ** 2 / self.total_mass))
        xacc = temp - self.polemass_length * thetaacc * costheta / self.total_mass
        x = x + self.tau * x_dot
        x_dot = x_dot + self.tau * xacc
        theta = theta + self.tau * theta_dot
        theta_dot = theta_dot + self.tau * thetaacc
        self.state = (x, x_dot, theta, theta_dot)
        self.steps += 1
        terminated = bool(x < -self.x_threshold or x > self.x_threshold or theta < -self.theta_threshold
                          or theta > self.theta_threshold)
        truncated = self.steps >= self.max_episode_steps and not terminated
        return self._obs(), 1.0, terminated, truncated, {}

    def render(self):
        """A 100x150 picture: the track, the cart and the pole."""
        frame = np.full((100, 150, 3), 255, dtype=np.uint8)
        frame[70, :] = 0
        x, _, theta, _ = self.state
        cx = int(75 + x / self.x_threshold * 60)
        frame[62:70, max(cx - 10, 0):min(cx + 10, 150)] = (40, 40, 200)
        for t in np.linspace(0, 1, 40):
            px = int(cx + t * 50 * math.sin(theta))
            py = int(62 - t * 50 * math.cos(theta))
            if 0 <= px < 150 and 0 <= py < 100:
                frame[py, px] = (200, 120, 40)
        return frame

    def close(self):
        pass


def cartpole(**kwargs):
    return CartPole(**kwargs)


def masked_cartpole(**kwargs):
    return CartPole(masked=True, **kwargs)


class Spaces:
    """Every space kind the bridge maps, for tests: a Dict observation with a uint8 image, a
    Discrete, a MultiDiscrete, a MultiBinary and a Tuple; a Tuple action of Discrete and
    MultiDiscrete. Episodes are random walks of a counter, deterministic in the seed and the
    actions; `length` steps truncate, reaching `goal` terminates. `die_at` / `hang_at` / `raise_at`
    steps (counted over the copy's life, which begins with the server's info probe, one step of
    copy 0) exit the process, hang, or raise, for failure tests."""

    def __init__(self, length=7, goal=5, die_at=0, hang_at=0, raise_at=0, render_mode=None):
        self.observation_space = spaces.Dict({
            "image": spaces.Box(0, 255, shape=(4, 4, 3), dtype=np.uint8),
            "count": spaces.Discrete(8),
            "pair": spaces.Tuple([spaces.MultiDiscrete([3, 4], start=[1, 1]), spaces.MultiBinary(2)]),
            "level": spaces.Box(-1.0, 1.0, shape=(2,), dtype=np.float64),
        })
        self.action_space = spaces.Tuple([spaces.Discrete(3, start=-1), spaces.MultiDiscrete([2, 2])])
        self.length, self.goal = length, goal
        self.die_at, self.hang_at, self.raise_at = die_at, hang_at, raise_at
        self.render_mode = render_mode
        self.life_steps = 0
        self.count = 0
        self.t = 0
        self.rng = np.random.default_rng()

    def _obs(self):
        image = np.full((4, 4, 3), self.count * 30, dtype=np.uint8)
        image[0, 0] = (self.t * 10) % 256
        return {"image": image, "count": self.count % 8,
                "pair": (np.array([1 + self.count % 3, 1 + self.t % 4]), np.array([self.t % 2, 1], dtype=np.int8)),
                "level": np.array([self.count / 8.0, -self.t / 8.0])}

    def reset(self, seed=None, options=None):
        if seed is not None:
            self.rng = np.random.default_rng(seed)
        self.count = int(self.rng.integers(0, 3))
        self.t = 0
        return self._obs(), {"start": self.count, "note": "not numeric"}

    def step(self, action):
        move, extra = action
        self.life_steps += 1
        if self.die_at and self.life_steps >= self.die_at:
            os._exit(3)
        if self.hang_at and self.life_steps >= self.hang_at:
            time.sleep(3600)
        if self.raise_at and self.life_steps >= self.raise_at:
            raise RuntimeError("the env failed on purpose at step %d" % self.life_steps)
        self.count = max(0, self.count + int(move) + int(self.rng.integers(0, 2)))
        self.t += 1
        terminated = self.count >= self.goal
        truncated = self.t >= self.length and not terminated
        reward = float(self.count) + 0.5 * float(np.sum(extra))
        return self._obs(), reward, terminated, truncated, {"success": terminated, "t": self.t, "vec": [1, 2]}

    def render(self):
        frame = np.zeros((8, 12, 3), dtype=np.uint8)
        frame[:, : self.count + 1] = (255, 0, 0)
        return frame

    def close(self):
        pass


def spaces_demo(**kwargs):
    return Spaces(**kwargs)


class MultiChoice:
    """A MultiDiscrete action to learn: the observation shows one target per component (one-hot,
    `nvec` of them side by side); each step pays the fraction of components whose action equals
    its target, and new targets are drawn. `length` steps truncate. A uniformly random policy earns
    the mean of 1/n over the components per step; the best policy earns 1."""

    def __init__(self, nvec=(3, 4), length=10, render_mode=None):
        self.nvec = [int(n) for n in nvec]
        self.observation_space = spaces.Box(0.0, 1.0, shape=(sum(self.nvec),), dtype=np.float32)
        self.action_space = spaces.MultiDiscrete(self.nvec)
        self.length, self.render_mode = length, render_mode
        self.rng = np.random.default_rng()
        self.t, self.targets = 0, [0] * len(self.nvec)

    def _obs(self):
        obs = np.zeros(sum(self.nvec), dtype=np.float32)
        at = 0
        for n, target in zip(self.nvec, self.targets):
            obs[at + target] = 1.0
            at += n
        return obs

    def _draw(self):
        self.targets = [int(self.rng.integers(0, n)) for n in self.nvec]

    def reset(self, seed=None, options=None):
        if seed is not None:
            self.rng = np.random.default_rng(seed)
        self.t = 0
        self._draw()
        return self._obs(), {}

    def step(self, action):
        hits = sum(int(a) == t for a, t in zip(action, self.targets))
        self.t += 1
        self._draw()
        return self._obs(), hits / len(self.nvec), False, self.t >= self.length, {"hits": hits}

    def render(self):
        frame = np.zeros((8, 8 * len(self.nvec), 3), dtype=np.uint8)
        for k, t in enumerate(self.targets):
            frame[:, 8 * k: 8 * k + 8] = (40 * t, 255 - 40 * t, 0)
        return frame

    def close(self):
        pass


def multi_choice(**kwargs):
    return MultiChoice(**kwargs)


class Text:
    """A space mnemo cannot represent (gymnasium.spaces.Text has this name), for tests."""

    def __repr__(self):
        return "Text(5)"


class Unsupported(Spaces):
    """Spaces mnemo refuses: `which` is "observation" (a Text field) or "action" (a Tuple mixing a
    Discrete and a Box)."""

    def __init__(self, which="action", **kwargs):
        super().__init__(**kwargs)
        if which == "observation":
            self.observation_space = spaces.Dict({"name": Text(), "count": spaces.Discrete(8)})
        else:
            self.action_space = spaces.Tuple([spaces.Discrete(2), spaces.Box(-1.0, 1.0, shape=(2,))])


def unsupported(**kwargs):
    return Unsupported(**kwargs)
