"""Decision Transformer training samples/s: mnemo's DT (bench_dt_train_bench, LibTorch) against a
plain PyTorch 2.x DT of the same shape and against TorchRL's DT, in one run (bench/peers/run.sh).

    dt_train.py MNEMO_BUILD_DIR OUT.jsonl [--seconds S]

Both sides: Chen et al.'s gym defaults (context K 20, 3 layers, 1 head, width 128, batch 64,
AdamW lr 1e-4 and weight decay 1e-4, dropout 0.1, gradient clip 0.25), 17-dimensional states and
6-dimensional box actions, windows sampled from a synthetic dataset of 200 episodes of 1000 steps,
one update = forward, MSE on the predicted actions, backward, clip, AdamW step. The PyTorch DT is
written here in the layout of the paper's code (return, state and action tokens with a timestep
embedding, a GPT-2 transformer from torch.nn, a tanh action head); thread settings match mnemo's
rows (torch intra-op threads 1 and 2). What differs: mnemo's backbone is its own GPT-2 (pre-LN
blocks with GELU); PyTorch's is nn.TransformerEncoder with norm_first and GELU, the same
arithmetic in other kernels.

TorchRL's side is its offline DT example's pipeline (sota-implementations/decision_transformer):
whole episodes in a TensorDictReplayBuffer, RandomCropTensorDict to windows of K, a DTActor (a
Hugging Face GPT2Model) in a ProbabilisticActor with a TanhDelta, DTLoss with the l2 loss, set to
the same shape (n_embd 128, 3 layers, 1 head, n_inner 512, GELU, dropout 0.1) and the same
optimiser as the other two (the example uses Adam with weight decay: the same cost). What differs:
TorchRL's DT has no timestep embedding (GPT-2's learned positions over the 3K tokens instead).
"""
import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np
import torch
from torch import nn

K, LAYERS, WIDTH, BATCH, SDIM, ADIM, EPISODES, LENGTH = 20, 3, 128, 64, 17, 6, 200, 1000


class DT(nn.Module):
    def __init__(self):
        super().__init__()
        self.ret = nn.Linear(1, WIDTH)
        self.state = nn.Linear(SDIM, WIDTH)
        self.action = nn.Linear(ADIM, WIDTH)
        self.time = nn.Embedding(LENGTH, WIDTH)
        self.ln = nn.LayerNorm(WIDTH)
        self.drop = nn.Dropout(0.1)
        block = nn.TransformerEncoderLayer(WIDTH, nhead=1, dim_feedforward=4 * WIDTH, dropout=0.1,
                                           activation="gelu", batch_first=True, norm_first=True)
        self.blocks = nn.TransformerEncoder(block, LAYERS, enable_nested_tensor=False)
        self.ln_f = nn.LayerNorm(WIDTH)
        self.head = nn.Sequential(nn.Linear(WIDTH, ADIM), nn.Tanh())
        self.register_buffer("mask", torch.triu(torch.full((3 * K, 3 * K), float("-inf")), diagonal=1))

    def forward(self, rtg, states, actions, timesteps):
        t = self.time(timesteps)
        x = torch.stack([self.ret(rtg) + t, self.state(states) + t, self.action(actions) + t], dim=2)
        x = self.drop(self.ln(x.reshape(x.shape[0], 3 * K, WIDTH)))
        h = self.ln_f(self.blocks(x, mask=self.mask, is_causal=True))
        return self.head(h.reshape(h.shape[0], K, 3, WIDTH)[:, :, 1])  # actions from state tokens


def samples_per_s(update, seconds):
    """Training samples/s of `update()` (one batch) over `seconds`, after 5 warm-up updates."""
    for _ in range(5):
        update()
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        update()
        n += 1
    return n * BATCH / (time.perf_counter() - t0)


def pytorch_samples_per_s(threads, seconds):
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    states = torch.from_numpy(rng.standard_normal((EPISODES * LENGTH, SDIM), dtype=np.float32))
    acts = torch.from_numpy(rng.uniform(-1, 1, (EPISODES * LENGTH, ADIM)).astype(np.float32))
    rtg = torch.from_numpy(rng.uniform(0, 1, (EPISODES * LENGTH, 1)).astype(np.float32))
    model = DT()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4, weight_decay=1e-4)
    offsets = torch.arange(K)

    def update():
        ep = torch.randint(0, EPISODES, (BATCH,))
        start = torch.randint(0, LENGTH - K, (BATCH,))
        rows = (ep * LENGTH + start)[:, None] + offsets
        timesteps = start[:, None] + offsets
        pred = model(rtg[rows], states[rows], acts[rows], timesteps)
        loss = ((pred - acts[rows]) ** 2).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 0.25)
        opt.step()

    return samples_per_s(update, seconds)


def torchrl_samples_per_s(threads, seconds):
    from tensordict import TensorDict
    from tensordict.nn import TensorDictModule
    from torchrl.data import Bounded, LazyTensorStorage, RandomSampler, TensorDictReplayBuffer
    from torchrl.envs.transforms import RandomCropTensorDict
    from torchrl.modules import DTActor, ProbabilisticActor, TanhDelta
    from torchrl.objectives import DTLoss

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    episodes = TensorDict({
        "observation_cat": torch.from_numpy(rng.standard_normal((EPISODES, LENGTH, SDIM), dtype=np.float32)),
        "action_cat": torch.from_numpy(rng.uniform(-1, 1, (EPISODES, LENGTH, ADIM)).astype(np.float32)),
        "return_to_go_cat": torch.from_numpy(rng.uniform(0, 1, (EPISODES, LENGTH, 1)).astype(np.float32)),
    }, batch_size=[EPISODES, LENGTH])
    buffer = TensorDictReplayBuffer(storage=LazyTensorStorage(EPISODES), sampler=RandomSampler(), batch_size=BATCH,
                                    transform=RandomCropTensorDict(sub_seq_len=K, sample_dim=-1))
    buffer.extend(episodes)
    config = DTActor.default_config()
    config.n_embd, config.n_layer, config.n_head, config.n_inner = WIDTH, LAYERS, 1, 4 * WIDTH
    config.activation, config.resid_pdrop, config.attn_pdrop = "gelu", 0.1, 0.1
    net = DTActor(state_dim=SDIM, action_dim=ADIM, transformer_config=config)
    low, high = -torch.ones(ADIM), torch.ones(ADIM)
    actor = ProbabilisticActor(spec=Bounded(low, high, (ADIM,)), in_keys=["param"], out_keys=["action"],
                               module=TensorDictModule(net, in_keys=["observation_cat", "action_cat", "return_to_go_cat"],
                                                       out_keys=["param"]),
                               distribution_class=TanhDelta, distribution_kwargs={"low": low, "high": high},
                               cache_dist=False, return_log_prob=False)
    loss_module = DTLoss(actor, loss_function="l2")
    loss_module.set_keys(action_target="action_cat")
    params = list(loss_module.actor_network_params.flatten_keys().values())
    opt = torch.optim.AdamW(params, lr=1e-4, weight_decay=1e-4)

    def update():
        batch = buffer.sample()
        opt.zero_grad(set_to_none=True)
        loss_module(batch)["loss"].backward()
        nn.utils.clip_grad_norm_(params, 0.25)
        opt.step()

    return samples_per_s(update, seconds)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("build")
    p.add_argument("out")
    p.add_argument("--seconds", type=float, default=3.0)
    a = p.parse_args()
    load = os.getloadavg()[0]
    exe = os.path.join(a.build, "bench", "bench_dt_train_bench")
    lines = subprocess.run([exe, str(a.seconds)], capture_output=True, text=True, check=True).stdout.splitlines()
    mnemo = [json.loads(line) for line in lines if line.startswith("{")]
    try:
        import importlib.metadata
        torchrl_version = importlib.metadata.version("torchrl")
        torchrl_error = None
    except Exception as e:  # reported, never faked
        torchrl_version, torchrl_error = None, "%s: %s" % (type(e).__name__, e)
    rows = []
    with open(a.out, "a") as f:
        for threads in (1, 2):
            sps = pytorch_samples_per_s(threads, a.seconds)
            # The same threads on both sides: PyTorch's wheel runs its BLAS (MKL) on torch's intra-op
            # threads, so mnemo's row with one OpenBLAS thread per torch thread count is the match.
            m = next((r["dt_samples_per_s"] for r in mnemo if r["torch_threads"] == threads and r["blas_threads"] == 1), None)
            for peer, version in (("pytorch", torch.__version__), ("torchrl", torchrl_version)):
                r = {"bench": "peers_dt_train", "peer": peer, "version": version, "torch_threads": threads,
                     "mnemo_samples_per_s": m, "loadavg_1m": load}
                try:
                    if peer == "torchrl" and torchrl_error:
                        raise RuntimeError(torchrl_error)
                    rate = sps if peer == "pytorch" else torchrl_samples_per_s(threads, a.seconds)
                    r.update({"peer_samples_per_s": rate, "ratio": m / rate if m else None})
                except Exception as e:  # TorchRL only: reported, never faked
                    if peer == "pytorch":
                        raise
                    torchrl_error = torchrl_error or "%s: %s" % (type(e).__name__, e)
                    r["error"] = torchrl_error
                f.write(json.dumps(r) + "\n")
                rows.append(r)
                print(json.dumps(r), flush=True)
    best = max(mnemo, key=lambda r: r["dt_samples_per_s"])
    print("\nDT training, samples/s (load average at start %.2f); mnemo with 1 BLAS thread (its best setting, %d torch /"
          " %d BLAS threads: %.1f)" % (load, best["torch_threads"], best["blas_threads"], best["dt_samples_per_s"]))
    print("%-14s %-22s %12s %12s %14s" % ("torch threads", "peer", "mnemo", "peer", "mnemo / peer"))
    for r in rows:
        name = "%s %s" % ("PyTorch" if r["peer"] == "pytorch" else "TorchRL", (r["version"] or "").split("+")[0])
        if "error" in r:
            print("%-14d %-22s %12.1f  cannot run: %s" % (r["torch_threads"], name, r["mnemo_samples_per_s"], r["error"]))
        else:
            print("%-14d %-22s %12.1f %12.1f %13.2fx" % (r["torch_threads"], name, r["mnemo_samples_per_s"],
                                                        r["peer_samples_per_s"], r["ratio"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
