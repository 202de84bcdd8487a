"""Version, config, errors, logging, and the documentation of every public name."""
import inspect
import os
import pickle
import re

import pytest

import rmtl
from conftest import ROOT, SMALL


def test_version():
    assert re.match(r"^\d+\.\d+\.\d+$", rmtl.version())
    assert "blis" in rmtl.build_info()
    with open(os.path.join(ROOT, "include", "rmtl.h")) as f:
        hdr = f.read()
    header_version = re.search(r'#define RMTL_VERSION_STRING "([^"]+)"', hdr).group(1)
    assert rmtl.__version__ == header_version == rmtl.version()
    with open(os.path.join(ROOT, "bindings", "python", "pyproject.toml")) as f:
        pyproject = f.read()
    assert 'version = "%s"' % header_version in pyproject
    assert not rmtl._MISSING, "entry points the library lacks: %s" % rmtl._MISSING


def test_config_get_set_every_type():
    with rmtl.Config(yaml=SMALL) as cfg:
        assert cfg.get("model.arch") == "mmoe"
        assert cfg["model.embed_dim"] == 4
        cfg.set("rl.gamma", 0.5)
        assert cfg.get("rl.gamma") == pytest.approx(0.5)
        cfg["model.bottom"] = [8, 4]
        assert cfg.get("model.bottom") == [8, 4]
        assert "bottom: [8, 4]" in cfg.dump()
        cfg["fusion.reward_coef"] = [1.0, 2.5]
        assert cfg.get("fusion.reward_coef") == [1.0, 2.5]  # a double list: from the dump
        assert cfg.get("model.tasks") == ["click", "purchase"]
        cfg["train.shuffle"] = False
        assert cfg["train.shuffle"] is False
        cfg.validate()
        again = pickle.loads(pickle.dumps(cfg))
        assert again.dump() == cfg.dump()
        c2 = cfg.clone()
        c2["model.arch"] = "ple"
        assert cfg["model.arch"] == "mmoe" and c2["model.arch"] == "ple"
        assert cfg.to_dict()["model"]["experts"]["count"] == 2
        assert "model.arch=mmoe" in repr(cfg)


def test_config_params_and_overrides():
    with rmtl.Config(params={"model": {"arch": "esmm"}, "train.epochs": 2},
                     optim__lr=0.01) as cfg:
        assert cfg["model.arch"] == "esmm" and cfg["train.epochs"] == 2
        assert cfg["optim.lr"] == pytest.approx(0.01)


def test_c_error_is_exception_with_code_and_message():
    cfg = rmtl.Config()
    with pytest.raises(rmtl.RmtlError) as e:
        cfg.set("rl.gamma", 2.0)
    assert e.value.code == rmtl.ECONFIG
    assert "rl.gamma" in e.value.message and "out of range" in str(e.value)
    with pytest.raises(rmtl.RmtlError) as e:
        cfg.get("nope.key")
    assert e.value.code == rmtl.ECONFIG and "unknown key" in e.value.message
    assert "rmtl_" not in e.value.message
    with pytest.raises(rmtl.RmtlError) as e:
        rmtl.Dataset.load("/nonexistent/x.csv", schema="/nonexistent/s.yaml")
    assert e.value.code == rmtl.EIO and "/nonexistent/s.yaml" in e.value.message
    with pytest.raises(rmtl.RmtlError) as e:
        rmtl.Dataset.from_arrays([[99, 1]], [10, 8], labels=[[1.0, 0.0]])
    assert e.value.code == rmtl.EINVAL
    err = pickle.loads(pickle.dumps(e.value))
    assert (err.code, err.message) == (e.value.code, e.value.message)
    cfg.close()


def test_close_and_context_manager():
    cfg = rmtl.Config()
    cfg.close()
    cfg.close()  # idempotent
    assert cfg.closed and "closed" in repr(cfg)
    with pytest.raises(ValueError, match="closed"):
        cfg.get("rl.gamma")
    with rmtl.Ctx() as ctx:
        assert ctx.handle
    with pytest.raises(ValueError, match="closed"):
        ctx.handle


def test_log_callback():
    lines = []
    rmtl.set_log_callback(lambda level, msg: lines.append((level, msg)))
    rmtl.set_log_callback(None)
    assert lines == []
    with pytest.raises(TypeError):
        rmtl.set_log_callback(3)


def _public_members():
    for name in rmtl.__all__:
        obj = getattr(rmtl, name)
        yield "rmtl." + name, obj
        if inspect.isclass(obj):
            for mname, m in vars(obj).items():
                if mname.startswith("_"):
                    continue
                yield "rmtl.%s.%s" % (name, mname), m


def test_every_public_name_is_documented():
    assert rmtl.__doc__ and len(rmtl.__doc__) > 200
    undocumented = []
    for qual, obj in _public_members():
        if isinstance(obj, (int, str, bool, float)) or obj is None:
            continue  # constants: documented in the module docstring and docs/python.md
        if isinstance(obj, (classmethod, staticmethod)):
            obj = obj.__func__
        doc = obj.__doc__ if not isinstance(obj, property) else obj.fget.__doc__
        if not doc or not doc.strip():
            undocumented.append(qual)
    assert not undocumented, "undocumented public names: %s" % undocumented


def test_help_renders():
    import pydoc
    text = pydoc.render_doc(rmtl, renderer=pydoc.plaintext)
    for name in ("Fusion", "Model", "train", "early_stopping", "Dataset"):
        assert name in text
