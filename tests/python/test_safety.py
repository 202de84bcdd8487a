"""The boundary: every bad argument raises TypeError / ValueError /
OverflowError naming it, before C sees it (the issue's list, one test each,
plus closed and borrowed handles). Under `make asan` these run on the ASan
build of the library, so a check that let bad memory through would fail
loudly there."""
import gc
import math
import os

import pytest

import rmtl
from conftest import FUSION_WORLD, HERE, VOCAB, flat, make_dataset, synthetic


def test_reference_must_be_a_dataset_or_model(cfg, train_ds, trained, tmp_path):
    csv = tmp_path / "x.csv"
    csv.write_text("a,b\n1,2\n")
    with pytest.raises(TypeError, match="reference"):
        rmtl.Dataset.load(str(csv), reference=cfg)
    with pytest.raises(TypeError, match="reference"):
        rmtl.Dataset.load(str(csv), reference="train.csv")
    with pytest.raises(ValueError, match="schema"):
        rmtl.Dataset.load(str(csv))  # neither
    # a model means its schema (the natural spelling): a real load
    schema = os.path.join(HERE, "..", "..", "examples", "schemas", "sim.yaml")
    with rmtl.Config(yaml=FUSION_WORLD) as c, rmtl.SimEnv(c) as env:
        log = str(tmp_path / "log.csv")
        env.log(log, 20)
        with rmtl.Dataset.load(log, schema=schema) as tr, rmtl.Model(cfg, tr) as m, \
                rmtl.Dataset.load(log, reference=m) as again:
            assert again.rows == tr.rows and again.vocab_sizes == tr.vocab_sizes
            assert list(m.predict(again).ravel() if rmtl.HAVE_NUMPY else m.predict(again)) == \
                list(m.predict(tr).ravel() if rmtl.HAVE_NUMPY else m.predict(tr))
    gc.collect()


def _fusion_inputs(f):
    i = f.info
    return i, [0.1] * i["user_dim"], [0.2] * i["context_dim"]


def test_fuse_batch_short_items(fusion_cfg):
    with rmtl.Fusion(fusion_cfg) as f:
        inf, user, context = _fusion_inputs(f)
        scores = [[0.5] * inf["tasks"]] * 3
        with pytest.raises(ValueError, match="items has 1 rows, expected 3"):
            f.fuse_batch(scores, [[0.1] * inf["item_dim"]], user, context)
        with pytest.raises(ValueError, match="items"):
            f.fuse_batch(scores, [0.1] * (inf["item_dim"] + 1), user, context)
        with pytest.raises(ValueError, match="items is required"):
            f.fuse_batch(scores, None, user, context)
        with pytest.raises(ValueError, match="user holds"):
            f.fuse_batch(scores, [[0.1] * inf["item_dim"]] * 3, user[:-1], context)
        with pytest.raises(ValueError, match="context holds"):
            f.fuse_batch(scores, [[0.1] * inf["item_dim"]] * 3, user, context + [0.0])


def test_fuse_batch_wrong_score_shape(fusion_cfg):
    with rmtl.Fusion(fusion_cfg) as f:
        inf, user, context = _fusion_inputs(f)
        assert inf["tasks"] == 2
        items = [[0.1] * inf["item_dim"]] * 4
        with pytest.raises(ValueError, match="scores has 3 columns, expected 2"):
            f.fuse_batch([[0.5] * 3] * 4, items, user, context)
        with pytest.raises(ValueError, match="scores holds 3 values: not a multiple of 2"):
            f.fuse_batch([0.5] * 3, items, user, context)
        with pytest.raises(ValueError, match="3-D"):
            if not rmtl.HAVE_NUMPY:
                raise ValueError("3-D (lists are at most 2-D)")
            import numpy as np
            f.fuse_batch(np.zeros((4, 2, 1), np.float32), items, user, context)
        with pytest.raises(ValueError, match="scores holds 3 values, expected 2"):
            f.fuse([0.0] * inf["state_dim"], [0.5] * 3)
        with pytest.raises(ValueError, match="state holds"):
            f.fuse([0.0] * (inf["state_dim"] - 1), [0.5] * 2)
        with pytest.raises(ValueError, match="action holds"):
            f.set_fixed([1.0])


def test_id_overflow(cfg, train_ds):
    cat, num, labels, session = synthetic(4)
    big = [[2 ** 40, 1]] + cat[1:]
    with pytest.raises(OverflowError, match="cat: id 1099511627776 does not fit int32"):
        rmtl.Dataset.from_arrays(big, VOCAB, num=num, labels=labels)
    with pytest.raises(OverflowError, match="cat"):
        rmtl.Dataset.from_arrays([[2 ** 70, 1]], VOCAB, labels=[[1.0, 0.0]])
    with pytest.raises(OverflowError, match="cat"):
        rmtl.Dataset.from_arrays([[-2 ** 31 - 1, 1]], VOCAB, labels=[[1.0, 0.0]])
    with pytest.raises(OverflowError, match="session"):
        rmtl.Dataset.from_arrays(cat, VOCAB, num=num, session=[2 ** 63, 0, 0, 0])
    with rmtl.Model(cfg, train_ds) as m:
        with pytest.raises(OverflowError, match="cat"):
            m.predict(cat=big, num=num)
        with pytest.raises(OverflowError, match="max_bytes"):
            m.fold_embeddings(-1)
    with pytest.raises(OverflowError, match="seed"):
        train_ds.shuffle(2 ** 64)
    with pytest.raises(OverflowError, match="threads"):
        rmtl.Ctx(2 ** 40)


def test_float_ids(cfg, train_ds):
    cat, num, labels, _ = synthetic(4)
    with pytest.raises(TypeError, match="cat must hold integers"):
        rmtl.Dataset.from_arrays([[1.7, 1]] + cat[1:], VOCAB, num=num, labels=labels)
    if rmtl.HAVE_NUMPY:
        import numpy as np
        with pytest.raises(TypeError, match="cat must hold integers, not float64"):
            rmtl.Dataset.from_arrays(np.ones((4, 2)), VOCAB, num=num, labels=labels)
        with pytest.raises(TypeError, match="booleans"):
            rmtl.Dataset.from_arrays(np.ones((4, 2), bool), VOCAB, num=num, labels=labels)
    with rmtl.Model(cfg, train_ds) as m:
        with pytest.raises(TypeError, match="cat must hold integers"):
            m.predict(cat=[[1.5, 2]], num=[[0.0, 0.0]])
    with pytest.raises(TypeError, match="seed must be an int"):
        train_ds.shuffle(1.0)
    with pytest.raises(TypeError, match="seed must be an int"):
        train_ds.shuffle(True)
    with pytest.raises(TypeError, match="cat must hold numbers"):
        rmtl.Dataset.from_arrays([["a", "b"]], VOCAB, labels=[[1.0, 0.0]])
    with pytest.raises(TypeError, match="cat must be an array or a list"):
        rmtl.Dataset.from_arrays("12", VOCAB, labels=[[1.0, 0.0]])


def test_nan(cfg, train_ds, fusion_cfg):
    cat, num, labels, _ = synthetic(4)
    bad = [[float("nan"), 0.0]] + num[1:]
    with pytest.raises(ValueError, match="num: element 0 is nan"):
        rmtl.Dataset.from_arrays(cat, VOCAB, num=bad, labels=labels)
    with rmtl.Model(cfg, train_ds) as m:
        with pytest.raises(ValueError, match="num: element 2 is inf"):
            m.predict(cat=cat, num=[[0.0, 0.0], [float("inf"), 0.0]] + num[2:])
        with pytest.raises(ValueError, match="labels"):
            m.train_step(cat, num, [[float("nan"), 0.0]] + labels[1:])
        with pytest.raises(OverflowError, match="does not fit float32"):
            m.predict(cat=cat, num=[[1e300, 0.0]] + num[1:])
        with pytest.raises(ValueError, match="lr must be finite"):
            m.set_lr(float("nan"))
    with rmtl.Fusion(fusion_cfg) as f:
        inf, user, context = _fusion_inputs(f)
        with pytest.raises(ValueError, match="user: element 0 is nan"):
            f.fuse_batch([[0.5, 0.5]], [[0.0] * inf["item_dim"]], [math.nan] + user[1:], context)
    with pytest.raises(ValueError, match="scores"):
        rmtl.auc([0.5, float("nan")], [0.0, 1.0])
    if rmtl.HAVE_NUMPY:  # the zero-copy path (exact dtype, contiguous) checks too
        import numpy as np
        x = np.zeros((4, 2), np.float32)
        x[3, 1] = np.inf
        with rmtl.Model(cfg, train_ds) as m:
            with pytest.raises(ValueError, match="num: element 7 is inf"):
                m.predict(cat=np.ones((4, 2), np.int32), num=x)
        big = np.full((4, 2), 3e38, np.float32)  # finite, though float32 could not sum it
        with rmtl.Dataset.from_arrays(np.ones((4, 2), np.int32), VOCAB, num=big) as d:
            assert d.rows == 4


def test_closed_handles(cfg, fusion_cfg):
    ds = make_dataset(100, 1)
    m = rmtl.Model(cfg, ds)
    f = rmtl.Fusion(fusion_cfg)
    ctx = rmtl.Ctx()
    for h in (ds, m, f, ctx):
        h.close()
    for call in (lambda: ds.rows, lambda: m.predict(ds), lambda: m.to_bytes(),
                 lambda: f.info, lambda: f.fuse([0.0], [0.5, 0.5]), lambda: rmtl.Model(cfg, ds),
                 lambda: m.schema, lambda: m.clone()):
        with pytest.raises(ValueError, match="closed"):
            call()
    with rmtl.Model(cfg, make_dataset(100, 1)) as m2, make_dataset(50, 3) as d2:
        with pytest.raises(ValueError, match="Ctx is closed"):
            m2.predict(d2, ctx=ctx)


def test_borrowed_handles_stay_valid(cfg):
    ds = make_dataset(200, 1)
    m = rmtl.Model(cfg, ds)
    schema = m.schema
    env = rmtl.Env(cfg, ds)
    with pytest.raises(ValueError, match="Env borrows it"):
        ds.close()
    with pytest.raises(ValueError, match="Env borrows it"):
        ds.shuffle(1)
    with pytest.raises(ValueError, match="read-only"):
        schema.shuffle(1)
    env.reset()
    env.close()
    ds.shuffle(1)  # free again
    ds.close()
    assert schema.n_cat == 2
    m.close()
    with pytest.raises(ValueError, match="closed"):
        schema.n_cat  # the view died with its model
    with rmtl.Model(cfg, make_dataset(100, 1)) as base, rmtl.Agent(cfg, base) as agent:
        actor = agent.actor
        pol = actor.model
        with pytest.raises(ValueError, match="read-only"):
            pol.set_lr(0.1)
        crit = agent.critic(1)
        with pytest.raises(OverflowError, match="task"):
            agent.critic(2)
        agent.close()
        for call in (lambda: actor.updates, lambda: pol.num_tasks, lambda: crit.task):
            with pytest.raises(ValueError, match="closed"):
                call()


def test_cannot_close_inside_a_callback(cfg, train_ds):
    with rmtl.Model(cfg, train_ds) as m:
        def closer(p):
            m.close()
        with pytest.raises(ValueError, match="while a call is using it"):
            m.train_epoch(train_ds, progress=closer)

        def closer_ds(p):
            train_ds.close()
        with pytest.raises(ValueError, match="while a call is using it"):
            m.train_epoch(train_ds, progress=closer_ds)
        assert m.num_tasks == 2 and train_ds.rows == 2000


def test_wrong_handle_types(cfg, train_ds, fusion_cfg):
    with pytest.raises(TypeError, match="Dataset.load"):
        rmtl.Dataset("x")  # no handle from a Python value
    with pytest.raises(TypeError, match="train must be an rmtl.Dataset"):
        rmtl.Model(cfg, cfg)
    with pytest.raises(TypeError, match="config must be an rmtl.Config"):
        rmtl.Model(train_ds, train_ds)
    with rmtl.Model(cfg, train_ds) as m:
        with pytest.raises(TypeError, match="ctx"):
            m.predict(train_ds, ctx=cfg)
        with pytest.raises(TypeError, match="data must be an rmtl.Dataset"):
            m.evaluate([1, 2])
        with pytest.raises(TypeError, match="pretrained"):
            rmtl.Agent(cfg, train_ds)
    with rmtl.Fusion(fusion_cfg) as f:
        with pytest.raises(TypeError, match="env must be an rmtl.SimEnv"):
            f.round(f)
    with pytest.raises(TypeError, match="path"):
        rmtl.Model.load(3)
    with pytest.raises(ValueError, match="NUL"):
        rmtl.Model.load("a\0b")
    with pytest.raises(TypeError, match="data must be bytes"):
        rmtl.Model.from_bytes("text")
    with pytest.raises(rmtl.RmtlError) as e:
        rmtl.Model.from_bytes(b"not a checkpoint")
    assert e.value.code in (rmtl.EFORMAT, rmtl.EVERSION)


def test_dataset_layout_must_fit_the_model(cfg, train_ds):
    narrow = rmtl.Dataset.from_arrays([[1], [2]], [10], num=[[0.0, 0.0], [1.0, 1.0]],
                                      labels=[[1.0, 0.0], [0.0, 1.0]])
    with rmtl.Model(cfg, train_ds) as m, narrow:
        with pytest.raises(ValueError, match="layout"):
            m.predict(narrow)
        with pytest.raises(ValueError, match="cat has 1 columns, expected 2"):
            m.predict(cat=[[1], [2]], num=[[0.0, 0.0], [1.0, 1.0]])
        with pytest.raises(ValueError, match="num has 3 rows, expected 2"):
            m.predict(cat=[[1, 1], [2, 2]], num=[[0.0, 0.0]] * 3)
        with pytest.raises(ValueError, match="weights"):
            m.train_step([[1, 1]], [[0.0, 0.0]], [[1.0, 0.0]], weights=[1.0])
        with pytest.raises(rmtl.RmtlError) as e:  # ids beyond the vocabulary: C's check
            m.predict(cat=[[1, 99]], num=[[0.0, 0.0]])
        assert e.value.code == rmtl.EINVAL


def test_replay_and_env_shapes(cfg, train_ds):
    with rmtl.Env(cfg, train_ds) as env, rmtl.Replay.for_env(env, 50, seed=1) as rb:
        env.reset()
        with pytest.raises(ValueError, match="action holds 1 values, expected 2"):
            env.step([0.5])
        rb.fill_random(env, 10)
        t = rb.sample(4)
        t["reward"] = t["reward"][:3] if rmtl.HAVE_NUMPY else t["reward"][:6]
        with pytest.raises(ValueError, match="reward"):
            rb.store(t)
        with pytest.raises(ValueError, match="lacks done"):
            rb.store({k: v for k, v in rb.sample(2).items() if k != "done"})
        with pytest.raises(OverflowError, match="done"):
            b = rb.sample(2)
            b["done"] = [300, 0]
            rb.store(b)
    with pytest.raises(OverflowError, match="capacity"):
        rmtl.Replay(0, 2, 2, 2)


PAST_THE_CHECKS = r'''
import ctypes, sys
sys.path.insert(0, sys.argv[1])
import rmtl, rmtl._lib as L
f = rmtl.Fusion(rmtl.Config(yaml="runtime: {threads: 1}"))
i = f.info
n, F = 3, ctypes.c_float
scores, user = (F * (n * i["tasks"]))(*[0.5] * (n * i["tasks"])), (F * i["user_dim"])()
ctx, out = (F * i["context_dim"])(), (F * n)()
libc = ctypes.CDLL(None)
libc.malloc.restype = ctypes.c_void_p
libc.calloc.restype = ctypes.c_void_p
items = libc.calloc(i["item_dim"], 4)  # one row for n candidates, from malloc: ASan sees it
addr = ctypes.addressof
req = L.FusionRequest_(1, n, i["user_dim"], addr(user), i["context_dim"], addr(ctx),
                       i["item_dim"], items, i["tasks"], addr(scores))
L.lib.rmtl_fuse_scores_batch(f.handle, None, ctypes.byref(req), addr(out), n, None, 0)
'''


@pytest.mark.skipif("libasan" not in os.environ.get("LD_PRELOAD", ""),
                    reason="only under make asan (libasan preloaded)")
def test_asan_sees_what_the_checks_stop():
    """The canary of the ASan run: the short `items` that fuse_batch refuses,
    passed to C directly, is a heap-buffer-overflow report."""
    import subprocess
    import sys
    r = subprocess.run([sys.executable, "-c", PAST_THE_CHECKS,
                        os.path.join(HERE, "..", "..", "bindings", "python")],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode != 0 and "heap-buffer-overflow" in r.stderr, r.stderr[-2000:]


def test_threads_cannot_race_a_call_that_changes_a_handle(cfg, train_ds):
    import threading
    with rmtl.Model(cfg, train_ds) as m:
        results = {}
        started, done = threading.Event(), threading.Event()

        def progress(p):  # holds the training call open until the other thread is done
            if not started.is_set():
                started.set()
                done.wait(20)

        def other():
            started.wait(20)
            for name, call in (("predict", lambda: m.predict(train_ds)),
                               ("set_lr", lambda: m.set_lr(0.1)), ("close", m.close),
                               ("close_data", train_ds.close)):
                try:
                    call()
                    results[name] = "ran"
                except (RuntimeError, ValueError) as e:
                    results[name] = type(e).__name__
            done.set()
        t = threading.Thread(target=other)
        t.start()
        m.train_epoch(train_ds, progress=progress)
        t.join()
        assert results == {"predict": "RuntimeError", "set_lr": "RuntimeError",
                           "close": "ValueError", "close_data": "ValueError"}
        # the training thread's own callback may read the model
        seen = []
        m.train_epoch(train_ds, progress=lambda p: seen.append(m.num_tasks))
        assert seen and seen[0] == 2
        with pytest.raises(RuntimeError, match="being changed"):
            m.train_epoch(train_ds, progress=lambda p: m.set_lr(0.1))
        # serving: several threads predict at once, one context each
        ref = m.predict(train_ds)
        out = [None] * 4

        def serve(k):
            with rmtl.Ctx() as ctx:
                out[k] = m.predict(train_ds, ctx=ctx)
        ts = [threading.Thread(target=serve, args=(k,)) for k in range(4)]
        for x in ts:
            x.start()
        for x in ts:
            x.join()
        assert all(flat(o) == flat(ref) for o in out)


def test_garbage_collection_inside_a_call_does_not_deadlock():
    """The cycle collector may run a Handle.__del__ (close) at any
    allocation, also while this thread holds the bookkeeping lock of a
    call (it once deadlocked there)."""
    import threading
    import rmtl._lib as L

    def collect_inside():
        c = rmtl.Config()
        with L._guard:  # as if the collector freed c inside using.__enter__
            c.__del__()
        assert c.closed
    t = threading.Thread(target=collect_inside, daemon=True)
    t.start()
    t.join(30)
    assert not t.is_alive(), "deadlocked"
