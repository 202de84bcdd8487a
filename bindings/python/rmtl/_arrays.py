"""Checked arrays at the C boundary.

Every array a binding call hands to C goes through matrix() or vector():
the type, dtype, shape, range and finiteness are checked first, and the
element count C is told is the one the buffer holds. With numpy, a
C-contiguous, aligned array of the exact dtype is passed by address without
a copy; anything else is converted once. Without numpy (absent, or
RMTL_NO_NUMPY=1), array.array and (nested) lists work and results are flat
array.array('f') in row-major order.
"""

import array
import math
import numbers
import os

if os.environ.get("RMTL_NO_NUMPY", "") not in ("", "0"):
    np = None
else:
    try:
        import numpy as np
    except ImportError:  # pragma: no cover - depends on the host
        np = None

# kind: (numpy dtype, array.array typecodes passed without a copy, C name, range)
_KINDS = {
    "f": ("float32", "f", "float32", None),
    "d": ("float64", "d", "float64", None),
    "i": ("int32", "i", "int32", (-2 ** 31, 2 ** 31 - 1)),
    "q": ("int64", "ql", "int64", (-2 ** 63, 2 ** 63 - 1)),
    "Q": ("uint64", "QL", "uint64", (0, 2 ** 64 - 1)),
    "B": ("uint8", "B", "uint8", (0, 255)),
}
_CTYPE_CODE = {"f": "f", "d": "d", "i": "i", "q": "q", "Q": "Q", "B": "B"}
_NP_DTYPES = {k: np.dtype(v[0]) for k, v in _KINDS.items()} if np is not None else {}

INT_MAX = 2 ** 31 - 1
SIZE_MAX = 2 ** 64 - 1


def integer(v, name, lo=0, hi=SIZE_MAX):
    """A Python int in [lo, hi]: TypeError for non-integers (bool and
    float included), OverflowError outside the range."""
    if isinstance(v, bool) or not isinstance(v, numbers.Integral):
        raise TypeError("%s must be an int, not %s" % (name, type(v).__name__))
    v = int(v)
    if v < lo or v > hi:
        raise OverflowError("%s=%d is outside [%d, %d]" % (name, v, lo, hi))
    return v


def real(v, name, finite=True):
    """A Python float (ints accepted): TypeError for non-numbers,
    ValueError for NaN/Inf when `finite`."""
    if isinstance(v, bool) or not isinstance(v, numbers.Real):
        raise TypeError("%s must be a number, not %s" % (name, type(v).__name__))
    v = float(v)
    if finite and not math.isfinite(v):
        raise ValueError("%s must be finite, not %r" % (name, v))
    return v


class Arr:
    """A checked array: `ptr` (address or None when empty), `n` elements,
    `rows` × `cols`, and `keep`, the object that owns the memory (hold
    it for the duration of the call)."""

    __slots__ = ("ptr", "n", "rows", "cols", "keep")

    def __init__(self, ptr, n, rows, cols, keep):
        self.ptr, self.n, self.rows, self.cols, self.keep = ptr, n, rows, cols, keep


def _finite_check(a, src, name, cname):
    """ValueError/OverflowError naming the first non-finite value of `a`
    (converted from `src`), if any."""
    bad = np.flatnonzero(~np.isfinite(a.reshape(-1)))
    if bad.size:
        i = int(bad[0])
        v = src.reshape(-1)[i]
        if np.isfinite(v):
            raise OverflowError("%s: element %d (%r) does not fit %s" % (name, i, float(v), cname))
        raise ValueError("%s: element %d is %s (finite values only)" % (name, i, float(v)))


def _np_convert(x, kind, name, finite):
    dtype, _, cname, rng = _KINDS[kind]
    if type(x) is np.ndarray and x.dtype == _NP_DTYPES[kind] and x.flags.c_contiguous \
            and x.flags.aligned:
        # the fast path of serving: the caller's array as it is; one
        # summing pass proves it finite (a sum that overflows gets the full check)
        if rng is None and finite and x.size and not math.isfinite(x.sum(dtype=np.float64)):
            _finite_check(x, x, name, cname)
        return x
    if isinstance(x, np.ndarray):
        a = x
    else:
        try:
            a = np.asarray(x)
        except ValueError as e:
            raise ValueError("%s: not a rectangular array (%s)" % (name, e)) from None
    k = a.dtype.kind
    if k in "fO" and rng is not None and a.size and not isinstance(x, np.ndarray):
        # Python ints beyond int64 make numpy choose float64 or object
        o = np.asarray(x, dtype=object).reshape(-1)
        if all(isinstance(v, numbers.Integral) and not isinstance(v, bool) for v in o):
            for v in o:
                if not rng[0] <= int(v) <= rng[1]:
                    raise OverflowError("%s: id %d does not fit %s" % (name, int(v), cname))
            a = np.array(o, dtype=dtype).reshape(a.shape)
            k = a.dtype.kind
    if k not in "biuf":
        raise TypeError("%s must hold numbers, not %s" % (name, a.dtype))
    if k == "b":
        raise TypeError("%s must hold numbers, not booleans" % name)
    if rng is None:  # floating point
        with np.errstate(over="ignore", invalid="ignore"):
            c = np.require(a, dtype=dtype, requirements=["C", "A"])
        if finite and c.size and not math.isfinite(c.sum(dtype=np.float64)):
            _finite_check(c, a, name, cname)
        return c
    if k == "f":
        raise TypeError("%s must hold integers, not %s values" % (name, a.dtype))
    if a.size and a.dtype != np.dtype(dtype):
        lo, hi = int(a.min()), int(a.max())
        if lo < rng[0] or hi > rng[1]:
            v = lo if lo < rng[0] else hi
            raise OverflowError("%s: id %d does not fit %s" % (name, v, cname))
    return np.require(a, dtype=dtype, requirements=["C", "A"])


def _check_value(v, kind, name, i, finite):
    rng = _KINDS[kind][3]
    if isinstance(v, bool) or not isinstance(v, numbers.Real):
        raise TypeError("%s must hold numbers, not %s (element %d)" % (name, type(v).__name__, i))
    if rng is None:
        v = float(v)
        if finite and not math.isfinite(v):
            raise ValueError("%s: element %d is %s (finite values only)" % (name, i, v))
        if finite and abs(v) > 3.4028234663852886e38 and kind == "f":
            raise OverflowError("%s: element %d (%r) does not fit float32" % (name, i, v))
        return v
    if not isinstance(v, numbers.Integral):
        raise TypeError("%s must hold integers, not %s (element %d)" % (name, type(v).__name__, i))
    if not rng[0] <= int(v) <= rng[1]:
        raise OverflowError("%s: id %d does not fit %s" % (name, int(v), _KINDS[kind][2]))
    return int(v)


def _seq_convert(x, kind, name, finite):
    """(array.array of the C type, shape) without numpy."""
    code = _CTYPE_CODE[kind]
    if isinstance(x, array.array):
        if x.typecode in _KINDS[kind][1]:
            if _KINDS[kind][3] is None and finite:
                for i, v in enumerate(x):
                    if not math.isfinite(v):
                        raise ValueError("%s: element %d is %s (finite values only)"
                                         % (name, i, v))
            return x, (len(x),)
        if x.typecode in "fd" and _KINDS[kind][3] is not None:
            raise TypeError("%s must hold integers, not array('%s')" % (name, x.typecode))
        flat, shape = list(x), (len(x),)
    elif isinstance(x, (list, tuple)):
        if x and isinstance(x[0], (list, tuple)):
            width = len(x[0])
            for r, row in enumerate(x):
                if not isinstance(row, (list, tuple)) or len(row) != width:
                    raise ValueError("%s: row %d has another length than row 0 (not a "
                                     "rectangular array)" % (name, r))
            flat, shape = [v for row in x for v in row], (len(x), width)
        else:
            flat, shape = list(x), (len(x),)
    else:
        raise TypeError("%s must be an array or a list, not %s" % (name, type(x).__name__))
    out = array.array(code, [_check_value(v, kind, name, i, finite) for i, v in enumerate(flat)])
    return out, shape


def _convert(x, kind, name, finite):
    if isinstance(x, (str, bytes, bytearray, dict, set)) or isinstance(x, numbers.Number):
        raise TypeError("%s must be an array or a list, not %s" % (name, type(x).__name__))
    if np is not None and not isinstance(x, array.array):
        a = _np_convert(x, kind, name, finite)
        return a, a.shape, (a.ctypes.data if a.size else None)
    a, shape = _seq_convert(x, kind, name, finite)
    return a, shape, (a.buffer_info()[0] if len(a) else None)


def matrix(x, kind, name, cols=None, rows=None, finite=True, what=None):
    """A rows × cols array (2-D, or 1-D read row-major with `cols` known).
    `cols`/`rows` None: taken from the array. ValueError naming `name` for
    any other shape; `what` says where the expected width comes from."""
    a, shape, ptr = _convert(x, kind, name, finite)
    if len(shape) == 2:
        r, c = shape
        if cols is not None and c != cols:
            raise ValueError("%s has %d columns, expected %d%s"
                             % (name, c, cols, " (%s)" % what if what else ""))
    elif len(shape) == 1:
        if cols is None:  # flat: the width follows from the rows when they are known
            if rows and shape[0] % rows:
                raise ValueError("%s holds %d values: not a multiple of its %d rows"
                                 % (name, shape[0], rows))
            cols = shape[0] // rows if rows else 1
        if cols == 0:
            if shape[0]:
                raise ValueError("%s must be empty (%s is 0)" % (name, what or "its width"))
            r, c = (rows or 0), 0
        else:
            if shape[0] % cols:
                raise ValueError("%s holds %d values: not a multiple of %d%s"
                                 % (name, shape[0], cols, " (%s)" % what if what else ""))
            r, c = shape[0] // cols, cols
    else:
        raise ValueError("%s must be 1-D or 2-D, not %d-D" % (name, len(shape)))
    if rows is not None and r != rows:
        raise ValueError("%s has %d rows, expected %d" % (name, r, rows))
    return Arr(ptr, r * c, r, c, a)


def vector(x, kind, name, n=None, finite=True, what=None):
    """A 1-D array of `n` values (None: any length)."""
    a, shape, ptr = _convert(x, kind, name, finite)
    if len(shape) != 1:
        raise ValueError("%s must be 1-D, not %d-D" % (name, len(shape)))
    if n is not None and shape[0] != n:
        raise ValueError("%s holds %d values, expected %d%s"
                         % (name, shape[0], n, " (%s)" % what if what else ""))
    return Arr(ptr, shape[0], shape[0], 1, a)


def out(kind, rows, cols=None):
    """A zeroed output buffer of rows (× cols) values: numpy (shaped) or a
    flat array.array. Returns (address, result)."""
    n = rows * (cols if cols is not None else 1)
    if np is not None:
        a = np.zeros(n if cols is None else (rows, cols), dtype=_KINDS[kind][0])
        return (a.ctypes.data if n else None), a
    a = array.array(_CTYPE_CODE[kind], bytes(array.array(_CTYPE_CODE[kind]).itemsize * n))
    return (a.buffer_info()[0] if n else None), a


def copy_out(ptr, kind, rows, cols=None):
    """A copy of rows (× cols) values the library owns at address `ptr`."""
    n = rows * (cols if cols is not None else 1)
    addr, res = out(kind, rows, cols)
    if n:
        if not ptr:
            raise RuntimeError("the library returned NULL for %d values" % n)
        import ctypes
        ctypes.memmove(addr, ptr, n * array.array(_CTYPE_CODE[kind]).itemsize)
    return res


def tolist(a):
    """A result array as (nested) Python lists."""
    return a.tolist()
