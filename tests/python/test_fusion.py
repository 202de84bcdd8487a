"""Fusion and the simulator."""
import math
import os
import pickle
import random

import pytest

import rmtl
from conftest import HERE, flat, to_input


def _request(f, n=5, seed=7):
    i = f.info
    rnd = random.Random(seed)
    user = [rnd.uniform(-1, 1) for _ in range(i["user_dim"])]
    context = [rnd.uniform(-1, 1) for _ in range(i["context_dim"])]
    items = [[rnd.uniform(-1, 1) for _ in range(i["item_dim"])] for _ in range(n)]
    scores = [[rnd.uniform(0.05, 0.95) for _ in range(i["tasks"])] for _ in range(n)]
    return user, context, items, scores


def test_fuse_single_batch_fixed_deploy_bytes(fusion_cfg, tmp_path):
    with rmtl.Fusion(fusion_cfg) as f:
        info = f.info
        user, context, items, scores = _request(f)
        with rmtl.Ctx() as ctx:
            fused, actions = f.fuse_batch(to_input(scores, "float32"),
                                          to_input(items, "float32"), user, context, ctx=ctx,
                                          return_actions=True)
        assert len(flat(fused)) == 5 and len(flat(actions)) == 5 * info["action_dim"]
        for i in range(5):
            one, action = f.fuse(user + items[i] + context, scores[i])
            assert len(action) == info["action_dim"]
            assert one == flat(fused)[i]  # bit for bit, as the header promises
        with pytest.raises(rmtl.RmtlError) as e:
            f.fuse(user + items[0] + context, [1.5, 0.5])  # a score outside [0, 1]: C's check
        assert e.value.code == rmtl.EINVAL
        fixed = [1.0] * info["tasks"] + [0.0] * (info["action_dim"] - info["tasks"])
        f.set_fixed(fixed)
        assert f.info["fixed"] == 1
        assert f.fuse(user + items[0] + context, scores[0])[1] == fixed
        f.set_fixed(None)
        f.deploy()
        assert f.info["fixed"] == 0
        blob = f.to_bytes()
        with rmtl.Fusion.from_bytes(blob) as g:
            assert flat(g.fuse_batch(scores, items, user, context)) == flat(fused)
        g = pickle.loads(pickle.dumps(f))
        assert flat(g.fuse_batch(scores, items, user, context)) == flat(fused)
        path = str(tmp_path / "f.rmtl")
        f.save(path)
        with rmtl.Fusion.load(path) as h:
            assert flat(h.fuse_batch(scores, items, user, context)) == flat(fused)
        ex = f.explore(scores, items, user, context, seed=3)
        assert ex["seed"] != 3
        lo, hi, act = flat(ex["box_lo"]), flat(ex["box_hi"]), flat(ex["action"])
        assert all(a <= x + 1e-6 and x <= b + 1e-6 for a, x, b in zip(lo, act, hi))


def test_train_step_from_explored_requests(fusion_cfg):
    with rmtl.Fusion(fusion_cfg) as f:
        info = f.info
        rows, state, scores, action, lo, hi, reward = [], [], [], [], [], [], []
        seed = 1
        for r in range(4):
            user, context, items, sc = _request(f, 3, seed=r)
            ex = f.explore(sc, items, user, context, seed=seed)
            seed = ex["seed"]
            rows.append([3 * r, 3 * r + 3])
            state += [user + it + context for it in items]
            scores += sc
            A = info["action_dim"]
            action += [flat(ex["action"])[A * i:A * i + A] for i in range(3)]
            lo += [flat(ex["box_lo"])[A * i:A * i + A] for i in range(3)]
            hi += [flat(ex["box_hi"])[A * i:A * i + A] for i in range(3)]
            reward += [[1.0, 0.0], [0.0, 0.0], [1.0, 1.0]]
        nxt = [[3, 6], [6, 9], [9, 12], [12, 12]]
        batch = {"rows": rows, "next_rows": nxt, "state": state, "scores": scores,
                 "action": action, "box_lo": lo, "box_hi": hi, "reward": reward}
        st = f.train_step(batch)
        assert st["steps"] == 1 and math.isfinite(st["critic_loss"])
        bad = dict(batch, rows=[[0, 3], [3, 6], [6, 9], [9, 13]])
        with pytest.raises(ValueError, match="rows'\\]\\[3\\]"):
            f.train_step(bad)
        with pytest.raises(ValueError, match="next_rows"):
            f.train_step(dict(batch, next_rows=[[3, 6], [6, 9], [9, 12], [12, 99]]))
        with pytest.raises(ValueError, match="reward"):
            f.train_step(dict(batch, reward=reward[:-1]))


def test_round_evaluate_cem_and_scorer(fusion_cfg):
    with rmtl.SimEnv(fusion_cfg) as env, rmtl.Fusion(fusion_cfg) as f:
        seen = []
        st = f.round(env, sessions=10, train_steps=5, progress=seen.append)
        assert st["explore"]["sessions"] == 10 and st["steps"] == 5
        assert seen[-1].done == 15 and math.isnan(seen[0].loss)
        ev = f.evaluate(env, 20, seed=3)
        assert ev["sessions"] == 20
        with pytest.raises(rmtl.RmtlError) as e:
            f.round(env, sessions=10, train_steps=5, progress=lambda p: p.done >= 3)
        assert e.value.code == rmtl.ESTATE
        assert 0 <= f.log_gauc(f) <= 1
        calls = []

        def scorer(req):
            calls.append(req["n"])
            return [[0.5, 0.1]] * req["n"]
        ev2 = f.evaluate(env, 3, seed=3, scorer=scorer)
        assert ev2["sessions"] == 3 and calls

        def bad_scorer(req):
            return [[0.5]] * req["n"]
        with pytest.raises(ValueError, match="the scorer's scores has 1 columns"):
            f.evaluate(env, 3, seed=3, scorer=bad_scorer)
        best = f.cem(env, iterations=1, population=4, elite=2, sessions=3, seed=1)
        assert math.isfinite(best) and f.info["fixed"] == 1


def test_simulator_loop_policies_and_log(fusion_cfg, tmp_path):
    schema = os.path.join(HERE, "..", "..", "examples", "schemas", "sim.yaml")
    with rmtl.SimEnv(fusion_cfg) as env:
        info = env.info
        req = env.reset()
        assert req["n"] == info["candidates"]
        with pytest.raises(ValueError, match="scores holds 2 values, expected 30"):
            env.step([0.1, 0.2])
        fb = env.step([float(i) for i in range(req["n"])])
        assert len(flat(fb["shown"])) == info["top_l"]
        p = env.true_probs(0, 0)
        assert len(p) == info["tasks"] and all(0 <= v <= 1 for v in p)
        oracle = env.evaluate(30, seed=2, policy="oracle")
        rand = env.evaluate(30, seed=2, policy="random")
        assert oracle["reward_mean"] > rand["reward_mean"]
        mine = env.evaluate(5, seed=2, policy=lambda r: [0.0] * r["n"])
        assert mine["sessions"] == 5

        def boom(r):
            raise RuntimeError("policy failed")
        with pytest.raises(RuntimeError, match="policy failed"):
            env.evaluate(5, policy=boom)
        path = str(tmp_path / "log.csv")
        st = env.log(path, 30)
        seen = []
        with rmtl.Dataset.load(path, schema=schema, progress=seen.append) as ds:
            assert ds.rows == st["impressions"]
            assert ds.task_names[:2] == ["click", "purchase"]
        assert seen[-1].done == seen[-1].total
