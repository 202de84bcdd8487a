"""librmtl for Python: multi-task recommendation models, RMTL
(reinforcement-learned loss weights) and enhanced-state multi-task fusion,
through ctypes on librmtl.so (no compilation; numpy and pandas optional).

    import rmtl
    cfg = rmtl.Config(params={"model.arch": "mmoe", "train.epochs": 10})
    train = rmtl.Dataset.load("train.csv.gz", schema="census.yaml")
    val = rmtl.Dataset.load("val.csv.gz", reference=train)
    model = rmtl.train(cfg, train, valid_sets=[val],
                       callbacks=[rmtl.early_stopping(2), rmtl.log_evaluation()])
    scores = model.predict(val)              # rows x tasks, numpy float32

Every call checks the types, shapes, dtypes and ranges of its arguments
before C sees them (TypeError / ValueError / OverflowError naming the
argument); a failed C call raises RmtlError with the status code and the
library's message. Handles are closed by close(), `with` or garbage
collection; a closed handle raises ValueError. Models, fusions, agents,
actors and configs pickle through their checkpoint bytes.

The library is found through RMTL_LIBRARY (a path), else the prefix
`make install` recorded, else the source tree's lib/, else the dynamic
loader's path. docs/python.md is the guide.
"""

from typing import Callable, Optional

from ._arrays import np as _np
from ._lib import EFORMAT, EINVAL, EIO, ENOMEM, ENUMERIC, ERROR, ESTATE, EVERSION, ECONFIG, \
    LIBRARY_PATH, LOG_FN as _LOG_FN, MISSING as _MISSING, OK, RmtlError, lib as _clib  # noqa: F401
from ._progress import Progress
from .config import Config
from .data import Dataset, DatasetStream, Encoded, Layout, auc, gauc, logloss, session_logloss
from .encoder import Encoder
from .fusion import Fusion, OpeEstimate, PAIR, PRODUCT, SUM, USER
from .model import Ctx, Model
from .rl import Actor, Agent, Critic, Env, Replay, loss_weights
from .sim import SimEnv
from .training import CallbackEnv, EarlyStop, early_stopping, log_evaluation, train

__version__ = "0.1.0"

HAVE_NUMPY = _np is not None
"""True when results are numpy arrays (numpy importable and RMTL_NO_NUMPY unset)."""

LOG_ERROR, LOG_WARN, LOG_INFO, LOG_DEBUG = 0, 1, 2, 3

__all__ = [
    "__version__", "version", "build_info", "set_log_callback", "HAVE_NUMPY", "LIBRARY_PATH",
    "RmtlError", "OK", "ERROR", "EINVAL", "ENOMEM", "EIO", "EFORMAT", "EVERSION", "ECONFIG",
    "ESTATE", "ENUMERIC", "LOG_ERROR", "LOG_WARN", "LOG_INFO", "LOG_DEBUG",
    "Progress", "Config", "Dataset", "DatasetStream", "Layout", "Ctx", "Model", "Encoder", "Encoded",
    "usable_cpus",
    "Env", "Replay", "Critic", "Actor", "Agent", "loss_weights",
    "SimEnv", "Fusion", "OpeEstimate", "PAIR", "USER", "PRODUCT", "SUM",
    "auc", "logloss", "session_logloss", "gauc",
    "train", "early_stopping", "log_evaluation", "EarlyStop", "CallbackEnv",
]


def version() -> str:
    """The loaded library's "MAJOR.MINOR.PATCH"."""
    return _clib.rmtl_version_string().decode()


def build_info() -> str:
    """One line describing the library build and the BLIS in use."""
    return _clib.rmtl_build_info().decode()


def usable_cpus() -> int:
    """CPUs this process may run on: its affinity mask capped by its
    cgroup's CPU quota (at least 1) — what `runtime.threads: 0` resolves
    to. With other busy processes on the machine, give each handle fewer
    threads than this (BLIS threads spin at barriers)."""
    return int(_clib.rmtl_usable_cpus())


_log_keep = None


def set_log_callback(fn: Optional[Callable[[int, str], None]]) -> None:
    """Routes the library's log lines to ``fn(level, message)`` (None:
    silent, the default). Set it before other threads use the library; an
    exception inside `fn` is ignored (a log line must not unwind C)."""
    global _log_keep
    if fn is not None and not callable(fn):
        raise TypeError("fn must be callable or None, not %s" % type(fn).__name__)
    if fn is None:
        keep = _LOG_FN()
    else:
        def trampoline(level, message, payload):
            try:
                fn(level, message.decode("utf-8", "replace"))
            except Exception:
                pass
        keep = _LOG_FN(trampoline)
    _clib.rmtl_set_log_callback(keep, None)
    _log_keep = keep
