"""Dataset cache files (save / load_cache), shards, streaming epochs
(DatasetStream) and off-policy evaluation (Fusion.ope): round trips,
damaged files, every row once per epoch, argument checks, closed handles."""
import os
import re

import pytest

import rmtl
from conftest import FUSION_WORLD, flat

HERE = os.path.dirname(os.path.abspath(__file__))
DOCS = os.path.normpath(os.path.join(HERE, "..", "..", "docs", "python.md"))


def _rows(arrays):
    """The rows of to_arrays() as a sorted list of tuples (order-free)."""
    n_cat = len(flat(arrays["cat"])) // len(arrays["session"])
    cat, num, lab, ses = (flat(arrays[k]) for k in ("cat", "num", "labels", "session"))
    rows = len(ses)
    n_num, n_lab = len(num) // rows, len(lab) // rows
    return sorted((tuple(cat[i * n_cat:(i + 1) * n_cat]), tuple(num[i * n_num:(i + 1) * n_num]),
                   tuple(lab[i * n_lab:(i + 1) * n_lab]), ses[i]) for i in range(rows))


def _read(path):
    with open(path, "rb") as f:
        return f.read()


@pytest.fixture
def cache(tmp_path, train_ds):
    path = str(tmp_path / "train.rmtlds")
    train_ds.save(path)
    return path


def test_save_load_cache_round_trip(cache, train_ds, trained):
    with rmtl.Dataset.load_cache(cache) as back:
        assert back.layout == train_ds.layout and back.rows == train_ds.rows
        assert back.task_names == train_ds.task_names
        a, b = train_ds.to_arrays(), back.to_arrays()
        for k in ("cat", "num", "labels", "session"):
            assert flat(a[k]) == flat(b[k]), k
        assert flat(trained.predict(back)) == flat(trained.predict(train_ds))


def test_load_cache_shards_hold_each_row_once(cache, train_ds):
    parts = []
    for p in range(3):
        with rmtl.Dataset.load_cache(cache, part=p, parts=3) as d:
            parts.append(d.to_arrays())
    whole = train_ds.to_arrays()
    got = [r for a in parts for r in _rows(a)]
    assert sorted(got) == _rows(whole)
    assert all(len(a["session"]) > 0 for a in parts)


def test_damaged_cache_is_eformat(cache, tmp_path):
    data = bytearray(_read(cache))
    bad = tmp_path / "bad.rmtlds"
    data[len(data) // 2] ^= 0x40
    bad.write_bytes(bytes(data))
    with pytest.raises(rmtl.RmtlError) as e:
        rmtl.Dataset.load_cache(str(bad))
    assert e.value.code == rmtl.EFORMAT
    short = tmp_path / "short.rmtlds"
    short.write_bytes(bytes(data[:len(data) // 3]))
    with pytest.raises(rmtl.RmtlError) as e:
        rmtl.Dataset.load_cache(str(short))
    assert e.value.code == rmtl.EFORMAT
    with pytest.raises(rmtl.RmtlError) as e:
        rmtl.Dataset.load_cache(str(tmp_path / "absent.rmtlds"))
    assert e.value.code == rmtl.EIO


def test_cache_argument_checks(cache, train_ds, tmp_path):
    with pytest.raises(TypeError, match="path"):
        rmtl.Dataset.load_cache(3)
    with pytest.raises(TypeError, match="part"):
        rmtl.Dataset.load_cache(cache, part=1.0, parts=2)
    with pytest.raises(ValueError, match="part"):
        rmtl.Dataset.load_cache(cache, part=2, parts=2)
    with pytest.raises(ValueError, match="part"):
        rmtl.Dataset.load_cache(cache, part=1)
    with pytest.raises(OverflowError, match="parts"):
        rmtl.Dataset.load_cache(cache, part=0, parts=1 << 32)
    with pytest.raises(OverflowError, match="part"):
        rmtl.Dataset.load_cache(cache, part=-1, parts=2)
    with pytest.raises(TypeError, match="path"):
        train_ds.save(None)
    with pytest.raises(ValueError, match="path"):
        train_ds.save("a\0b")
    with pytest.raises(rmtl.RmtlError) as e:
        train_ds.save(str(tmp_path / "no" / "such" / "dir" / "x.rmtlds"))
    assert e.value.code == rmtl.EIO
    d = rmtl.Dataset.load_cache(cache)
    d.close()
    with pytest.raises(ValueError, match="closed"):
        d.save(str(tmp_path / "x.rmtlds"))


def test_load_threads_and_parts(tmp_path, train_ds):
    """Dataset.load passes threads and part/parts (rmtl_load_options):
    the shards of a CSV hold each row of the whole load exactly once."""
    csv = tmp_path / "t.csv"
    schema = tmp_path / "s.yaml"
    schema.write_text("columns:\n  a: {role: categorical}\n  x: {role: numerical}\n"
                      "  y: {role: label, threshold: 0.5}\n")
    csv.write_text("a,x,y\n" + "".join("c%d,%d,%d\n" % (i % 7, i, i % 2) for i in range(500)))
    with rmtl.Dataset.load(str(csv), schema=str(schema), threads=2) as whole:
        w = whole.to_arrays()
        one = rmtl.Dataset.load(str(csv), schema=str(schema), threads=1)
        assert flat(one.to_arrays()["num"]) == flat(w["num"])
        one.close()
        got = []
        for p in range(4):
            with rmtl.Dataset.load(str(csv), reference=whole, part=p, parts=4, threads=1) as d:
                got += flat(d.to_arrays()["num"])
        assert sorted(got) == sorted(flat(w["num"]))
        with pytest.raises(ValueError, match="reference"):
            rmtl.Dataset.load(str(csv), schema=str(schema), part=0, parts=2)
        with pytest.raises(ValueError, match="part"):
            rmtl.Dataset.load(str(csv), reference=whole, part=4, parts=4)
        with pytest.raises(TypeError, match="threads"):
            rmtl.Dataset.load(str(csv), reference=whole, threads="2")
        with pytest.raises(OverflowError, match="threads"):
            rmtl.Dataset.load(str(csv), reference=whole, threads=-1)


def test_stream_yields_every_row_once_per_epoch(cache, train_ds):
    want = _rows(train_ds.to_arrays())
    with rmtl.DatasetStream(cache, buffer_rows=300, chunk_rows=128, seed=4) as s:
        assert s.rows == len(s) == train_ds.rows
        assert s.schema.layout == train_ds.layout and s.schema.rows == 0
        orders = []
        for epoch in range(2):
            got, sizes, first = [], [], []
            for chunk in s:
                assert isinstance(chunk, rmtl.Dataset)
                sizes.append(chunk.rows)
                a = chunk.to_arrays()
                got += _rows(a)
                first += flat(a["num"])
                chunk.close()
            assert sorted(got) == want and max(sizes) <= 128
            orders.append(first)
        assert orders[0] != orders[1]  # epoch e is shuffled with seed + e
    with rmtl.DatasetStream(cache, buffer_rows=300, chunk_rows=128, seed=4) as s2:
        again = [v for c in s2 for v in flat(c.to_arrays()["num"])]
    assert again == orders[0]  # seeded


def test_stream_trains_a_model(cache, cfg, test_ds):
    with rmtl.DatasetStream(cache, buffer_rows=500, chunk_rows=256, seed=1) as s:
        m = rmtl.Model(cfg, s.schema)
        before = m.evaluate(test_ds)["auc"]
        for epoch in range(2):
            losses = [m.train_epoch(c) for c in s]
        assert all(l_ > 0 for l_ in losses)
    assert sum(m.evaluate(test_ds)["auc"]) > sum(before) + 0.05
    m.close()


def test_stream_checks_and_closed(cache, tmp_path):
    with pytest.raises(TypeError, match="buffer_rows"):
        rmtl.DatasetStream(cache, buffer_rows=1.5, chunk_rows=10)
    with pytest.raises(OverflowError, match="chunk_rows"):
        rmtl.DatasetStream(cache, buffer_rows=10, chunk_rows=0)
    with pytest.raises(OverflowError, match="seed"):
        rmtl.DatasetStream(cache, buffer_rows=10, chunk_rows=10, seed=-1)
    with pytest.raises(TypeError, match="path"):
        rmtl.DatasetStream(b"x" if False else 7, buffer_rows=10, chunk_rows=10)
    junk = tmp_path / "junk.rmtlds"
    junk.write_bytes(b"not a dataset cache" * 10)
    with pytest.raises(rmtl.RmtlError) as e:
        rmtl.DatasetStream(str(junk), buffer_rows=10, chunk_rows=10)
    assert e.value.code == rmtl.EFORMAT
    s = rmtl.DatasetStream(cache, buffer_rows=100, chunk_rows=10)
    schema = s.schema
    chunk = s.next_chunk()
    s.close()
    s.close()
    assert s.closed and schema.closed and "closed" in repr(s)
    assert chunk.rows == 10  # the caller's chunk outlives the stream
    chunk.close()
    for call in (lambda: s.next_chunk(), lambda: s.rows, lambda: list(s),
                 lambda: s.schema):
        with pytest.raises(ValueError, match="closed"):
            call()
    with pytest.raises(TypeError):
        import pickle
        pickle.dumps(rmtl.DatasetStream(cache, buffer_rows=100, chunk_rows=10))


def test_stream_damaged_block_is_eformat(cache, tmp_path):
    data = bytearray(_read(cache))
    data[len(data) // 2] ^= 0x40
    bad = tmp_path / "bad.rmtlds"
    bad.write_bytes(bytes(data))
    with pytest.raises(rmtl.RmtlError) as e:
        with rmtl.DatasetStream(str(bad), buffer_rows=100, chunk_rows=50) as s:
            for chunk in s:
                chunk.close()
    assert e.value.code == rmtl.EFORMAT


def test_docs_stream_snippet_runs(cache, cfg):
    """The streaming example of docs/python.md, run on a small cache."""
    text = _read(DOCS).decode("utf-8")
    m = re.search(r"<!-- stream-example -->\s*```python\n(.*?)```", text, re.S)
    assert m, "docs/python.md lost its streaming example"
    env = {"rmtl": rmtl, "cfg": cfg, "CACHE": cache}
    exec(compile(m.group(1), DOCS, "exec"), env)
    assert env["model"].num_tasks == 2 and env["loss"] > 0
    env["model"].close()


def test_ope_on_policy_is_the_logged_mean(fusion_cfg):
    """A behaviour that explores at a vanishing temperature shows what the
    served policy ranks first: evaluated on that log the served policy has
    every importance weight 1, SNIPS is the log's mean request reward (the
    explored sessions' total reward / requests) and the ESS is the request
    count. The log of a second round covers both rounds' requests."""
    fusion_cfg["fusion.explore_temperature"] = 1e-6
    with rmtl.SimEnv(fusion_cfg) as env, rmtl.Fusion(fusion_cfg) as f, \
            rmtl.Fusion(fusion_cfg) as empty:
        with pytest.raises(rmtl.RmtlError) as e:
            f.ope(empty)
        assert e.value.code == rmtl.ESTATE
        action = [1.0] * f.info["action_dim"]
        f.set_fixed(action)
        st = f.round(env, sessions=20, train_steps=0)
        assert isinstance(st["deployed"], bool) and st["gated"] is False
        assert st["ope_new"] is None
        f.set_fixed(action)  # the behaviour policy of the round again
        est = f.ope(f)
        assert isinstance(est, rmtl.OpeEstimate)
        ex = st["explore"]
        assert est.requests == ex["requests"] == st["log_requests"] > 0
        assert est.ess == pytest.approx(est.requests, rel=1e-9)
        assert est.snips == pytest.approx(ex["reward_mean"] * ex["sessions"] / ex["requests"],
                                          rel=1e-9)
        assert est.snips_lo < est.snips < est.snips_hi
        assert est.dr_lo <= est.dr <= est.dr_hi
        f.round(env, sessions=20, train_steps=5)  # deploys a trained actor
        other = f.ope(f)
        assert other.requests > est.requests and 0 < other.ess <= other.requests * (1 + 1e-9)
        with pytest.raises(TypeError, match="logged"):
            f.ope(env)
        with pytest.raises(TypeError, match="logged"):
            f.ope(None)
    with pytest.raises(ValueError, match="closed"):
        f.ope(f)


def test_ope_gate_reports_estimates():
    with rmtl.Config(yaml=FUSION_WORLD) as c:
        c["fusion.ope_gate"] = True
        with rmtl.SimEnv(c) as env, rmtl.Fusion(c) as f:
            st = f.round(env, sessions=20, train_steps=5)
            assert st["gated"] is True
            new, dep, g = st["ope_new"], st["ope_deployed"], st["gate"]
            assert new.requests == dep.requests > 0
            assert g["lo"] <= g["gain"] <= g["hi"]
            assert st["deployed"] == (g["lo"] > -c["fusion.gate_margin"] * abs(g["base"]))


def _csv(path, rows):
    with open(path, "w") as f:
        f.write("a,b,x,click\n")
        for i in range(rows):
            f.write("%d,w%d,%.3f,%d\n" % (i % 17, (i * 7) % 5, (i % 100) / 50.0, i % 3 == 0))
    return str(path)


def test_stream_from_csv_every_row_once(tmp_path):
    schema = {"default": "categorical",
              "columns": {"x": "numerical", "click": {"role": "label", "threshold": 0.5}}}
    csv = _csv(tmp_path / "big.csv", 3000)
    with rmtl.Dataset.load(csv, schema=schema) as whole:
        want = _rows(whole.to_arrays())
        with rmtl.DatasetStream.from_csv(csv, whole, buffer_rows=256, chunk_rows=100,
                                         seed=2, threads=1) as s:
            assert s.rows == 0  # known once an epoch has ended
            got = [r for c in s for r in _rows(c.to_arrays())]
            assert s.rows == 3000 and s.schema.layout == whole.layout
        # sessions are per part: compare the rest of each row
        assert sorted(g[:3] for g in got) == sorted(w[:3] for w in want)
        with rmtl.DatasetStream.from_csv(csv, whole, buffer_rows=256, chunk_rows=100,
                                         seed=2) as s2:
            again = [r for c in s2 for r in _rows(c.to_arrays())]
        assert again == got  # seeded, whatever the thread count
        with pytest.raises(TypeError, match="reference"):
            rmtl.DatasetStream.from_csv(csv, "x", buffer_rows=10, chunk_rows=10)
        with pytest.raises(OverflowError, match="chunk_rows"):
            rmtl.DatasetStream.from_csv(csv, whole, buffer_rows=10, chunk_rows=0)
        with pytest.raises(rmtl.RmtlError) as e:
            rmtl.DatasetStream.from_csv(str(tmp_path / "none.csv"), whole, buffer_rows=10,
                                        chunk_rows=10)
        assert e.value.code == rmtl.EIO
