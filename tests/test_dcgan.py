"""The DCGAN models: shapes, torch-compatible state_dict keys, the paper's initialisation, and
the generator's output at initialisation (a grey or saturated start is the classic GAN bug)."""
import numpy as np
import pytest

import tinygan as tg
from tinygan import nn
from tinygan.models import Discriminator, Generator, weights_init

# The keys of the PyTorch DCGAN example's models (with the 28x28 layer sizes), in order.
TORCH_GENERATOR_KEYS = [
    "main.0.weight",
    "main.1.weight", "main.1.bias", "main.1.running_mean", "main.1.running_var", "main.1.num_batches_tracked",
    "main.3.weight",
    "main.4.weight", "main.4.bias", "main.4.running_mean", "main.4.running_var", "main.4.num_batches_tracked",
    "main.6.weight",
]
TORCH_DISCRIMINATOR_KEYS = [
    "main.0.weight",
    "main.2.weight",
    "main.3.weight", "main.3.bias", "main.3.running_mean", "main.3.running_var", "main.3.num_batches_tracked",
    "main.5.weight",
]


def test_state_dict_keys_and_shapes_are_the_torch_dcgan_ones():
    generator, discriminator = Generator(), Discriminator()
    assert list(generator.state_dict()) == TORCH_GENERATOR_KEYS
    assert list(discriminator.state_dict()) == TORCH_DISCRIMINATOR_KEYS
    g, d = generator.state_dict(), discriminator.state_dict()
    # Transposed convolutions store (in, out, kh, kw); convolutions (out, in, kh, kw).
    assert g["main.0.weight"].shape == (100, 256, 7, 7)
    assert g["main.3.weight"].shape == (256, 128, 4, 4)
    assert g["main.6.weight"].shape == (128, 1, 4, 4)
    assert g["main.4.running_var"].shape == (128,)
    assert d["main.0.weight"].shape == (64, 1, 4, 4)
    assert d["main.2.weight"].shape == (128, 64, 4, 4)
    assert d["main.5.weight"].shape == (1, 128, 7, 7)


def layers(model):
    """Each layer of model.main as (type, the settings that define it)."""
    described = []
    for layer in model.main:
        settings = {name: getattr(layer, name) for name in ("in_channels", "out_channels", "kernel_size", "stride",
                                                            "padding", "num_features", "eps", "momentum",
                                                            "negative_slope") if hasattr(layer, name)}
        if hasattr(layer, "in_channels"):
            settings["bias"] = layer.bias is not None
        described.append((type(layer).__name__, settings))
    return described


def test_layers_are_the_pytorch_dcgan_examples():
    """The PyTorch DCGAN example's networks, resized for 28x28 (nz=100, ngf=ndf=64 -> 256/128 channels)."""
    def conv(kind, cin, cout, k, s, p):
        return (kind, dict(in_channels=cin, out_channels=cout, kernel_size=(k, k), stride=(s, s), padding=(p, p),
                           bias=False))
    batch_norm = lambda c: ("BatchNorm2d", dict(num_features=c, eps=1e-5, momentum=0.1))
    leaky = ("LeakyReLU", dict(negative_slope=0.2))
    assert layers(Generator()) == [
        conv("ConvTranspose2d", 100, 256, 7, 1, 0), batch_norm(256), ("ReLU", {}),
        conv("ConvTranspose2d", 256, 128, 4, 2, 1), batch_norm(128), ("ReLU", {}),
        conv("ConvTranspose2d", 128, 1, 4, 2, 1), ("Tanh", {})]
    assert layers(Discriminator()) == [
        conv("Conv2d", 1, 64, 4, 2, 1), leaky,
        conv("Conv2d", 64, 128, 4, 2, 1), batch_norm(128), leaky,
        conv("Conv2d", 128, 1, 7, 1, 0), ("Sigmoid", {})]


@pytest.mark.parametrize("noise_shape", [(5, 16, 1, 1), (5, 16)])
def test_shapes_through_both_networks(noise_shape):
    generator, discriminator = Generator(nz=16, ngf=4), Discriminator(ndf=4)
    images = generator(tg.randn(*noise_shape))
    assert images.shape == (5, 1, 28, 28)
    assert discriminator(images).shape == (5,)


@pytest.mark.parametrize("mode", ["nearest", "bilinear"])
def test_resize_convolution_generator(mode):
    generator = Generator(nz=16, ngf=4, upsample=mode)
    keys = list(generator.state_dict())
    assert [k for k in keys if k.endswith("weight")] == ["main.0.weight", "main.1.weight", "main.4.weight",
                                                         "main.5.weight", "main.8.weight"]
    assert isinstance(generator.main[3], nn.Upsample) and generator.main[3].mode == mode
    assert generator.main[4].weight.shape == (8, 16, 3, 3)
    assert generator(tg.randn(3, 16)).shape == (3, 1, 28, 28)


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="upsample"):
        Generator(upsample="pixelshuffle")
    with pytest.raises(ValueError, match=r"\(N, 16, 1, 1\)"):
        Generator(nz=16, ngf=4)(tg.randn(2, 15))
    with pytest.raises(ValueError, match="28, 28"):
        Discriminator(ndf=4)(tg.randn(2, 1, 32, 32))


def test_weights_init_statistics():
    tg.manual_seed(0)
    generator = Generator().apply(weights_init)
    for index in (0, 3, 6):
        weight = generator.main[index].weight.data
        assert abs(weight.mean()) < 2e-3 and weight.std() == pytest.approx(0.02, rel=0.05)
    for index in (1, 4):
        batch_norm = generator.main[index]
        assert batch_norm.weight.data.mean() == pytest.approx(1.0, abs=0.01)
        assert batch_norm.weight.data.std() == pytest.approx(0.02, rel=0.3)
        assert np.all(batch_norm.bias.data == 0)


def test_weights_init_follows_manual_seed():
    tg.manual_seed(3)
    first = Discriminator(ndf=4).apply(weights_init).state_dict()
    tg.manual_seed(3)
    second = Discriminator(ndf=4).apply(weights_init).state_dict()
    tg.manual_seed(4)
    third = Discriminator(ndf=4).apply(weights_init).state_dict()
    assert all(np.array_equal(first[k], second[k]) for k in first)
    assert not np.array_equal(first["main.0.weight"], third["main.0.weight"])


def test_generator_output_at_initialisation_is_neither_grey_nor_saturated():
    tg.manual_seed(0)
    generator = Generator(ngf=32).apply(weights_init)
    images = generator(tg.randn(32, 100)).data
    assert np.all(np.abs(images) < 1)  # tanh: strictly inside (-1, 1)
    assert images.std() > 0.1  # not a flat grey
    assert np.abs(images).mean() < 0.9  # not saturated black/white
    # Different noise gives different images (a bug that ignores z makes them all equal).
    assert images.std(axis=0).mean() > 0.05
    discriminator = Discriminator(ndf=32).apply(weights_init)
    verdicts = discriminator(tg.tensor(images)).data
    assert np.all((verdicts > 0) & (verdicts < 1))
