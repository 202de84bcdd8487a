"""Raw feature text -> a model's input (rmtl_encoder)."""

from ctypes import byref, c_char_p
from typing import List, Optional, Sequence

from . import _arrays
from ._lib import Batch_, Handle, check, create, decode, expect, lib, str_arg, using
from .data import Dataset, Encoded, layout_of
from .model import Ctx, Model, ctx_arg

__all__ = ["Encoder", "Encoded"]

class Encoder(Handle):
    """Turns raw feature values — the text a CSV cell holds — into a
    model's input with the schema, vocabularies and normalisation the model
    was trained with (rmtl_encoder): a categorical value becomes its id (0
    when unseen, rare or missing), a numerical value (raw - mean) / std.
    Values are read exactly as the CSV loader reads a cell, so encoding
    rows and predicting gives, bit for bit, what loading them from a CSV
    and predicting gives.

    `source` is a Model (its schema) or a Dataset loaded from CSV.
    `columns` names the values of a row in the order they are given
    (str; None for a value to skip); every categorical and numerical
    feature of the schema must be named once, and names of its other
    columns (labels, session) are skipped. None: the schema's feature
    columns in CSV order (`encoder.columns`). The encoder holds its own
    reference to the schema, so `source` may be closed first. Read-only
    once built: threads may encode with one encoder at once, each with its
    own Ctx."""

    _free = "rmtl_encoder_free"

    def __init__(self, source, columns: Optional[Sequence[Optional[str]]] = None):
        expect(source, (Model, Dataset), "source")
        names = None
        if columns is not None:
            if isinstance(columns, (str, bytes)) or not isinstance(columns, Sequence):
                raise TypeError("columns must be a sequence of str (or None entries), not %s"
                                % type(columns).__name__)
            if not len(columns):
                raise ValueError("columns is empty: give None for the schema's feature columns")
            enc = []
            for i, c in enumerate(columns):
                enc.append(None if c is None else str_arg(c, "columns[%d]" % i))
            names = (c_char_p * len(enc))(*enc)
        schema = source.schema if isinstance(source, Model) else source
        with using(schema) as (s,):
            ptr = create(lib.rmtl_encoder_create, s, names, len(columns) if names else 0)
            lay = layout_of(s)
        super().__init__(ptr)
        self._layout = lay
        n = lib.rmtl_encoder_n_columns(ptr)
        self._columns = [decode(lib.rmtl_encoder_column_name(ptr, i)) for i in range(n)]

    @property
    def n_columns(self) -> int:
        """Values per row the encoder reads."""
        with using(self) as (h,):
            return lib.rmtl_encoder_n_columns(h)

    @property
    def columns(self) -> List[Optional[str]]:
        """The name of each value of a row, in order (None: skipped)."""
        if self.closed:
            raise ValueError("this Encoder is closed")
        return list(self._columns)

    @property
    def layout(self):
        """(n_cat, n_num, n_tasks, vocab_sizes) of the schema it encodes for."""
        if self.closed:
            raise ValueError("this Encoder is closed")
        return self._layout

    # --- input -> C strings ----------------------------------------------------
    def _cells(self, rows):
        """(c_char_p array row-major, rows): every value checked to be a str
        without NUL, each row of n_columns values."""
        n = len(self._columns)
        if hasattr(rows, "to_csv") and hasattr(rows, "columns"):
            return self._frame_cells(rows, n)
        np = _arrays.np
        if np is not None and isinstance(rows, np.ndarray):
            if rows.ndim != 2:
                raise ValueError("rows must be 2-D (rows x %d values), not %d-D"
                                 % (n, rows.ndim))
            if rows.dtype.kind not in "UO":
                raise TypeError("rows must hold str (numpy dtype str or object), not dtype %s"
                                % rows.dtype)
            rows = rows.tolist()
        if isinstance(rows, (str, bytes)) or not isinstance(rows, Sequence):
            raise TypeError("rows must be a list of rows of str, a 2-D numpy array of str or "
                            "a pandas DataFrame, not %s" % type(rows).__name__)
        if not len(rows):
            raise ValueError("rows is empty")
        cells = (c_char_p * (len(rows) * n))()
        k = 0
        for r, row in enumerate(rows):
            if isinstance(row, (str, bytes)) or not isinstance(row, Sequence):
                raise TypeError("rows[%d] must be a list of str, not %s"
                                % (r, type(row).__name__))
            if len(row) != n:
                raise ValueError("rows[%d] has %d values; the encoder reads %d (%s)"
                                 % (r, len(row), n, ", ".join(str(c) for c in self._columns)))
            for j, v in enumerate(row):
                cells[k] = _cell(v, r, j, self._columns[j])
                k += 1
        return cells, len(rows)

    def _frame_cells(self, df, n):
        missing = [c for c in self._columns if c is not None and c not in df.columns]
        if missing:
            raise ValueError("rows (a DataFrame) lacks the columns %s" % missing)
        if len(df) == 0:
            raise ValueError("rows is empty")
        cols = [None if c is None else df[c].tolist() for c in self._columns]
        rows = len(df)
        cells = (c_char_p * (rows * n))()
        for j, col in enumerate(cols):
            if col is None:
                for r in range(rows):
                    cells[r * n + j] = b""
                continue
            for r, v in enumerate(col):
                cells[r * n + j] = _cell(v, r, j, self._columns[j])
        return cells, rows

    def encode(self, rows, ctx: Optional[Ctx] = None) -> Encoded:
        """Encodes `rows` — a list of rows of str, a 2-D numpy array of str
        (or object holding str) or a pandas DataFrame (its columns picked
        by name; read CSVs with ``dtype=str, keep_default_na=False``) — and
        returns Encoded(cat, num), copies that Model.predict() takes.
        Values must be str (TypeError otherwise; None and NaN are
        ValueError: give the schema's missing text, e.g. ""). A numerical
        value that is not a finite decimal number raises RmtlError
        (EFORMAT) naming its row and column."""
        ctx = ctx_arg(ctx)
        own = ctx is None
        if own:
            ctx = Ctx(1)
        try:
            lay = self._layout
            with using(ctx, mut=ctx):  # the batch lives in ctx until copied out
                b = self._encode_held(rows, ctx)
                return Encoded(_arrays.copy_out(b.cat, "i", b.rows, lay.n_cat),
                               _arrays.copy_out(b.num, "f", b.rows, lay.n_num))
        finally:
            if own:
                ctx.close()

    def predict(self, model: Model, rows, ctx: Optional[Ctx] = None):
        """model.predict() of encoded `rows` (as encode() takes them) without
        copying the encoding out: rows × tasks probabilities. `model` must
        have the layout of the schema the encoder was made from."""
        expect(model, Model, "model")
        ctx = ctx_arg(ctx)
        lay, ml = self.layout, model.layout
        if (lay.n_cat, lay.n_num, tuple(lay.vocab_sizes)) != \
                (ml.n_cat, ml.n_num, tuple(ml.vocab_sizes)):
            raise ValueError("model's layout (%d categorical fields, %d numerical, vocabularies "
                             "%s) differs from the encoder's (%d, %d, %s)"
                             % (ml.n_cat, ml.n_num, list(ml.vocab_sizes), lay.n_cat, lay.n_num,
                                list(lay.vocab_sizes)))
        own = ctx is None
        if own:
            ctx = Ctx(1)
        try:
            T = ml.n_tasks
            with using(ctx, mut=ctx):  # one call at a time on ctx: the batch lives in it
                b = self._encode_held(rows, ctx)
                ptr, out = _arrays.out("f", b.rows, T)
                with using(model) as (h,):
                    check(lib.rmtl_model_predict(h, ctx.handle, byref(b), ptr, b.rows * T))
            return out
        finally:
            if own:
                ctx.close()

    def _encode_held(self, rows, ctx):
        """_encode() for a caller that already holds `ctx` exclusively."""
        cells, n_rows = self._cells(rows)
        b = Batch_(version=1)
        with using(self) as (h,):
            check(lib.rmtl_encode_rows(byref(b), h, ctx.handle, cells, n_rows,
                                       len(self._columns)))
        return b

    def _describe(self):
        return "columns=%s" % self._columns


def _cell(v, r, j, name):
    if isinstance(v, str):
        b = v.encode("utf-8")
        if b"\0" in b:
            raise ValueError("rows[%d][%d] (column %s) contains a NUL character" % (r, j, name))
        return b
    if v is None or (isinstance(v, float) and v != v):
        raise ValueError("rows[%d][%d] (column %s) is missing (%r): give the schema's missing "
                         "text (e.g. \"\")" % (r, j, name, v))
    raise TypeError("rows[%d][%d] (column %s) must be a str (the text a CSV cell holds), "
                    "not %s" % (r, j, name, type(v).__name__))


def predict_raw(model: Model, rows, columns=None, ctx: Optional[Ctx] = None):
    """Model.predict_raw(): probabilities of raw rows through an Encoder."""
    with Encoder(model, columns) as enc:
        return enc.predict(model, rows, ctx=ctx)

