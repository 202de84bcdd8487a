"""Tests of the Python binding (bindings/python/rmtl.py), standard unittest.

Run from the repository root:
    RMTL_LIBRARY=lib/librmtl.so.1 python3 -m unittest discover -s tests/python
and again with RMTL_NO_NUMPY=1 for the path without numpy (`make check` does both).
"""
import array
import math
import os
import random
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "bindings", "python"))

import rmtl  # noqa: E402

SMALL = ("model: {arch: mmoe, embed_dim: 4, bottom: [16], tower: [8], dropout: 0.0,\n"
         "        experts: {count: 2}}\n"
         "train: {batch_size: 64}\n"
         "rl: {batch_size: 32, critic: {bottom: [8], tower: [4]}, init_training_step: 0}\n"
         "runtime: {threads: 1, seed: 3}\n")

FUSION_WORLD = ("sim: {users: 200, items: 300, candidates: 30, max_requests: 6, sessions: 40}\n"
                "fusion: {actor_hidden: [16], critic_hidden: [16], critic_ensemble: 2,"
                " batch_size: 16}\n"
                "runtime: {threads: 1, seed: 5}\n")

VOCAB = [10, 8]


def synthetic(rows, seed=1):
    """Two categorical fields, two numbers, click and purchase labels from
    a logistic model of the features, sessions of 5 rows: nested lists."""
    rnd = random.Random(seed)
    cat, num, labels, session = [], [], [], []
    for i in range(rows):
        a, b = rnd.randrange(1, VOCAB[0]), rnd.randrange(1, VOCAB[1])
        x, y = rnd.gauss(0, 1), rnd.gauss(0, 1)
        z = 1.5 * x - 1.0 * y + (1.2 if a < 4 else -0.8) + (0.8 if b % 2 else -0.6)
        click = 1.0 if rnd.random() < 1 / (1 + math.exp(-z)) else 0.0
        buy = 1.0 if click and rnd.random() < 1 / (1 + math.exp(-(x - 0.5))) else 0.0
        cat.append([a, b])
        num.append([x, y])
        labels.append([click, buy])
        session.append(i // 5)
    return cat, num, labels, session


def to_input(x, dtype):
    """Numpy arrays when the binding uses numpy, else flat array.array."""
    if rmtl.HAVE_NUMPY:
        import numpy as np
        return np.asarray(x, dtype=dtype)
    code = {"float32": "f", "int32": "i", "int64": "q"}[dtype]
    flat = [v for row in x for v in row] if isinstance(x[0], list) else list(x)
    return array.array(code, flat)


def dataset(rows=2000, seed=1):
    cat, num, labels, session = synthetic(rows, seed)
    return rmtl.Dataset.from_arrays(to_input(cat, "int32"), VOCAB,
                                    num=to_input(num, "float32"),
                                    labels=to_input(labels, "float32"),
                                    session=to_input(session, "int64"))


class Basics(unittest.TestCase):
    def test_version(self):
        self.assertRegex(rmtl.version(), r"^\d+\.\d+\.\d+$")
        self.assertIn("blis", rmtl.build_info())

    def test_config(self):
        with rmtl.Config(yaml=SMALL) as cfg:
            self.assertEqual(cfg.get("model.arch"), "mmoe")
            self.assertEqual(cfg.get("model.embed_dim"), 4)
            cfg.set("rl.gamma", 0.5)
            self.assertAlmostEqual(cfg.get("rl.gamma"), 0.5)
            cfg.set("model.bottom", [8, 4])
            self.assertIn("bottom: [8, 4]", cfg.dump())
            cfg.validate()

    def test_c_error_is_exception_with_message(self):
        cfg = rmtl.Config()
        with self.assertRaises(rmtl.RmtlError) as e:
            cfg.set("rl.gamma", "2")
        self.assertEqual(e.exception.code, rmtl.ECONFIG)
        self.assertIn("rl.gamma", e.exception.message)
        self.assertIn("out of range", str(e.exception))
        with self.assertRaises(rmtl.RmtlError) as e:
            rmtl.Dataset.load("/nonexistent/x.csv", schema="/nonexistent/s.yaml")
        self.assertEqual(e.exception.code, rmtl.EIO)
        self.assertIn("/nonexistent/s.yaml", e.exception.message)
        with self.assertRaises(rmtl.RmtlError) as e:
            rmtl.Dataset.from_arrays([[99, 1]], VOCAB, labels=[[1.0, 0.0]])
        self.assertEqual(e.exception.code, rmtl.EINVAL)
        cfg.close()

    def test_close_and_context_manager(self):
        cfg = rmtl.Config()
        cfg.close()
        cfg.close()  # idempotent
        with self.assertRaises(ValueError):
            cfg.get("rl.gamma")
        with rmtl.Ctx() as ctx:
            self.assertTrue(ctx.handle)
        with self.assertRaises(ValueError):
            ctx.handle

    def test_log_callback(self):
        lines = []
        rmtl.set_log_callback(lambda level, msg: lines.append((level, msg)))
        rmtl.set_log_callback(None)
        self.assertEqual(lines, [])


class Training(unittest.TestCase):
    def test_train_predict_evaluate_save(self):
        with rmtl.Config(yaml=SMALL) as cfg, dataset(2000, 1) as train, \
                dataset(600, 2) as test, rmtl.Model(cfg, train) as model:
            self.assertEqual(train.rows, 2000)
            self.assertEqual(train.n_sessions, 400)
            self.assertEqual(model.task_names, ["task_0", "task_1"])
            before = model.evaluate(test)["auc"][0]
            seen = []
            for _ in range(3):
                loss = model.train_epoch(train, progress=seen.append)
                self.assertTrue(math.isfinite(loss))
            self.assertTrue(seen and seen[-1].done == seen[-1].total == 2000)
            m = model.evaluate(test)
            self.assertGreater(m["auc"][0], 0.7, m)
            self.assertGreater(m["auc"][0], before)
            p = model.predict(test)
            if rmtl.HAVE_NUMPY:
                self.assertEqual(p.shape, (600, 2))
            else:
                self.assertEqual(len(p), 1200)
            self.assertTrue(all(0.0 < v < 1.0 for v in _flat(p)))
            with self.assertRaises(ValueError):
                model.predict(cat=[1, 2, 3], num=[0.5, 0.5])
            # from arrays: the same scores as from the dataset
            cat, num, _, _ = synthetic(600, 2)
            q = model.predict(cat=to_input(cat, "int32"), num=to_input(num, "float32"))
            self.assertEqual(list(_flat(q)), list(_flat(p)))
            with tempfile.TemporaryDirectory() as d:
                path = os.path.join(d, "m.rmtl")
                model.save(path)
                with rmtl.Model.load(path) as again:
                    self.assertEqual(list(_flat(again.predict(test))), list(_flat(p)))
            # the serving cache: the same scores up to float rounding
            self.assertGreater(model.fold_embeddings(), 0)
            f = model.predict(test)
            self.assertTrue(all(abs(a - b) < 1e-5 for a, b in zip(_flat(f), _flat(p))))
            self.assertEqual(model.fold_embeddings(0), 0)
            self.assertEqual(list(_flat(model.predict(test))), list(_flat(p)))

    def test_train_step_and_cancel(self):
        cat, num, labels, _ = synthetic(64, 4)
        with rmtl.Config(yaml=SMALL) as cfg, dataset(500, 3) as train, \
                rmtl.Model(cfg, train) as model:
            loss = model.train_step(to_input(cat, "int32"), to_input(num, "float32"),
                                    to_input(labels, "float32"))
            self.assertTrue(0 < loss < 2)
            with self.assertRaises(rmtl.RmtlError) as e:
                model.train_epoch(train, progress=lambda p: True)
            self.assertEqual(e.exception.code, rmtl.ESTATE)
            self.assertIn("cancelled", e.exception.message)

            def boom(p):
                raise KeyError("from the callback")
            with self.assertRaises(KeyError):
                model.train_epoch(train, progress=boom)

    def test_agent(self):
        with rmtl.Config(yaml=SMALL) as cfg, dataset(500, 5) as train, \
                rmtl.Model(cfg, train) as model, rmtl.Env(cfg, train) as env, \
                rmtl.Replay(400, 2, 2, 2, seed=1) as rb, rmtl.Agent(cfg, model) as agent:
            rb.fill_random(env, 400)
            self.assertEqual(len(rb), 400)
            seen = []
            losses = agent.train(rb, 20, progress=seen.append)
            self.assertEqual(agent.steps, 20)
            self.assertEqual(len(losses), 2)
            self.assertEqual([p.done for p in seen], list(range(1, 21)))


class Fusion(unittest.TestCase):
    def test_fuse_scores_single_and_batch(self):
        with rmtl.Config(yaml=FUSION_WORLD) as cfg, rmtl.Fusion(cfg) as f:
            info = f.info
            T, U, I, C = info["tasks"], info["user_dim"], info["item_dim"], info["context_dim"]
            rnd = random.Random(7)
            user = [rnd.uniform(-1, 1) for _ in range(U)]
            context = [rnd.uniform(-1, 1) for _ in range(C)]
            items = [[rnd.uniform(-1, 1) for _ in range(I)] for _ in range(5)]
            scores = [[rnd.uniform(0.05, 0.95) for _ in range(T)] for _ in range(5)]
            with rmtl.Ctx() as ctx:
                fused = f.fuse_batch(to_input(scores, "float32"), to_input(items, "float32"),
                                     user, context, ctx=ctx)
            self.assertEqual(len(fused), 5)
            for i in range(5):
                one, action = f.fuse_scores(user + items[i] + context, scores[i])
                self.assertEqual(len(action), info["action_dim"])
                self.assertAlmostEqual(one, float(fused[i]), places=4)
            with self.assertRaises(rmtl.RmtlError) as e:
                f.fuse_scores(user, scores[0])  # state too short
            self.assertEqual(e.exception.code, rmtl.EINVAL)
            self.assertIn("state", e.exception.message)

    def test_round_in_simulator(self):
        with rmtl.Config(yaml=FUSION_WORLD) as cfg, rmtl.SimEnv(cfg) as env, \
                rmtl.Fusion(cfg) as f:
            seen = []
            st = f.round(env, sessions=10, train_steps=5, progress=seen.append)
            self.assertEqual(st["explore"]["sessions"], 10)
            self.assertEqual(st["steps"], 5)
            self.assertEqual(seen[-1].done, 15)
            self.assertTrue(math.isnan(seen[0].loss))
            ev = f.evaluate(env, 20, seed=3)
            self.assertEqual(ev["sessions"], 20)
            with self.assertRaises(rmtl.RmtlError) as e:
                f.round(env, sessions=10, train_steps=5, progress=lambda p: p.done >= 3)
            self.assertEqual(e.exception.code, rmtl.ESTATE)

    def test_simulator_log_to_dataset(self):
        schema = os.path.join(HERE, "..", "..", "examples", "schemas", "sim.yaml")
        with rmtl.Config(yaml=FUSION_WORLD) as cfg, rmtl.SimEnv(cfg) as env, \
                tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "log.csv")
            st = env.log_random(path, 30)
            seen = []
            with rmtl.Dataset.load(path, schema=schema, progress=seen.append) as ds:
                self.assertEqual(ds.rows, st["impressions"])
                self.assertEqual(ds.task_names[:2], ["click", "purchase"])
            self.assertEqual(seen[-1].done, seen[-1].total)


@unittest.skipUnless(rmtl.HAVE_NUMPY, "numpy is absent or disabled (RMTL_NO_NUMPY)")
class NumpyZeroCopy(unittest.TestCase):
    def test_inputs_are_not_copied(self):
        import numpy as np
        a = np.arange(12, dtype=np.float32).reshape(3, 4)
        inp = rmtl._In(a, rmtl.c_float, "a")
        self.assertIs(inp.keep, a)
        self.assertEqual(rmtl.ctypes.cast(inp.ptr, rmtl.c_void_p).value, a.ctypes.data)
        # a strided view or another dtype is converted once
        self.assertIsNot(rmtl._In(a[:, ::2], rmtl.c_float, "a").keep, a)
        self.assertIsNot(rmtl._In(a.astype(np.float64), rmtl.c_float, "a").keep, a)


def _flat(x):
    if hasattr(x, "ravel"):
        return x.ravel().tolist()
    return list(x)


if __name__ == "__main__":
    unittest.main()
