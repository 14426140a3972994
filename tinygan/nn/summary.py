"""`summary(model, input_shape)`: a table of what every leaf layer outputs and costs.

It runs one forward pass on zeros (under no_grad, in eval mode, restoring each module's
mode afterwards) with a forward hook on every leaf module, recording per call:

    output shape
    parameters   the layer's own parameter count
    mult-adds    multiply-accumulate operations of that call:
                 Conv2d           output elements * (in_channels / groups) * kh * kw
                 ConvTranspose2d  input elements * (out_channels / groups) * kh * kw
                 Linear           rows * in_features * out_features   (rows = batch, ...)
                 anything else    0  (elementwise work is small next to these)

Both convolution counts are weight.shape[1] * kh * kw per element, because each output
element of a convolution -- and each input element of a transposed one -- meets a
whole (in/groups, kh, kw) or (out/groups, kh, kw) slice of the weight.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from ..autograd import no_grad
from ..tensor import Tensor
from .conv import Conv2d, ConvTranspose2d
from .linear import Linear
from .module import Module


@dataclass
class LayerSummary:
    name: str
    layer_type: str
    output_shape: tuple
    num_params: int
    mult_adds: int


@dataclass
class ModelSummary:
    """The table `summary` returns: `layers` in call order, and totals.  str() renders it."""

    layers: list = field(default_factory=list)
    total_params: int = 0
    trainable_params: int = 0
    total_mult_adds: int = 0

    def __str__(self) -> str:
        headers = ("Layer (type)", "Output shape", "Params", "Mult-adds")
        rows = [(f"{layer.name} ({layer.layer_type})", str(layer.output_shape), f"{layer.num_params:,}",
                 f"{layer.mult_adds:,}") for layer in self.layers]
        widths = [max(len(text) for text in column) for column in zip(headers, *rows)]

        def line(cells):
            return "  ".join(cell.ljust(width) if i < 2 else cell.rjust(width)
                             for i, (cell, width) in enumerate(zip(cells, widths)))

        rule = "=" * len(line(headers))
        return "\n".join([line(headers), rule, *map(line, rows), rule,
                          f"Total params: {self.total_params:,}",
                          f"Trainable params: {self.trainable_params:,}",
                          f"Non-trainable params: {self.total_params - self.trainable_params:,}",
                          f"Total mult-adds: {self.total_mult_adds:,}"])


def count_mult_adds(module: Module, input_shape: tuple, output_shape: tuple) -> int:
    """Multiply-accumulates of one forward call of `module` (see the module docstring)."""
    if isinstance(module, Conv2d):
        kh, kw = module.kernel_size
        return math.prod(output_shape) * module.weight.shape[1] * kh * kw
    if isinstance(module, ConvTranspose2d):
        kh, kw = module.kernel_size
        return math.prod(input_shape) * module.weight.shape[1] * kh * kw
    if isinstance(module, Linear):
        rows = math.prod(input_shape[:-1])
        return rows * module.in_features * module.out_features
    return 0


def summary(model: Module, input_shape, dtype=None, show: bool = False) -> ModelSummary:
    """Run `model` once on zeros of `input_shape` (batch axis included, e.g. (1, 1, 28, 28)).

    dtype defaults to the dtype of the model's first parameter (float32 if it has none).
    Returns a ModelSummary; show=True also prints it.
    """
    if not isinstance(model, Module):
        raise TypeError(f"summary: model must be a Module, got {type(model).__name__}")
    params = list(model.parameters())
    if dtype is None:
        dtype = params[0].dtype if params else np.float32
    result = ModelSummary()
    modes = [(module, module.training) for module in model.modules()]
    leaves = [(name or type(module).__name__, module) for name, module in model.named_modules()
              if not any(True for _ in module.children())]

    def recorder(name):
        def record(module, inputs, output):
            input_shape_seen = tuple(inputs[0].shape) if inputs and hasattr(inputs[0], "shape") else ()
            output_shape = tuple(output.shape)
            result.layers.append(LayerSummary(
                name, type(module).__name__, output_shape,
                sum(p.numel() for p in module.parameters()),
                count_mult_adds(module, input_shape_seen, output_shape)))
        return record

    handles = [module.register_forward_hook(recorder(name)) for name, module in leaves]
    try:
        model.eval()
        with no_grad():
            model(Tensor(np.zeros(tuple(input_shape), dtype=dtype)))
    finally:
        for handle in handles:
            handle.remove()
        for module, training in modes:
            module.training = training
    result.total_params = sum(p.numel() for p in params)
    result.trainable_params = sum(p.numel() for p in params if p.requires_grad)
    result.total_mult_adds = sum(layer.mult_adds for layer in result.layers)
    if show:
        print(result)
    return result
