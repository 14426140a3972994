"""`save` and `load`: checkpoints as a single .npz file that loading can never execute.

torch.save uses pickle, and unpickling a file can run arbitrary code.  A tinygan
checkpoint is instead a plain NumPy .npz archive (a zip of .npy arrays) read with
allow_pickle=False:

    "__tinygan__"   UTF-8 JSON, stored as a uint8 array, describing the nested structure
    "a0", "a1", ... one entry per array in the structure

The JSON describes each value as a small node:

    {"type": "dict",  "items": [[key node, value node], ...]}   (keys keep their type: 0 != "0")
    {"type": "list" | "tuple", "items": [node, ...]}
    {"type": "array" | "scalar" | "tensor", "entry": "a3"}      (scalar: a NumPy number)
    {"type": "int" | "float" | "str" | "bool" | "none", "value": ...}

so model and optimizer state dicts, epoch counters, RNG states and configuration all
round-trip with their types.  Writes are atomic: a temporary file in the same
directory is written, flushed to disk, and renamed over the destination, so a crash
mid-save leaves the old checkpoint intact.
"""
from __future__ import annotations

import json
import numbers
import os
import tempfile
import zipfile

import numpy as np

from .tensor import Tensor

STRUCTURE_ENTRY = "__tinygan__"
FORMAT_VERSION = 1


# ---------------------------------------------------------------------- save
def save(obj, path) -> None:
    """Write `obj` (nested dicts/lists/tuples of arrays, tensors, numbers, strings, bools, None) to `path`."""
    arrays: dict[str, np.ndarray] = {}
    structure = {"format": "tinygan", "version": FORMAT_VERSION, "root": _describe(obj, arrays, "obj")}
    arrays[STRUCTURE_ENTRY] = np.frombuffer(json.dumps(structure).encode("utf-8"), dtype=np.uint8)
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    descriptor, temporary = tempfile.mkstemp(dir=directory, prefix=f".{os.path.basename(path)}.", suffix=".tmp")
    try:
        with os.fdopen(descriptor, "wb") as file:
            np.savez(file, **arrays)  # a file object: numpy adds no ".npz" to the name
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.remove(temporary)
        raise
    _fsync_directory(directory)


def _fsync_directory(directory: str) -> None:
    """Make the rename itself durable (POSIX); a no-op where directories cannot be opened."""
    try:
        descriptor = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass
    finally:
        os.close(descriptor)


def _describe(value, arrays: dict, where: str) -> dict:
    """The JSON node for `value`; arrays are moved into `arrays` under fresh entry names."""
    if value is None:
        return {"type": "none"}
    if isinstance(value, (bool, np.bool_)):
        return {"type": "bool", "value": bool(value)}
    if isinstance(value, np.generic):
        return {"type": "scalar", "entry": _store(np.asarray(value), arrays, where)}
    if isinstance(value, numbers.Integral):
        return {"type": "int", "value": int(value)}
    if isinstance(value, float):
        # JSON has no inf/nan; Python's json writes them as Infinity/NaN, which it reads back.
        return {"type": "float", "value": value}
    if isinstance(value, str):
        return {"type": "str", "value": value}
    if isinstance(value, Tensor):
        return {"type": "tensor", "entry": _store(value.data, arrays, where), "requires_grad": value.requires_grad}
    if isinstance(value, np.ndarray):
        return {"type": "array", "entry": _store(value, arrays, where)}
    if isinstance(value, dict):
        return {"type": "dict", "items": [[_describe_key(key, where), _describe(item, arrays, f"{where}[{key!r}]")]
                                          for key, item in value.items()]}
    if isinstance(value, (list, tuple)):
        return {"type": "tuple" if isinstance(value, tuple) else "list",
                "items": [_describe(item, arrays, f"{where}[{i}]") for i, item in enumerate(value)]}
    if hasattr(value, "detach") and hasattr(value, "numpy"):  # a torch tensor, stored as its array
        return {"type": "array", "entry": _store(value.detach().cpu().numpy(), arrays, where)}
    raise TypeError(f"tinygan.save: cannot save {where} of type {type(value).__name__}; supported are dicts, "
                    "lists, tuples, arrays, tensors, numbers, strings, bools and None")


def _describe_key(key, where: str) -> dict:
    """Dict keys are scalars: str, int (Python or NumPy), float, bool or None."""
    if isinstance(key, np.integer):
        key = int(key)
    if key is None or isinstance(key, (bool, int, float, str)) and not isinstance(key, np.generic):
        return _describe(key, {}, where)
    raise TypeError(f"tinygan.save: dict keys must be str, int, float, bool or None; {where} has key {key!r}")


def _store(array: np.ndarray, arrays: dict, where: str) -> str:
    if array.dtype.hasobject:
        raise TypeError(f"tinygan.save: {where} is an object array; it would need pickle to load, "
                        "which tinygan files never use")
    entry = f"a{len(arrays)}"
    arrays[entry] = array
    return entry


# ---------------------------------------------------------------------- load
def load(path):
    """Read what `save` wrote.  Never unpickles: a foreign or damaged file raises ValueError naming it."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"tinygan.load: no such file: {path}")
    with open(path, "rb") as file:
        magic = file.read(4)
    if magic not in (b"PK\x03\x04", b"PK\x05\x06"):  # every .npz is a zip archive
        raise ValueError(f"tinygan.load: {path} is not a tinygan checkpoint: it is not a .npz (zip) archive")
    try:
        with np.load(path, allow_pickle=False) as archive:
            if STRUCTURE_ENTRY not in archive.files:
                raise ValueError(f"it has no '{STRUCTURE_ENTRY}' entry describing its structure")
            structure = json.loads(archive[STRUCTURE_ENTRY].tobytes().decode("utf-8"))
            if not isinstance(structure, dict) or structure.get("format") != "tinygan" or "root" not in structure:
                raise ValueError("its structure entry is not a tinygan structure description")
            if structure.get("version") != FORMAT_VERSION:
                raise ValueError(f"it has format version {structure.get('version')!r}; "
                                 f"this tinygan reads version {FORMAT_VERSION}")
            return _rebuild(structure["root"], archive)
    except (ValueError, zipfile.BadZipFile, EOFError, OSError, KeyError, TypeError, RecursionError) as error:
        reason = str(error) or type(error).__name__
        if "pickle" in reason:
            reason = f"an entry would need pickle to load, which tinygan never does ({reason})"
        raise ValueError(f"tinygan.load: {path} is not a readable tinygan checkpoint: {reason}") from error


def _rebuild(node, archive):
    if not isinstance(node, dict) or "type" not in node:
        raise ValueError(f"malformed structure node {node!r}")
    kind = node["type"]
    if kind == "none":
        return None
    if kind in ("bool", "int", "float", "str"):
        value = node["value"]
        expected = {"bool": bool, "int": int, "float": (float, int), "str": str}[kind]
        if not isinstance(value, expected) or (kind == "int" and isinstance(value, bool)):
            raise ValueError(f"structure node of type {kind} holds {value!r}")
        return float(value) if kind == "float" else value
    if kind in ("array", "scalar", "tensor"):
        entry = node["entry"]
        if not isinstance(entry, str) or entry == STRUCTURE_ENTRY or entry not in archive.files:
            raise ValueError(f"structure refers to a missing array entry {entry!r}")
        array = archive[entry]
        if kind == "scalar":
            return array[()]
        if kind == "tensor":
            return Tensor(array, requires_grad=bool(node.get("requires_grad", False)))
        return array
    if kind in ("list", "tuple"):
        items = [_rebuild(item, archive) for item in node["items"]]
        return tuple(items) if kind == "tuple" else items
    if kind == "dict":
        result = {}
        for pair in node["items"]:
            if not isinstance(pair, list) or len(pair) != 2:
                raise ValueError(f"malformed dict item {pair!r}")
            key = _rebuild(pair[0], archive)
            if isinstance(key, (list, dict, np.ndarray, Tensor)):
                raise ValueError(f"dict key of unsupported type {type(key).__name__}")
            result[key] = _rebuild(pair[1], archive)
        return result
    raise ValueError(f"unknown structure node type {kind!r}")


__all__ = ["save", "load"]
