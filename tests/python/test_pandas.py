"""Dataset.from_pandas and from_buffer: the same dataset as its CSV file."""
import pytest

import rmtl
from conftest import SMALL, flat

pd = pytest.importorskip("pandas")

SCHEMA = {"columns": {"color": "categorical", "size": "numerical", "sid": "session",
                      "click": {"role": "label", "threshold": 0.5}}}


def frame(n, seed):
    import random
    rnd = random.Random(seed)
    colors = ["red", "green", "blue", "grey"]
    rows = []
    for i in range(n):
        c = rnd.choice(colors)
        s = rnd.gauss(0, 1)
        rows.append({"color": c, "size": s, "sid": i // 4,
                     "click": int(rnd.random() < (0.8 if c == "red" else 0.2))})
    return pd.DataFrame(rows)


def test_from_pandas_equals_the_csv(tmp_path):
    df = frame(400, 1)
    path = tmp_path / "x.csv"
    df.to_csv(path, index=False)
    with rmtl.Dataset.from_pandas(df, schema=SCHEMA) as a, \
            rmtl.Dataset.load(str(path), schema=SCHEMA) as b:
        assert (a.rows, a.n_cat, a.n_num, a.task_names, a.vocab_sizes) == \
            (b.rows, b.n_cat, b.n_num, b.task_names, b.vocab_sizes) == \
            (400, 1, 1, ["click"], [5])
        assert a.n_sessions == 100
        for k in ("cat", "num", "labels"):
            assert flat(a.to_arrays()[k]) == flat(b.to_arrays()[k])
        with rmtl.Model(rmtl.Config(yaml=SMALL), a) as m:
            m.train_epoch(a)
            # another frame with the training vocabulary, labels absent
            test = frame(50, 2).drop(columns=["click"])
            with rmtl.Dataset.from_pandas(test, reference=m) as t:
                assert not t.has_labels and t.rows == 50
                assert len(flat(m.predict(t))) == 50
                assert flat(m.predict(test)) == flat(m.predict(t))  # a DataFrame directly
        csv_text = df.to_csv(index=False)
        with rmtl.Dataset.from_buffer(csv_text, reference=a) as c:
            assert flat(c.to_arrays()["cat"]) == flat(a.to_arrays()["cat"])


def test_from_pandas_checks():
    with pytest.raises(TypeError, match="DataFrame"):
        rmtl.Dataset.from_pandas({"a": [1]}, schema=SCHEMA)
    with pytest.raises(ValueError, match="no rows"):
        rmtl.Dataset.from_pandas(pd.DataFrame({"color": []}), schema=SCHEMA)
    with pytest.raises(rmtl.RmtlError) as e:
        rmtl.Dataset.from_pandas(pd.DataFrame({"colour": ["red"]}), schema=SCHEMA)
    assert e.value.code == rmtl.ECONFIG
