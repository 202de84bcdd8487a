#!/usr/bin/env python3
"""Census-Income with pandas: two tasks (never married, income above 50k)
from DataFrames, trained with rmtl.train(), early stopping and a log line
per epoch, then scored from a DataFrame and pickled.

    python3 examples/python/census_pandas.py [--data ../shared/data/census] [--quick]

Needs pandas (Debian python3-pandas) and the Census CSVs; without them it
says so and exits 0.
"""
import argparse
import os
import pickle
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "bindings", "python"))  # source tree

import rmtl  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", default=os.path.join(HERE, "..", "..", "..", "shared", "data",
                                                   "census"))
    ap.add_argument("--quick", action="store_true", help="20,000 rows, 2 epochs, a small model")
    args = ap.parse_args()
    try:
        import pandas as pd
    except ImportError:
        print("census_pandas: pandas is not installed (apt-get install python3-pandas); skipped")
        return 0
    train_csv = os.path.join(args.data, "train.csv.gz")
    if not os.path.exists(train_csv):
        print("census_pandas: %s not found; skipped" % train_csv)
        return 0
    rows = 20000 if args.quick else None
    train_df = pd.read_csv(train_csv, nrows=rows, dtype=str, keep_default_na=False)
    val_df = pd.read_csv(os.path.join(args.data, "val.csv.gz"), nrows=rows and rows // 4,
                         dtype=str, keep_default_na=False)
    schema = os.path.join(HERE, "..", "schemas", "census.yaml")

    train = rmtl.Dataset.from_pandas(train_df, schema=schema)
    val = rmtl.Dataset.from_pandas(val_df, reference=train)  # same vocabularies
    print("train %s\nval   %d rows" % (train, val.rows))
    params = {"model.arch": "mmoe", "model.embed_dim": 8, "train.batch_size": 1024,
              "runtime.seed": 1}
    if args.quick:
        params.update({"model.bottom": [32], "model.tower": [16], "model.experts.count": 2,
                       "runtime.threads": 1})
    model = rmtl.train(params, train, valid_sets=[val], valid_names=["val"],
                       num_epochs=2 if args.quick else 10,
                       callbacks=[rmtl.early_stopping(2), rmtl.log_evaluation()])
    print("best epoch %d: val AUC %s" % (model.best_epoch, "  ".join(
        "%s %.4f" % (t, a) for t, a in zip(model.task_names,
                                           model.history["val"]["auc"][model.best_epoch - 1]))))

    # score new rows straight from a DataFrame (labels may be absent)
    new = val_df.drop(columns=["income_50k", "marital_stat"]).head(5)
    with rmtl.Dataset.from_pandas(new, reference=model) as ds:
        scores = model.predict(ds)
    print("scores of 5 new rows (%s):" % ", ".join(model.task_names))
    for row in (scores.tolist() if rmtl.HAVE_NUMPY else
                [list(scores[2 * i:2 * i + 2]) for i in range(5)]):
        print("  " + "  ".join("%.3f" % v for v in row))

    # a model pickles through its checkpoint bytes and predicts identically
    again = pickle.loads(pickle.dumps(model))
    assert list(again.predict(val)[:3].ravel() if rmtl.HAVE_NUMPY else again.predict(val)[:6]) \
        == list(model.predict(val)[:3].ravel() if rmtl.HAVE_NUMPY else model.predict(val)[:6])
    print("pickled model: %d bytes, identical predictions" % len(pickle.dumps(model)))
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except rmtl.RmtlError as e:
        print("census_pandas: %s" % e, file=sys.stderr)
        sys.exit(1)
