"""Models: train, predict, evaluate, checkpoints, bytes, pickle, rmtl.train()."""
import copy
import io
import math
import pickle

import pytest

import rmtl
from conftest import flat, make_dataset, needs_numpy, synthetic, to_input


def test_train_predict_evaluate_save(cfg, train_ds, test_ds, tmp_path):
    assert train_ds.rows == 2000 and train_ds.n_sessions == 400
    assert train_ds.vocab_sizes == [10, 8] and train_ds.field_names == ["cat_0", "cat_1"]
    with rmtl.Model(cfg, train_ds) as model:
        assert model.task_names == ["task_0", "task_1"]
        before = model.evaluate(test_ds)["auc"][0]
        seen = []
        for _ in range(3):
            assert math.isfinite(model.train_epoch(train_ds, progress=seen.append))
        assert seen and seen[-1].done == seen[-1].total == 2000
        m = model.evaluate(test_ds)
        assert m["auc"][0] > 0.7 and m["auc"][0] > before
        p = model.predict(test_ds)
        if rmtl.HAVE_NUMPY:
            assert p.shape == (600, 2) and str(p.dtype) == "float32"
        else:
            assert len(p) == 1200
        assert all(0.0 < v < 1.0 for v in flat(p))
        # the metrics agree with the model's own evaluation
        labels = test_ds.to_arrays()["labels"]
        assert rmtl.auc(p, labels) == pytest.approx(m["auc"], abs=1e-9) if rmtl.HAVE_NUMPY \
            else True
        # from arrays: the same scores as from the dataset
        cat, num, _, _ = synthetic(600, 2)
        q = model.predict(cat=to_input(cat, "int32"), num=to_input(num, "float32"))
        assert flat(q) == flat(p)
        path = str(tmp_path / "m.rmtl")
        model.save(path)
        with rmtl.Model.load(path) as again:
            assert flat(again.predict(test_ds)) == flat(p)
        # the serving cache: the same scores up to float rounding
        assert model.fold_embeddings() > 0
        assert all(abs(a - b) < 1e-5 for a, b in zip(flat(model.predict(test_ds)), flat(p)))
        assert model.fold_embeddings(0) == 0
        assert flat(model.predict(test_ds)) == flat(p)
        assert "tasks=['task_0', 'task_1']" in repr(model)


def test_bytes_and_pickle_are_bit_identical(trained, test_ds, train_ds):
    p = flat(trained.predict(test_ds))
    b = trained.to_bytes()
    with rmtl.Model.from_bytes(b) as m:
        assert flat(m.predict(test_ds)) == p
    m2 = pickle.loads(pickle.dumps(trained))
    assert flat(m2.predict(test_ds)) == p
    # the training state travels too: one more epoch gives the same model
    c1, c2 = trained.clone(), copy.deepcopy(trained)
    c1.train_epoch(train_ds)
    m2.train_epoch(train_ds)
    c2.train_epoch(train_ds)
    assert flat(m2.predict(test_ds)) == flat(c1.predict(test_ds)) == flat(c2.predict(test_ds))
    for h in (m2, c1, c2):
        h.close()


def test_train_step_weights_set_lr_and_cancel(cfg):
    cat, num, labels, _ = synthetic(64, 4)
    with make_dataset(500, 3) as train, rmtl.Model(cfg, train) as model:
        loss = model.train_step(to_input(cat, "int32"), to_input(num, "float32"),
                                to_input(labels, "float32"))
        assert 0 < loss < 2
        w = [[2.0, 2.0]] * 64
        model.set_lr(0.0001)
        assert model.train_step(cat, num, labels, weights=w) > 0
        with pytest.raises(rmtl.RmtlError) as e:
            model.train_epoch(train, progress=lambda p: True)
        assert e.value.code == rmtl.ESTATE and "cancelled" in e.value.message

        def boom(p):
            raise KeyError("from the callback")
        with pytest.raises(KeyError):
            model.train_epoch(train, progress=boom)


def test_rmtl_train_with_early_stopping_and_history(train_ds, test_ds):
    out = io.StringIO()
    seen = []
    model = rmtl.train({"model.arch": "esmm", "model.embed_dim": 4, "model.bottom": [16],
                        "model.tower": [8], "train.batch_size": 64, "runtime.threads": 1,
                        "runtime.seed": 3, "optim.lr": 0.02},
                       train_ds, valid_sets=[test_ds], valid_names=["test"], num_epochs=8,
                       callbacks=[rmtl.early_stopping(1), rmtl.log_evaluation(file=out),
                                  seen.append])
    with model:
        h = model.history
        ran = len(h["train"]["loss"])
        assert 1 <= ran <= 8 and len(h["test"]["auc"]) == ran
        best = model.best_epoch
        assert 1 <= best <= ran
        mean_auc = [sum(a) / len(a) for a in h["test"]["auc"]]
        assert model.best_score == pytest.approx(max(mean_auc))
        assert mean_auc[best - 1] == max(mean_auc)
        if ran < 8:  # stopped early: the epoch after the best one did not improve
            assert ran == best + 1
        # the returned model is the best epoch's
        assert model.evaluate(test_ds)["auc"] == pytest.approx(h["test"]["auc"][best - 1])
        assert out.getvalue().count("test auc") == ran
        assert [e.epoch for e in seen] == list(range(1, ran + 1))
    with pytest.raises(ValueError, match="metric"):
        rmtl.train({}, train_ds, metric="accuracy")
    with pytest.raises(TypeError, match="callbacks"):
        rmtl.train({}, train_ds, callbacks=[3])


def test_train_without_validation_returns_the_last_model(cfg, train_ds):
    with rmtl.train(cfg, train_ds, num_epochs=1) as m:
        assert m.best_epoch == 1 and len(m.history["train"]["loss"]) == 1


def test_metrics():
    assert rmtl.auc([0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1]) == pytest.approx(0.75)
    assert rmtl.logloss([0.5, 0.5], [0, 1]) == pytest.approx(math.log(2))
    assert rmtl.session_logloss([0.5, 0.5, 0.9], [0, 1, 1], [1, 1, 2]) == pytest.approx(
        (math.log(2) - math.log(0.9)) / 2, rel=1e-6)
    per_task = rmtl.auc([[0.1, 0.9], [0.8, 0.2]], [[0, 1], [1, 0]])
    assert per_task == [1.0, 1.0]
    assert rmtl.gauc([1, 1, 2, 2], [0.9, 0.1, 0.2, 0.8], [1, 0, 0, 1]) == pytest.approx(1.0)
    with pytest.raises(rmtl.RmtlError):
        rmtl.auc([0.5, 0.6], [1, 1])  # one class only
    with pytest.raises(ValueError, match="labels"):
        rmtl.auc([0.5, 0.6], [1])


@needs_numpy
def test_numpy_in_and_out_without_copies(trained):
    import numpy as np
    from rmtl import _arrays
    a = np.arange(12, dtype=np.float32).reshape(3, 4)
    m = _arrays.matrix(a, "f", "a", cols=4)
    assert m.keep is a and m.ptr == a.ctypes.data
    assert _arrays.matrix(a[:, ::2], "f", "a").keep is not a  # strided: converted once
    assert _arrays.matrix(a.astype(np.float64), "f", "a").keep is not a
    cat = np.array([[1, 2], [3, 4]], dtype=np.int32)
    assert _arrays.matrix(cat, "i", "cat", cols=2).keep is cat
    p = trained.predict(cat=cat, num=np.zeros((2, 2), np.float32))
    assert p.flags.c_contiguous and p.flags.owndata and p.shape == (2, 2)


def test_dataset_split_and_arrays(train_ds):
    tr, va, te = train_ds.split_sessions(0.6, 0.2, seed=1)
    with tr, va, te:
        assert tr.rows + va.rows + te.rows == 2000
        assert tr.n_sessions == 240
        arr = tr.to_arrays()
        assert len(flat(arr["cat"])) == tr.rows * 2
    with pytest.raises(ValueError, match="train_frac"):
        train_ds.split_sessions(0.8, 0.5)
