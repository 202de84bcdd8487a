"""Multi-task models (rmtl_model) and per-thread contexts (rmtl_ctx)."""

from ctypes import byref, c_double, c_size_t
from typing import Dict, List, Optional

from . import _arrays
from ._lib import Checkpointed, Handle, check, create, decode, expect, lib, using
from ._progress import ProgressCall
from .config import as_config
from .data import Dataset, Encoded, Layout, layout_of, make_batch

__all__ = ["Ctx", "Model"]


class Ctx(Handle):
    """Per-thread scratch memory for prediction and batched fusion: one per
    serving thread. `threads` is its BLIS thread count (0: 1)."""

    _free = "rmtl_ctx_free"

    def __init__(self, threads: int = 0):
        t = _arrays.integer(threads, "threads", 0, _arrays.INT_MAX)
        super().__init__(create(lib.rmtl_ctx_create, t))


def ctx_arg(ctx):
    return expect(ctx, Ctx, "ctx", allow_none=True)


class Model(Checkpointed):
    """A multi-task model over a dataset's layout: `config` (a Config or a
    dict of parameters) chooses the architecture (model.arch) and training
    parameters, `train` gives the input layout and task names.

    Pickling goes through to_bytes() with the training state, so an
    unpickled model predicts bit-identically and resumes training exactly."""

    _free = "rmtl_model_free"
    _kind, _flags = "model", True

    def __init__(self, config, train: Dataset):
        cfg, made = as_config(config)
        expect(train, Dataset, "train")
        try:
            with using(cfg, train) as (c, t):
                ptr = create(lib.rmtl_model_create, c, t)
        finally:
            if made:
                cfg.close()
        super().__init__(ptr)
        self._init_extra()

    def _init_extra(self):
        self.history = None
        self.best_epoch = None
        self._layout = None

    @classmethod
    def _wrap(cls, ptr, owner=None):
        obj = cls.__new__(cls)
        Handle.__init__(obj, ptr, owner)
        obj._init_extra()
        return obj

    # --- checkpoints ---------------------------------------------------------
    def clone(self) -> "Model":
        """A deep copy (weights, optimiser state, RNG)."""
        with using(self) as (h,):
            return Model._wrap(create(lib.rmtl_model_clone, h))

    __copy__ = clone

    def __deepcopy__(self, memo):
        return self.clone()

    # --- shape ---------------------------------------------------------------
    @property
    def num_tasks(self) -> int:
        """Number of tasks T."""
        with using(self) as (h,):
            return lib.rmtl_model_num_tasks(h)

    @property
    def num_params(self) -> int:
        """Number of trainable weights."""
        with using(self) as (h,):
            return lib.rmtl_model_num_params(h)

    @property
    def task_names(self) -> List[str]:
        """Task names in order."""
        with using(self) as (h,):
            return [decode(lib.rmtl_model_task_name(h, i))
                    for i in range(lib.rmtl_model_num_tasks(h))]

    @property
    def schema(self) -> Dataset:
        """The input schema as an empty, read-only Dataset borrowed from
        the model: the `reference` for loading data to score."""
        with using(self) as (h,):
            return Dataset._wrap(lib.rmtl_model_schema(h), owner=self)

    @property
    def layout(self) -> Layout:
        """(n_cat, n_num, n_tasks, vocab_sizes) of the model's inputs."""
        with using(self) as (h,):
            if self._layout is None:  # fixed for the life of the model
                lay = layout_of(lib.rmtl_model_schema(h))
                self._layout = lay._replace(n_tasks=lib.rmtl_model_num_tasks(h))
            return self._layout

    def _mutable(self, what):
        if self._owner is not None:
            raise ValueError("this Model is borrowed read-only from an %s: clone() it to %s"
                             % (type(self._owner).__name__, what))

    # --- use -----------------------------------------------------------------
    def predict(self, data=None, num=None, ctx: Optional[Ctx] = None, cat=None):
        """Probabilities, rows × tasks (numpy float32, or a flat
        array.array without numpy), of a Dataset of the model's layout, of
        a pandas DataFrame with the schema's raw columns (read through
        Dataset.from_pandas with this model as the reference), of an
        Encoded (Encoder.encode()), or of arrays: ``predict(cat=ids,
        num=values)`` (rows × n_cat int ids, rows × n_num floats). Releases
        the GIL while it runs."""
        ctx = ctx_arg(ctx)
        if isinstance(data, Encoded):
            if cat is not None or num is not None:
                raise ValueError("give an Encoded or cat/num arrays, not both")
            data, cat, num = None, data.cat, data.num
        if hasattr(data, "to_csv") and hasattr(data, "columns"):
            with Dataset.from_pandas(data, reference=self) as ds:
                return self.predict(ds, ctx=ctx)
        lay = self.layout
        if isinstance(data, Dataset):
            b, keep = make_batch(lay, data=data, cat=cat, num=num)
        else:
            b, keep = make_batch(lay, cat=cat if cat is not None else data, num=num)
        T = lay.n_tasks
        ptr, out = _arrays.out("f", b.rows, T)
        with using(self, ctx, *[k for k in keep if isinstance(k, Handle)], mut=ctx) as ps:
            check(lib.rmtl_model_predict(ps[0], ps[1], byref(b), ptr, b.rows * T))
        return out

    def predict_raw(self, rows, columns=None, ctx: Optional[Ctx] = None):
        """Probabilities, rows × tasks, of raw feature values (the text CSV
        cells hold): ``Encoder(self, columns).predict(self, rows, ctx)``.
        `rows` is a list of rows of str, a 2-D numpy array of str or a
        DataFrame (see Encoder.encode()); `columns` names a row's values
        (None: the schema's feature columns in CSV order). Bit for bit
        what predicting the same rows loaded from a CSV gives. A serving
        loop keeps one Encoder instead of building one per call."""
        from .encoder import predict_raw
        return predict_raw(self, rows, columns, ctx)

    def evaluate(self, data: Dataset, ctx: Optional[Ctx] = None) -> Dict[str, List[float]]:
        """{'auc', 'logloss', 'session_logloss'}: one value per task on a
        labelled Dataset of the model's layout."""
        expect(data, Dataset, "data")
        ctx = ctx_arg(ctx)
        T = self.num_tasks
        auc, ll, sll = (c_double * T)(), (c_double * T)(), (c_double * T)()
        with using(self, ctx, data, mut=ctx) as (h, c, d):
            check(lib.rmtl_model_evaluate(h, c, d, auc, ll, sll, T))
        return {"auc": list(auc), "logloss": list(ll), "session_logloss": list(sll)}

    def train_epoch(self, train: Dataset, progress=None) -> float:
        """One (shuffled) pass over `train`; returns the mean loss.
        `progress(p)` sees rows done; a truthy return cancels (RmtlError
        ESTATE)."""
        self._mutable("train it")
        expect(train, Dataset, "train")
        pc = ProgressCall(progress)
        loss = c_double()
        with using(self, train, mut=self) as (h, t):
            pc.check(lib.rmtl_model_train_epoch(byref(loss), h, t, pc.cfn, None))
        return loss.value

    def train_step(self, cat, num, labels, weights=None) -> float:
        """One Adam step on arrays (rows × fields, labels rows × tasks,
        optional loss weights rows × tasks); returns the loss before it."""
        self._mutable("train it")
        b, keep = make_batch(self.layout, cat=cat, num=num, labels=labels, weights=weights,
                             need_labels=True)
        loss = c_double()
        with using(self, mut=self) as (h,):
            check(lib.rmtl_model_train_step(h, byref(b), byref(loss)))
        return loss.value

    def set_lr(self, lr: float) -> None:
        """Sets the Adam learning rate of the next steps (fine-tuning)."""
        self._mutable("change it")
        lr = _arrays.real(lr, "lr")
        with using(self, mut=self) as (h,):
            check(lib.rmtl_model_set_lr(h, lr))

    def fold_embeddings(self, max_bytes: int = 1 << 30) -> int:
        """Builds the serving cache within `max_bytes` (0 frees it) and
        returns the bytes it takes. Predictions agree with the exact path
        to float rounding; a training step makes the exact path run again."""
        self._mutable("fold it")
        mb = _arrays.integer(max_bytes, "max_bytes")
        used = c_size_t()
        with using(self, mut=self) as (h,):
            check(lib.rmtl_model_fold_embeddings(h, mb, byref(used)))
        return used.value

    def _describe(self):
        return "tasks=%s params=%d" % (self.task_names, self.num_params)

