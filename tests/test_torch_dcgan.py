"""The DCGAN against the same networks built in PyTorch: state dicts move both ways with no
renaming, and the two frameworks compute the same outputs, running statistics and gradients."""
import numpy as np
import pytest

import tinygan as tg
import tinygan.functional as F
from tinygan.models import Discriminator, Generator, weights_init

torch = pytest.importorskip("torch")
tnn = torch.nn


class TorchGenerator(tnn.Module):
    """The PyTorch DCGAN example's generator, resized for 28x28 (and optionally resize-convolution)."""

    def __init__(self, nz, ngf, nc=1, upsample="transposed"):
        super().__init__()

        def doubling(cin, cout):
            if upsample == "transposed":
                return [tnn.ConvTranspose2d(cin, cout, 4, 2, 1, bias=False)]
            return [tnn.Upsample(scale_factor=2, mode=upsample), tnn.Conv2d(cin, cout, 3, 1, 1, bias=False)]

        self.main = tnn.Sequential(
            tnn.ConvTranspose2d(nz, ngf * 4, 7, 1, 0, bias=False), tnn.BatchNorm2d(ngf * 4), tnn.ReLU(True),
            *doubling(ngf * 4, ngf * 2), tnn.BatchNorm2d(ngf * 2), tnn.ReLU(True),
            *doubling(ngf * 2, nc), tnn.Tanh())

    def forward(self, z):
        return self.main(z)


class TorchDiscriminator(tnn.Module):
    def __init__(self, ndf, nc=1):
        super().__init__()
        self.main = tnn.Sequential(
            tnn.Conv2d(nc, ndf, 4, 2, 1, bias=False), tnn.LeakyReLU(0.2, inplace=True),
            tnn.Conv2d(ndf, ndf * 2, 4, 2, 1, bias=False), tnn.BatchNorm2d(ndf * 2), tnn.LeakyReLU(0.2, inplace=True),
            tnn.Conv2d(ndf * 2, 1, 7, 1, 0, bias=False), tnn.Sigmoid())

    def forward(self, x):
        return self.main(x).view(-1)


def to_torch(state):
    return {key: torch.from_numpy(np.array(value)) for key, value in state.items()}


def assert_close(ours, theirs, what):
    np.testing.assert_allclose(ours, theirs.detach().numpy(), rtol=1e-4, atol=2e-5, err_msg=what)


def assert_same_buffers(ours, theirs):
    theirs = theirs.state_dict()
    for key, value in ours.state_dict().items():
        np.testing.assert_allclose(value, theirs[key].numpy(), rtol=1e-5, atol=1e-6, err_msg=key)


@pytest.mark.parametrize("upsample", ["transposed", "nearest", "bilinear"])
def test_generator_matches_torch_in_train_and_eval_mode(upsample):
    tg.manual_seed(0)
    ours = Generator(nz=16, ngf=8, upsample=upsample).apply(weights_init)
    theirs = TorchGenerator(16, 8, upsample=upsample)
    theirs.load_state_dict(to_torch(ours.state_dict()), strict=True)
    z = np.random.default_rng(1).standard_normal((6, 16, 1, 1)).astype(np.float32)

    assert_close(ours(tg.tensor(z)).data, theirs(torch.from_numpy(z)), "train-mode output")
    assert_same_buffers(ours, theirs)  # running statistics updated alike
    ours.eval(), theirs.eval()
    assert_close(ours(tg.tensor(z)).data, theirs(torch.from_numpy(z)), "eval-mode output")


def test_discriminator_matches_torch_in_train_and_eval_mode():
    tg.manual_seed(0)
    ours = Discriminator(ndf=8).apply(weights_init)
    theirs = TorchDiscriminator(8)
    theirs.load_state_dict(to_torch(ours.state_dict()), strict=True)
    x = np.random.default_rng(2).uniform(-1, 1, (6, 1, 28, 28)).astype(np.float32)

    assert_close(ours(tg.tensor(x)).data, theirs(torch.from_numpy(x)), "train-mode output")
    assert_same_buffers(ours, theirs)
    ours.eval(), theirs.eval()
    assert_close(ours(tg.tensor(x)).data, theirs(torch.from_numpy(x)), "eval-mode output")


def test_torch_weights_load_into_tinygan():
    torch.manual_seed(0)
    theirs_g, theirs_d = TorchGenerator(16, 8), TorchDiscriminator(8)
    ours_g, ours_d = Generator(nz=16, ngf=8), Discriminator(ndf=8)
    ours_g.load_state_dict(theirs_g.state_dict(), strict=True)  # torch tensors are accepted directly
    ours_d.load_state_dict(theirs_d.state_dict(), strict=True)
    z = np.random.default_rng(3).standard_normal((4, 16, 1, 1)).astype(np.float32)
    assert_close(ours_d(ours_g(tg.tensor(z))).data, theirs_d(theirs_g(torch.from_numpy(z))), "D(G(z))")


def test_generator_gradients_match_torch():
    """One generator loss, BCE(D(G(z)), 1), backpropagated through both networks in both frameworks."""
    tg.manual_seed(0)
    ours_g, ours_d = Generator(nz=16, ngf=8).apply(weights_init), Discriminator(ndf=8).apply(weights_init)
    theirs_g, theirs_d = TorchGenerator(16, 8), TorchDiscriminator(8)
    theirs_g.load_state_dict(to_torch(ours_g.state_dict()))
    theirs_d.load_state_dict(to_torch(ours_d.state_dict()))
    z = np.random.default_rng(4).standard_normal((8, 16, 1, 1)).astype(np.float32)

    F.binary_cross_entropy(ours_d(ours_g(tg.tensor(z))), np.ones(8, np.float32)).backward()
    tnn.functional.binary_cross_entropy(theirs_d(theirs_g(torch.from_numpy(z))), torch.ones(8)).backward()
    theirs = dict(theirs_g.named_parameters())
    for name, param in ours_g.named_parameters():
        np.testing.assert_allclose(param.grad, theirs[name].grad.numpy(), rtol=1e-3, atol=1e-6, err_msg=name)
