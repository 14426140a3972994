"""The DCGAN of Radford, Metz & Chintala (2015), sized for 28x28 MNIST digits.

A generator G turns a noise vector z (nz numbers from N(0, 1)) into an image; a
discriminator D turns an image into the probability that it is a real digit.  Both are
plain `nn.Sequential` stacks held in an attribute called `main`, in the same order as the
PyTorch DCGAN example, so their state_dict keys are that example's and a checkpoint
loads into the torch model (and back) without renaming:

Generator (upsample="transposed"), 1x1 -> 7x7 -> 14x14 -> 28x28:

    main.0  ConvTranspose2d(nz, 4 ngf, 7, 1, 0)      z (N, nz, 1, 1) -> (N, 4 ngf, 7, 7)
    main.1  BatchNorm2d(4 ngf)     main.2  ReLU
    main.3  ConvTranspose2d(4 ngf, 2 ngf, 4, 2, 1)   -> (N, 2 ngf, 14, 14)
    main.4  BatchNorm2d(2 ngf)     main.5  ReLU
    main.6  ConvTranspose2d(2 ngf, nc, 4, 2, 1)      -> (N, nc, 28, 28)
    main.7  Tanh                                     pixels in (-1, 1), like the data

Discriminator, 28x28 -> 14x14 -> 7x7 -> 1x1:

    main.0  Conv2d(nc, ndf, 4, 2, 1)                 -> (N, ndf, 14, 14)
    main.1  LeakyReLU(0.2)
    main.2  Conv2d(ndf, 2 ndf, 4, 2, 1)              -> (N, 2 ndf, 7, 7)
    main.3  BatchNorm2d(2 ndf)     main.4  LeakyReLU(0.2)
    main.5  Conv2d(2 ndf, 1, 7, 1, 0)                -> (N, 1, 1, 1)
    main.6  Sigmoid                                  then .view(-1): (N,)

No convolution has a bias: each is followed by a BatchNorm (whose shift does a bias's
job) or ends the network, as in the paper.  The first discriminator layer has no
BatchNorm, also as in the paper: normalising the raw pixels of a batch makes D's verdict
on one image depend on the others.

Checkerboards and the "resize-convolution" alternative
------------------------------------------------------
A stride-2 transposed convolution with a 4x4 kernel paints overlapping 4x4 patches
every 2 pixels; unless the weights happen to balance, some output pixels receive more
paint than their neighbours, which shows as a checkerboard pattern (Odena, Dumoulin &
Olah, "Deconvolution and Checkerboard Artifacts", Distill 2016).  Their remedy: first
enlarge the image (nearest or bilinear interpolation), then apply an ordinary 3x3
convolution, which every output pixel sees the same way.  `upsample="nearest"` or
`"bilinear"` builds that generator.  Each stride-2 ConvTranspose2d becomes two modules,
so the later indices shift:

    main.0  ConvTranspose2d(nz, 4 ngf, 7, 1, 0)     main.1  BatchNorm2d    main.2  ReLU
    main.3  Upsample(x2)    main.4  Conv2d(4 ngf, 2 ngf, 3, 1, 1)
    main.5  BatchNorm2d     main.6  ReLU
    main.7  Upsample(x2)    main.8  Conv2d(2 ngf, nc, 3, 1, 1)
    main.9  Tanh

i.e. keys main.0.weight, main.1.*, main.4.weight, main.5.*, main.8.weight.

The conditional DCGAN (num_classes=10)
--------------------------------------
A conditional GAN (Mirza & Osindero 2014) gives both networks the label y, so G learns
p(x | y) and can be asked for a "7".  Here:

- G looks the label up in an `nn.Embedding(num_classes, num_classes)` (key
  `label_embedding.weight`) and joins that vector to z: main.0 takes nz + num_classes
  input channels.  A learned embedding rather than a fixed one-hot lets G place similar
  digits near each other; it starts as torch's N(0, 1), the same scale as z.
- D reads the label one of two ways:
  - `projection=False` (the default): as num_classes extra input planes, the one-hot
    vector painted over the whole 28x28 image, so main.0 takes nc + num_classes channels
    and every filter sees the label at every position;
  - `projection=True`, the projection discriminator (Miyato & Koyama 2018): main is the
    unconditional D, and the label enters only at the end, as the inner product of a
    learned label vector (`label_projection.weight`, one row of 2 ndf x 7 x 7 numbers per
    digit) with D's last features h: logit = main.5(h) + <V[y], h>.  "Is this real?" and
    "is this a real y?" share every feature; the label only decides how to read them.
  docs/dcgan_training.md compares the two, measured.
"""
from __future__ import annotations

import numpy as np

from .. import nn
from ..tensor import Tensor, cat

UPSAMPLE_MODES = ("transposed", "nearest", "bilinear")


def _doubling_layer(in_channels: int, out_channels: int, upsample: str) -> list:
    """The modules that double the image's side: one transposed conv, or interpolation + conv."""
    if upsample == "transposed":
        return [nn.ConvTranspose2d(in_channels, out_channels, 4, 2, 1, bias=False)]
    align = False if upsample == "bilinear" else None  # torch's default for bilinear, made explicit
    return [nn.Upsample(scale_factor=2, mode=upsample, align_corners=align),
            nn.Conv2d(in_channels, out_channels, 3, 1, 1, bias=False)]


def _labels(where: str, labels, count: int, num_classes: int | None) -> np.ndarray | None:
    """The labels of a batch of `count` as an int array, checked against the model's kind."""
    if num_classes is None:
        if labels is not None:
            raise ValueError(f"{where}: labels were given to an unconditional model (num_classes=None)")
        return None
    if labels is None:
        raise ValueError(f"{where}: a conditional model (num_classes={num_classes}) needs the labels of the batch")
    labels = np.asarray(labels.data if isinstance(labels, Tensor) else labels)
    if labels.shape != (count,) or not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"{where}: expected integer labels of shape ({count},), got {labels.dtype} {labels.shape}")
    if count and (labels.min() < 0 or labels.max() >= num_classes):
        raise ValueError(f"{where}: labels must be in 0..{num_classes - 1}, got {labels.min()}..{labels.max()}")
    return labels


class Generator(nn.Module):
    """z (N, nz, 1, 1) or (N, nz) [, labels (N,)] -> images (N, nc, 28, 28) with pixels in (-1, 1)."""

    def __init__(self, nz: int = 100, ngf: int = 64, nc: int = 1, upsample: str = "transposed",
                 num_classes: int | None = None):
        super().__init__()
        if upsample not in UPSAMPLE_MODES:
            raise ValueError(f"Generator: upsample must be one of {UPSAMPLE_MODES}, got {upsample!r}")
        self.nz, self.ngf, self.nc, self.upsample, self.num_classes = nz, ngf, nc, upsample, num_classes
        if num_classes is not None:
            self.label_embedding = nn.Embedding(num_classes, num_classes)
        extra = num_classes or 0
        self.main = nn.Sequential(
            # 1x1 -> 7x7: each of the nz (+ label) numbers paints its own 7x7 pattern of 4 ngf channels.
            nn.ConvTranspose2d(nz + extra, ngf * 4, 7, 1, 0, bias=False),
            nn.BatchNorm2d(ngf * 4),
            nn.ReLU(True),
            *_doubling_layer(ngf * 4, ngf * 2, upsample),  # 7x7 -> 14x14
            nn.BatchNorm2d(ngf * 2),
            nn.ReLU(True),
            *_doubling_layer(ngf * 2, nc, upsample),  # 14x14 -> 28x28
            nn.Tanh(),
        )

    def forward(self, z, labels=None):
        if z.ndim == 2:  # (N, nz) is a batch of plain vectors: make them 1x1 "images"
            z = z.reshape(z.shape[0], z.shape[1], 1, 1)
        if z.ndim != 4 or z.shape[1:] != (self.nz, 1, 1):
            raise ValueError(f"Generator: expected noise of shape (N, {self.nz}, 1, 1) or (N, {self.nz}), "
                             f"got {tuple(z.shape)}")
        labels = _labels("Generator", labels, z.shape[0], self.num_classes)
        if labels is not None:  # join the label's embedding to z as num_classes more 1x1 channels
            z = cat([z, self.label_embedding(labels).reshape(z.shape[0], self.num_classes, 1, 1)], dim=1)
        return self.main(z)

    def extra_repr(self) -> str:
        conditional = f", num_classes={self.num_classes}" if self.num_classes is not None else ""
        return f"nz={self.nz}, ngf={self.ngf}, nc={self.nc}, upsample={self.upsample!r}{conditional}"


class Discriminator(nn.Module):
    """images (N, nc, 28, 28) [, labels (N,)] -> (N,) probabilities that each image is real."""

    def __init__(self, ndf: int = 64, nc: int = 1, num_classes: int | None = None, projection: bool = False):
        super().__init__()
        if projection and num_classes is None:
            raise ValueError("Discriminator: projection=True needs num_classes (it projects a label)")
        self.ndf, self.nc, self.num_classes, self.projection = ndf, nc, num_classes, projection
        planes = num_classes if num_classes is not None and not projection else 0
        self.main = nn.Sequential(
            nn.Conv2d(nc + planes, ndf, 4, 2, 1, bias=False),  # 28 -> 14
            nn.LeakyReLU(0.2, inplace=True),  # leaky: G learns through D's gradients, let them flow
            nn.Conv2d(ndf, ndf * 2, 4, 2, 1, bias=False),  # 14 -> 7
            nn.BatchNorm2d(ndf * 2),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(ndf * 2, 1, 7, 1, 0, bias=False),  # 7 -> 1: one verdict per image
            nn.Sigmoid(),
        )
        if projection:
            # One vector per digit, as long as D's last features.  Small, like the convolutions'
            # N(0, 0.02): torch's N(0, 1) over 2 ndf x 7 x 7 = 6,272 products would start every
            # logit near +-80, saturating the sigmoid.
            self.label_projection = nn.Embedding(num_classes, ndf * 2 * 7 * 7)
            nn.init.normal_(self.label_projection.weight, 0.0, 0.02)

    def forward(self, images, labels=None):
        if images.ndim != 4 or images.shape[1:] != (self.nc, 28, 28):
            raise ValueError(f"Discriminator: expected images of shape (N, {self.nc}, 28, 28), "
                             f"got {tuple(images.shape)}")
        labels = _labels("Discriminator", labels, images.shape[0], self.num_classes)
        if self.projection:
            features = self.main[:5](images)  # (N, 2 ndf, 7, 7), after the last LeakyReLU
            flat = features.reshape(features.shape[0], -1)
            logits = self.main[5](features).reshape(-1) + (self.label_projection(labels) * flat).sum(axis=1)
            return self.main[6](logits)
        if labels is not None:  # the one-hot label as constant planes beside the pixels (no gradient needed)
            planes = np.eye(self.num_classes, dtype=images.dtype)[labels][:, :, None, None]
            planes = np.broadcast_to(planes, (images.shape[0], self.num_classes, *images.shape[2:]))
            images = cat([images, Tensor(np.ascontiguousarray(planes))], dim=1)
        return self.main(images).reshape(-1)

    def extra_repr(self) -> str:
        conditional = f", num_classes={self.num_classes}" if self.num_classes is not None else ""
        projection = ", projection=True" if self.projection else ""
        return f"ndf={self.ndf}, nc={self.nc}{conditional}{projection}"


def weights_init(module: nn.Module) -> None:
    """The DCGAN initialisation, for `model.apply(weights_init)`.

    Convolution weights ~ N(0, 0.02), as in Radford et al. (2015), who give only this one
    rule; BatchNorm scales ~ N(1, 0.02) and shifts = 0, as in the PyTorch DCGAN example.
    Small weights keep the first updates gentle; the BatchNorm layers then set the scale
    of every activation, so the default fan-in scaling is not needed.  The numbers come
    from tinygan's default generator: `tinygan.manual_seed` makes them repeatable.
    """
    if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)):
        nn.init.normal_(module.weight, 0.0, 0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, (nn.BatchNorm2d, nn.BatchNorm1d)):
        nn.init.normal_(module.weight, 1.0, 0.02)
        nn.init.zeros_(module.bias)


__all__ = ["Generator", "Discriminator", "weights_init", "UPSAMPLE_MODES"]
