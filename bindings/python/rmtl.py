"""Python binding of librmtl through ctypes (no compilation, standard library only).

Handles are classes with ``close()`` and context managers; a failed C call
raises :class:`RmtlError` carrying the status code and the C message of
``rmtl_last_error()``. With numpy, contiguous ``float32`` / ``int32`` /
``int64`` arrays are passed to C by pointer without a copy and results come
back as numpy arrays; without numpy (or with ``RMTL_NO_NUMPY=1`` in the
environment) ``array.array`` and nested lists work, and results are
``array.array('f')`` (row-major, flat).

The shared library is found through ``RMTL_LIBRARY`` (a path), else
``ctypes.util.find_library('rmtl')`` (an installed librmtl), else the source
tree's ``lib/`` next to this file.

    import rmtl
    with rmtl.Config(yaml="model: {arch: mmoe}") as cfg, \\
         rmtl.Dataset.load("train.csv", schema="schema.yaml") as train, \\
         rmtl.Model(cfg, train) as model:
        loss = model.train_epoch(train, progress=lambda p: print(p.done, p.total))
        scores = model.predict(train)            # rows x tasks
"""

import array
import ctypes
import ctypes.util
import os
from collections import namedtuple
from ctypes import (CFUNCTYPE, POINTER, Structure, byref, c_char_p, c_double, c_float, c_int,
                    c_int32, c_int64, c_size_t, c_uint32, c_uint64, c_void_p)

if os.environ.get("RMTL_NO_NUMPY", "") not in ("", "0"):
    np = None
else:
    try:
        import numpy as np
    except ImportError:  # pragma: no cover - depends on the host
        np = None

__all__ = ["RmtlError", "Config", "Dataset", "Model", "Ctx", "Fusion", "SimEnv", "Env",
           "Replay", "Agent", "Progress", "version", "build_info", "set_log_callback",
           "HAVE_NUMPY"]

HAVE_NUMPY = np is not None

# Status codes (include/rmtl.h: rmtl_status).
OK, ERROR, EINVAL, ENOMEM, EIO, EFORMAT, EVERSION, ECONFIG, ESTATE, ENUMERIC = (
    0, -1, -2, -3, -4, -5, -6, -7, -8, -9)
LOG_ERROR, LOG_WARN, LOG_INFO, LOG_DEBUG = 0, 1, 2, 3
_SOVERSION = 1


# --- the library --------------------------------------------------------------------

def _load_library():
    path = os.environ.get("RMTL_LIBRARY")
    if path:
        return ctypes.CDLL(path)
    name = ctypes.util.find_library("rmtl")
    if name:
        try:
            return ctypes.CDLL(name)
        except OSError:
            pass
    here = os.path.dirname(os.path.abspath(__file__))
    local = os.path.join(here, "..", "..", "lib", "librmtl.so.%d" % _SOVERSION)
    try:
        return ctypes.CDLL(os.path.normpath(local))
    except OSError:
        raise ImportError("librmtl not found: set RMTL_LIBRARY to the path of librmtl.so, "
                          "install it (make install; ldconfig), or build it (make)") from None


_lib = _load_library()


class _Progress(Structure):
    _fields_ = [("version", c_uint32), ("done", c_uint64), ("total", c_uint64),
                ("loss", c_double), ("elapsed", c_double)]


class _Batch(Structure):
    _fields_ = [("version", c_uint32), ("rows", c_size_t), ("cat", POINTER(c_int32)),
                ("num", POINTER(c_float)), ("labels", POINTER(c_float)),
                ("weights", POINTER(c_float)), ("session", POINTER(c_int64))]


class _FusionRequest(Structure):
    _fields_ = [("version", c_uint32), ("n", c_size_t), ("user_dim", c_size_t),
                ("user", POINTER(c_float)), ("context_dim", c_size_t),
                ("context", POINTER(c_float)), ("item_dim", c_size_t),
                ("items", POINTER(c_float)), ("tasks", c_size_t), ("scores", POINTER(c_float))]


class _FusionInfo(Structure):
    _fields_ = [("version", c_uint32), ("tasks", c_size_t), ("user_dim", c_size_t),
                ("item_dim", c_size_t), ("context_dim", c_size_t), ("state_dim", c_size_t),
                ("action_dim", c_size_t), ("reward_dim", c_size_t), ("granularity", c_int),
                ("formula", c_int), ("fixed", c_int), ("steps", c_uint64),
                ("actor_params", c_size_t)]


class _SimStats(Structure):
    _fields_ = [("version", c_uint32), ("sessions", c_size_t), ("requests", c_size_t),
                ("impressions", c_size_t), ("reward_mean", c_double), ("reward_std", c_double),
                ("length_mean", c_double), ("length_std", c_double), ("rate", c_double * 3)]


class _FusionStats(Structure):
    _fields_ = [("version", c_uint32), ("critic_loss", c_double), ("actor_loss", c_double),
                ("q", c_double), ("q_std", c_double), ("penalty", c_double),
                ("steps", c_uint64)]


class _FusionRoundStats(Structure):
    _fields_ = [("version", c_uint32), ("explore", _SimStats), ("log_requests", c_size_t),
                ("log_rows", c_size_t), ("train", _FusionStats)]


class _FusionSimOpts(Structure):
    _fields_ = [("version", c_uint32), ("sessions", c_size_t), ("seed", c_uint64),
                ("train_steps", c_size_t), ("scorer", c_void_p), ("scorer_payload", c_void_p)]


class _AgentReport(Structure):
    _fields_ = [("version", c_uint32), ("step", c_uint64), ("n_tasks", c_size_t),
                ("critic_loss", POINTER(c_double)), ("actor_updated", c_int),
                ("actor_loss", c_double), ("targets_updated", c_int)]


_PROGRESS_FN = CFUNCTYPE(c_int, POINTER(_Progress), c_void_p)
_LOG_FN = CFUNCTYPE(None, c_int, c_char_p, c_void_p)
_P = c_void_p
_PP = POINTER(c_void_p)
_FP = POINTER(c_float)
_DP = POINTER(c_double)

# name: (restype, argtypes); every `int` function returns an rmtl_status.
_SIGNATURES = {
    "rmtl_version_number": (c_uint32, []),
    "rmtl_version_string": (c_char_p, []),
    "rmtl_build_info": (c_char_p, []),
    "rmtl_strerror": (c_char_p, [c_int]),
    "rmtl_last_error": (c_char_p, []),
    "rmtl_error_clear": (None, []),
    "rmtl_set_log_callback": (None, [_LOG_FN, _P]),
    "rmtl_free": (None, [_P]),
    "rmtl_config_create": (c_int, [_PP]),
    "rmtl_config_free": (None, [_P]),
    "rmtl_config_load_file": (c_int, [_P, c_char_p]),
    "rmtl_config_load_string": (c_int, [_P, c_char_p, c_size_t, c_char_p]),
    "rmtl_config_set": (c_int, [_P, c_char_p, c_char_p]),
    "rmtl_config_get_int": (c_int, [POINTER(c_int64), _P, c_char_p]),
    "rmtl_config_get_double": (c_int, [_DP, _P, c_char_p]),
    "rmtl_config_get_bool": (c_int, [POINTER(c_int), _P, c_char_p]),
    "rmtl_config_get_string": (c_int, [POINTER(c_char_p), _P, c_char_p]),
    "rmtl_config_validate": (c_int, [_P]),
    "rmtl_config_dump": (c_int, [_PP, POINTER(c_size_t), _P]),
    "rmtl_dataset_load_v2": (c_int, [_PP, c_char_p, c_char_p, _P, _PROGRESS_FN, _P]),
    "rmtl_dataset_from_arrays": (c_int, [_PP, c_size_t, c_size_t, POINTER(c_size_t),
                                         POINTER(c_int32), c_size_t, _FP, c_size_t, _FP,
                                         POINTER(c_int64)]),
    "rmtl_dataset_free": (None, [_P]),
    "rmtl_dataset_rows": (c_size_t, [_P]),
    "rmtl_dataset_n_cat": (c_size_t, [_P]),
    "rmtl_dataset_n_num": (c_size_t, [_P]),
    "rmtl_dataset_n_tasks": (c_size_t, [_P]),
    "rmtl_dataset_task_name": (c_char_p, [_P, c_size_t]),
    "rmtl_dataset_n_sessions": (c_size_t, [_P]),
    "rmtl_dataset_has_labels": (c_int, [_P]),
    "rmtl_dataset_batch": (c_int, [POINTER(_Batch), _P, c_size_t, c_size_t]),
    "rmtl_dataset_shuffle": (c_int, [_P, c_uint64]),
    "rmtl_dataset_split_sessions": (c_int, [_PP, _PP, _PP, _P, c_double, c_double, c_uint64]),
    "rmtl_ctx_create": (c_int, [_PP, c_int]),
    "rmtl_ctx_free": (None, [_P]),
    "rmtl_model_create": (c_int, [_PP, _P, _P]),
    "rmtl_model_clone": (c_int, [_PP, _P]),
    "rmtl_model_free": (None, [_P]),
    "rmtl_model_num_tasks": (c_size_t, [_P]),
    "rmtl_model_task_name": (c_char_p, [_P, c_size_t]),
    "rmtl_model_num_params": (c_size_t, [_P]),
    "rmtl_model_schema": (c_void_p, [_P]),
    "rmtl_model_predict": (c_int, [_P, _P, POINTER(_Batch), _FP, c_size_t]),
    "rmtl_model_fold_embeddings": (c_int, [_P, c_size_t, POINTER(c_size_t)]),
    "rmtl_model_train_step": (c_int, [_P, POINTER(_Batch), _DP]),
    "rmtl_model_train_epoch": (c_int, [_DP, _P, _P, _PROGRESS_FN, _P]),
    "rmtl_model_evaluate": (c_int, [_P, _P, _P, _DP, _DP, _DP, c_size_t]),
    "rmtl_model_save": (c_int, [_P, c_char_p, c_uint32]),
    "rmtl_model_load": (c_int, [_PP, c_char_p]),
    "rmtl_env_create": (c_int, [_PP, _P, _P, c_uint32]),
    "rmtl_env_sim_create": (c_int, [_PP, _P]),
    "rmtl_env_free": (None, [_P]),
    "rmtl_env_sim_log": (c_int, [POINTER(_SimStats), _P, c_char_p, c_size_t, c_uint64,
                                 c_size_t, _P, _P]),
    "rmtl_replay_create": (c_int, [_PP, c_size_t, c_size_t, c_size_t, c_size_t, c_uint64]),
    "rmtl_replay_free": (None, [_P]),
    "rmtl_replay_size": (c_size_t, [_P]),
    "rmtl_replay_fill_random": (c_int, [_P, _P, c_size_t]),
    "rmtl_agent_create": (c_int, [_PP, _P, _P]),
    "rmtl_agent_free": (None, [_P]),
    "rmtl_agent_steps": (c_uint64, [_P]),
    "rmtl_agent_train": (c_int, [POINTER(_AgentReport), _P, _P, c_size_t, _PROGRESS_FN, _P]),
    "rmtl_agent_save": (c_int, [_P, c_char_p]),
    "rmtl_fusion_create": (c_int, [_PP, _P]),
    "rmtl_fusion_free": (None, [_P]),
    "rmtl_fusion_describe": (c_int, [POINTER(_FusionInfo), _P]),
    "rmtl_fuse_scores": (c_int, [_FP, _P, _FP, c_size_t, _FP, c_size_t, _FP, c_size_t]),
    "rmtl_fuse_scores_batch": (c_int, [_P, _P, POINTER(_FusionRequest), _FP, c_size_t, _FP,
                                       c_size_t]),
    "rmtl_fusion_round": (c_int, [POINTER(_FusionRoundStats), _P, _P,
                                     POINTER(_FusionSimOpts), _PROGRESS_FN, _P]),
    "rmtl_fusion_evaluate": (c_int, [POINTER(_SimStats), _P, _P, POINTER(_FusionSimOpts)]),
    "rmtl_fusion_save": (c_int, [_P, c_char_p, c_uint32]),
    "rmtl_fusion_load": (c_int, [_PP, c_char_p]),
}
for _name, (_res, _args) in _SIGNATURES.items():
    _f = getattr(_lib, _name)
    _f.restype = _res
    _f.argtypes = _args


# --- errors -------------------------------------------------------------------------

class RmtlError(Exception):
    """A librmtl call failed: ``code`` is the rmtl_status (e.g. rmtl.ECONFIG),
    ``message`` the C library's rmtl_last_error() text."""

    def __init__(self, code, message):
        self.code = code
        self.name = _lib.rmtl_strerror(code).decode()
        self.message = message
        super().__init__("%s (%s)" % (message, self.name) if message else self.name)


def _check(rc):
    if rc != OK:
        raise RmtlError(rc, _lib.rmtl_last_error().decode("utf-8", "replace"))
    return rc


def _enc(s):
    return None if s is None else os.fsencode(s) if not isinstance(s, bytes) else s


def version():
    """The loaded library's "MAJOR.MINOR.PATCH"."""
    return _lib.rmtl_version_string().decode()


def build_info():
    """One line describing the build and the BLIS in use."""
    return _lib.rmtl_build_info().decode()


_log_keep = None


def set_log_callback(fn):
    """Routes the library's log lines to ``fn(level, message)`` (None: silent).
    Set it before other threads use the library."""
    global _log_keep
    if fn is None:
        _log_keep = _LOG_FN()
    else:
        def trampoline(level, message, payload):
            try:
                fn(level, message.decode("utf-8", "replace"))
            except Exception:  # a log line must not unwind through C
                pass
        _log_keep = _LOG_FN(trampoline)
    _lib.rmtl_set_log_callback(_log_keep, None)


# --- progress -----------------------------------------------------------------------

Progress = namedtuple("Progress", "done total loss elapsed")
Progress.__doc__ = """What a long call reports: units done of total (0: unknown), the
running mean loss (NaN when none) and the seconds elapsed."""


class _ProgressCall:
    """Wraps a Python progress callable for one C call: a truthy return
    cancels the call (RmtlError ESTATE); an exception inside it cancels the
    call and is re-raised in place of the error."""

    def __init__(self, fn):
        self.fn = fn
        self.exc = None
        self.cfn = _PROGRESS_FN(self._call) if fn is not None else _PROGRESS_FN()

    def _call(self, p, payload):
        c = p.contents
        try:
            return 1 if self.fn(Progress(c.done, c.total, c.loss, c.elapsed)) else 0
        except BaseException as e:  # noqa: B902 - KeyboardInterrupt cancels too
            self.exc = e
            return 1

    def check(self, rc):
        if self.exc is not None:
            exc, self.exc = self.exc, None
            raise exc
        return _check(rc)


# --- arrays -------------------------------------------------------------------------

_CTYPE_CODES = {c_float: ("f", "float32"), c_int32: ("i", "int32"), c_int64: ("q", "int64")}


def _flatten(x):
    if isinstance(x, (list, tuple)) and x and isinstance(x[0], (list, tuple)):
        return [v for row in x for v in row]
    return x


class _In:
    """An input array as a C pointer: numpy arrays of the right dtype and
    layout and array.array of the right type are passed without a copy;
    anything else is converted (copied) once."""

    def __init__(self, x, ctype, name):
        self.keep = None
        self.rows = None
        code, dtype = _CTYPE_CODES[ctype]
        if x is None:
            self.ptr, self.n = POINTER(ctype)(), 0
            return
        if np is not None and not isinstance(x, array.array):
            a = np.ascontiguousarray(x, dtype=dtype)  # no copy when it already fits
            self.keep = a
            self.n = a.size
            self.rows = a.shape[0] if a.ndim >= 1 else 1
            self.ptr = a.ctypes.data_as(POINTER(ctype))
            return
        if isinstance(x, array.array) and x.typecode == code and len(x) > 0:
            self.keep = x
            self.n = len(x)
            self.ptr = ctypes.cast((ctype * len(x)).from_buffer(x), POINTER(ctype))
            return
        if isinstance(x, (list, tuple)) and x and isinstance(x[0], (list, tuple)):
            self.rows = len(x)
        flat = list(_flatten(x))
        buf = (ctype * max(len(flat), 1))(*flat)
        self.keep = buf
        self.n = len(flat)
        self.ptr = ctypes.cast(buf, POINTER(ctype))


def _out_floats(n):
    """(pointer, result) for n floats the C call writes."""
    if np is not None:
        a = np.empty(n, dtype=np.float32)
        return a.ctypes.data_as(_FP), a
    a = array.array("f", bytes(4 * n))
    return ctypes.cast((c_float * n).from_buffer(a), _FP) if n else _FP(), a


def _shaped(a, rows, cols):
    return a.reshape(rows, cols) if np is not None else a


# --- handles ------------------------------------------------------------------------

class _Handle:
    """An owned C handle: close() frees it (idempotent); `with` closes it."""

    _free = None

    def __init__(self, ptr):
        self._ptr = ptr

    @property
    def handle(self):
        if not self._ptr:
            raise ValueError("%s is closed" % type(self).__name__)
        return self._ptr

    def close(self):
        ptr, self._ptr = getattr(self, "_ptr", None), None
        if ptr and _lib is not None:
            getattr(_lib, self._free)(ptr)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        try:
            self.close()
        except Exception:  # interpreter shutdown
            pass


def _create(fn, *args):
    out = c_void_p()
    _check(fn(byref(out), *args))
    return out


class Config(_Handle):
    """Hyper-parameters: defaults, then YAML text or a file, then key=value."""

    _free = "rmtl_config_free"

    def __init__(self, yaml=None, path=None, **overrides):
        super().__init__(_create(_lib.rmtl_config_create))
        if path is not None:
            _check(_lib.rmtl_config_load_file(self.handle, _enc(path)))
        if yaml is not None:
            text = yaml.encode()
            _check(_lib.rmtl_config_load_string(self.handle, text, len(text), b"<python>"))
        for key, value in overrides.items():
            self.set(key.replace("__", "."), value)

    def set(self, key, value):
        """Sets any key from its YAML text or a Python value."""
        if isinstance(value, bool):
            value = "true" if value else "false"
        elif isinstance(value, (list, tuple)):
            value = "[" + ", ".join(str(v) for v in value) + "]"
        _check(_lib.rmtl_config_set(self.handle, key.encode(), str(value).encode()))
        return self

    def get(self, key):
        """The value of `key` as int, float, bool or str (lists: use dump())."""
        for fn, ctype, conv in ((_lib.rmtl_config_get_int, c_int64, int),
                                (_lib.rmtl_config_get_double, c_double, float),
                                (_lib.rmtl_config_get_bool, c_int, bool),
                                (_lib.rmtl_config_get_string, c_char_p,
                                 lambda b: b.decode())):
            v = ctype()
            if fn(byref(v), self.handle, key.encode()) == OK:
                return conv(v.value)
        _lib.rmtl_config_get_int(byref(c_int64()), self.handle, key.encode())
        _check(ECONFIG)

    def validate(self):
        _check(_lib.rmtl_config_validate(self.handle))

    def dump(self):
        """Canonical YAML of every parameter."""
        out, n = c_void_p(), c_size_t()
        _check(_lib.rmtl_config_dump(byref(out), byref(n), self.handle))
        try:
            return ctypes.string_at(out, n.value).decode()
        finally:
            _lib.rmtl_free(out)


class Dataset(_Handle):
    """Impressions: categorical ids, numerical features, labels, sessions."""

    _free = "rmtl_dataset_free"

    @classmethod
    def load(cls, csv_path, schema=None, reference=None, progress=None):
        """CSV (plain or gzip) with a schema file (training split) or a
        reference dataset (other splits). `progress(p)` sees bytes read."""
        pc = _ProgressCall(progress)
        out = c_void_p()
        ref = reference.handle if reference is not None else None
        pc.check(_lib.rmtl_dataset_load_v2(byref(out), _enc(csv_path), _enc(schema), ref,
                                           pc.cfn, None))
        return cls(out)

    @classmethod
    def from_arrays(cls, cat, vocab_sizes, num=None, labels=None, session=None, rows=None):
        """Rows × n_cat ids (field f in [0, vocab_sizes[f])), rows × n_num
        floats, rows × n_tasks labels 0/1 (or None), rows session ids (or
        None). Copied by the library."""
        n_cat = len(vocab_sizes)
        c = _In(cat if n_cat else None, c_int32, "cat")
        x = _In(num, c_float, "num")
        y = _In(labels, c_float, "labels")
        s = _In(session, c_int64, "session")
        if rows is None:
            rows = (c.n // n_cat) if n_cat else (s.n or y.rows or x.rows or 0)
        n_num = x.n // rows if rows and x.n else 0
        n_tasks = y.n // rows if rows and y.n else 1
        vocab = (c_size_t * max(n_cat, 1))(*vocab_sizes)
        out = c_void_p()
        _check(_lib.rmtl_dataset_from_arrays(byref(out), rows, n_cat, vocab, c.ptr, n_num,
                                             x.ptr if n_num else None,
                                             n_tasks, y.ptr if y.n else None,
                                             s.ptr if s.n else None))
        return cls(out)

    @property
    def rows(self):
        return _lib.rmtl_dataset_rows(self.handle)

    def __len__(self):
        return self.rows

    @property
    def n_cat(self):
        return _lib.rmtl_dataset_n_cat(self.handle)

    @property
    def n_num(self):
        return _lib.rmtl_dataset_n_num(self.handle)

    @property
    def n_tasks(self):
        return _lib.rmtl_dataset_n_tasks(self.handle)

    @property
    def n_sessions(self):
        return _lib.rmtl_dataset_n_sessions(self.handle)

    @property
    def task_names(self):
        return [_lib.rmtl_dataset_task_name(self.handle, i).decode()
                for i in range(self.n_tasks)]

    def shuffle(self, seed):
        _check(_lib.rmtl_dataset_shuffle(self.handle, seed))

    def split_sessions(self, train_frac, val_frac, seed=0):
        """(train, val, test) by whole sessions."""
        a, b, c = c_void_p(), c_void_p(), c_void_p()
        _check(_lib.rmtl_dataset_split_sessions(byref(a), byref(b), byref(c), self.handle,
                                                train_frac, val_frac, seed))
        return Dataset(a), Dataset(b), Dataset(c)

    def _batch(self):
        b = _Batch(version=1)
        _check(_lib.rmtl_dataset_batch(byref(b), self.handle, 0, self.rows))
        return b


class Ctx(_Handle):
    """Per-thread scratch memory for prediction and batched fusion."""

    _free = "rmtl_ctx_free"

    def __init__(self, threads=0):
        super().__init__(_create(_lib.rmtl_ctx_create, threads))


def _ctx(ctx):
    return ctx.handle if ctx is not None else None


class Model(_Handle):
    """A multi-task model (model.arch of the config) over a dataset's layout."""

    _free = "rmtl_model_free"

    def __init__(self, config, train, _ptr=None):
        super().__init__(_ptr if _ptr is not None else
                         _create(_lib.rmtl_model_create, config.handle, train.handle))

    @classmethod
    def load(cls, path):
        return cls(None, None, _ptr=_create(_lib.rmtl_model_load, _enc(path)))

    def clone(self):
        return Model(None, None, _ptr=_create(_lib.rmtl_model_clone, self.handle))

    @property
    def num_tasks(self):
        return _lib.rmtl_model_num_tasks(self.handle)

    @property
    def num_params(self):
        return _lib.rmtl_model_num_params(self.handle)

    @property
    def task_names(self):
        return [_lib.rmtl_model_task_name(self.handle, i).decode()
                for i in range(self.num_tasks)]

    def train_epoch(self, train, progress=None):
        """One shuffled pass over `train`; returns the mean loss."""
        pc = _ProgressCall(progress)
        loss = c_double()
        pc.check(_lib.rmtl_model_train_epoch(byref(loss), self.handle, train.handle, pc.cfn,
                                             None))
        return loss.value

    def _array_batch(self, cat, num, labels=None, weights=None):
        """A batch over arrays: rows × n_cat ids and rows × n_num values of
        the model's layout (2-D, or flat with the rows implied)."""
        c, x = _In(cat, c_int32, "cat"), _In(num, c_float, "num")
        y, w = _In(labels, c_float, "labels"), _In(weights, c_float, "weights")
        schema = _lib.rmtl_model_schema(self.handle)
        n_cat, n_num = _lib.rmtl_dataset_n_cat(schema), _lib.rmtl_dataset_n_num(schema)
        rows = c.n // n_cat if n_cat else x.n // n_num if n_num else 0
        if c.n != rows * n_cat or x.n != rows * n_num:
            raise ValueError("cat holds %d ids and num %d values: not rows x (%d, %d) of the "
                             "model's layout" % (c.n, x.n, n_cat, n_num))
        b = _Batch(1, rows, c.ptr, x.ptr if x.n else None, y.ptr if y.n else None,
                   w.ptr if w.n else None, None)
        return b, (c, x, y, w)

    def train_step(self, cat, num, labels, weights=None):
        """One Adam step on arrays (rows × fields); returns the loss."""
        b, keep = self._array_batch(cat, num, labels, weights)
        loss = c_double()
        _check(_lib.rmtl_model_train_step(self.handle, byref(b), byref(loss)))
        return loss.value

    def predict(self, data=None, num=None, ctx=None, cat=None):
        """Probabilities, rows × tasks: of a Dataset, or of arrays
        predict(cat=..., num=...)."""
        if isinstance(data, Dataset):
            b, keep = data._batch(), data
        else:
            b, keep = self._array_batch(cat if cat is not None else data, num)
        T = self.num_tasks
        ptr, out = _out_floats(b.rows * T)
        _check(_lib.rmtl_model_predict(self.handle, _ctx(ctx), byref(b), ptr, b.rows * T))
        del keep
        return _shaped(out, b.rows, T)

    def fold_embeddings(self, max_bytes=1 << 30):
        """Serving cache (rmtl_model_fold_embeddings): returns the bytes it
        takes; 0 frees it. Predictions agree with the exact path to float
        rounding; after a training step the exact path runs again."""
        used = c_size_t()
        _check(_lib.rmtl_model_fold_embeddings(self.handle, max_bytes, byref(used)))
        return used.value

    def evaluate(self, ds, ctx=None):
        """{'auc': [...], 'logloss': [...], 'session_logloss': [...]} per task."""
        T = self.num_tasks
        auc, ll, sll = (c_double * T)(), (c_double * T)(), (c_double * T)()
        _check(_lib.rmtl_model_evaluate(self.handle, _ctx(ctx), ds.handle, auc, ll, sll, T))
        return {"auc": list(auc), "logloss": list(ll), "session_logloss": list(sll)}

    def save(self, path, training_state=False):
        _check(_lib.rmtl_model_save(self.handle, _enc(path), 1 if training_state else 0))


class SimEnv(_Handle):
    """The session simulator (sim.* keys of the config)."""

    _free = "rmtl_env_free"

    def __init__(self, config):
        super().__init__(_create(_lib.rmtl_env_sim_create, config.handle))

    def log_random(self, csv_path, sessions, seed=1, policy_seed=12345):
        """Plays `sessions` sessions with a random policy and writes their
        impressions as CSV (schema: examples/schemas/sim.yaml)."""
        st = _SimStats(version=1)
        state = c_uint64(policy_seed)
        policy = ctypes.cast(_lib.rmtl_env_sim_random_policy, c_void_p)
        _check(_lib.rmtl_env_sim_log(byref(st), self.handle, _enc(csv_path), sessions, seed,
                                     0, policy, ctypes.addressof(state)))
        return _sim_stats(st)


class Env(_Handle):
    """The session MDP of RMTL over a dataset with sessions (borrowed: keep
    the dataset open and unshuffled while the env lives)."""

    _free = "rmtl_env_free"

    def __init__(self, config, dataset, eval_order=False):
        super().__init__(_create(_lib.rmtl_env_create, config.handle, dataset.handle,
                                 1 if eval_order else 0))
        self._dataset = dataset


class Replay(_Handle):
    """A ring buffer of MDP transitions."""

    _free = "rmtl_replay_free"

    def __init__(self, capacity, n_cat, n_num, n_tasks, seed=0):
        super().__init__(_create(_lib.rmtl_replay_create, capacity, n_cat, n_num, n_tasks,
                                 seed))

    def __len__(self):
        return _lib.rmtl_replay_size(self.handle)

    def fill_random(self, env, n):
        _check(_lib.rmtl_replay_fill_random(self.handle, env.handle, n))


class Agent(_Handle):
    """RMTL's actor and per-task critics."""

    _free = "rmtl_agent_free"

    def __init__(self, config, pretrained):
        super().__init__(_create(_lib.rmtl_agent_create, config.handle, pretrained.handle))

    @property
    def steps(self):
        return _lib.rmtl_agent_steps(self.handle)

    def train(self, replay, steps, progress=None):
        """`steps` updates on batches sampled from `replay`; returns the
        last update's per-task critic losses."""
        pc = _ProgressCall(progress)
        r = _AgentReport(version=1)
        pc.check(_lib.rmtl_agent_train(byref(r), self.handle, replay.handle, steps, pc.cfn,
                                       None))
        return [r.critic_loss[k] for k in range(r.n_tasks)] if steps else []

    def save(self, path):
        _check(_lib.rmtl_agent_save(self.handle, _enc(path)))


def _sim_stats(st):
    return {"sessions": st.sessions, "requests": st.requests, "impressions": st.impressions,
            "reward_mean": st.reward_mean, "reward_std": st.reward_std,
            "length_mean": st.length_mean, "rate": list(st.rate)}


class Fusion(_Handle):
    """Enhanced-state multi-task fusion: task scores -> one ranking score."""

    _free = "rmtl_fusion_free"

    def __init__(self, config, _ptr=None):
        super().__init__(_ptr if _ptr is not None else
                         _create(_lib.rmtl_fusion_create, config.handle))

    @classmethod
    def load(cls, path):
        return cls(None, _ptr=_create(_lib.rmtl_fusion_load, _enc(path)))

    @property
    def info(self):
        i = _FusionInfo(version=1)
        _check(_lib.rmtl_fusion_describe(byref(i), self.handle))
        return {name: getattr(i, name) for name, _ in _FusionInfo._fields_ if name != "version"}

    def fuse_scores(self, state, scores):
        """(fused score, action) of one pair: state [user; item; context]."""
        s, p = _In(state, c_float, "state"), _In(scores, c_float, "scores")
        fused = c_float()
        cap = 2 * max(p.n, 1)
        action = (c_float * cap)()
        _check(_lib.rmtl_fuse_scores(byref(fused), self.handle, s.ptr, s.n, p.ptr, p.n,
                                     action, cap))
        n = self.info["action_dim"]
        return fused.value, list(action[:n])

    def fuse_batch(self, scores, items=None, user=None, context=None, ctx=None):
        """Fused scores of n candidates: scores n × tasks, items n × item_dim,
        user and context the request's vectors."""
        inf = self.info
        p = _In(scores, c_float, "scores")
        it, u, c = _In(items, c_float, "items"), _In(user, c_float, "user"), _In(
            context, c_float, "context")
        n = p.n // inf["tasks"] if inf["tasks"] else 0
        req = _FusionRequest(1, n, u.n, u.ptr if u.n else None, c.n, c.ptr if c.n else None,
                             inf["item_dim"], it.ptr if it.n else None, inf["tasks"], p.ptr)
        ptr, out = _out_floats(n)
        _check(_lib.rmtl_fuse_scores_batch(self.handle, _ctx(ctx), byref(req), ptr, n, None, 0))
        return out

    def round(self, env, sessions=0, train_steps=0, progress=None):
        """One progressive-training round in the simulator (explore, train,
        deploy); returns its statistics."""
        pc = _ProgressCall(progress)
        o = _FusionSimOpts(1, sessions, 0, train_steps, None, None)
        st = _FusionRoundStats(version=1)
        st.explore.version = 1
        st.train.version = 1
        pc.check(_lib.rmtl_fusion_round(byref(st), self.handle, env.handle, byref(o),
                                           pc.cfn, None))
        return {"explore": _sim_stats(st.explore), "log_requests": st.log_requests,
                "log_rows": st.log_rows, "critic_loss": st.train.critic_loss,
                "actor_loss": st.train.actor_loss, "steps": st.train.steps}

    def evaluate(self, env, sessions, seed=0):
        """The served policy on sessions 0..sessions-1 of the stream `seed`."""
        o = _FusionSimOpts(1, sessions, seed, 0, None, None)
        st = _SimStats(version=1)
        _check(_lib.rmtl_fusion_evaluate(byref(st), self.handle, env.handle, byref(o)))
        return _sim_stats(st)

    def save(self, path, training_state=False):
        _check(_lib.rmtl_fusion_save(self.handle, _enc(path), 1 if training_state else 0))
