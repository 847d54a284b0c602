"""A real TensorBoard serving a run directory: its HTTP API must return metrics.jsonl's values,
and (with --screenshot) Debian's headless Chromium takes a picture of the scalars page.

    tensorboard_serve.py RUN_DIR [--screenshot OUT.png] [--tags episode_return,policy_loss]

Starts `tensorboard --logdir RUN_DIR` on a free loopback port (the venv's TensorBoard), waits for
it with a deadline, asks /data/plugin/scalars/scalars for each tag and compares steps and values
(float32) with metrics.jsonl, then stops the server. Exit code 0 when they match.
"""
import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request

import numpy as np


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(url, timeout=5):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return r.read()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("run_dir")
    p.add_argument("--screenshot", default="")
    p.add_argument("--tags", default="episode_return,policy_loss,value_loss,entropy")
    a = p.parse_args()
    port = free_port()
    base = "http://127.0.0.1:%d" % port
    tb = os.path.join(os.path.dirname(sys.executable), "tensorboard")
    server = subprocess.Popen([tb, "--logdir", a.run_dir, "--host", "127.0.0.1", "--port", str(port),
                               "--reload_interval", "1"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    failures = []
    try:
        deadline = time.time() + 60
        runs = {}
        while time.time() < deadline:  # until the server answers and has loaded the run
            if server.poll() is not None:
                print("tensorboard exited: %s" % server.stderr.read().decode()[-2000:])
                return 1
            try:
                runs = json.loads(get(base + "/data/plugin/scalars/tags"))
                if runs:
                    break
            except OSError:
                pass
            time.sleep(0.2)
        if not runs:
            print("tensorboard did not serve the run's scalars within 60 s")
            return 1
        run = next(iter(runs))
        rows = [json.loads(line) for line in open(os.path.join(a.run_dir, "metrics.jsonl"))]
        for tag in a.tags.split(","):
            q = urllib.parse.urlencode({"run": run, "tag": tag, "format": "json"})
            served = json.loads(get(base + "/data/plugin/scalars/scalars?" + q))
            got = [(step, np.float32(value)) for _, step, value in served]
            want = [(r["step"], np.float32(r[tag])) for r in rows if tag in r]
            if got != want:
                failures.append("%s: TensorBoard serves %d points %s..., metrics.jsonl has %d %s..." % (
                    tag, len(got), got[:2], len(want), want[:2]))
        if a.screenshot:
            chromium = shutil.which("chromium") or shutil.which("chromium-browser")
            if chromium is None:
                failures.append("no chromium for the screenshot (Debian: chromium)")
            else:
                url = base + "/#scalars&tagFilter=episode_return%7Cvalue_loss&_smoothingWeight=0"
                subprocess.run([chromium, "--headless", "--no-sandbox", "--use-angle=swiftshader", "--enable-unsafe-swiftshader", "--hide-scrollbars",
                                "--window-size=1400,900", "--virtual-time-budget=30000", "--run-all-compositor-stages-before-draw",
                                "--screenshot=" + os.path.abspath(a.screenshot), url],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=120, check=False)
                if not os.path.exists(a.screenshot):
                    failures.append("chromium wrote no screenshot")
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
    print("tensorboard_serve: %s: %s" % (a.run_dir, "served values equal" if not failures else "%d problems" % len(failures)))
    for f in failures:
        print("  " + f)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
