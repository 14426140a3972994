"""Batch normalisation: what it does to the numbers, why it helps training, and its two modes.

What it shows
  1. Per-channel statistics before and after a BatchNorm1d: four features that all have
     mean 50 but standard deviations 1, 5, 20 and 100 come out with mean 0 and std 1.
  2. Training the same small network with and without BatchNorm1d on those raw features.
     Without it the first layer sees numbers in the hundreds, its ReLUs are all on or all
     off for a whole batch, and the loss stalls; with it the same optimiser learns.
  3. Training mode versus evaluation mode.  In training the layer uses the batch's own
     mean and variance and updates running estimates,
         running = (1 - momentum) * running + momentum * batch statistic   (momentum = 0.1),
     with the *unbiased* variance.  In evaluation it uses those running estimates, so a
     sample's output no longer depends on which other samples share its batch.

Run:  python examples/batch_norm.py [--out DIR] [--steps N]
"""
from __future__ import annotations

import tinygan as tg  # first: it tunes OpenBLAS's threads, which works only before NumPy loads

import sys

import numpy as np

import tinygan.functional as F
import tinygan.nn as nn
from _plotting import example_parser, heading, new_figure, output_folder, print_matrix, save_figure
from tinygan.images import moving_average
from tinygan.optim import Adam

FEATURE_MEAN = 50.0
FEATURE_STDS = np.array([1.0, 5.0, 20.0, 100.0])


def shifted_batch(rng: np.random.Generator, size: int):
    """Raw features x = 50 + std * z and a target that is a nonlinear function of the z.

    The target is easy to learn from standardised features; the difficulty is only the
    scale and offset of the raw ones -- exactly what batch normalisation removes.
    """
    z = rng.standard_normal((size, len(FEATURE_STDS)))
    features = FEATURE_MEAN + FEATURE_STDS * z
    target = np.sin(z[:, :1]) + 0.5 * z[:, 1:2] - 0.5 * np.abs(z[:, 2:3]) + 0.3 * z[:, 3:4]
    return tg.tensor(features.astype(np.float32)), tg.tensor(target.astype(np.float32))


# ---------------------------------------------------------------------- 1. before and after
def statistics_before_and_after(folder, batch_size: int = 256):
    features, _ = shifted_batch(np.random.default_rng(0), batch_size)
    layer = nn.BatchNorm1d(len(FEATURE_STDS))  # weight 1, bias 0: the output is exactly xhat
    normalised = layer(features).data
    stats = {"mean_before": features.data.mean(axis=0), "std_before": features.data.std(axis=0),
             "mean_after": normalised.mean(axis=0), "std_after": normalised.std(axis=0)}
    print_matrix("rows: mean before, std before, mean after, std after; one column per feature",
                 np.stack(list(stats.values())), decimals=3)

    figure, (row,) = new_figure(1, 2, panel_size=(4.2, 3.4))
    channels = np.arange(len(FEATURE_STDS))
    for axes, statistic in zip(row, ("mean", "std")):
        for offset, when, colour in ((-0.2, "before", "tab:gray"), (0.2, "after", "tab:blue")):
            values = stats[f"{statistic}_{when}"]
            bars = axes.bar(channels + offset, values, width=0.4, color=colour,
                            label="before" if when == "before" else "after BatchNorm1d")
            axes.bar_label(bars, labels=[f"{value:.3g}" if abs(value) > 5e-4 else "0" for value in values],
                           fontsize=7)
        axes.set(title=f"per-channel {statistic}", xlabel="channel", xticks=channels)
        axes.axhline(0, color="black", linewidth=0.5)
    row[0].set_ylim(-2, 80)  # head room for the legend
    row[1].set(yscale="log", ylim=(0.3, 400))  # stds from 1 to 100 side by side
    row[0].legend(fontsize=8, loc="upper center", ncol=2)
    return stats, save_figure(figure, folder, "batch_norm_statistics.png")


# ---------------------------------------------------------------------- 2. training with and without
def small_network(use_batch_norm: bool) -> nn.Sequential:
    tg.manual_seed(0)  # the same Linear weights in both networks
    layers = []
    for fan_in, fan_out in ((len(FEATURE_STDS), 32), (32, 32)):
        layers.append(nn.Linear(fan_in, fan_out))
        if use_batch_norm:
            layers.append(nn.BatchNorm1d(fan_out))
        layers.append(nn.ReLU())
    layers.append(nn.Linear(32, 1))
    return nn.Sequential(*layers)


def held_out_loss(network) -> float:
    """MSE on 1000 fresh samples, the network in evaluation mode (BatchNorm uses running estimates)."""
    network.eval()
    with tg.no_grad():
        features, target = shifted_batch(np.random.default_rng(2), 1000)
        loss = F.mse_loss(network(features), target).item()
    network.train()
    return loss


def refresh_running_estimates(network, rng, passes: int = 50) -> None:
    """Forward passes in training mode with no weight update: only the running estimates move."""
    with tg.no_grad():
        for _ in range(passes):
            network(shifted_batch(rng, 64)[0])


def train(use_batch_norm: bool, steps: int, learning_rate: float = 0.01) -> dict:
    """Adam on fresh batches of 64: the per-step losses and the held-out loss (eval mode).

    The running estimates are averages over the last ~10 batches, and those batches went
    through *older* weights.  While the weights still move, the estimates lag behind them,
    so the held-out loss is measured twice: right after training, and again after the
    estimates were refreshed with the final weights.
    """
    rng = np.random.default_rng(1)  # the same batches for both networks
    network = small_network(use_batch_norm)
    optimizer = Adam(network.parameters(), lr=learning_rate)
    losses = []
    for _ in range(steps):
        features, target = shifted_batch(rng, 64)
        optimizer.zero_grad()
        loss = F.mse_loss(network(features), target)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    result = {"losses": losses, "held_out_loss": held_out_loss(network)}
    if use_batch_norm:
        refresh_running_estimates(network, rng)
        result["held_out_loss_refreshed"] = held_out_loss(network)
    return result


def with_and_without(folder, steps: int):
    runs = {label: train(use_batch_norm, steps) for label, use_batch_norm in
            (("without BatchNorm", False), ("with BatchNorm1d", True))}
    figure, (row,) = new_figure(1, 2, panel_size=(4.2, 3.2), sharey=True)
    window = 20
    for axes, (label, run), colour in zip(row, runs.items(), ("tab:gray", "tab:blue")):
        losses = run["losses"]
        axes.plot(losses, color=colour, alpha=0.35, linewidth=0.8)
        axes.plot(moving_average(losses, window), color=colour)
        axes.set(title=f"{label}\nheld-out loss (eval mode) {run['held_out_loss']:.3f}", xlabel="step",
                 yscale="log")
        axes.grid(alpha=0.3, which="both")
    row[0].set_ylabel(f"MSE loss (raw and {window}-step average)")
    path = save_figure(figure, folder, "batch_norm_training.png",
                       title="Same network, same data (features: mean 50, std 1 to 100), Adam lr=0.01")
    for label, run in runs.items():
        losses = run["losses"]
        print(f"  {label:18s} training loss, first {window} steps {np.mean(losses[:window]):7.3f}, "
              f"last {window} {np.mean(losses[-window:]):.3f};  held-out (eval mode) {run['held_out_loss']:.3f}")
    refreshed = runs["with BatchNorm1d"]["held_out_loss_refreshed"]
    print(f"  The running estimates lag weights that were still changing: after 50 forward passes with the\n"
          f"  final weights (no updates) the held-out loss with BatchNorm1d is {refreshed:.3f}.")
    return runs, path


# ---------------------------------------------------------------------- 3. train and eval modes
def first_update(batch_size: int = 32) -> dict:
    """One training step of a fresh layer, and the update rule it must have followed."""
    features, _ = shifted_batch(np.random.default_rng(3), batch_size)
    layer = nn.BatchNorm1d(len(FEATURE_STDS))
    layer(features)
    x = features.data.astype(np.float64)
    result = {"running_mean": layer.running_mean.copy(), "running_var": layer.running_var.copy(),
              # running starts at mean 0 and var 1; the variance is the unbiased one (ddof=1)
              "expected_mean": 0.9 * 0 + 0.1 * x.mean(axis=0),
              "expected_var": 0.9 * 1 + 0.1 * x.var(axis=0, ddof=1),
              "biased_alternative": 0.9 * 1 + 0.1 * x.var(axis=0, ddof=0)}
    print_matrix("running_mean after one batch", result["running_mean"])
    print_matrix("running_var after one batch", result["running_var"])
    print_matrix("  0.9 * 1 + 0.1 * unbiased batch variance", result["expected_var"])
    print_matrix("  (with the biased variance it would be)", result["biased_alternative"])
    return result


def running_statistics(folder, steps: int = 60, batch_size: int = 32):
    rng = np.random.default_rng(4)
    layer = nn.BatchNorm1d(len(FEATURE_STDS))
    means, variances = [], []
    for _ in range(steps):
        features, _ = shifted_batch(rng, batch_size)
        layer(features)  # training mode: normalise with the batch, update the running estimates
        means.append(layer.running_mean.copy())
        variances.append(layer.running_var.copy())
    means, variances = np.array(means), np.array(variances)

    figure, (row,) = new_figure(1, 2, panel_size=(4.2, 3.2), sharey=True)
    step = np.arange(1, steps + 1)
    true_variances = FEATURE_STDS ** 2
    for channel in range(len(FEATURE_STDS)):
        row[0].plot(step, means[:, channel] / FEATURE_MEAN, label=f"channel {channel}")
        row[1].plot(step, variances[:, channel] / true_variances[channel], label=f"channel {channel}")
    for axes, what in zip(row, ("running_mean / 50", "running_var / true variance")):
        axes.plot(step, 1 - 0.9 ** step, "k--", linewidth=1, label="1 - 0.9^step")
        axes.set(title=what, xlabel="training step")
        axes.grid(alpha=0.3)
    row[0].legend(fontsize=8)
    path = save_figure(figure, folder, "batch_norm_running_stats.png")
    print_matrix(f"running_mean after {steps} steps", layer.running_mean, decimals=2)
    print_matrix(f"running_var after {steps} steps (true: {true_variances.tolist()})", layer.running_var,
                 decimals=1)
    return layer, path


def train_versus_eval(layer: nn.BatchNorm1d) -> dict:
    """The same sample in two different batches: train mode disagrees with itself, eval mode doesn't."""
    rng = np.random.default_rng(5)
    sample, _ = shifted_batch(rng, 1)
    others_a, _ = shifted_batch(rng, 7)
    others_b, _ = shifted_batch(rng, 7)
    batch_a, batch_b = tg.cat([sample, others_a]), tg.cat([sample, others_b])
    results = {}
    for mode in ("train", "eval"):
        layer.train(mode == "train")
        with tg.no_grad():  # (the layer still updates its running estimates in train mode)
            results[mode] = (layer(batch_a).data[0], layer(batch_b).data[0])
    layer.eval()
    with tg.no_grad():
        alone = layer(sample).data[0]  # eval mode works on a batch of one; training mode could not
    by_hand = (sample.data[0] - layer.running_mean) / np.sqrt(layer.running_var + layer.eps)
    print_matrix("train mode: the sample's output in batch A", results["train"][0])
    print_matrix("train mode: the same sample in batch B", results["train"][1])
    print_matrix("eval mode:  in batch A", results["eval"][0])
    print_matrix("eval mode:  in batch B", results["eval"][1])
    print_matrix("eval mode:  alone", alone)
    print_matrix("(x - running_mean) / sqrt(running_var + eps), by hand", by_hand)
    return {"train": results["train"], "eval": results["eval"], "eval_alone": alone, "by_hand": by_hand}


def main(argv=None) -> dict:
    parser = example_parser("batch_norm", __doc__)
    parser.add_argument("--steps", type=int, default=400, help="training steps per network (default 400)")
    args = parser.parse_args(argv)
    folder = output_folder(args.out)

    heading("1. Per-channel statistics before and after BatchNorm1d (training mode)")
    stats, statistics_path = statistics_before_and_after(folder)

    heading("2. Training with and without batch normalisation")
    runs, training_path = with_and_without(folder, args.steps)

    heading("3. Running estimates (training mode) and evaluation mode")
    update = first_update()
    layer, running_path = running_statistics(folder)
    modes = train_versus_eval(layer)
    return {"statistics": stats, "training": runs, "first_update": update, "modes": modes,
            "figures": [statistics_path, training_path, running_path]}


if __name__ == "__main__":
    main(sys.argv[1:])
