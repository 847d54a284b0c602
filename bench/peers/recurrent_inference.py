"""Per-step inference of the LSTM policy: mnemo (bench_models_bench, LibTorch) against the same
network in PyTorch 2.x, one torch thread, in one run (bench/peers/run.sh).

    recurrent_inference.py MNEMO_BUILD_DIR OUT.jsonl

The network is bench_models_bench's: a 16-float observation, an MLP encoder of 128 tanh units, 4
LSTM layers of 128, and actor (4 logits) and critic heads of two 64-unit tanh layers each. One step
= encoder, one LSTM step per layer carrying (h, c), both heads, under inference mode. The time is
per step at batch 1 (steps 900 to 1000 of an episode) and batch 64. PyTorch uses its fused
nn.LSTM. mnemo writes its LSTM layer out (so that the state can restart inside a sequence) and
masks the state at episode starts at every step. GTrXL and AGaLiTe have no PyTorch counterpart
here yet.
"""
import json
import os
import subprocess
import sys
import time

import torch
from torch import nn


def mlp(inp, hidden, out):
    layers, prev = [], inp
    for h in hidden:
        layers += [nn.Linear(prev, h), nn.Tanh()]
        prev = h
    return nn.Sequential(*layers, nn.Linear(prev, out))


class LstmPolicy(nn.Module):
    def __init__(self):
        super().__init__()
        self.enc = nn.Sequential(nn.Linear(16, 128), nn.Tanh())
        self.lstm = nn.LSTM(128, 128, num_layers=4)
        self.actor = mlp(128, [64, 64], 4)
        self.critic = mlp(128, [64, 64], 1)

    def step(self, obs, state):
        out, state = self.lstm(self.enc(obs)[None], state)
        return self.actor(out[0]), self.critic(out[0]), state


def per_step_us(model, batch, warm, timed):
    obs = torch.randn(batch, 16)
    state = (torch.zeros(4, batch, 128), torch.zeros(4, batch, 128))
    with torch.inference_mode():
        for _ in range(warm):
            _, _, state = model.step(obs, state)
        t0 = time.perf_counter()
        for _ in range(timed):
            _, _, state = model.step(obs, state)
        return (time.perf_counter() - t0) / timed * 1e6


def main():
    build, out = sys.argv[1], sys.argv[2]
    torch.set_num_threads(1)
    torch.manual_seed(0)
    load = os.getloadavg()[0]
    lines = subprocess.run([os.path.join(build, "bench", "bench_models_bench")], capture_output=True, text=True,
                           check=True).stdout.splitlines()
    mnemo = next(json.loads(l) for l in lines if l.startswith("{") and '"model": "lstm"' in l)
    model = LstmPolicy().eval()
    b1 = per_step_us(model, 1, 900, 100)
    b64 = per_step_us(model, 64, 300, 100)
    r = {"bench": "peers_recurrent_inference", "model": "lstm", "peer": "pytorch", "version": torch.__version__,
         "pytorch_step_us_b1": b1, "pytorch_step_us_b64": b64, "mnemo_step_us_b1": mnemo["step_us_b1"],
         "mnemo_step_us_b64": mnemo["step_us_b64"], "loadavg_1m": load}
    with open(out, "a") as f:
        f.write(json.dumps(r) + "\n")
    print(json.dumps(r))
    print("\nLSTM policy step, microseconds (1 torch thread, load average at start %.2f)" % load)
    print("%-8s %10s %14s %16s" % ("batch", "mnemo", "PyTorch " + torch.__version__.split("+")[0], "PyTorch / mnemo"))
    for b, m, p in ((1, mnemo["step_us_b1"], b1), (64, mnemo["step_us_b64"], b64)):
        print("%-8d %10.1f %14.1f %15.2fx" % (b, m, p, p / m))
    return 0


if __name__ == "__main__":
    sys.exit(main())
