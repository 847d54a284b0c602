"""PPO on CartPole-v1: wall-clock from launch to a mean return of 475, and env steps/s, for mnemo's
demo (launch/configs/cartpole_ppo.yaml) against CleanRL's PPO (bench/peers/vendor/cleanrl_ppo.py)
and Sample Factory, each with its own recommended CartPole settings and with settings matched to
mnemo's demo where the framework allows. PufferLib is tried and reported when it cannot install.

    bench/peers/ppo_cartpole.py BUILD OUT.jsonl [--seeds 1] [--first-seed 1] [--budget-s 300] [--only NAME]

Run with build/venv's Python; the peers' packages (gymnasium 0.29.1 and numpy 1.x, which CleanRL
and Sample Factory pin) are the overlay build/peers-ppo that scripts/python-venv.sh installs, put
first on PYTHONPATH for the peers only. Every run's mean return is read from its own logs: mnemo's
episode_return (episodes ended in each 5-update window of 2560 env steps), CleanRL's per-episode
returns averaged over the last 10, Sample Factory's reward/reward with --stats_avg 10. Times are
from the process launch (imports and env construction included) to the wall time of the first log
entry at or above 475; the peers are stopped there (or at --budget-s), mnemo's demo runs its 400k
steps in about 30 s. Env steps/s are the steps done over the wall-clock from launch.
"""
import argparse
import glob
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

SRC = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TARGET = 475.0


def scalars(logdir, tag):
    """(wall_time, step, value) of a TensorBoard tag in the event files under logdir."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    out = []
    files = [os.path.join(d, f) for d, _, names in os.walk(logdir) for f in names if f.startswith("events.out.tfevents.")]
    for f in sorted(files):  # os.walk, not glob: Sample Factory's summaries are under .summary/
        acc = EventAccumulator(f, size_guidance={"scalars": 0})
        acc.Reload()
        if tag in acc.Tags()["scalars"]:
            out += [(e.wall_time, e.step, e.value) for e in acc.Scalars(tag)]
    return sorted(out)


def first_at_target(points, launch):
    for wall, step, value in points:
        if value >= TARGET:
            return {"seconds_to_475": round(wall - launch, 2), "env_steps_to_475": int(step)}
    return {"seconds_to_475": None, "env_steps_to_475": None}


def peer_env(threads):
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    env["PYTHONPATH"] = os.path.join(BUILD, "peers-ppo") + (":" + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    if threads:
        env["OMP_NUM_THREADS"] = str(threads)
    return env


def run_mnemo(seed, work):
    launch = time.time()
    p = subprocess.run([os.path.join(BUILD, "mnemo"), "train", os.path.join(SRC, "launch/configs/cartpole_ppo.yaml"),
                        "--set", "run.dir=" + work, "--set", "run.seed=%d" % seed],
                       capture_output=True, text=True)
    end = time.time()
    if p.returncode != 0:
        return {"error": p.stderr[-2000:]}
    run = glob.glob(os.path.join(work, "*"))[0]
    rows = [json.loads(l) for l in open(os.path.join(run, "metrics.jsonl"))]
    res = first_at_target(scalars(run, "episode_return"), launch)
    res.update(env_steps=rows[-1]["env_steps"], seconds=round(end - launch, 2),
               steps_per_s=round(rows[-1]["env_steps"] / (end - launch)))
    return res


def run_cleanrl(seed, work, total, threads, budget):
    """CleanRL prints each episode's return; the run is stopped once the last 10 average 475."""
    cmd = [sys.executable, os.path.join(SRC, "bench/peers/vendor/cleanrl_ppo.py"), "--no-cuda", "--seed", str(seed),
           "--total-timesteps", str(total)]
    launch = time.time()
    p = subprocess.Popen(cmd, cwd=work, env=peer_env(threads), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                         text=True)
    pat = re.compile(r"global_step=(\d+), episodic_return=\[?([-\d.e+]+)")
    returns, res, step, tail = [], {"seconds_to_475": None, "env_steps_to_475": None}, 0, []
    for line in p.stdout:
        tail = (tail + [line])[-20:]
        m = pat.match(line)
        if m:
            step = int(m.group(1))
            returns.append(float(m.group(2)))
            if len(returns) >= 10 and sum(returns[-10:]) / 10 >= TARGET:
                res = {"seconds_to_475": round(time.time() - launch, 2), "env_steps_to_475": step}
                break
        if time.time() - launch > budget:
            break
    p.kill()
    p.wait()
    end = time.time()
    if step == 0:
        return {"error": "".join(tail)[-2000:]}
    res.update(env_steps=step, seconds=round(end - launch, 2), steps_per_s=round(step / (end - launch)))
    return res


SF_RECOMMENDED = [  # sf_examples/train_gym_env.py's own CartPole-v1 command line
    "--algo=APPO", "--use_rnn=False", "--num_envs_per_worker=20", "--policy_workers_per_policy=2", "--recurrence=1",
    "--with_vtrace=False", "--batch_size=512", "--reward_scale=0.1"]
SF_MATCHED = [  # mnemo's demo: 4 envs, unrolls of 128, 4 epochs of 4 minibatches, synchronous, MLP 64x64 tanh
    "--algo=APPO", "--async_rl=False", "--serial_mode=True", "--num_workers=1", "--num_envs_per_worker=4",
    "--worker_num_splits=1", "--rollout=128", "--batch_size=128", "--num_batches_per_epoch=4", "--num_epochs=4",
    "--use_rnn=False", "--recurrence=1", "--with_vtrace=False", "--learning_rate=2.5e-4", "--gamma=0.99",
    "--gae_lambda=0.95", "--ppo_clip_ratio=0.2", "--exploration_loss_coeff=0.01", "--value_loss_coeff=0.5",
    "--max_grad_norm=0.5", "--adam_eps=1e-5", "--actor_critic_share_weights=False", "--nonlinearity=tanh",
    "--encoder_mlp_layers", "64", "64", "--normalize_input=False", "--normalize_returns=False", "--reward_scale=1.0"]


def run_sample_factory(seed, work, flags, steps, budget):
    """Sample Factory writes reward/reward (the mean of its last --stats_avg episodes) every second;
    the harness reads the summaries as it goes and stops the run at 475."""
    cmd = [sys.executable, "-m", "sf_examples.train_gym_env", "--env=CartPole-v1", "--experiment=cp",
           "--train_dir=" + work, "--device=cpu", "--seed=%d" % seed, "--train_for_env_steps=%d" % steps,
           "--experiment_summaries_interval=1", "--stats_avg=10", "--save_every_sec=1000000"] + flags
    launch = time.time()
    with open(os.path.join(work, "out.txt"), "w") as log:
        p = subprocess.Popen(cmd, cwd=work, env=peer_env(0), stdout=log, stderr=subprocess.STDOUT,
                             start_new_session=True)
    while p.poll() is None and time.time() - launch < budget:
        time.sleep(2)  # polling a log, not a test: the crossing's time comes from the summaries' wall times
        if first_at_target(scalars(os.path.join(work, "cp"), "reward/reward"), launch)["seconds_to_475"] is not None:
            break
    os.killpg(p.pid, signal.SIGKILL)  # its workers too: Sample Factory runs them as processes of their own
    p.wait()
    end = time.time()
    points = scalars(os.path.join(work, "cp"), "reward/reward")
    if not points:
        return {"error": open(os.path.join(work, "out.txt")).read()[-2000:]}
    res = first_at_target(points, launch)
    res.update(env_steps=points[-1][1], seconds=round(end - launch, 2), steps_per_s=round(points[-1][1] / (end - launch)))
    return res


def try_pufferlib():
    """PufferLib 3.0 is a source package only, whose build reaches beyond PyPI: None when pip can
    get it, else why not."""
    d = tempfile.mkdtemp()
    try:
        p = subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--disable-pip-version-check",
                            "pufferlib==3.0.0", "-d", d], capture_output=True, text=True, timeout=300)
    except subprocess.TimeoutExpired:
        return "pip download pufferlib==3.0.0 did not finish within 300 s"
    finally:
        shutil.rmtree(d, ignore_errors=True)
    if p.returncode == 0:
        return None
    lines = [l.strip() for l in (p.stdout + p.stderr).splitlines() if "rror" in l or "URLError" in l]
    return "pip could not build pufferlib==3.0.0: " + " | ".join(lines[-4:])


def main():
    global BUILD
    ap = argparse.ArgumentParser()
    ap.add_argument("build")
    ap.add_argument("out")
    ap.add_argument("--seeds", type=int, default=1)
    ap.add_argument("--first-seed", type=int, default=1)
    ap.add_argument("--budget-s", type=float, default=300, help="longest run of a peer")
    ap.add_argument("--only", default="", help="run only the sides whose names contain this")
    a = ap.parse_args()
    BUILD = os.path.abspath(a.build)
    load = os.getloadavg()[0]
    sides = [
        ("mnemo demo (cartpole_ppo.yaml)", lambda s, w: run_mnemo(s, w)),
        ("CleanRL ppo.py, its defaults", lambda s, w: run_cleanrl(s, w, 500000, 0, a.budget_s)),
        ("CleanRL ppo.py, matched (400k steps, 1 torch thread)", lambda s, w: run_cleanrl(s, w, 400000, 1, a.budget_s)),
        ("Sample Factory, its CartPole example", lambda s, w: run_sample_factory(s, w, SF_RECOMMENDED, 2000000, a.budget_s)),
        ("Sample Factory, matched (sync, 4 envs, 128 x 4 x 4)",
         lambda s, w: run_sample_factory(s, w, SF_MATCHED, 400000, a.budget_s)),
    ]
    sides = [s for s in sides if a.only in s[0]]
    results = []
    for seed in range(a.first_seed, a.first_seed + a.seeds):
        for name, fn in sides:
            w = tempfile.mkdtemp(prefix="mnemo-peer-ppo-")
            try:
                r = fn(seed, w)
            finally:
                shutil.rmtree(w, ignore_errors=True)
            r.update(bench="peers_ppo_cartpole", side=name, seed=seed, loadavg_1m=round(load, 2))
            print(json.dumps(r), flush=True)
            results.append(r)
    why = try_pufferlib()
    if why:
        r = {"bench": "peers_ppo_cartpole", "side": "PufferLib 3.0.0", "error": why}
        print(json.dumps(r), flush=True)
        results.append(r)
    with open(a.out, "a") as f:
        for r in results:
            f.write(json.dumps(r) + "\n")
    ref = {r["seed"]: r["seconds_to_475"] for r in results if r["side"].startswith("mnemo")}  # per seed
    print("\nPPO CartPole-v1, %d seed(s), load average at start %.2f" % (a.seeds, load))
    print("%-54s %6s %10s %12s %10s %14s" % ("", "seed", "s to 475", "steps to 475", "steps/s", "peer/mnemo time"))
    for r in results:
        if "error" in r:
            print("%-54s not run: %s" % (r["side"], r["error"][-300:].replace("\n", " ")))
            continue
        t = r["seconds_to_475"]
        print("%-54s %6d %10s %12s %10d %14s" % (r["side"], r["seed"], t if t is not None else "not reached",
                                                 r["env_steps_to_475"] or "-", r["steps_per_s"],
                                                 "%.2fx" % (t / ref[r["seed"]]) if ref.get(r["seed"]) and t else "-"))


if __name__ == "__main__":
    main()
