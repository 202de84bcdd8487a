"""Serving from raw features: Encoder, Model.predict_raw, Dataset.from_buffer,
Fusion.for_model / check_model and rmtl.usable_cpus."""
import csv
import gzip
import io
import os
import random

import pytest

import rmtl
from conftest import FUSION_WORLD, ROOT, SMALL

CENSUS = os.path.join(ROOT, "..", "shared", "data", "census", "val.csv.gz")
CENSUS_SCHEMA = os.path.join(ROOT, "examples", "schemas", "census.yaml")

SCHEMA = {"columns": {"color": "categorical", "shape": "categorical", "size": "numerical",
                      "weight": "numerical", "sid": "session",
                      "click": {"role": "label", "threshold": 0.5}}}


def generated_csv(n=300, seed=4):
    """A small CSV with two categorical and two numerical columns, some
    missing values, spaces around cells and values unseen in training."""
    rnd = random.Random(seed)
    out = ["color,shape,size,weight,sid,click"]
    for i in range(n):
        color = rnd.choice(["red", "green", " blue", "grey", ""])
        shape = rnd.choice(["round", "square", "star"])
        size = "%.6g" % rnd.gauss(3, 2)
        weight = rnd.choice(["%.3f" % rnd.uniform(0, 9), "", " 1e2 "])
        out.append("%s,%s,%s,%s,%d,%d" % (color, shape, size, weight, i // 4,
                                          rnd.random() < 0.4))
    return "\n".join(out) + "\n"


def bits(a):
    return a.tobytes() if hasattr(a, "tobytes") else bytes(a)


@pytest.fixture(scope="module")
def world():
    """(CSV text, header, data rows, dataset, model): census's first 300
    validation rows when ../shared/data is there, else a generated CSV."""
    if os.path.exists(CENSUS):
        with gzip.open(CENSUS, "rt") as f:
            lines = [next(f) for _ in range(301)]
        text, schema = "".join(lines), CENSUS_SCHEMA
    else:
        text, schema = generated_csv(), SCHEMA
    rows = list(csv.reader(io.StringIO(text)))
    ds = rmtl.Dataset.from_buffer(text, schema=schema)
    with rmtl.Config(yaml=SMALL) as cfg:
        model = rmtl.Model(cfg, ds)
    yield text, rows[0], rows[1:], ds, model
    model.close()
    ds.close()


def by_columns(enc, header, rows):
    idx = [header.index(c) for c in enc.columns]
    return [[r[i] for i in idx] for r in rows]


def test_encode_then_predict_equals_the_csv_bit_for_bit(world):
    text, header, rows, ds, model = world
    want = bits(model.predict(ds))
    with rmtl.Encoder(model) as enc:
        assert enc.n_columns == len(enc.columns) == ds.n_cat + ds.n_num
        raw = by_columns(enc, header, rows)
        e = enc.encode(raw)
        arrays = ds.to_arrays()
        assert bits(e.cat) == bits(arrays["cat"]) and bits(e.num) == bits(arrays["num"])
        assert bits(model.predict(e)) == want
        assert bits(enc.predict(model, raw)) == want
        with rmtl.Ctx(1) as ctx:
            assert bits(enc.predict(model, raw, ctx=ctx)) == want
            assert bits(model.predict(enc.encode(raw, ctx=ctx), ctx=ctx)) == want
    assert bits(model.predict_raw(raw)) == want
    # the CSV's own column order, label and other columns skipped (None)
    cols = [c if c in set(ds.field_names) | set(ds.num_names) else None for c in header]
    with rmtl.Encoder(ds, columns=cols) as enc:
        assert enc.columns == cols
        assert bits(enc.predict(model, rows)) == want
    assert bits(model.predict_raw(rows, columns=cols)) == want
    if rmtl.HAVE_NUMPY:
        import numpy as np
        with rmtl.Encoder(model) as enc:
            assert bits(enc.predict(model, np.array(raw, dtype=object))) == want
            assert bits(enc.predict(model, np.array(raw, dtype=str))) == want


class Frame:
    """The part of a pandas DataFrame the encoder reads (pandas may be
    absent): columns, len, frame[name].tolist()."""

    def __init__(self, header, rows):
        self.columns = list(header)
        self._cols = {h: [r[i] for r in rows] for i, h in enumerate(header)}
        self._n = len(rows)

    def __len__(self):
        return self._n

    def __getitem__(self, name):
        class Col(list):
            def tolist(self):
                return list(self)
        return Col(self._cols[name])

    def to_csv(self, *a, **k):
        raise AssertionError("the encoder reads columns, not CSV text")


def test_encode_a_frame(world):
    text, header, rows, ds, model = world
    want = bits(model.predict(ds))
    with rmtl.Encoder(model) as enc:
        assert bits(enc.predict(model, Frame(header, rows))) == want
        with pytest.raises(ValueError, match="lacks the columns"):
            enc.encode(Frame(header[1:], [r[1:] for r in rows]))


def test_encoder_checks(world):
    text, header, rows, ds, model = world
    enc = rmtl.Encoder(model)
    raw = by_columns(enc, header, rows[:3])
    n = enc.n_columns
    with pytest.raises(TypeError, match="source"):
        rmtl.Encoder("model")
    with pytest.raises(TypeError, match="columns"):
        rmtl.Encoder(model, columns="age")
    with pytest.raises(TypeError, match=r"columns\[1\]"):
        rmtl.Encoder(model, columns=["age", 3])
    with pytest.raises(ValueError, match="columns is empty"):
        rmtl.Encoder(model, columns=[])
    with pytest.raises(rmtl.RmtlError, match="not a column") as e:
        rmtl.Encoder(model, columns=enc.columns + ["no_such_column"])
    assert e.value.code == rmtl.EINVAL
    with pytest.raises(rmtl.RmtlError) as e:  # a feature left out
        rmtl.Encoder(model, columns=enc.columns[1:])
    assert e.value.code == rmtl.EINVAL
    with pytest.raises(TypeError, match="rows"):
        enc.encode("a,b")
    with pytest.raises(ValueError, match="rows is empty"):
        enc.encode([])
    with pytest.raises(ValueError, match=r"rows\[1\] has %d values; the encoder reads %d"
                       % (n - 1, n)):
        enc.encode([raw[0], raw[1][:-1]])
    with pytest.raises(TypeError, match=r"rows\[0\]"):
        enc.encode(["x" * n])
    bad = [list(r) for r in raw]
    bad[2][1] = 7
    with pytest.raises(TypeError, match=r"rows\[2\]\[1\] .*must be a str"):
        enc.encode(bad)
    bad[2][1] = None
    with pytest.raises(ValueError, match=r"rows\[2\]\[1\] .*missing"):
        enc.encode(bad)
    bad[2][1] = float("nan")
    with pytest.raises(ValueError, match="missing"):
        enc.encode(bad)
    bad[2][1] = "a\0b"
    with pytest.raises(ValueError, match="NUL"):
        enc.encode(bad)
    num_col = enc.columns.index(ds.num_names[0])
    bad = [list(r) for r in raw]
    bad[1][num_col] = "abc"
    with pytest.raises(rmtl.RmtlError) as e:
        enc.encode(bad)
    assert e.value.code == rmtl.EFORMAT
    with pytest.raises(TypeError, match="ctx"):
        enc.encode(raw, ctx="ctx")
    with pytest.raises(TypeError, match="model"):
        enc.predict(ds, raw)
    if rmtl.HAVE_NUMPY:
        import numpy as np
        with pytest.raises(TypeError, match="dtype"):
            enc.encode(np.zeros((2, n)))
        with pytest.raises(ValueError, match="2-D"):
            enc.encode(np.array(raw[0], dtype=object))
    # a model of another layout
    with rmtl.Dataset.from_arrays([[1, 2]], [10, 8], num=[[0.5, 0.5]],
                                  labels=[[1.0, 0.0]]) as other, \
            rmtl.Config(yaml=SMALL) as cfg, rmtl.Model(cfg, other) as m2:
        with pytest.raises(ValueError, match="layout"):
            enc.predict(m2, raw)
        with pytest.raises(rmtl.RmtlError):  # built from arrays: no vocabularies
            rmtl.Encoder(other)
    enc.close()
    enc.close()
    for call in (lambda: enc.encode(raw), lambda: enc.predict(model, raw),
                 lambda: enc.n_columns, lambda: enc.columns):
        with pytest.raises(ValueError, match="closed"):
            call()
    with rmtl.Ctx(1) as ctx:
        pass
    with rmtl.Encoder(model) as enc:
        with pytest.raises(ValueError, match="closed"):
            enc.encode(raw, ctx=ctx)


def test_encoder_outlives_its_model(world):
    text, header, rows, ds, model = world
    m = model.clone()
    want = bits(m.predict(ds))
    enc = rmtl.Encoder(m)
    raw = by_columns(enc, header, rows)
    e = None
    m.close()
    e = enc.encode(raw)
    assert bits(model.predict(e)) == want
    enc.close()


def test_from_buffer_equals_the_file(world, tmp_path):
    text, header, rows, ds, model = world
    path = tmp_path / "x.csv"
    path.write_text(text)
    schema = CENSUS_SCHEMA if os.path.exists(CENSUS) else SCHEMA
    with rmtl.Dataset.load(str(path), schema=schema) as a, \
            rmtl.Dataset.from_buffer(text.encode(), schema=schema) as b, \
            rmtl.Dataset.from_buffer(gzip.compress(text.encode()), reference=a) as c, \
            rmtl.Dataset.from_buffer(memoryview(text.encode()), reference=model) as d:
        want = {k: bits(v) for k, v in a.to_arrays().items() if v is not None}
        for x in (b, c, d):
            got = {k: bits(v) for k, v in x.to_arrays().items() if v is not None}
            assert got == want
        assert b.vocab_sizes == a.vocab_sizes
    if schema == CENSUS_SCHEMA:
        with open(schema) as f:
            yaml_text = f.read()
        with rmtl.Dataset.from_buffer(text, schema=yaml_text) as e:
            assert bits(e.to_arrays()["num"]) == bits(ds.to_arrays()["num"])


def test_from_buffer_checks(world):
    text, header, rows, ds, model = world
    with pytest.raises(TypeError, match="data"):
        rmtl.Dataset.from_buffer(123, reference=ds)
    with pytest.raises(ValueError, match="data is empty"):
        rmtl.Dataset.from_buffer(b"", reference=ds)
    with pytest.raises(ValueError, match="neither"):
        rmtl.Dataset.from_buffer(text)
    with pytest.raises(ValueError, match="both"):
        rmtl.Dataset.from_buffer(text, schema=SCHEMA, reference=ds)
    with pytest.raises(TypeError, match="reference"):
        rmtl.Dataset.from_buffer(text, reference="x")
    with pytest.raises(OSError, match="nonexistent"):
        rmtl.Dataset.from_buffer(text, schema="/nonexistent/s.yaml")
    with pytest.raises(rmtl.RmtlError) as e:  # the header lacks the schema's columns
        rmtl.Dataset.from_buffer("a,b\n1,2\n", reference=ds)
    assert e.value.code in (rmtl.EFORMAT, rmtl.EINVAL)
    with pytest.raises(rmtl.RmtlError):  # truncated gzip
        rmtl.Dataset.from_buffer(gzip.compress(text.encode())[:40], reference=ds)


def test_fusion_for_model_and_check_model(world):
    text, header, rows, ds, model = world
    with rmtl.Config(yaml=FUSION_WORLD) as cfg:
        with rmtl.Fusion.for_model(cfg, model) as f:
            assert f.info["tasks"] == model.num_tasks
            f.check_model(model)
            with rmtl.Fusion.from_bytes(f.to_bytes()) as g:
                g.check_model(model)
        cfg.set("model.tasks", ["a", "b", "c"])
        with pytest.raises(rmtl.RmtlError) as e:
            rmtl.Fusion.for_model(cfg, model)
        assert e.value.code == rmtl.ECONFIG
    with rmtl.Fusion.for_model({"fusion.actor_hidden": [8]}, model) as f:
        with rmtl.Dataset.from_arrays([[1, 2]], [10, 8], num=[[0.5, 0.5]],
                                      labels=[[1.0, 0.0, 1.0]]) as three, \
                rmtl.Config(yaml=SMALL) as c3:
            c3.set("model.tasks", ["x", "y", "z"])
            with rmtl.Model(c3, three) as m3:
                with pytest.raises(rmtl.RmtlError) as e:
                    f.check_model(m3)
                assert e.value.code == rmtl.EINVAL
        with pytest.raises(TypeError, match="model"):
            f.check_model(ds)
    with pytest.raises(TypeError, match="model"):
        rmtl.Fusion.for_model({}, ds)
    m = model.clone()
    m.close()
    with pytest.raises(ValueError, match="closed"):
        rmtl.Fusion.for_model({}, m)


def test_usable_cpus():
    n = rmtl.usable_cpus()
    assert isinstance(n, int) and 1 <= n <= os.cpu_count()
    if hasattr(os, "sched_getaffinity"):
        assert n <= len(os.sched_getaffinity(0))


def test_public_names_have_docstrings():
    for obj in (rmtl.Encoder, rmtl.Encoded, rmtl.usable_cpus, rmtl.Encoder.encode,
                rmtl.Encoder.predict, rmtl.Encoder.columns, rmtl.Encoder.n_columns,
                rmtl.Encoder.layout, rmtl.Model.predict_raw, rmtl.Fusion.for_model,
                rmtl.Fusion.check_model, rmtl.Dataset.from_buffer):
        assert (obj.__doc__ or "").strip(), obj


def test_random_rows_never_crash(world):
    """Random widths, types and text into encode/predict: each call works
    or raises a Python exception (under `make asan`, on the ASan library)."""
    text, header, rows, ds, model = world
    rnd = random.Random(7)
    cells = ["", " ", "0", " 3.5 ", "-1e-300", "1e999", "nan", "abc", "x" * 500, "é",
             "Private", None, 3, 2.5, b"x", "a\0b", "?"]
    ok = 0
    with rmtl.Encoder(model) as enc, rmtl.Ctx(1) as ctx:
        n = enc.n_columns
        for _ in range(300):
            width = rnd.choice([n, n, n, n - 1, n + 1, 0])
            pool = cells if rnd.random() < 0.5 else cells[:5]  # all valid text
            batch = [[rnd.choice(pool) for _ in range(width)]
                     for _ in range(rnd.randrange(0, 4))]
            try:
                if rnd.random() < 0.5:
                    enc.encode(batch, ctx=ctx)
                else:
                    enc.predict(model, batch, ctx=ctx)
                ok += 1
            except (TypeError, ValueError, rmtl.RmtlError):
                pass
        assert bits(enc.predict(model, by_columns(enc, header, rows), ctx=ctx)) == \
            bits(model.predict(ds))
    assert ok > 0  # some calls got through to C
