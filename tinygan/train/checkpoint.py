"""Checkpoints: what one holds, writing it, and reading it back only after checking it.

A checkpoint is a `tinygan.save` file (a .npz, no pickle) of `DCGANTrainer.state_dict()`:
format and version, the config, G's and D's state dicts, both optimizers' state dicts,
the counters (epoch, batch, step, seconds), the loader's and the random generators'
states, the fixed noise of the sample grids and, in a run that samples from a moving
average of G's weights (--ema), that average ("generator_average", G's structure).

A checkpoint may come from anywhere, so reading one trusts nothing (`read_checkpoint`):

1. `load_layout` reads only the zip directory and the .npy headers (tg.load's own checks
   bound those);
2. the layout is checked against the structure a checkpoint of *its own config* must
   have: every key, every counter's type, the config's validity and size (a config
   claiming ngf = 10^12 is refused by a memory estimate, before any model is built),
   each weight's shape, each optimizer moment's shape, the fixed noise's shape (the
   expected shapes come from building the config's models, so a conditional config
   expects its label embedding and its wider first layers);
3. only then are the arrays read -- with the exact byte total the checked structure
   allows as `tg.load`'s bound, so nothing unchecked can be allocated;
4. the weights and buffers must be finite: a diverged checkpoint is refused, not sampled.

Every problem is a `RunError` that names the file and the part.
"""
from __future__ import annotations

import math
import numbers
from pathlib import Path

import numpy as np

from ..models import Generator
from ..serialization import ArrayLayout, load, load_layout, save
from ..random import state_kept
from .config import TrainConfig, build_models
from .errors import RunError
from .limits import check_generator_fits
from .run_folder import CHECKPOINT_NAME

CHECKPOINT_FORMAT = "tinygan-dcgan-checkpoint"
CHECKPOINT_VERSION = 1
FIXED_NOISE_SIZE = 64  # the 8x8 grid drawn after every epoch
COUNTERS = ("epoch", "batch", "step")
AVERAGE = "generator_average"  # optional: only a run with --ema has it
KEYS = ("format", "version", "config", "generator", "discriminator", "optimizer_g", "optimizer_d", *COUNTERS,
        "seconds", "loader", "rng", "fixed_noise")


def write_checkpoint(state: dict, path) -> None:
    """Save `state` atomically (the previous checkpoint survives any failure, a full disk included)."""
    save(state, path)


def read_checkpoint(path) -> dict:
    """The checkpoint at `path` (a file, or a run folder holding checkpoint.npz), checked as the module says."""
    path = Path(path)
    if path.is_dir():
        path = path / CHECKPOINT_NAME
    if not path.is_file():
        raise RunError(f"no checkpoint at {path}")
    try:
        layout = load_layout(path)
        budget = _check_structure(layout, path)
        state = load(path, max_bytes=budget)
    except (OSError, ValueError) as error:
        raise RunError(f"cannot read the checkpoint {path}: {error}") from None
    for part in ("generator", "discriminator", AVERAGE):
        for key, value in state.get(part, {}).items():
            if not np.all(np.isfinite(value)):
                raise RunError(f"{path}: the {part}'s {key} holds NaN or inf (the run diverged before this was "
                               "saved); use an earlier checkpoint or train again")
    return state


def config_from_checkpoint(state: dict, path="checkpoint") -> TrainConfig:
    """The TrainConfig a (checked) checkpoint was trained with."""
    try:
        return TrainConfig.from_dict(state["config"])
    except (TypeError, RunError) as error:
        raise RunError(f"{path}: its config is not valid: {error}") from None


def load_models(generator, discriminator, state: dict) -> None:
    """Load G and D weights from a checkpoint dict, naming mismatching keys and shapes on failure."""
    for name, model in (("generator", generator), ("discriminator", discriminator)):
        try:
            model.load_state_dict(state[name])
        except RuntimeError as error:
            details = str(error).split("\n", 1)[-1].replace("\n\t", "; ").strip()
            raise RunError(f"the checkpoint's {name} does not fit this architecture "
                           f"({_describe_architecture(model)}): {details}") from None


def _describe_architecture(model) -> str:
    kind = "conditional" if model.num_classes is not None else "unconditional"
    if isinstance(model, Generator):
        return f"{kind}, nz={model.nz}, ngf={model.ngf}, upsample={model.upsample}"
    return f"{kind}, ndf={model.ndf}"


def generator_from_checkpoint(path) -> tuple[Generator, dict]:
    """The generator a checkpoint samples with (in evaluation mode) and the checkpoint itself: the moving
    average of G's weights if the run kept one, else G."""
    state = read_checkpoint(path)
    config = config_from_checkpoint(state, path)
    with state_kept():  # throwaway models must not move the default random stream
        generator, discriminator = build_models(config)
    load_models(generator, discriminator, state)
    if AVERAGE in state:
        generator.load_state_dict(state[AVERAGE])
    return generator.eval(), state


# ---------------------------------------------------------------------- the structure check
def _check_structure(layout, path) -> int:
    """Check a checkpoint's layout (see the module docstring); return the bytes its arrays may take."""
    def fail(message):
        raise RunError(f"{path}: {message}")

    if not isinstance(layout, dict) or layout.get("format") != CHECKPOINT_FORMAT:
        fail("a tinygan file but not a DCGAN training checkpoint")
    if layout.get("version") != CHECKPOINT_VERSION:
        fail(f"checkpoint version {layout.get('version')!r}; this tinygan reads version {CHECKPOINT_VERSION}")
    missing = [key for key in KEYS if key not in layout]
    if missing:
        fail(f"an incomplete checkpoint: missing {', '.join(missing)}")
    for key in COUNTERS:
        if not _is_count(layout[key]):
            fail(f"its {key} must be a non-negative integer, got {layout[key]!r}")
    if not (isinstance(layout["seconds"], numbers.Real) and math.isfinite(layout["seconds"])
            and layout["seconds"] >= 0):
        fail(f"its seconds must be a non-negative number, got {layout['seconds']!r}")
    config = config_from_checkpoint(layout, path)
    check_generator_fits(config)
    if not (isinstance(layout["loader"], dict) and _is_count(layout["loader"].get("seed"))):
        fail(f"its loader state must be a dict with a non-negative integer seed, got {layout['loader']!r:.60}")
    _check_random_states(layout["rng"], path)

    with state_kept():
        models = dict(zip(("generator", "discriminator"), build_models(config)))
    budget = 0
    for part, model in models.items():
        expected = {key: (value.shape, value.dtype.kind) for key, value in model.state_dict().items()}
        budget += _check_arrays(layout[part], expected, f"{path}: its {part}")
        shapes = [parameter.shape for parameter in model.parameters()]
        budget += _check_optimizer(layout[f"optimizer_{part[0]}"], shapes, f"{path}: its optimizer_{part[0]}")
        if part == "generator" and AVERAGE in layout:
            budget += _check_arrays(layout[AVERAGE], expected, f"{path}: its {AVERAGE}")
    budget += _check_arrays({"fixed_noise": layout["fixed_noise"]},
                            {"fixed_noise": ((FIXED_NOISE_SIZE, config.nz, 1, 1), "f")}, f"{path}:")
    return budget


def _check_random_states(states, path) -> None:
    """The two saved generator states must be states NumPy accepts (tried on a scratch generator)."""
    if not (isinstance(states, dict) and {"noise", "default"} <= set(states)):
        raise RunError(f"{path}: its rng must be a dict with the 'noise' and 'default' generator states")
    for name in ("noise", "default"):
        try:
            np.random.default_rng(0).bit_generator.state = states[name]
        except (TypeError, ValueError, KeyError, OverflowError) as error:
            raise RunError(f"{path}: its rng {name!r} state is damaged: {error}") from None


def _is_count(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _check_arrays(arrays, expected: dict, where: str) -> int:
    """`arrays` must map exactly `expected`'s keys to layouts of the expected (shape, dtype kind)."""
    if not isinstance(arrays, dict):
        raise RunError(f"{where} must be a dict of arrays, got {type(arrays).__name__}")
    if set(arrays) != set(expected):
        extra, absent = sorted(map(str, set(arrays) - set(expected))), sorted(set(expected) - set(arrays))
        raise RunError(f"{where} has other keys than its config's architecture: "
                       f"missing {absent or 'none'}, unexpected {extra or 'none'}")
    total = 0
    for key, (shape, kind) in expected.items():
        value = arrays[key]
        if not (isinstance(value, ArrayLayout) and value.shape == tuple(shape) and value.dtype.kind == kind):
            got = f"{value.shape} {value.dtype}" if isinstance(value, ArrayLayout) else repr(value)[:40]
            raise RunError(f"{where} {key} should be a {tuple(shape)} array ('{kind}' dtype), got {got}")
        total += value.nbytes
    return total


def _check_optimizer(state, shapes: list, where: str) -> int:
    """An optimizer state dict whose per-parameter arrays have their parameter's shape (or are scalars)."""
    if not (isinstance(state, dict) and isinstance(state.get("state"), dict)
            and isinstance(state.get("param_groups"), list)):
        raise RunError(f"{where} must be a dict with 'state' and 'param_groups'")
    total = 0
    for index, values in state["state"].items():
        if not (_is_count(index) and index < len(shapes) and isinstance(values, dict)):
            raise RunError(f"{where} has state for a parameter {index!r} the model does not have")
        for key, value in values.items():
            if isinstance(value, ArrayLayout):
                if value.shape not in ((), shapes[index]):
                    raise RunError(f"{where} state[{index}][{key!r}] has shape {value.shape}, its parameter "
                                   f"{shapes[index]}")
                total += value.nbytes
    return total


__all__ = ["CHECKPOINT_FORMAT", "CHECKPOINT_VERSION", "FIXED_NOISE_SIZE", "write_checkpoint", "read_checkpoint",
           "config_from_checkpoint", "load_models", "generator_from_checkpoint"]
