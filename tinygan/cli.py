"""The `tinygan` command (also `python -m tinygan`): train, sample and evaluate the MNIST DCGAN.

    tinygan train                          # 6 min on 2 cores of an AMD EPYC Zen 5, 15 on a Zen 3 -> runs/dcgan/
    tinygan train --resume                 # continue runs/dcgan/checkpoint.npz exactly
    tinygan train --epochs 120 --resume    # ... and train longer than first planned
    tinygan sample runs/dcgan/checkpoint.npz --n 64 --out grid.png
    tinygan sample runs/dcgan --n 1000 --out samples.npy     # (N, 1, 28, 28) float32 in [-1, 1]
    tinygan sample runs/dcgan/best.npz --out best.png        # the weights with the lowest FID seen
    tinygan train --conditional --out runs/cdcgan          # a class-conditional DCGAN
    tinygan sample runs/cdcgan --digit 7 --n 64 --out sevens.png   # or --digit all: one row per digit
    tinygan sample runs/dcgan --walk 8 --out walk.gif      # a loop through 8 random points of z
    tinygan sample runs/cdcgan --walk-digits --out digits.gif      # one style, the digits 0 -> 9
    tinygan evaluate runs/dcgan            # FID-MNIST and Inception Score, next to real digits and noise
    tinygan info                           # versions, CPU, BLAS kernel, threads; known slow set-ups

Mistakes in the input (a missing data folder, a damaged checkpoint, a checkpoint of
another architecture, an unwritable output folder, a folder that already holds a run or
that another process is training in, sizes that cannot fit in memory, a full disk) print
one line and exit with code 2, leaving every existing file as it was; Ctrl-C (or SIGTERM)
during training saves a checkpoint and exits with 130; diverged (NaN/inf) training exits with 1.
"""
from __future__ import annotations

import argparse
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
_at_least_two = _checked(int, "an integer >= 2 (a covariance needs two samples)", lambda value: value >= 2)
_walk_points = _checked(int, "an integer >= 2 (the points a walk passes through)", lambda value: value >= 2)
_digit = _checked(lambda text: text if text == "all" else int(text), "a digit 0-9 or 'all'",
                  lambda value: value == "all" or 0 <= value <= 9)


class _OneLineParser(argparse.ArgumentParser):
    """argparse, with a usage error as one line (argparse's default prints the whole usage first)."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    from .evaluate import DEFAULT_CLASSIFIER_EPOCHS
    from .models.dcgan import UPSAMPLE_MODES

    defaults = _train_defaults()
    parser = _OneLineParser(
        prog="tinygan", description="Train a DCGAN on MNIST with tinygan, a from-scratch NumPy framework.")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.required = True

    # The train options default to None, so that --resume can tell what was given on the
    # command line (and overrides the checkpoint) from what was not (the checkpoint's value).
    train = commands.add_parser(
        "train", help="train the DCGAN (on the bundled 5,000-digit sample by default)",
        description="Train the MNIST DCGAN. With no options: 6 minutes on 2 cores of an AMD EPYC Zen 5 (AVX-512), "
                    "15 on 2 cores of a Zen 3 (AVX2 only; tinygan info says what yours runs), writing sample "
                    "grids, progress.gif, losses.png, metrics.jsonl and checkpoint.npz into runs/dcgan/, and every "
                    "--quality-every epochs the samples' FID (quality.png; best.npz: the lowest so far).")
    train.add_argument("--epochs", type=_positive_int, help=f"passes over the data (default {defaults.epochs})")
    train.add_argument("--batch-size", type=_positive_int, help=f"digits per step (default {defaults.batch_size})")
    train.add_argument("--lr", type=_positive_float, help=f"Adam learning rate (default {defaults.lr:g})")
    train.add_argument("--lr-d", type=_positive_float,
                       help="the discriminator's Adam learning rate, if it should differ from --lr (two time-scale "
                            "updates, Heusel et al. 2017; default: --lr)")
    train.add_argument("--beta1", type=float, help=f"Adam beta1 (default {defaults.beta1})")
    train.add_argument("--real-label", type=float, metavar="TARGET",
                       help=f"D's target for real digits, in [0.5, 1]; below 1 is one-sided label smoothing "
                            f"(default {defaults.real_label})")
    train.add_argument("--ema", type=float, metavar="DECAY",
                       help=f"sample from a moving average of G's weights with this decay, in [0, 1); 0: from G "
                            f"itself (default {defaults.ema})")
    train.add_argument("--nz", type=_positive_int, help=f"noise dimensions (default {defaults.nz})")
    train.add_argument("--ngf", type=_positive_int, help=f"generator width (default {defaults.ngf})")
    train.add_argument("--ndf", type=_positive_int, help=f"discriminator width (default {defaults.ndf})")
    train.add_argument("--upsample", choices=UPSAMPLE_MODES,
                       help="how G doubles the image size: a stride-2 transposed convolution (default), or "
                            "nearest/bilinear interpolation + 3x3 convolution (no checkerboard artefacts, but "
                            "~3x slower per step here)")
    train.add_argument("--data", metavar="FOLDER",
                       help="a folder with the MNIST IDX files (train-images-idx3-ubyte[.gz], ...); "
                            "default: 'bundled', the bundled sample's 4,000 training digits (a folder of "
                            "that name is ./bundled)")
    train.add_argument("--limit", type=_positive_int, metavar="N", help="train on the first N digits only")
    train.add_argument("--seed", type=_non_negative_int, help=f"random seed (default {defaults.seed})")
    train.add_argument("--conditional", action=argparse.BooleanOptionalAction, default=None,
                       help="train a class-conditional DCGAN: G and D see the digit's label, so `tinygan sample "
                            "--digit 7` can ask for a 7 (default: unconditional; a resumed run keeps its kind)")
    train.add_argument("--projection", action=argparse.BooleanOptionalAction, default=None,
                       help="with --conditional: D reads the label by projection (Miyato & Koyama 2018) instead of "
                            "as extra input planes (default: planes)")
    train.add_argument("--quality-every", type=_non_negative_int, metavar="EPOCHS",
                       help=f"score the samples (FID-MNIST, IS, class histogram; as tinygan evaluate) every EPOCHS "
                            f"epochs into metrics.jsonl, quality.png and best.npz; 0: never "
                            f"(default {defaults.quality_every})")
    train.add_argument("--out", metavar="RUN_DIR", help=f"the run folder (default {DEFAULT_OUT})")
    train.add_argument("--resume", nargs="?", const="", metavar="CHECKPOINT",
                       help="continue from CHECKPOINT (default: RUN_DIR/checkpoint.npz) exactly where it stopped; "
                            "options given now override the checkpoint's (e.g. --epochs to train longer), except "
                            "that --batch-size, --limit and --data can only change at the end of an epoch")
    train.add_argument("--overwrite", action="store_true",
                       help="replace the run already in RUN_DIR (its checkpoint, metrics and pictures); without "
                            "it, training into a folder holding a run is refused")
    train.add_argument("--max-steps", type=_positive_int, metavar="N",
                       help="stop after N steps in total, with a checkpoint (resume later with --resume)")
    train.add_argument("--no-progress", action="store_true", help="no progress bar")
    train.set_defaults(handler=_train)

    sample = commands.add_parser("sample", help="draw digits from a trained generator",
                                 description="Draw digits from a checkpoint's generator into a PNG grid or, "
                                             "for a .npy name, an (N, 1, 28, 28) float32 array in [-1, 1]; "
                                             "with --walk or --walk-digits, a looping GIF.")
    sample.add_argument("checkpoint", metavar="CHECKPOINT",
                        help="a checkpoint.npz or best.npz, or a run folder (its checkpoint.npz)")
    sample.add_argument("--n", type=_positive_int, help="how many digits (per frame for a GIF; default 64)")
    sample.add_argument("--out", default="samples.png",
                        help="a .png (grid), .npy (array) or, with --walk/--walk-digits, .gif file (default samples.png)")
    sample.add_argument("--nrow", type=_positive_int, default=8, help="digits per row of the grid (default 8)")
    sample.add_argument("--seed", type=_non_negative_int, default=0, help="noise seed (default 0)")
    sample.add_argument("--digit", type=_digit, metavar="D",
                        help="conditional runs: draw only the digit D (0-9), or 'all': one row of --nrow per digit "
                             "0..9, the same noise down each column")
    sample.add_argument("--walk", type=_walk_points, metavar="POINTS",
                        help="a GIF of a loop through POINTS random points of the noise space (spherical "
                             "interpolation), --n digits per frame")
    sample.add_argument("--walk-digits", action="store_true",
                        help="conditional runs: a GIF of the same noise (the same style) while the digit goes 0 -> 9")
    sample.set_defaults(handler=_sample)

    evaluate = commands.add_parser(
        "evaluate", help="FID-MNIST and Inception Score of a generator, next to real digits and noise",
        description="Score a checkpoint's generator with a LeNet classifier trained by tinygan on the bundled "
                    "digits (trained on first use, ~10 s, cached in $TINYGAN_CACHE_DIR or ~/.cache/tinygan).")
    evaluate.add_argument("checkpoint", metavar="CHECKPOINT",
                          help="a checkpoint.npz or best.npz, or a run folder (its checkpoint.npz)")
    evaluate.add_argument("--n", type=_at_least_two, default=1000, help="how many samples (default 1000)")
    evaluate.add_argument("--seed", type=_non_negative_int, default=0, help="noise seed (default 0)")
    evaluate.add_argument("--classifier-epochs", type=_positive_int, default=DEFAULT_CLASSIFIER_EPOCHS,
                          help=f"training epochs of the judging classifier (default {DEFAULT_CLASSIFIER_EPOCHS})")
    evaluate.set_defaults(handler=_evaluate)

    info = commands.add_parser(
        "info", help="versions, CPU, BLAS and thread set-up, and any known slow configuration",
        description="What tinygan runs on (like python -m torch.utils.collect_env): library versions, the "
                    "CPU, NumPy's BLAS library with its kernel and threads, Numba's threading layer, where "
                    "the compiled kernels are cached, and whether this process is in a known slow "
                    "configuration, with what to do about it. Paste it into a bug report about speed.")
    info.set_defaults(handler=_info)
    return parser


def _train_defaults():
    from .train import TrainConfig

    return TrainConfig()


# ---------------------------------------------------------------------- train
def _train(args) -> None:
    """Turn the options into `train`'s arguments; the settings are merged with a checkpoint's in `train`."""
    import dataclasses

    from .train import CHECKPOINT_NAME, TrainConfig, train

    # Every TrainConfig setting is an option of the same name; the ones typed are `given`.
    settings = (field.name for field in dataclasses.fields(TrainConfig))
    given = {name: getattr(args, name) for name in settings if getattr(args, name) is not None}
    if "data" in given:
        given["data"] = str(given["data"])
    out = Path(args.out or DEFAULT_OUT)
    resume = None
    if args.resume is not None:
        resume = Path(args.resume) if args.resume else out / CHECKPOINT_NAME
        if args.resume and args.out is None:  # continue in the checkpoint's own run folder
            out = resume if resume.is_dir() else resume.parent
    train(given, out, resume=resume, max_steps=args.max_steps, progress=not args.no_progress,
          overwrite=args.overwrite)


# ---------------------------------------------------------------------- sample
MAX_GRID_DIGITS = 10_000  # a 100x100 grid, 6000 px square at 2x: beyond that a .npy is the useful form
MAX_WALK_DIGITS = 100_000  # all frames of a GIF together: about 300 MB of float32 images while drawing
DEFAULT_SAMPLES = 64


def _sample(args) -> None:
    import numpy as np

    from .evaluate import iter_samples
    from .images import save_frames_gif
    from .latent import digit_rows, digit_walk_frames, walk_frames
    from .train import NUM_DIGITS, RunError, generator_from_checkpoint

    out, kind, n = _checked_sample_options(args)
    generator, state = generator_from_checkpoint(args.checkpoint)
    if generator.num_classes is None:
        for option, given in (("--digit", args.digit is not None), ("--walk-digits", args.walk_digits)):
            if given:
                raise RunError(f"{option}: {args.checkpoint} is an unconditional run, which cannot be asked for a "
                               f"digit; train one with tinygan train --conditional")
    rng = np.random.default_rng(args.seed)
    try:
        if kind == ".gif":
            if args.walk_digits:
                frames, milliseconds = digit_walk_frames(generator, n, rng), 400
            else:
                frames, milliseconds = walk_frames(generator, args.walk, n, rng), 80
            save_frames_gif(frames, out, nrow=args.nrow, milliseconds_per_frame=milliseconds)
            what = f"a {len(frames)}-frame walk of {n} digits"
        elif args.digit == "all":
            images = digit_rows(generator, args.nrow, rng)
            _write_samples([images], len(images), out, kind, args.nrow)
            what = f"{args.nrow} of each digit 0..{NUM_DIGITS - 1}"
        else:
            labels = np.full(n, args.digit) if args.digit is not None else None
            _write_samples(iter_samples(generator, n, rng, labels=labels), n, out, kind, args.nrow)
            what = f"{n} {'digits' if args.digit is None else f'{args.digit}s'}"
    except OSError as error:
        raise RunError(f"--out {out}: cannot write it ({error.strerror or error})") from None
    print(f"wrote {what} from {args.checkpoint} (epoch {state['epoch']}, step {state['step']}) to {out}")


def _checked_sample_options(args):
    """Refuse contradictory or oversized `tinygan sample` options before any work; return (out, kind, n)."""
    from .images import GIF_MAX_SIDE, grid_pixels
    from .latent import FRAMES_PER_SEGMENT
    from .train import NUM_DIGITS, RunError
    from .train.limits import IMAGE_FLOATS, require_disk

    out = Path(args.out)
    kind = out.suffix.lower()
    animated = args.walk is not None or args.walk_digits
    if args.walk is not None and args.walk_digits:
        raise RunError("--walk and --walk-digits are two different animations: give one of them")
    if animated and args.digit is not None:
        raise RunError("--digit is for pictures; a walk chooses its digits itself (--walk-digits: 0 -> 9)")
    if animated and kind != ".gif":
        raise RunError(f"--out {out}: a walk is an animation; expected a .gif file name")
    if not animated and kind not in (".png", ".npy"):
        raise RunError(f"--out {out}: expected a .png (image grid) or .npy (array) file name"
                       + (" (a .gif needs --walk or --walk-digits)" if kind == ".gif" else ""))
    if not out.parent.is_dir():
        raise RunError(f"--out {out}: the folder {out.parent} does not exist")
    if out.is_dir():
        raise RunError(f"--out {out} is a folder; give a file name such as {out / ('samples' + kind)}")
    if args.digit == "all" and args.n is not None:
        raise RunError("--n: --digit all draws --nrow of each digit (one row per digit); give --nrow instead")
    if args.digit == "all":  # --nrow of each digit: the size every check below must see
        n, asked = NUM_DIGITS * args.nrow, f"--digit all --nrow {args.nrow} ({NUM_DIGITS * args.nrow} digits)"
    else:
        n = DEFAULT_SAMPLES if args.n is None else args.n
        asked = f"--n {n}"
    if kind == ".png" and n > MAX_GRID_DIGITS:
        raise RunError(f"{asked}: a PNG grid holds at most {MAX_GRID_DIGITS} digits; write a .npy for more")
    frames = args.walk * FRAMES_PER_SEGMENT if args.walk is not None else NUM_DIGITS
    if kind == ".gif" and n * frames > MAX_WALK_DIGITS:
        raise RunError(f"--n {n}: a walk of {frames} frames of {n} digits draws {n * frames} digits, more than "
                       f"{MAX_WALK_DIGITS}; use a smaller --n or fewer --walk points")
    height, width = grid_pixels(n, args.nrow)
    if kind == ".gif" and max(height, width) > GIF_MAX_SIDE:
        raise RunError(f"--n {n} --nrow {args.nrow}: each frame would be {width} x {height} pixels, and a GIF holds "
                       f"at most {GIF_MAX_SIDE} on a side; choose --nrow (digits per row) nearer the square root of "
                       f"--n, or a smaller --n")
    if kind == ".npy":
        require_disk(out.parent, n * IMAGE_FLOATS * 4, f"{asked} as float32")
    return out, kind, n


def _write_samples(chunks, n: int, out: Path, kind: str, nrow: int) -> None:
    """Write the image batches `chunks` (n images in all) as a PNG grid, or stream them into a .npy."""
    import numpy as np

    from .files import atomic_write
    from .images import save_grid

    if kind == ".png":
        save_grid(np.concatenate(list(chunks)), out, nrow=nrow)
        return
    with atomic_write(out) as file:  # streamed: memory stays one chunk, whatever --n is
        header = {"descr": np.lib.format.dtype_to_descr(np.dtype(np.float32)), "fortran_order": False,
                  "shape": (n, 1, 28, 28)}
        np.lib.format.write_array_header_1_0(file, header)
        for chunk in chunks:
            file.write(np.ascontiguousarray(chunk, dtype=np.float32).tobytes())


# ---------------------------------------------------------------------- evaluate
def _evaluate(args) -> None:
    from .evaluate import evaluate_generator, format_report, evaluation_bytes
    from .train import bundled_split, generator_from_checkpoint
    from .train.limits import require_memory

    require_memory(evaluation_bytes(args.n), f"evaluating --n {args.n} digits", "choose a smaller --n")
    generator, state = generator_from_checkpoint(args.checkpoint)
    bundled_split()  # the judge and the reference digits come from it: fail early and clearly
    print(f"evaluating {args.n} digits from {args.checkpoint} (epoch {state['epoch']}, step {state['step']})")
    results = evaluate_generator(generator, n=args.n, seed=args.seed, classifier_epochs=args.classifier_epochs)
    print(format_report(results))


# ---------------------------------------------------------------------- info
def _info(args) -> None:
    from .runtime import report

    print(report())


# ---------------------------------------------------------------------- entry point
def main(argv=None) -> int:
    """Run the command line; returns the exit code (0 ok, 1 diverged, 2 bad input, 130 Ctrl-C or SIGTERM)."""
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
    except MemoryError:  # the estimates refuse absurd sizes up front; this is the net below them
        print(f"tinygan {args.command}: error: out of memory; choose smaller sizes", file=sys.stderr)
        return 2
    return 0


__all__ = ["main", "build_parser"]
