"""Checkerboards after training: a transposed-convolution generator against a resize-convolution one.

What it shows
  Two DCGANs trained the same way -- same seed, same digits, same batches, same noise,
  same number of steps -- that differ only in how G doubles its image size:
      upsample="transposed"  ConvTranspose2d(kernel 4, stride 2, padding 1), the DCGAN's
      upsample="nearest"     nearest-neighbour x2, then Conv2d(kernel 3, padding 1)
  (tinygan train --upsample transposed / --upsample nearest).  Every few steps the
  checkerboard energy of G's samples is measured: the share of their variance in the
  three patterns that flip sign from one pixel to the next (see
  examples/transposed_convolution.py).  Real digits have little; white noise 0.004.

  The runs are deliberately short and narrow (the default takes a minute or two of CPU
  per generator); the point is the artefact, not the best digits.

Run:  python examples/checkerboard_training.py [--out DIR] [--steps N] [--ngf N] [--ndf N] [--limit N]
"""
from __future__ import annotations


import sys

import numpy as np

from _plotting import example_parser, heading, new_figure, output_folder, save_figure, save_titled_images
from tinygan.images import make_grid
from tinygan.train import DCGANTrainer, TrainConfig, load_training_images
from transposed_convolution import checkerboard_energy

UPSAMPLING = {"transposed": "ConvTranspose2d(4, stride 2)", "nearest": "nearest x2 + Conv2d(3)"}


def train_one(config: TrainConfig, steps: int, measure_every: int) -> dict:
    """`steps` training steps; G's samples on the fixed noise and their checkerboard energy on the way."""
    trainer = DCGANTrainer(config, load_training_images(config))
    energies, measured_at = [], []
    while trainer.step < steps:  # the trainer walks the epochs and batches as `tinygan train` does
        if trainer.step % measure_every == 0:
            measured_at.append(trainer.step)
            energies.append(checkerboard_energy(trainer.sample(trainer.fixed_noise)))
        trainer.train_next_batch()
    samples = trainer.sample(trainer.fixed_noise)
    measured_at.append(trainer.step)
    energies.append(checkerboard_energy(samples))
    return {"samples": samples, "energy": np.array(energies), "steps": np.array(measured_at),
            "final_energy": energies[-1]}


def main(argv=None) -> dict:
    parser = example_parser("checkerboard_training", __doc__)
    parser.add_argument("--steps", type=int, default=400, help="training steps per generator (default 400)")
    parser.add_argument("--ngf", type=int, default=16, help="generator width (default 16)")
    parser.add_argument("--ndf", type=int, default=16, help="discriminator width (default 16)")
    parser.add_argument("--limit", type=int, default=1024, help="digits to train on (default 1024)")
    parser.add_argument("--batch-size", type=int, default=32, help="digits per step (default 32)")
    parser.add_argument("--seed", type=int, default=0, help="random seed, the same for both runs (default 0)")
    args = parser.parse_args(argv)
    folder = output_folder(args.out)
    measure_every = max(1, args.steps // 20)

    runs = {}
    for upsample in UPSAMPLING:
        config = TrainConfig(limit=args.limit, ngf=args.ngf, ndf=args.ndf, batch_size=args.batch_size,
                             seed=args.seed, upsample=upsample)
        heading(f"upsample={upsample!r}: {UPSAMPLING[upsample]}")
        print(f"  the same as: tinygan train --limit {args.limit} --ngf {args.ngf} --ndf {args.ndf} "
              f"--batch-size {args.batch_size} --seed {args.seed} --upsample {upsample}, "
              f"stopped after {args.steps} steps")
        runs[upsample] = train_one(config, args.steps, measure_every)
        print("  checkerboard energy of G's samples at steps "
              + ", ".join(f"{step}: {energy:.4f}" for step, energy in
                          list(zip(runs[upsample]["steps"], runs[upsample]["energy"]))[::4]))
        print(f"  after {args.steps} steps: {runs[upsample]['final_energy']:.4f}")

    heading("Compared")
    config = TrainConfig(limit=args.limit)
    real = load_training_images(config)[:64].astype(np.float32)[:, None] / 127.5 - 1
    real_energy = checkerboard_energy(real)
    print(f"  real digits {real_energy:.4f};  white noise {3 / (28 * 28 - 1):.4f}")
    for upsample, run in runs.items():
        print(f"  {UPSAMPLING[upsample]:28s} {run['final_energy']:.4f}  ({run['final_energy'] / real_energy:.1f} times "
              "that of real digits)")

    # Each grid drawn at twice its size (every pixel a 2x2 block), so single-pixel patterns stay visible.
    panels = [(f"--upsample {upsample}: checkerboard energy {run['final_energy']:.4f}",
               np.kron((make_grid(run["samples"][:32], nrow=8)[0] + 1) / 2, np.ones((2, 2))))
              for upsample, run in runs.items()]
    samples_path = save_titled_images(panels, folder, "checkerboard_trained_samples.png", columns=2)

    figure, (row,) = new_figure(1, 1, panel_size=(5.6, 3.4))
    for (upsample, run), colour in zip(runs.items(), ("tab:red", "tab:blue")):
        row[0].plot(run["steps"], run["energy"], color=colour, marker=".", label=UPSAMPLING[upsample])
    row[0].axhline(real_energy, color="black", linestyle=":", label="real digits")
    row[0].axhline(3 / (28 * 28 - 1), color="gray", linestyle="--", label="white noise")
    row[0].set(xlabel="training step", ylabel="checkerboard energy", yscale="log",
               title=f"Same seed, same batches; ngf={args.ngf}, ndf={args.ndf}, {args.limit} digits")
    row[0].grid(alpha=0.3, which="both")
    row[0].legend(fontsize=8)
    curve_path = save_figure(figure, folder, "checkerboard_training.png")
    return {"runs": runs, "real_energy": real_energy, "figures": [samples_path, curve_path]}


if __name__ == "__main__":
    main(sys.argv[1:])
