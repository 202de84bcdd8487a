#!/usr/bin/env python3
"""The RMTL pipeline from Python (docs/rmtl.md), on simulator logs:

  1. log sessions of the simulator and split them by session;
  2. pre-train a multi-task model;
  3. build the session MDP over the training split, fill a replay buffer
     with random actions and train the agent (actor + one critic per task);
  4. fine-tune a copy of the model with the critics' loss weights
     (1 - lambda * Q) and compare validation AUC with plain training.

    python3 examples/python/rmtl_pipeline.py [--sessions 600] [--updates 60]
"""
import argparse
import os
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "bindings", "python"))  # source tree

import rmtl  # noqa: E402

CONFIG = """
sim: {users: 300, items: 300, candidates: 30, max_requests: 8}
model: {arch: esmm, embed_dim: 8, bottom: [32], tower: [16]}
train: {batch_size: 256}
rl: {batch_size: 128, buffer_size: 4000, init_training_step: 0,
     critic: {bottom: [32], tower: [16]}}
runtime: {threads: 1, seed: 7}
"""


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sessions", type=int, default=600)
    ap.add_argument("--updates", type=int, default=60)
    args = ap.parse_args()
    schema = os.path.join(HERE, "..", "schemas", "sim.yaml")
    with rmtl.Config(yaml=CONFIG) as cfg, rmtl.SimEnv(cfg) as sim, \
            tempfile.TemporaryDirectory() as tmp:
        log = os.path.join(tmp, "log.csv")
        sim.log(log, args.sessions, seed=1)
        with rmtl.Dataset.load(log, schema=schema) as full:
            train, val, _ = full.split_sessions(0.8, 0.2, seed=1)
        print("train %d rows (%d sessions), val %d rows" % (train.rows, train.n_sessions,
                                                             val.rows))
        with train, val:
            base = rmtl.train(cfg, train, num_epochs=2)
            print("pre-trained: val AUC %s" % _fmt(base.evaluate(val)["auc"]))

            with rmtl.Env(cfg, train) as env, \
                    rmtl.Replay.for_env(env, cfg["rl.buffer_size"], seed=1) as rb, \
                    rmtl.Agent(cfg, base) as agent:
                rb.fill_random(env, cfg["rl.buffer_size"])
                losses = agent.train(rb, args.updates)
                print("agent: %d updates, critic losses %s" % (agent.steps, _fmt(losses)))

                # fine-tuning: one epoch of steps weighted by the critics,
                # against the same epoch without weights
                rmtl_model, plain = base.clone(), base.clone()
                for m in (rmtl_model, plain):
                    m.set_lr(0.0003)
                arrays = train.to_arrays()
                B = cfg["train.batch_size"]
                for start in range(0, train.rows, B):
                    cat = arrays["cat"][start:start + B]
                    num = arrays["num"][start:start + B]
                    y = arrays["labels"][start:start + B]
                    if not rmtl.HAVE_NUMPY:  # flat array.array: rows follow from cat
                        cat, num, y = _rows(arrays, start, B, train)
                    w = agent.loss_weights(rmtl_model, cat=cat, num=num)
                    rmtl_model.train_step(cat, num, y, weights=w)
                    plain.train_step(cat, num, y)
            with rmtl_model, plain:
                print("fine-tuned, plain: val AUC %s" % _fmt(plain.evaluate(val)["auc"]))
                print("fine-tuned, RMTL:  val AUC %s" % _fmt(rmtl_model.evaluate(val)["auc"]))
            base.close()
    return 0


def _rows(arrays, start, B, ds):
    n = min(B, ds.rows - start)
    c, x, t = ds.n_cat, ds.n_num, ds.n_tasks
    return (arrays["cat"][start * c:(start + n) * c], arrays["num"][start * x:(start + n) * x],
            arrays["labels"][start * t:(start + n) * t])


def _fmt(values):
    return "  ".join("%.4f" % v for v in values)


if __name__ == "__main__":
    try:
        sys.exit(main())
    except rmtl.RmtlError as e:
        print("rmtl_pipeline: %s" % e, file=sys.stderr)
        sys.exit(1)
