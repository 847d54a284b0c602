"""Per-step inference of the recurrent policies: mnemo (bench_models_bench, LibTorch) against the
same models in PyTorch 2.x, one torch thread, in one run (bench/peers/run.sh).

    recurrent_inference.py MNEMO_BUILD_DIR OUT.jsonl

The models are bench_models_bench's, at matched size: a 16-float observation, an MLP encoder of
128 tanh units, 4 layers of width 128 (GTrXL with memory 128 and 512, 4 heads; AGaLiTe with
eta 8 and r 2; GaLiTe with eta 8; LSTM), and linear actor (4 logits) and critic heads. One step =
encoder, one recurrent step of every layer carrying its state, both heads, under inference mode.
The time is per step at batch 1 (steps 900 to 1000 of an episode) and at batch 64 (steps 300 to
400).

"The same models": GTrXL, AGaLiTe and GaLiTe are ported here op for op from core/models/gtrxl.cc
and agalite.cc, the LSTM is PyTorch's fused nn.LSTM. Each port loads the weights that
`bench_models_bench --export` wrote and must reproduce mnemo's step() outputs on 12 steps of 3
envs (to 1e-4) before it is timed; a model that does not is reported as a mismatch, not timed.
"""
import json
import math
import os
import subprocess
import sys
import tempfile
import time

import torch
from safetensors.torch import load_file
from torch import nn

OBS, D_MODEL, LAYERS, HEADS, ETA, R, ACTIONS, GATE_BIAS, EPS = 16, 128, 4, 4, 8, 2, 4, 2.0, 1e-5
D_HEAD = D_MODEL // HEADS
MODELS = {"gtrxl_m128": ("gtrxl", 128), "gtrxl_m512": ("gtrxl", 512), "agalite": ("agalite", 0),
          "galite": ("galite", 0), "lstm": ("lstm", 0)}


class Encoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.layers = nn.Sequential(nn.Linear(OBS, 128), nn.Tanh())

    def forward(self, obs):
        return self.layers(obs)


class Heads(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.actor, self.critic = nn.Linear(d, ACTIONS), nn.Linear(d, 1)

    def forward(self, x):
        return self.actor(x), self.critic(x).squeeze(-1)


class GruGate(nn.Module):
    def __init__(self, d, bias):
        super().__init__()
        for name in ("wr", "ur", "wz", "uz", "wg", "ug"):
            setattr(self, name, nn.Linear(d, d, bias=False))
        self.bg = nn.Parameter(torch.full((d,), bias))

    def forward(self, x, y):
        r = torch.sigmoid(self.wr(y) + self.ur(x))
        z = torch.sigmoid(self.wz(y) + self.uz(x) - self.bg)
        h = torch.tanh(self.wg(y) + self.ug(r * x))
        return (1 - z) * x + z * h


class Block(nn.Module):
    """A GTrXL or (A)GaLiTe layer: Y = g1(E, ReLU(Attn(LN(E)))), E' = g2(Y, ReLU(f(LN(Y))))."""

    def __init__(self, attn):
        super().__init__()
        self.ln1, self.attn, self.gate1 = nn.LayerNorm(D_MODEL), attn, GruGate(D_MODEL, GATE_BIAS)
        self.ln2, self.ff1, self.ff2 = nn.LayerNorm(D_MODEL), nn.Linear(D_MODEL, D_MODEL), nn.Linear(D_MODEL, D_MODEL)
        self.gate2 = GruGate(D_MODEL, GATE_BIAS)

    def ff(self, y):
        return self.gate2(y, torch.relu(self.ff2(torch.relu(self.ff1(self.ln2(y))))))


class RelativeAttention(nn.Module):
    def __init__(self):
        super().__init__()
        hd = HEADS * D_HEAD
        self.q, self.kv = nn.Linear(D_MODEL, hd), nn.Linear(D_MODEL, 2 * hd)
        self.r, self.out = nn.Linear(D_MODEL, hd, bias=False), nn.Linear(hd, D_MODEL)

    def forward(self, queries, keys, rel, dist, allowed, u, v):
        B, T, K, H, D = queries.shape[0], queries.shape[1], keys.shape[1], HEADS, D_HEAD
        q = self.q(queries).view(B, T, H, D)
        k, val = self.kv(keys).view(B, K, H, 2 * D).chunk(2, -1)
        k, val = k.permute(0, 2, 3, 1), val.permute(0, 2, 1, 3)
        r = self.r(rel).view(K, H, D).permute(1, 2, 0)
        content = (q + u).permute(0, 2, 1, 3) @ k
        by_dist = (q + v).permute(0, 2, 1, 3) @ r
        position = by_dist.gather(3, dist.view(1, 1, T, K).expand(B, H, T, K))
        scores = (content + position) * (1.0 / math.sqrt(D))
        scores = scores.masked_fill(~allowed.unsqueeze(1), float("-inf"))
        y = (torch.softmax(scores, -1) @ val).permute(0, 2, 1, 3).reshape(B, T, H * D)
        return self.out(y)


def sinusoid_positions(n, d):
    angles = torch.arange(n, dtype=torch.float32)[:, None] * torch.pow(10000.0, -torch.arange(0, d, 2) / float(d))
    return torch.cat([torch.sin(angles), torch.cos(angles)], -1)[:, :d]


class Policy(nn.Module):
    """encoder -> core -> heads; step() is a one-step unroll without resets, as in mnemo."""

    def __init__(self):
        super().__init__()
        self.encoder = Encoder()

    def step(self, obs, state):
        first = torch.zeros(1, obs.shape[0], dtype=torch.bool)
        out, state = self.core(self.encoder(obs)[None], first, state)
        params, value = self.heads(out[0])
        return params, value, state


class GTrXL(Policy):
    def __init__(self, memory):
        super().__init__()
        self.memory = memory
        self.embed = nn.Linear(128, D_MODEL)
        self.u, self.v = nn.Parameter(torch.zeros(HEADS, D_HEAD)), nn.Parameter(torch.zeros(HEADS, D_HEAD))
        self.blocks = [Block(RelativeAttention()) for _ in range(LAYERS)]
        for l, b in enumerate(self.blocks):
            self.add_module("layer%d" % l, b)
        self.heads = Heads(D_MODEL)

    def initial_state(self, batch):
        return [torch.zeros(batch, LAYERS, self.memory, D_MODEL), torch.zeros(batch, self.memory)]

    def core(self, features, first, state):
        T, B, M = features.shape[0], features.shape[1], self.memory
        K = M + T
        j, i = torch.arange(K), torch.arange(T)[:, None] + M
        t_idx = torch.arange(T)[:, None].expand(T, B)
        last_first = torch.cummax(torch.where(first, t_idx, torch.full_like(t_idx, -1)), 0).values
        start = torch.where(last_first >= 0, last_first + M, torch.zeros_like(last_first)).t()
        key_ok = torch.cat([state[1] > 0.5, torch.ones(B, T, dtype=torch.bool)], 1)
        window = (j[None] <= i) & (j[None] >= i - M)
        allowed = window[None] & (j.view(1, 1, K) >= start[:, :, None]) & key_ok[:, None]
        dist = (i - j[None]).clamp(0, K - 1)
        rel = sinusoid_positions(K, D_MODEL)
        x = torch.relu(self.embed(features)).transpose(0, 1)
        new_memory = []
        for l, b in enumerate(self.blocks):
            mem_l = state[0][:, l]
            new_memory.append(torch.cat([mem_l, x], 1)[:, T:T + M])
            full = b.ln1(torch.cat([mem_l, x], 1))
            y = b.gate1(x, torch.relu(b.attn(full[:, M:], full, rel, dist, allowed, self.u, self.v)))
            x = b.ff(y)
        valid = ((j[None] >= start[:, T - 1:T]) & key_ok)[:, T:T + M].float()
        return x.transpose(0, 1), [torch.stack(new_memory, 1) * valid.view(B, 1, M, 1), valid]


def expand(a, p):
    return (p.unsqueeze(-1) * a.unsqueeze(-2)).flatten(-2)


class GatedLinearAttention(nn.Module):
    def __init__(self, r):
        super().__init__()
        self.r = r
        self.kqvbg = nn.Linear(D_MODEL, 5 * HEADS * D_HEAD)
        self.p = nn.Linear(D_MODEL, 3 * HEADS * ETA)
        self.out = nn.Linear(HEADS * D_HEAD, D_MODEL)

    def forward(self, x, keep, osc, state):
        T, B, H, D = x.shape[0], x.shape[1], HEADS, D_HEAD
        proj = self.kqvbg(x).view(T, B, H, 5 * D).chunk(5, -1)
        p = self.p(x).view(T, B, H, 3 * ETA).chunk(3, -1)
        keys = expand(torch.relu(proj[0]), torch.relu(p[0]))
        queries = expand(torch.relu(proj[1]), torch.relu(p[1]))
        gamma = expand(torch.sigmoid(proj[4]), torch.sigmoid(p[2]))
        beta = torch.sigmoid(proj[3])
        kept = keep.view(T, B, 1, 1)
        kg, vb = (keys * gamma).unbind(0), (proj[2] * beta).unbind(0)
        key_decay, value_decay = ((1 - gamma) * kept).unbind(0), ((1 - beta) * kept).unbind(0)
        qs, outs = queries.unbind(0), []
        if self.r == 0:
            C, s = state
            for t in range(T):
                C = C * (value_decay[t].unsqueeze(-1) * key_decay[t].unsqueeze(-2)) + vb[t].unsqueeze(-1) * kg[t].unsqueeze(-2)
                s = s * key_decay[t] + kg[t]
                num = (C @ qs[t].unsqueeze(-1)).squeeze(-1)
                outs.append(num / ((s * qs[t]).sum(-1, keepdim=True) + EPS))
            state = [C, s]
        else:
            kt, vt, s = state
            oscs = osc.unbind(0)
            for t in range(T):
                o_t = oscs[t].view(B, self.r, 1, 1)
                kt = kt * key_decay[t].unsqueeze(1) + o_t * kg[t].unsqueeze(1)
                vt = vt * value_decay[t].unsqueeze(1) + o_t * vb[t].unsqueeze(1)
                s = s * key_decay[t] + kg[t]
                num = (vt * (kt * qs[t].unsqueeze(1)).sum(-1, keepdim=True)).sum(1)
                outs.append(num / (2.0 * self.r * (s * qs[t]).sum(-1, keepdim=True) + EPS))
            state = [kt, vt, s]
        return self.out(torch.stack(outs).view(T, B, H * D)), state


class GaLiTe(Policy):
    def __init__(self, approximate):
        super().__init__()
        self.r = R if approximate else 0
        self.embed = nn.Linear(128, D_MODEL)
        self.blocks = [Block(GatedLinearAttention(self.r)) for _ in range(LAYERS)]
        for l, b in enumerate(self.blocks):
            self.add_module("layer%d" % l, b)
        self.heads = Heads(D_MODEL)

    def initial_state(self, batch):
        ed = ETA * D_HEAD
        if self.r == 0:
            return [torch.zeros(batch, LAYERS, HEADS, D_HEAD, ed), torch.zeros(batch, LAYERS, HEADS, ed)]
        return [torch.zeros(batch, LAYERS, self.r, HEADS, ed), torch.zeros(batch, LAYERS, self.r, HEADS, D_HEAD),
                torch.zeros(batch, LAYERS, HEADS, ed), torch.ones(batch, 1)]

    def core(self, features, first, state):
        T = features.shape[0]
        keep = (~first).float()
        osc, tick = None, None
        if self.r:
            period = 2.0 * max(self.r - 1, 1)
            tick, ticks = state[3].squeeze(1), []
            for t in range(T):
                tick = torch.fmod(torch.where(first[t], torch.ones_like(tick), tick) + 1.0, period)
                ticks.append(tick)
            osc = torch.cos(torch.stack(ticks).unsqueeze(-1) * torch.linspace(-math.pi, math.pi, self.r))
        x, finals = torch.relu(self.embed(features)), []
        for l, b in enumerate(self.blocks):
            a, layer_state = b.attn(b.ln1(x), keep, osc, [st[:, l] for st in state[:3 if self.r else 2]])
            x = b.ff(b.gate1(x, torch.relu(a)))
            finals.append(layer_state)
        out = [torch.stack([f[k] for f in finals], 1) for k in range(len(finals[0]))]
        return x, out + ([tick[:, None]] if self.r else [])


class Lstm(Policy):
    """PyTorch's fused nn.LSTM; mnemo's single ih bias is its bias_ih, bias_hh stays 0."""

    def __init__(self):
        super().__init__()
        self.lstm = nn.LSTM(128, D_MODEL, num_layers=LAYERS)
        self.heads = Heads(D_MODEL)

    def initial_state(self, batch):
        return (torch.zeros(LAYERS, batch, D_MODEL), torch.zeros(LAYERS, batch, D_MODEL))

    def core(self, features, first, state):
        return self.lstm(features, state)

    def load_mnemo(self, weights):
        ours = {k: v for k, v in weights.items() if not k.startswith("lstm")}
        for l in range(LAYERS):
            ours["lstm.weight_ih_l%d" % l] = weights["lstm%d.ih.weight" % l]
            ours["lstm.bias_ih_l%d" % l] = weights["lstm%d.ih.bias" % l]
            ours["lstm.weight_hh_l%d" % l] = weights["lstm%d.hh.weight" % l]
            ours["lstm.bias_hh_l%d" % l] = torch.zeros(4 * D_MODEL)
        self.load_state_dict(ours, strict=True)


def build(name):
    kind, memory = MODELS[name]
    return {"gtrxl": lambda: GTrXL(memory), "agalite": lambda: GaLiTe(True), "galite": lambda: GaLiTe(False),
            "lstm": Lstm}[kind]()


def load_checked(name, path):
    """The port with mnemo's weights, and the largest difference from mnemo's outputs."""
    tensors = load_file(path)
    model = build(name).eval()
    weights = {k: v for k, v in tensors.items() if not k.startswith("check.")}
    if isinstance(model, Lstm):
        model.load_mnemo(weights)
    else:
        model.load_state_dict(weights, strict=True)
    obs = tensors["check.obs"]
    state, diff = model.initial_state(obs.shape[1]), 0.0
    with torch.inference_mode():
        for t in range(obs.shape[0]):
            params, value, state = model.step(obs[t], state)
            diff = max(diff, (params - tensors["check.params"][t]).abs().max().item(),
                       (value - tensors["check.value"][t]).abs().max().item())
    return model, diff


def per_step_us(model, batch, warm, timed):
    obs = torch.randn(batch, OBS)
    state = model.initial_state(batch)
    with torch.inference_mode():
        for _ in range(warm):
            _, _, state = model.step(obs, state)
        t0 = time.perf_counter()
        for _ in range(timed):
            _, _, state = model.step(obs, state)
        return (time.perf_counter() - t0) / timed * 1e6


def main():
    build_dir, out = sys.argv[1], sys.argv[2]
    torch.set_num_threads(1)
    torch.manual_seed(0)
    load = os.getloadavg()[0]
    exe = os.path.join(build_dir, "bench", "bench_models_bench")
    rows = []
    with tempfile.TemporaryDirectory() as export:
        subprocess.run([exe, "--export", export], check=True, capture_output=True)
        lines = subprocess.run([exe], capture_output=True, text=True, check=True).stdout.splitlines()
        mnemo = {r["model"]: r for r in (json.loads(l) for l in lines if l.startswith("{"))}
        for name in MODELS:
            model, diff = load_checked(name, os.path.join(export, name + ".safetensors"))
            r = {"bench": "peers_recurrent_inference", "model": name, "peer": "pytorch", "version": torch.__version__,
                 "max_abs_diff": diff, "mnemo_step_us_b1": mnemo[name]["step_us_b1"],
                 "mnemo_step_us_b64": mnemo[name]["step_us_b64"], "loadavg_1m": load}
            if diff <= 1e-4:
                r["pytorch_step_us_b1"] = per_step_us(model, 1, 900, 100)
                r["pytorch_step_us_b64"] = per_step_us(model, 64, 300, 100)
            else:
                r["error"] = "the PyTorch port does not reproduce mnemo's outputs (max abs diff %.3g)" % diff
            rows.append(r)
            print(json.dumps(r), flush=True)
    with open(out, "a") as f:
        for r in rows:
            f.write(json.dumps(r) + "\n")
    print("\nRecurrent policy step, microseconds (1 torch thread, load average at start %.2f)" % load)
    print("%-12s %10s %10s %10s %12s %12s %12s" % ("model", "max diff", "mnemo b1", "PyTorch b1", "PyT/mnemo b1",
                                                   "mnemo b64", "PyTorch b64") + " PyT/mnemo b64")
    for r in rows:
        if "error" in r:
            print("%-12s %10.2g  %s" % (r["model"], r["max_abs_diff"], r["error"]))
            continue
        print("%-12s %10.2g %10.1f %10.1f %11.2fx %12.1f %12.1f %12.2fx" % (
            r["model"], r["max_abs_diff"], r["mnemo_step_us_b1"], r["pytorch_step_us_b1"],
            r["pytorch_step_us_b1"] / r["mnemo_step_us_b1"], r["mnemo_step_us_b64"], r["pytorch_step_us_b64"],
            r["pytorch_step_us_b64"] / r["mnemo_step_us_b64"]))
    return 0 if all("error" not in r for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
