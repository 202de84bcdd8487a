"""The RMTL pipeline: session MDP (rmtl_env), replay buffer, critics, actor
and agent."""

from ctypes import byref, c_double, c_void_p
from typing import Dict, List, Optional, Sequence

from . import _arrays
from ._arrays import matrix, vector
from ._lib import AgentReport_, Checkpointed, EnvState_, EnvStep_, Handle, Transitions_, \
    bytes_arg, check, create, expect, lib, path_arg, using
from ._progress import ProgressCall
from .config import as_config
from .data import Dataset, Layout, make_batch
from .model import Ctx, Model, ctx_arg

__all__ = ["Env", "Replay", "Critic", "Actor", "Agent", "loss_weights"]

ENV_EVAL = 1


def _cfg_call(config, fn):
    cfg, made = as_config(config)
    try:
        return fn(cfg)
    finally:
        if made:
            cfg.close()


class Env(Handle):
    """The session MDP of RMTL over a labelled Dataset with sessions. The
    dataset is borrowed: it cannot be closed or shuffled while the env is
    open. `eval_order`: resets play sessions 0, 1, 2, ... in order."""

    _free = "rmtl_env_free"

    def __init__(self, config, dataset: Dataset, eval_order: bool = False):
        expect(dataset, Dataset, "dataset")
        if dataset._owner is not None:
            raise ValueError("dataset is a model's schema view (no rows)")

        def make(cfg):
            with using(cfg, dataset) as (c, d):
                return create(lib.rmtl_env_create, c, d, ENV_EVAL if eval_order else 0)
        super().__init__(_cfg_call(config, make))
        self._dataset = dataset
        self._layout = dataset.layout
        dataset._lend(self)

    @property
    def layout(self) -> Layout:
        """The dataset's (n_cat, n_num, n_tasks, vocab_sizes)."""
        return self._layout

    def _state(self, s):
        lay = self._layout
        return {"session": s.session, "step": s.step, "row": s.row,
                "cat": _arrays.copy_out(s.cat, "i", lay.n_cat),
                "num": _arrays.copy_out(s.num, "f", lay.n_num)}

    def reset(self) -> Dict[str, object]:
        """Starts an episode; returns its first state {'session', 'step',
        'row', 'cat', 'num'}."""
        s = EnvState_(version=1)
        with using(self, mut=self) as (h,):
            check(lib.rmtl_env_reset(byref(s), h))
            return self._state(s)

    def current(self) -> Dict[str, object]:
        """The current state again."""
        s = EnvState_(version=1)
        with using(self, mut=self) as (h,):
            check(lib.rmtl_env_current(byref(s), h))
            return self._state(s)

    def step(self, action) -> Dict[str, object]:
        """Takes `action` (n_tasks values in [0, 1]); returns {'reward',
        'labels', 'done', 'next_step', 'next_row', 'next_cat', 'next_num'}."""
        lay = self._layout
        a = vector(action, "f", "action", n=lay.n_tasks, what="the env's tasks")
        r = EnvStep_(version=1)
        with using(self, mut=self) as (h,):
            check(lib.rmtl_env_step(byref(r), h, a.ptr, a.n))
            return {"reward": _arrays.copy_out(r.reward, "f", lay.n_tasks),
                    "labels": _arrays.copy_out(r.labels, "f", lay.n_tasks),
                    "done": bool(r.done), "next_step": r.next_step, "next_row": r.next_row,
                    "next_cat": _arrays.copy_out(r.next_cat, "i", lay.n_cat),
                    "next_num": _arrays.copy_out(r.next_num, "f", lay.n_num)}

    def _describe(self):
        return "sessions=%d" % self._dataset.n_sessions


_TRANSITION_FIELDS = ("cat", "num", "action", "next_cat", "next_num", "reward", "done",
                      "labels")


def transitions(lay, batch):
    """(Transitions_, keep) from a dict (or an object with those
    attributes) of rows × n_cat `cat`/`next_cat`, rows × n_num
    `num`/`next_num`, rows × T `action`/`reward`/`labels` and rows `done`."""
    get = batch.get if isinstance(batch, dict) else (lambda k: getattr(batch, k, None))
    missing = [k for k in _TRANSITION_FIELDS if get(k) is None and not (
        k in ("num", "next_num") and lay.n_num == 0)]
    if missing:
        raise ValueError("batch lacks %s" % ", ".join(missing))
    c = matrix(get("cat") if lay.n_cat else [], "i", "batch['cat']", cols=lay.n_cat)
    x = matrix(get("num") if lay.n_num else [], "f", "batch['num']", cols=lay.n_num,
               rows=c.rows if lay.n_cat else None)
    rows = c.rows if lay.n_cat else x.rows
    keep = [c, x]
    out = {}
    for k, kind, cols in (("next_cat", "i", lay.n_cat), ("next_num", "f", lay.n_num),
                          ("action", "f", lay.n_tasks), ("reward", "f", lay.n_tasks),
                          ("labels", "f", lay.n_tasks)):
        a = matrix(get(k) if cols else [], kind, "batch['%s']" % k, cols=cols,
                   rows=rows if cols else None)
        keep.append(a)
        out[k] = a.ptr
    d = vector(get("done"), "B", "batch['done']", n=rows)
    keep.append(d)
    if not rows:
        raise ValueError("batch has no rows")
    t = Transitions_(1, rows, c.ptr, x.ptr, out["action"], out["next_cat"], out["next_num"],
                     out["reward"], d.ptr, out["labels"])
    return t, keep


def _copy_transitions(lay, t):
    n = t.rows
    return {"cat": _arrays.copy_out(t.cat, "i", n, lay.n_cat),
            "num": _arrays.copy_out(t.num, "f", n, lay.n_num),
            "action": _arrays.copy_out(t.action, "f", n, lay.n_tasks),
            "next_cat": _arrays.copy_out(t.next_cat, "i", n, lay.n_cat),
            "next_num": _arrays.copy_out(t.next_num, "f", n, lay.n_num),
            "reward": _arrays.copy_out(t.reward, "f", n, lay.n_tasks),
            "done": _arrays.copy_out(t.done, "B", n),
            "labels": _arrays.copy_out(t.labels, "f", n, lay.n_tasks)}


class Replay(Handle):
    """A ring buffer of `capacity` MDP transitions with states of n_cat ids
    and n_num floats and n_tasks tasks; `seed` seeds sampling and filling."""

    _free = "rmtl_replay_free"

    def __init__(self, capacity: int, n_cat: int, n_num: int, n_tasks: int, seed: int = 0):
        cap = _arrays.integer(capacity, "capacity", 1, 2 ** 31)
        nc = _arrays.integer(n_cat, "n_cat")
        nn = _arrays.integer(n_num, "n_num")
        nt = _arrays.integer(n_tasks, "n_tasks", 1)
        super().__init__(create(lib.rmtl_replay_create, cap, nc, nn, nt,
                                _arrays.integer(seed, "seed")))
        self._layout = Layout(nc, nn, nt, ())

    @classmethod
    def for_env(cls, env: Env, capacity: int, seed: int = 0) -> "Replay":
        """A buffer shaped like `env`'s states and tasks."""
        expect(env, Env, "env")
        lay = env.layout
        return cls(capacity, lay.n_cat, lay.n_num, lay.n_tasks, seed)

    def __len__(self):
        with using(self) as (h,):
            return lib.rmtl_replay_size(h)

    @property
    def capacity(self) -> int:
        """Transitions it can hold."""
        with using(self) as (h,):
            return lib.rmtl_replay_capacity(h)

    def store(self, batch) -> None:
        """Appends transitions (a dict of arrays, as sample() returns)."""
        t, keep = transitions(self._layout, batch)
        with using(self, mut=self) as (h,):
            check(lib.rmtl_replay_store(h, byref(t)))

    def sample(self, batch: int) -> Dict[str, object]:
        """`batch` distinct transitions drawn uniformly (copies)."""
        n = _arrays.integer(batch, "batch", 1)
        t = Transitions_(version=1)
        with using(self, mut=self) as (h,):
            check(lib.rmtl_replay_sample(byref(t), h, n))
            return _copy_transitions(self._layout, t)

    def get(self, index: int) -> Dict[str, object]:
        """The index-th oldest transition held (a copy, rows = 1)."""
        i = _arrays.integer(index, "index")
        t = Transitions_(version=1)
        with using(self) as (h,):
            check(lib.rmtl_replay_get(byref(t), h, i))
            return _copy_transitions(self._layout, t)

    def fill_random(self, env: Env, n: int) -> None:
        """Walks `env` with uniform random actions and stores `n` transitions."""
        expect(env, Env, "env")
        n = _arrays.integer(n, "n")
        with using(self, env, mut=(self, env)) as (h, e):
            check(lib.rmtl_replay_fill_random(h, e, n))

    def fill_actor(self, env: Env, actor: "Actor", n: int) -> None:
        """Walks `env` with the actor plus exploration noise; stores `n`."""
        expect(env, Env, "env")
        expect(actor, Actor, "actor")
        actor._check_mutable()
        n = _arrays.integer(n, "n")
        with using(self, env, actor, mut=(self, env, actor)) as (h, e, a):
            check(lib.rmtl_replay_fill_actor(h, e, a, n))

    def _describe(self):
        return "%d/%d" % (len(self), self.capacity)


class Critic(Checkpointed):
    """One task's critic Q_k(s, a_k) and its target, for states laid out
    like `model`'s inputs."""

    _free = "rmtl_critic_free"
    _kind = "critic"

    def __init__(self, config, model: Model, task: int):
        expect(model, Model, "model")
        lay = model.layout
        task = _arrays.integer(task, "task", 0, max(lay.n_tasks - 1, 0))

        def make(cfg):
            with using(cfg, model) as (c, m):
                return create(lib.rmtl_critic_create, c, m, task)
        super().__init__(_cfg_call(config, make))
        self._layout = lay

    @classmethod
    def _wrap(cls, ptr, lay, owner=None):
        obj = cls.__new__(cls)
        Handle.__init__(obj, ptr, owner)
        obj._layout = lay
        return obj

    @classmethod
    def load(cls, path, like: Optional[Model] = None) -> "Critic":
        """Loads a critic checkpoint. `like`: a model of its input layout,
        needed by q() and update() (a checkpoint does not expose it)."""
        lay = expect(like, Model, "like", allow_none=True)
        return cls._wrap(create(lib.rmtl_critic_load, path_arg(path, "path")),
                         lay.layout if lay else None)

    @classmethod
    def from_bytes(cls, data: bytes, like: Optional[Model] = None) -> "Critic":
        """As load() from bytes (to_bytes())."""
        lay = expect(like, Model, "like", allow_none=True)
        buf = bytes_arg(data)
        return cls._wrap(create(lib.rmtl_critic_load_buffer, buf, len(buf)),
                         lay.layout if lay else None)

    def __reduce__(self):
        return (_critic_from_bytes, (self.to_bytes(), self._layout))

    @property
    def task(self) -> int:
        """The task this critic scores."""
        with using(self) as (h,):
            return lib.rmtl_critic_task(h)

    @property
    def updates(self) -> int:
        """Critic updates done."""
        with using(self) as (h,):
            return lib.rmtl_critic_updates(h)

    def _lay(self):
        if self._layout is None:
            raise ValueError("this Critic was loaded without like=model: its input layout "
                             "is unknown")
        return self._layout

    def q(self, states, action, ctx: Optional[Ctx] = None):
        """Q(s_i, a_i) of every row of `states` (a Dataset, or a dict with
        'cat' and 'num' arrays) with `action` (one value per row)."""
        ctx = ctx_arg(ctx)
        b, keep = _states_batch(self._lay(), states)
        a = vector(action, "f", "action", n=b.rows, what="one per row")
        ptr, out = _arrays.out("f", b.rows)
        with using(self, ctx, *[k for k in keep if isinstance(k, Handle)], mut=ctx) as ps:
            check(lib.rmtl_critic_q(ps[0], ps[1], byref(b), a.ptr, 1, ptr, b.rows))
        return out

    def update(self, actor: "Actor", batch) -> float:
        """One TD step on transitions (dict of arrays); returns the loss."""
        self._check_mutable()
        expect(actor, Actor, "actor")
        t, keep = transitions(actor.layout, batch)
        loss = c_double()
        with using(self, actor, mut=self) as (h, a):
            check(lib.rmtl_critic_update(h, a, byref(t), byref(loss)))
        return loss.value

    def soft_update(self) -> None:
        """Moves the target towards the critic by rl.tau."""
        self._check_mutable()
        with using(self, mut=self) as (h,):
            check(lib.rmtl_critic_soft_update(h))

    def _check_mutable(self):
        self.handle  # noqa: B018 - raises when closed

    def _describe(self):
        return "task=%d updates=%d" % (self.task, self.updates)


def _critic_from_bytes(data, lay):
    c = Critic.from_bytes(data)
    c._layout = lay
    return c


def _states_batch(lay, states):
    if isinstance(states, Dataset):
        return make_batch(lay, data=states)
    if isinstance(states, dict):
        return make_batch(lay, cat=states.get("cat"), num=states.get("num"))
    raise TypeError("states must be an rmtl.Dataset or a dict with 'cat' and 'num', not %s"
                    % type(states).__name__)


class Actor(Checkpointed):
    """An MTL model under RL training (policy, target, frozen anchor and
    Adam), made from a pre-trained model (copied)."""

    _free = "rmtl_actor_free"
    _kind = "actor"

    def __init__(self, config, pretrained: Model):
        expect(pretrained, Model, "pretrained")

        def make(cfg):
            with using(cfg, pretrained) as (c, m):
                return create(lib.rmtl_actor_create, c, m)
        super().__init__(_cfg_call(config, make))

    @classmethod
    def _wrap(cls, ptr, owner=None):
        obj = cls.__new__(cls)
        Handle.__init__(obj, ptr, owner)
        return obj

    @property
    def model(self) -> Model:
        """The policy being trained, read-only and borrowed from the actor
        (clone() it for a snapshot)."""
        with using(self) as (h,):
            return Model._wrap(lib.rmtl_actor_model(h), owner=self)

    @property
    def layout(self) -> Layout:
        """The policy's input layout and tasks."""
        return self.model.layout

    @property
    def updates(self) -> int:
        """Actor updates done."""
        with using(self) as (h,):
            return lib.rmtl_actor_updates(h)

    def act(self, states, explore: bool = False):
        """The policy's actions π(s), rows × T, for a Dataset or a dict of
        'cat'/'num' arrays; `explore` adds clipped Gaussian noise."""
        lay = self.layout
        b, keep = _states_batch(lay, states)
        ptr, out = _arrays.out("f", b.rows, lay.n_tasks)
        with using(self, *[k for k in keep if isinstance(k, Handle)], mut=self) as ps:
            check(lib.rmtl_actor_act(ps[0], byref(b), 1 if explore else 0, ptr,
                                     b.rows * lay.n_tasks))
        return out

    def update(self, critics: Sequence[Critic], batch) -> float:
        """One actor step against `critics` (one per task) on the states of
        `batch`; returns the loss."""
        arr, crit = _critic_array(critics)
        t, keep = transitions(self.layout, batch)
        loss = c_double()
        with using(self, *crit, mut=(self, *crit)) as ps:
            check(lib.rmtl_actor_update(ps[0], arr, len(crit), byref(t), byref(loss)))
        return loss.value

    def soft_update(self) -> None:
        """Moves the target towards the policy by rl.tau."""
        with using(self, mut=self) as (h,):
            check(lib.rmtl_actor_soft_update(h))

    def _check_mutable(self):
        self.handle  # noqa: B018

    def _describe(self):
        return "updates=%d" % self.updates


def _critic_array(critics):
    if isinstance(critics, Critic) or not isinstance(critics, (list, tuple)):
        raise TypeError("critics must be a list of rmtl.Critic")
    for i, c in enumerate(critics):
        expect(c, Critic, "critics[%d]" % i)
    if not critics:
        raise ValueError("critics is empty")
    arr = (c_void_p * len(critics))(*[c.handle for c in critics])
    return arr, list(critics)


def loss_weights(critics: Sequence[Critic], model: Model, data=None, lam: float = 0.5,
                 ctx: Optional[Ctx] = None, cat=None, num=None):
    """RMTL loss weights 1 - lam·Q_k(s_i, ŷ_ik), rows × T, of `model`'s
    predictions on a Dataset or cat/num arrays, with one critic per task."""
    expect(model, Model, "model")
    ctx = ctx_arg(ctx)
    lam = _arrays.real(lam, "lam")
    if lam < 0:
        raise ValueError("lam must be >= 0")
    arr, crit = _critic_array(critics)
    lay = model.layout
    b, keep = make_batch(lay, data=data, cat=cat, num=num)
    ptr, out = _arrays.out("f", b.rows, lay.n_tasks)
    with using(model, ctx, *crit, *[k for k in keep if isinstance(k, Handle)], mut=ctx) as ps:
        check(lib.rmtl_critic_loss_weights(arr, len(crit), ps[0], ps[1], byref(b), lam, ptr,
                                           b.rows * lay.n_tasks))
    return out


def _report(r):
    return {"step": r.step, "critic_loss": [r.critic_loss[k] for k in range(r.n_tasks)]
            if r.critic_loss else [], "actor_updated": bool(r.actor_updated),
            "actor_loss": r.actor_loss, "targets_updated": bool(r.targets_updated)}


class Agent(Checkpointed):
    """RMTL's actor and one critic per task, running the update schedule
    of docs/rmtl.md; made from a pre-trained model (copied)."""

    _free = "rmtl_agent_free"
    _kind = "agent"

    def __init__(self, config, pretrained: Model):
        expect(pretrained, Model, "pretrained")

        def make(cfg):
            with using(cfg, pretrained) as (c, m):
                return create(lib.rmtl_agent_create, c, m)
        super().__init__(_cfg_call(config, make))

    @classmethod
    def _wrap(cls, ptr):
        obj = cls.__new__(cls)
        Handle.__init__(obj, ptr)
        return obj

    @property
    def actor(self) -> Actor:
        """The agent's actor, borrowed (valid while the agent is open)."""
        with using(self) as (h,):
            return Actor._wrap(lib.rmtl_agent_actor(h), owner=self)

    def critic(self, task: int) -> Critic:
        """The agent's critic of `task`, borrowed."""
        lay = self.actor.layout
        task = _arrays.integer(task, "task", 0, lay.n_tasks - 1)
        with using(self) as (h,):
            return Critic._wrap(lib.rmtl_agent_critic(h, task), lay, owner=self)

    @property
    def critics(self) -> List[Critic]:
        """Every task's critic, borrowed."""
        return [self.critic(k) for k in range(self.actor.layout.n_tasks)]

    @property
    def steps(self) -> int:
        """Agent updates done."""
        with using(self) as (h,):
            return lib.rmtl_agent_steps(h)

    def update(self, batch) -> Dict[str, object]:
        """One step of the schedule on transitions (a dict of arrays, as
        Replay.sample() returns); returns its report."""
        t, keep = transitions(self.actor.layout, batch)
        r = AgentReport_(version=1)
        with using(self, mut=self) as (h,):
            check(lib.rmtl_agent_update(h, byref(t), byref(r)))
            return _report(r)

    def train(self, replay: Replay, steps: int, progress=None) -> List[float]:
        """`steps` updates on batches sampled from `replay`; returns the
        last update's per-task critic losses ([] for 0 steps)."""
        expect(replay, Replay, "replay")
        steps = _arrays.integer(steps, "steps")
        pc = ProgressCall(progress)
        r = AgentReport_(version=1)
        with using(self, replay, mut=(self, replay)) as (h, rb):
            pc.check(lib.rmtl_agent_train(byref(r), h, rb, steps, pc.cfn, None))
            return _report(r)["critic_loss"] if steps else []

    def loss_weights(self, model: Model, data=None, ctx: Optional[Ctx] = None, cat=None,
                     num=None):
        """RMTL loss weights (lambda = rl.lambda), rows × T, for fine-tuning
        `model` on a Dataset or cat/num arrays (pass them as
        Model.train_step(weights=...))."""
        expect(model, Model, "model")
        ctx = ctx_arg(ctx)
        lay = model.layout
        b, keep = make_batch(lay, data=data, cat=cat, num=num)
        ptr, out = _arrays.out("f", b.rows, lay.n_tasks)
        with using(self, model, ctx, *[k for k in keep if isinstance(k, Handle)], mut=ctx) as ps:
            check(lib.rmtl_agent_loss_weights(ps[0], ps[1], ps[2], byref(b), ptr,
                                              b.rows * lay.n_tasks))
        return out

    def _describe(self):
        return "steps=%d" % self.steps
