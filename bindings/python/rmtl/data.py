"""Datasets (rmtl_dataset), batches and metrics."""

import json
import os
from collections import namedtuple
from ctypes import byref, c_double, c_void_p
from typing import Dict, List, Mapping, Sequence, Tuple, Union

from . import _arrays
from ._arrays import matrix, vector
from ._lib import Batch_, Handle, check, create, decode, dataset_load, expect, lib, \
    load_options, path_arg, str_arg, using
from ._progress import ProgressCall

__all__ = ["Dataset", "DatasetStream", "Encoded", "Layout", "auc", "logloss", "session_logloss", "gauc"]

Layout = namedtuple("Layout", "n_cat n_num n_tasks vocab_sizes")
Layout.__doc__ = """The input layout of a dataset or model: categorical fields,
numerical features, tasks and each field's vocabulary size."""

Encoded = namedtuple("Encoded", "cat num")
Encoded.__doc__ = """Rows encoded by an Encoder: `cat` rows × n_cat int32 ids and `num`
rows × n_num standardised float32 values (numpy arrays, or flat
array.array without numpy). Model.predict(encoded) takes it as it is."""


def layout_of(ptr):
    """The Layout of a dataset pointer."""
    n_cat = lib.rmtl_dataset_n_cat(ptr)
    return Layout(n_cat, lib.rmtl_dataset_n_num(ptr), lib.rmtl_dataset_n_tasks(ptr),
                  tuple(lib.rmtl_dataset_vocab_size(ptr, f) for f in range(n_cat)))


def _schema_text(schema):
    """(path bytes, None) for a schema file, or (None, YAML bytes) for YAML
    text or a dict (JSON is YAML)."""
    if isinstance(schema, Mapping):
        return None, json.dumps(schema).encode()
    if isinstance(schema, str) and ("\n" in schema or ":" in schema) \
            and not os.path.exists(schema):
        return None, str_arg(schema, "schema")
    return path_arg(schema, "schema"), None


_U32_MAX = (1 << 32) - 1
_INT_MAX = (1 << 31) - 1


def _shard(part, parts):
    """(part, parts) checked: 0 of 0 or 0 of 1 is the whole file, else
    0 <= part < parts."""
    part = _arrays.integer(part, "part", 0, _U32_MAX)
    parts = _arrays.integer(parts, "parts", 0, _U32_MAX)
    if part >= max(parts, 1):
        raise ValueError("part is %d but parts is %d: part must be below parts (0 of 0 or "
                         "0 of 1 is the whole file)" % (part, parts))
    return part, parts


class Dataset(Handle):
    """Impressions in the layout models train on: categorical ids (int32,
    0 = unknown), standardised numerical features, 0/1 labels per task and
    session ids, with the schema, vocabularies and normalisation that made
    them. Build one with load(), from_pandas(), from_buffer() or
    from_arrays()."""

    _free = "rmtl_dataset_free"

    def __init__(self, *args, **kwargs):
        raise TypeError("make a Dataset with Dataset.load(), from_pandas(), from_buffer() "
                        "or from_arrays()")

    @classmethod
    def _wrap(cls, ptr, owner=None):
        obj = cls.__new__(cls)
        Handle.__init__(obj, ptr, owner)
        return obj

    @classmethod
    def load(cls, csv_path, schema=None, reference=None, progress=None, threads: int = 0,
             part: int = 0, parts: int = 0) -> "Dataset":
        """Loads a CSV file (plain or gzip). The training split takes a
        `schema` (a YAML file path, YAML text or a dict; it builds the
        vocabularies and normalisation); other splits take a `reference`
        (a Dataset, or a Model whose schema is used) and reuse them.
        `progress(p)` sees the bytes read; a truthy return cancels.
        `threads` parse a plain file in byte ranges (0: the usable CPUs;
        the result does not depend on it). `part` of `parts` (> 1) reads
        only the rows starting in that byte range of a plain file (one
        worker's shard; the parts hold each row exactly once): it needs a
        `reference`. Schema text or a dict takes neither progress nor
        threads."""
        from .model import Model
        path = path_arg(csv_path, "csv_path")
        ref = expect(reference, (Dataset, Model), "reference", allow_none=True)
        if isinstance(ref, Model):
            ref = ref.schema
        if (schema is None) == (ref is None):
            raise ValueError("give a schema (training split) or a reference (other splits), "
                             "not %s" % ("both" if ref is not None else "neither"))
        threads = _arrays.integer(threads, "threads", 0, _INT_MAX)
        part, parts = _shard(part, parts)
        if parts > 1 and ref is None:
            raise ValueError("parts > 1 needs a reference: a training split (schema) builds "
                             "its vocabularies from the whole file")
        pc = ProgressCall(progress)
        out = c_void_p()
        with using(ref) as (r,):
            if schema is None:
                pc.check(dataset_load(byref(out), path, None, r, pc.cfn, None, threads, part,
                                      parts))
            else:
                spath, text = _schema_text(schema)
                if spath is not None:
                    pc.check(dataset_load(byref(out), path, spath, None, pc.cfn, None, threads))
                else:
                    if progress is not None or threads:
                        raise ValueError("progress and threads need a schema file, not "
                                         "schema text")
                    check(lib.rmtl_dataset_load_schema_string(byref(out), path, text,
                                                              len(text), b"<python>", None))
        return cls._wrap(out.value)

    @classmethod
    def load_cache(cls, path, part: int = 0, parts: int = 0) -> "Dataset":
        """Loads a dataset cache file written by save(): memory-mapped,
        every CRC and value checked, so its rows, schema, vocabularies and
        normalisation are bit-identical to the saved dataset's. `part` of
        `parts` (> 1) holds rows [rows·part/parts, rows·(part+1)/parts)
        only, and only their blocks are read (one worker's shard). A
        damaged or truncated file is RmtlError EFORMAT, one from a newer
        librmtl EVERSION, an unreadable one EIO."""
        p = path_arg(path, "path")
        part, parts = _shard(part, parts)
        opts = load_options(part=part, parts=parts)
        return cls._wrap(create(lib.rmtl_dataset_load_cache, p, byref(opts)))

    def save(self, path) -> None:
        """Writes the dataset (rows, schema, vocabularies, normalisation,
        sessions) as a dataset cache file, replaced atomically: reloading
        it with load_cache() skips CSV parsing, and DatasetStream streams
        it. RmtlError EIO naming the path when it cannot be written."""
        p = path_arg(path, "path")
        with using(self) as (h,):
            check(lib.rmtl_dataset_save(h, p))

    @classmethod
    def from_buffer(cls, data: Union[bytes, str], schema=None, reference=None) -> "Dataset":
        """As load() from CSV text (str) or bytes in memory (plain or
        gzip), read by rmtl_dataset_load_buffer() with the same rules,
        numbers and errors as the file (no temporary file). `schema` (a
        YAML file path, YAML text or a dict) for a training split, or a
        `reference` (a Dataset, or a Model whose schema is used)."""
        from .model import Model
        if isinstance(data, str):
            data = data.encode("utf-8")
        elif isinstance(data, memoryview):
            data = data.tobytes()
        if not isinstance(data, (bytes, bytearray)):
            raise TypeError("data must be bytes or str, not %s" % type(data).__name__)
        if not data:
            raise ValueError("data is empty")
        data = bytes(data)
        ref = expect(reference, (Dataset, Model), "reference", allow_none=True)
        if isinstance(ref, Model):
            ref = ref.schema
        if (schema is None) == (ref is None):
            raise ValueError("give a schema (training split) or a reference (other splits), "
                             "not %s" % ("both" if ref is not None else "neither"))
        text = name = None
        if schema is not None:
            spath, text = _schema_text(schema)
            if spath is not None:
                try:
                    with open(spath, "rb") as f:
                        text = f.read()
                except OSError as e:
                    raise OSError(e.errno, "schema %s: %s" % (os.fsdecode(spath), e.strerror))
                if not text:
                    raise ValueError("schema %s is empty" % os.fsdecode(spath))
        out = c_void_p()
        with using(ref) as (r,):
            check(lib.rmtl_dataset_load_buffer(byref(out), data, len(data), name, text,
                                               len(text) if text else 0, r))
        return cls._wrap(out.value)

    @classmethod
    def from_pandas(cls, df, schema=None, reference=None) -> "Dataset":
        """A pandas DataFrame read exactly as its CSV would be: `schema`
        (file path, YAML text or dict, as in load(); docs/data.md) names
        each column's role for a training split; `reference` (a Dataset or
        Model) reuses its vocabularies for other splits. Categorical
        values are matched by their text, so a column keeps its ids across
        frames. Goes through the frame's CSV text in memory (from_buffer)."""
        if not (hasattr(df, "to_csv") and hasattr(df, "columns")):
            raise TypeError("df must be a pandas DataFrame, not %s" % type(df).__name__)
        if len(df.columns) == 0 or len(df) == 0:
            raise ValueError("df has no %s" % ("columns" if len(df.columns) == 0 else "rows"))
        for c in df.columns:
            if not isinstance(c, str):
                raise TypeError("df's column names must be str, not %s" % type(c).__name__)
        return cls.from_buffer(df.to_csv(index=False), schema=schema, reference=reference)

    @classmethod
    def from_arrays(cls, cat, vocab_sizes: Sequence[int], num=None, labels=None,
                    session=None) -> "Dataset":
        """Features a host already holds (copied by the library): `cat`
        rows × n_cat ids with field f's ids in [0, vocab_sizes[f]); `num`
        rows × n_num finite floats (used as given); `labels` rows × n_tasks
        values 0/1 or None; `session` rows int64 ids or None. 1-D arrays
        are read row-major."""
        vocab = vector(vocab_sizes, "Q", "vocab_sizes")
        n_cat = vocab.n
        for i, v in enumerate(_arrays.tolist(vocab.keep)):
            if v < 1:
                raise ValueError("vocab_sizes[%d] is %d: at least 1 (id 0 is the unknown id)"
                                 % (i, v))
        if n_cat:
            if cat is None:
                raise ValueError("cat is None but vocab_sizes has %d fields" % n_cat)
            c = matrix(cat, "i", "cat", cols=n_cat, what="len(vocab_sizes)")
            rows = c.rows
        else:
            if cat is not None and len(cat):
                raise ValueError("cat holds ids but vocab_sizes is empty")
            c, rows = None, None
        x = matrix(num, "f", "num", rows=rows) if num is not None else None
        if rows is None and x is not None:
            rows = x.rows
        y = matrix(labels, "f", "labels", rows=rows) if labels is not None else None
        if rows is None and y is not None:
            rows = y.rows
        if not rows:
            raise ValueError("no rows: give cat (or num) with at least one row")
        s = vector(session, "q", "session", n=rows) if session is not None else None
        out = c_void_p()
        check(lib.rmtl_dataset_from_arrays(
            byref(out), rows, n_cat, vocab.ptr, c.ptr if c else None,
            x.cols if x else 0, x.ptr if x else None, y.cols if y else 1,
            y.ptr if y else None, s.ptr if s else None))
        return cls._wrap(out.value)

    # --- shape ---------------------------------------------------------------
    @property
    def rows(self) -> int:
        """Number of impressions."""
        with using(self) as (h,):
            return lib.rmtl_dataset_rows(h)

    def __len__(self):
        return self.rows

    @property
    def n_cat(self) -> int:
        """Number of categorical fields."""
        with using(self) as (h,):
            return lib.rmtl_dataset_n_cat(h)

    @property
    def n_num(self) -> int:
        """Number of numerical features."""
        with using(self) as (h,):
            return lib.rmtl_dataset_n_num(h)

    @property
    def n_tasks(self) -> int:
        """Number of tasks (label columns)."""
        with using(self) as (h,):
            return lib.rmtl_dataset_n_tasks(h)

    @property
    def n_sessions(self) -> int:
        """Number of distinct sessions."""
        with using(self) as (h,):
            return lib.rmtl_dataset_n_sessions(h)

    @property
    def has_labels(self) -> bool:
        """False for prediction data loaded without label columns."""
        with using(self) as (h,):
            return bool(lib.rmtl_dataset_has_labels(h))

    @property
    def task_names(self) -> List[str]:
        """Task names in order."""
        with using(self) as (h,):
            return [decode(lib.rmtl_dataset_task_name(h, i))
                    for i in range(lib.rmtl_dataset_n_tasks(h))]

    @property
    def field_names(self) -> List[str]:
        """Categorical field names (CSV columns)."""
        with using(self) as (h,):
            return [decode(lib.rmtl_dataset_field_name(h, i))
                    for i in range(lib.rmtl_dataset_n_cat(h))]

    @property
    def num_names(self) -> List[str]:
        """Numerical feature names."""
        with using(self) as (h,):
            return [decode(lib.rmtl_dataset_num_name(h, i))
                    for i in range(lib.rmtl_dataset_n_num(h))]

    @property
    def vocab_sizes(self) -> List[int]:
        """Ids per categorical field (id 0 included)."""
        return list(self.layout.vocab_sizes)

    @property
    def layout(self) -> Layout:
        """(n_cat, n_num, n_tasks, vocab_sizes)."""
        with using(self) as (h,):
            return layout_of(h)

    def to_arrays(self) -> Dict[str, object]:
        """Copies of the rows: {'cat', 'num', 'labels', 'session'} (labels
        None without labels; session None unless the batch view has it)."""
        lay = self.layout
        with using(self) as (h,):
            b = Batch_(version=1)
            rows = lib.rmtl_dataset_rows(h)
            check(lib.rmtl_dataset_batch(byref(b), h, 0, rows))
            return {"cat": _arrays.copy_out(b.cat, "i", b.rows, lay.n_cat),
                    "num": _arrays.copy_out(b.num, "f", b.rows, lay.n_num),
                    "labels": (_arrays.copy_out(b.labels, "f", b.rows, lay.n_tasks)
                               if b.labels else None),
                    "session": _arrays.copy_out(b.session, "q", b.rows) if b.session else None}

    def shuffle(self, seed: int) -> None:
        """Shuffles the rows in place with a seed (sessions keep their rows)."""
        self._mutable("shuffle")
        seed = _arrays.integer(seed, "seed")
        with using(self, mut=self) as (h,):
            check(lib.rmtl_dataset_shuffle(h, seed))

    def _mutable(self, what):
        if self._owner is not None:
            raise ValueError("this Dataset is a read-only view (a model's schema): cannot %s"
                             % what)
        root = self._root()
        live = [r() for r in root._borrowers if r() is not None and not r().closed]
        if live:
            raise ValueError("cannot %s this Dataset while a %s borrows it"
                             % (what, type(live[0]).__name__))

    def split_sessions(self, train_frac: float, val_frac: float,
                       seed: int = 0) -> Tuple["Dataset", "Dataset", "Dataset"]:
        """(train, val, test) by whole sessions shuffled with `seed`."""
        tf, vf = _arrays.real(train_frac, "train_frac"), _arrays.real(val_frac, "val_frac")
        if tf < 0 or vf < 0 or tf + vf > 1:
            raise ValueError("need train_frac, val_frac >= 0 and train_frac + val_frac <= 1")
        seed = _arrays.integer(seed, "seed")
        a, b, c = c_void_p(), c_void_p(), c_void_p()
        with using(self) as (h,):
            check(lib.rmtl_dataset_split_sessions(byref(a), byref(b), byref(c), h, tf, vf, seed))
        return Dataset._wrap(a.value), Dataset._wrap(b.value), Dataset._wrap(c.value)

    def _describe(self):
        lay = self.layout
        return "rows=%d n_cat=%d n_num=%d tasks=%s" % (self.rows, lay.n_cat, lay.n_num,
                                                      self.task_names)


class DatasetStream(Handle):
    """An epoch over a dataset cache file (Dataset.save) larger than
    memory: the file is read block by block through a shuffle buffer of
    `buffer_rows` rows, and each chunk of up to `chunk_rows` rows is drawn
    uniformly from the buffer. Memory stays below about
    buffer_rows + chunk_rows + 65,536 rows, whatever the file's size.
    Epoch e is shuffled with `seed` + e, the same on every platform.

    Iterating yields the chunks up to the end of the current epoch, each a
    new Dataset that the caller owns (close it, or drop it); iterating
    again runs the next epoch::

        with rmtl.DatasetStream("train.rmtlds", buffer_rows=1 << 20,
                                chunk_rows=1 << 16, seed=1) as stream:
            model = rmtl.Model(cfg, stream.schema)
            for epoch in range(3):
                for chunk in stream:
                    with chunk:
                        model.train_epoch(chunk)

    A damaged block found while streaming is RmtlError EFORMAT. A stream
    is used by one call at a time (RuntimeError from another thread)."""

    _free = "rmtl_dataset_stream_free"

    def __init__(self, path, buffer_rows: int, chunk_rows: int, seed: int = 0):
        p = path_arg(path, "path")
        b = _arrays.integer(buffer_rows, "buffer_rows", 1)
        c = _arrays.integer(chunk_rows, "chunk_rows", 1)
        sd = _arrays.integer(seed, "seed", 0, (1 << 64) - 1)
        super().__init__(create(lib.rmtl_dataset_stream_open, p, b, c, sd))

    @classmethod
    def from_csv(cls, path, reference, buffer_rows: int, chunk_rows: int, seed: int = 0,
                 threads: int = 0) -> "DatasetStream":
        """An epoch over a CSV file larger than memory, with the schema and
        vocabularies of `reference` (a Dataset loaded from a CSV or a
        cache, another stream's schema, or a Model's; values it has not seen get id
        0, as in a validation split). Each epoch reads the file in parts of
        about `buffer_rows` rows (at least 1 MiB), each parsed on `threads`
        threads (0: the usable CPUs) and fed through the same shuffle
        buffer, so memory is the buffer, one chunk and one part. A file
        larger than one part must be a plain CSV without quoted fields.
        `rows` is 0 until an epoch has ended."""
        from .model import Model
        p = path_arg(path, "path")
        ref = expect(reference, (Dataset, Model), "reference")
        if isinstance(ref, Model):
            ref = ref.schema
        b = _arrays.integer(buffer_rows, "buffer_rows", 1)
        c = _arrays.integer(chunk_rows, "chunk_rows", 1)
        sd = _arrays.integer(seed, "seed", 0, (1 << 64) - 1)
        t = _arrays.integer(threads, "threads", 0, 1024)
        opts = load_options(threads=t)
        self = cls.__new__(cls)
        with using(ref) as (r,):
            Handle.__init__(self, create(lib.rmtl_dataset_stream_open_csv, p, r, byref(opts),
                                         b, c, sd))
        return self

    @property
    def rows(self) -> int:
        """Rows of the file: an epoch's rows (a CSV stream: 0 until an
        epoch has ended)."""
        with using(self) as (h,):
            return lib.rmtl_dataset_stream_rows(h)

    def __len__(self):
        return self.rows

    @property
    def schema(self) -> Dataset:
        """The file's schema as an empty, read-only Dataset borrowed from
        the stream: the training set to create a Model with, or the
        `reference` of Dataset.load()."""
        with using(self) as (h,):
            return Dataset._wrap(lib.rmtl_dataset_stream_schema(h), owner=self)

    def next_chunk(self):
        """The next chunk of the epoch (a Dataset the caller owns), or None
        when the epoch is over (the next call starts the next epoch)."""
        out = c_void_p()
        with using(self, mut=self) as (h,):
            check(lib.rmtl_dataset_stream_next(byref(out), h))
        return Dataset._wrap(out.value) if out.value else None

    def __iter__(self):
        while True:
            chunk = self.next_chunk()
            if chunk is None:
                return
            yield chunk

    def _describe(self):
        return "rows=%d" % self.rows


def make_batch(lay, data=None, cat=None, num=None, labels=None, weights=None,
               need_labels=False):
    """(Batch_, keep) for a Dataset or arrays of the layout `lay`. The
    dataset's layout must equal `lay` (the batch carries no widths); arrays
    must be rows × n_cat ids and rows × n_num floats."""
    if data is not None:
        expect(data, Dataset, "data")
        if cat is not None or num is not None:
            raise ValueError("give a Dataset or cat/num arrays, not both")
        dl = data.layout
        if (dl.n_cat, dl.n_num) != (lay.n_cat, lay.n_num) or (
                lay.vocab_sizes and tuple(dl.vocab_sizes) != tuple(lay.vocab_sizes)):
            raise ValueError("data's layout (%d categorical fields, %d numerical, vocabularies "
                             "%s) differs from the model's (%d, %d, %s)"
                             % (dl.n_cat, dl.n_num, list(dl.vocab_sizes), lay.n_cat, lay.n_num,
                                list(lay.vocab_sizes)))
        if need_labels and (dl.n_tasks != lay.n_tasks or not data.has_labels):
            raise ValueError("data needs labels of %d tasks" % lay.n_tasks)
        b = Batch_(version=1)
        h = data.handle
        check(lib.rmtl_dataset_batch(byref(b), h, 0, lib.rmtl_dataset_rows(h)))
        if weights is not None:
            w = matrix(weights, "f", "weights", cols=lay.n_tasks, rows=b.rows, what="tasks")
            b.weights = w.ptr
            return b, (data, w)
        return b, (data,)
    if cat is None and lay.n_cat:
        raise ValueError("cat is required (rows x %d ids)" % lay.n_cat)
    c = matrix(cat if cat is not None else [], "i", "cat", cols=lay.n_cat,
               what="the model's categorical fields")
    rows = c.rows if lay.n_cat else None
    if num is None and lay.n_num:
        raise ValueError("num is required (rows x %d values)" % lay.n_num)
    x = matrix(num if num is not None else [], "f", "num", cols=lay.n_num, rows=rows,
               what="the model's numerical features")
    if rows is None:
        rows = x.rows
    y = w = None
    if labels is not None:
        y = matrix(labels, "f", "labels", cols=lay.n_tasks, rows=rows, what="tasks")
    elif need_labels:
        raise ValueError("labels are required (rows x %d values 0/1)" % lay.n_tasks)
    if weights is not None:
        w = matrix(weights, "f", "weights", cols=lay.n_tasks, rows=rows, what="tasks")
    if not rows:
        raise ValueError("the batch has no rows")
    b = Batch_(1, rows, c.ptr, x.ptr, y.ptr if y else None, w.ptr if w else None, None)
    return b, (c, x, y, w)


# --- metrics ----------------------------------------------------------------

def _metric(fn, scores, labels, name, session=None):
    s = _arrays.matrix(scores, "f", "scores")
    y = _arrays.matrix(labels, "f", "labels", cols=s.cols, rows=s.rows,
                       what="as many as scores")
    if not s.rows:
        raise ValueError("scores is empty")
    sess = vector(session, "q", "session", n=s.rows) if session is not None else None
    res = []
    for k in range(s.cols):
        v = c_double()
        args = [byref(v), s.ptr + 4 * k, y.ptr + 4 * k, s.rows, s.cols]
        if sess is not None:
            args.append(sess.ptr)
        check(fn(*args))
        res.append(v.value)
    two_d = hasattr(s.keep, "ndim") and s.keep.ndim == 2 or isinstance(scores, (list, tuple)) \
        and scores and isinstance(scores[0], (list, tuple))
    return res if two_d else res[0]


def auc(scores, labels) -> Union[float, List[float]]:
    """Exact ROC AUC of scores against 0/1 labels (ties count one half):
    a float for 1-D inputs, a list per column for rows × tasks."""
    return _metric(lib.rmtl_auc, scores, labels, "auc")


def logloss(scores, labels) -> Union[float, List[float]]:
    """Mean binary cross-entropy (p clamped to [1e-7, 1 - 1e-7]); per
    column for rows × tasks."""
    return _metric(lib.rmtl_logloss, scores, labels, "logloss")


def session_logloss(scores, labels, session) -> Union[float, List[float]]:
    """Mean over sessions of each session's mean log-loss (`session`: one
    int64 id per row)."""
    return _metric(lib.rmtl_session_logloss, scores, labels, "session_logloss", session)


def gauc(user, score, label) -> float:
    """MTF-GAUC: the per-user AUC of `score` against 0/1 `label`, weighted
    by impressions, over users with both labels (NaN when none)."""
    s = vector(score, "f", "score")
    u = vector(user, "q", "user", n=s.n)
    y = vector(label, "f", "label", n=s.n)
    v = c_double()
    check(lib.rmtl_fusion_gauc(byref(v), u.ptr, s.ptr, y.ptr, s.n))
    return v.value
