#!/usr/bin/env python3
"""Training and serving from Python through librmtl's ctypes binding
(the rmtl package, bindings/python), on a seeded simulator world so that it needs no
data set:

  1. log sessions of the session simulator (a random policy) to CSV;
  2. load them (progress bar), train a multi-task model, evaluate it;
  3. save a checkpoint and serve from the loaded copy with a context;
  4. train a fusion policy in the simulator (progress bar) and fuse the
     model's task scores of a few candidates into one ranking score.

    python3 examples/python/train_and_serve.py [--schema examples/schemas/sim.yaml]

Set RMTL_LIBRARY to pick a librmtl.so; else an installed one is used, else
the source tree's lib/.
"""
import argparse
import os
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "bindings", "python"))  # source tree
sys.path.insert(0, HERE)  # or the rmtl package copied beside this script

import rmtl  # noqa: E402

CONFIG = """
sim: {users: 400, items: 400, candidates: 40, max_requests: 10}
model: {arch: mmoe, embed_dim: 8, bottom: [32], tower: [16], experts: {count: 3}}
train: {batch_size: 256}
fusion: {actor_hidden: [32], critic_hidden: [32], critic_ensemble: 2, batch_size: 32}
runtime: {threads: 1, seed: 42}
"""


def progress_bar(label):
    """A progress callable: a bar with ETA on a terminal, silent otherwise."""
    tty = sys.stderr.isatty()

    def show(p):
        if not tty or not p.total:
            return False
        if p.done >= p.total:
            sys.stderr.write("\r%79s\r" % "")
            return False
        frac = p.done / p.total
        eta = p.elapsed * (1 - frac) / frac if p.done else 0.0
        loss = "" if p.loss != p.loss else "  loss %.4f" % p.loss  # NaN: none
        sys.stderr.write("\r%-14s [%-24s] %3.0f%%  ETA %d:%02d%s " % (
            label, "=" * int(24 * frac), 100 * frac, eta // 60, eta % 60, loss))
        sys.stderr.flush()
        return False  # True would cancel the call

    return show


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--schema", default=os.path.join(HERE, "..", "schemas", "sim.yaml"),
                    help="the simulator log's dataset schema")
    args = ap.parse_args()
    rmtl.set_log_callback(lambda level, msg: level <= rmtl.LOG_WARN and
                          print("train_and_serve: warning:", msg, file=sys.stderr))
    print("librmtl %s (numpy: %s)" % (rmtl.version(), "yes" if rmtl.HAVE_NUMPY else "no"))

    with rmtl.Config(yaml=CONFIG) as cfg, rmtl.SimEnv(cfg) as sim, \
            tempfile.TemporaryDirectory() as tmp:
        # 1. logs
        paths = {}
        for name, sessions, seed in (("train", 1500, 1), ("test", 300, 2)):
            paths[name] = os.path.join(tmp, name + ".csv")
            st = sim.log(paths[name], sessions, seed=seed)
            print("%-5s %d sessions, %d impressions, click rate %.3f" % (
                name, st["sessions"], st["impressions"], st["rate"][0]))

        # 2. training
        with rmtl.Dataset.load(paths["train"], schema=args.schema,
                               progress=progress_bar("loading")) as train, \
                rmtl.Dataset.load(paths["test"], reference=train) as test, \
                rmtl.Model(cfg, train) as model:
            for epoch in range(1, 5):
                loss = model.train_epoch(train, progress=progress_bar("epoch %d" % epoch))
                auc = model.evaluate(test)["auc"]
                print("epoch %d  loss %.4f  test AUC %s" % (
                    epoch, loss, "  ".join("%s %.4f" % (t, a)
                                           for t, a in zip(model.task_names, auc))))
            ckpt = os.path.join(tmp, "model.rmtl")
            model.save(ckpt)

            # 3. serving: a loaded checkpoint and one context per thread
            with rmtl.Model.load(ckpt) as served, rmtl.Ctx() as ctx:
                # the serving cache: embeddings folded into the first layers
                served.fold_embeddings(64 << 20)
                scores = served.predict(test, ctx=ctx)  # rows x tasks
                T = served.num_tasks
                first = scores[:5].tolist() if rmtl.HAVE_NUMPY else \
                    [list(scores[i * T:(i + 1) * T]) for i in range(5)]
                print("served scores of 5 test impressions:",
                      ", ".join("(%s)" % ", ".join("%.3f" % v for v in row) for row in first))

        # 4. fusion: train in the simulator, then fuse the model's scores
        with rmtl.Fusion(cfg) as fusion, rmtl.Ctx() as ctx:
            for r in range(1, 3):
                st = fusion.round(sim, sessions=40, train_steps=40,
                                  progress=progress_bar("fusion %d" % r))
                print("fusion round %d  exploring reward %.2f  critic loss %.4f" % (
                    r, st["explore"]["reward_mean"], st["critic_loss"]))
            ev = fusion.evaluate(sim, 100, seed=7)
            print("fusion policy: session reward %.2f over %d sessions" % (
                ev["reward_mean"], ev["sessions"]))
            info = fusion.info
            items = [[0.1 * (i + j) for j in range(info["item_dim"])] for i in range(5)]
            fused = fusion.fuse_batch([s[:info["tasks"]] for s in first], items,
                                      user=[0.2] * info["user_dim"],
                                      context=[0.5] * info["context_dim"], ctx=ctx)
            ranked = sorted(range(5), key=lambda i: -float(fused[i]))
            print("fused ranking of the 5 candidates:", ranked)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except rmtl.RmtlError as e:
        print("train_and_serve: %s" % e, file=sys.stderr)
        sys.exit(1)
