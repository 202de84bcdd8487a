"""Enhanced-state multi-task fusion (rmtl_fusion)."""

from collections import namedtuple
from ctypes import byref, c_double, c_float as _arrays_float, c_uint64
from typing import Dict, Optional, Sequence, Tuple

from . import _arrays
from ._arrays import matrix, vector
from ._lib import FusionBatch_, FusionCemOpts_, FusionEstimate_, FusionInfo_, FusionRequest_, \
    FusionRoundStats_, FusionSimOpts_, FusionStats_, Checkpointed, Handle, SimStats_, check, \
    create, expect, fusion_round, lib, using
from ._progress import ProgressCall
from .config import as_config
from .model import Ctx, Model, ctx_arg
from .sim import PyCallback, SimEnv, sim_stats

__all__ = ["Fusion", "OpeEstimate"]

PAIR, USER = 0, 1
PRODUCT, SUM = 0, 1


OpeEstimate = namedtuple("OpeEstimate",
                         "requests snips snips_lo snips_hi dr dr_lo dr_hi ess")
OpeEstimate.__doc__ = """An off-policy estimate of the mean request reward of a policy as
it serves (rmtl_fusion_estimate): the logged `requests` used; `snips`
(self-normalised inverse propensity scoring) and `dr` (doubly robust: the
item critics' model plus the self-normalised weighted residuals of items
weighted up to fusion.ope_max_weight; equal to snips without item critics),
each with its 95% interval (`*_lo`, `*_hi`; dr's widened to hold the interval
of the estimate that keeps every residual); `ess`, the effective sample size
of the requests' weights."""


def _estimate(e):
    return OpeEstimate(e.requests, e.snips, e.snips_lo, e.snips_hi, e.dr, e.dr_lo, e.dr_hi,
                       e.ess)


def _stats(s):
    return {"critic_loss": s.critic_loss, "actor_loss": s.actor_loss, "q": s.q,
            "q_std": s.q_std, "penalty": s.penalty, "steps": s.steps}


class Fusion(Checkpointed):
    """Enhanced-state multi-task fusion: T task scores of a user-item pair
    -> one ranking score, through an action (weights, biases) from an actor
    trained by RL (fusion.* keys of the config), or a fixed action."""

    _free = "rmtl_fusion_free"
    _kind, _flags = "fusion", True

    def __init__(self, config):
        cfg, made = as_config(config)
        try:
            with using(cfg) as (c,):
                super().__init__(create(lib.rmtl_fusion_create, c))
        finally:
            if made:
                cfg.close()

    @classmethod
    def _wrap(cls, ptr):
        obj = cls.__new__(cls)
        Handle.__init__(obj, ptr)
        return obj

    @classmethod
    def for_model(cls, config, model: Model) -> "Fusion":
        """A fusion that serves the scores of `model`: as Fusion(config)
        with T and the task names taken from the model (its checkpoints
        keep them). A config that sets model.tasks must name the model's
        tasks in its order (RmtlError ECONFIG otherwise)."""
        expect(model, Model, "model")
        cfg, made = as_config(config)
        try:
            with using(cfg, model) as (c, m):
                return cls._wrap(create(lib.rmtl_fusion_create_for_model, c, m))
        finally:
            if made:
                cfg.close()

    def check_model(self, model: Model) -> None:
        """Checks that this fusion fuses the scores `model` predicts: the
        same tasks, same names, same order (e.g. after loading both from
        checkpoints for serving). RmtlError EINVAL naming both otherwise."""
        expect(model, Model, "model")
        with using(self, model) as (h, m):
            check(lib.rmtl_fusion_check_model(h, m))

    @property
    def info(self) -> Dict[str, int]:
        """tasks, user_dim, item_dim, context_dim, state_dim, action_dim,
        reward_dim, granularity, formula, fixed, steps, actor_params."""
        i = FusionInfo_(version=1)
        with using(self) as (h,):
            check(lib.rmtl_fusion_describe(byref(i), h))
        return {name: getattr(i, name) for name, _ in FusionInfo_._fields_ if name != "version"}

    # --- serving ------------------------------------------------------------
    def _dims(self):
        """The info fields that never change for a handle (cached)."""
        d = getattr(self, "_dims_cache", None)
        if d is None or self.closed:
            inf = self.info
            d = {k: inf[k] for k in ("tasks", "user_dim", "item_dim", "context_dim",
                                     "state_dim", "action_dim", "reward_dim")}
            self._dims_cache = d
        return d

    def fuse(self, state, scores) -> Tuple[float, list]:
        """(fused score, action) of ONE pair: `state` its state_dim floats
        [user; item; context], `scores` its T task scores in [0, 1]."""
        inf = self._dims()
        s = vector(state, "f", "state", n=inf["state_dim"], what="state_dim")
        p = vector(scores, "f", "scores", n=inf["tasks"], what="the fusion's tasks")
        fused = (_arrays_float * 1)()
        A = inf["action_dim"]
        action = (_arrays_float * max(A, 1))()
        with using(self) as (h,):
            check(lib.rmtl_fuse_scores(fused, h, s.ptr, s.n, p.ptr, p.n, action, A))
        return fused[0], list(action[:A])

    fuse_scores = fuse

    def _request(self, inf, scores, items, user, context):
        p = matrix(scores, "f", "scores", cols=inf["tasks"], what="the fusion's tasks")
        n = p.rows
        if inf["item_dim"]:
            if items is None:
                raise ValueError("items is required (n x %d)" % inf["item_dim"])
            it = matrix(items, "f", "items", cols=inf["item_dim"], rows=n, what="item_dim")
        else:
            it = matrix(items if items is not None else [], "f", "items", cols=0, rows=n,
                        what="item_dim")
        u = vector(user if user is not None else [], "f", "user", n=inf["user_dim"],
                   what="user_dim")
        c = vector(context if context is not None else [], "f", "context",
                   n=inf["context_dim"], what="context_dim")
        req = FusionRequest_(1, n, u.n, u.ptr, c.n, c.ptr, inf["item_dim"], it.ptr,
                             inf["tasks"], p.ptr)
        return req, (p, it, u, c), n

    def fuse_batch(self, scores, items=None, user=None, context=None, ctx: Optional[Ctx] = None,
                   return_actions: bool = False):
        """Fused scores of the n candidates of one request: `scores`
        n × T, `items` n × item_dim, `user` and `context` the request's
        vectors. With `return_actions`, (fused, actions n × action_dim)."""
        ctx = ctx_arg(ctx)
        inf = self._dims()
        req, keep, n = self._request(inf, scores, items, user, context)
        ptr, out = _arrays.out("f", n)
        A = inf["action_dim"]
        aptr, acts = _arrays.out("f", n, A) if return_actions else (None, None)
        with using(self, ctx, mut=ctx) as (h, c):
            check(lib.rmtl_fuse_scores_batch(h, c, byref(req), ptr, n, aptr,
                                             n * A if return_actions else 0))
        return (out, acts) if return_actions else out

    def explore(self, scores, items=None, user=None, context=None, seed: int = 0,
                ctx: Optional[Ctx] = None):
        """The behaviour policy for collecting data: the served action plus
        uniform noise. Returns {'fused', 'action', 'box_lo', 'box_hi',
        'seed'} ('seed' is the advanced noise state for the next call)."""
        ctx = ctx_arg(ctx)
        inf = self._dims()
        req, keep, n = self._request(inf, scores, items, user, context)
        A = inf["action_dim"]
        state = c_uint64(_arrays.integer(seed, "seed"))
        fp, fused = _arrays.out("f", n)
        ap, act = _arrays.out("f", n, A)
        lp, lo = _arrays.out("f", n, A)
        hp, hi = _arrays.out("f", n, A)
        with using(self, ctx, mut=ctx) as (h, c):
            check(lib.rmtl_fusion_explore(h, c, byref(req), byref(state), fp, ap, lp, hp, n))
        return {"fused": fused, "action": act, "box_lo": lo, "box_hi": hi,
                "seed": state.value}

    # --- policy and training ------------------------------------------------
    def set_fixed(self, action: Optional[Sequence[float]]) -> None:
        """Serves the fixed `action` (action_dim values within the bounds)
        to every pair; None goes back to the deployed actor."""
        with using(self, mut=self) as (h,):
            if action is None:
                check(lib.rmtl_fusion_set_fixed(h, None, 0))
                return
            a = vector(action, "f", "action", n=self._dims()["action_dim"], what="action_dim")
            check(lib.rmtl_fusion_set_fixed(h, a.ptr, a.n))

    def deploy(self) -> None:
        """Makes the actor as trained so far the served policy."""
        with using(self, mut=self) as (h,):
            check(lib.rmtl_fusion_deploy(h))

    def train_step(self, batch: Dict[str, object]) -> Dict[str, float]:
        """One update on logged requests: `batch` holds 'rows' and
        'next_rows' (requests × 2 [begin, end) of pair rows; next empty when
        the session ended), and per pair row 'state' (state_dim), 'scores'
        (T), 'action', 'box_lo', 'box_hi' (action_dim) and 'reward'
        (reward_dim). Returns the step's statistics."""
        if not isinstance(batch, dict):
            raise TypeError("batch must be a dict of arrays, not %s" % type(batch).__name__)
        inf = self._dims()
        need = ("rows", "next_rows", "state", "scores", "action", "box_lo", "box_hi", "reward")
        missing = [k for k in need if batch.get(k) is None]
        if missing:
            raise ValueError("batch lacks %s" % ", ".join(missing))
        st = matrix(batch["state"], "f", "batch['state']", cols=inf["state_dim"],
                    what="state_dim")
        n = st.rows
        sc = matrix(batch["scores"], "f", "batch['scores']", cols=inf["tasks"], rows=n,
                    what="tasks")
        A = inf["action_dim"]
        ac = matrix(batch["action"], "f", "batch['action']", cols=A, rows=n, what="action_dim")
        lo = matrix(batch["box_lo"], "f", "batch['box_lo']", cols=A, rows=n, what="action_dim")
        hi = matrix(batch["box_hi"], "f", "batch['box_hi']", cols=A, rows=n, what="action_dim")
        rw = matrix(batch["reward"], "f", "batch['reward']", cols=inf["reward_dim"], rows=n,
                    what="reward_dim")
        rows = matrix(batch["rows"], "Q", "batch['rows']", cols=2)
        nxt = matrix(batch["next_rows"], "Q", "batch['next_rows']", cols=2, rows=rows.rows)
        flat_r, flat_n = _arrays.tolist(rows.keep), _arrays.tolist(nxt.keep)
        flat_r = [v for r in flat_r for v in (r if isinstance(r, list) else [r])]
        flat_n = [v for r in flat_n for v in (r if isinstance(r, list) else [r])]
        for r in range(rows.rows):
            b, e = flat_r[2 * r], flat_r[2 * r + 1]
            if not b < e <= n:
                raise ValueError("batch['rows'][%d] = [%d, %d) is not a non-empty range of "
                                 "the %d pair rows" % (r, b, e, n))
            b, e = flat_n[2 * r], flat_n[2 * r + 1]
            if not b <= e <= n:
                raise ValueError("batch['next_rows'][%d] = [%d, %d) is not a range of the %d "
                                 "pair rows" % (r, b, e, n))
        if not rows.rows:
            raise ValueError("batch has no requests")
        fb = FusionBatch_(1, rows.rows, rows.ptr, nxt.ptr, n, inf["state_dim"], st.ptr,
                          inf["tasks"], sc.ptr, A, ac.ptr, lo.ptr, hi.ptr, inf["reward_dim"],
                          rw.ptr)
        stats = FusionStats_(version=1)
        with using(self, mut=self) as (h,):
            check(lib.rmtl_fusion_train_step(h, byref(fb), byref(stats)))
        return _stats(stats)

    # --- in the simulator ---------------------------------------------------
    def _opts(self, sessions, seed, train_steps, scorer):
        cb = PyCallback(scorer, "scorer", "scorer") if scorer is not None else None
        o = FusionSimOpts_(1, _arrays.integer(sessions, "sessions"),
                           _arrays.integer(seed, "seed"),
                           _arrays.integer(train_steps, "train_steps"),
                           cb.addr if cb else None, None)
        return o, cb

    def round(self, env: SimEnv, sessions: int = 0, train_steps: int = 0, progress=None,
              scorer=None) -> Dict[str, object]:
        """One progressive-training round in the simulator: explore
        `sessions` sessions (0: sim.sessions), `train_steps` updates, deploy.
        `scorer(request) -> n × T scores` stands for the host's MTL model
        (default: the simulator's true probabilities). Returns the
        round's stats; "deployed" says whether it deployed its actor, and
        with fusion.ope_gate ("gated" True) "ope_new" and "ope_deployed"
        are the two policies' request-value OpeEstimates and "gate" the
        gate's paired long-term gain {"gain", "lo", "hi", "base"} (else
        None)."""
        expect(env, SimEnv, "env")
        o, cb = self._opts(sessions, 0, train_steps, scorer)
        pc = ProgressCall(progress)
        st = FusionRoundStats_(version=3)
        st.explore.version = 1
        st.train.version = 1
        st.ope_new.version = st.ope_deployed.version = 1
        with using(self, env, mut=(self, env)) as (h, e):
            rc = fusion_round(byref(st), h, e, byref(o), pc.cfn, None)
        if cb is not None and cb.exc is not None:
            cb.check(rc)
        pc.check(rc)
        return {"explore": sim_stats(st.explore), "log_requests": st.log_requests,
                "log_rows": st.log_rows, "critic_loss": st.train.critic_loss,
                "actor_loss": st.train.actor_loss, "steps": st.train.steps,
                "train": _stats(st.train), "deployed": bool(st.deployed),
                "gated": bool(st.gated),
                "ope_new": _estimate(st.ope_new) if st.gated else None,
                "ope_deployed": _estimate(st.ope_deployed) if st.gated else None,
                "gate": {"gain": st.gate_gain, "lo": st.gate_gain_lo, "hi": st.gate_gain_hi,
                         "base": st.gate_base} if st.gated else None}

    def evaluate(self, env: SimEnv, sessions: int, seed: int = 0, scorer=None):
        """The served policy on sessions 0..sessions-1 of the stream `seed`
        (no exploration)."""
        expect(env, SimEnv, "env")
        o, cb = self._opts(sessions, seed, 0, scorer)
        st = SimStats_(version=1)
        with using(self, env, mut=env) as (h, e):
            rc = lib.rmtl_fusion_evaluate(byref(st), h, e, byref(o))
        (cb.check if cb else check)(rc)
        return sim_stats(st)

    def log_gauc(self, logged: "Fusion") -> float:
        """MTF-GAUC of this policy's fused scores on the offline log that
        `logged` collected in its rounds."""
        expect(logged, Fusion, "logged")
        g = c_double()
        with using(self, logged) as (h, l_):
            check(lib.rmtl_fusion_log_gauc(byref(g), h, l_))
        return g.value

    def ope(self, logged: "Fusion") -> OpeEstimate:
        """Off-policy evaluation: the mean request reward that this policy
        (its deployed actor or fixed action) would earn on the requests of
        `logged`'s offline log (collected by its rounds with
        fusion.explore: plackett_luce), from the logged lists' known
        Plackett-Luce propensities; `logged` may be this fusion. Returns
        an OpeEstimate (SNIPS and doubly robust, with 95% intervals).
        RmtlError ESTATE for an empty log, EINVAL for other dims or a log
        explored with uniform action noise."""
        expect(logged, Fusion, "logged")
        e = FusionEstimate_(version=1)
        with using(self, logged) as (h, l_):
            check(lib.rmtl_fusion_ope(byref(e), h, l_))
        return _estimate(e)

    def cem(self, env: SimEnv, iterations: int = 10, population: int = 16, elite: int = 4,
            sessions: int = 0, seed: int = 0, scorer=None) -> float:
        """The fixed-weight baseline: cross-entropy search of one action on
        the simulator's session reward; leaves it served (set_fixed) and
        returns the best candidate's mean reward of the last iteration."""
        expect(env, SimEnv, "env")
        o, cb = self._opts(sessions, seed, 0, scorer)
        opts = FusionCemOpts_(1, _arrays.integer(iterations, "iterations", 1),
                              _arrays.integer(population, "population", 1),
                              _arrays.integer(elite, "elite", 1), o)
        best = c_double()
        with using(self, env, mut=(self, env)) as (h, e):
            rc = lib.rmtl_fusion_cem(byref(best), h, e, byref(opts))
        (cb.check if cb else check)(rc)
        return best.value

    def _describe(self):
        i = self.info
        return "tasks=%d state_dim=%d action_dim=%d%s" % (
            i["tasks"], i["state_dim"], i["action_dim"], " fixed" if i["fixed"] else "")

