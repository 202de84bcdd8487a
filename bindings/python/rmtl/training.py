"""rmtl.train(): epochs with validation, callbacks and the best model
(the LightGBM / XGBoost shape)."""

import math
import sys
from collections import namedtuple
from typing import Callable, Optional, Sequence

from . import _arrays
from ._lib import expect
from .config import as_config
from .data import Dataset
from .model import Model

__all__ = ["train", "early_stopping", "log_evaluation", "EarlyStop", "CallbackEnv"]

CallbackEnv = namedtuple("CallbackEnv", "model epoch num_epochs train_loss evals best_epoch "
                         "best_score history")
CallbackEnv.__doc__ = """What a callback of rmtl.train() receives after each epoch:
the model being trained, the epoch (from 1) of num_epochs, its mean
training loss, `evals` {valid name: {'auc': [...], 'logloss': [...],
'session_logloss': [...]}}, the best epoch and score so far (by the
first validation set), and the history so far."""


class EarlyStop(Exception):
    """Raised by a callback to end rmtl.train() after this epoch."""


_HIGHER = {"auc": True, "logloss": False, "session_logloss": False}


def early_stopping(stopping_rounds: int, verbose: bool = False) -> Callable:
    """Stops training when the first validation set's metric has not
    improved for `stopping_rounds` epochs; train() returns the best
    epoch's model."""
    rounds = _arrays.integer(stopping_rounds, "stopping_rounds", 1)

    def callback(env: CallbackEnv):
        if env.best_epoch is not None and env.epoch - env.best_epoch >= rounds:
            if verbose:
                print("early stopping at epoch %d: best epoch %d (%.6f)"
                      % (env.epoch, env.best_epoch, env.best_score), file=sys.stderr)
            raise EarlyStop()
    callback.__doc__ = "early_stopping(%d)" % rounds
    callback.order = 30  # after the loggers, so that the last epoch is logged
    return callback


def log_evaluation(period: int = 1, file=None) -> Callable:
    """Prints the training loss and every validation metric every `period`
    epochs (to `file`, default stdout)."""
    period = _arrays.integer(period, "period", 1)

    def callback(env: CallbackEnv):
        if env.epoch % period and env.epoch != env.num_epochs:
            return
        parts = ["[%d]" % env.epoch, "train loss %.5f" % env.train_loss]
        for name, m in env.evals.items():
            for metric in ("auc", "logloss"):
                parts.append("%s %s %s" % (name, metric,
                                           " ".join("%.5f" % v for v in m[metric])))
        print("  ".join(parts), file=file or sys.stdout)
    callback.__doc__ = "log_evaluation(%d)" % period
    callback.order = 10
    return callback


def _score(metrics, metric):
    vals = [v for v in metrics[metric] if not math.isnan(v)]
    return sum(vals) / len(vals) if vals else float("nan")


def train(config, train_set: Dataset, valid_sets: Optional[Sequence[Dataset]] = None,
          valid_names: Optional[Sequence[str]] = None, num_epochs: Optional[int] = None,
          callbacks: Optional[Sequence[Callable]] = None, metric: str = "auc",
          init_model: Optional[Model] = None, progress=None) -> Model:
    """Trains a model for `num_epochs` epochs (default: the config's
    train.epochs), evaluating every validation set after each epoch, and
    returns the best model by `metric` ('auc', 'logloss' or
    'session_logloss', averaged over the tasks) on the first validation set
    (the last model without validation sets). The returned model carries
    `history` ({'train': {'loss': [...]}, name: {metric: [[per task] per
    epoch]}}), `best_epoch` (from 1) and `best_score`.

        model = rmtl.train(cfg, train, valid_sets=[val],
                           callbacks=[rmtl.early_stopping(2), rmtl.log_evaluation()])

    `init_model` continues training a copy of that model; `progress` is
    passed to every Model.train_epoch()."""
    cfg, made = as_config(config)
    try:
        expect(train_set, Dataset, "train_set")
        valid_sets = list(valid_sets or [])
        for i, v in enumerate(valid_sets):
            expect(v, Dataset, "valid_sets[%d]" % i)
        if valid_names is None:
            valid_names = ["valid_%d" % i for i in range(len(valid_sets))]
        valid_names = list(valid_names)
        if len(valid_names) != len(valid_sets) or len(set(valid_names)) != len(valid_names):
            raise ValueError("valid_names must name each validation set once")
        if metric not in _HIGHER:
            raise ValueError("metric must be one of %s, not %r" % (sorted(_HIGHER), metric))
        callbacks = list(callbacks or [])
        for i, cb in enumerate(callbacks):
            if not callable(cb):
                raise TypeError("callbacks[%d] is not callable" % i)
        callbacks.sort(key=lambda cb: getattr(cb, "order", 20))
        epochs = (cfg.get("train.epochs") if num_epochs is None
                  else _arrays.integer(num_epochs, "num_epochs"))
        if init_model is not None:
            model = expect(init_model, Model, "init_model").clone()
        else:
            model = Model(cfg, train_set)
    finally:
        if made:
            cfg.close()
    history = {"train": {"loss": []}}
    for name in valid_names:
        history[name] = {"auc": [], "logloss": [], "session_logloss": []}
    best, best_epoch, best_score = None, None, None
    higher = _HIGHER[metric]
    try:
        for epoch in range(1, epochs + 1):
            loss = model.train_epoch(train_set, progress=progress)
            history["train"]["loss"].append(loss)
            evals = {}
            for name, v in zip(valid_names, valid_sets):
                m = model.evaluate(v)
                evals[name] = m
                for k in m:
                    history[name][k].append(m[k])
            if valid_sets:
                s = _score(evals[valid_names[0]], metric)
                if best_score is None or (s > best_score if higher else s < best_score):
                    best_epoch, best_score = epoch, s
                    if best is not None:
                        best.close()
                    best = model.clone()
            env = CallbackEnv(model, epoch, epochs, loss, evals, best_epoch, best_score,
                              history)
            try:
                for cb in callbacks:
                    cb(env)
            except EarlyStop:
                break
    except BaseException:
        if best is not None:
            best.close()
        model.close()
        raise
    if best is not None:
        model.close()
        model = best
    else:
        best_epoch = len(history["train"]["loss"]) or None
    model.history = history
    model.best_epoch = best_epoch
    model.best_score = best_score
    return model
