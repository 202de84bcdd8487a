#!/usr/bin/env python3
"""Fusion serving from Python: train a fusion policy in the simulator,
ship it as bytes, and serve requests from several threads, each with its
own rmtl.Ctx (fuse_batch releases the GIL while it runs). Compares the
learned policy with the fixed-weight (CEM) baseline on the same sessions.

    python3 examples/python/fusion_serving.py [--quick]
"""
import argparse
import os
import random
import sys
import time
from concurrent.futures import ThreadPoolExecutor

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "bindings", "python"))  # source tree

import rmtl  # noqa: E402

CONFIG = """
sim: {users: 500, items: 500, candidates: 50, max_requests: 10}
fusion: {actor_hidden: [32], critic_hidden: [32], critic_ensemble: 2, batch_size: 32}
runtime: {threads: 1, seed: 11}
"""


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    rounds, sessions, steps = (2, 30, 30) if args.quick else (5, 200, 200)
    with rmtl.Config(yaml=CONFIG) as cfg, rmtl.SimEnv(cfg) as sim:
        # training side
        with rmtl.Fusion(cfg) as f:
            for r in range(rounds):
                st = f.round(sim, sessions=sessions, train_steps=steps)
                print("round %d: explore reward %.2f, critic loss %.4f"
                      % (r + 1, st["explore"]["reward_mean"], st["critic_loss"]))
            learned = f.evaluate(sim, 100, seed=99)
            blob = f.to_bytes(training_state=False)  # what a deployment ships
        with rmtl.Fusion(cfg) as base:
            base.cem(sim, iterations=2 if args.quick else 5, population=8, elite=2,
                     sessions=20, seed=5)
            fixed = base.evaluate(sim, 100, seed=99)
        print("session reward on 100 held-out sessions: learned %.3f, fixed weights %.3f"
              % (learned["reward_mean"], fixed["reward_mean"]))

    # serving side: one handle shared read-only, one context per thread
    served = rmtl.Fusion.from_bytes(blob)
    info = served.info
    rnd = random.Random(1)

    def request(n=50):
        return ([[rnd.random() for _ in range(info["tasks"])] for _ in range(n)],
                [[rnd.uniform(-1, 1) for _ in range(info["item_dim"])] for _ in range(n)],
                [rnd.uniform(-1, 1) for _ in range(info["user_dim"])],
                [rnd.uniform(-1, 1) for _ in range(info["context_dim"])])
    reqs = [request() for _ in range(40)]

    def worker(chunk):
        with rmtl.Ctx() as ctx:
            return [served.fuse_batch(*r, ctx=ctx) for r in chunk]
    t0 = time.perf_counter()
    with ThreadPoolExecutor(4) as pool:
        results = [x for part in pool.map(worker, [reqs[i::4] for i in range(4)]) for x in part]
    dt = time.perf_counter() - t0
    one = served.fuse_batch(*reqs[0])
    assert list(one) == list(results[0])  # a thread and its context do not change results
    print("served %d requests of 50 candidates from 4 threads in %.1f ms"
          % (len(results), 1000 * dt))
    top = sorted(range(50), key=lambda i: -float(one[i]))[:5]
    print("top 5 candidates of the first request:", top)
    served.close()
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except rmtl.RmtlError as e:
        print("fusion_serving: %s" % e, file=sys.stderr)
        sys.exit(1)
