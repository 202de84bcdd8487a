"""Random calls with random arguments on live handles: every public method
either works or raises a Python exception; none crashes the process (a
crash fails the whole run) or closes a handle it was not asked to. Under
`make asan` the same calls run on the ASan library. (The first run of this
found Dataset("x") freeing a str as a pointer.)"""
import random

import pytest

import rmtl
from conftest import FUSION_WORLD, SMALL, make_dataset, needs_numpy

SKIP = {"close", "load", "save", "log", "log_random", "train", "round", "cem", "evaluate",
        "fill_random", "fill_actor", "train_epoch"}  # slow, or write files
HANDLE_CLASSES = ("Config", "Dataset", "Model", "Fusion", "Env", "Replay", "Critic", "Actor",
                  "Agent", "SimEnv", "Ctx", "Encoder", "DatasetStream")
CSV = "color,size,click\nred,1.5,1\nblue,,0\ngreen,-2,1\nred,0.25,0\n"
CSV_SCHEMA = {"columns": {"color": "categorical", "size": "numerical",
                          "click": {"role": "label", "threshold": 0.5}}}


@needs_numpy
@pytest.mark.parametrize("seed", [1, 2])
def test_random_calls_never_crash(seed, tmp_path):
    import numpy as np
    rnd = random.Random(seed)
    nrs = np.random.default_rng(seed)
    cfg, fcfg = rmtl.Config(yaml=SMALL), rmtl.Config(yaml=FUSION_WORLD)
    ds = make_dataset(200, 1)
    model, fus, sim = rmtl.Model(cfg, ds), rmtl.Fusion(fcfg), rmtl.SimEnv(fcfg)
    env = rmtl.Env(cfg, ds)
    rb = rmtl.Replay.for_env(env, 100, 1)
    rb.fill_random(env, 100)
    agent, ctx = rmtl.Agent(cfg, model), rmtl.Ctx()
    raw_ds = rmtl.Dataset.from_buffer(CSV, schema=CSV_SCHEMA)
    raw_model = rmtl.Model(cfg, raw_ds)
    enc = rmtl.Encoder(raw_model)
    ds.save(str(tmp_path / "ds.rmtlds"))
    stream = rmtl.DatasetStream(str(tmp_path / "ds.rmtlds"), buffer_rows=64, chunk_rows=16)
    live = (cfg, fcfg, ds, model, fus, sim, env, rb, agent, ctx, raw_ds, raw_model, enc, stream)

    def garbage(depth=0):
        k = rnd.randrange(14)
        if k == 0:
            return None
        if k == 1:
            return rnd.choice([0, 1, -1, 2 ** 31, 2 ** 40, 2 ** 64, -2 ** 70, 3])
        if k == 2:
            return rnd.choice([0.5, float("nan"), float("inf"), -1e300, 1.7])
        if k == 3:
            return rnd.choice(["", "x", "a\0b", "model.arch", b"\x00\x01"])
        if k == 4 and depth < 2:
            return [garbage(depth + 1) for _ in range(rnd.randrange(4))]
        if k == 5:
            shape = tuple(rnd.randrange(0, 5) for _ in range(rnd.randrange(0, 4)))
            dt = rnd.choice([np.float32, np.float64, np.int32, np.int64, np.uint8, np.bool_,
                             np.int16, object])
            return np.zeros(shape, dtype=dt)
        if k == 6:
            return nrs.random((rnd.randrange(1, 300), rnd.randrange(1, 40)), dtype=np.float32)
        if k == 7:
            return nrs.integers(0, 12, size=(rnd.randrange(1, 300), rnd.randrange(1, 4)),
                                dtype=np.int32)
        if k == 8:
            return rnd.choice(live)
        if k == 9:
            return nrs.random(rnd.randrange(1, 50), dtype=np.float32)
        if k == 10:
            return nrs.random((300, 40), dtype=np.float32)[:, ::3]
        if k == 12:  # raw rows for an encoder: right or wrong widths, odd text
            return [[rnd.choice(["red", "", " 3.5 ", "abc", "1e999", "nan", "x" * 300])
                     for _ in range(rnd.choice([1, 2, 2, 3]))]
                    for _ in range(rnd.randrange(0, 6))]
        if k == 11:
            return {"rows": [[0, 1]], "next_rows": [[1, 1]], "cat": [[1, 1]]}
        return rnd.choice([True, False, 0, 5, 100])

    targets = []
    for obj in live + (rmtl,):
        for name in dir(obj):
            if name.startswith("_") or name in SKIP:
                continue
            fn = getattr(obj, name)
            if (callable(fn) and not isinstance(fn, type)) or name in HANDLE_CLASSES:
                targets.append((name, fn))
    calls = 0
    for _ in range(1500):
        name, fn = rnd.choice(targets)
        args = [garbage() for _ in range(rnd.randrange(0, 5))]
        try:
            r = fn(*args)
            calls += 1
            if isinstance(r, rmtl.Model.__mro__[-2]) and all(r is not h for h in live):
                r.close()
        except (TypeError, ValueError, OverflowError, RuntimeError, rmtl.RmtlError):
            pass
        assert not any(h.closed for h in live), name
    assert calls > 20  # some calls got through to C
    for h in (stream, enc, raw_model, raw_ds, ctx, agent, rb, env, sim, fus, model, ds, fcfg, cfg):
        h.close()
