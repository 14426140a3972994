"""The standard DCGAN step as a PyTorch user writes it, in tinygan: one place for it.

benchmarks/dcgan_step_worker.py and bench_import_alone.py time it (the first against torch (its twin is
torch_reference.training_step), bench_commits.py times it across commits, and
tests/test_deferred_gradients.py checks on it that D's weight gradients in G's half are
never computed.  It imports nothing but NumPy and tinygan, so that test runs without torch.
"""
import numpy as np

import tinygan as tg
import tinygan.functional as F
from tinygan import optim


def plain_step(G, D, opt_g, opt_d, real, noise):
    """One D update on real and detached fake digits, then one G update through D; (loss_d, loss_g)."""
    ones, zeros = np.ones(real.shape[0], np.float32), np.zeros(real.shape[0], np.float32)
    opt_d.zero_grad()
    fake = G(noise)
    loss_d = (F.binary_cross_entropy(D(real).reshape(-1), ones)
              + F.binary_cross_entropy(D(fake.detach()).reshape(-1), zeros))
    loss_d.backward()
    opt_d.step()
    opt_g.zero_grad()
    loss_g = F.binary_cross_entropy(D(fake).reshape(-1), ones)
    loss_g.backward()
    opt_g.step()
    return loss_d.item(), loss_g.item()


def plain_step_function(G, D, batch: int, nz: int):
    """A no-argument callable running plain_step on G and D, with the benchmarks' settings:
    Adam (lr 2e-4, betas (0.5, 0.999)) for each, and the same `batch` digits and noise every step."""
    betas = (0.5, 0.999)
    opt_g = optim.Adam(G.parameters(), lr=2e-4, betas=betas)
    opt_d = optim.Adam(D.parameters(), lr=2e-4, betas=betas)
    real = tg.tensor(np.random.default_rng(0).uniform(-1, 1, (batch, 1, 28, 28)).astype(np.float32))
    noise = tg.tensor(np.random.default_rng(1).standard_normal((batch, nz, 1, 1)).astype(np.float32))
    return lambda: plain_step(G, D, opt_g, opt_d, real, noise)
