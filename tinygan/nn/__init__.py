"""Neural-network layers and the `Module` machinery (torch.nn).

    import tinygan.nn as nn
    model = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
                          nn.Flatten(), nn.Linear(8 * 28 * 28, 10))
"""
from . import init
from .activation import LeakyReLU, ReLU, Sigmoid, Tanh
from .container import Sequential
from .conv import Conv2d, ConvTranspose2d
from .dropout import Dropout
from .embedding import Embedding
from .flatten import Flatten
from .linear import Linear
from .module import IncompatibleKeys, Module, Parameter, RemovableHandle
from .norm import BatchNorm1d, BatchNorm2d
from .pooling import AdaptiveAvgPool2d, AvgPool2d, MaxPool2d, MaxUnpool2d
from .summary import LayerSummary, ModelSummary, summary
from .upsampling import Upsample

__all__ = ["Module", "Parameter", "IncompatibleKeys", "RemovableHandle", "init", "Linear", "Conv2d",
           "ConvTranspose2d", "BatchNorm1d", "BatchNorm2d", "ReLU", "LeakyReLU", "Sigmoid", "Tanh", "MaxPool2d",
           "AvgPool2d", "MaxUnpool2d", "AdaptiveAvgPool2d", "Upsample", "Flatten", "Dropout", "Embedding", "Sequential",
           "summary", "ModelSummary", "LayerSummary"]
