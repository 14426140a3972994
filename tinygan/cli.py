"""The `tinygan` command (also `python -m tinygan`): train, sample and evaluate the MNIST DCGAN.

    tinygan train                          # ~10 minutes on 2 CPU cores -> runs/dcgan/
    tinygan train --resume                 # continue runs/dcgan/checkpoint.npz exactly
    tinygan train --epochs 120 --resume    # ... and train longer than first planned
    tinygan sample runs/dcgan/checkpoint.npz --n 64 --out grid.png
    tinygan sample runs/dcgan --n 1000 --out samples.npy     # (N, 1, 28, 28) float32 in [-1, 1]
    tinygan evaluate runs/dcgan            # FID-MNIST and Inception Score, next to real digits and noise

Mistakes in the input (a missing data folder, a damaged checkpoint, a checkpoint of
another architecture, an unwritable output folder) print one line and exit with code 2;
Ctrl-C during training saves a checkpoint and exits with 130; diverged (NaN) training
exits with 1.
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

DEFAULT_OUT = "runs/dcgan"


def _checked(convert, description: str, is_valid):
    """An argparse `type=` that converts the text and checks it, with a one-line message."""
    def parse(text: str):
        try:
            value = convert(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {description}, got {text!r}") from None
        if not is_valid(value):
            raise argparse.ArgumentTypeError(f"expected {description}, got {text}")
        return value
    return parse


_positive_int = _checked(int, "a positive integer", lambda value: value > 0)
_non_negative_int = _checked(int, "a non-negative integer", lambda value: value >= 0)
_positive_float = _checked(float, "a positive number", lambda value: value > 0)


def build_parser() -> argparse.ArgumentParser:
    from .evaluate import DEFAULT_CLASSIFIER_EPOCHS
    from .models.dcgan import UPSAMPLE_MODES

    defaults = _train_defaults()
    parser = argparse.ArgumentParser(
        prog="tinygan", description="Train a DCGAN on MNIST with tinygan, a from-scratch NumPy framework.")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.required = True

    # The train options default to None, so that --resume can tell what was given on the
    # command line (and overrides the checkpoint) from what was not (the checkpoint's value).
    train = commands.add_parser(
        "train", help="train the DCGAN (on the bundled 5,000-digit sample by default)",
        description="Train the MNIST DCGAN. With no options: ~10 minutes on a 2-core CPU, writing sample "
                    "grids, progress.gif, losses.png, metrics.jsonl and checkpoint.npz into runs/dcgan/.")
    train.add_argument("--epochs", type=_positive_int, help=f"passes over the data (default {defaults.epochs})")
    train.add_argument("--batch-size", type=_positive_int, help=f"digits per step (default {defaults.batch_size})")
    train.add_argument("--lr", type=_positive_float, help=f"Adam learning rate (default {defaults.lr:g})")
    train.add_argument("--beta1", type=float, help=f"Adam beta1 (default {defaults.beta1})")
    train.add_argument("--nz", type=_positive_int, help=f"noise dimensions (default {defaults.nz})")
    train.add_argument("--ngf", type=_positive_int, help=f"generator width (default {defaults.ngf})")
    train.add_argument("--ndf", type=_positive_int, help=f"discriminator width (default {defaults.ndf})")
    train.add_argument("--upsample", choices=UPSAMPLE_MODES,
                       help="how G doubles the image size: a stride-2 transposed convolution (default), or "
                            "nearest/bilinear interpolation + 3x3 convolution (no checkerboard artefacts, but "
                            "~3x slower per step here)")
    train.add_argument("--data", metavar="FOLDER",
                       help="a folder with the MNIST IDX files (train-images-idx3-ubyte[.gz], ...); "
                            "default: the bundled sample's 4,000 training digits")
    train.add_argument("--limit", type=_positive_int, metavar="N", help="train on the first N digits only")
    train.add_argument("--seed", type=_non_negative_int, help=f"random seed (default {defaults.seed})")
    train.add_argument("--out", metavar="RUN_DIR", help=f"the run folder (default {DEFAULT_OUT})")
    train.add_argument("--resume", nargs="?", const="", metavar="CHECKPOINT",
                       help="continue from CHECKPOINT (default: RUN_DIR/checkpoint.npz) exactly where it stopped; "
                            "options given now override the checkpoint's (e.g. --epochs to train longer)")
    train.add_argument("--max-steps", type=_positive_int, metavar="N",
                       help="stop after N steps in total, with a checkpoint (resume later with --resume)")
    train.add_argument("--no-progress", action="store_true", help="no progress bar")
    train.set_defaults(handler=_train)

    sample = commands.add_parser("sample", help="draw digits from a trained generator",
                                 description="Draw digits from a checkpoint's generator into a PNG grid or, "
                                             "for a .npy name, an (N, 1, 28, 28) float32 array in [-1, 1].")
    sample.add_argument("checkpoint", metavar="CHECKPOINT", help="a checkpoint.npz, or a run folder holding one")
    sample.add_argument("--n", type=_positive_int, default=64, help="how many digits (default 64)")
    sample.add_argument("--out", default="samples.png", help="a .png (grid) or .npy (array) file (default samples.png)")
    sample.add_argument("--nrow", type=_positive_int, default=8, help="digits per row of the grid (default 8)")
    sample.add_argument("--seed", type=_non_negative_int, default=0, help="noise seed (default 0)")
    sample.set_defaults(handler=_sample)

    evaluate = commands.add_parser(
        "evaluate", help="FID-MNIST and Inception Score of a generator, next to real digits and noise",
        description="Score a checkpoint's generator with a LeNet classifier trained by tinygan on the bundled "
                    "digits (trained on first use, ~10 s, cached in $TINYGAN_CACHE_DIR or ~/.cache/tinygan).")
    evaluate.add_argument("checkpoint", metavar="CHECKPOINT", help="a checkpoint.npz, or a run folder holding one")
    evaluate.add_argument("--n", type=_positive_int, default=1000, help="how many samples (default 1000)")
    evaluate.add_argument("--seed", type=_non_negative_int, default=0, help="noise seed (default 0)")
    evaluate.add_argument("--classifier-epochs", type=_positive_int, default=DEFAULT_CLASSIFIER_EPOCHS,
                          help=f"training epochs of the judging classifier (default {DEFAULT_CLASSIFIER_EPOCHS})")
    evaluate.set_defaults(handler=_evaluate)
    return parser


def _train_defaults():
    from .train import TrainConfig

    return TrainConfig()


# ---------------------------------------------------------------------- train
_CONFIG_OPTIONS = ("epochs", "batch_size", "lr", "beta1", "nz", "ngf", "ndf", "upsample", "data", "limit", "seed")


def _train(args) -> None:
    from .train import CHECKPOINT_NAME, TrainConfig, config_from_checkpoint, read_checkpoint, train

    given = {name: getattr(args, name) for name in _CONFIG_OPTIONS if getattr(args, name) is not None}
    if given.get("data") is not None:
        given["data"] = str(given["data"])
    out = Path(args.out or DEFAULT_OUT)
    resume = None
    if args.resume is not None:
        if args.resume:
            resume = Path(args.resume)
            if args.out is None:  # continue in the checkpoint's own run folder
                out = resume if resume.is_dir() else resume.parent
        else:
            resume = out / CHECKPOINT_NAME
        saved = config_from_checkpoint(read_checkpoint(resume), resume).to_dict()
        for name, value in given.items():
            if name != "epochs" and saved.get(name) != value:
                print(f"note: --{name.replace('_', '-')} {value} replaces the checkpoint's {saved.get(name)}")
        config = TrainConfig.from_dict({**saved, **given})
    else:
        config = TrainConfig.from_dict(given)
        if (out / CHECKPOINT_NAME).exists():
            print(f"note: starting a new run in {out}, replacing its checkpoint (use --resume to continue it)")
    train(config, out, resume=resume, max_steps=args.max_steps, progress=not args.no_progress)


# ---------------------------------------------------------------------- sample
def _sample(args) -> None:
    import numpy as np

    from .evaluate import sample_images
    from .images import save_grid
    from .train import RunError, generator_from_checkpoint

    out = Path(args.out)
    if out.suffix.lower() not in (".png", ".npy"):
        raise RunError(f"--out {out}: expected a .png (image grid) or .npy (array) file name")
    if not out.parent.is_dir():
        raise RunError(f"--out {out}: the folder {out.parent} does not exist")
    generator, state = generator_from_checkpoint(args.checkpoint)
    images = sample_images(generator, args.n, np.random.default_rng(args.seed))
    try:
        if out.suffix.lower() == ".png":
            save_grid(images, out, nrow=args.nrow)
        else:
            temporary = out.with_name(f".{out.name}.tmp.npy")
            np.save(temporary, images.astype(np.float32))
            os.replace(temporary, out)
    except OSError as error:
        raise RunError(f"--out {out}: cannot write it ({error.strerror or error})") from None
    print(f"wrote {args.n} digits from {args.checkpoint} (epoch {state['epoch']}, step {state['step']}) to {out}")


# ---------------------------------------------------------------------- evaluate
def _evaluate(args) -> None:
    from .evaluate import evaluate_generator, format_report
    from .train import bundled_split, generator_from_checkpoint

    generator, state = generator_from_checkpoint(args.checkpoint)
    bundled_split()  # the judge and the reference digits come from it: fail early and clearly
    print(f"evaluating {args.n} digits from {args.checkpoint} (epoch {state['epoch']}, step {state['step']})")
    results = evaluate_generator(generator, n=args.n, seed=args.seed, classifier_epochs=args.classifier_epochs)
    print(format_report(results))


# ---------------------------------------------------------------------- entry point
def main(argv=None) -> int:
    """Run the command line; returns the exit code (0 ok, 1 diverged, 2 bad input, 130 Ctrl-C)."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:  # --help, or a usage error argparse has already explained
        return exit_.code if isinstance(exit_.code, int) else 2
    from .train import Interrupted, RunError

    try:
        args.handler(args)
    except Interrupted as stop:
        print(f"\n{stop}", file=sys.stderr)
        return stop.exit_code
    except RunError as error:
        print(f"tinygan {args.command}: error: {error}", file=sys.stderr)
        return error.exit_code
    except KeyboardInterrupt:
        print("\ntinygan: interrupted", file=sys.stderr)
        return 130
    return 0


__all__ = ["main", "build_parser"]
