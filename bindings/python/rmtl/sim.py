"""The session simulator (rmtl_env in simulator mode)."""

import ctypes
from ctypes import byref, c_uint64, c_void_p
from typing import Callable, Dict, List, Union

from . import _arrays
from ._arrays import vector
from ._lib import ERROR, ORACLE_POLICY, POLICY_FN, RANDOM_POLICY, SCORER_FN, Handle, \
    SimFeedback_, SimInfo_, SimRequest_, SimStats_, check, create, lib, path_arg, using
from .config import as_config

__all__ = ["SimEnv"]


def sim_stats(st) -> Dict[str, object]:
    return {"sessions": st.sessions, "requests": st.requests, "impressions": st.impressions,
            "reward_mean": st.reward_mean, "reward_std": st.reward_std,
            "length_mean": st.length_mean, "length_std": st.length_std,
            "rate": list(st.rate)}


def request_dict(r) -> Dict[str, object]:
    """A copy of a simulator request."""
    n = r.n
    return {"user": r.user, "request": r.request, "tasks": r.tasks, "session": r.session,
            "user_cat": _arrays.copy_out(r.user_cat, "i", r.n_user_cat),
            "user_feat": _arrays.copy_out(r.user_feat, "f", r.user_dim),
            "context": _arrays.copy_out(r.context, "f", r.context_dim),
            "n": n, "items": _arrays.copy_out(r.items, "i", n),
            "item_cat": _arrays.copy_out(r.item_cat, "i", n, r.n_item_cat),
            "item_feat": _arrays.copy_out(r.item_feat, "f", n, r.item_dim),
            "price": _arrays.copy_out(r.price, "f", n)}


class PyCallback:
    """A Python policy or scorer called from C: its result is checked and
    copied into the C buffer; an exception stops the run with RMTL_ERROR
    and is re-raised in its place."""

    def __init__(self, fn, kind, name):
        if not callable(fn):
            raise TypeError("%s must be callable" % name)
        self.fn, self.name, self.exc = fn, name, None
        self.cfn = (POLICY_FN(self._policy) if kind == "policy" else SCORER_FN(self._scorer))
        self.addr = ctypes.cast(self.cfn, c_void_p).value

    def _write(self, dst, values, n, cols, name):
        a = _arrays.matrix(values, "f", name, cols=cols, rows=n)
        if n * cols:
            ctypes.memmove(dst, a.ptr, 4 * n * cols)

    def _policy(self, scores, req, payload):
        try:
            r = req.contents
            self._write(scores, self.fn(request_dict(r)), r.n, 1, "the policy's scores")
            return 0
        except BaseException as e:  # noqa: B902
            self.exc = e
            return ERROR

    def _scorer(self, scores, capacity, req, payload):
        try:
            r = req.contents
            if r.n * r.tasks > capacity:
                raise RuntimeError("scorer: capacity %d < %d" % (capacity, r.n * r.tasks))
            self._write(scores, self.fn(request_dict(r)), r.n, r.tasks, "the scorer's scores")
            return 0
        except BaseException as e:  # noqa: B902
            self.exc = e
            return ERROR

    def check(self, rc):
        if self.exc is not None:
            exc, self.exc = self.exc, None
            raise exc
        return check(rc)


def _policy(policy, policy_seed, env_ptr):
    """(function address, payload, keep, callback) of 'random', 'oracle'
    (whose payload is the env) or a callable."""
    if policy == "random":
        state = c_uint64(_arrays.integer(policy_seed, "policy_seed"))
        return RANDOM_POLICY, ctypes.addressof(state), state, None
    if policy == "oracle":
        return ORACLE_POLICY, env_ptr, None, None
    if isinstance(policy, str):
        raise ValueError("policy must be 'random', 'oracle' or a callable, not %r" % policy)
    cb = PyCallback(policy, "policy", "policy")
    return cb.addr, None, cb, cb


class SimEnv(Handle):
    """The seeded session simulator (sim.* keys of the config): users,
    items and hidden per-task behaviour probabilities; see
    docs/simulator.md."""

    _free = "rmtl_env_free"

    def __init__(self, config):
        cfg, made = as_config(config)
        try:
            with using(cfg) as (c,):
                super().__init__(create(lib.rmtl_env_sim_create, c))
        finally:
            if made:
                cfg.close()

    @property
    def info(self) -> Dict[str, object]:
        """The world's sizes: users, items, tasks, candidates, top_l, dims,
        categorical cardinalities, reward coefficients."""
        i = SimInfo_(version=1)
        with using(self) as (h,):
            check(lib.rmtl_env_sim_info(byref(i), h))
        d = {name: getattr(i, name) for name, _ in SimInfo_._fields_ if name != "version"}
        for k in ("user_card", "item_card", "reward_coef"):
            d[k] = list(d[k])
        d["reward_coef"] = d["reward_coef"][:i.tasks]
        return d

    def reset(self) -> Dict[str, object]:
        """Starts the next session of the env's own stream; returns its
        first request."""
        with using(self, mut=self) as (h,):
            check(lib.rmtl_env_sim_reset(h))
        return self.request()

    def request(self) -> Dict[str, object]:
        """The pending request (copies): user, context, candidates and
        their features."""
        r = SimRequest_(version=1)
        with using(self) as (h,):
            check(lib.rmtl_env_sim_request(byref(r), h))
            return request_dict(r)

    def step(self, scores) -> Dict[str, object]:
        """Serves the pending request with one score per candidate; returns
        the feedback (shown, behaviours, rewards, done)."""
        r = SimRequest_(version=1)
        with using(self, mut=self) as (h,):
            check(lib.rmtl_env_sim_request(byref(r), h))
            s = vector(scores, "f", "scores", n=r.n, what="the request's candidates")
            fb = SimFeedback_(version=1)
            check(lib.rmtl_env_sim_step(byref(fb), h, s.ptr, s.n))
            return {"request": fb.request,
                    "shown": _arrays.copy_out(fb.shown, "i", fb.n_shown),
                    "items": _arrays.copy_out(fb.items, "i", fb.n_shown),
                    "behaviours": _arrays.copy_out(fb.behaviours, "f", fb.n_shown, fb.tasks),
                    "pair_reward": _arrays.copy_out(fb.pair_reward, "f", fb.n_shown),
                    "reward": fb.reward, "session_reward": fb.session_reward,
                    "done": bool(fb.done)}

    def true_probs(self, user: int, item: int) -> List[float]:
        """Ground-truth per-task behaviour probabilities of a pair at the
        top position."""
        u = _arrays.integer(user, "user", 0, 2 ** 32 - 1)
        it = _arrays.integer(item, "item", 0, 2 ** 32 - 1)
        out = (ctypes.c_float * 3)()
        with using(self) as (h,):
            check(lib.rmtl_env_sim_true_probs(h, u, it, out, 3))
            return list(out[:lib_tasks(self)])

    def evaluate(self, sessions: int, seed: int = 0,
                 policy: Union[str, Callable] = "random", policy_seed: int = 12345):
        """Plays sessions 0..sessions-1 of the stream `seed` with `policy`
        ('random', 'oracle' or a callable request -> scores); returns the
        statistics."""
        n = _arrays.integer(sessions, "sessions")
        seed = _arrays.integer(seed, "seed")
        st = SimStats_(version=1)
        with using(self, mut=self) as (h,):
            fn, payload, keep, cb = _policy(policy, policy_seed, h)
            rc = lib.rmtl_env_sim_evaluate(byref(st), h, n, seed, fn, payload)
        (cb or _Plain).check(rc)
        return sim_stats(st)

    def log(self, csv_path, sessions: int, seed: int = 1,
            policy: Union[str, Callable] = "random", policy_seed: int = 12345):
        """Plays sessions with `policy` and writes their impressions as CSV
        (schema: examples/schemas/sim.yaml); returns the statistics."""
        p = path_arg(csv_path, "csv_path")
        n = _arrays.integer(sessions, "sessions")
        seed = _arrays.integer(seed, "seed")
        st = SimStats_(version=1)
        with using(self, mut=self) as (h,):
            fn, payload, keep, cb = _policy(policy, policy_seed, h)
            rc = lib.rmtl_env_sim_log(byref(st), h, p, n, seed, 0, fn, payload)
        (cb or _Plain).check(rc)
        return sim_stats(st)

    def log_random(self, csv_path, sessions: int, seed: int = 1, policy_seed: int = 12345):
        """log() with the random policy (kept for older scripts)."""
        return self.log(csv_path, sessions, seed, "random", policy_seed)

    def _describe(self):
        i = self.info
        return "users=%d items=%d tasks=%d" % (i["users"], i["items"], i["tasks"])


def lib_tasks(env):
    return env.info["tasks"]


class _Plain:
    @staticmethod
    def check(rc):
        return check(rc)
