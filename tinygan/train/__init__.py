"""Train the MNIST DCGAN: the application layer behind `tinygan train`, one job per module.

    errors.py      RunError, Diverged, Interrupted: how a command ends early (one line, an exit code)
    config.py      TrainConfig; `resumed_config`, the one place a resumed run's settings are merged;
                   the training digits
    limits.py      memory and disk estimates that refuse absurd sizes up front
    run_folder.py  RunFolder: the files of a run, its lock, refusing/clearing, the metrics file
    checkpoint.py  writing checkpoints, and reading them back only after checking their structure
    trainer.py     DCGANTrainer: the training step, the models, optimizers, data, random streams
                   and counters of a run
    quality.py     QualityJudge: the judge of `tinygan evaluate` scoring G while it trains
    loop.py        train(): one session -- open the folder, train until the one stop condition, save

See docs/design.md for how these fit together and the rules of the run folder.
"""
from .checkpoint import (CHECKPOINT_FORMAT, CHECKPOINT_VERSION, FIXED_NOISE_SIZE, config_from_checkpoint,
                         generator_from_checkpoint, load_models, read_checkpoint, write_checkpoint)
from .config import (NUM_DIGITS, TrainConfig, build_models, bundled_split, load_training_digits, load_training_images,
                     resumed_config)
from .errors import Diverged, Interrupted, RunError
from .loop import train
from .quality import QualityJudge
from .run_folder import BEST_NAME, CHECKPOINT_NAME, RunFolder, read_metrics
from .trainer import DCGANTrainer

__all__ = ["TrainConfig", "DCGANTrainer", "train", "build_models", "load_training_images", "load_training_digits",
           "bundled_split", "NUM_DIGITS",
           "resumed_config", "read_checkpoint", "write_checkpoint", "generator_from_checkpoint",
           "config_from_checkpoint", "load_models", "RunError", "Diverged", "Interrupted", "RunFolder",
           "read_metrics", "QualityJudge", "CHECKPOINT_NAME", "BEST_NAME", "CHECKPOINT_FORMAT", "CHECKPOINT_VERSION", "FIXED_NOISE_SIZE"]
