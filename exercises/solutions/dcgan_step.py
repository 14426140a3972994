"""Reference answer for exercises/08_dcgan_step.ipynb (one function per cell to fill in)."""
import numpy as np

import tinygan as tg
import tinygan.functional as F


def dcgan_step(G, D, optimizer_g, optimizer_d, real, z):
    """One D update (real -> 1, detached fakes -> 0), then one G update (fakes -> 1); returns (loss_d, loss_g)."""
    ones, zeros = np.ones(len(real), dtype=np.float32), np.zeros(len(real), dtype=np.float32)
    # 1. D: real -> 1, fake -> 0; the fakes detached, so nothing reaches G.
    optimizer_d.zero_grad()
    loss_real = F.binary_cross_entropy(D(tg.tensor(real)), ones)
    loss_real.backward()
    fake = G(tg.tensor(z))
    loss_fake = F.binary_cross_entropy(D(fake.detach()), zeros)
    loss_fake.backward()
    optimizer_d.step()
    # 2. G: the same fakes -> 1, the gradient flowing back through D into G.
    optimizer_g.zero_grad()
    loss_g = F.binary_cross_entropy(D(fake), ones)
    loss_g.backward()
    optimizer_g.step()
    return loss_real.item() + loss_fake.item(), loss_g.item()
