"""tinygan.save / tinygan.load: typed round trips, damaged files, no pickle, atomic writes."""
import json
import math
import os
import pathlib

import numpy as np
import pytest
from hypothesis import given, strategies as st

import tinygan as tg
import tinygan.nn as nn
from tinygan import optim, serialization


def assert_same(a, b):
    """Equal values *and* equal types, recursively (0 and "0" keys, tuples and lists differ)."""
    assert type(a) is type(b), (a, b)
    if isinstance(a, dict):
        assert list(a) == list(b) and all(type(x) is type(y) for x, y in zip(a, b))
        for key in a:
            assert_same(a[key], b[key])
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b)
        for x, y in zip(a, b):
            assert_same(x, y)
    elif isinstance(a, (np.ndarray, np.generic)):
        assert a.dtype == b.dtype and np.shape(a) == np.shape(b)
        np.testing.assert_array_equal(a, b)
    elif isinstance(a, tg.Tensor):
        assert a.requires_grad == b.requires_grad
        assert_same(a.data, b.data)
    elif isinstance(a, float) and math.isnan(a):
        assert math.isnan(b)
    else:
        assert a == b


def test_round_trip_of_nested_structures(tmp_path):
    obj = {
        "model": dict(nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2)).state_dict()),  # OrderedDict loads as dict
        "epoch": 7, "step": 12345678901234, "lr": 2e-4, "inf": float("inf"), "nan": float("nan"),
        "name": "dcgan ✓", "flag": False, "nothing": None,
        "int_keys": {0: "zero", "0": "string zero", 1.5: "float", None: "none", True: "bool"},
        "sequence": [1, (2.0, "three"), [], {}, ()],
        "arrays": [np.arange(6, dtype=np.uint8).reshape(2, 3), np.array(3.5), np.zeros((0, 4), np.float32),
                   np.array([True, False]), np.array(["a", "bc"])],
        "scalars": [np.float32(1.25), np.int64(-3), np.bool_(True)],
        "tensor": tg.tensor(np.ones(3, dtype=np.float32), requires_grad=True),
    }
    path = tmp_path / "checkpoint.npz"
    tg.save(obj, path)
    loaded = tg.load(path)
    expected = dict(obj, scalars=[np.float32(1.25), np.int64(-3), True])  # np.bool_ is stored as a bool
    assert_same(loaded, expected)


def test_optimizer_state_dict_round_trip(tmp_path):
    params = [nn.Parameter(np.ones((2, 2), dtype=np.float32))]
    opt = optim.Adam(params, lr=1e-3, betas=(0.5, 0.999))
    params[0].grad = np.ones((2, 2), dtype=np.float32)
    opt.step()
    tg.save(opt.state_dict(), str(tmp_path / "opt"))
    assert_same(tg.load(tmp_path / "opt"), opt.state_dict())


scalars = st.one_of(st.none(), st.booleans(), st.integers(-2 ** 62, 2 ** 62), st.text(max_size=5),
                    st.floats(allow_nan=False, width=64))
arrays = st.builds(lambda shape, seed: np.random.default_rng(seed).normal(size=shape).astype(np.float32),
                   st.lists(st.integers(0, 3), max_size=3).map(tuple), st.integers(0, 100))
keys = st.one_of(st.text(max_size=4), st.integers(-5, 5))
structures = st.recursive(st.one_of(scalars, arrays),
                          lambda inner: st.one_of(st.lists(inner, max_size=3), st.tuples(inner, inner),
                                                  st.dictionaries(keys, inner, max_size=3)),
                          max_leaves=10)


@given(obj=structures)
def test_round_trip_property(obj, tmp_path_factory):
    path = tmp_path_factory.mktemp("prop") / "x.ckpt"
    tg.save(obj, path)
    assert_same(tg.load(path), obj)


def test_path_is_used_as_given_and_overwrites_atomically(tmp_path):
    path = tmp_path / "run" / "latest.ckpt"
    path.parent.mkdir()
    tg.save({"epoch": 1}, path)
    tg.save({"epoch": 2}, os.fspath(path))
    assert sorted(os.listdir(path.parent)) == ["latest.ckpt"]  # no ".npz" added, no temporary left
    assert tg.load(path) == {"epoch": 2}


def test_failed_write_leaves_old_file_and_no_temporary(tmp_path, monkeypatch):
    path = tmp_path / "ckpt"
    tg.save({"epoch": 1}, path)

    def broken_savez(file, **arrays):
        file.write(b"half a checkpoint")
        raise OSError("disk full")

    monkeypatch.setattr(serialization.np, "savez", broken_savez)
    with pytest.raises(OSError, match="disk full"):
        tg.save({"epoch": 2}, path)
    monkeypatch.undo()
    assert os.listdir(tmp_path) == ["ckpt"]
    assert tg.load(path) == {"epoch": 1}


def test_truncated_file_raises_value_error_naming_path(tmp_path):
    path = tmp_path / "ckpt"
    tg.save({"weights": np.arange(1000.0)}, path)
    data = path.read_bytes()
    for cut in (len(data) // 2, len(data) - 10, 10):
        path.write_bytes(data[:cut])
        with pytest.raises(ValueError, match=str(path).replace("\\", "\\\\")):
            tg.load(path)


def test_random_bytes_and_empty_file(tmp_path):
    path = tmp_path / "noise.npz"
    path.write_bytes(np.random.default_rng(0).bytes(2000))
    with pytest.raises(ValueError, match="not a .npz"):
        tg.load(path)
    path.write_bytes(b"")
    with pytest.raises(ValueError, match="noise.npz"):
        tg.load(path)
    with pytest.raises(FileNotFoundError):
        tg.load(tmp_path / "missing.npz")


def test_npz_without_structure_entry(tmp_path):
    path = tmp_path / "plain.npz"
    np.savez(path, weights=np.ones(3))
    with pytest.raises(ValueError, match="structure"):
        tg.load(path)


def test_bad_structure_json(tmp_path):
    path = tmp_path / "bad.npz"
    entry = serialization.STRUCTURE_ENTRY
    np.savez(path, **{entry: np.frombuffer(b"{not json", dtype=np.uint8)})
    with pytest.raises(ValueError, match="bad.npz"):
        tg.load(path)
    structure = {"format": "tinygan", "version": 1, "root": {"type": "array", "entry": "a7"}}
    np.savez(path, **{entry: np.frombuffer(json.dumps(structure).encode(), dtype=np.uint8)})
    with pytest.raises(ValueError, match="missing array entry"):
        tg.load(path)
    structure["root"] = {"type": "function", "value": "os.system"}
    np.savez(path, **{entry: np.frombuffer(json.dumps(structure).encode(), dtype=np.uint8)})
    with pytest.raises(ValueError, match="unknown structure node type"):
        tg.load(path)


def test_pickle_bearing_object_array_is_refused(tmp_path):
    path = tmp_path / "evil.npz"
    structure = {"format": "tinygan", "version": 1, "root": {"type": "array", "entry": "a0"}}
    np.savez(path, a0=np.array([{"payload": 1}], dtype=object),  # numpy pickles object arrays
             **{serialization.STRUCTURE_ENTRY: np.frombuffer(json.dumps(structure).encode(), dtype=np.uint8)})
    with pytest.raises(ValueError, match="pickle"):
        tg.load(path)


def test_unsupported_values_are_refused_on_save(tmp_path):
    with pytest.raises(TypeError, match="object array"):
        tg.save({"x": np.array([object()])}, tmp_path / "a")
    with pytest.raises(TypeError, match="set"):
        tg.save({"x": {1, 2}}, tmp_path / "b")
    with pytest.raises(TypeError, match="keys"):
        tg.save({(1, 2): 3}, tmp_path / "c")
    assert os.listdir(tmp_path) == []


def test_accepts_pathlib_and_str(tmp_path):
    tg.save([1, 2], pathlib.Path(tmp_path) / "a")
    assert tg.load(str(tmp_path / "a")) == [1, 2]
