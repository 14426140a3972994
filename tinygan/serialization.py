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
round-trip with their types.  Writes are atomic (`tinygan.files.atomic_write`: a
temporary file in the same folder, flushed to disk and renamed over the destination), so
a crash mid-save leaves the old checkpoint intact.  Loading bounds what a file can make
it allocate before reading any array (see `load`).
"""
from __future__ import annotations

import dataclasses
import json
import math
import numbers
import os
import zipfile

import numpy as np

from .files import atomic_write
from .tensor import Tensor

STRUCTURE_ENTRY = "__tinygan__"
FORMAT_VERSION = 1


# ---------------------------------------------------------------------- save
def save(obj, path) -> None:
    """Write `obj` (nested dicts/lists/tuples of arrays, tensors, numbers, strings, bools, None) to `path`."""
    arrays: dict[str, np.ndarray] = {}
    structure = {"format": "tinygan", "version": FORMAT_VERSION, "root": _describe(obj, arrays, "obj")}
    arrays[STRUCTURE_ENTRY] = np.frombuffer(json.dumps(structure).encode("utf-8"), dtype=np.uint8)
    with atomic_write(path) as file:
        np.savez(file, **arrays)  # a file object: numpy adds no ".npz" to the name


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
# What a file may make `load` allocate is bounded *before* any array is read: a .npz is a
# zip archive whose directory and .npy headers declare every size, and a hostile file can
# declare anything (one member listed 2,000 times, a 500-byte file claiming a 1 TB array,
# a deflate "bomb" that inflates 1,000-fold).  So `load` reads the declarations first,
# checks them against each other and against `max_bytes`, and only then the data.
MAX_LOAD_BYTES = 8 * 2**30  # the default bound on the arrays of one file (8 GiB)
MAX_COMPRESSION_RATIO = 100  # np.savez stores arrays uncompressed; savez_compressed rarely beats 20:1
MAX_STRUCTURE_BYTES = 16 * 2**20  # the JSON description of even a huge state dict is far smaller


@dataclasses.dataclass(frozen=True)
class ArrayLayout:
    """What `load_layout` returns in place of an array: its declared shape and dtype."""

    shape: tuple
    dtype: np.dtype

    @property
    def nbytes(self) -> int:
        return math.prod(self.shape) * self.dtype.itemsize


def load(path, max_bytes: int = MAX_LOAD_BYTES):
    """Read what `save` wrote.  Never unpickles: a foreign or damaged file raises ValueError naming it.

    A file whose arrays declare more than `max_bytes` in total is refused before any of
    them is read.
    """
    return _read(path, max_bytes, read_arrays=True)


def load_layout(path, max_bytes: int = MAX_LOAD_BYTES):
    """What `load(path)` would return, with each array, tensor and NumPy scalar replaced by its
    `ArrayLayout` (shape, dtype) -- taken from the file's headers, no array data read.

    Lets a caller check a file's structure against what it expects (as checkpoints do)
    before committing memory to it.
    """
    return _read(path, max_bytes, read_arrays=False)


def _read(path, max_bytes: int, read_arrays: bool):
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"tinygan.load: no such file: {path}")
    with open(path, "rb") as file:
        magic = file.read(4)
    if magic not in (b"PK\x03\x04", b"PK\x05\x06"):  # every .npz is a zip archive
        raise ValueError(f"tinygan.load: {path} is not a tinygan checkpoint: it is not a .npz (zip) archive")
    try:
        with zipfile.ZipFile(path) as archive:
            members = _checked_members(archive, os.path.getsize(path))
            structure = _read_structure(archive, members)
            layouts = _array_layouts(archive, members, structure["root"], max_bytes)
            if read_arrays:
                def array(entry):
                    with archive.open(members[entry]) as member:
                        return np.lib.format.read_array(member, allow_pickle=False)
            else:
                array = layouts.__getitem__
            return _rebuild(structure["root"], array)
    except (ValueError, zipfile.BadZipFile, EOFError, OSError, KeyError, TypeError, RecursionError) as error:
        reason = str(error) or type(error).__name__
        if "pickle" in reason and "never" not in reason:
            reason = f"an entry would need pickle to load, which tinygan never does ({reason})"
        raise ValueError(f"tinygan.load: {path} is not a readable tinygan checkpoint: {reason}") from error


def _checked_members(archive: zipfile.ZipFile, file_size: int) -> dict:
    """The archive's members by entry name ("a0" for "a0.npy"), after checking the zip directory."""
    members, offsets = {}, set()
    for info in archive.infolist():
        entry = info.filename[:-4] if info.filename.endswith(".npy") else info.filename
        if entry in members:
            raise ValueError(f"the zip directory lists the member {info.filename!r} twice")
        if info.header_offset in offsets:
            raise ValueError(f"the zip directory lists two members ({info.filename!r} and another) at the same "
                             "place in the file")
        if info.header_offset + info.compress_size > file_size:
            raise ValueError(f"the member {info.filename!r} claims to extend past the end of the file")
        if info.file_size > 2**20 and info.file_size > MAX_COMPRESSION_RATIO * max(info.compress_size, 1):
            raise ValueError(f"the member {info.filename!r} would inflate {info.compress_size} bytes to "
                             f"{info.file_size} (more than {MAX_COMPRESSION_RATIO}:1): refused as a zip bomb")
        members[entry] = info
        offsets.add(info.header_offset)
    return members


def _read_structure(archive: zipfile.ZipFile, members: dict) -> dict:
    if STRUCTURE_ENTRY not in members:
        raise ValueError(f"it has no '{STRUCTURE_ENTRY}' entry describing its structure")
    if members[STRUCTURE_ENTRY].file_size > MAX_STRUCTURE_BYTES:
        raise ValueError(f"its structure entry declares {members[STRUCTURE_ENTRY].file_size} bytes, more than "
                         f"the {MAX_STRUCTURE_BYTES} a structure description can need")
    with archive.open(members[STRUCTURE_ENTRY]) as member:
        text = np.lib.format.read_array(member, allow_pickle=False)
    structure = json.loads(text.tobytes().decode("utf-8"))
    if not isinstance(structure, dict) or structure.get("format") != "tinygan" or "root" not in structure:
        raise ValueError("its structure entry is not a tinygan structure description")
    if structure.get("version") != FORMAT_VERSION:
        raise ValueError(f"it has format version {structure.get('version')!r}; "
                         f"this tinygan reads version {FORMAT_VERSION}")
    return structure


def _array_layouts(archive: zipfile.ZipFile, members: dict, root, max_bytes: int) -> dict:
    """entry -> ArrayLayout for every array the structure refers to, read from the .npy headers.

    Each entry may be referred to once (else one stored array could be loaded many times),
    each header must agree with the size the zip directory declares, and the total must
    stay within `max_bytes`.
    """
    layouts, total = {}, 0
    for entry in _referenced_entries(root):
        if not isinstance(entry, str) or entry == STRUCTURE_ENTRY or entry not in members:
            raise ValueError(f"structure refers to a missing array entry {entry!r}")
        if entry in layouts:
            raise ValueError(f"structure refers to the array entry {entry!r} more than once")
        info = members[entry]
        with archive.open(info) as member:
            version = np.lib.format.read_magic(member)
            if version not in ((1, 0), (2, 0)):
                raise ValueError(f"entry {entry!r} has .npy format version {version}, expected 1.0 or 2.0")
            read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) else \
                np.lib.format.read_array_header_2_0
            shape, _, dtype = read_header(member)
            header_size = member.tell()
        if dtype.hasobject:
            raise ValueError(f"entry {entry!r} is an object array; it would need pickle to load, "
                             "which tinygan never does")
        layout = ArrayLayout(tuple(int(n) for n in shape), dtype)
        if header_size + layout.nbytes != info.file_size:
            raise ValueError(f"entry {entry!r} declares a {layout.shape} {dtype} array ({layout.nbytes} bytes) "
                             f"but the zip directory gives it {info.file_size - header_size} bytes")
        total += layout.nbytes
        if total > max_bytes:
            raise ValueError(f"its arrays declare more than {max_bytes} bytes in total (the limit of this load)")
        layouts[entry] = layout
    return layouts


def _referenced_entries(node):
    """Every array entry name the structure refers to, in order (repeats included), without recursion."""
    pending = [node]
    while pending:
        node = pending.pop()
        if not isinstance(node, dict) or "type" not in node:
            raise ValueError(f"malformed structure node {node!r}")
        if node["type"] in ("array", "scalar", "tensor"):
            yield node.get("entry")
        elif node["type"] in ("list", "tuple"):
            pending.extend(reversed(node.get("items", [])))
        elif node["type"] == "dict":
            for pair in reversed(node.get("items", [])):
                if not isinstance(pair, list) or len(pair) != 2:
                    raise ValueError(f"malformed dict item {pair!r}")
                pending.extend(reversed(pair))


def _rebuild(node, array):
    """The value a structure node describes; `array(entry)` supplies each array (or its layout)."""
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
        value = array(node["entry"])
        if isinstance(value, ArrayLayout):
            return value
        if kind == "scalar":
            return value[()]
        if kind == "tensor":
            return Tensor(value, requires_grad=bool(node.get("requires_grad", False)))
        return value
    if kind in ("list", "tuple"):
        items = [_rebuild(item, array) for item in node["items"]]
        return tuple(items) if kind == "tuple" else items
    if kind == "dict":
        result = {}
        for pair in node["items"]:
            key = _rebuild(pair[0], array)
            if isinstance(key, (list, dict, np.ndarray, Tensor, ArrayLayout)):
                raise ValueError(f"dict key of unsupported type {type(key).__name__}")
            result[key] = _rebuild(pair[1], array)
        return result
    raise ValueError(f"unknown structure node type {kind!r}")


__all__ = ["save", "load", "load_layout", "ArrayLayout", "MAX_LOAD_BYTES"]
