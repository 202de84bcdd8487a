"""Fixtures of the Python package's tests (pytest; Debian's python3-pytest).

Run from the repository root:
    RMTL_LIBRARY=lib/librmtl.so.1 python3 -m pytest -q tests/python
and again with RMTL_NO_NUMPY=1 for the path without numpy (`make check`
does both; `make asan` runs them on the ASan build of the library).
"""
import array
import math
import os
import random
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "bindings", "python"))

import rmtl  # noqa: E402

SMALL = ("model: {arch: mmoe, embed_dim: 4, bottom: [16], tower: [8], dropout: 0.0,\n"
         "        experts: {count: 2}}\n"
         "train: {batch_size: 64, epochs: 3}\n"
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


def flat(x):
    if hasattr(x, "ravel"):
        return x.ravel().tolist()
    return list(x)


def make_dataset(rows=2000, seed=1):
    cat, num, labels, session = synthetic(rows, seed)
    return rmtl.Dataset.from_arrays(to_input(cat, "int32"), VOCAB,
                                    num=to_input(num, "float32"),
                                    labels=to_input(labels, "float32"),
                                    session=to_input(session, "int64"))


@pytest.fixture
def cfg():
    with rmtl.Config(yaml=SMALL) as c:
        yield c


@pytest.fixture
def train_ds():
    with make_dataset(2000, 1) as d:
        yield d


@pytest.fixture
def test_ds():
    with make_dataset(600, 2) as d:
        yield d


@pytest.fixture(scope="module")
def trained():
    """A model trained 2 epochs on the synthetic data (shared, read-only)."""
    with rmtl.Config(yaml=SMALL) as c, make_dataset(2000, 1) as d:
        m = rmtl.Model(c, d)
        for _ in range(2):
            m.train_epoch(d)
    yield m
    m.close()


@pytest.fixture
def fusion_cfg():
    with rmtl.Config(yaml=FUSION_WORLD) as c:
        yield c


needs_numpy = pytest.mark.skipif(not rmtl.HAVE_NUMPY,
                                 reason="numpy is absent or disabled (RMTL_NO_NUMPY)")
