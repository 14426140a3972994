"""A DCGAN learns to draw MNIST digits: the two networks, a health check, training, results.

What it shows
  1. The generator G (noise -> 28x28 image) and the discriminator D (image -> probability
     that it is real), layer by layer, with output shapes and parameter counts.
  2. A health check before any training.  Grey or black samples after training are
     usually an initialisation or a BatchNorm-mode bug, so look first: G's untrained
     output should spread over (-1, 1) without saturating, and D's verdicts should sit
     between 0 and 1 without being sure of anything.  They are *not* all 0.5: D's last
     layer sums 2 ndf x 7 x 7 inputs, each times an N(0, 0.02) weight, so its logits are
     random numbers with std 0.02 sqrt(taps * mean(input^2)) -- about 0.7 for ndf = 24 --
     and the first losses differ from loss_D = 2 ln 2 = 1.386, loss_G = ln 2 = 0.693.
  3. Training with tinygan's own loop (`tinygan.train.train`, which `tinygan train` runs):
     each step D learns to tell the real batch from G's fakes, then G learns to make D
     call its fakes real.  The run folder gets a sample grid per epoch, metrics.jsonl,
     losses.png, progress.gif and a checkpoint.
  4. Figures: real digits next to G's samples from the start, middle and end of training,
     and the loss curves with D's verdicts on real and fake digits.

Run:  python examples/dcgan.py --quick    # 512 digits, narrow networks: ~20 s on 2 Zen 5 cores
                                          # (the first run also trains the FID judge, ~10 s)
      python examples/dcgan.py            # the full default run of `tinygan train` (6 min on 2 Zen 5 cores, 15 on 2 Zen 3)
"""
from __future__ import annotations

import tinygan as tg

import math
import sys
import time

import numpy as np

import tinygan.nn as nn
from _plotting import example_parser, heading, new_figure, output_folder, save_figure, save_titled_images
from tinygan.images import make_grid, moving_average
from tinygan.train import RunFolder, TrainConfig, build_models, load_training_images, read_metrics, train
from tinygan.train.quality import is_quality

# --quick: 512 digits, narrow networks, small batches for more updates per second:
# 640 steps, enough for strokes and the first recognisable digits.  The full run
# (TrainConfig's defaults, the same as `tinygan train`) makes clean digits.
QUICK = {"limit": 512, "ngf": 24, "ndf": 24, "batch_size": 32, "epochs": 40}


def make_config(args) -> TrainConfig:
    """TrainConfig's defaults, then --quick's, then whatever was given on the command line."""
    settings = dict(QUICK) if args.quick else {}
    for name in ("epochs", "limit", "ngf", "ndf", "batch_size", "upsample", "seed"):
        if getattr(args, name) is not None:
            settings[name] = getattr(args, name)
    return TrainConfig(**settings)


def equivalent_command(config: TrainConfig, run_folder) -> str:
    """The `tinygan train` command line that performs the same training."""
    defaults = TrainConfig()
    options = [f"--{name.replace('_', '-')} {value}" for name, value in config.to_dict().items()
               if value != getattr(defaults, name)]
    # --overwrite: this example replaces the run its previous invocation left there.
    return " ".join(["tinygan train", *options, f"--out {run_folder}", "--overwrite"])


# ---------------------------------------------------------------------- 1 and 2. before training
def show_architecture(config: TrainConfig) -> None:
    generator, discriminator = build_models(config)
    print("Generator:")
    print(nn.summary(generator, (1, config.nz, 1, 1)))
    print("\nDiscriminator:")
    print(nn.summary(discriminator, (1, 1, 28, 28)))


def discriminator_logits(discriminator, images) -> tuple[np.ndarray, np.ndarray]:
    """D's last-layer input (N, 2 ndf, 7, 7) and its logits (N,): D without the final Sigmoid."""
    layers = list(discriminator.main)
    with tg.no_grad():
        last_input = nn.Sequential(*layers[:-2])(images)
        logits = layers[-2](last_input).data.reshape(-1)
    return last_input.data, logits


def health_check(config: TrainConfig, images: np.ndarray, batch: int = 64, seeds: int = 10) -> dict:
    """The untrained models' outputs: G's pixel statistics and D's verdicts (training mode, as step 1).

    Why D(real) is not 0.5: D's logit for an image is  sum over taps of w * a,  with the
    last layer's weights w ~ N(0, 0.02) and its inputs a (LeakyReLU of BatchNorm, so
    mean(a^2) is about (1 + 0.2^2) / 2 = 0.52).  Over the random weights that sum has std
    0.02 * sqrt(taps * mean(a^2)):  a logit of +-0.7 is a verdict of 0.33 to 0.67.
    """
    tg.manual_seed(config.seed)
    generator, discriminator = build_models(config)
    real = tg.tensor(images[:batch].astype(np.float32)[:, None] / 127.5 - 1)  # pixels to [-1, 1], like the data
    with tg.no_grad():
        fake = generator(tg.randn(batch, config.nz, 1, 1)).data
        d_real = discriminator(real).data.mean()
        d_fake = discriminator(tg.tensor(fake)).data.mean()
    last_input, logits = discriminator_logits(discriminator, real)
    taps = last_input[0].size  # 2 ndf x 7 x 7 products per logit
    check = {"g_mean": float(fake.mean()), "g_std": float(fake.std()),
             "g_saturated": float(np.mean(np.abs(fake) > 0.99)), "d_real": float(d_real), "d_fake": float(d_fake),
             "taps": taps, "mean_square_input": float(np.mean(last_input.astype(np.float64) ** 2)),
             "logit_rms": float(np.sqrt(np.mean(logits.astype(np.float64) ** 2))),
             "d_real_per_image": (float(1 / (1 + np.exp(-logits.min()))), float(1 / (1 + np.exp(-logits.max()))))}
    check["predicted_logit_std"] = 0.02 * math.sqrt(taps * check["mean_square_input"])
    # The same check over fresh initialisations: D(real) is a random number, different for each.
    verdicts = []
    for seed in range(seeds):
        tg.manual_seed(1000 + seed)
        _, other = build_models(config)
        with tg.no_grad():
            verdicts.append(float(other(real).data.mean()))
    check["d_real_over_seeds"] = verdicts
    print(f"  G(z): mean {check['g_mean']:+.3f}, std {check['g_std']:.3f}, "
          f"saturated (|pixel| > 0.99) {100 * check['g_saturated']:.1f}%")
    print(f"  D(real) {check['d_real']:.3f}, D(G(z)) {check['d_fake']:.3f}   (batch means: not 0.5)")
    print(f"  D's last layer: {taps} taps (2 ndf x 7 x 7), mean(input^2) {check['mean_square_input']:.3f}, so the\n"
          f"  logits have std 0.02 sqrt({taps} x {check['mean_square_input']:.3f}) = {check['predicted_logit_std']:.2f}"
          f" over the random weights; measured on the real batch: rms {check['logit_rms']:.2f}.\n"
          f"  Per image D(real) runs from {check['d_real_per_image'][0]:.2f} to {check['d_real_per_image'][1]:.2f};"
          f" its batch mean over {seeds} fresh initialisations from {min(verdicts):.2f} to {max(verdicts):.2f}.")
    return check


# ---------------------------------------------------------------------- 4. figures
def read_grid(path, side: int) -> np.ndarray:
    """A sample grid PNG written by the training run, as a 2-D array in [0, 1], `side` pixels wide.

    The run enlarges its grids (each pixel drawn as a block); taking every k-th pixel
    undoes that exactly.
    """
    from PIL import Image

    with Image.open(path) as image:
        grid = np.asarray(image.convert("L"), dtype=np.float64) / 255
    enlargement = grid.shape[1] // side
    return grid[::enlargement, ::enlargement]


def samples_figure(folder, run: RunFolder, config: TrainConfig, images: np.ndarray, rows: int = 4):
    """Real digits, then the run's fixed-noise grids from early on, half-way and the end.

    Only the top `rows` rows of each 8x8 grid are shown, which keeps the figure small.
    """
    real = images[:64].astype(np.float32)[:, None] / 127.5 - 1
    real_grid = (make_grid(real, nrow=8)[0] + 1) / 2  # the layout the run's grids use, in [0, 1]
    height = rows * (28 + 2) + 2  # make_grid puts 2 pixels of padding around every 28x28 digit
    panels = [("real digits (training data)", real_grid[:height])]
    for epoch in sorted({max(1, config.epochs // 8), max(1, config.epochs // 2), config.epochs}):
        grid = read_grid(run.sample_path(epoch), side=real_grid.shape[1])
        panels.append((f"G(z) after epoch {epoch} of {config.epochs}", grid[:height]))
    return save_titled_images(panels, folder, "dcgan_samples.png", columns=2)


def losses_figure(folder, records: list) -> str:
    """The two losses, and D's mean verdict on real and on fake digits, per step."""
    steps = [record["step"] for record in records]
    window = max(1, min(25, len(records) // 10))
    figure, (row,) = new_figure(1, 2, panel_size=(4.4, 3.2), sharex=True)
    curves = (("loss_d", "loss D", "tab:blue"), ("loss_g", "loss G", "tab:orange")), \
             (("d_x", "D(x), real", "tab:blue"), ("d_g_z", "D(G(z)), fake", "tab:orange"))
    for axes, panel_curves in zip(row, curves):
        for key, label, colour in panel_curves:
            values = [record[key] for record in records]
            axes.plot(steps, values, color=colour, alpha=0.25, linewidth=0.7)
            axes.plot(steps, moving_average(values, window), color=colour, label=label)
        axes.set_xlabel("step")
        axes.grid(alpha=0.3)
        axes.legend(fontsize=8)
    row[0].axhline(2 * math.log(2), color="tab:blue", linestyle=":", linewidth=1)
    row[0].axhline(math.log(2), color="tab:orange", linestyle=":", linewidth=1)
    row[0].set_title("binary cross-entropy (dotted: 2 ln 2, ln 2)", fontsize=9)
    row[1].axhline(0.5, color="black", linestyle=":", linewidth=1)
    row[1].set(ylim=(0, 1))
    row[1].set_title("mean discriminator output", fontsize=9)
    return save_figure(figure, folder, "dcgan_losses.png")


def main(argv=None) -> dict:
    parser = example_parser("dcgan", __doc__)
    parser.add_argument("--quick", action="store_true",
                        help=f"a short run: {QUICK['limit']} digits, ngf=ndf={QUICK['ngf']}, batches of "
                             f"{QUICK['batch_size']}, {QUICK['epochs']} epochs")
    parser.add_argument("--epochs", type=int, help="passes over the data (overrides --quick's)")
    parser.add_argument("--limit", type=int, help="train on the first N digits only (overrides --quick's)")
    parser.add_argument("--ngf", type=int, help="generator width")
    parser.add_argument("--ndf", type=int, help="discriminator width")
    parser.add_argument("--batch-size", type=int, help="digits per step")
    parser.add_argument("--upsample", choices=("transposed", "nearest", "bilinear"), help="how G doubles its size")
    parser.add_argument("--seed", type=int, help="random seed")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    folder = output_folder(args.out)
    config = make_config(args)
    run = RunFolder(folder / "run")
    images = load_training_images(config)

    heading("1. The two networks")
    show_architecture(config)

    heading("2. Health check before training")
    check = health_check(config, images)

    heading("3. Training")
    print(f"  {len(images)} digits, batch {config.batch_size}, {config.epochs} epochs, "
          f"ngf={config.ngf}, ndf={config.ndf}, upsample={config.upsample}")
    print(f"  the same from the command line:  {equivalent_command(config, run.path)}")
    started = time.perf_counter()
    trainer = train(config, run.path, progress=not args.no_progress, log=lambda line: print(f"  {line}"),
                    overwrite=True)  # running the example again replaces its own earlier run
    seconds = time.perf_counter() - started
    # The step records: metrics.jsonl also holds a quality record every --quality-every epochs
    # (5 by default), and the run's last line is one whenever its last epoch was scored.
    records = [record for record in read_metrics(run.metrics) if not is_quality(record)]
    first, last = records[0], records[-1]
    print(f"  step 1:    loss_D {first['loss_d']:.3f} (2 ln 2 = {2 * math.log(2):.3f}), "
          f"loss_G {first['loss_g']:.3f} (ln 2 = {math.log(2):.3f})")
    print(f"  step {last['step']}: loss_D {last['loss_d']:.3f}, loss_G {last['loss_g']:.3f}, "
          f"D(x) {last['d_x']:.2f}, D(G(z)) {last['d_g_z']:.2f}")
    print(f"  {trainer.step} steps in {seconds:.1f} s; run folder {run.path}")

    heading("4. Figures")
    samples_path = samples_figure(folder, run, config, images)
    losses_path = losses_figure(folder, records)
    return {"config": config, "health_check": check, "first_step": first, "last_step": last,
            "steps": trainer.step, "seconds": seconds, "run_folder": run.path,
            "figures": [samples_path, losses_path]}


if __name__ == "__main__":
    main(sys.argv[1:])
