#!/usr/bin/env python3
"""The Python reference of bench/representations_bench.cc: the run of
launch/configs/catch_memory.yaml (PPO, an IMPALA CNN with stacks of 16 and 16 channels and 64
features, a 64-wide LSTM, 16 envs, unrolls of 18 steps, 4 epochs x 4 minibatches of whole
sequences) written in plain PyTorch, stepping vectorised numpy Catch envs, on one thread as
mnemo's run.torch_threads 1. It prints one JSON line: env steps/s and where the time went.

    python3 bench/reference/ppo_catch.py --steps 20000 [--visible-rows 1]
"""
import argparse
import json
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


class Catch:
    """N bsuite Catch boards (10 x 5, 2 pixels per cell) stepped together, reset on termination."""

    def __init__(self, n, visible_rows, rng, rows=10, cols=5, cell=2):
        self.n, self.rows, self.cols, self.cell, self.visible = n, rows, cols, cell, visible_rows
        self.rng = rng
        self.ball_row = np.zeros(n, np.int64)
        self.ball_col = rng.integers(0, cols, n)
        self.paddle = np.full(n, cols // 2)

    def obs(self):
        c = self.cell
        img = np.zeros((self.n, self.rows * c, self.cols * c, 3), np.uint8)
        for i in range(self.n):
            if self.visible == 0 or self.ball_row[i] < self.visible:
                y, x = self.ball_row[i] * c, self.ball_col[i] * c
                img[i, y:y + c, x:x + c] = (230, 40, 40)
            y, x = (self.rows - 1) * c, self.paddle[i] * c
            top = c // 2 if (self.ball_row[i] == self.rows - 1 and self.ball_col[i] == self.paddle[i]) else 0
            img[i, y + top:y + c, x:x + c] = 255
        return img

    def step(self, actions):
        self.paddle = np.clip(self.paddle + actions - 1, 0, self.cols - 1)
        self.ball_row += 1
        done = self.ball_row == self.rows - 1
        reward = np.where(done, np.where(self.ball_col == self.paddle, 1.0, -1.0), 0.0).astype(np.float32)
        # Autoreset: the next observation starts a new episode.
        k = int(done.sum())
        self.ball_row[done] = 0
        self.ball_col[done] = self.rng.integers(0, self.cols, k)
        self.paddle[done] = self.cols // 2
        return self.obs(), reward, done


class Residual(nn.Module):
    def __init__(self, ch):
        super().__init__()
        self.c0 = nn.Conv2d(ch, ch, 3, padding=1)
        self.c1 = nn.Conv2d(ch, ch, 3, padding=1)

    def forward(self, x):
        return x + self.c1(F.relu(self.c0(F.relu(x))))


class Policy(nn.Module):
    def __init__(self, h, w, channels=(16, 16), features=64, hidden=64, actions=3):
        super().__init__()
        layers, c = [], 3
        for ch in channels:
            layers += [nn.Conv2d(c, ch, 3, padding=1), nn.MaxPool2d(3, 2, 1), Residual(ch), Residual(ch)]
            c = ch
            h, w = (h - 1) // 2 + 1, (w - 1) // 2 + 1
        self.stacks = nn.Sequential(*layers)
        self.fc = nn.Linear(c * h * w, features)
        self.lstm = nn.LSTMCell(features, hidden)
        self.actor = nn.Linear(hidden, actions)
        self.critic = nn.Linear(hidden, 1)

    def encode(self, obs):  # [N, H, W, 3] uint8 -> [N, features]
        x = obs.permute(0, 3, 1, 2).float() / 255.0
        return F.relu(self.fc(F.relu(self.stacks(x).flatten(1))))

    def unroll(self, obs, first, state):  # obs [T, B, H, W, 3], first [T, B]
        T, B = first.shape
        feats = self.encode(obs.reshape(T * B, *obs.shape[2:])).reshape(T, B, -1)
        h, c = state
        outs = []
        for t in range(T):
            keep = (~first[t]).float().unsqueeze(1)
            h, c = self.lstm(feats[t], (h * keep, c * keep))
            outs.append(h)
        out = torch.stack(outs)
        return self.actor(out), self.critic(out).squeeze(-1), (h, c)


def gae(rewards, values, dones, bootstrap, gamma=0.99, lam=0.95):
    T = rewards.shape[0]
    adv = torch.zeros_like(rewards)
    last = torch.zeros_like(bootstrap)
    for t in reversed(range(T)):
        nxt = bootstrap if t == T - 1 else values[t + 1]
        nonterminal = 1.0 - dones[t]
        delta = rewards[t] + gamma * nxt * nonterminal - values[t]
        last = delta + gamma * lam * nonterminal * last
        adv[t] = last
    return adv, adv + values


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--steps", type=int, default=20000)
    p.add_argument("--visible-rows", type=int, default=1)
    a = p.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(1)
    rng = np.random.default_rng(1)
    N, T, epochs, minibatches = 16, 18, 4, 4
    env = Catch(N, a.visible_rows, rng)
    policy = Policy(20, 10)
    opt = torch.optim.Adam(policy.parameters(), lr=5e-4, eps=1e-5)
    obs = torch.from_numpy(env.obs())
    first = torch.ones(N, dtype=torch.bool)
    state = (torch.zeros(N, 64), torch.zeros(N, 64))
    timing = {"env_s": 0.0, "inference_s": 0.0, "update_s": 0.0}
    steps, start = 0, time.perf_counter()
    while steps < a.steps:
        state0 = (state[0].clone(), state[1].clone())
        buf = {k: [] for k in ("obs", "first", "action", "logprob", "value", "reward", "done")}
        for _ in range(T):
            t0 = time.perf_counter()
            with torch.no_grad():
                logits, value, state = policy.unroll(obs.unsqueeze(0), first.unsqueeze(0), state)
                dist = torch.distributions.Categorical(logits=logits[0])
                action = dist.sample()
            t1 = time.perf_counter()
            next_obs, reward, done = env.step(action.numpy())
            timing["env_s"] += time.perf_counter() - t1
            timing["inference_s"] += t1 - t0
            for k, v in (("obs", obs), ("first", first), ("action", action), ("logprob", dist.log_prob(action)),
                         ("value", value[0]), ("reward", torch.from_numpy(reward)),
                         ("done", torch.from_numpy(done.astype(np.float32)))):
                buf[k].append(v)
            obs, first = torch.from_numpy(next_obs), torch.from_numpy(done)
        steps += N * T
        t0 = time.perf_counter()
        b = {k: torch.stack(v) for k, v in buf.items()}
        with torch.no_grad():
            _, boot, _ = policy.unroll(obs.unsqueeze(0), first.unsqueeze(0), state)
        adv, ret = gae(b["reward"], b["value"], b["done"], boot[0])
        for _ in range(epochs):
            for idx in torch.randperm(N).chunk(minibatches):
                logits, value, _ = policy.unroll(b["obs"][:, idx], b["first"][:, idx],
                                                 (state0[0][idx], state0[1][idx]))
                dist = torch.distributions.Categorical(logits=logits)
                logprob = dist.log_prob(b["action"][:, idx])
                ratio = (logprob - b["logprob"][:, idx]).exp()
                a_mb = adv[:, idx]
                a_mb = (a_mb - a_mb.mean()) / (a_mb.std() + 1e-8)
                pg = torch.max(-a_mb * ratio, -a_mb * ratio.clamp(0.8, 1.2)).mean()
                old_v = b["value"][:, idx]
                clipped = old_v + (value - old_v).clamp(-0.2, 0.2)
                v_loss = 0.5 * torch.max((value - ret[:, idx]) ** 2, (clipped - ret[:, idx]) ** 2).mean()
                loss = pg + 0.5 * v_loss - 0.01 * dist.entropy().mean()
                opt.zero_grad()
                loss.backward()
                nn.utils.clip_grad_norm_(policy.parameters(), 0.5)
                opt.step()
        timing["update_s"] += time.perf_counter() - t0
    total = time.perf_counter() - start
    print(json.dumps({"bench": "representations_python_reference", "env_steps": steps, "seconds": round(total, 3),
                      "steps_per_s": round(steps / total, 1), "torch": torch.__version__,
                      **{k: round(v / total, 3) for k, v in timing.items()}}))


if __name__ == "__main__":
    main()
