"""The DCGAN and its training step in plain torch: the reference tinygan is timed against.

Importable without tinygan (dcgan_step_worker.py uses it side by side with tinygan), and
runnable on its own, to time torch in a process where tinygan was never imported:

    python benchmarks/torch_reference.py --batch 64 --width 64 --repeats 10   # prints ms per step
"""
from __future__ import annotations

import argparse
import time


def build_dcgan(torch, nz: int, width: int):
    """Generator and discriminator with the DCGAN issue's layer order (keys main.0.weight, ...)."""
    nn = torch.nn
    g, d = nn.Module(), nn.Module()
    g.main = nn.Sequential(
        nn.ConvTranspose2d(nz, width * 4, 7, 1, 0, bias=False), nn.BatchNorm2d(width * 4), nn.ReLU(True),
        nn.ConvTranspose2d(width * 4, width * 2, 4, 2, 1, bias=False), nn.BatchNorm2d(width * 2), nn.ReLU(True),
        nn.ConvTranspose2d(width * 2, 1, 4, 2, 1, bias=False), nn.Tanh())
    d.main = nn.Sequential(
        nn.Conv2d(1, width, 4, 2, 1, bias=False), nn.LeakyReLU(0.2, inplace=True),
        nn.Conv2d(width, width * 2, 4, 2, 1, bias=False), nn.BatchNorm2d(width * 2), nn.LeakyReLU(0.2, inplace=True),
        nn.Conv2d(width * 2, 1, 7, 1, 0, bias=False), nn.Sigmoid())
    return g, d


def training_step(torch, g, d, opt_g, opt_d, real, noise):
    """The standard DCGAN step; returns (loss_d, loss_g)."""
    bce = torch.nn.functional.binary_cross_entropy
    ones, zeros = torch.ones(real.shape[0]), torch.zeros(real.shape[0])
    opt_d.zero_grad()
    fake = g.main(noise)
    loss_d = bce(d.main(real).view(-1), ones) + bce(d.main(fake.detach()).view(-1), zeros)
    loss_d.backward()
    opt_d.step()
    opt_g.zero_grad()
    loss_g = bce(d.main(fake).view(-1), ones)
    loss_g.backward()
    opt_g.step()
    return loss_d.item(), loss_g.item()


def adam_pair(torch, g, d):
    return (torch.optim.Adam(g.parameters(), lr=2e-4, betas=(0.5, 0.999)),
            torch.optim.Adam(d.parameters(), lr=2e-4, betas=(0.5, 0.999)))


def main(argv=None) -> float:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--width", type=int, default=64)
    parser.add_argument("--nz", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=10)
    args = parser.parse_args(argv)
    import torch
    torch.set_num_threads(2)
    torch.manual_seed(0)
    g, d = build_dcgan(torch, args.nz, args.width)
    opt_g, opt_d = adam_pair(torch, g, d)
    real = torch.rand(args.batch, 1, 28, 28) * 2 - 1
    noise = torch.randn(args.batch, args.nz, 1, 1)
    training_step(torch, g, d, opt_g, opt_d, real, noise)  # warm-up
    times = []
    for _ in range(args.repeats):
        start = time.perf_counter()
        training_step(torch, g, d, opt_g, opt_d, real, noise)
        times.append(time.perf_counter() - start)
    best = 1000 * min(times)
    print(f"{best:.3f}")
    return best


if __name__ == "__main__":
    main()
