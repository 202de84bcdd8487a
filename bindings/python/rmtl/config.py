"""Hyper-parameters (rmtl_config)."""

import ctypes
import json
import numbers
from ctypes import byref, c_char_p, c_double, c_int, c_int64, c_size_t, c_void_p
from typing import Any, Dict, Mapping, Optional

from . import _arrays
from ._lib import ECONFIG, Handle, OK, RmtlError, check, create, decode, lib, path_arg, \
    str_arg, using

__all__ = ["Config"]


def _scalar(text):
    t = text.strip()
    if len(t) >= 2 and t[0] == t[-1] and t[0] in "\"'":
        return t[1:-1]
    if t in ("true", "false"):
        return t == "true"
    for conv in (int, float):
        try:
            return conv(t)
        except ValueError:
            pass
    return t


def _parse_dump(text):
    """The canonical YAML of rmtl_config_dump() (block mappings of scalars
    and flow lists) as nested dicts."""
    root, stack = {}, [(-1, None)]
    stack[0] = (-1, root)
    for line in text.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        indent = len(line) - len(line.lstrip(" "))
        key, _, value = line.strip().partition(":")
        while stack[-1][0] >= indent:
            stack.pop()
        parent = stack[-1][1]
        value = value.strip()
        if not value:
            parent[key] = {}
            stack.append((indent, parent[key]))
        elif value.startswith("["):
            inner = value[1:value.rindex("]")].strip()
            parent[key] = [_scalar(v) for v in inner.split(",")] if inner else []
        else:
            parent[key] = _scalar(value)
    return root


def _flatten(d, prefix=""):
    for k, v in d.items():
        if isinstance(v, Mapping):
            yield from _flatten(v, prefix + k + ".")
        else:
            yield prefix + k, v


class Config(Handle):
    """Hyper-parameters: defaults, then a YAML file (`path`), then YAML text
    (`yaml`), then `params` (a dict of dotted keys or nested dicts), then
    keyword overrides (``model__arch="ple"`` sets ``model.arch``).
    docs/config.md lists every key with its default and range.

        cfg = rmtl.Config(params={"model.arch": "mmoe", "train.epochs": 3})
        cfg["optim.lr"] = 0.01
    """

    _free = "rmtl_config_free"

    def __init__(self, yaml: Optional[str] = None, path=None,
                 params: Optional[Mapping[str, Any]] = None, **overrides):
        super().__init__(create(lib.rmtl_config_create))
        if path is not None:
            p = path_arg(path, "path")
            with using(self, mut=self) as (h,):
                check(lib.rmtl_config_load_file(h, p))
        if yaml is not None:
            self.load_string(yaml)
        if params is not None:
            self.update(params)
        for key, value in overrides.items():
            self.set(key.replace("__", "."), value)

    @classmethod
    def _wrap(cls, ptr):
        obj = cls.__new__(cls)
        Handle.__init__(obj, ptr)
        return obj

    def load_string(self, yaml: str, name: str = "<python>") -> "Config":
        """Applies YAML text over the current values (all or nothing)."""
        text = str_arg(yaml, "yaml")
        with using(self, mut=self) as (h,):
            check(lib.rmtl_config_load_string(h, text, len(text), str_arg(name, "name")))
        return self

    def update(self, params: Mapping[str, Any]) -> "Config":
        """Sets every key of `params` (dotted keys, or nested dicts)."""
        if not isinstance(params, Mapping):
            raise TypeError("params must be a mapping, not %s" % type(params).__name__)
        for key, value in _flatten(params):
            self.set(key, value)
        return self

    def set(self, key: str, value: Any) -> "Config":
        """Sets `key` from a Python value (bool, int, float, str as YAML
        text, or a list) with the library's type and range checks."""
        k = str_arg(key, "key")
        with using(self, mut=self) as (h,):
            if isinstance(value, bool):
                rc = lib.rmtl_config_set_bool(h, k, 1 if value else 0)
            elif isinstance(value, numbers.Integral):
                v = _arrays.integer(value, key, -2 ** 63, 2 ** 63 - 1)
                rc = lib.rmtl_config_set_int(h, k, v)
            elif isinstance(value, numbers.Real):
                rc = lib.rmtl_config_set_double(h, k, _arrays.real(value, key))
            elif isinstance(value, str):
                rc = lib.rmtl_config_set(h, k, str_arg(value, key))
            elif isinstance(value, (list, tuple)):
                for v in value:
                    if isinstance(v, float):
                        _arrays.real(v, key)
                    elif isinstance(v, bool) or not isinstance(v, (numbers.Real, str)):
                        raise TypeError("%s: list items must be numbers or str, not %s"
                                        % (key, type(v).__name__))
                text = json.dumps([v if isinstance(v, str) else
                                   int(v) if isinstance(v, numbers.Integral) else float(v)
                                   for v in value])
                rc = lib.rmtl_config_set(h, k, text.encode())
            else:
                raise TypeError("%s: a config value is a bool, int, float, str or list, not %s"
                                % (key, type(value).__name__))
            check(rc)
        return self

    def get(self, key: str) -> Any:
        """The value of `key`: int, float, bool, str or a list.
        RmtlError ECONFIG for an unknown key."""
        k = str_arg(key, "key")
        with using(self) as (h,):
            for fn, ctype, conv in ((lib.rmtl_config_get_int, c_int64, int),
                                    (lib.rmtl_config_get_double, c_double, float),
                                    (lib.rmtl_config_get_bool, c_int, bool),
                                    (lib.rmtl_config_get_string, c_char_p, decode)):
                v = ctype()
                if fn(byref(v), h, k) == OK:
                    return conv(v.value)
            msg = decode(lib.rmtl_last_error()) or ""
        if "unknown key" in msg:
            raise RmtlError(ECONFIG, "%s: unknown key (docs/config.md lists them all)" % key)
        node = self.to_dict()
        for part in key.split("."):
            if not isinstance(node, dict) or part not in node:
                raise RmtlError(ECONFIG, "%s: no value" % key)
            node = node[part]
        return node

    def __getitem__(self, key: str) -> Any:
        return self.get(key)

    def __setitem__(self, key: str, value: Any) -> None:
        self.set(key, value)

    def to_dict(self) -> Dict[str, Any]:
        """Every parameter as nested dicts (parsed from dump())."""
        return _parse_dump(self.dump())

    def validate(self) -> None:
        """Cross-parameter checks; RmtlError ECONFIG naming the keys."""
        with using(self) as (h,):
            check(lib.rmtl_config_validate(h))

    def dump(self) -> str:
        """Canonical YAML of every parameter (loads back to equal values)."""
        out, n = c_void_p(), c_size_t()
        with using(self) as (h,):
            check(lib.rmtl_config_dump(byref(out), byref(n), h))
        try:
            return ctypes.string_at(out, n.value).decode()
        finally:
            lib.rmtl_free(out)

    def clone(self) -> "Config":
        """A deep copy."""
        with using(self) as (h,):
            return Config._wrap(create(lib.rmtl_config_clone, h))

    __copy__ = clone

    def __deepcopy__(self, memo):
        return self.clone()

    def __reduce__(self):
        return (Config, (self.dump(),))

    def _describe(self):
        try:
            return "model.arch=%s" % self.get("model.arch")
        except Exception:  # pragma: no cover
            return ""


def as_config(cfg, name="config"):
    """A Config from a Config or a dict of parameters (a new one, which the
    caller closes), and whether it was made here."""
    if isinstance(cfg, Config):
        return cfg, False
    if isinstance(cfg, Mapping):
        return Config(params=cfg), True
    raise TypeError("%s must be an rmtl.Config or a dict of parameters, not %s"
                    % (name, type(cfg).__name__))
