"""tinygan.save / tinygan.load: typed round trips, damaged files, no pickle, atomic writes."""
import io
import json
import struct
import tracemalloc
import zipfile
import zlib
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


# ---------------------------------------------------------------------- hostile files
# Each file below is a few KB that declares far more than it holds.  `load` must refuse it
# from the declarations alone: a ValueError, with the peak of Python's allocations (NumPy's
# arrays included, which tracemalloc follows) staying small.
def npy_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


def structure_bytes(root) -> bytes:
    structure = {"format": "tinygan", "version": 1, "root": root}
    return npy_bytes(np.frombuffer(json.dumps(structure).encode(), dtype=np.uint8))


def zip_by_hand(members, repeat_directory: int = 1, same_name: bool = False) -> bytes:
    """A zip archive of stored `members` ({name: bytes}), written with struct, not zipfile.

    The central directory lists the *first* member `repeat_directory` times (under its own
    name when `same_name`, else under the names a0.npy, a1.npy, ...), all pointing at the
    same local header: the trick of the 2,000-times-listed member.
    """
    local, directory, offsets = b"", [], {}
    for name, data in members.items():
        offsets[name] = len(local)
        crc = zlib.crc32(data)
        header = struct.pack("<4s5H3L2H", b"PK\x03\x04", 20, 0, 0, 0, 0, crc, len(data), len(data),
                             len(name), 0)
        local += header + name.encode() + data
    names = list(members)
    entries = [(name, name) for name in names]
    first = names[0]
    entries += [(first if same_name else f"a{i}.npy", first) for i in range(1, repeat_directory)]
    for listed, stored in entries:
        data = members[stored]
        directory.append(struct.pack("<4s6H3L5H2L", b"PK\x01\x02", 20, 20, 0, 0, 0, 0, zlib.crc32(data),
                                     len(data), len(data), len(listed), 0, 0, 0, 0, 0, offsets[stored])
                         + listed.encode())
    central = b"".join(directory)
    end = struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, len(entries), len(entries), len(central), len(local), 0)
    return local + central + end


def assert_refused_small(path, match, **options):
    tracemalloc.start()
    try:
        with pytest.raises(ValueError, match=match):
            tg.load(path, **options)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 8 * 2**20, f"load allocated {peak} bytes before refusing"


def test_a_member_listed_many_times_in_the_zip_directory_is_refused(tmp_path):
    block = npy_bytes(np.zeros(2**20 // 4, dtype=np.float32))  # 1 MB
    root = {"type": "list", "items": [{"type": "array", "entry": f"a{i}"} for i in range(2000)]}
    members = {"a0.npy": block, "__tinygan__.npy": structure_bytes(root)}
    path = tmp_path / "listed.npz"
    path.write_bytes(zip_by_hand(members, repeat_directory=2000))
    assert path.stat().st_size < 2**20 + 200_000  # 1 MB that would load as 2 GB
    assert_refused_small(path, "same place")
    path.write_bytes(zip_by_hand(members, repeat_directory=3, same_name=True))
    assert_refused_small(path, "twice")


def test_one_array_referred_to_many_times_is_refused(tmp_path):
    root = {"type": "list", "items": [{"type": "array", "entry": "a0"}] * 2000}
    path = tmp_path / "references.npz"
    path.write_bytes(zip_by_hand({"a0.npy": npy_bytes(np.zeros(2**18, np.float32)),
                                  "__tinygan__.npy": structure_bytes(root)}))
    assert_refused_small(path, "more than once")


def test_a_tiny_file_declaring_a_huge_array_is_refused(tmp_path):
    header = npy_bytes(np.zeros(1, np.float32))[:-4]  # the .npy header of a (1,) float32 array ...
    huge = header.replace(b"'shape': (1,), }", b"'shape': (250000000000,), }")  # ... made to declare 931 GiB
    assert huge != header
    huge = huge[:8] + struct.pack("<H", len(huge) - 10) + huge[10:]  # fix the header length field
    root = {"type": "array", "entry": "a0"}
    path = tmp_path / "declares.npz"
    path.write_bytes(zip_by_hand({"a0.npy": huge + b"\0" * 16, "__tinygan__.npy": structure_bytes(root)}))
    assert path.stat().st_size < 2000
    assert_refused_small(path, "declares a")


def test_a_deflate_bomb_is_refused(tmp_path):
    path = tmp_path / "bomb.npz"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("a0.npy", npy_bytes(np.zeros(50 * 2**20, dtype=np.uint8)))  # 50 MB of zeros
        archive.writestr("__tinygan__.npy", structure_bytes({"type": "array", "entry": "a0"}))
    assert path.stat().st_size < 200_000
    assert_refused_small(path, "zip bomb")


def test_the_total_is_bounded_before_reading(tmp_path):
    path = tmp_path / "big.npz"
    tg.save({"a": np.zeros(2**20, np.float32), "b": np.zeros(2**20, np.float32)}, path)
    assert_refused_small(path, "more than", max_bytes=6 * 2**20)
    assert tg.load(path, max_bytes=8 * 2**20)["a"].shape == (2**20,)


def test_load_layout_reads_shapes_without_the_data(tmp_path):
    path = tmp_path / "layout.npz"
    tg.save({"w": np.zeros((3, 4), np.float32), "t": tg.tensor([1.0, 2.0]), "n": 3, "s": np.int64(5)}, path)
    layout = serialization.load_layout(path)
    assert layout["w"] == serialization.ArrayLayout((3, 4), np.dtype(np.float32))
    assert layout["t"].shape == (2,) and layout["s"].shape == () and layout["n"] == 3
