"""The standard DCGAN step as a PyTorch user writes it, in tinygan: one place for it.

benchmarks/dcgan_step_worker.py times it against torch (its twin is
torch_reference.training_step), bench_commits.py times it across commits, and
tests/test_deferred_gradients.py checks on it that D's weight gradients in G's half are
never computed.  It imports nothing but NumPy and tinygan, so that test runs without torch.
"""
import numpy as np

import tinygan.functional as F


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
