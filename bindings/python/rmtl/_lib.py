"""The shared library, its C signatures, errors and owned handles.

Everything that talks to ctypes directly lives here or in ``_arrays``; the
public classes only pass checked values through these helpers.
"""

import ctypes
import ctypes.util
import os
import threading
import weakref
from ctypes import (CFUNCTYPE, POINTER, Structure, byref, c_char_p, c_double, c_int,
                    c_int64, c_size_t, c_uint32, c_uint64, c_void_p)

_SOVERSION = 1
_HERE = os.path.dirname(os.path.abspath(__file__))


def _candidates():
    """Where librmtl is looked for, in order: RMTL_LIBRARY; the prefix that
    `make install` recorded; the source tree's lib/ (this package inside
    bindings/python); the dynamic loader's search path."""
    path = os.environ.get("RMTL_LIBRARY")
    if path:
        yield path, True
        return
    try:
        from . import _install  # written by `make install`
        yield os.path.join(_install.LIBDIR, "librmtl.so.%d" % _SOVERSION), False
    except ImportError:
        pass
    yield os.path.normpath(os.path.join(_HERE, "..", "..", "..", "lib",
                                        "librmtl.so.%d" % _SOVERSION)), False
    yield "librmtl.so.%d" % _SOVERSION, False
    found = ctypes.util.find_library("rmtl")
    if found:
        yield found, False


def _load_library():
    tried = []
    for path, explicit in _candidates():
        if os.sep in path and not os.path.exists(path):
            if explicit:
                raise ImportError("RMTL_LIBRARY=%s: no such file" % path)
            tried.append(path)
            continue
        try:
            return ctypes.CDLL(path), path
        except OSError as e:
            if explicit:
                raise ImportError("RMTL_LIBRARY=%s: %s" % (path, e)) from None
            tried.append(path)
    raise ImportError("librmtl not found (tried %s): set RMTL_LIBRARY to the path of "
                      "librmtl.so.%d, install it (make install), or build it (make)"
                      % (", ".join(tried), _SOVERSION))


if ctypes.sizeof(c_size_t) != 8 or ctypes.sizeof(c_void_p) != 8:
    # size_t arrays (vocabulary sizes, fusion row ranges) are passed as uint64
    raise ImportError("the rmtl package needs a 64-bit platform")

lib, LIBRARY_PATH = _load_library()

# --- transparent structs (include/rmtl.h); pointer fields as void * so that
# numpy addresses go in without a ctypes cast -------------------------------
_P = c_void_p


class Progress_(Structure):
    _fields_ = [("version", c_uint32), ("done", c_uint64), ("total", c_uint64),
                ("loss", c_double), ("elapsed", c_double)]


class Batch_(Structure):
    _fields_ = [("version", c_uint32), ("rows", c_size_t), ("cat", _P), ("num", _P),
                ("labels", _P), ("weights", _P), ("session", _P)]


class Transitions_(Structure):
    _fields_ = [("version", c_uint32), ("rows", c_size_t), ("cat", _P), ("num", _P),
                ("action", _P), ("next_cat", _P), ("next_num", _P), ("reward", _P),
                ("done", _P), ("labels", _P)]


class FusionRequest_(Structure):
    _fields_ = [("version", c_uint32), ("n", c_size_t), ("user_dim", c_size_t), ("user", _P),
                ("context_dim", c_size_t), ("context", _P), ("item_dim", c_size_t),
                ("items", _P), ("tasks", c_size_t), ("scores", _P)]


class FusionInfo_(Structure):
    _fields_ = [("version", c_uint32), ("tasks", c_size_t), ("user_dim", c_size_t),
                ("item_dim", c_size_t), ("context_dim", c_size_t), ("state_dim", c_size_t),
                ("action_dim", c_size_t), ("reward_dim", c_size_t), ("granularity", c_int),
                ("formula", c_int), ("fixed", c_int), ("steps", c_uint64),
                ("actor_params", c_size_t)]


class FusionBatch_(Structure):
    _fields_ = [("version", c_uint32), ("requests", c_size_t), ("rows", _P),
                ("next_rows", _P), ("n_rows", c_size_t), ("state_dim", c_size_t),
                ("state", _P), ("tasks", c_size_t), ("scores", _P), ("action_dim", c_size_t),
                ("action", _P), ("box_lo", _P), ("box_hi", _P), ("reward_dim", c_size_t),
                ("reward", _P)]


class FusionStats_(Structure):
    _fields_ = [("version", c_uint32), ("critic_loss", c_double), ("actor_loss", c_double),
                ("q", c_double), ("q_std", c_double), ("penalty", c_double),
                ("steps", c_uint64)]


class SimStats_(Structure):
    _fields_ = [("version", c_uint32), ("sessions", c_size_t), ("requests", c_size_t),
                ("impressions", c_size_t), ("reward_mean", c_double), ("reward_std", c_double),
                ("length_mean", c_double), ("length_std", c_double), ("rate", c_double * 3)]


class FusionEstimate_(Structure):
    """rmtl_fusion_estimate, layout version 1."""
    _fields_ = [("version", c_uint32), ("requests", c_size_t), ("snips", c_double),
                ("snips_lo", c_double), ("snips_hi", c_double), ("dr", c_double),
                ("dr_lo", c_double), ("dr_hi", c_double), ("ess", c_double)]


class FusionRoundStats_(Structure):
    """rmtl_fusion_round_stats, layout version 3 (version 1 stops at train,
    version 2 at ope_deployed)."""
    _fields_ = [("version", c_uint32), ("explore", SimStats_), ("log_requests", c_size_t),
                ("log_rows", c_size_t), ("train", FusionStats_), ("deployed", c_int),
                ("gated", c_int), ("ope_new", FusionEstimate_),
                ("ope_deployed", FusionEstimate_), ("gate_gain", c_double),
                ("gate_gain_lo", c_double), ("gate_gain_hi", c_double),
                ("gate_base", c_double)]


class FusionSimOpts_(Structure):
    _fields_ = [("version", c_uint32), ("sessions", c_size_t), ("seed", c_uint64),
                ("train_steps", c_size_t), ("scorer", _P), ("scorer_payload", _P)]


class FusionCemOpts_(Structure):
    _fields_ = [("version", c_uint32), ("iterations", c_size_t), ("population", c_size_t),
                ("elite", c_size_t), ("eval", FusionSimOpts_)]


class SimInfo_(Structure):
    _fields_ = [("version", c_uint32), ("users", c_uint32), ("items", c_uint32),
                ("tasks", c_uint32), ("candidates", c_size_t), ("top_l", c_size_t),
                ("max_requests", c_size_t), ("sessions", c_size_t), ("user_dim", c_size_t),
                ("item_dim", c_size_t), ("context_dim", c_size_t), ("user_card", c_uint32 * 3),
                ("item_card", c_uint32 * 4), ("reward_coef", c_double * 3),
                ("position_decay", c_double)]


class SimRequest_(Structure):
    _fields_ = [("version", c_uint32), ("user", c_uint32), ("request", c_uint32),
                ("tasks", c_uint32), ("session", c_uint64), ("n_user_cat", c_size_t),
                ("user_cat", _P), ("user_dim", c_size_t), ("user_feat", _P),
                ("context_dim", c_size_t), ("context", _P), ("n", c_size_t), ("items", _P),
                ("n_item_cat", c_size_t), ("item_cat", _P), ("item_dim", c_size_t),
                ("item_feat", _P), ("price", _P), ("action_dim", c_size_t), ("action", _P),
                ("box_lo", _P), ("box_hi", _P)]


class SimFeedback_(Structure):
    _fields_ = [("version", c_uint32), ("request", c_uint32), ("n_shown", c_size_t),
                ("shown", _P), ("items", _P), ("tasks", c_size_t), ("behaviours", _P),
                ("pair_reward", _P), ("reward", c_double), ("session_reward", c_double),
                ("done", c_int)]


class EnvState_(Structure):
    _fields_ = [("version", c_uint32), ("session", c_size_t), ("step", c_size_t),
                ("row", c_size_t), ("n_cat", c_size_t), ("cat", _P), ("n_num", c_size_t),
                ("num", _P)]


class EnvStep_(Structure):
    _fields_ = [("version", c_uint32), ("n_tasks", c_size_t), ("reward", _P), ("labels", _P),
                ("done", c_int), ("next_step", c_size_t), ("next_row", c_size_t),
                ("next_cat", _P), ("next_num", _P)]


class AgentReport_(Structure):
    _fields_ = [("version", c_uint32), ("step", c_uint64), ("n_tasks", c_size_t),
                ("critic_loss", POINTER(c_double)), ("actor_updated", c_int),
                ("actor_loss", c_double), ("targets_updated", c_int)]


PROGRESS_FN = CFUNCTYPE(c_int, POINTER(Progress_), c_void_p)
LOG_FN = CFUNCTYPE(None, c_int, c_char_p, c_void_p)
POLICY_FN = CFUNCTYPE(c_int, c_void_p, POINTER(SimRequest_), c_void_p)
SCORER_FN = CFUNCTYPE(c_int, c_void_p, c_size_t, POINTER(SimRequest_), c_void_p)

class LoadOptions_(Structure):
    """rmtl_load_options (include/rmtl.h), layout version 1."""
    _fields_ = [("version", c_uint32), ("threads", c_int), ("progress", PROGRESS_FN),
                ("payload", c_void_p), ("part", c_uint32), ("parts", c_uint32)]


_PP = POINTER(c_void_p)
_SZ = c_size_t
_I = c_int
_PSZ = POINTER(c_size_t)
_PD = POINTER(c_double)
_S = c_char_p
_U64 = c_uint64
_BUF = (c_int, [_PP, _PSZ, _P])  # save_buffer(out, len, handle)

# name: (restype, argtypes). Every `int` function returns an rmtl_status.
# Array arguments are void *: callers pass checked numpy/ctypes addresses.
SIGNATURES = {
    "rmtl_version_number": (c_uint32, []),
    "rmtl_version_string": (_S, []),
    "rmtl_build_info": (_S, []),
    "rmtl_strerror": (_S, [_I]),
    "rmtl_last_error": (_S, []),
    "rmtl_error_clear": (None, []),
    "rmtl_set_log_callback": (None, [LOG_FN, _P]),
    "rmtl_free": (None, [_P]),
    "rmtl_usable_cpus": (_I, []),
    # config
    "rmtl_config_create": (_I, [_PP]),
    "rmtl_config_clone": (_I, [_PP, _P]),
    "rmtl_config_free": (None, [_P]),
    "rmtl_config_load_file": (_I, [_P, _S]),
    "rmtl_config_load_string": (_I, [_P, _S, _SZ, _S]),
    "rmtl_config_set": (_I, [_P, _S, _S]),
    "rmtl_config_set_int": (_I, [_P, _S, c_int64]),
    "rmtl_config_set_double": (_I, [_P, _S, c_double]),
    "rmtl_config_set_bool": (_I, [_P, _S, _I]),
    "rmtl_config_set_string": (_I, [_P, _S, _S]),
    "rmtl_config_set_int_list": (_I, [_P, _S, _P, _SZ]),
    "rmtl_config_get_int": (_I, [POINTER(c_int64), _P, _S]),
    "rmtl_config_get_double": (_I, [_PD, _P, _S]),
    "rmtl_config_get_bool": (_I, [POINTER(c_int), _P, _S]),
    "rmtl_config_get_string": (_I, [POINTER(c_char_p), _P, _S]),
    "rmtl_config_get_int_list": (_I, [_PSZ, _P, _S, _P, _SZ]),
    "rmtl_config_validate": (_I, [_P]),
    "rmtl_config_dump": (_I, [_PP, _PSZ, _P]),
    # dataset
    "rmtl_dataset_load": (_I, [_PP, _S, _S, _P, POINTER(LoadOptions_)]),
    "rmtl_dataset_load_schema_string": (_I, [_PP, _S, _S, _SZ, _S, _P]),
    "rmtl_dataset_load_buffer": (_I, [_PP, _P, _SZ, _S, _S, _SZ, _P]),
    "rmtl_dataset_from_arrays": (_I, [_PP, _SZ, _SZ, _P, _P, _SZ, _P, _SZ, _P, _P]),
    "rmtl_dataset_free": (None, [_P]),
    "rmtl_dataset_rows": (_SZ, [_P]),
    "rmtl_dataset_n_cat": (_SZ, [_P]),
    "rmtl_dataset_vocab_size": (_SZ, [_P, _SZ]),
    "rmtl_dataset_field_name": (_S, [_P, _SZ]),
    "rmtl_dataset_n_num": (_SZ, [_P]),
    "rmtl_dataset_num_name": (_S, [_P, _SZ]),
    "rmtl_dataset_n_tasks": (_SZ, [_P]),
    "rmtl_dataset_task_name": (_S, [_P, _SZ]),
    "rmtl_dataset_has_labels": (_I, [_P]),
    "rmtl_dataset_n_sessions": (_SZ, [_P]),
    "rmtl_dataset_batch": (_I, [POINTER(Batch_), _P, _SZ, _SZ]),
    "rmtl_dataset_shuffle": (_I, [_P, _U64]),
    "rmtl_dataset_split_sessions": (_I, [_PP, _PP, _PP, _P, c_double, c_double, _U64]),
    # dataset cache and streaming
    "rmtl_dataset_save": (_I, [_P, _S]),
    "rmtl_dataset_load_cache": (_I, [_PP, _S, POINTER(LoadOptions_)]),
    "rmtl_dataset_stream_open": (_I, [_PP, _S, _SZ, _SZ, _U64]),
    "rmtl_dataset_stream_open_csv": (_I, [_PP, _S, _P, POINTER(LoadOptions_), _SZ, _SZ, _U64]),
    "rmtl_dataset_stream_next": (_I, [_PP, _P]),
    "rmtl_dataset_stream_schema": (_P, [_P]),
    "rmtl_dataset_stream_rows": (_SZ, [_P]),
    "rmtl_dataset_stream_free": (None, [_P]),
    # metrics
    "rmtl_auc": (_I, [_PD, _P, _P, _SZ, _SZ]),
    "rmtl_logloss": (_I, [_PD, _P, _P, _SZ, _SZ]),
    "rmtl_session_logloss": (_I, [_PD, _P, _P, _SZ, _SZ, _P]),
    "rmtl_fusion_gauc": (_I, [_PD, _P, _P, _P, _SZ]),
    # ctx, model
    "rmtl_ctx_create": (_I, [_PP, _I]),
    "rmtl_ctx_free": (None, [_P]),
    "rmtl_model_create": (_I, [_PP, _P, _P]),
    "rmtl_model_clone": (_I, [_PP, _P]),
    "rmtl_model_free": (None, [_P]),
    # encoder (raw feature text -> a model's input batch)
    "rmtl_encoder_create": (_I, [_PP, _P, _P, _SZ]),
    "rmtl_encoder_free": (None, [_P]),
    "rmtl_encoder_n_columns": (_SZ, [_P]),
    "rmtl_encoder_column_name": (_S, [_P, _SZ]),
    "rmtl_encode_rows": (_I, [POINTER(Batch_), _P, _P, _P, _SZ, _SZ]),
    "rmtl_encode_columns": (_I, [POINTER(Batch_), _P, _P, _P, _SZ, _SZ]),
    "rmtl_model_num_tasks": (_SZ, [_P]),
    "rmtl_model_task_name": (_S, [_P, _SZ]),
    "rmtl_model_num_params": (_SZ, [_P]),
    "rmtl_model_schema": (_P, [_P]),
    "rmtl_model_predict": (_I, [_P, _P, POINTER(Batch_), _P, _SZ]),
    "rmtl_model_fold_embeddings": (_I, [_P, _SZ, _PSZ]),
    "rmtl_model_train_step": (_I, [_P, POINTER(Batch_), _PD]),
    "rmtl_model_set_lr": (_I, [_P, c_double]),
    "rmtl_model_train_epoch": (_I, [_PD, _P, _P, PROGRESS_FN, _P]),
    "rmtl_model_evaluate": (_I, [_P, _P, _P, _P, _P, _P, _SZ]),
    "rmtl_model_save": (_I, [_P, _S, c_uint32]),
    "rmtl_model_save_buffer": (_I, [_PP, _PSZ, _P, c_uint32]),
    "rmtl_model_load": (_I, [_PP, _S]),
    "rmtl_model_load_buffer": (_I, [_PP, _P, _SZ]),
    # env (dataset mode)
    "rmtl_env_create": (_I, [_PP, _P, _P, c_uint32]),
    "rmtl_env_reset": (_I, [POINTER(EnvState_), _P]),
    "rmtl_env_step": (_I, [POINTER(EnvStep_), _P, _P, _SZ]),
    "rmtl_env_current": (_I, [POINTER(EnvState_), _P]),
    "rmtl_env_free": (None, [_P]),
    # simulator
    "rmtl_env_sim_create": (_I, [_PP, _P]),
    "rmtl_env_sim_info": (_I, [POINTER(SimInfo_), _P]),
    "rmtl_env_sim_reset": (_I, [_P]),
    "rmtl_env_sim_request": (_I, [POINTER(SimRequest_), _P]),
    "rmtl_env_sim_step": (_I, [POINTER(SimFeedback_), _P, _P, _SZ]),
    "rmtl_env_sim_true_probs": (_I, [_P, c_uint32, c_uint32, _P, _SZ]),
    "rmtl_env_sim_evaluate": (_I, [POINTER(SimStats_), _P, _SZ, _U64, _P, _P]),
    "rmtl_env_sim_log": (_I, [POINTER(SimStats_), _P, _S, _SZ, _U64, _SZ, _P, _P]),
    # replay, critic, actor, agent
    "rmtl_replay_create": (_I, [_PP, _SZ, _SZ, _SZ, _SZ, _U64]),
    "rmtl_replay_free": (None, [_P]),
    "rmtl_replay_size": (_SZ, [_P]),
    "rmtl_replay_capacity": (_SZ, [_P]),
    "rmtl_replay_store": (_I, [_P, POINTER(Transitions_)]),
    "rmtl_replay_sample": (_I, [POINTER(Transitions_), _P, _SZ]),
    "rmtl_replay_get": (_I, [POINTER(Transitions_), _P, _SZ]),
    "rmtl_replay_fill_random": (_I, [_P, _P, _SZ]),
    "rmtl_replay_fill_actor": (_I, [_P, _P, _P, _SZ]),
    "rmtl_critic_create": (_I, [_PP, _P, _P, _SZ]),
    "rmtl_critic_free": (None, [_P]),
    "rmtl_critic_task": (_SZ, [_P]),
    "rmtl_critic_updates": (_U64, [_P]),
    "rmtl_critic_q": (_I, [_P, _P, POINTER(Batch_), _P, _SZ, _P, _SZ]),
    "rmtl_critic_update": (_I, [_P, _P, POINTER(Transitions_), _PD]),
    "rmtl_critic_soft_update": (_I, [_P]),
    "rmtl_critic_loss_weights": (_I, [_P, _SZ, _P, _P, POINTER(Batch_), c_double, _P, _SZ]),
    "rmtl_critic_save": (_I, [_P, _S]),
    "rmtl_critic_save_buffer": _BUF,
    "rmtl_critic_load": (_I, [_PP, _S]),
    "rmtl_critic_load_buffer": (_I, [_PP, _P, _SZ]),
    "rmtl_actor_create": (_I, [_PP, _P, _P]),
    "rmtl_actor_free": (None, [_P]),
    "rmtl_actor_model": (_P, [_P]),
    "rmtl_actor_updates": (_U64, [_P]),
    "rmtl_actor_act": (_I, [_P, POINTER(Batch_), _I, _P, _SZ]),
    "rmtl_actor_update": (_I, [_P, _P, _SZ, POINTER(Transitions_), _PD]),
    "rmtl_actor_soft_update": (_I, [_P]),
    "rmtl_actor_save": (_I, [_P, _S]),
    "rmtl_actor_save_buffer": _BUF,
    "rmtl_actor_load": (_I, [_PP, _S]),
    "rmtl_actor_load_buffer": (_I, [_PP, _P, _SZ]),
    "rmtl_agent_create": (_I, [_PP, _P, _P]),
    "rmtl_agent_free": (None, [_P]),
    "rmtl_agent_actor": (_P, [_P]),
    "rmtl_agent_critic": (_P, [_P, _SZ]),
    "rmtl_agent_steps": (_U64, [_P]),
    "rmtl_agent_update": (_I, [_P, POINTER(Transitions_), POINTER(AgentReport_)]),
    "rmtl_agent_train": (_I, [POINTER(AgentReport_), _P, _P, _SZ, PROGRESS_FN, _P]),
    "rmtl_agent_loss_weights": (_I, [_P, _P, _P, POINTER(Batch_), _P, _SZ]),
    "rmtl_agent_save": (_I, [_P, _S]),
    "rmtl_agent_save_buffer": _BUF,
    "rmtl_agent_load": (_I, [_PP, _S]),
    "rmtl_agent_load_buffer": (_I, [_PP, _P, _SZ]),
    # fusion
    "rmtl_fusion_create": (_I, [_PP, _P]),
    "rmtl_fusion_create_for_model": (_I, [_PP, _P, _P]),
    "rmtl_fusion_check_model": (_I, [_P, _P]),
    "rmtl_fusion_free": (None, [_P]),
    "rmtl_fusion_describe": (_I, [POINTER(FusionInfo_), _P]),
    "rmtl_fusion_set_fixed": (_I, [_P, _P, _SZ]),
    "rmtl_fusion_deploy": (_I, [_P]),
    "rmtl_fuse_scores": (_I, [_P, _P, _P, _SZ, _P, _SZ, _P, _SZ]),
    "rmtl_fuse_scores_batch": (_I, [_P, _P, POINTER(FusionRequest_), _P, _SZ, _P, _SZ]),
    "rmtl_fusion_explore": (_I, [_P, _P, POINTER(FusionRequest_), POINTER(c_uint64), _P, _P,
                                 _P, _P, _SZ]),
    "rmtl_fusion_train_step": (_I, [_P, POINTER(FusionBatch_), POINTER(FusionStats_)]),
    "rmtl_fusion_save": (_I, [_P, _S, c_uint32]),
    "rmtl_fusion_save_buffer": (_I, [_PP, _PSZ, _P, c_uint32]),
    "rmtl_fusion_load": (_I, [_PP, _S]),
    "rmtl_fusion_load_buffer": (_I, [_PP, _P, _SZ]),
    "rmtl_fusion_evaluate": (_I, [POINTER(SimStats_), _P, _P, POINTER(FusionSimOpts_)]),
    "rmtl_fusion_log_gauc": (_I, [_PD, _P, _P]),
    "rmtl_fusion_ope": (_I, [POINTER(FusionEstimate_), _P, _P]),
    "rmtl_fusion_cem": (_I, [_PD, _P, _P, POINTER(FusionCemOpts_)]),
}

MISSING = []  # entry points this build of the library lacks (older or newer API)
for _name, (_res, _args) in SIGNATURES.items():
    try:
        _f = getattr(lib, _name)
    except AttributeError:
        MISSING.append(_name)
        continue
    _f.restype = _res
    _f.argtypes = _args


def _bind_folded(base, args):
    """`base`_v2 while the library still has it, else `base` itself, which
    takes the _v2 arguments once the two are folded into one name."""
    for name in (base + "_v2", base):
        f = getattr(lib, name, None)
        if f is not None:
            f.restype = c_int
            f.argtypes = args
            return f
    MISSING.append(base)
    return None


def load_options(progress_fn=None, payload=None, threads=0, part=0, parts=0):
    """The rmtl_load_options of rmtl_dataset_load() and
    rmtl_dataset_load_cache(): a progress callback (a PROGRESS_FN or None),
    a thread count (0: the usable CPUs) and a shard `part` of `parts`
    (0 of 0: the whole file), all checked by the caller."""
    return LoadOptions_(1, threads, progress_fn if progress_fn is not None else PROGRESS_FN(),
                        payload, part, parts)


def dataset_load(out, path, schema_path, reference, progress_fn, payload, threads=0, part=0,
                 parts=0):
    """rmtl_dataset_load with its options (load_options)."""
    opts = load_options(progress_fn, payload, threads, part, parts)
    return lib.rmtl_dataset_load(out, path, schema_path, reference, byref(opts))


fusion_round = _bind_folded("rmtl_fusion_round", [POINTER(FusionRoundStats_), _P, _P,
                                                  POINTER(FusionSimOpts_), PROGRESS_FN, _P])
RANDOM_POLICY = ctypes.cast(lib.rmtl_env_sim_random_policy, c_void_p).value
ORACLE_POLICY = ctypes.cast(lib.rmtl_env_sim_oracle_policy, c_void_p).value

# Status codes (include/rmtl.h: rmtl_status).
OK, ERROR, EINVAL, ENOMEM, EIO, EFORMAT, EVERSION, ECONFIG, ESTATE, ENUMERIC = (
    0, -1, -2, -3, -4, -5, -6, -7, -8, -9)


class RmtlError(Exception):
    """A librmtl call failed.

    ``code`` is the rmtl_status (e.g. ``rmtl.ECONFIG``), ``name`` its
    rmtl_strerror() text and ``message`` the library's rmtl_last_error()
    message naming what was wrong and where."""

    def __init__(self, code: int, message: str):
        self.code = code
        self.name = (lib.rmtl_strerror(code) or b"").decode()
        self.message = message
        super().__init__("%s (%s)" % (message, self.name) if message else self.name)

    def __reduce__(self):
        return (RmtlError, (self.code, self.message))


def check(rc):
    """Raises RmtlError for a failed status; returns it otherwise."""
    if rc != OK:
        raise RmtlError(rc, lib.rmtl_last_error().decode("utf-8", "replace"))
    return rc


def take_buffer(fn, *args):
    """Calls a `*_save_buffer(void **out, size_t *len, ...)` and returns
    the bytes (the library's copy is freed)."""
    out, n = c_void_p(), c_size_t()
    check(fn(ctypes.byref(out), ctypes.byref(n), *args))
    try:
        return ctypes.string_at(out, n.value)
    finally:
        lib.rmtl_free(out)


def create(fn, *args):
    """Calls a `T **out`-first constructor and returns the new pointer."""
    out = c_void_p()
    check(fn(ctypes.byref(out), *args))
    if not out.value:  # a constructor that succeeded always sets it
        raise RmtlError(ERROR, "%s returned no handle" % fn.__name__)
    return out.value


# --- paths and strings --------------------------------------------------------

def path_arg(p, name):
    """A file-system path (str, bytes or os.PathLike) as bytes for C."""
    if isinstance(p, bool) or not isinstance(p, (str, bytes, os.PathLike)):
        raise TypeError("%s must be a path (str, bytes or os.PathLike), not %s"
                        % (name, type(p).__name__))
    b = os.fsencode(p)
    if b"\0" in b:
        raise ValueError("%s contains a NUL character" % name)
    if not b:
        raise ValueError("%s is empty" % name)
    return b


def str_arg(s, name):
    """A str as UTF-8 bytes for C (no NUL)."""
    if not isinstance(s, str):
        raise TypeError("%s must be a str, not %s" % (name, type(s).__name__))
    b = s.encode("utf-8")
    if b"\0" in b:
        raise ValueError("%s contains a NUL character" % name)
    return b


def decode(b):
    return None if b is None else b.decode("utf-8", "replace")


# --- owned handles ------------------------------------------------------------

class Handle:
    """An owned C handle: ``close()`` frees it (idempotent), ``with`` closes
    it, and so does garbage collection.

    Memory safety rules kept here: a closed handle raises ValueError on
    use; a handle cannot be closed while a call is using it (e.g. from a
    progress callback or another thread) or while another live handle
    borrows it (an Env borrows its Dataset); views borrowed from another
    handle (Model.schema, Agent.actor, ...) keep their owner alive and die
    with it."""

    _free = None  # name of the C destructor

    def __init__(self, ptr, owner=None):
        self._ptr = ptr
        self._owner = owner      # the handle a view is borrowed from
        self._busy = 0           # calls in flight (see `using`)
        self._writer = None      # the thread of the call that changes it, if any
        self._borrowers = []     # weakrefs to live handles that borrow this one

    @property
    def closed(self) -> bool:
        """True once closed (or once the handle this view is borrowed from
        was closed)."""
        if not self._ptr:
            return True
        return self._owner is not None and self._owner.closed

    @property
    def handle(self) -> int:
        """The C pointer (an int); ValueError when closed."""
        if self.closed:
            raise ValueError("this %s is closed" % type(self).__name__)
        return self._ptr

    def _root(self):
        h = self
        while h._owner is not None:
            h = h._owner
        return h

    def _lend(self, borrower):
        """Records that `borrower` reads this handle while it lives."""
        root = self._root()
        root._borrowers = [r for r in root._borrowers if r() is not None and not r().closed]
        root._borrowers.append(weakref.ref(borrower))

    def close(self) -> None:
        """Frees the C object (a view only forgets it). Idempotent."""
        ptr = getattr(self, "_ptr", None)
        if not ptr:
            return
        with _guard:
            if self._owner is None:
                if self._busy:
                    raise ValueError("cannot close this %s while a call is using it"
                                     % type(self).__name__)
                live = [r() for r in self._borrowers if r() is not None and not r().closed]
                if live:
                    raise ValueError("cannot close this %s while a %s borrows it: close that "
                                     "first" % (type(self).__name__, type(live[0]).__name__))
            self._ptr = None
        if self._owner is None and self._free and lib is not None:
            getattr(lib, self._free)(ptr)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        try:
            if getattr(self, "_owner", None) is None and not getattr(self, "_busy", 0):
                self._borrowers = []
                self.close()
        except Exception:  # interpreter shutdown
            pass

    def __repr__(self):
        if self.closed:
            return "<rmtl.%s closed>" % type(self).__name__
        return "<rmtl.%s %s>" % (type(self).__name__, self._describe())

    def _describe(self):
        return "at 0x%x" % self._ptr

    def __reduce__(self):
        raise TypeError("a %s cannot be pickled" % type(self).__name__)


# Makes the busy bookkeeping of all handles atomic. Re-entrant: garbage
# collection may run a Handle.__del__ (close) while this thread holds it.
_guard = threading.RLock()


class using:
    """``with using(a, b, mut=(a,)) as (pa, pb):`` the C pointers of open
    handles (None stays None) for one C call. Every handle is marked busy,
    so nothing can close it meanwhile. Handles in `mut` are the ones the
    call changes ([per-object] in include/rmtl.h): they need exclusive use,
    so a second thread (or a callback) that reaches one of them while the
    call runs gets RuntimeError instead of a data race. Reads from the
    thread that holds the exclusive use (e.g. a progress callback looking
    at the model being trained) are allowed."""

    __slots__ = ("hs", "mut", "taken")

    def __init__(self, *hs, mut=()):
        self.hs = hs
        self.mut = mut if isinstance(mut, tuple) else (mut,)
        self.taken = []

    def __enter__(self):
        ptrs = [None if h is None else h.handle for h in self.hs]
        me = threading.get_ident()
        roots = {}
        for h in self.hs + self.mut:
            if h is not None:
                roots.setdefault(id(h._root()), [h._root(), False])
        for h in self.mut:
            if h is not None:
                roots[id(h._root())][1] = True
        with _guard:
            for r, excl in roots.values():
                if r._writer is not None and (excl or r._writer != me):
                    raise RuntimeError("this %s is being changed by another call (another "
                                       "thread, or the call running this callback)"
                                       % type(r).__name__)
                if excl and r._busy:
                    raise RuntimeError("this %s is in use by another call: it cannot be "
                                       "changed meanwhile" % type(r).__name__)
            for r, excl in roots.values():
                r._busy += 1
                if excl:
                    r._writer = me
                self.taken.append((r, excl))
        return ptrs

    def __exit__(self, *exc):
        with _guard:
            for r, excl in self.taken:
                r._busy -= 1
                if excl:
                    r._writer = None
        self.taken = []


def bytes_arg(data, name="data"):
    """Checkpoint bytes (bytes, bytearray or memoryview), not empty."""
    if isinstance(data, memoryview):
        data = data.tobytes()
    if not isinstance(data, (bytes, bytearray)):
        raise TypeError("%s must be bytes, not %s" % (name, type(data).__name__))
    if not data:
        raise ValueError("%s is empty" % name)
    return bytes(data)


class Checkpointed(Handle):
    """A handle with checkpoints: save() and load() for files, to_bytes()
    and from_bytes() in memory, and pickling through those bytes with the
    training state, so that an unpickled object continues exactly. `_kind`
    names the C calls rmtl_<kind>_save[_buffer] / _load[_buffer]; `_flags`
    says whether saving takes RMTL_SAVE_TRAINING_STATE (agents, actors and
    critics always save it)."""

    _kind = None
    _flags = False

    @classmethod
    def load(cls, path):
        """Loads a checkpoint written by save()."""
        return cls._wrap(create(getattr(lib, "rmtl_%s_load" % cls._kind),
                                path_arg(path, "path")))

    @classmethod
    def from_bytes(cls, data: bytes):
        """As load() from checkpoint bytes (to_bytes())."""
        buf = bytes_arg(data)
        return cls._wrap(create(getattr(lib, "rmtl_%s_load_buffer" % cls._kind), buf, len(buf)))

    def save(self, path, training_state: bool = False) -> None:
        """Writes a checkpoint atomically (a previous file survives a
        failure). `training_state` adds, for models and fusions, what
        resuming training exactly needs; the other kinds always hold it."""
        p = path_arg(path, "path")
        fn = getattr(lib, "rmtl_%s_save" % self._kind)
        with using(self) as (h,):
            check(fn(h, p, 1 if training_state else 0) if self._flags else fn(h, p))

    def to_bytes(self, training_state: bool = True) -> bytes:
        """The checkpoint as bytes (what save() writes), with the training
        state unless `training_state` is False (models and fusions)."""
        fn = getattr(lib, "rmtl_%s_save_buffer" % self._kind)
        with using(self) as (h,):
            if self._flags:
                return take_buffer(fn, h, 1 if training_state else 0)
            return take_buffer(fn, h)

    def __reduce__(self):
        return (type(self).from_bytes, (self.to_bytes(),))


def expect(obj, cls, name, allow_none=False):
    """TypeError unless `obj` is an instance of `cls` (or None if allowed)."""
    if obj is None and allow_none:
        return None
    if not isinstance(obj, cls):
        names = cls.__name__ if isinstance(cls, type) else " or ".join(c.__name__ for c in cls)
        raise TypeError("%s must be an rmtl.%s, not %s" % (name, names, type(obj).__name__))
    return obj
